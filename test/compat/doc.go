// Package compat holds the compatibility suite that drives the official
// socket.io-client v4 from npm (pinned by package-lock.json) against vicinity
// servers. It has no API: the suite is compat_test.go, which serves
// realtime servers with handlers for every scenario on 127.0.0.1, runs the
// node:test files of this directory (*.test.mjs) against them with
// `node --test`, passing the address in VICINITY_URL, and then checks what
// the servers saw (disconnect reasons, recovered sockets, acknowledgement
// timeouts).
//
// # Running
//
// The suite needs node (v20 or newer) on PATH and the client installed:
//
//	scripts/deps.sh test        # or: (cd test/compat && npm ci)
//	go test -race ./test/compat/
//
// Without node or node_modules the Go test skips, unless
// VICINITY_REQUIRE_NODE=1 is set (as by `make test` and CI), when it fails.
// For debugging: VICINITY_COMPAT_FILES picks the files (a glob),
// VICINITY_COMPAT_RUN the tests (node's --test-name-pattern; both skip the
// server-side checks), VICINITY_COMPAT_DEBUG=1 logs the servers at debug
// level, and DEBUG='engine.io-client:*,socket.io-client:*' logs the client.
//
// # Scenarios
//
// Every scenario runs three times: with the client's default transports
// (long-polling, then the upgrade to WebSocket), WebSocket only and polling
// only. They cover connecting and upgrading; namespaces (static, dynamic,
// unknown, several on one connection); middleware refusing a connection with
// data; acknowledgements both ways, with their timeouts; binary attachments;
// rooms; broadcasts that leave out the sender; server-initiated
// disconnection with and without closing the connection; automatic
// reconnection after a server restart; connection-state recovery with the
// missed events. Binary data at any depth both ways, with both parsers
// (binary.test.mjs): Buffers, typed arrays and ArrayBuffers nested in
// objects and arrays, bound as []byte, sent back from Args.Values, from Go
// structs and maps, in acknowledgements and in room broadcasts. Handlers
// that wait for their own client inline, and the order of the socket's
// events meanwhile (wait.test.mjs). Socket.Conn: its transport, OnUpgrade,
// and Close followed by recovery (conn.test.mjs). The handshake's JSON in
// Node's shape (handshake.test.mjs). The event rate limit's answer
// (ratelimit.test.mjs). The msgpack parser, with the npm
// socket.io-msgpack-parser (msgpack.test.mjs). Socket.IO 2 clients
// (socket.io-client 2.5.0, installed as socket.io-client-v2) against a
// server with WithAllowEIO3 (eio3.test.mjs).
//
// A test for a known bug is marked todo in node:test, with the bug as its
// reason: it runs and reports, but does not fail the suite. Drop the mark
// when the bug is fixed.
package compat
