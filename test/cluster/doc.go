// Package cluster holds the interoperability tests of cluster/redis with
// real Node.js peers, pinned by package-lock.json: a socket.io 4.8 server
// with @socket.io/redis-adapter 8.3.0 (classic mode, node-redis v4
// clients), @socket.io/redis-emitter 5.1.0, and the official
// socket.io-client 4.8.4. It has no API.
//
// Each test starts a redis-server on a free loopback port
// (internal/redistest), two vicinity servers A and B with the Redis
// adapter, and peer.mjs: the Node server and the official clients in one
// node process, driven over its stdin and stdout, one JSON object a line
// (see peer.mjs). The clients connect to every server; what each gets is
// reported back and checked here. TestServerKilledMidRequest runs a third
// vicinity server in a process of its own (this test binary, re-run as a
// server) to stop and kill it.
//
// # Running
//
//	scripts/deps.sh test        # or: (cd test/cluster && npm ci)
//	go test -race ./test/cluster/
//
// Without node, the npm packages or redis-server the tests skip, unless
// VICINITY_REQUIRE_NODE=1 is set (as by `make test` and CI), when they
// fail.
//
// # Scenarios
//
// Broadcasts both ways (rooms, except, volatile, another namespace,
// binary data arriving as Buffers); fetchSockets both ways (ids, rooms,
// handshake, data; Node's RemoteSocket.emit and vicinity's
// RemoteSocket.Emit and Join); socketsJoin, socketsLeave and
// disconnectSockets both ways; server-side emits both ways, with
// acknowledgements; broadcasts with acknowledgements both ways; the npm
// emitter into vicinity rooms and namespaces; Redis restarted mid-test; a
// vicinity server killed while another's FetchSockets waits for it.
package cluster
