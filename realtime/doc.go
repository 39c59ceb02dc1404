// Package realtime is a Socket.IO v5 server for the official Socket.IO v4
// clients (JavaScript, Swift, Java, Dart, Python), built on package
// transport (Engine.IO v4).
//
// A [Server] is an [http.Handler]. Clients connect to namespaces ("/" by
// default); each connection to a namespace is a [Socket], which can join
// rooms, send and receive events with acknowledgements and binary
// attachments, and be disconnected. Broadcasts select sockets by room with
// [BroadcastOperator] and are encoded once for all recipients.
//
//	srv := realtime.New()
//	srv.OnConnection(func(s *realtime.Socket) {
//		s.On("chat", func(e *realtime.Event) {
//			var text string
//			if e.Bind(&text) == nil {
//				s.Broadcast().Emit("chat", text)
//			}
//		})
//	})
//	http.Handle("/socket.io/", srv)
//
// # Concurrency
//
// Every method is safe for concurrent use. A socket's handlers run one at a
// time, in order, on its connection's read goroutine: they must not block.
// Emitting never blocks: packets go to bounded per-connection queues, and a
// client that cannot keep up loses volatile packets and is then
// disconnected with reason [transport.ReasonSlowClient]. A handler that
// panics is recovered and logged; a client waiting for its acknowledgement
// gets {"error":"internal error"}.
//
// # Limits and bad input
//
// A malformed packet, a packet with more than [WithMaxAttachments]
// attachments or an oversized message closes the connection with reason
// "parse error" (or "transport error" for size). A CONNECT to an unknown
// namespace gets connect_error "Invalid namespace". Events over the
// [WithEventRate] limit are dropped. A connection that joins no namespace
// within [WithConnectTimeout] is closed.
package realtime
