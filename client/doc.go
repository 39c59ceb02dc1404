// Package client is a Socket.IO v4 client for Go programs (bots, devices,
// load tools, tests): Engine.IO protocol v4 and Socket.IO protocol v5, the
// protocols of socket.io-client v4, spoken to any Socket.IO v3/v4 server,
// package realtime among them.
//
// A [Manager] is a connection to one server. Each namespace is a [Socket]
// multiplexed over the manager's single Engine.IO session:
//
//	m := client.New("http://localhost:8080")
//	defer m.Close()
//	chat := m.Socket("/chat", client.WithAuth(map[string]string{"token": tok}))
//	chat.On("message", func(e *client.Event) {
//		var text string
//		if e.Bind(&text) == nil {
//			fmt.Println(text)
//		}
//	})
//	if err := chat.Connect(ctx); err != nil {
//		var ce *client.ConnectError
//		if errors.As(err, &ce) { … } // refused by the server's middleware
//	}
//	answer, err := chat.EmitWithAck(ctx, "join", "lobby")
//
// [Connect] does the same in one call for a single namespace.
//
// # Transports
//
// As the JavaScript client, a session opens over HTTP long-polling and
// upgrades to WebSocket when the server offers it ("2probe", "3probe", then
// polling pauses and "5" switches); [WithTransports] selects WebSocket only
// or polling only. The client answers the server's pings and closes the
// session with reason "ping timeout" when no ping comes within the server's
// ping interval plus ping timeout, which detects a server or network that
// went silent. Polling writes are batched into one POST within the server's
// maxPayload.
//
// # Reconnection and buffering
//
// When the session drops, each connected socket's disconnect handlers run
// with the reason ("transport close", "transport error", "ping timeout",
// "parse error"), and the manager reopens the session after an exponential
// backoff with jitter (1s doubling up to 5s, ±50%, forever, by default; see
// [WithReconnectionDelay]) and reconnects every socket. A socket the server
// disconnects ("io server disconnect") or the program disconnects ("io
// client disconnect") is not reconnected; the session closes when no socket
// uses it. Events emitted while a socket is not connected wait in its send
// buffer ([WithSendBuffer]) and go out once it connects.
//
// With connection-state recovery on the server (realtime.WithRecovery), a
// socket keeps the session id ("pid") the server gave it and the offset of
// the last event received, which the server appends to each event as a
// last string argument: the client records and removes it before the
// handlers see the arguments (the JavaScript client records it but leaves
// it in place), and sends both in the auth payload when it reconnects.
// [Socket.Recovered] then reports whether the server restored the socket
// (same id and rooms, missed events delivered). Only events that ask for no
// acknowledgement are stripped, as only those carry an offset; a volatile
// event carries none either, so on such a connection a volatile event whose
// last argument is a string loses it.
//
// # Concurrency
//
// Every method is safe for concurrent use. Handlers run one at a time, in
// order, on the manager's read goroutine, and must not block: a slow
// handler delays every packet after it, and the server's pings with them.
// Disconnect handlers for "io client disconnect" run on the goroutine that
// called [Socket.Disconnect] or [Manager.Close]. [Event.Ack] may be called
// after the handler returned, from any goroutine. A handler that panics is
// recovered and logged.
//
// A manager runs at most three goroutines (a reader, which also opens
// sessions, a writer and, briefly, an upgrade probe), timers, and the
// connection goroutines of net/http while polling; [Manager.Close] stops
// them all (it closes the idle connections of its default HTTP client) and
// must not be called from a handler.
//
// # Limits
//
// The send queue of a session is not bounded: the program decides what it
// sends. The send buffer of a disconnected socket is ([WithSendBuffer]). A
// packet from the server may carry at most 1000 binary attachments and a
// polling response at most 64 MiB; more closes the session with reason
// "parse error" or "transport error".
package client
