package realtime

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/vicinity-go/vicinity/transport"
)

// Option configures a [Server].
type Option func(*config)

type config struct {
	path           string
	transports     []string
	engine         []transport.Option
	adapter        AdapterFactory
	connectTimeout time.Duration
	maxAttachments int
	maxPacketBytes int           // of a binary packet; 0: the transport's max payload
	attachTimeout  time.Duration // for a binary packet's attachments to arrive
	maxNamespaces  int
	maxRooms       int
	maxNameLen     int
	maxAuthBytes   int
	parser         Parser
	eventRate      float64
	eventBurst     int
	recovery       time.Duration
	recoverySkipMW bool
	presence       *presenceConfig
	spatial        *spatialConfig
	logger         *slog.Logger
	observers      observers
}

// Defaults.
const (
	DefaultPath           = "/socket.io/"
	DefaultConnectTimeout = 45 * time.Second
	DefaultMaxAttachments = 10
	DefaultEventRate      = 1000
	DefaultEventBurst     = 1000
)

// Defaults of the limits on what a client can make the server keep.
const (
	DefaultAttachmentTimeout = 20 * time.Second // transport.DefaultPingTimeout
	DefaultMaxNamespaces     = 64
	DefaultMaxRooms          = 1000
	DefaultMaxNameLen        = 256
	DefaultMaxAuthBytes      = 16 << 10
)

func newConfig(opts []Option) config {
	c := config{
		path:           DefaultPath,
		transports:     []string{"polling", "websocket"},
		adapter:        NewMemoryAdapter,
		connectTimeout: DefaultConnectTimeout,
		maxAttachments: DefaultMaxAttachments,
		attachTimeout:  DefaultAttachmentTimeout,
		maxNamespaces:  DefaultMaxNamespaces,
		maxRooms:       DefaultMaxRooms,
		maxNameLen:     DefaultMaxNameLen,
		maxAuthBytes:   DefaultMaxAuthBytes,
		eventRate:      DefaultEventRate,
		eventBurst:     DefaultEventBurst,
		recoverySkipMW: true,
		logger:         slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(&c)
	}
	c.validate()
	return c
}

func (c *config) validate() {
	if !strings.HasPrefix(c.path, "/") {
		panic(fmt.Sprintf("realtime: WithPath: %q does not start with /", c.path))
	}
	if len(c.transports) == 0 {
		panic("realtime: WithTransports: no transport")
	}
	if c.parser != JSONParser && c.parser != MsgpackParser {
		panic(fmt.Sprintf("realtime: WithParser: unknown parser %v", c.parser))
	}
	for _, t := range c.transports {
		if t != "polling" && t != "websocket" {
			panic(fmt.Sprintf("realtime: WithTransports: unknown transport %q", t))
		}
	}
	if c.adapter == nil {
		panic("realtime: WithAdapter: nil factory")
	}
	if c.connectTimeout <= 0 {
		panic(fmt.Sprintf("realtime: WithConnectTimeout: must be positive, got %v", c.connectTimeout))
	}
	if c.maxAttachments < 1 {
		panic(fmt.Sprintf("realtime: WithMaxAttachments: must be at least 1, got %d", c.maxAttachments))
	}
	if c.maxPacketBytes < 0 {
		panic(fmt.Sprintf("realtime: WithMaxAttachmentBytes: negative size %d", c.maxPacketBytes))
	}
	if c.attachTimeout <= 0 {
		panic(fmt.Sprintf("realtime: WithAttachmentTimeout: must be positive, got %v", c.attachTimeout))
	}
	if c.maxNamespaces < 1 {
		panic(fmt.Sprintf("realtime: WithMaxNamespaces: must be at least 1, got %d", c.maxNamespaces))
	}
	if c.maxRooms < 1 {
		panic(fmt.Sprintf("realtime: WithMaxRooms: must be at least 1, got %d", c.maxRooms))
	}
	if c.maxAuthBytes < 2 {
		panic(fmt.Sprintf("realtime: WithMaxAuthBytes: must be at least 2, got %d", c.maxAuthBytes))
	}
	if c.maxNameLen < 1 {
		panic(fmt.Sprintf("realtime: WithMaxNameLen: must be at least 1, got %d", c.maxNameLen))
	}
	if c.eventRate < 0 || c.eventBurst < 0 || (c.eventRate > 0 && c.eventBurst == 0) {
		panic(fmt.Sprintf("realtime: WithEventRate: invalid rate %v burst %d", c.eventRate, c.eventBurst))
	}
	if c.recovery < 0 {
		panic(fmt.Sprintf("realtime: WithRecovery: negative duration %v", c.recovery))
	}
	if c.logger == nil {
		panic("realtime: WithLogger: nil logger")
	}
	if slices.Contains(c.observers, nil) {
		panic("realtime: WithObserver: nil observer")
	}
	c.presence.validate()
	c.spatial.validate()
}

// WithPath sets the URL path the server answers under. Default "/socket.io/",
// the client's default. Requests outside it get 404.
func WithPath(path string) Option {
	return func(c *config) {
		if !strings.HasSuffix(path, "/") {
			path += "/"
		}
		c.path = path
	}
}

// WithTransports sets the transports clients may use: "polling",
// "websocket" or both (the default). With websocket alone, clients must be
// configured with transports: ["websocket"].
func WithTransports(names ...string) Option {
	return func(c *config) { c.transports = slices.Clone(names) }
}

// WithTransportOptions passes options to the Engine.IO layer: heartbeat
// ([transport.WithPingInterval], [transport.WithPingTimeout]), payload and
// queue limits, origin policy and CORS. See package transport for their
// defaults.
func WithTransportOptions(opts ...transport.Option) Option {
	return func(c *config) { c.engine = append(c.engine, opts...) }
}

// WithAdapter sets how each namespace's rooms are stored and broadcasts
// delivered. Default [NewMemoryAdapter], for a single server.
func WithAdapter(f AdapterFactory) Option {
	return func(c *config) { c.adapter = f }
}

// WithConnectTimeout sets how long a client may stay connected without
// joining any namespace before it is closed. Default 45s, as Node's.
func WithConnectTimeout(d time.Duration) Option {
	return func(c *config) { c.connectTimeout = d }
}

// WithMaxAttachments sets how many binary attachments one packet may carry,
// at least 1. Default 10. A packet announcing more closes the connection
// with reason "parse error".
func WithMaxAttachments(n int) Option {
	return func(c *config) { c.maxAttachments = n }
}

// WithMaxAttachmentBytes bounds, in bytes, what the server holds for one
// binary packet while its attachments arrive: its text message and its
// attachments together. Zero (the default) means the transport's largest
// message, [transport.WithMaxPayload] (1,000,000 bytes by default), so
// that a binary packet costs no more than the largest plain one. A packet
// that crosses it closes the connection with reason "parse error". It
// panics in New if n is negative.
func WithMaxAttachmentBytes(n int) Option {
	return func(c *config) { c.maxPacketBytes = n }
}

// WithAttachmentTimeout bounds how long the attachments of a binary packet
// may take to arrive after its text message. Default 20s, the transport's
// default ping timeout. A packet still incomplete then closes the
// connection with reason "parse error", so that a client cannot make the
// server hold a partial packet until the connection ends. It panics in
// New if d is not positive.
func WithAttachmentTimeout(d time.Duration) Option {
	return func(c *config) { c.attachTimeout = d }
}

// WithMaxNamespaces bounds the namespaces one connection may join (or be
// joining) at once. Default 64. A CONNECT beyond it gets connect_error
// "Too many namespaces", before any namespace is looked up or created. It
// panics in New if n is less than 1.
func WithMaxNamespaces(n int) Option {
	return func(c *config) { c.maxNamespaces = n }
}

// WithMaxRooms bounds the rooms [Socket.Join] lets a socket be in, besides
// the room of its own id. Default 1000. A Join that would take the socket
// past it joins none of its rooms and returns [ErrTooManyRooms]. Rooms
// joined by the server for all the sockets it selects
// ([BroadcastOperator.SocketsJoin]), area rooms and rooms restored by
// recovery are not counted against it, though they count towards it. It
// panics in New if n is less than 1.
func WithMaxRooms(n int) Option {
	return func(c *config) { c.maxRooms = n }
}

// WithMaxNameLen bounds, in bytes, the names a client can make the server
// keep: a room name given to [Socket.Join] (which returns
// [ErrRoomNameTooLong] beyond it, joining none), and the name of a
// namespace a client connects to that the server has not defined with
// [Server.Of] (connect_error "Invalid namespace" beyond it, before a
// dynamic namespace is matched). Default 256. It panics in New if n is less
// than 1.
func WithMaxNameLen(n int) Option {
	return func(c *config) { c.maxNameLen = n }
}

// WithMaxAuthBytes bounds the auth payload of a CONNECT, in bytes: it is
// kept with the socket (in its [Handshake]) for as long as it is
// connected. Default 16 KiB, room for any token. A CONNECT with a larger
// one gets connect_error "Auth payload too large", before any namespace is
// looked up. It panics in New if n is less than 2 ({}).
func WithMaxAuthBytes(n int) Option {
	return func(c *config) { c.maxAuthBytes = n }
}

// WithAllowEIO3 lets clients of Socket.IO 2 (socket.io-client 2.x, which
// speaks Engine.IO v3 and Socket.IO protocol v4) connect, as the Node.js
// server's allowEIO3 option. Default false: they get HTTP 400. Such a client
// is connected to the main namespace "/" as soon as its connection opens
// (it sends no CONNECT for it), its auth is the query string of the
// namespace it connects to ("/chat?token=x" gives {"token":"x"}), a refusal
// reaches it as an "error" event with the [ConnectError]'s data (or its
// message), and connection-state recovery does not apply to it.
func WithAllowEIO3(allow bool) Option {
	return func(c *config) { c.engine = append(c.engine, transport.WithAllowEIO3(allow)) }
}

// WithParser sets how packets are written on the wire, the Node.js
// server's parser option: [JSONParser] (the default) or [MsgpackParser],
// for clients using socket.io-msgpack-parser. Every client of the server
// must use the same parser. It panics in New for another value.
func WithParser(p Parser) Option {
	return func(c *config) { c.parser = p }
}

// WithEventRate limits the events each socket may send: rate per second on
// average, with bursts of up to burst. Default 1000/s, bursts of 1000:
// far above what an interactive client sends (a request/response client
// waiting for each answer, a position every second, typing indicators), so
// that only a flooding client meets it, yet low enough that one socket
// cannot make the server fan out unbounded work. An event over the limit is
// not handled; if the client asked for an acknowledgement it gets
// {"error":"rate limited"} at once, so that its emitWithAck does not wait
// for a timeout. Refusals are logged at Warn once per 10 seconds per
// socket, with their count. A rate of 0 turns the limit off (Node has
// none).
func WithEventRate(rate float64, burst int) Option {
	return func(c *config) { c.eventRate, c.eventBurst = rate, burst }
}

// WithRecovery turns on connection-state recovery, as Socket.IO 4.6's
// connectionStateRecovery: a client that lost its connection for less than
// maxDisconnection gets back its socket id, its rooms and its data, and the
// packets broadcast to it meanwhile; its socket reports [Socket.Recovered].
// skipMiddlewares skips the namespace middleware for a recovered socket
// (Node's default, true). Default off (zero).
func WithRecovery(maxDisconnection time.Duration, skipMiddlewares bool) Option {
	return func(c *config) { c.recovery, c.recoverySkipMW = maxDisconnection, skipMiddlewares }
}

// WithLogger sets the logger for the server and its transports. Default:
// discard everything.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}
