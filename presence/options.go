package presence

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"
)

// Option configures a [Tracker].
type Option func(*config)

// Defaults.
const (
	DefaultLastSeen          = 24 * time.Hour
	DefaultHeartbeatInterval = 3 * time.Second
	DefaultHeartbeatTTL      = 10 * time.Second
)

type config struct {
	store      Store
	node       string
	leaveDelay time.Duration
	lastSeen   time.Duration
	interval   time.Duration
	ttl        time.Duration
	logger     *slog.Logger
	clock      clock
}

func newConfig(opts []Option) config {
	c := config{
		lastSeen: DefaultLastSeen,
		interval: DefaultHeartbeatInterval,
		ttl:      DefaultHeartbeatTTL,
		logger:   slog.New(slog.DiscardHandler),
		clock:    systemClock{},
	}
	for _, o := range opts {
		o(&c)
	}
	c.validate()
	if c.store == nil {
		c.store = NewMemoryStore()
	}
	if c.node == "" {
		c.node = randomNode()
	}
	return c
}

func (c *config) validate() {
	if c.leaveDelay < 0 {
		panic(fmt.Sprintf("presence: WithLeaveDelay: negative duration %v", c.leaveDelay))
	}
	if c.lastSeen < 0 {
		panic(fmt.Sprintf("presence: WithLastSeen: negative duration %v", c.lastSeen))
	}
	if c.interval <= 0 || c.ttl <= c.interval {
		panic(fmt.Sprintf("presence: WithHeartbeat: want 0 < interval < ttl, got %v and %v", c.interval, c.ttl))
	}
	if c.logger == nil {
		panic("presence: WithLogger: nil logger")
	}
}

// randomNode returns a random node id of 16 hex digits.
func randomNode() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails
	return hex.EncodeToString(b[:])
}

// WithStore sets where presence is kept. Default a [NewMemoryStore] of the
// tracker's own. Trackers sharing a store form a cluster: each sees the
// members, and the diffs, of all. It panics in New if s is nil.
func WithStore(s Store) Option {
	return func(c *config) {
		if s == nil {
			panic("presence: WithStore: nil store")
		}
		c.store = s
	}
}

// WithNode names this tracker in its store: each [Meta] it tracks carries
// the name in Node, and the others remove those metas if the node stops
// heartbeating. Every tracker sharing a store needs its own name. Empty (the
// default) means a random name.
func WithNode(id string) Option {
	return func(c *config) { c.node = id }
}

// WithLeaveDelay sets how long a user whose last connection in a topic left
// stays present (with the metas they had) before they leave. One who comes
// back within d makes an update, not a leave and a join: a page reload does
// not flash offline. Default 0: leaves are immediate. It panics in New if d
// is negative.
func WithLeaveDelay(d time.Duration) Option {
	return func(c *config) { c.leaveDelay = d }
}

// WithLastSeen sets how long [Tracker.LastSeen] remembers when a user who
// left every topic was last seen. Default 24h; 0 keeps nothing. It panics
// in New if ttl is negative.
func WithLastSeen(ttl time.Duration) Option {
	return func(c *config) { c.lastSeen = ttl }
}

// WithHeartbeat sets how often the tracker tells its store that its node is
// alive and expires the nodes that stopped (interval), and how long its
// node is alive after each heartbeat (ttl): the members of a node that
// crashed leave after between ttl-interval and ttl+interval. Defaults 3s
// and 10s (a crashed node's members leave within 13 s); a zero argument keeps its default. It panics in New unless
// 0 < interval < ttl.
func WithHeartbeat(interval, ttl time.Duration) Option {
	return func(c *config) {
		if interval != 0 {
			c.interval = interval
		}
		if ttl != 0 {
			c.ttl = ttl
		}
	}
}

// WithLogger sets the logger for errors of the timers and panics of
// subscribers. Default: discard everything. It panics in New if l is nil.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}
