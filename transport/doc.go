// Package transport implements the server side of Engine.IO protocol v4, the
// connection layer under Socket.IO: the handshake, the heartbeat, HTTP
// long-polling and WebSocket transports and the upgrade from one to the
// other; and, behind [WithAllowEIO3], protocol v3. It knows nothing of
// Socket.IO; package realtime builds on it.
//
// A [Server] is an [http.Handler] for the Engine.IO endpoint. Each client
// session is a [Conn]: a bounded send queue, a heartbeat, and the
// [Receiver] the server's [Handler] returned for it, which gets every
// message the client sends.
//
// # Concurrency
//
// [Conn.Send] never blocks: it appends to the session's queue, and the
// active transport writes everything queued at once (one flush per batch on
// WebSocket, one response per batch on polling). A WebSocket session uses
// two goroutines, its handler's (reading) and one writer; a polling session
// none of its own. Messages reach the Receiver one at a time, in order;
// OnClose follows the last of them, on a short-lived goroutine of its own
// (counted by [Server.Shutdown]), whoever closed the session.
//
// # Limits
//
// A client message larger than [WithMaxPayload] closes its session. The send
// queue holds at most [WithSendQueue] packets and bytes (or one send of any
// size, when it was empty): past that, volatile packets are dropped and the
// session is closed with [ReasonSlowClient]. The server holds at most
// [WithMaxSessions] sessions (default 100,000); a handshake beyond gets
// HTTP 503 and creates nothing. A text packet that is not valid UTF-8 is
// refused (WebSocket close code 1007, polling HTTP 400) and closes its
// session with [ReasonParseError]. A polling POST whose body is still
// arriving when its session closes is cut off at once. Refusals a client
// can repeat at will are logged at most once per 10 seconds, with a count.
//
// # Origin policy
//
// A browser sends an Origin header; native clients do not, and are never
// refused by it. A request with an Origin is accepted when:
//   - [WithCheckOrigin] is set: when it says so, and nothing else applies;
//   - the origin is listed in [WithAllowedOrigins], comparing scheme, host
//     and port (80 for http and 443 for https when not written);
//   - the list holds "*" (the response then allows no credentials);
//   - it is the server's own origin, and the server is reached by an IP
//     address, "localhost" or a name under ".localhost". Own origin means
//     the scheme of the request (https over TLS, or with a proxy's
//     X-Forwarded-Proto: https) and the host and port of its Host header.
//
// Why not every same-origin request, as gorilla/websocket's default does?
// With DNS rebinding, an attacker's page at http://evil.example:8080 has
// evil.example resolve to the server's address (an intranet or loopback
// one, say); the browser then sends Origin http://evil.example:8080 and
// Host evil.example:8080, which agree. The Host header cannot tell that
// page from the server's own, so a host name is trusted only when listed.
// An IP address or a loopback name cannot be rebound: a page with such an
// origin was served by that address (the rule of Vite's and
// webpack-dev-server's allowedHosts). A server reached by name, then,
// lists its origin: WithAllowedOrigins("https://chat.example.com"). The
// Node.js server has no origin check of its own for WebSockets.
//
// # Errors
//
// Refused requests get the Engine.IO error codes and HTTP statuses of the
// Node.js server (see [ErrorCode]), checked in its order: unknown transport,
// unknown sid, bad request (a sid of a session on another transport or
// protocol), bad handshake method, bad request (a WebSocket handshake that is
// none), forbidden, unsupported protocol version. A refused WebSocket
// handshake gets HTTP 400 with the message as text, as from Node.
//
// # Session semantics
//
// They are those of the Node.js server (engine.io 6.6, under socket.io
// 4.8), which the tests run side by side with this package:
//   - A closed session is forgotten at once: a later GET, POST or
//     WebSocket with its sid gets "Session ID unknown".
//   - A poll pending when the client's close packet arrives (over a POST)
//     ends with a noop; one pending when the server closes the session ends
//     with the close packet; a poll that comes after a graceful close has
//     written the last packets gets a noop and the close packet.
//   - A second GET or POST in flight gets an empty HTTP 400 and closes the
//     session with [ReasonTransportError].
//   - Once an upgrade has completed, a poll gets 400 "Bad request", even
//     one that raced it.
//   - A WebSocket that comes for a session already on WebSocket, or being
//     upgraded, is accepted (101) and closed at once; the session is left
//     alone. (Node lets it try to take a session opened on WebSocket over
//     with a probe; here it is always closed.)
//   - The server closes a WebSocket with a close frame without a status
//     code (1005), as the ws package does.
//
// # Engine.IO v3
//
// With [WithAllowEIO3], clients of protocol v3 (engine.io-client 3.x, the
// engine of socket.io-client 2.x) connect too, as with the allowEIO3 option
// of the Node.js server; [Conn.Protocol] is then 3, and the layer above must
// speak Socket.IO protocol v4 to them. As in Node, a request whose EIO is
// not 4 (or is missing) asks for v3, and a session keeps the protocol of its
// handshake (a request of the other protocol gets "Bad request"). What v3
// changes:
//   - Heartbeat: the client pings ("2") and the server answers with a pong
//     ("3"); the server sends no ping and closes the session with
//     [ReasonPingTimeout] when no ping has come for pingInterval +
//     pingTimeout. A heartbeat packet in the wrong direction (either
//     protocol) closes the session with [ReasonTransportError].
//   - The open packet is that of v4.
//   - Polling payloads are framed "<length>:<packet>", the length counting
//     UTF-16 code units, binary messages as "b4<base64>"; when the client
//     takes binary data (its handshake has no b64 parameter) and a payload
//     holds a binary message, the server writes a binary payload
//     (application/octet-stream: 0x00 or 0x01, the length as one byte per
//     decimal digit, 0xFF, the packet). POSTs may carry either.
//   - Over WebSocket a binary message is one binary frame of 0x04 and the
//     data (with b64, a text frame "b4<base64>").
//   - The upgrade is the same "2probe", "3probe", "5" exchange, with noop
//     packets for the pending poll.
//
// Not supported: JSONP polling (the "j" query parameter), which engine.io
// 6.6 still serves: a script include escapes the origin policy, since it
// carries no Origin header and its page reads the payload. A request with
// "j" is served as plain long-polling, which a script include cannot use.
package transport
