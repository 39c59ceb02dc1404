// Package admin serves the Socket.IO Admin UI (npm @socket.io/admin-ui 0.5,
// hosted at https://admin.socket.io or served by yourself from the
// package's ui/dist) for a vicinity server, as the Node.js package's
// instrument function does: the UI connects to the server's admin
// namespace ("/admin") and shows its servers, namespaces, sockets (with
// their handshake, rooms, data and transport), rooms, clients and events,
// live, and, unless read-only, emits, joins, leaves and disconnects.
//
//	ui := admin.New(admin.WithAuth("admin", bcryptHash)) // or admin.WithNoAuth(true)
//	srv := realtime.New(realtime.WithObserver(ui))
//	if err := ui.Instrument(srv); err != nil { … }
//	defer ui.Close()
//
// The UI learns what happens through the server's [realtime.Observer]
// hooks. In development mode (the default, as Node's) it gets every
// socket and every event with its arguments: mind what that shows to whoever
// can log in. [WithProduction] sends statistics and aggregated counts only.
//
// # Security
//
// Login checks the bcrypt hash of the password; at most two checks run at
// once (bcrypt is slow by design), others are refused with "too many login
// attempts". Login sessions are bounded ([WithSessions]). The UI never gets
// a socket's auth payload. The UI's page may come from another origin
// (https://admin.socket.io): allow it with the transport's origin policy
// (transport.WithAllowedOrigins), or serve ui/dist from the same origin.
package admin
