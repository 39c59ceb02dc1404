package redis

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/vicinity-go/vicinity/internal/id"
	"github.com/vicinity-go/vicinity/presence"
)

// PresenceStore is a [presence.Store] in Redis: trackers on many servers
// that share one see the same members, metas, diffs and last-seen times.
// Make one per server with [NewPresenceStore], give it to the tracker with
// [presence.WithStore] (each tracker its own [presence.WithNode], or the
// random default), and Close it after the tracker.
//
// Every change to a topic is made by one Lua script, which numbers it and
// publishes it on the topic's channel (K-presence#topic): so every server
// delivers a topic's diffs in one order, the order Redis applied them. A
// server listens only to the topics its trackers subscribe to, and keeps a
// copy of their members: when it misses changes (its subscription
// connection broke, Redis restarted), it reads the topic again once it is
// back and delivers the difference as one diff, so no member stays in a
// room's presence after leaving it. A leave it learns of so has the time
// it learned of it as LastSeen.
//
// Nodes: each tracker heartbeats (every 3 s by default, alive for 10 s;
// [presence.WithHeartbeat]) and expires the nodes whose heartbeat ended:
// the members of a server that was killed leave everywhere within the TTL
// plus an interval (13 s by default), their LastSeen its last heartbeat.
// A server that could not reach Redis for longer than its TTL was expired
// meanwhile: its next heartbeat says so, and the tracker's
// [presence.Tracker.OnExpired] functions track its connections again
// (realtime does); a Redis that restarted empty is noticed the same way.
//
// Its keys share one hash tag ({K-presence}), so that one script can
// change a topic, its counts, the user's topics and the node's members at
// once: on a Redis Cluster, presence lives on one shard. Presence changes
// come with connections, joins and status changes, not with messages.
//
// Methods take the caller's context for their Redis commands; Watch waits
// for its subscription and for the topic's first read. Diffs are delivered
// on one goroutine of the store, in order, never while a lock of the store
// is held.
type PresenceStore struct {
	client     rueidis.Client
	log        *slog.Logger
	prefix     string // P: "{K-presence}:"
	chanPrefix string // a topic's channel is chanPrefix+topic
	routeKey   []string
	sub        *subscriber

	mu     sync.Mutex
	topics map[string]*watched // by topic
	known  map[string]bool     // nodes this store heartbeated
	closed bool

	qmu  sync.Mutex
	q    []storeJob
	wake chan struct{}
	stop chan struct{}
	done chan struct{}
}

var _ presence.Store = (*PresenceStore)(nil)

// NewPresenceStore returns a presence store on client. Of the options,
// [WithKey] names its keys and channels ("{K-presence}:…" and
// "K-presence#topic"; default K "socket.io") and [WithLogger] where it
// logs; the others are the adapter's. It holds one connection of client
// in the subscribed state, and a goroutine that delivers diffs, until
// Close.
func NewPresenceStore(client rueidis.Client, opts ...Option) *PresenceStore {
	cfg := defaults()
	for _, o := range opts {
		o(&cfg)
	}
	prefix := "{" + cfg.key + "-presence}:"
	s := &PresenceStore{
		client:     client,
		log:        cfg.logger,
		prefix:     prefix,
		chanPrefix: cfg.key + "-presence#",
		routeKey:   []string{prefix + "clock"},
		topics:     make(map[string]*watched),
		known:      make(map[string]bool),
		wake:       make(chan struct{}, 1),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	s.sub = newSubscriber(client, cfg.logger)
	s.sub.onUp = s.resubscribed
	go s.run()
	return s
}

// Close stops the store: its subscription and its delivery goroutine. The
// trackers using it must be closed first. It is idempotent.
func (s *PresenceStore) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.sub.close()
	close(s.stop)
	<-s.done
	return nil
}

// ErrStoreClosed is returned by a [PresenceStore]'s methods after Close.
var ErrStoreClosed = errors.New("redis presence: store closed")

// exec runs a script, again once if it failed on a broken connection.
// The connection may have broken after the script ran, before its answer
// came: every script may run twice, and answers the second time as the
// first (see presence_lua.go).
func (s *PresenceStore) exec(ctx context.Context, script *rueidis.Lua, args ...string) rueidis.RedisResult {
	args = append([]string{s.prefix}, args...)
	res := script.Exec(ctx, s.client, s.routeKey, args)
	if connError(res.Error()) {
		res = script.Exec(ctx, s.client, s.routeKey, args)
	}
	return res
}

// storeErr wraps err, from Redis, for op.
func storeErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case connError(err):
		return fmt.Errorf("redis presence: %s: %w", op, errUnavailable(err))
	case strings.Contains(err.Error(), "VICINITY_NODE_EXPIRED"):
		return fmt.Errorf("redis presence: %s: %w", op, presence.ErrNodeExpired)
	case strings.Contains(err.Error(), "VICINITY_NOT_TRACKED"):
		return fmt.Errorf("redis presence: %s: %w", op, presence.ErrNotTracked)
	}
	return fmt.Errorf("redis presence: %s: %w", op, err)
}

func nanos(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 10) }

func millis(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// Put implements [presence.Store.Put].
func (s *PresenceStore) Put(ctx context.Context, topic, key string, m presence.Meta) error {
	err := s.exec(ctx, luaPut, s.chanPrefix, topic, key, m.ConnID, m.Node, nanos(m.JoinedAt), encodeMetaBlob(m)).Error()
	return storeErr("put", err)
}

// Update implements [presence.Store.Update].
func (s *PresenceStore) Update(ctx context.Context, topic, key string, m presence.Meta) error {
	err := s.exec(ctx, luaUpdate, s.chanPrefix, topic, key, m.ConnID, encodeMetaBlob(m)).Error()
	return storeErr("update", err)
}

// Remove implements [presence.Store.Remove].
func (s *PresenceStore) Remove(ctx context.Context, topic, key, connID string, at time.Time, hold bool) (bool, error) {
	h := "0"
	if hold {
		h = "1"
	}
	n, err := s.exec(ctx, luaRemove, s.chanPrefix, topic, key, connID, nanos(at), h).AsInt64()
	return n == 1, storeErr("remove", err)
}

// Release implements [presence.Store.Release].
func (s *PresenceStore) Release(ctx context.Context, topic, key, connID string, leftAt time.Time) error {
	return storeErr("release", s.exec(ctx, luaRelease, s.chanPrefix, topic, key, connID, nanos(leftAt)).Error())
}

// do runs one command, again once if it failed on a broken connection.
func (s *PresenceStore) do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	return doRetry(ctx, s.client, cmd)
}

// Get implements [presence.Store.Get].
func (s *PresenceStore) Get(ctx context.Context, topic, key string) ([]presence.Meta, error) {
	b, err := s.do(ctx, s.client.B().Hget().Key(s.prefix+"t:"+topic).Field(key).Build()).AsBytes()
	if rueidis.IsRedisNil(err) {
		return nil, nil
	}
	if err != nil {
		return nil, storeErr("get", err)
	}
	metas, _, err := decodeMember(b)
	return metas, storeErr("get", err)
}

// List implements [presence.Store.List].
func (s *PresenceStore) List(ctx context.Context, topic string) ([]presence.Member, error) {
	m, err := s.do(ctx, s.client.B().Hgetall().Key(s.prefix+"t:"+topic).Build()).AsStrMap()
	if err != nil {
		return nil, storeErr("list", err)
	}
	list := make([]presence.Member, 0, len(m))
	for key, raw := range m {
		metas, _, err := decodeMember([]byte(raw))
		if err != nil {
			return nil, storeErr("list", err)
		}
		list = append(list, presence.Member{Key: key, Metas: metas})
	}
	slices.SortFunc(list, func(a, b presence.Member) int { return strings.Compare(a.Key, b.Key) })
	return list, nil
}

// Count implements [presence.Store.Count].
func (s *PresenceStore) Count(ctx context.Context, topic string) (int, error) {
	n, err := s.do(ctx, s.client.B().Hlen().Key(s.prefix+"t:"+topic).Build()).AsInt64()
	return int(n), storeErr("count", err)
}

// Occupancy implements [presence.Store.Occupancy]: two reads, in one
// round trip.
func (s *PresenceStore) Occupancy(ctx context.Context, topic string) (presence.Occupancy, error) {
	res := s.client.DoMulti(ctx,
		s.client.B().Hlen().Key(s.prefix+"t:"+topic).Build(),
		s.client.B().Hget().Key(s.prefix+"conns").Field(topic).Build())
	users, err := res[0].AsInt64()
	if err != nil {
		return presence.Occupancy{}, storeErr("occupancy", err)
	}
	conns, err := res[1].AsInt64()
	if err != nil && !rueidis.IsRedisNil(err) {
		return presence.Occupancy{}, storeErr("occupancy", err)
	}
	return presence.Occupancy{Users: int(users), Conns: int(conns)}, nil
}

// Topics implements [presence.Store.Topics].
func (s *PresenceStore) Topics(ctx context.Context, key string) ([]string, error) {
	ts, err := s.do(ctx, s.client.B().Smembers().Key(s.prefix+"k:"+key).Build()).AsStrSlice()
	if err != nil {
		return nil, storeErr("topics", err)
	}
	slices.Sort(ts)
	return ts, nil
}

// LastSeen implements [presence.Store.LastSeen].
func (s *PresenceStore) LastSeen(ctx context.Context, key string) (time.Time, bool, error) {
	res := s.client.DoMulti(ctx,
		s.client.B().Exists().Key(s.prefix+"k:"+key).Build(),
		s.client.B().Hget().Key(s.prefix+"seen").Field(key).Build())
	present, err := res[0].AsInt64()
	if err != nil {
		return time.Time{}, false, storeErr("last seen", err)
	}
	at, err := res[1].ToString()
	if rueidis.IsRedisNil(err) || present > 0 {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, storeErr("last seen", err)
	}
	t, err := parseNanos(at)
	return t, err == nil, storeErr("last seen", err)
}

// ForgetLastSeen implements [presence.Store.ForgetLastSeen].
func (s *PresenceStore) ForgetLastSeen(ctx context.Context, before time.Time) error {
	for {
		n, err := s.exec(ctx, luaForget, millis(before)).AsInt64()
		if err != nil || n < 1000 {
			return storeErr("forget last seen", err)
		}
	}
}

// Heartbeat implements [presence.Store.Heartbeat]. A node this store
// heartbeated before that Redis no longer knows (it restarted empty) is
// told [presence.ErrNodeExpired] too: its metas are gone. A node expired
// whose members are still being removed (the server that expired it died
// midway, or has not finished) has them removed first, here: the members
// it tracks again once told are then never taken with the old ones.
func (s *PresenceStore) Heartbeat(ctx context.Context, node string, now time.Time, ttl time.Duration) error {
	s.mu.Lock()
	known := "0"
	if s.known[node] {
		known = "1"
	}
	s.mu.Unlock()
	args := []string{node, millis(now.Add(ttl)), nanos(now), known}
	n, err := s.exec(ctx, luaHeartbeat, args...).AsInt64()
	if err == nil && n == beatReaping {
		if err = s.reap(ctx, node); err == nil {
			n, err = s.exec(ctx, luaHeartbeat, args...).AsInt64()
			n = max(n, 1) // its members were removed, whatever it answers
		}
	}
	if err != nil {
		return storeErr("heartbeat", err)
	}
	s.mu.Lock()
	s.known[node] = true
	s.mu.Unlock()
	if n != 0 {
		return fmt.Errorf("redis presence: heartbeat of %q: %w", node, presence.ErrNodeExpired)
	}
	return nil
}

// beatReaping is luaHeartbeat's answer for a node whose members are still
// being removed.
const beatReaping = 3

// ExpireNodes implements [presence.Store.ExpireNodes]: one script claims
// the nodes whose heartbeat ended, so each is expired once; their members
// are then removed 256 at a time, by whichever server gets there (one
// that died midway leaves the rest to the next, or to the node itself
// when it heartbeats again).
func (s *PresenceStore) ExpireNodes(ctx context.Context, now time.Time) ([]string, error) {
	dead, err := s.exec(ctx, luaExpire, millis(now), id.New()).AsStrSlice()
	if err != nil {
		return nil, storeErr("expire nodes", err)
	}
	reaping, err := s.do(ctx, s.client.B().Smembers().Key(s.prefix+"dead").Build()).AsStrSlice()
	if err != nil {
		return dead, storeErr("expire nodes", err)
	}
	for _, node := range reaping {
		if err := s.reap(ctx, node); err != nil {
			return dead, storeErr("expire nodes", err)
		}
	}
	slices.Sort(dead)
	return dead, nil
}

// reap removes the members of node, an expired node, until none is left
// (or it is no longer being reaped: another server finished).
func (s *PresenceStore) reap(ctx context.Context, node string) error {
	for {
		left, err := s.exec(ctx, luaReap, s.chanPrefix, node).AsInt64()
		if err != nil || left == 0 {
			return err
		}
	}
}

// encodeMetaBlob encodes what a meta holds besides its connection, node
// and join time: status and device, each after its length as a uvarint,
// then fields.
func encodeMetaBlob(m presence.Meta) string {
	b := make([]byte, 0, 4+len(m.Status)+len(m.Device)+len(m.Fields))
	b = binary.AppendUvarint(b, uint64(len(m.Status)))
	b = append(b, m.Status...)
	b = binary.AppendUvarint(b, uint64(len(m.Device)))
	b = append(b, m.Device...)
	b = append(b, m.Fields...)
	return string(b)
}

// errBadRecord reports presence data in Redis that this store did not
// write.
var errBadRecord = errors.New("redis presence: malformed record")

// decodeMetaBlob decodes encodeMetaBlob's output into m.
func decodeMetaBlob(b string, m *presence.Meta) error {
	str := func() (string, bool) {
		n, k := binary.Uvarint([]byte(b[:min(len(b), binary.MaxVarintLen64)]))
		if k <= 0 || n > uint64(len(b)-k) {
			return "", false
		}
		v := b[k : k+int(n)]
		b = b[k+int(n):]
		return v, true
	}
	var ok1, ok2 bool
	m.Status, ok1 = str()
	m.Device, ok2 = str()
	if !ok1 || !ok2 {
		return errBadRecord
	}
	if len(b) > 0 {
		m.Fields = []byte(b)
	}
	return nil
}

func parseNanos(s string) (time.Time, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, errBadRecord
	}
	return time.Unix(0, n), nil
}

// decodeMember decodes a stored member: its metas, and when it is held
// since.
func decodeMember(b []byte) ([]presence.Meta, time.Time, error) {
	v, rest, err := readMsgpack(b, 0)
	if err != nil || len(rest) > 0 {
		return nil, time.Time{}, errBadRecord
	}
	return memberOf(v)
}

// memberOf is decodeMember for a decoded value.
func memberOf(v any) ([]presence.Meta, time.Time, error) {
	arr, ok := v.([]any)
	if !ok || len(arr) < 5 || (len(arr)-1)%4 != 0 {
		return nil, time.Time{}, errBadRecord
	}
	strs := make([]string, len(arr))
	for i, x := range arr {
		if strs[i], ok = x.(string); !ok {
			return nil, time.Time{}, errBadRecord
		}
	}
	var held time.Time
	if strs[0] != "" {
		t, err := parseNanos(strs[0])
		if err != nil {
			return nil, time.Time{}, err
		}
		held = t
	}
	metas := make([]presence.Meta, 0, (len(strs)-1)/4)
	for i := 1; i < len(strs); i += 4 {
		m := presence.Meta{ConnID: strs[i], Node: strs[i+1]}
		t, err := parseNanos(strs[i+2])
		if err != nil {
			return nil, time.Time{}, err
		}
		m.JoinedAt = t
		if err := decodeMetaBlob(strs[i+3], &m); err != nil {
			return nil, time.Time{}, err
		}
		metas = append(metas, m)
	}
	return metas, held, nil
}

// Watching: each topic watched on this server is subscribed to once, and
// has a copy of its members, kept by the delivery goroutine.

// watched is a topic this server watches.
type watched struct {
	topic   string
	channel string
	ready   chan struct{} // closed once subscribed and first read (or failed: err)
	err     error
	ws      []*storeWatcher // copied on write, under the store's mu

	// owned by the delivery goroutine
	synced bool
	stale  bool // changes were missed: read again at the next chance
	// seq is the number of the last change applied, or, after a read of
	// the topic empty, of the last change of any topic: every change up
	// to seq is in mirror.
	seq     int64
	mirror  map[string][]presence.Meta
	pending []topicChange // received before the first read was applied
}

type storeWatcher struct {
	fn       func(presence.Diff)
	canceled atomic.Bool
}

// topicChange is a message of a topic's channel: its number, the number
// of the topic's change before it (0 if the topic was empty), and its
// changes.
type topicChange struct {
	seq     int64
	prev    int64
	changes []change
}

type change struct {
	kind  byte // 'j', 'u', 'l'
	key   string
	at    time.Time
	metas []presence.Meta
}

// storeJob is a job of the delivery goroutine: exactly one field is set.
type storeJob struct {
	t      *watched
	msg    []byte    // a message of t's channel
	first  *snapshot // t's first read
	resync bool      // read t again
	sync   func()    // a Sync marker
}

type snapshot struct {
	seq     int64
	members map[string][]presence.Meta
}

// post queues j for the delivery goroutine.
func (s *PresenceStore) post(j storeJob) {
	s.qmu.Lock()
	s.q = append(s.q, j)
	s.qmu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run is the delivery goroutine.
func (s *PresenceStore) run() {
	defer close(s.done)
	var batch []storeJob
	for {
		select {
		case <-s.wake:
		case <-s.stop:
			return
		}
		for {
			s.qmu.Lock()
			batch, s.q = s.q, batch[:0]
			s.qmu.Unlock()
			if len(batch) == 0 {
				break
			}
			for i := range batch {
				s.handle(&batch[i])
				batch[i] = storeJob{}
			}
		}
	}
}

// handle runs one job on the delivery goroutine.
func (s *PresenceStore) handle(j *storeJob) {
	t := j.t
	if j.sync != nil {
		j.sync()
		return
	}
	s.mu.Lock()
	gone := s.topics[t.topic] != t // no longer watched
	s.mu.Unlock()
	switch {
	case gone:
	case j.first != nil:
		t.mirror, t.seq, t.synced = j.first.members, j.first.seq, true
		pending := t.pending
		t.pending = nil
		for _, c := range pending {
			s.apply(t, c)
		}
	case j.resync:
		if t.synced {
			s.resync(t)
		}
	case j.msg != nil:
		c, err := decodeTopicChange(j.msg)
		if err != nil {
			s.log.Warn("redis presence: message dropped", "topic", t.topic, "err", err)
			t.stale = true
			return
		}
		if !t.synced {
			t.pending = append(t.pending, c)
			return
		}
		s.apply(t, c)
	}
}

// apply delivers c, a change of t, unless t has it already: when c
// follows the last change t applied (or t is empty and c follows none:
// any changes missed in between left the topic empty too). Otherwise
// changes were missed: t is read again, which shows c.
func (s *PresenceStore) apply(t *watched, c topicChange) {
	if c.seq <= t.seq {
		return
	}
	follows := c.prev == t.seq || (c.prev == 0 && len(t.mirror) == 0)
	if !follows || t.stale {
		s.resync(t)
		if c.seq <= t.seq {
			return
		}
		// not read (Redis unreachable): c is the best news there is
	}
	t.seq = c.seq
	var d presence.Diff
	for _, ch := range c.changes {
		_, had := t.mirror[ch.key]
		switch {
		case ch.kind == 'l' && had:
			delete(t.mirror, ch.key)
			setLeave(&d, ch.key, presence.Leave{Metas: ch.metas, LastSeen: ch.at})
		case ch.kind == 'l':
		case had:
			t.mirror[ch.key] = ch.metas
			setMetas(&d.Updates, ch.key, ch.metas)
		default:
			t.mirror[ch.key] = ch.metas
			setMetas(&d.Joins, ch.key, ch.metas)
		}
	}
	s.deliver(t, d)
}

func setMetas(m *map[string][]presence.Meta, key string, metas []presence.Meta) {
	if *m == nil {
		*m = make(map[string][]presence.Meta)
	}
	(*m)[key] = metas
}

func setLeave(d *presence.Diff, key string, l presence.Leave) {
	if d.Leaves == nil {
		d.Leaves = make(map[string]presence.Leave)
	}
	d.Leaves[key] = l
}

// resync reads t again and delivers the difference from what its
// watchers were told. A read that fails leaves t stale, to be read at
// the next change or reconnection.
func (s *PresenceStore) resync(t *watched) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	snap, err := s.snapshot(ctx, t.topic)
	if err != nil {
		t.stale = true
		s.log.Warn("redis presence: topic not read again", "topic", t.topic, "err", err)
		return
	}
	t.stale = false
	now := time.Now()
	var d presence.Diff
	for key, metas := range t.mirror {
		if _, ok := snap.members[key]; !ok {
			setLeave(&d, key, presence.Leave{Metas: metas, LastSeen: now})
		}
	}
	for key, metas := range snap.members {
		old, ok := t.mirror[key]
		switch {
		case !ok:
			setMetas(&d.Joins, key, metas)
		case !slices.EqualFunc(old, metas, metaEqual):
			setMetas(&d.Updates, key, metas)
		}
	}
	t.mirror, t.seq = snap.members, snap.seq // lower when Redis lost its data
	d.Topic = t.topic
	s.deliver(t, d)
}

func metaEqual(a, b presence.Meta) bool {
	return a.ConnID == b.ConnID && a.Status == b.Status && a.Device == b.Device && a.Node == b.Node &&
		a.JoinedAt.Equal(b.JoinedAt) && string(a.Fields) == string(b.Fields)
}

// deliver gives d to t's watchers, unless it changes nothing.
func (s *PresenceStore) deliver(t *watched, d presence.Diff) {
	if len(d.Joins) == 0 && len(d.Updates) == 0 && len(d.Leaves) == 0 {
		return
	}
	d.Topic = t.topic
	s.mu.Lock()
	ws := t.ws
	s.mu.Unlock()
	for _, w := range ws {
		if !w.canceled.Load() {
			w.fn(d)
		}
	}
}

// snapshot reads a topic's members and last change number, as one (for
// an empty topic, the last change number of every topic: see
// luaSnapshot).
func (s *PresenceStore) snapshot(ctx context.Context, topic string) (snapshot, error) {
	arr, err := s.exec(ctx, luaSnapshot, topic).ToArray()
	if err != nil {
		return snapshot{}, storeErr("read", err)
	}
	if len(arr) != 2 {
		return snapshot{}, errBadRecord
	}
	seqStr, err := arr[0].ToString()
	if err != nil {
		return snapshot{}, storeErr("read", err)
	}
	seq, err := strconv.ParseInt(seqStr, 10, 64)
	if err != nil {
		return snapshot{}, errBadRecord
	}
	m, err := arr[1].AsStrMap()
	if err != nil {
		return snapshot{}, storeErr("read", err)
	}
	snap := snapshot{seq: seq, members: make(map[string][]presence.Meta, len(m))}
	for key, raw := range m {
		metas, _, err := decodeMember([]byte(raw))
		if err != nil {
			return snapshot{}, err
		}
		snap.members[key] = metas
	}
	return snap, nil
}

// decodeTopicChange decodes a message of a topic's channel.
func decodeTopicChange(b []byte) (topicChange, error) {
	v, rest, err := readMsgpack(b, 0)
	if err != nil || len(rest) > 0 {
		return topicChange{}, errBadRecord
	}
	arr, ok := v.([]any)
	if !ok || len(arr) != 3 {
		return topicChange{}, errBadRecord
	}
	seqStr, ok1 := arr[0].(string)
	prevStr, ok2 := arr[1].(string)
	list, ok3 := arr[2].([]any)
	if !ok1 || !ok2 || !ok3 {
		return topicChange{}, errBadRecord
	}
	seq, err1 := strconv.ParseInt(seqStr, 10, 64)
	prev, err2 := strconv.ParseInt(prevStr, 10, 64)
	if err1 != nil || err2 != nil || seq <= 0 || prev < 0 || prev >= seq {
		return topicChange{}, errBadRecord
	}
	c := topicChange{seq: seq, prev: prev, changes: make([]change, 0, len(list))}
	for _, x := range list {
		f, ok := x.([]any)
		if !ok || len(f) != 4 {
			return topicChange{}, errBadRecord
		}
		kind, ok1 := f[0].(string)
		key, ok2 := f[1].(string)
		at, ok3 := f[2].(string)
		if !ok1 || !ok2 || !ok3 || len(kind) != 1 || !strings.Contains("jul", kind) {
			return topicChange{}, errBadRecord
		}
		ch := change{kind: kind[0], key: key}
		if kind == "l" {
			if ch.at, err = parseNanos(at); err != nil {
				return topicChange{}, err
			}
		}
		if ch.metas, _, err = memberOf(f[3]); err != nil {
			return topicChange{}, err
		}
		c.changes = append(c.changes, ch)
	}
	return c, nil
}

// onMessage receives a message of a watched topic's channel, on the
// subscriber's worker.
func (s *PresenceStore) onMessage(channel string, msg []byte) {
	topic := strings.TrimPrefix(channel, s.chanPrefix)
	s.mu.Lock()
	t := s.topics[topic]
	s.mu.Unlock()
	if t != nil {
		s.post(storeJob{t: t, msg: msg})
	}
}

// resubscribed reads every watched topic again after the subscription
// connection came back: changes may have been missed.
func (s *PresenceStore) resubscribed() {
	s.mu.Lock()
	ts := slices.Collect(maps.Values(s.topics))
	s.mu.Unlock()
	for _, t := range ts {
		s.post(storeJob{t: t, resync: true})
	}
}

// Watch implements [presence.Store.Watch]: the first watcher of a topic on
// this server subscribes to its channel and reads its members, and every
// watcher waits for that. It fails with an error wrapping
// [ErrUnavailable] when Redis cannot be reached.
func (s *PresenceStore) Watch(ctx context.Context, topic string, fn func(presence.Diff)) (func(), error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrStoreClosed
	}
	t := s.topics[topic]
	first := t == nil
	if first {
		t = &watched{topic: topic, channel: s.chanPrefix + topic, ready: make(chan struct{})}
		s.topics[topic] = t
	}
	w := &storeWatcher{fn: fn}
	t.ws = append(slices.Clip(t.ws), w)
	s.mu.Unlock()
	if first {
		t.err = s.start(ctx, t)
		close(t.ready)
	} else {
		select {
		case <-t.ready:
		case <-ctx.Done():
			s.unwatch(t, w)
			return nil, ctx.Err()
		}
	}
	if t.err != nil {
		s.unwatch(t, w)
		if first {
			s.sub.remove(t, subKey{channelSub, t.channel})
		}
		return nil, t.err
	}
	return func() { s.unwatch(t, w) }, nil
}

// start subscribes to t's channel and reads it for the first time. t is
// the subscription's owner: a topic unwatched and watched again at once
// has two, and the first's removal keeps the second's.
func (s *PresenceStore) start(ctx context.Context, t *watched) error {
	if !s.sub.ready(ctx) {
		return fmt.Errorf("redis presence: watch %q: %w", t.topic, ErrUnavailable)
	}
	if err := s.sub.add(t, s.onMessage, subKey{channelSub, t.channel}); err != nil || !s.sub.up.Load() {
		return fmt.Errorf("redis presence: watch %q: %w", t.topic, errUnavailable(cmpErr(err)))
	}
	snap, err := s.snapshot(ctx, t.topic)
	if err != nil {
		return fmt.Errorf("redis presence: watch %q: %w", t.topic, err)
	}
	s.post(storeJob{t: t, first: &snap})
	return nil
}

// cmpErr returns err, or one saying the connection is down.
func cmpErr(err error) error {
	if err == nil {
		return errors.New("subscription connection down")
	}
	return err
}

// unwatch removes w from t's watchers; the last one unsubscribes.
func (s *PresenceStore) unwatch(t *watched, w *storeWatcher) {
	if w.canceled.Swap(true) {
		return
	}
	s.mu.Lock()
	if i := slices.Index(t.ws, w); i >= 0 {
		t.ws = slices.Delete(slices.Clone(t.ws), i, i+1)
	}
	last := len(t.ws) == 0 && s.topics[t.topic] == t
	if last {
		delete(s.topics, t.topic)
	}
	closed := s.closed
	s.mu.Unlock()
	if last && !closed {
		s.sub.remove(t, subKey{channelSub, t.channel})
	}
}

// Sync implements [presence.Store.Sync]: fn is queued behind the changes
// of topic received so far. It never fails.
func (s *PresenceStore) Sync(ctx context.Context, topic string, fn func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	t := s.topics[topic]
	closed := s.closed
	s.mu.Unlock()
	if t == nil || closed {
		fn()
		return nil
	}
	s.post(storeJob{t: t, sync: fn})
	return nil
}
