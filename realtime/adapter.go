package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"hash/maphash"
	"slices"
	"sync"
	"time"

	"github.com/vicinity-go/vicinity/spatial"
	"github.com/vicinity-go/vicinity/transport"
)

// AdapterFactory makes the adapter of a namespace.
type AdapterFactory func(nsp *Namespace) Adapter

// BroadcastOptions select the sockets a broadcast or a server-side operation
// reaches: those in any of Rooms (every socket of the namespace when empty)
// and in none of Except. Local keeps it to this server.
type BroadcastOptions struct {
	Rooms    []string
	Except   []string
	Near     *spatial.Circle // with WithSpatial: only sockets located inside
	Volatile bool
	Local    bool
	// Latest, if set, makes each recipient's queue keep only the newest
	// packet broadcast with this key (see BroadcastOperator.EmitLatest).
	Latest string
}

// SocketInfo describes a socket for [Adapter.FetchSockets]: plain data, so
// that a cluster adapter can carry it between servers.
type SocketInfo struct {
	ID        string    `json:"id"`
	Handshake Handshake `json:"handshake"`
	Rooms     []string  `json:"rooms"`
	Data      any       `json:"data,omitempty"`
}

// Session is the state of a disconnected socket kept for
// connection-state recovery.
type Session struct {
	SID   string          `json:"sid"`
	PID   string          `json:"pid"`
	Rooms []string        `json:"rooms"`
	Data  json.RawMessage `json:"data,omitempty"`
	// State is the state of the server's features that the socket gets
	// back, by feature ("location": its privacy, watch and position).
	State map[string]json.RawMessage `json:"state,omitempty"`
}

// Packet is an encoded Socket.IO packet: its text in the default (JSON)
// format and its binary attachments; its wire form for the server's
// [Parser] is made once, on first use, so a Packet belongs to one server.
// It is immutable and shared by every recipient.
type Packet struct {
	// Offset is the recovery offset carried as the packet's last argument,
	// or "" when the packet is not kept for recovery.
	Offset string
	text   []byte
	atts   [][]byte

	once   sync.Once
	frames []transport.Packet
	err    error
}

// NewPacket rebuilds a packet from its parts, as a cluster adapter
// receives them from another server.
func NewPacket(text []byte, attachments [][]byte, offset string) *Packet {
	return &Packet{Offset: offset, text: text, atts: attachments}
}

// Text returns the packet's text, in the JSON parser's format.
func (p *Packet) Text() []byte { return p.text }

// Attachments returns the packet's binary attachments.
func (p *Packet) Attachments() [][]byte { return p.atts }

// Adapter keeps a namespace's room memberships and delivers its broadcasts.
// The in-memory [NewMemoryAdapter] serves one server; a cluster adapter
// wraps it, publishes broadcasts and server-side operations to the other
// servers, and applies theirs to its local sockets with Local set.
//
// Membership methods concern this server's sockets and must not wait on
// the network, but briefly (a cluster adapter may make sure it listens to
// a room new on this server); methods taking a context may wait for other
// servers and must honour it. The factory must not wait: it runs on the
// read loop of the connection that creates a dynamic namespace.
type Adapter interface {
	// AddAll adds socket id to rooms.
	AddAll(id string, rooms []string)
	// Del removes socket id from room.
	Del(id, room string)
	// DelAll removes socket id from every room.
	DelAll(id string)
	// SocketRooms returns the rooms socket id is in, or nil.
	SocketRooms(id string) []string
	// Broadcast delivers p to the sockets opts selects.
	Broadcast(ctx context.Context, p *Packet, opts BroadcastOptions) error
	// BroadcastWithAck delivers p, which asks for an acknowledgement with
	// id ackID, to the sockets opts selects. It calls onClients once with
	// the number of sockets reached (a cluster adapter adds up every
	// server's count first) and onAck with each answer, from any goroutine,
	// until ctx ends.
	BroadcastWithAck(ctx context.Context, p *Packet, ackID uint64, opts BroadcastOptions, onClients func(n int), onAck func(Args)) error
	// FetchSockets describes the sockets opts selects.
	FetchSockets(ctx context.Context, opts BroadcastOptions) ([]SocketInfo, error)
	// AddSockets makes the sockets opts selects join rooms.
	AddSockets(ctx context.Context, opts BroadcastOptions, rooms []string) error
	// DelSockets makes the sockets opts selects leave rooms.
	DelSockets(ctx context.Context, opts BroadcastOptions, rooms []string) error
	// DisconnectSockets disconnects the sockets opts selects, closing their
	// connections too if close is set.
	DisconnectSockets(ctx context.Context, opts BroadcastOptions, close bool) error
	// ServerSideEmit sends a server-side event, data being its name then
	// its arguments, to the other servers, which hand it to
	// [Namespace.ReceiveServerSideEmit]. With withAck it waits for each
	// one's answer, until ctx ends or the adapter's own deadline, and
	// returns the answers, with an error if some are missing.
	ServerSideEmit(ctx context.Context, data []json.RawMessage, withAck bool) ([]json.RawMessage, error)
	// PersistSession keeps the state of a socket that lost its connection,
	// for connection-state recovery. A remote store may fail: the error is
	// logged, and the client then starts afresh when it comes back.
	PersistSession(ctx context.Context, s Session) error
	// RestoreSession takes back the session pid and returns the packets
	// broadcast to it after offset ("" means: since it disconnected). It
	// returns an error wrapping [ErrNoSession] when the session or the
	// offset is unknown or expired; any other error is the store's, and
	// the client starts afresh too. The server sends the client what it
	// missed, then adds the socket to its rooms (AddAll, its own room
	// first): the adapter then delivers to it, before any later broadcast,
	// the packets that reached its rooms since RestoreSession, so that
	// nothing falls between the two.
	RestoreSession(ctx context.Context, pid, offset string) (s Session, missed []*Packet, err error)
	// Close releases the adapter's resources.
	Close(ctx context.Context) error
}

// RoomFollower is implemented by a cluster [Adapter] that gets a room's
// broadcasts from the other servers only while this server has an
// interest in the room, as [MemoryAdapter.HasRoom] reports it (cluster/redis's
// adapter does in its sharded dynamic modes). Besides its sockets' rooms,
// this server follows the rooms of an [EventStream] from
// [Namespace.EventStream] until [EventStream.Close]: the server then calls
// FollowRooms and UnfollowRooms. An adapter that gets every broadcast of
// the namespace, or asks HasRoom as each arrives, needs not implement it.
type RoomFollower interface {
	Adapter
	// FollowRooms tells the adapter that this server follows rooms, which
	// HasRoom now reports: the adapter makes sure it gets their
	// broadcasts. It must not wait on the network but briefly, as AddAll
	// (it may wait until it listens to the rooms, so that what is
	// broadcast once EventStream has returned reaches the stream).
	FollowRooms(rooms []string)
	// UnfollowRooms tells the adapter that an EventStream following rooms
	// closed: the rooms that HasRoom no longer reports (another stream or
	// a socket may still have them) need not be listened to. It must not
	// wait.
	UnfollowRooms(rooms []string)
}

// ErrNoSession is returned by [Adapter.RestoreSession] for a session or
// an offset that is unknown or expired.
var ErrNoSession = errors.New("realtime: no such recovery session")

// adapterTimeout bounds the adapter calls the server makes on its own
// (persisting and restoring sessions, closing).
const adapterTimeout = 5 * time.Second

// adapterContext returns a context for such a call.
func adapterContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), adapterTimeout)
}

const shardCount = 32

var seed = maphash.MakeSeed()

func shardOf(key string) int { return int(maphash.String(seed, key) % shardCount) }

type roomShard struct {
	mu    sync.RWMutex
	rooms map[string]map[string]*Socket
}

type sidShard struct {
	mu   sync.RWMutex
	sids map[string]*member
}

// member is a socket's membership. Its own room, named by its id, is a
// flag rather than a set of one in the room shards: the room of a socket
// id holds that socket if own is set, and the others that joined it.
type member struct {
	s     *Socket
	rooms []string // sorted, its own room aside
	own   bool     // in its own room
}

// MemoryAdapter is the in-memory [Adapter]: rooms in sharded maps, so
// joins, leaves and broadcasts in different rooms do not contend.
type MemoryAdapter struct {
	nsp   *Namespace
	rooms [shardCount]roomShard
	sids  [shardCount]sidShard
	rec   *recoveryLog // nil unless recovery is on
}

// NewMemoryAdapter returns the in-memory adapter of nsp, a *[MemoryAdapter]
// that, with [WithRecovery], keeps the sessions and packets for recovery
// in memory.
func NewMemoryAdapter(nsp *Namespace) Adapter {
	a := NewLocalAdapter(nsp)
	if d := nsp.srv.cfg.recovery; d > 0 {
		a.rec = newRecoveryLog(d)
	}
	return a
}

// NewLocalAdapter returns an in-memory adapter of nsp that keeps no
// recovery log, for a cluster adapter that keeps sessions and packets
// elsewhere and embeds it for its own sockets: its PersistSession keeps
// nothing, its RestoreSession finds nothing, and its Broadcast delivers
// packets with an offset without logging them.
func NewLocalAdapter(nsp *Namespace) *MemoryAdapter {
	a := &MemoryAdapter{nsp: nsp}
	for i := range a.rooms {
		a.rooms[i].rooms = make(map[string]map[string]*Socket)
		a.sids[i].sids = make(map[string]*member)
	}
	return a
}

// AddAll implements [Adapter]. A socket that is not connected (or no
// longer) joins nothing.
//
// Lock order: a sid shard, then a room shard. Membership changes hold their
// socket's sid shard throughout, so a join racing the socket's DelAll
// cannot leave it in a room.
func (a *MemoryAdapter) AddAll(id string, rooms []string) {
	s := a.nsp.socket(id)
	if s == nil {
		return
	}
	if a.rec != nil && a.rec.catchUp(s, rooms, func() { a.addAll(s, id, rooms) }) {
		return
	}
	a.addAll(s, id, rooms)
}

// addAll adds socket s, whose id is id, to rooms.
func (a *MemoryAdapter) addAll(s *Socket, id string, rooms []string) {
	sh := &a.sids[shardOf(id)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if !s.Connected() {
		return
	}
	m := sh.sids[id]
	if m == nil {
		m = &member{s: s}
		sh.sids[id] = m
	}
	for _, r := range rooms {
		if r == id {
			m.own = true
			continue
		}
		i, ok := slices.BinarySearch(m.rooms, r)
		if ok {
			continue
		}
		m.rooms = slices.Insert(m.rooms, i, r)
		rs := &a.rooms[shardOf(r)]
		rs.mu.Lock()
		set := rs.rooms[r]
		if set == nil {
			set = make(map[string]*Socket)
			rs.rooms[r] = set
		}
		set[id] = s
		rs.mu.Unlock()
	}
}

// Del implements [Adapter].
func (a *MemoryAdapter) Del(id, room string) {
	sh := &a.sids[shardOf(id)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	m := sh.sids[id]
	if m == nil {
		return
	}
	if room == id {
		m.own = false
		return
	}
	if i, ok := slices.BinarySearch(m.rooms, room); ok {
		m.rooms = slices.Delete(m.rooms, i, i+1)
		if len(m.rooms) == 0 {
			m.rooms = nil
		}
		a.delFromRoom(id, room)
	}
}

// delFromRoom removes id from room's set. The caller holds id's sid shard.
func (a *MemoryAdapter) delFromRoom(id, room string) {
	rs := &a.rooms[shardOf(room)]
	rs.mu.Lock()
	if set := rs.rooms[room]; set != nil {
		delete(set, id)
		if len(set) == 0 {
			delete(rs.rooms, room)
		}
	}
	rs.mu.Unlock()
}

// DelAll implements [Adapter].
func (a *MemoryAdapter) DelAll(id string) {
	sh := &a.sids[shardOf(id)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	m := sh.sids[id]
	if m == nil {
		return
	}
	delete(sh.sids, id)
	for _, r := range m.rooms {
		a.delFromRoom(id, r)
	}
}

// SocketRooms implements [Adapter].
func (a *MemoryAdapter) SocketRooms(id string) []string {
	sh := &a.sids[shardOf(id)]
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	m := sh.sids[id]
	if m == nil {
		return nil
	}
	if !m.own {
		return slices.Clone(m.rooms)
	}
	i, _ := slices.BinarySearch(m.rooms, id)
	out := make([]string, 0, len(m.rooms)+1)
	out = append(out, m.rooms[:i]...)
	out = append(out, id)
	return append(out, m.rooms[i:]...)
}

// HasRoom reports whether any socket of this server is in room (a
// socket's own room included), or an [EventStream] of this server follows
// it.
func (a *MemoryAdapter) HasRoom(room string) bool {
	if a.owner(room) != nil || a.nsp.srv.streams.follows(a.nsp, room) {
		return true
	}
	rs := &a.rooms[shardOf(room)]
	rs.mu.RLock()
	defer rs.mu.RUnlock()
	return len(rs.rooms[room]) > 0
}

// Rooms returns the rooms this server's sockets are in, their own rooms
// included, as Node's adapter.rooms lists them.
func (a *MemoryAdapter) Rooms() []string {
	var out []string
	for i := range a.rooms {
		rs := &a.rooms[i]
		rs.mu.RLock()
		for r := range rs.rooms {
			out = append(out, r)
		}
		rs.mu.RUnlock()
	}
	for i := range a.sids {
		sh := &a.sids[i]
		sh.mu.RLock()
		for id, m := range sh.sids {
			if m.own {
				out = append(out, id)
			}
		}
		sh.mu.RUnlock()
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// owner returns the socket whose own room is room: the socket with that id,
// if it is in its own room; nil otherwise.
func (a *MemoryAdapter) owner(room string) *Socket {
	sh := &a.sids[shardOf(room)]
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if m := sh.sids[room]; m != nil && m.own {
		return m.s
	}
	return nil
}

// Broadcast implements [Adapter]: p is pushed, as is, to every selected
// socket's send queue. It never waits for a client. With recovery on, the
// packet is logged and pushed under the log's lock, so that the log's order
// is the order every client receives.
func (a *MemoryAdapter) Broadcast(_ context.Context, p *Packet, opts BroadcastOptions) error {
	frames, err := p.wire(a.nsp.srv.cfg.parser)
	if err != nil {
		return err
	}
	a.nsp.srv.streams.deliver(a.nsp, p, opts) // the EventStreams of the rooms
	push := func() { a.each(opts, func(s *Socket) { s.client.send(opts.Volatile, frames) }) }
	if opts.Latest != "" {
		key := latestKey(a.nsp.name, opts.Latest)
		a.each(opts, func(s *Socket) { s.client.sendLatest(key, frames[0]) })
		return nil
	}
	if a.rec != nil && p.Offset != "" {
		a.rec.add(p, opts, push)
		return nil
	}
	push()
	return nil
}

// BroadcastWithAck implements [Adapter].
func (a *MemoryAdapter) BroadcastWithAck(ctx context.Context, p *Packet, ackID uint64, opts BroadcastOptions, onClients func(int), onAck func(Args)) error {
	frames, err := p.wire(a.nsp.srv.cfg.parser)
	if err != nil {
		return err
	}
	var reached []*Socket
	a.each(opts, func(s *Socket) {
		if s.expectAck(ackID, onAck) {
			reached = append(reached, s)
		}
	})
	onClients(len(reached))
	for _, s := range reached {
		s.client.send(opts.Volatile, frames)
	}
	context.AfterFunc(ctx, func() {
		for _, s := range reached {
			s.forgetAck(ackID)
		}
	})
	return nil
}

// each calls fn for every local socket opts selects, without holding a lock.
func (a *MemoryAdapter) each(opts BroadcastOptions, fn func(*Socket)) {
	var except map[string]struct{}
	if len(opts.Except) > 0 {
		except = make(map[string]struct{})
		for _, r := range opts.Except {
			rs := &a.rooms[shardOf(r)]
			rs.mu.RLock()
			for id := range rs.rooms[r] {
				except[id] = struct{}{}
			}
			rs.mu.RUnlock()
			if s := a.owner(r); s != nil {
				except[s.id] = struct{}{}
			}
		}
	}
	var targets []*Socket
	if opts.Near != nil {
		for _, s := range a.near(opts.Near) {
			if _, skip := except[s.id]; !skip && (len(opts.Rooms) == 0 || a.inAny(s.id, opts.Rooms)) {
				targets = append(targets, s)
			}
		}
	} else if len(opts.Rooms) == 0 {
		for i := range a.sids {
			sh := &a.sids[i]
			sh.mu.RLock()
			targets = slices.Grow(targets, len(sh.sids))
			for id, m := range sh.sids {
				if _, skip := except[id]; !skip {
					targets = append(targets, m.s)
				}
			}
			sh.mu.RUnlock()
		}
	} else {
		var seen map[string]struct{}
		if len(opts.Rooms) > 1 {
			seen = make(map[string]struct{})
		}
		for _, r := range opts.Rooms {
			rs := &a.rooms[shardOf(r)]
			rs.mu.RLock()
			targets = slices.Grow(targets, len(rs.rooms[r]))
			for id, s := range rs.rooms[r] {
				if _, skip := except[id]; skip {
					continue
				}
				if seen != nil {
					if _, dup := seen[id]; dup {
						continue
					}
					seen[id] = struct{}{}
				}
				targets = append(targets, s)
			}
			rs.mu.RUnlock()
			// the socket whose own room r is, not in r's set (see member)
			if s := a.owner(r); s != nil {
				if _, skip := except[s.id]; skip {
					continue
				}
				if seen != nil {
					if _, dup := seen[s.id]; dup {
						continue
					}
					seen[s.id] = struct{}{}
				}
				targets = append(targets, s)
			}
		}
	}
	for _, s := range targets {
		fn(s)
	}
}

// inAny reports whether socket id is in any of rooms.
func (a *MemoryAdapter) inAny(id string, rooms []string) bool {
	sh := &a.sids[shardOf(id)]
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	m := sh.sids[id]
	if m == nil {
		return false
	}
	for _, r := range rooms {
		if r == id && m.own {
			return true
		}
		if _, ok := slices.BinarySearch(m.rooms, r); ok {
			return true
		}
	}
	return false
}

// FetchSockets implements [Adapter].
func (a *MemoryAdapter) FetchSockets(_ context.Context, opts BroadcastOptions) ([]SocketInfo, error) {
	var out []SocketInfo
	a.each(opts, func(s *Socket) { out = append(out, s.info()) })
	return out, nil
}

// AddSockets implements [Adapter].
func (a *MemoryAdapter) AddSockets(_ context.Context, opts BroadcastOptions, rooms []string) error {
	a.each(opts, func(s *Socket) { s.join(rooms...) })
	return nil
}

// DelSockets implements [Adapter].
func (a *MemoryAdapter) DelSockets(_ context.Context, opts BroadcastOptions, rooms []string) error {
	a.each(opts, func(s *Socket) {
		for _, r := range rooms {
			s.Leave(r)
		}
	})
	return nil
}

// DisconnectSockets implements [Adapter].
func (a *MemoryAdapter) DisconnectSockets(_ context.Context, opts BroadcastOptions, close bool) error {
	a.each(opts, func(s *Socket) { s.Disconnect(close) })
	return nil
}

// ServerSideEmit implements [Adapter]: there is no other server to reach.
func (a *MemoryAdapter) ServerSideEmit(context.Context, []json.RawMessage, bool) ([]json.RawMessage, error) {
	return nil, nil
}

// PersistSession implements [Adapter].
func (a *MemoryAdapter) PersistSession(_ context.Context, s Session) error {
	if a.rec != nil {
		a.rec.persist(s)
	}
	return nil
}

// RestoreSession implements [Adapter].
func (a *MemoryAdapter) RestoreSession(_ context.Context, pid, offset string) (Session, []*Packet, error) {
	if a.rec == nil {
		return Session{}, nil, ErrNoSession
	}
	sess, missed, ok := a.rec.restore(pid, offset)
	if !ok {
		return Session{}, nil, ErrNoSession
	}
	return sess, missed, nil
}

// Close implements [Adapter].
func (a *MemoryAdapter) Close(context.Context) error {
	if a.rec != nil {
		a.rec.close()
	}
	return nil
}

// maxRecoveryPackets bounds a namespace's recovery log: past it the oldest
// packets are dropped, and clients whose offset they held start afresh.
const maxRecoveryPackets = 1 << 16

// recoveryLog keeps recent broadcasts and disconnected sessions for
// connection-state recovery, each for at most ttl. Packets are pruned from
// the head as new ones arrive; sessions by a sweep every ttl.
type recoveryLog struct {
	ttl      time.Duration
	mu       sync.Mutex
	packets  []logged
	sessions map[string]persisted
	// restoring holds, by socket id, the recovered sockets not yet in
	// their rooms.
	restoring map[string]restoring
	sweeper   *time.Timer
	closed    bool
}

type logged struct {
	p    *Packet
	opts BroadcastOptions
	at   time.Time
}

type persisted struct {
	s  Session
	at time.Time
}

// restoring is a recovered socket not yet in its rooms: the offset of the
// last packet restored to it, and when.
type restoring struct {
	offset string
	at     time.Time
}

func newRecoveryLog(ttl time.Duration) *recoveryLog {
	l := &recoveryLog{ttl: ttl, sessions: make(map[string]persisted), restoring: make(map[string]restoring)}
	l.sweeper = time.AfterFunc(ttl, l.sweep)
	return l
}

func (l *recoveryLog) sweep() {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	for pid, ps := range l.sessions {
		if now.Sub(ps.at) > l.ttl {
			delete(l.sessions, pid)
		}
	}
	for id, r := range l.restoring { // a restored socket that never joined
		if now.Sub(r.at) > l.ttl {
			delete(l.restoring, id)
		}
	}
	l.prunePackets(now)
	l.sweeper.Reset(l.ttl)
}

func (l *recoveryLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.sweeper.Stop()
	l.packets, l.sessions, l.restoring = nil, nil, nil
}

// add logs p and runs push, which delivers it, under the log's lock.
func (l *recoveryLog) add(p *Packet, opts BroadcastOptions, push func()) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.prunePackets(now)
		if len(l.packets) >= maxRecoveryPackets {
			l.dropPackets(len(l.packets) - maxRecoveryPackets + 1)
		}
		l.packets = append(l.packets, logged{p: p, opts: opts, at: now})
	}
	push()
}

// prunePackets drops the packets older than ttl. The caller holds mu.
func (l *recoveryLog) prunePackets(now time.Time) {
	n := 0
	for n < len(l.packets) && now.Sub(l.packets[n].at) > l.ttl {
		n++
	}
	l.dropPackets(n)
}

func (l *recoveryLog) dropPackets(n int) {
	if n > 0 {
		clear(l.packets[:n])
		l.packets = l.packets[n:]
	}
}

func (l *recoveryLog) persist(s Session) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.sessions[s.PID] = persisted{s: s, at: time.Now()}
	}
}

// restore takes session pid back with the packets that reach it after the
// one with the given offset. As with the Node.js server, an unknown offset
// (or none: the client received nothing) fails: nothing proves which packets
// the client missed.
func (l *recoveryLog) restore(pid, offset string) (Session, []*Packet, bool) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	ps, ok := l.sessions[pid]
	if !ok || offset == "" {
		return Session{}, nil, false
	}
	delete(l.sessions, pid)
	if now.Sub(ps.at) > l.ttl {
		return Session{}, nil, false
	}
	start := -1
	for i, lp := range l.packets {
		if lp.p.Offset == offset {
			start = i + 1
			break
		}
	}
	if start < 0 {
		return Session{}, nil, false
	}
	rooms := make(map[string]struct{}, len(ps.s.Rooms))
	for _, r := range ps.s.Rooms {
		rooms[r] = struct{}{}
	}
	var missed []*Packet
	for _, lp := range l.packets[start:] {
		if reaches(lp.opts, rooms) {
			missed = append(missed, lp.p)
		}
	}
	last := offset
	if n := len(l.packets); n > 0 {
		last = l.packets[n-1].p.Offset
	}
	l.restoring[ps.s.SID] = restoring{offset: last, at: now}
	return ps.s, missed, true
}

// catchUp adds restored socket s to rooms with join and, under the log's
// lock (so no broadcast comes between), sends it the packets that reached
// rooms since it was restored. It reports false, doing nothing, for a
// socket that is not being restored.
func (l *recoveryLog) catchUp(s *Socket, rooms []string, join func()) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.restoring[s.id]
	if !ok {
		return false
	}
	delete(l.restoring, s.id)
	join()
	in := make(map[string]struct{}, len(rooms))
	for _, room := range rooms {
		in[room] = struct{}{}
	}
	start := len(l.packets)
	for i, lp := range l.packets {
		if lp.p.Offset == r.offset {
			start = i + 1
			break
		}
	}
	for _, lp := range l.packets[start:] {
		if reaches(lp.opts, in) {
			if frames, err := lp.p.wire(s.nsp.srv.cfg.parser); err == nil {
				s.client.send(false, frames)
			}
		}
	}
	return true
}

// reaches reports whether a broadcast with opts reaches a socket in rooms.
func reaches(opts BroadcastOptions, rooms map[string]struct{}) bool {
	if opts.Near != nil {
		return false // where the socket was then is not known: not replayed
	}
	for _, r := range opts.Except {
		if _, ok := rooms[r]; ok {
			return false
		}
	}
	if len(opts.Rooms) == 0 {
		return true
	}
	for _, r := range opts.Rooms {
		if _, ok := rooms[r]; ok {
			return true
		}
	}
	return false
}
