package transport

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// Option configures a [Server].
type Option func(*config)

type config struct {
	pingInterval   time.Duration
	pingTimeout    time.Duration
	upgradeTimeout time.Duration
	writeTimeout   time.Duration
	maxPayload     int
	maxSessions    int
	queueFrames    int
	queueBytes     int
	stallTimeout   time.Duration
	allowedOrigins []string
	origins        []origin // allowedOrigins but "*", parsed by validate
	anyOrigin      bool     // allowedOrigins holds "*"
	checkOrigin    func(*http.Request) bool
	credentials    bool
	allowRequest   func(*http.Request) error
	logger         *slog.Logger
	transports     []Transport
	allowEIO3      bool
	observers      []Observer
}

// Defaults, equal to those of the Node.js reference server where it has one.
const (
	DefaultPingInterval   = 25 * time.Second
	DefaultPingTimeout    = 20 * time.Second
	DefaultUpgradeTimeout = 10 * time.Second
	DefaultWriteTimeout   = 10 * time.Second
	DefaultMaxPayload     = 1_000_000
	DefaultMaxSessions    = 100_000
	DefaultQueueFrames    = 1024
	DefaultQueueBytes     = 4 << 20
	DefaultStallTimeout   = 2 * time.Second
)

func defaultConfig() config {
	return config{
		pingInterval:   DefaultPingInterval,
		pingTimeout:    DefaultPingTimeout,
		upgradeTimeout: DefaultUpgradeTimeout,
		writeTimeout:   DefaultWriteTimeout,
		maxPayload:     DefaultMaxPayload,
		maxSessions:    DefaultMaxSessions,
		queueFrames:    DefaultQueueFrames,
		queueBytes:     DefaultQueueBytes,
		stallTimeout:   DefaultStallTimeout,
		logger:         slog.New(slog.DiscardHandler),
	}
}

func newConfig(opts []Option) config {
	c := defaultConfig()
	for _, o := range opts {
		o(&c)
	}
	c.validate()
	return c
}

func (c *config) validate() {
	positive := map[string]time.Duration{
		"WithPingInterval":   c.pingInterval,
		"WithPingTimeout":    c.pingTimeout,
		"WithUpgradeTimeout": c.upgradeTimeout,
		"WithWriteTimeout":   c.writeTimeout,
	}
	for name, d := range positive {
		if d <= 0 {
			panic(fmt.Sprintf("transport: %s: duration must be positive, got %v", name, d))
		}
	}
	if c.maxPayload <= 0 {
		panic(fmt.Sprintf("transport: WithMaxPayload: must be positive, got %d", c.maxPayload))
	}
	if c.maxSessions <= 0 {
		panic(fmt.Sprintf("transport: WithMaxSessions: must be positive, got %d", c.maxSessions))
	}
	if c.queueFrames <= 0 || c.queueBytes <= 0 {
		panic(fmt.Sprintf("transport: WithSendQueue: limits must be positive, got %d frames, %d bytes", c.queueFrames, c.queueBytes))
	}
	if c.stallTimeout < 0 {
		panic(fmt.Sprintf("transport: WithStallTimeout: must not be negative, got %v", c.stallTimeout))
	}
	if c.logger == nil {
		panic("transport: WithLogger: nil logger")
	}
	c.origins, c.anyOrigin = nil, false
	for _, s := range c.allowedOrigins {
		if s == "*" {
			c.anyOrigin = true
			continue
		}
		o, ok := parseOrigin(s)
		if !ok {
			panic(fmt.Sprintf("transport: WithAllowedOrigins: %q is not an origin (http or https://host[:port])", s))
		}
		c.origins = append(c.origins, o)
	}
	if len(c.transports) == 0 {
		panic("transport: WithTransports: no transport")
	}
	seen := make(map[string]bool)
	for _, t := range c.transports {
		if t == nil {
			panic("transport: WithTransports: nil transport")
		}
		if seen[t.Name()] {
			panic(fmt.Sprintf("transport: WithTransports: %q given twice", t.Name()))
		}
		seen[t.Name()] = true
	}
}

// WithTransports sets the transports clients may use, in the order a client
// should prefer for upgrades. There is no default: a [Server] needs at least
// one (realtime passes polling and websocket).
func WithTransports(ts ...Transport) Option {
	return func(c *config) { c.transports = ts }
}

// WithPingInterval sets how often the server pings a client. Default 25s.
func WithPingInterval(d time.Duration) Option {
	return func(c *config) { c.pingInterval = d }
}

// WithPingTimeout sets how long the server waits for a client's pong before
// closing the session with reason "ping timeout". Default 20s. Together with
// [WithPingInterval] it bounds how long a silent peer (no FIN, no RST) goes
// unnoticed: at most interval + timeout.
func WithPingTimeout(d time.Duration) Option {
	return func(c *config) { c.pingTimeout = d }
}

// WithUpgradeTimeout sets how long an upgrade from polling to WebSocket may
// take before the probe is abandoned. Default 10s.
func WithUpgradeTimeout(d time.Duration) Option {
	return func(c *config) { c.upgradeTimeout = d }
}

// WithWriteTimeout sets the deadline for each write to a client: a
// WebSocket batch or close frame, a polling response. It also bounds how long
// a WebSocket client has to answer the server's close frame. Default 10s.
func WithWriteTimeout(d time.Duration) Option {
	return func(c *config) { c.writeTimeout = d }
}

// WithMaxPayload sets the largest message, in bytes, a client may send: a
// WebSocket message or a polling POST body. Default 1,000,000, as Node's
// maxHttpBufferSize. A larger WebSocket message closes the session; a larger
// POST gets HTTP 413 and closes the session.
func WithMaxPayload(n int) Option {
	return func(c *config) { c.maxPayload = n }
}

// WithMaxSessions bounds the sessions the server holds at once. Default
// 100,000; Node has no such limit. A handshake beyond it gets HTTP 503
// Service Unavailable with the JSON body {"code":3,"message":"Server full"}
// (a WebSocket handshake too) and creates nothing; the official clients
// take it as a failed connection and retry with their backoff. Sessions
// closed gracefully count until their last packets are written. Size it
// with the memory a session costs and the process's file descriptor limit
// in mind. It panics in NewServer if n is not positive.
func WithMaxSessions(n int) Option {
	return func(c *config) { c.maxSessions = n }
}

// WithSendQueue bounds each session's send queue in packets and bytes.
// Defaults 1024 packets and 4 MiB. When a send does not fit behind what is
// queued, a volatile send is dropped and any other closes the session with
// reason [ReasonSlowClient]. The limits bound the backlog a slow client
// leaves, not one send: a send larger than either limit is still taken when
// the queue is empty, since its size is the application's choice.
func WithSendQueue(frames, bytes int) Option {
	return func(c *config) { c.queueFrames, c.queueBytes = frames, bytes }
}

// WithStallTimeout closes, with reason [ReasonSlowClient] (or drops a
// volatile send to), a session whose writer has taken nothing from its send
// queue while [StallBacklog] packets or more came to wait, half of them for
// longer than d: a client that has
// stopped reading (its network writes are blocked) is let go within d
// instead of when its queue is full, which at a few messages a second takes
// minutes, during which everything sent to it is kept and counted. Default
// 2 s, as a phone's network can pause for a second or two (Centrifuge's
// write timeout is 1 s); 0 turns it off. A session with fewer packets
// waiting is left to the write timeout ([WithWriteTimeout]) and the ping
// timeout.
func WithStallTimeout(d time.Duration) Option {
	return func(c *config) { c.stallTimeout = d }
}

// StallBacklog is how many packets must wait for a stalled session to be
// closed (see [WithStallTimeout]).
const StallBacklog = 64

// WithAllowedOrigins lets browsers on the given origins
// (http or https://host[:port]) connect; "*" allows every origin. An
// Origin header matches an entry when scheme, host and port are the same
// (case aside, a default port written or not). By default only requests
// without an Origin header (native clients) and same-origin requests to a
// server reached by IP address or as localhost are accepted: a server
// reached by a host name must list its own origin, since the Host header
// cannot tell it from a page of an attacker's name rebound to its address
// (DNS rebinding; see the package documentation, Origin policy). Others
// get HTTP 403 with Engine.IO error code 4. It panics in NewServer for an
// entry that is not an origin (one with a path, say).
//
// A listed origin (and the server's own) is echoed in
// Access-Control-Allow-Origin, with Access-Control-Allow-Credentials if
// [WithCredentials] is set. An origin allowed only by "*" gets a literal
// "Access-Control-Allow-Origin: *" and never credentials, as with the cors
// npm package: browsers then send no cookies, so that no website can make
// credentialed requests. To allow credentials from many origins, list them
// or use [WithCheckOrigin].
func WithAllowedOrigins(origins ...string) Option {
	return func(c *config) { c.allowedOrigins = origins }
}

// WithCheckOrigin replaces the origin policy by fn, which reports whether a
// request carrying an Origin header may proceed. It overrides
// [WithAllowedOrigins]. An origin fn allows is echoed in
// Access-Control-Allow-Origin, with credentials if [WithCredentials] is set.
func WithCheckOrigin(fn func(r *http.Request) bool) Option {
	return func(c *config) { c.checkOrigin = fn }
}

// WithCredentials makes CORS responses allow credentials (cookies), as the
// cors.credentials option of the Node.js server. Default false. It applies
// to origins allowed by name or by [WithCheckOrigin], never to those allowed
// only by the "*" of [WithAllowedOrigins].
func WithCredentials(allow bool) Option {
	return func(c *config) { c.credentials = allow }
}

// WithAllowRequest sets a hook that vets each handshake request before a
// session is created. A non-nil error refuses it with HTTP 403, Engine.IO
// error code 4 and the error's text as the message.
func WithAllowRequest(fn func(r *http.Request) error) Option {
	return func(c *config) { c.allowRequest = fn }
}

// WithLogger sets the logger. Default: discard everything.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithAllowEIO3 lets clients of Engine.IO protocol v3 (engine.io-client 3.x,
// under socket.io-client 2.x) connect, as the allowEIO3 option of the
// Node.js server. Default false: a handshake that does not ask for EIO=4
// gets HTTP 400 with error code 5, "Unsupported protocol version". Such a
// session's [Conn.Protocol] is 3; the layer above speaks the matching
// Socket.IO protocol (v4) to it. See the package documentation for what v3
// changes and what it lacks here.
func WithAllowEIO3(allow bool) Option {
	return func(c *config) { c.allowEIO3 = allow }
}

// WithObserver adds an observer of the server's traffic; several may be
// added, each is called in turn. Default none, which costs a nil check per
// packet.
func WithObserver(o Observer) Option {
	return func(c *config) {
		if o == nil {
			panic("transport: WithObserver: nil observer")
		}
		c.observers = append(c.observers, o)
	}
}
