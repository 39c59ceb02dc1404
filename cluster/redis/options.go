package redis

import (
	"log/slog"
	"time"
)

// Option configures [NewAdapter].
type Option func(*config)

type config struct {
	key              string
	requestTimeout   time.Duration
	heartbeat        time.Duration
	heartbeatTimeout time.Duration
	recoveryLen      int
	sharded          bool
	mode             SubscriptionMode
	logger           *slog.Logger
	cellSize         float64
}

func defaults() config {
	return config{
		key:              "socket.io",
		requestTimeout:   5 * time.Second,
		heartbeat:        5 * time.Second,
		heartbeatTimeout: 10 * time.Second,
		recoveryLen:      10000,
		logger:           slog.Default(),
		cellSize:         DefaultCellSize,
	}
}

// WithKey sets the prefix of the channel names, @socket.io/redis-adapter's
// "key" option. Default "socket.io"; every server and emitter of a
// cluster uses the same.
func WithKey(key string) Option {
	if key == "" {
		panic("redis: WithKey: empty key")
	}
	return func(c *config) { c.key = key }
}

// WithRequestTimeout bounds how long a request to the other servers
// (FetchSockets, ServerSideEmitWithAck, the server counts of
// EmitWithAck) waits for their answers, whatever its context; also how
// long a publish may take. Default 5 s, @socket.io/redis-adapter's
// requestsTimeout.
func WithRequestTimeout(d time.Duration) Option {
	if d <= 0 {
		panic("redis: WithRequestTimeout: not positive")
	}
	return func(c *config) { c.requestTimeout = d }
}

// WithHeartbeat sets how often each vicinity server says it is alive
// (interval, default 5 s), and after how long without a word it stops
// being waited for (timeout, default 10 s).
func WithHeartbeat(interval, timeout time.Duration) Option {
	if interval <= 0 || timeout <= interval {
		panic("redis: WithHeartbeat: want 0 < interval < timeout")
	}
	return func(c *config) { c.heartbeat, c.heartbeatTimeout = interval, timeout }
}

// WithLogger sets where the adapter logs what it drops and its
// connection's troubles. Default slog.Default().
func WithLogger(l *slog.Logger) Option {
	if l == nil {
		panic("redis: WithLogger: nil logger")
	}
	return func(c *config) { c.logger = l }
}

// WithRecoveryLog bounds the log of recoverable packets a namespace keeps
// in Redis, with [realtime.WithRecovery], at about n packets (default
// 10,000, as Node's Redis Streams adapter): past it the oldest go, and a
// client whose offset they held starts afresh. Packets older than the
// recovery window go too.
func WithRecoveryLog(n int) Option {
	if n <= 0 {
		panic("redis: WithRecoveryLog: not positive")
	}
	return func(c *config) { c.recoveryLen = n }
}
