package client

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// Option configures a [Manager].
type Option func(*config)

// SocketOption configures a [Socket].
type SocketOption func(*socketConfig)

// Defaults, equal to those of the JavaScript client where it has one.
const (
	DefaultPath                 = "/socket.io/"
	DefaultReconnectionDelay    = time.Second
	DefaultReconnectionDelayMax = 5 * time.Second
	DefaultRandomization        = 0.5
	DefaultHandshakeTimeout     = 20 * time.Second
	DefaultSendBuffer           = 1000
)

// Transport names, as in the "transport" query parameter.
const (
	Polling   = "polling"
	WebSocket = "websocket"
)

type config struct {
	transports       []string
	reconnection     bool
	delayMin         time.Duration
	delayMax         time.Duration
	randomization    float64
	attempts         int
	handshakeTimeout time.Duration
	sendBuffer       int
	httpClient       *http.Client
	dialer           *websocket.Dialer
	dial             func(ctx context.Context, network, addr string) (net.Conn, error)
	header           http.Header
	query            url.Values
	path             string
	socket           []SocketOption
	logger           *slog.Logger
}

func newConfig(opts []Option) config {
	c := config{
		transports:       []string{Polling, WebSocket},
		reconnection:     true,
		delayMin:         DefaultReconnectionDelay,
		delayMax:         DefaultReconnectionDelayMax,
		randomization:    DefaultRandomization,
		handshakeTimeout: DefaultHandshakeTimeout,
		sendBuffer:       DefaultSendBuffer,
		path:             DefaultPath,
		logger:           slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(&c)
	}
	c.validate()
	return c
}

func (c *config) validate() {
	if len(c.transports) == 0 {
		panic("client: WithTransports: no transport")
	}
	for i, t := range c.transports {
		if t != Polling && t != WebSocket {
			panic(fmt.Sprintf("client: WithTransports: unknown transport %q", t))
		}
		if slices.Contains(c.transports[:i], t) {
			panic(fmt.Sprintf("client: WithTransports: %q given twice", t))
		}
	}
	if c.delayMin <= 0 || c.delayMax < c.delayMin {
		panic(fmt.Sprintf("client: WithReconnectionDelay: invalid range %v to %v", c.delayMin, c.delayMax))
	}
	if c.randomization < 0 || c.randomization > 1 || math.IsNaN(c.randomization) {
		panic(fmt.Sprintf("client: WithRandomization: %v is outside [0, 1]", c.randomization))
	}
	if c.attempts < 0 {
		panic(fmt.Sprintf("client: WithReconnectionAttempts: negative %d", c.attempts))
	}
	if c.handshakeTimeout <= 0 {
		panic(fmt.Sprintf("client: WithHandshakeTimeout: must be positive, got %v", c.handshakeTimeout))
	}
	if c.sendBuffer < 0 {
		panic(fmt.Sprintf("client: WithSendBuffer: negative %d", c.sendBuffer))
	}
	if !strings.HasPrefix(c.path, "/") {
		panic(fmt.Sprintf("client: WithPath: %q does not start with /", c.path))
	}
	if c.logger == nil {
		panic("client: WithLogger: nil logger")
	}
}

// upgrade reports whether a session opened over polling should try to move
// to WebSocket.
func (c *config) upgrade() bool {
	return c.transports[0] == Polling && slices.Contains(c.transports, WebSocket)
}

// WithTransports sets the transports to use, in order: the session opens on
// the first, and a session opened on "polling" upgrades to "websocket" when
// both are listed and the server offers it. Default "polling", "websocket",
// as the JavaScript client. WithTransports("websocket") connects directly
// over WebSocket; WithTransports("polling") never upgrades. It panics in New
// if names is empty or holds an unknown or repeated name.
func WithTransports(names ...string) Option {
	return func(c *config) { c.transports = slices.Clone(names) }
}

// WithReconnection turns automatic reconnection on or off. Default on: after
// the connection drops (any reason but a client or server disconnect), the
// manager reopens it after a backoff delay and reconnects every socket that
// was connected. Off, a dropped socket stays disconnected until
// [Socket.Connect] is called again.
func WithReconnection(on bool) Option {
	return func(c *config) { c.reconnection = on }
}

// WithReconnectionDelay sets the backoff between reconnection attempts: the
// n-th attempt (from 0) waits min·2ⁿ, spread by the randomization factor
// and capped at max. Defaults 1s and 5s. It panics in New unless
// 0 < min <= max.
func WithReconnectionDelay(min, max time.Duration) Option {
	return func(c *config) { c.delayMin, c.delayMax = min, max }
}

// WithRandomization sets the jitter of the reconnection delay: each delay
// moves up or down by a random fraction of itself of at most f. Default 0.5;
// 0 turns jitter off. It panics in New if f is outside [0, 1].
func WithRandomization(f float64) Option {
	return func(c *config) { c.randomization = f }
}

// WithReconnectionAttempts sets how many reconnection attempts follow a
// drop (or a failed first connection) before the manager gives up and the
// sockets report [ErrReconnectFailed]. Default 0: unlimited.
func WithReconnectionAttempts(n int) Option {
	return func(c *config) { c.attempts = n }
}

// WithHandshakeTimeout bounds each Engine.IO handshake (the first polling
// request or the WebSocket dial and its open packet). Default 20s, as the
// JavaScript client's timeout option.
func WithHandshakeTimeout(d time.Duration) Option {
	return func(c *config) { c.handshakeTimeout = d }
}

// WithSendBuffer sets how many packets each socket keeps while it is not
// connected, to send once it connects, as the JavaScript client's
// sendBuffer. Default 1000. 0 turns buffering off: Emit and EmitWithAck on
// a disconnected socket return [ErrNotConnected]. When the buffer is full
// they return [ErrBufferFull].
func WithSendBuffer(n int) Option {
	return func(c *config) { c.sendBuffer = n }
}

// WithHTTPClient sets the client for the polling transport's requests.
// Default: a client of the manager's own, with a clone of
// [http.DefaultTransport] (dialing with [WithDialContext] if given), whose
// idle connections [Manager.Close] closes. The client must not have a
// Timeout shorter than the server's ping interval, as long-polling requests
// are held that long.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) { c.httpClient = hc }
}

// WithDialer sets the WebSocket dialer. Default: a copy of
// [websocket.DefaultDialer]. The dialer is copied; [WithDialContext]
// replaces its NetDialContext.
func WithDialer(d *websocket.Dialer) Option {
	return func(c *config) { c.dialer = d }
}

// WithDialContext sets the function that opens network connections, for
// both the WebSocket dialer and the default HTTP client (not one given by
// [WithHTTPClient]). Tests use it to reach the raw connections, to drop
// them or to simulate a peer that goes silent. Default: the net.Dialer of
// each.
func WithDialContext(dial func(ctx context.Context, network, addr string) (net.Conn, error)) Option {
	return func(c *config) { c.dial = dial }
}

// WithHeader adds headers to every request: the polling requests and the
// WebSocket handshake. Headers gorilla/websocket sets itself (Upgrade,
// Connection, Sec-Websocket-*) make the WebSocket dial fail.
func WithHeader(h http.Header) Option {
	return func(c *config) { c.header = h.Clone() }
}

// WithQuery adds parameters to the query of every request, after those of
// the URL given to [New]. EIO, transport and sid are the protocol's.
func WithQuery(q url.Values) Option {
	return func(c *config) {
		if c.query == nil {
			c.query = url.Values{}
		}
		for k, vs := range q {
			c.query[k] = append(c.query[k], vs...)
		}
	}
}

// WithPath sets the server's Engine.IO path. Default "/socket.io/", the
// server's default. A missing trailing slash is added. It panics in New if
// path does not start with "/".
func WithPath(path string) Option {
	return func(c *config) {
		if !strings.HasSuffix(path, "/") {
			path += "/"
		}
		c.path = path
	}
}

// WithSocketOptions sets options applied to every socket the manager
// creates, before the socket's own. It is how [Connect] gets an auth
// payload: client.Connect(ctx, url, client.WithSocketOptions(client.WithAuth(a))).
func WithSocketOptions(opts ...SocketOption) Option {
	return func(c *config) { c.socket = append(c.socket, opts...) }
}

// WithLogger sets the logger. Default: discard everything. Lifecycle events
// (open, upgrade, close, reconnection) are logged at Info, packets at Debug.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

type socketConfig struct {
	auth json.RawMessage
}

// WithAuth sets the socket's auth payload, sent in each CONNECT packet and
// seen by the server's middleware (Handshake().Auth in package realtime).
// v is encoded with encoding/json once, when the socket is created, and
// must encode to a JSON object or null: anything else panics in
// [Manager.Socket]. Default none. On a reconnection with connection-state
// recovery the client adds "pid" and "offset" members; v's own members of
// those names win, as in the JavaScript client.
func WithAuth(v any) SocketOption {
	return func(c *socketConfig) {
		b, err := json.Marshal(v)
		if err != nil {
			panic(fmt.Sprintf("client: WithAuth: %v", err))
		}
		switch {
		case string(b) == "null":
			c.auth = nil
		case len(b) > 0 && b[0] == '{':
			c.auth = b
		default:
			panic(fmt.Sprintf("client: WithAuth: %s is not a JSON object", b))
		}
	}
}
