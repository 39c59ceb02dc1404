// Package transport implements the server side of Engine.IO protocol v4, the
// connection layer under Socket.IO: the handshake, the heartbeat, HTTP
// long-polling and WebSocket transports and the upgrade from one to the
// other. It knows nothing of Socket.IO; package realtime builds on it.
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
// session is closed with [ReasonSlowClient].
// Cross-origin browser requests are refused unless allowed by
// [WithAllowedOrigins] or [WithCheckOrigin].
//
// # Errors
//
// Refused requests get the Engine.IO error codes and HTTP statuses of the
// Node.js server (see [ErrorCode]): unknown transport, unknown sid, bad
// handshake method, bad request (including a second concurrent GET or POST
// on a polling session, which also closes it), forbidden, unsupported
// protocol version.
package transport
