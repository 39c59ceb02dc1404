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
// Every method is safe for concurrent use.
//
// Each connection has a read loop: the goroutine of its WebSocket, or of
// the polling POST that carried the packets. It decodes packets, checks
// them and applies the rate limit, and resolves acknowledgements at once:
// an ACK packet completes the [Socket.EmitWithAck] waiting for it there and
// then, whatever the socket's handlers are doing.
//
// Everything user code registers for a socket (the namespace's middleware,
// its connection handlers, the socket's event handlers from [Socket.On]
// and [Socket.OnAny], its disconnecting and disconnect handlers) runs on
// the socket's own goroutine, one call at a time, in the order the packets
// arrived: middleware, then connection handlers, then each event, and the
// disconnect handlers after the events already received. That goroutine
// exists only while the socket has something to run. So a handler may
// block: it may wait for an acknowledgement from its own client,
//
//	s.On("order", func(e *realtime.Event) {
//		ctx, cancel := context.WithTimeout(s.Context(), 10*time.Second)
//		defer cancel()
//		answer, err := s.EmitWithAck(ctx, "confirm", e.Values()...)
//		…
//	})
//
// or query a database; a slow handler delays only the later events of its
// own socket. Start a goroutine only for work that may overlap the socket's
// next events. A socket may have up to 256 handler calls waiting; a client
// that sends more is no longer read until there is room (TCP pushes back),
// which delays its other namespaces too. When the socket disconnects, its
// [Socket.Context] is cancelled and its pending EmitWithAck calls return
// [ErrNotConnected] at once; events already received still run, with the
// socket disconnected. [Server.Shutdown] waits for running handlers. A
// handler called by [Socket.Disconnect] from one of the socket's own
// handlers runs once that handler returns.
//
// Emitting never blocks: packets go to bounded per-connection queues, and a
// client that cannot keep up loses volatile packets and is then
// disconnected with reason [transport.ReasonSlowClient]. A handler that
// panics is recovered and logged; a client waiting for its acknowledgement
// gets {"error":"internal error"}.
//
// A connection costs its read loop (the WebSocket's goroutine; none for
// polling between requests), a writer goroutine while it has packets to
// write, and one goroutine per socket while that socket has handlers to run.
//
// # Limits and bad input
//
// A malformed packet, a packet with more than [WithMaxAttachments]
// attachments or an oversized message closes the connection with reason
// "parse error" (or "transport error" for size). A CONNECT to an unknown
// namespace gets connect_error "Invalid namespace". Events over the
// [WithEventRate] limit are not handled, and answered with
// {"error":"rate limited"} when the client waits for an acknowledgement. A
// connection that joins no namespace within [WithConnectTimeout], or whose
// namespaces have all disconnected for that long, is closed.
//
// Everything a client can make the server keep is bounded, and a refusal
// leaves nothing behind: the CONNECT checks (a namespace joined twice,
// [WithMaxNamespaces], the CONNECT rate, [WithMaxNameLen],
// [WithMaxAuthBytes]) run before a
// dynamic namespace is matched or created, and a dynamic namespace left
// empty by a refusal is dropped; the handshake's headers and query are
// kept once per connection, not per namespace; a binary packet's text and
// attachments are bounded by [WithMaxAttachmentBytes] and must complete
// within [WithAttachmentTimeout] (else "parse error"); [Socket.Join]
// refuses rooms past [WithMaxRooms] and names past [WithMaxNameLen];
// presence keys, metas and a client's updates are bounded (see
// [WithPresence]); location updates, queries, radii, results, watch
// populations and privacy zones are bounded per user (see
// [WithLocationLimits]); the transport bounds sessions, payloads and text
// (see package transport, Limits). Refusals a client repeats are logged at
// most once per 10 seconds per socket, with their count.
//
// # Location and privacy
//
// With [WithSpatial] sockets have locations, in an index per namespace:
// [Socket.SetLocation], [Socket.Watch] (nearby:state, enter, move, leave,
// in that order about each socket), [Socket.Nearby], the Near operators,
// and area rooms ([Server.AddArea]). What another client can observe of a
// socket (inclusion, order, distance, enter and leave, area rooms, who a
// shout reaches) is decided on where the socket is shown, by its privacy
// ([Socket.SetPrivacy]: exact, coarsened, in a privacy zone, or hidden),
// which survives connection-state recovery.
//
// # Binary data
//
// A []byte anywhere in the arguments of Emit, Ack or a broadcast (at the
// top level, in a map, a slice or a struct field) is sent as a binary
// attachment, as the Node.js server does with a Buffer. Binary data a
// client sends (a Buffer, an ArrayBuffer, a typed array, a Blob) arrives
// as a []byte: [Args.Bind] decodes it into a []byte or an any wherever it
// sits, and [Args.Values] passes arguments on unchanged.
//
// # Metrics and hooks
//
// [WithObserver] installs an [Observer]: it is told when connections open,
// upgrade and close, namespaces are created and dropped, sockets connect,
// disconnect and join or leave rooms, packets are decoded and queued
// (counted by [PacketType]) and bytes read and written, volatile packets
// are dropped from a full send queue, a CONNECT is refused, an event is
// refused by the rate limit, an EmitWithAck ends by its context, a handler
// panics, and, with presence and locations, when sockets are tracked,
// located, watch and get spatial events. Each is called where the thing
// happens, next to the presence and spatial extensions, synchronously and
// outside the locks that read loops and broadcasts take; an observer must
// be quick and must not block. Without one each place costs a nil check and
// allocates nothing. Embed [NopObserver] to implement only some methods.
//
// The module github.com/vicinity-go/vicinity/metrics/prometheus implements
// an Observer that exposes all of this to Prometheus (vicinity_connections,
// vicinity_packets_total, …), in a module of its own so that programs that
// do not import it do not depend on client_golang.
package realtime
