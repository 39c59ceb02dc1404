package presence

import (
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// shardCount is the number of shards of a [MemoryStore]'s topics and keys.
const shardCount = 64

// MemoryStore is a [Store] in memory. Topics and keys are spread over
// shards, each with its own lock, so that operations on different topics
// seldom wait for each other and readers wait only for writers of their
// shard. Several trackers in one process may share a MemoryStore to act as
// a cluster. It has no goroutine: diffs are delivered by the callers, see
// [Store].
//
// The zero value is not usable; call [NewMemoryStore].
type MemoryStore struct {
	seed   maphash.Seed
	topics [shardCount]topicShard
	keys   [shardCount]keyShard

	nodesMu sync.RWMutex
	nodes   map[string]heartbeat
	expired map[string]bool // expired nodes that have not heartbeated since
}

var _ Store = (*MemoryStore)(nil)

// topicShard holds the topics whose name hashes to it and their watchers.
// Lock order: mu, then a keyShard's mu, a queue's mu or the store's nodesMu.
type topicShard struct {
	mu       sync.RWMutex
	topics   map[string]map[string]*member // topic → key → member
	watchers map[string]*queue             // topic → its watchers and their diffs
}

// queue is the watchers of a topic and the diffs to deliver to them.
type queue struct {
	ws []*watcher // copied on write; guarded by the topicShard's mu

	mu       sync.Mutex
	out      []delivery // in the order the changes were applied
	spare    []delivery // the drainer's last batch, for reuse
	draining bool       // a goroutine is delivering out
}

// member is a key in a topic.
type member struct {
	metas  []Meta    // never modified once stored: diffs share it
	leftAt time.Time // not zero: metas[0], the only meta, is held since leftAt
}

func (mb *member) held() bool { return !mb.leftAt.IsZero() }

type watcher struct {
	fn       func(Diff)
	canceled atomic.Bool
}

// delivery is a diff for the watchers to, or a marker: a [Store.Sync]
// whose fn is called in its turn.
type delivery struct {
	diff Diff
	to   []*watcher
	sync func()
}

// keyShard indexes the topics of the keys that hash to it.
type keyShard struct {
	mu       sync.RWMutex
	topics   map[string][]string // key → the topics it is present in, unsorted
	lastSeen map[string]time.Time
	oldest   time.Time // no time in lastSeen is older
}

type heartbeat struct {
	at, until time.Time
}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore {
	s := &MemoryStore{seed: maphash.MakeSeed(), nodes: make(map[string]heartbeat), expired: make(map[string]bool)}
	for i := range s.topics {
		s.topics[i].topics = make(map[string]map[string]*member)
		s.topics[i].watchers = make(map[string]*queue)
	}
	for i := range s.keys {
		s.keys[i].topics = make(map[string][]string)
		s.keys[i].lastSeen = make(map[string]time.Time)
	}
	return s
}

func (s *MemoryStore) topicShard(topic string) *topicShard {
	return &s.topics[maphash.String(s.seed, topic)%shardCount]
}

func (s *MemoryStore) keyShard(key string) *keyShard {
	return &s.keys[maphash.String(s.seed, key)%shardCount]
}

// Put implements [Store.Put].
func (s *MemoryStore) Put(ctx context.Context, topic, key string, m Meta) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sh := s.topicShard(topic)
	sh.mu.Lock()
	// Checked under sh.mu: ExpireNodes marks the node before it takes sh.mu
	// to remove its metas, so a meta added here is either refused or removed.
	s.nodesMu.RLock()
	expired := s.expired[m.Node]
	s.nodesMu.RUnlock()
	if expired {
		sh.mu.Unlock()
		return fmt.Errorf("presence: put %q in %q: node %q: %w", key, topic, m.Node, ErrNodeExpired)
	}
	members := sh.topics[topic]
	if members == nil {
		members = make(map[string]*member)
		sh.topics[topic] = members
	}
	mb := members[key]
	change := diffUpdate
	switch {
	case mb == nil:
		change = diffJoin
		mb = &member{metas: []Meta{m}}
		members[key] = mb
		s.joined(key, topic)
	case mb.held():
		mb.metas, mb.leftAt = []Meta{m}, time.Time{}
	default:
		i := indexConn(mb.metas, m.ConnID)
		if i < 0 {
			mb.metas = append(mb.metas[:len(mb.metas):len(mb.metas)], m)
		} else {
			m.JoinedAt = mb.metas[i].JoinedAt
			if metaEqual(&mb.metas[i], &m) {
				sh.mu.Unlock()
				return nil
			}
			mb.metas = slices.Clone(mb.metas)
			mb.metas[i] = m
		}
	}
	sh.emitKey(topic, key, change, mb.metas, time.Time{})
	return nil
}

// Update implements [Store.Update].
func (s *MemoryStore) Update(ctx context.Context, topic, key string, m Meta) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sh := s.topicShard(topic)
	sh.mu.Lock()
	mb := sh.topics[topic][key]
	i := -1
	if mb != nil && !mb.held() {
		i = indexConn(mb.metas, m.ConnID)
	}
	if i < 0 {
		sh.mu.Unlock()
		return fmt.Errorf("presence: update %q of %q in %q: %w", m.ConnID, key, topic, ErrNotTracked)
	}
	m.JoinedAt, m.Node = mb.metas[i].JoinedAt, mb.metas[i].Node
	if metaEqual(&mb.metas[i], &m) {
		sh.mu.Unlock()
		return nil
	}
	mb.metas = slices.Clone(mb.metas)
	mb.metas[i] = m
	sh.emitKey(topic, key, diffUpdate, mb.metas, time.Time{})
	return nil
}

// Remove implements [Store.Remove].
func (s *MemoryStore) Remove(ctx context.Context, topic, key, connID string, at time.Time, hold bool) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	sh := s.topicShard(topic)
	sh.mu.Lock()
	mb := sh.topics[topic][key]
	i := -1
	if mb != nil && !mb.held() {
		i = indexConn(mb.metas, connID)
	}
	switch {
	case i < 0:
		sh.mu.Unlock()
		return false, nil
	case len(mb.metas) > 1:
		mb.metas = slices.Delete(slices.Clone(mb.metas), i, i+1)
		sh.emitKey(topic, key, diffUpdate, mb.metas, time.Time{})
		return false, nil
	case hold:
		mb.leftAt = at
		sh.mu.Unlock()
		return true, nil
	default:
		s.drop(sh, topic, key, at)
		sh.emitKey(topic, key, diffLeave, mb.metas, at)
		return false, nil
	}
}

// Release implements [Store.Release].
func (s *MemoryStore) Release(ctx context.Context, topic, key, connID string, leftAt time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sh := s.topicShard(topic)
	sh.mu.Lock()
	mb := sh.topics[topic][key]
	if mb == nil || !mb.held() || !mb.leftAt.Equal(leftAt) || mb.metas[0].ConnID != connID {
		sh.mu.Unlock()
		return nil
	}
	s.drop(sh, topic, key, leftAt)
	sh.emitKey(topic, key, diffLeave, mb.metas, leftAt)
	return nil
}

// drop removes key from topic; at is when its last connection left. sh.mu
// is held.
func (s *MemoryStore) drop(sh *topicShard, topic, key string, at time.Time) {
	members := sh.topics[topic]
	delete(members, key)
	if len(members) == 0 {
		delete(sh.topics, topic)
	}
	s.left(key, topic, at)
}

// joined indexes topic as a topic of key. A topicShard's mu is held.
func (s *MemoryStore) joined(key, topic string) {
	ks := s.keyShard(key)
	ks.mu.Lock()
	ts := ks.topics[key]
	if len(ts) == 0 {
		delete(ks.lastSeen, key)
	}
	ks.topics[key] = append(ts, topic)
	ks.mu.Unlock()
}

// left removes topic from the topics of key; when it was the last one, at
// becomes the key's last-seen time. A topicShard's mu is held.
func (s *MemoryStore) left(key, topic string, at time.Time) {
	ks := s.keyShard(key)
	ks.mu.Lock()
	ts := ks.topics[key]
	if i := slices.Index(ts, topic); i >= 0 {
		ts[i] = ts[len(ts)-1]
		ts = ts[:len(ts)-1]
	}
	if len(ts) > 0 {
		ks.topics[key] = ts
	} else {
		delete(ks.topics, key)
		ks.lastSeen[key] = at
		if ks.oldest.IsZero() || at.Before(ks.oldest) {
			ks.oldest = at
		}
	}
	ks.mu.Unlock()
}

// diffKind is the part of a [Diff] a key of a change goes in.
type diffKind int

const (
	diffJoin   diffKind = iota // Joins
	diffUpdate                 // Updates
	diffLeave                  // Leaves
)

// emitKey releases sh.mu and, if topic has watchers, delivers them the
// change of one key: its metas now (a join or an update), or the metas it
// had and its last-seen time at (a leave). The diff is queued, and built,
// only if there are watchers; it is delivered after sh.mu is released,
// unless another goroutine is delivering the queue. sh.mu is held.
func (sh *topicShard) emitKey(topic, key string, kind diffKind, metas []Meta, at time.Time) {
	q := sh.watchers[topic]
	if q == nil {
		sh.mu.Unlock()
		return
	}
	d := Diff{Topic: topic}
	switch kind {
	case diffJoin:
		d.Joins = map[string][]Meta{key: metas}
	case diffUpdate:
		d.Updates = map[string][]Meta{key: metas}
	case diffLeave:
		d.Leaves = map[string]Leave{key: {Metas: metas, LastSeen: at}}
	}
	q.push(d)
	sh.mu.Unlock()
	q.flush()
}

// push queues d for the current watchers. The topicShard's mu is held.
func (q *queue) push(d Diff) {
	q.mu.Lock()
	q.out = append(q.out, delivery{diff: d, to: q.ws})
	q.mu.Unlock()
}

// flush delivers the queued diffs, if no other goroutine is doing so: it
// claims the queue, delivers batches until the queue is empty, and gives the
// claim back. Diffs queued meanwhile (by watchers too) are delivered by the
// same loop, in order.
func (q *queue) flush() {
	q.mu.Lock()
	if q.draining {
		q.mu.Unlock()
		return
	}
	q.draining = true
	done := false
	defer func() {
		if !done { // a watcher panicked: free the queue for the next caller
			q.mu.Lock()
			q.draining = false
			q.mu.Unlock()
		}
	}()
	for len(q.out) > 0 {
		batch := q.out
		q.out, q.spare = q.spare, nil
		q.mu.Unlock()
		for i := range batch {
			if batch[i].sync != nil {
				batch[i].sync()
				continue
			}
			for _, w := range batch[i].to {
				if !w.canceled.Load() {
					w.fn(batch[i].diff)
				}
			}
		}
		clear(batch)
		q.mu.Lock()
		q.spare = batch[:0]
	}
	q.draining = false
	done = true
	q.mu.Unlock()
}

// Sync implements [Store.Sync]: it queues fn as a marker behind the diffs
// of topic already queued, and delivers the queue unless another goroutine
// is delivering it. If topic has no watcher, fn runs at once.
func (s *MemoryStore) Sync(ctx context.Context, topic string, fn func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sh := s.topicShard(topic)
	sh.mu.Lock()
	q := sh.watchers[topic]
	if q == nil {
		sh.mu.Unlock()
		fn()
		return nil
	}
	q.mu.Lock()
	q.out = append(q.out, delivery{sync: fn})
	q.mu.Unlock()
	sh.mu.Unlock()
	q.flush()
	return nil
}

// Get implements [Store.Get].
func (s *MemoryStore) Get(ctx context.Context, topic, key string) ([]Meta, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sh := s.topicShard(topic)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if mb := sh.topics[topic][key]; mb != nil {
		return slices.Clone(mb.metas), nil
	}
	return nil, nil
}

// List implements [Store.List].
func (s *MemoryStore) List(ctx context.Context, topic string) ([]Member, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sh := s.topicShard(topic)
	sh.mu.RLock()
	members := sh.topics[topic]
	list := make([]Member, 0, len(members))
	for key, mb := range members {
		list = append(list, Member{Key: key, Metas: slices.Clone(mb.metas)})
	}
	sh.mu.RUnlock()
	slices.SortFunc(list, func(a, b Member) int { return strings.Compare(a.Key, b.Key) })
	return list, nil
}

// Count implements [Store.Count].
func (s *MemoryStore) Count(ctx context.Context, topic string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	sh := s.topicShard(topic)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return len(sh.topics[topic]), nil
}

// Occupancy implements [Store.Occupancy]. It walks the topic's members,
// without copying them.
func (s *MemoryStore) Occupancy(ctx context.Context, topic string) (Occupancy, error) {
	if err := ctx.Err(); err != nil {
		return Occupancy{}, err
	}
	sh := s.topicShard(topic)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	members := sh.topics[topic]
	o := Occupancy{Users: len(members)}
	for _, mb := range members {
		o.Conns += len(mb.metas)
	}
	return o, nil
}

// Topics implements [Store.Topics].
func (s *MemoryStore) Topics(ctx context.Context, key string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ks := s.keyShard(key)
	ks.mu.RLock()
	ts := slices.Clone(ks.topics[key])
	ks.mu.RUnlock()
	slices.Sort(ts)
	return ts, nil
}

// LastSeen implements [Store.LastSeen].
func (s *MemoryStore) LastSeen(ctx context.Context, key string) (time.Time, bool, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, false, err
	}
	ks := s.keyShard(key)
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	if len(ks.topics[key]) > 0 {
		return time.Time{}, false, nil
	}
	t, ok := ks.lastSeen[key]
	return t, ok, nil
}

// ForgetLastSeen implements [Store.ForgetLastSeen].
func (s *MemoryStore) ForgetLastSeen(ctx context.Context, before time.Time) error {
	for i := range s.keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		ks := &s.keys[i]
		ks.mu.Lock()
		if !ks.oldest.IsZero() && ks.oldest.Before(before) {
			var oldest time.Time
			for key, t := range ks.lastSeen {
				switch {
				case t.Before(before):
					delete(ks.lastSeen, key)
				case oldest.IsZero() || t.Before(oldest):
					oldest = t
				}
			}
			ks.oldest = oldest
		}
		ks.mu.Unlock()
	}
	return nil
}

// Heartbeat implements [Store.Heartbeat].
func (s *MemoryStore) Heartbeat(ctx context.Context, node string, now time.Time, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.nodesMu.Lock()
	s.nodes[node] = heartbeat{at: now, until: now.Add(ttl)}
	expired := s.expired[node]
	delete(s.expired, node)
	s.nodesMu.Unlock()
	if expired {
		return fmt.Errorf("presence: heartbeat of %q: %w", node, ErrNodeExpired)
	}
	return nil
}

// ExpireNodes implements [Store.ExpireNodes]. It walks every topic when a
// node expired, and only then.
func (s *MemoryStore) ExpireNodes(ctx context.Context, now time.Time) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var dead map[string]time.Time // node → its last heartbeat
	s.nodesMu.Lock()
	for node, hb := range s.nodes {
		if hb.until.Before(now) {
			if dead == nil {
				dead = make(map[string]time.Time)
			}
			dead[node] = hb.at
			delete(s.nodes, node)
			s.expired[node] = true
		}
	}
	s.nodesMu.Unlock()
	if len(dead) == 0 {
		return nil, nil
	}
	for i := range s.topics {
		s.expire(&s.topics[i], dead)
	}
	names := make([]string, 0, len(dead))
	for node := range dead {
		names = append(names, node)
	}
	slices.Sort(names)
	return names, nil
}

// expire removes the metas of the dead nodes from the topics of sh.
func (s *MemoryStore) expire(sh *topicShard, dead map[string]time.Time) {
	sh.mu.Lock()
	var flush []*queue
	for topic, members := range sh.topics {
		var d Diff
		for key, mb := range members {
			if !slices.ContainsFunc(mb.metas, func(m Meta) bool { _, ok := dead[m.Node]; return ok }) {
				continue // unaffected: nothing copied
			}
			var seen time.Time // the latest heartbeat of the nodes of removed metas
			after := slices.DeleteFunc(slices.Clone(mb.metas), func(m Meta) bool {
				at, ok := dead[m.Node]
				if ok && at.After(seen) {
					seen = at
				}
				return ok
			})
			switch {
			case len(after) > 0:
				mb.metas = after
				if d.Updates == nil {
					d.Updates = make(map[string][]Meta)
				}
				d.Updates[key] = after
				continue
			case mb.held():
				seen = mb.leftAt
			}
			s.drop(sh, topic, key, seen)
			if d.Leaves == nil {
				d.Leaves = make(map[string]Leave)
			}
			d.Leaves[key] = Leave{Metas: mb.metas, LastSeen: seen}
		}
		if q := sh.watchers[topic]; q != nil && !d.empty() {
			d.Topic = topic
			q.push(d)
			flush = append(flush, q)
		}
	}
	sh.mu.Unlock()
	for _, q := range flush {
		q.flush()
	}
}

// Watch implements [Store.Watch]. It fails only if ctx is done.
func (s *MemoryStore) Watch(ctx context.Context, topic string, fn func(Diff)) (cancel func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sh := s.topicShard(topic)
	w := &watcher{fn: fn}
	sh.mu.Lock()
	q := sh.watchers[topic]
	if q == nil {
		q = &queue{}
		sh.watchers[topic] = q
	}
	q.ws = append(q.ws[:len(q.ws):len(q.ws)], w)
	sh.mu.Unlock()
	return func() {
		if w.canceled.Swap(true) {
			return
		}
		sh.mu.Lock()
		defer sh.mu.Unlock()
		if i := slices.Index(q.ws, w); i >= 0 {
			q.ws = slices.Delete(slices.Clone(q.ws), i, i+1)
		}
		if len(q.ws) == 0 && sh.watchers[topic] == q {
			delete(sh.watchers, topic) // a drainer may still finish its batch
		}
	}, nil
}
