package realtime

import (
	"github.com/vicinity-go/vicinity/internal/sio"
	"github.com/vicinity-go/vicinity/transport"
)

// Observer is told what a [Server] does, for metrics and instrumentation
// (a Prometheus exporter, an admin UI): connections, upgrades, namespaces,
// sockets, rooms, packets and bytes, drops and refusals, acknowledgements
// that time out, handlers that panic, presence and locations. Install one
// with [WithObserver].
//
// Methods are called synchronously, on the goroutine where the thing
// happens (a connection's read loop, a socket's handler goroutine, a
// broadcaster, a timer), so they must be safe for concurrent use, return
// quickly and never block; they are never called while the server holds a
// lock that a read loop or a broadcast needs. They may call the read-only
// methods of the values they get ([Socket.ID], [Socket.Rooms],
// [Conn.Transport], [Namespace.Name], …), but must not keep the args of
// [Observer.EventSent]. A socket given to a method may already be
// disconnected.
//
// Embed [NopObserver] in an implementation: methods added to Observer
// later get its default, doing nothing.
type Observer interface {
	// ConnOpened is called when a client opens an Engine.IO connection
	// (after the handshake); [Conn.Transport] and [Conn.Protocol] tell over
	// what.
	ConnOpened(c *Conn)
	// ConnUpgraded is called when a connection has moved from long-polling
	// to transport ("websocket").
	ConnUpgraded(c *Conn, transport string)
	// ConnClosed is called once when a connection has closed, with the
	// reason ([transport.ReasonSlowClient] for a client whose send queue
	// overflowed), after its sockets were told.
	ConnClosed(c *Conn, reason string)
	// BytesIn and BytesOut count the bytes of the Engine.IO packets read
	// from and written to clients over transport ("polling" or
	// "websocket"): type byte and data, binary data counted raw, without
	// HTTP or WebSocket framing; Engine.IO pings and pongs included.
	BytesIn(transport string, n int)
	BytesOut(transport string, n int)
	// PacketsDropped is called when n Engine.IO packets of a volatile or
	// latest-only emit were not queued for a client whose send queue was
	// full.
	PacketsDropped(transport string, n int)

	// NamespaceCreated is called when a namespace is created: by
	// [Server.Of] ("/" by [New]), or a dynamic one a client connects to.
	// NamespaceDropped is called when a dynamic namespace is removed once
	// it has no socket and no open EventStream left.
	NamespaceCreated(n *Namespace)
	NamespaceDropped(n *Namespace)
	// SocketConnected is called when a socket has been accepted and the
	// client told, before the namespace's connection handlers run.
	SocketConnected(s *Socket)
	// SocketDisconnected is called when a socket has left its namespace
	// and rooms, before its disconnect handlers run, with the reason they
	// get.
	SocketDisconnected(s *Socket, reason string)
	// ConnectRefused is called when a client's CONNECT to namespace nsp is
	// answered with connect_error: an unknown namespace, too many
	// namespaces or connection attempts, or an error of middleware.
	ConnectRefused(c *Conn, nsp string, err error)
	// RoomJoined and RoomLeft are called when a socket joins or leaves a
	// room, including the room named by its own id (joined on connect).
	// A socket that disconnects leaves all its rooms.
	RoomJoined(s *Socket, room string)
	RoomLeft(s *Socket, room string)

	// PacketIn is called for each Socket.IO packet a client sent, once
	// decoded (with its attachments), before it is checked or handled.
	PacketIn(t PacketType)
	// PacketsOut is called when n Socket.IO packets of type t were queued
	// for clients; a broadcast counts one per recipient.
	PacketsOut(t PacketType, n int)
	// EventSent is called when the server emits an event to one socket
	// ([Socket.Emit], [Socket.EmitVolatile], [Socket.EmitWithAck],
	// [Socket.EmitLatest]), as Node's socket.onAnyOutgoing; broadcasts are
	// not reported here. args must not be modified or kept.
	EventSent(s *Socket, event string, args []any)
	// EventRefused is called when an event from a client is not handled:
	// reason is "rate limited" (over [WithEventRate]) or "overloaded"
	// (too many events waiting for the socket's handlers).
	EventRefused(s *Socket, event, reason string)
	// AckTimedOut is called when an EmitWithAck ends by its context before
	// missing acknowledgements arrived: 1 for [Socket.EmitWithAck], the
	// number of sockets that did not answer for a broadcast's.
	AckTimedOut(n *Namespace, event string, missing int)
	// HandlerPanicked is called when a handler of socket s panicked (what
	// is the event's name, "connection", "disconnect", "middleware", …);
	// the panic was recovered and logged.
	HandlerPanicked(s *Socket, what string)

	// PresenceTracked and PresenceUntracked are called when a socket's
	// presence is tracked in, or untracked from, a room ("" for the
	// namespace itself), with [WithPresence].
	PresenceTracked(s *Socket, room string)
	PresenceUntracked(s *Socket, room string)
	// Located is called when a socket sets its location, with
	// [WithSpatial]; added is true when it was not in the index before.
	// Unlocated is called when a socket leaves the index: it cleared its
	// location or disconnected. (Positions removed by the index's own
	// expiry, spatial.WithMaxAge, are not reported.)
	Located(s *Socket, added bool)
	Unlocated(s *Socket)
	// WatchStarted is called when a connected socket that had no watch
	// starts one ([Socket.Watch]; replacing a watch is not reported), and
	// WatchEnded when it ends ([Socket.Unwatch], or the disconnect of a
	// watching socket).
	WatchStarted(s *Socket)
	WatchEnded(s *Socket)
	// SpatialEvents is called when n spatial events are queued for
	// clients: event is [NearbyState], [NearbyEnter], [NearbyMove], [NearbyLeave],
	// [AreaEnter] or [AreaLeave].
	SpatialEvents(event string, n int)
}

// NopObserver implements every method of [Observer] by doing nothing.
// Embed it in an observer to implement only some of them.
type NopObserver struct{}

func (NopObserver) ConnOpened(*Conn)                     {}
func (NopObserver) ConnUpgraded(*Conn, string)           {}
func (NopObserver) ConnClosed(*Conn, string)             {}
func (NopObserver) BytesIn(string, int)                  {}
func (NopObserver) BytesOut(string, int)                 {}
func (NopObserver) PacketsDropped(string, int)           {}
func (NopObserver) NamespaceCreated(*Namespace)          {}
func (NopObserver) NamespaceDropped(*Namespace)          {}
func (NopObserver) SocketConnected(*Socket)              {}
func (NopObserver) SocketDisconnected(*Socket, string)   {}
func (NopObserver) ConnectRefused(*Conn, string, error)  {}
func (NopObserver) RoomJoined(*Socket, string)           {}
func (NopObserver) RoomLeft(*Socket, string)             {}
func (NopObserver) PacketIn(PacketType)                  {}
func (NopObserver) PacketsOut(PacketType, int)           {}
func (NopObserver) EventSent(*Socket, string, []any)     {}
func (NopObserver) EventRefused(*Socket, string, string) {}
func (NopObserver) AckTimedOut(*Namespace, string, int)  {}
func (NopObserver) HandlerPanicked(*Socket, string)      {}
func (NopObserver) PresenceTracked(*Socket, string)      {}
func (NopObserver) PresenceUntracked(*Socket, string)    {}
func (NopObserver) Located(*Socket, bool)                {}
func (NopObserver) Unlocated(*Socket)                    {}
func (NopObserver) WatchStarted(*Socket)                 {}
func (NopObserver) WatchEnded(*Socket)                   {}
func (NopObserver) SpatialEvents(string, int)            {}

var _ Observer = NopObserver{}

// WithObserver adds an observer of the server (see [Observer]); several
// may be added, and each is called in turn, in the order added. Default
// none: each place that would call one then costs a nil check. It panics
// in New if o is nil.
func WithObserver(o Observer) Option {
	return func(c *config) { c.observers = append(c.observers, o) }
}

// PacketType is the type of a Socket.IO packet, as [Observer] counts them.
type PacketType uint8

// Socket.IO packet types. With [MsgpackParser], binary data travels inside
// EVENT and ACK packets: the binary types are not used.
const (
	PacketConnect      PacketType = PacketType(sio.Connect)
	PacketDisconnect   PacketType = PacketType(sio.Disconnect)
	PacketEvent        PacketType = PacketType(sio.Event)
	PacketAck          PacketType = PacketType(sio.Ack)
	PacketConnectError PacketType = PacketType(sio.ConnectError)
	PacketBinaryEvent  PacketType = PacketType(sio.BinaryEvent)
	PacketBinaryAck    PacketType = PacketType(sio.BinaryAck)
)

// PacketTypes lists every packet type, in order.
var PacketTypes = [...]PacketType{PacketConnect, PacketDisconnect, PacketEvent, PacketAck, PacketConnectError, PacketBinaryEvent, PacketBinaryAck}

// String returns the type's name in lower case: "connect", "disconnect",
// "event", "ack", "connect_error", "binary_event" or "binary_ack".
func (t PacketType) String() string {
	switch t {
	case PacketConnect:
		return "connect"
	case PacketDisconnect:
		return "disconnect"
	case PacketEvent:
		return "event"
	case PacketAck:
		return "ack"
	case PacketConnectError:
		return "connect_error"
	case PacketBinaryEvent:
		return "binary_event"
	case PacketBinaryAck:
		return "binary_ack"
	}
	return "unknown"
}

// observers are a server's observers; its methods call each. A nil
// observers costs a length check, so call sites need no nil check unless
// the arguments cost something to compute.
type observers []Observer

// typeOf returns the Socket.IO packet type of the wire frames of one
// packet in parser p's format, read from its first frame.
func typeOf(p Parser, frames []transport.Packet) PacketType {
	if len(frames) == 0 || len(frames[0].Data) == 0 {
		return PacketEvent
	}
	d := frames[0].Data
	if p == MsgpackParser {
		// siomsgpack.Append writes the "type" key first: a fixmap head,
		// 0xa4 "type", then the type as a positive fixint.
		if len(d) > 6 && d[1] == 0xa4 && string(d[2:6]) == "type" && d[6] < 0x80 {
			return PacketType(d[6])
		}
		return PacketEvent
	}
	return PacketType(d[0] - '0')
}

// out counts the packet of frames queued for one client.
func (obs observers) out(p Parser, frames []transport.Packet) {
	if len(obs) == 0 {
		return
	}
	t := typeOf(p, frames)
	for _, o := range obs {
		o.PacketsOut(t, 1)
	}
}

// transportObserver passes the transport's traffic to the observers.
type transportObserver struct{ obs observers }

func (t transportObserver) Received(_ *transport.Conn, name string, bytes int) {
	for _, o := range t.obs {
		o.BytesIn(name, bytes)
	}
}

func (t transportObserver) Sent(_ *transport.Conn, name string, _, bytes int) {
	for _, o := range t.obs {
		o.BytesOut(name, bytes)
	}
}

func (t transportObserver) Dropped(_ *transport.Conn, name string, packets, _ int) {
	for _, o := range t.obs {
		o.PacketsDropped(name, packets)
	}
}
