package presence

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Tracker records who is present in which topic, in its [Store], and tells
// subscribers what changes. Create one with [New]; it is safe for
// concurrent use. See the package documentation for the semantics.
type Tracker struct {
	config // the options, fixed at New; logger names the node

	seed     maphash.Seed
	shards   [trackerShards]trackerShard
	closed   atomic.Bool
	inflight sync.WaitGroup // timer callbacks under way; Add under a shard's mu or beatMu while not closed

	beatMu sync.Mutex
	beat   stopper // the next heartbeat

	onExpMu sync.Mutex
	onExp   map[*func()]struct{} // see OnExpired
}

const trackerShards = 32

// trackerShard holds the tracker's own state of the topics hashing to it.
type trackerShard struct {
	mu   sync.Mutex
	held map[*hold]bool         // leave delays running on this node, to stop at Close
	subs map[*subscription]bool // to cancel at Close
}

// hold is a leave delay: connID of key in topic left at leftAt. Its timer
// calls [Store.Release], which removes the held meta only if it is still
// held since leftAt, so no hold ever needs to stop another one: a Track
// drops the held meta in the store, and the timer's Release then does
// nothing.
type hold struct {
	topic, key string
	connID     string
	leftAt     time.Time
	timer      stopper // guarded by the shard's mu
}

type subscription struct{ cancel func() }

// New returns a tracker, which starts heartbeating at once. Call
// [Tracker.Close] to stop it.
func New(opts ...Option) *Tracker {
	c := newConfig(opts)
	c.logger = c.logger.With("node", c.node)
	t := &Tracker{config: c, seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].held = make(map[*hold]bool)
		t.shards[i].subs = make(map[*subscription]bool)
	}
	t.heartbeat()
	t.beatMu.Lock()
	t.beat = t.clock.AfterFunc(t.interval, t.onBeat)
	t.beatMu.Unlock()
	return t
}

// Node returns the name of this tracker in its store (see [WithNode]).
func (t *Tracker) Node() string { return t.node }

func (t *Tracker) shard(topic string) *trackerShard {
	return &t.shards[maphash.String(t.seed, topic)%trackerShards]
}

// Track adds the connection m.ConnID of the user key to topic: a join if it
// is the user's first connection there (or an update if the user was held
// by the leave delay), an update otherwise. Re-tracking the same ConnID
// replaces its meta, keeping its JoinedAt: an update if anything changed.
// An empty Status becomes "online", a zero JoinedAt the current time, and
// Node is set to the tracker's; Fields is copied. Bad input (see Limits)
// returns an error wrapping [ErrInvalidMeta].
func (t *Tracker) Track(ctx context.Context, topic, key string, m Meta) error {
	if t.closed.Load() {
		return ErrClosed
	}
	if err := cmp.Or(checkName("topic", topic), checkName("key", key), checkName("connection id", m.ConnID)); err != nil {
		return err
	}
	if err := m.Validate(); err != nil {
		return err
	}
	m.Fields = bytes.Clone(m.Fields) // the caller may reuse its buffer
	t.prepare(&m)
	if m.JoinedAt.IsZero() {
		m.JoinedAt = t.clock.Now()
	}
	// Put drops the key's held meta, if any: the leave delay's timer, here
	// or on another node, then finds nothing to release.
	if err := t.store.Put(ctx, topic, key, m); err != nil {
		return fmt.Errorf("presence: track %q in %q: %w", key, topic, err)
	}
	return nil
}

// prepare sets the fields of a valid m that the tracker owns.
func (t *Tracker) prepare(m *Meta) {
	if m.Status == "" {
		m.Status = StatusOnline
	}
	m.Node = t.node
	if len(m.Fields) == 0 {
		m.Fields = nil
	}
}

// Untrack removes the connection connID of the user key from topic: an
// update if the user has other connections there, a leave otherwise (after
// the leave delay, if any). Untracking a connection that is not tracked
// does nothing.
func (t *Tracker) Untrack(ctx context.Context, topic, key, connID string) error {
	if t.closed.Load() {
		return ErrClosed
	}
	if err := cmp.Or(checkName("topic", topic), checkName("key", key), checkName("connection id", connID)); err != nil {
		return err
	}
	return t.untrack(ctx, topic, key, connID)
}

func (t *Tracker) untrack(ctx context.Context, topic, key, connID string) error {
	now := t.clock.Now()
	held, err := t.store.Remove(ctx, topic, key, connID, now, t.leaveDelay > 0)
	if err != nil {
		return fmt.Errorf("presence: untrack %q from %q: %w", key, topic, err)
	}
	if held {
		t.startHold(topic, key, connID, now)
	}
	return nil
}

// UntrackConn removes the connection connID of the user key from every
// topic it is tracked in, as [Tracker.Untrack] does: a disconnect. A Track
// of the same connection running at the same time may be missed.
func (t *Tracker) UntrackConn(ctx context.Context, key, connID string) error {
	if t.closed.Load() {
		return ErrClosed
	}
	if err := cmp.Or(checkName("key", key), checkName("connection id", connID)); err != nil {
		return err
	}
	topics, err := t.store.Topics(ctx, key)
	if err != nil {
		return fmt.Errorf("presence: untrack %q: %w", key, err)
	}
	var errs []error
	for _, topic := range topics {
		if err := t.untrack(ctx, topic, key, connID); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// startHold runs the leave delay of connID, which left at leftAt. It never
// stops another hold: each one's timer releases only its own held meta.
func (t *Tracker) startHold(topic, key, connID string, leftAt time.Time) {
	h := &hold{topic: topic, key: key, connID: connID, leftAt: leftAt}
	sh := t.shard(topic)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if t.closed.Load() {
		return // held until the node expires, as the other holds at Close
	}
	h.timer = t.clock.AfterFunc(t.leaveDelay, func() { t.release(h) })
	sh.held[h] = true
}

// release ends the leave delay h: the store removes the held meta unless
// the user came back (or was held again) meanwhile. If the store fails, it
// tries again every heartbeat interval.
func (t *Tracker) release(h *hold) {
	sh := t.shard(h.topic)
	sh.mu.Lock()
	if t.closed.Load() || !sh.held[h] {
		sh.mu.Unlock()
		return
	}
	delete(sh.held, h)
	t.inflight.Add(1)
	sh.mu.Unlock()
	defer t.inflight.Done()
	ctx, cancel := context.WithTimeout(context.Background(), t.interval)
	defer cancel()
	err := t.store.Release(ctx, h.topic, h.key, h.connID, h.leftAt)
	if err == nil {
		return
	}
	t.logger.Error("presence: release", "topic", h.topic, "err", err)
	// Try again a heartbeat later; a Release that comes too late does
	// nothing.
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if !t.closed.Load() {
		h.timer = t.clock.AfterFunc(t.interval, func() { t.release(h) })
		sh.held[h] = true
	}
}

// Update changes the meta of the connection connID of the user key in
// topic: fn edits a copy, whose ConnID, JoinedAt and Node changes are
// ignored (an empty Status becomes "online"). An update diff follows if the
// meta changed. It returns an error wrapping [ErrNotTracked] if the
// connection is not tracked in topic, and one wrapping [ErrInvalidMeta] if
// the edited meta is over the limits; then nothing changes. fn runs with no
// lock held. Two updates of one connection at the same time: the last
// write wins, on the whole meta.
func (t *Tracker) Update(ctx context.Context, topic, key, connID string, fn func(*Meta)) error {
	if t.closed.Load() {
		return ErrClosed
	}
	if err := cmp.Or(checkName("topic", topic), checkName("key", key), checkName("connection id", connID)); err != nil {
		return err
	}
	return t.update(ctx, topic, key, connID, fn)
}

func (t *Tracker) update(ctx context.Context, topic, key, connID string, fn func(*Meta)) error {
	metas, err := t.store.Get(ctx, topic, key)
	if err != nil {
		return fmt.Errorf("presence: update %q in %q: %w", key, topic, err)
	}
	i := indexConn(metas, connID)
	if i < 0 {
		return fmt.Errorf("presence: update %q of %q in %q: %w", connID, key, topic, ErrNotTracked)
	}
	stored := metas[i].Fields // shared with diffs and other readers: never edited
	m := metas[i]
	m.Fields = bytes.Clone(stored) // fn may edit them in place
	fn(&m)
	if bytes.Equal(m.Fields, stored) {
		m.Fields = stored // valid when stored
		err = m.validText()
	} else {
		m.Fields = bytes.Clone(m.Fields) // fn may have set a buffer of the caller's
		err = m.Validate()
	}
	if err != nil {
		return err
	}
	m.ConnID = connID
	t.prepare(&m) // the store keeps the stored JoinedAt and Node
	if err := t.store.Update(ctx, topic, key, m); err != nil {
		if errors.Is(err, ErrNotTracked) {
			return err // the store's error names the connection
		}
		return fmt.Errorf("presence: update %q in %q: %w", key, topic, err)
	}
	return nil
}

// UpdateConn changes the meta of the connection connID of the user key in
// every topic it is tracked in, as [Tracker.Update] does, calling fn once
// per topic. It returns an error wrapping [ErrNotTracked] if the connection
// is tracked nowhere.
func (t *Tracker) UpdateConn(ctx context.Context, key, connID string, fn func(*Meta)) error {
	if t.closed.Load() {
		return ErrClosed
	}
	if err := cmp.Or(checkName("key", key), checkName("connection id", connID)); err != nil {
		return err
	}
	topics, err := t.store.Topics(ctx, key)
	if err != nil {
		return fmt.Errorf("presence: update %q: %w", key, err)
	}
	var errs []error
	updated := false
	for _, topic := range topics {
		err := t.update(ctx, topic, key, connID, fn)
		switch {
		case err == nil:
			updated = true
		case errors.Is(err, ErrNotTracked):
		case errors.Is(err, ErrInvalidMeta):
			return err // the same in every topic
		default:
			errs = append(errs, err)
		}
	}
	if !updated && len(errs) == 0 {
		return fmt.Errorf("presence: update %q of %q: %w", connID, key, ErrNotTracked)
	}
	return errors.Join(errs...)
}

// List returns the members of topic, sorted by key, with the users held by
// the leave delay.
func (t *Tracker) List(ctx context.Context, topic string) ([]Member, error) {
	if t.closed.Load() {
		return nil, ErrClosed
	}
	if err := checkName("topic", topic); err != nil {
		return nil, err
	}
	list, err := t.store.List(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("presence: list %q: %w", topic, err)
	}
	return list, nil
}

// Get returns the user key as a member of topic, and whether they are
// present.
func (t *Tracker) Get(ctx context.Context, topic, key string) (Member, bool, error) {
	if t.closed.Load() {
		return Member{}, false, ErrClosed
	}
	if err := cmp.Or(checkName("topic", topic), checkName("key", key)); err != nil {
		return Member{}, false, err
	}
	metas, err := t.store.Get(ctx, topic, key)
	if err != nil {
		return Member{}, false, fmt.Errorf("presence: get %q in %q: %w", key, topic, err)
	}
	if len(metas) == 0 {
		return Member{}, false, nil
	}
	return Member{Key: key, Metas: metas}, true, nil
}

// Topics returns the topics the user key is present in, sorted.
func (t *Tracker) Topics(ctx context.Context, key string) ([]string, error) {
	if t.closed.Load() {
		return nil, ErrClosed
	}
	if err := checkName("key", key); err != nil {
		return nil, err
	}
	topics, err := t.store.Topics(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("presence: topics of %q: %w", key, err)
	}
	return topics, nil
}

// Count returns the number of users (not connections) present in topic.
func (t *Tracker) Count(ctx context.Context, topic string) (int, error) {
	if t.closed.Load() {
		return 0, ErrClosed
	}
	if err := checkName("topic", topic); err != nil {
		return 0, err
	}
	n, err := t.store.Count(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("presence: count %q: %w", topic, err)
	}
	return n, nil
}

// Occupancy returns the number of users present in topic and of their
// connections, those held by the leave delay included, without listing
// them: for a count shown to many (the people in an area).
func (t *Tracker) Occupancy(ctx context.Context, topic string) (Occupancy, error) {
	if t.closed.Load() {
		return Occupancy{}, ErrClosed
	}
	if err := checkName("topic", topic); err != nil {
		return Occupancy{}, err
	}
	o, err := t.store.Occupancy(ctx, topic)
	if err != nil {
		return Occupancy{}, fmt.Errorf("presence: occupancy of %q: %w", topic, err)
	}
	return o, nil
}

// LastSeen returns when the last connection of the user key left (from
// every topic, after the leave delay), for [WithLastSeen] after that; false
// while the user is present, for a user never seen, and once the time is
// forgotten.
func (t *Tracker) LastSeen(ctx context.Context, key string) (time.Time, bool, error) {
	if t.closed.Load() {
		return time.Time{}, false, ErrClosed
	}
	if err := checkName("key", key); err != nil {
		return time.Time{}, false, err
	}
	if t.lastSeen == 0 {
		return time.Time{}, false, nil
	}
	at, ok, err := t.store.LastSeen(ctx, key)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("presence: last seen of %q: %w", key, err)
	}
	if !ok || t.clock.Now().Sub(at) >= t.lastSeen {
		return time.Time{}, false, nil
	}
	return at, true, nil
}

// Subscribe calls fn with every diff of topic, whichever node caused it,
// until cancel is called or the tracker is closed. Diffs come in order, one
// at a time, with no lock of the tracker held, on the goroutine of whoever
// caused them (a Track, an Untrack, a leave-delay or heartbeat timer): fn
// must not block, and must not call [Tracker.Close]. It may call the
// tracker's other methods. A panic in fn is recovered and logged.
//
// To follow a topic from its current state, subscribe first and then call
// [Tracker.List]: every change after Subscribe returned is delivered, and a
// diff delivered before List returned may already be in its result, which
// does no harm (see [Diff]).
//
// To send a newcomer the state in order with the diffs, call
// [Tracker.List] in [Tracker.Sync] instead.
//
// cancel may be called more than once; a diff being delivered when it is
// called may still reach fn. After Close, Subscribe returns a no-op. If the
// store fails to watch the topic, the error is logged and Subscribe returns
// a no-op: use [Tracker.SubscribeContext] to get the error. It panics if fn
// is nil.
func (t *Tracker) Subscribe(topic string, fn func(Diff)) (cancel func()) {
	cancel, err := t.SubscribeContext(context.Background(), topic, fn)
	if err != nil {
		if !errors.Is(err, ErrClosed) {
			t.logger.Error("presence: subscribe", "topic", topic, "err", err)
		}
		return func() {}
	}
	return cancel
}

// SubscribeContext is [Tracker.Subscribe] with a ctx bounding the store's
// registration of the watch (not the subscription, which lasts until
// cancel is called or the tracker is closed), returning the store's error.
// On error, cancel is a no-op and fn is never called; after Close, the
// error is [ErrClosed]. It panics if fn is nil.
func (t *Tracker) SubscribeContext(ctx context.Context, topic string, fn func(Diff)) (cancel func(), err error) {
	if fn == nil {
		panic("presence: Subscribe: nil func")
	}
	if t.closed.Load() {
		return func() {}, ErrClosed
	}
	s := &subscription{}
	s.cancel, err = t.store.Watch(ctx, topic, func(d Diff) { t.deliver(fn, d) })
	if err != nil {
		return func() {}, fmt.Errorf("presence: subscribe to %q: %w", topic, err)
	}
	sh := t.shard(topic)
	sh.mu.Lock()
	if t.closed.Load() {
		sh.mu.Unlock()
		s.cancel()
		return func() {}, ErrClosed
	}
	sh.subs[s] = true
	sh.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			sh.mu.Lock()
			delete(sh.subs, s)
			sh.mu.Unlock()
			s.cancel()
		})
	}, nil
}

// Sync calls fn once, in order with the diffs of topic delivered to
// subscribers: after every diff of topic already queued for delivery has
// been delivered, and before any diff queued later. fn runs with no lock
// held, on whichever goroutine delivers the topic's diffs: possibly the
// caller's, before Sync returns, or another's (a Track's, a timer's) after.
// Called from a subscriber, fn runs after the diff being delivered.
//
// It lets a subscriber send a newcomer the topic's state without ever
// sending a state older than a diff the newcomer already got:
//
//	cancel := t.Subscribe(topic, send)
//	t.Sync(topic, func() {
//		members, err := t.List(ctx, topic) // no older than the diffs sent
//		...                                // send members, then the diffs that follow
//	})
//
// The List in fn may already include changes whose diffs come after fn:
// replaying them on it is harmless (see [Diff]).
//
// fn must not block, and must not call [Tracker.Close]; a panic in fn is
// recovered and logged. If the topic has no subscriber, the tracker is
// closed or the store fails (logged), fn is called at once. It panics if
// fn is nil.
func (t *Tracker) Sync(topic string, fn func()) {
	if fn == nil {
		panic("presence: Sync: nil func")
	}
	call := func() {
		defer func() {
			if r := recover(); r != nil {
				t.logger.Error("presence: sync func panicked", "topic", topic, "panic", r, "stack", string(debug.Stack()))
			}
		}()
		fn()
	}
	if t.closed.Load() {
		call()
		return
	}
	if err := t.store.Sync(context.Background(), topic, call); err != nil {
		t.logger.Error("presence: sync", "topic", topic, "err", err)
		call()
	}
}

// deliver calls fn with d, recovering a panic.
func (t *Tracker) deliver(fn func(Diff), d Diff) {
	defer func() {
		if r := recover(); r != nil {
			t.logger.Error("presence: subscriber panicked", "topic", d.Topic, "panic", r, "stack", string(debug.Stack()))
		}
	}()
	fn(d)
}

// onBeat runs the heartbeat timer.
func (t *Tracker) onBeat() {
	t.beatMu.Lock()
	if t.closed.Load() {
		t.beatMu.Unlock()
		return
	}
	t.inflight.Add(1)
	t.beatMu.Unlock()
	defer t.inflight.Done()
	t.heartbeat()
	t.beatMu.Lock()
	if !t.closed.Load() {
		t.beat = t.clock.AfterFunc(t.interval, t.onBeat)
	}
	t.beatMu.Unlock()
}

// heartbeat tells the store this node is alive, expires the nodes that are
// not, and forgets old last-seen times.
func (t *Tracker) heartbeat() {
	ctx, cancel := context.WithTimeout(context.Background(), t.interval)
	defer cancel()
	now := t.clock.Now()
	if err := t.store.Heartbeat(ctx, t.node, now, t.ttl); errors.Is(err, ErrNodeExpired) {
		// Its metas were removed: its connections must be tracked again.
		t.logger.Error("presence: node expired: its connections must be tracked again", "err", err)
		t.expired()
	} else if err != nil {
		t.logger.Error("presence: heartbeat", "err", err)
	}
	dead, err := t.store.ExpireNodes(ctx, now)
	if err != nil {
		t.logger.Error("presence: expire nodes", "err", err)
	}
	if len(dead) > 0 {
		t.logger.Info("presence: nodes expired", "nodes", dead)
	}
	if err := t.store.ForgetLastSeen(ctx, now.Add(-t.lastSeen)); err != nil {
		t.logger.Error("presence: forget last seen", "err", err)
	}
}

// OnExpired calls fn, on the heartbeat's goroutine, each time the store
// says that this tracker's node was expired (its heartbeat lapsed, as
// while the node could not reach a remote store for longer than the TTL,
// or the store lost its data): its metas are gone from the store, and
// whoever tracks connections with it should track them again (a Track of
// a connection already tracked only replaces its meta). stop ends it. fn
// must not call [Tracker.Close]; a panic in fn is recovered and logged.
func (t *Tracker) OnExpired(fn func()) (stop func()) {
	if fn == nil {
		panic("presence: OnExpired: nil func")
	}
	p := &fn
	t.onExpMu.Lock()
	if t.onExp == nil {
		t.onExp = make(map[*func()]struct{})
	}
	t.onExp[p] = struct{}{}
	t.onExpMu.Unlock()
	return func() {
		t.onExpMu.Lock()
		delete(t.onExp, p)
		t.onExpMu.Unlock()
	}
}

// expired calls the functions of OnExpired.
func (t *Tracker) expired() {
	t.onExpMu.Lock()
	fns := make([]func(), 0, len(t.onExp))
	for p := range t.onExp {
		fns = append(fns, *p)
	}
	t.onExpMu.Unlock()
	for _, fn := range fns {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.logger.Error("presence: OnExpired func panicked", "panic", r, "stack", string(debug.Stack()))
				}
			}()
			fn()
		}()
	}
}

// Close stops the tracker: its heartbeat, its leave-delay timers and its
// subscriptions, waiting for the timer callbacks under way. It does not
// untrack anything: the metas of this node stay in the store until another
// tracker sharing the store expires the node (its heartbeat lapses), and the
// users held by a leave delay stay held until then too. Untrack first for
// them to leave at once. Close is idempotent and returns nil; other methods
// return [ErrClosed] afterwards. It must not be called from a subscriber.
func (t *Tracker) Close() error {
	if t.closed.Swap(true) {
		return nil
	}
	t.beatMu.Lock()
	t.beat.Stop()
	t.beatMu.Unlock()
	var cancels []func()
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for h := range sh.held {
			h.timer.Stop()
		}
		clear(sh.held)
		for s := range sh.subs {
			cancels = append(cancels, s.cancel)
		}
		clear(sh.subs)
		sh.mu.Unlock()
	}
	for _, cancel := range cancels {
		cancel()
	}
	t.inflight.Wait()
	return nil
}
