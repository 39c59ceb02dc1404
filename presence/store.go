package presence

import (
	"context"
	"time"
)

// Store keeps the presence of every [Tracker] sharing it: the metas of each
// key in each topic, with the node that owns them, the heartbeats of the
// nodes, and the last-seen times of users who left. It is the cluster plug
// point: [NewMemoryStore] serves one process (and several trackers in it),
// a store on a broker lets trackers on many servers see the same presence.
//
// Trackers validate their input and set every field of a meta (Status,
// JoinedAt, Node) before calling a store; a store checks nothing but its
// own invariants. Times come from the calling tracker's clock.
//
// # Held metas
//
// A leave delay is kept in the store, so that a user who comes back through
// another node within the delay does not flash offline either. [Store.Remove]
// with hold set does not remove the last meta of a key in a topic: it marks
// it held. A held meta is still listed, counted and returned by Get, but it
// cannot be updated or removed again; [Store.Put] for the same key and topic
// drops it (whatever node held it), and [Store.Release] removes it when the
// delay ends, unless it was dropped or held again meanwhile. At most one
// meta of a key in a topic is held, and then it is the key's only meta.
//
// # Diffs
//
// Every change to a topic's metas, whoever made it (this tracker, another
// node, [Store.ExpireNodes]), is delivered as a [Diff] to the functions
// [Store.Watch] registered for that topic, with these guarantees, which
// [Tracker.Subscribe] passes on to its subscribers:
//   - a key is in Joins when it had no meta and now has some; in Leaves
//     when its last meta (held or not) was removed; in Updates, with its
//     current metas, when its metas changed otherwise (added, removed,
//     replaced with different values). Holding a meta is not a change, and
//     neither is a Put or Update that leaves the meta as it was.
//   - a Leave's LastSeen is the time the last connection left: the at of
//     Remove, the leftAt of Release, or, for a node that expired, the time
//     of its last heartbeat.
//   - diffs of a topic reach each watcher in the order the changes were
//     applied, one at a time, never from two goroutines at once, and never
//     while the store holds a lock its methods need (so a watcher may call
//     the store, and may make a diff that it then receives itself).
//   - a watcher gets every change applied after Watch returned, and none
//     after its cancel returned, except one already being delivered.
//   - a watcher must not block for long and must not panic.
//
// A diff may be delivered on the goroutine of the call that caused it
// (before that call returns) or on another one: the memory store delivers
// on whichever goroutine finds the topic's queue idle.
//
// # Nodes
//
// Each tracker is a node, named by [WithNode], that calls
// [Store.Heartbeat] every interval of [WithHeartbeat] and then
// [Store.ExpireNodes]: the metas of a node whose heartbeat is older than its
// TTL are removed, so the members of a server that died leave (and each
// tracker watching their topics emits the Leaves). The store remembers
// the nodes it expired: a Put of a meta of such a node fails with
// [ErrNodeExpired], and so does the node's next Heartbeat, which makes the
// node alive again (later Puts succeed) but does not bring back its
// removed metas: the tracker receiving it should track its connections
// again.
//
// # Last seen
//
// When a key's last meta in its last topic is removed, the store records the
// time the connection left (as for a Leave's LastSeen) as the key's last-seen
// time, until the key is present again or [Store.ForgetLastSeen] drops it.
//
// Every method is safe for concurrent use. Methods that take a ctx return
// ctx.Err() (or an error wrapping it) if ctx is done before they complete.
type Store interface {
	// Put adds m as a meta of key in topic, or replaces the meta of the
	// same m.ConnID in place, keeping its first JoinedAt; it drops the
	// key's held meta in topic, if any. It returns [ErrNodeExpired] if
	// m.Node was expired and has not heartbeated since.
	Put(ctx context.Context, topic, key string, m Meta) error

	// Update replaces the meta of m.ConnID of key in topic with m, keeping
	// its ConnID, JoinedAt and Node. It returns an error wrapping
	// [ErrNotTracked] if there is no such meta or it is held.
	Update(ctx context.Context, topic, key string, m Meta) error

	// Remove removes the meta of connID of key from topic; at is when the
	// connection left. With hold set, the key's last meta in topic is held
	// instead (see Held metas) and held is true. Removing a meta that is
	// absent or held does nothing.
	Remove(ctx context.Context, topic, key, connID string, at time.Time, hold bool) (held bool, err error)

	// Release removes the held meta of connID of key in topic if it is
	// still held since leftAt; otherwise it does nothing.
	Release(ctx context.Context, topic, key, connID string, leftAt time.Time) error

	// Get returns the metas of key in topic, oldest first, held ones
	// included; none if the key is absent.
	Get(ctx context.Context, topic, key string) ([]Meta, error)

	// List returns the members of topic, sorted by key.
	List(ctx context.Context, topic string) ([]Member, error)

	// Count returns the number of keys present in topic.
	Count(ctx context.Context, topic string) (int, error)

	// Occupancy returns the number of keys present in topic and of their
	// metas, held ones included, without listing them.
	Occupancy(ctx context.Context, topic string) (Occupancy, error)

	// Topics returns the topics key is present in, sorted.
	Topics(ctx context.Context, key string) ([]string, error)

	// LastSeen returns the last-seen time of key; false if the key is
	// present in a topic or no time is recorded.
	LastSeen(ctx context.Context, key string) (time.Time, bool, error)

	// ForgetLastSeen drops the last-seen times older than before.
	ForgetLastSeen(ctx context.Context, before time.Time) error

	// Heartbeat records that node is alive at now, until now+ttl. If node
	// was expired, it is alive again and Heartbeat returns [ErrNodeExpired]
	// (see Nodes).
	Heartbeat(ctx context.Context, node string, now time.Time, ttl time.Duration) error

	// ExpireNodes removes the heartbeats that ended before now and every
	// meta of those nodes, delivering the diffs, and returns the names of
	// the nodes it expired. When several trackers call it, each expired
	// node is removed (and its diffs delivered) once.
	ExpireNodes(ctx context.Context, now time.Time) ([]string, error)

	// Sync calls fn once, in order with the diffs of topic delivered to
	// its watchers: after every diff of topic queued for delivery before
	// Sync was called has been delivered, and before any diff queued after.
	// fn is called with no lock of the store held, on whichever goroutine
	// delivers the topic's diffs (possibly the caller's, before Sync
	// returns; possibly another's, after). A cluster store must order it
	// with the diffs it delivers for topic (for instance, by queueing a
	// marker in the topic's delivery queue). If topic has no watcher, fn may
	// run at once. If Sync returns an error, fn is not called. fn must not
	// block for long and must not panic.
	Sync(ctx context.Context, topic string, fn func()) error

	// Watch calls fn with each diff of topic until cancel is called; see
	// Diffs. cancel may be called more than once, and from fn. If Watch
	// returns an error (ctx done, the broker unreachable), fn is not
	// registered and cancel is nil. ctx bounds the registration only, not
	// the watch.
	Watch(ctx context.Context, topic string, fn func(Diff)) (cancel func(), err error)
}
