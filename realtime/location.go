package realtime

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vicinity-go/vicinity/internal/sio"
	"github.com/vicinity-go/vicinity/spatial"
	"github.com/vicinity-go/vicinity/transport"
)

// locator is the location feature of a server made with WithSpatial. Each
// namespace has a space of its own, with its own index: watches, Nearby,
// Near and area rooms see only the sockets of their namespace.
type locator struct {
	srv     *Server
	cfg     *spatialConfig
	appOpts []spatial.Option // the application's, the last of cfg.opts

	mu     sync.Mutex
	areas  map[string]spatial.Fence // by name; every space has them
	spaces map[*Namespace]*space
	users  map[string]*budget // the limits of each user, by key
	closed bool
}

func newLocator(srv *Server, cfg *spatialConfig) *locator {
	// One secret for every namespace's index (a zone shows one center);
	// the application's spatial.WithSecret, later in the options, wins.
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	// What a socket sees through others' symmetric watches is bounded as
	// its own watch is: walking into a crowd of them never floods it.
	app := slices.Clone(cfg.opts)
	cfg.opts = append([]spatial.Option{spatial.WithSecret(key), spatial.WithSymmetricLimit(cfg.limits.MaxWatch)}, cfg.opts...)
	return &locator{srv: srv, cfg: cfg, appOpts: app, areas: make(map[string]spatial.Fence), spaces: make(map[*Namespace]*space), users: make(map[string]*budget)}
}

// space is the location state of one namespace: its index and its located
// sockets.
type space struct {
	loc *locator
	nsp *Namespace
	idx *spatial.Index[string]

	mu    sync.RWMutex
	socks map[string]*located // by socket id

	// move caches the last nearby:move packet built, on the index's
	// delivering goroutine: a move's events come together.
	move struct {
		member string
		key    string // moveKey of member
		pos    spatial.Position
		frame  transport.Packet
	}
	moveMu sync.Mutex

	// shared is the space's part in a cluster that shares location; nil
	// unless its adapter is a LocationAdapter.
	shared *sharing
	// noSecret: the cluster's secret of privacy zones could not be had,
	// and zones hide their sockets here (see effective).
	noSecret bool
}

// effective is the privacy the index applies for pv: pv, unless the
// cluster's secret of zones is missing, when every zone hides.
func (sp *space) effective(pv spatial.Privacy) spatial.Privacy {
	if !sp.noSecret || len(pv.Zones) == 0 {
		return pv
	}
	zones := slices.Clone(pv.Zones)
	for i := range zones {
		zones[i].Hide = true
	}
	pv.Zones = zones
	return pv
}

// located is the location state of one socket: made on its first use of
// location (or when it is recovered), dropped when it disconnects.
type located struct {
	s    *Socket
	sp   *space
	user *budget

	// mu serializes the socket's location changes, and guards the fields
	// below; before the index's.
	mu      sync.Mutex
	gone    bool // disconnected: changes are refused
	privacy spatial.Privacy
	watch   *watchSpec // kept while the socket has no location
	last    spatial.Point
	lastAt  time.Time         // of the last accepted update; zero for none
	pending *spatial.Position // a recovered location, placed on connect

	// In a cluster that shares location: the cells this socket makes the
	// server interested in, sorted, and what it last shared (nil: nothing,
	// or that it left).
	cells      []spatial.Cell
	sharedLast *SharedLocation

	// quiet is whether the socket, hidden (by its flag or a zone), is kept
	// out of the presence of its area rooms.
	quiet atomic.Bool
}

// budget is the rate limits of one user (the presence identity, or the
// socket when there is none), shared by its sockets, and the privacy its
// sockets last set. A user with a presence identity is remembered for
// userMemory after its last socket went, so that reconnecting resets
// neither its rates nor its privacy.
type budget struct {
	key   string
	refs  int         // sockets holding it; under locator.mu
	timer *time.Timer // forgets the user when it has had no socket for userMemory; under locator.mu

	mu      sync.Mutex
	updates tokenBucket
	queries tokenBucket
	privacy *spatial.Privacy // the last set by a socket of the user; nil for none
}

// userMemory is how long a user with a presence identity is remembered
// after its last socket went: a new connection within it starts with the
// privacy (hidden, zones…) and the rates the user had.
const userMemory = 2 * time.Minute

// watchSpec is a socket's watch, to start it again when the socket gets a
// location back, or on another connection after recovery.
type watchSpec struct {
	Radius float64 `json:"radius"`
	spatial.WatchSettings
}

// locationState is what a recovered socket gets back: its privacy, its
// watch and its location.
type locationState struct {
	Privacy  spatial.Privacy   `json:"privacy"`
	Watch    *watchSpec        `json:"watch,omitempty"`
	Position *spatial.Position `json:"position,omitempty"`
}

// stateKey is the location feature's key in a Session's State.
const stateKey = "location"

// space returns the space of n, made on first use; nil once the server is
// closed or n dropped.
func (l *locator) space(n *Namespace) *space {
	l.mu.Lock()
	if sp := l.spaces[n]; sp != nil || l.closed || n.isDropped() {
		l.mu.Unlock()
		return sp
	}
	l.mu.Unlock()
	// In a cluster that shares location, zones show the same center on
	// every server: the cluster's secret, which may take a round trip.
	opts := slices.Clip(l.cfg.opts)
	noSecret := false
	if la, ok := n.adapter.(LocationAdapter); ok {
		if key := la.Secret(); len(key) >= 16 { // spatial.WithSecret's least
			opts = append(append(opts[:len(opts)-len(l.appOpts):len(opts)-len(l.appOpts)], spatial.WithSecret(key)), l.appOpts...)
		} else {
			// Fail closed: a zone shown at another center on each
			// server would give its real center away.
			noSecret = true
			l.srv.cfg.logger.Error("location: no secret (of 16 bytes or more) shared by the cluster: privacy zones hide their sockets on this server", "nsp", n.name)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if sp := l.spaces[n]; sp != nil || l.closed || n.isDropped() {
		return sp
	}
	sp := &space{loc: l, nsp: n, socks: make(map[string]*located), noSecret: noSecret}
	sp.idx = spatial.New[string](append(opts, spatial.WithEvents(sp.onEvent))...)
	sp.share()
	for name, f := range l.areas {
		_ = sp.idx.AddFence(name, f) // checked when added
	}
	l.spaces[n] = sp
	return sp
}

// located returns s's location state; with create, made if s has none. It
// returns ErrNotConnected for a socket that is not connected (when
// creating) or whose state is gone.
func (l *locator) located(s *Socket, create bool) (*located, error) {
	sp := l.space(s.nsp)
	if sp == nil {
		return nil, ErrServerClosed
	}
	sp.mu.RLock()
	st := sp.socks[s.id]
	sp.mu.RUnlock()
	if st != nil && st.s == s {
		return st, nil
	}
	if !create {
		return nil, nil
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if st = sp.socks[s.id]; st != nil && st.s == s {
		return st, nil
	}
	// The disconnect marks the socket not connected before it drops the
	// state under sp.mu: a state made after that would never be dropped.
	if !s.Connected() {
		return nil, ErrNotConnected
	}
	st = &located{s: s, sp: sp, user: l.hold(s)}
	st.user.mu.Lock()
	if pv := st.user.privacy; pv != nil { // the user's, from another socket
		st.privacy = *pv
	}
	st.user.mu.Unlock()
	sp.socks[s.id] = st
	return st, nil
}

// hold returns the budget of s's user, counting s in.
func (l *locator) hold(s *Socket) *budget {
	key := "\x00" + s.id // a socket alone
	if k := s.PresenceKey(); k != "" {
		key = userKey(s.nsp, k) // namespaces are tenants: a user of each
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.users[key]
	if b == nil {
		b = &budget{key: key}
		l.users[key] = b
	}
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	b.refs++
	return b
}

// release counts a socket out of b. A user with a presence identity is
// forgotten userMemory after its last socket went; a socket alone at once.
func (l *locator) release(b *budget) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b.refs--; b.refs > 0 {
		return
	}
	if strings.HasPrefix(b.key, "\x00") || l.closed {
		delete(l.users, b.key)
		return
	}
	b.timer = time.AfterFunc(userMemory, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if b.refs == 0 && l.users[b.key] == b {
			delete(l.users, b.key)
		}
	})
}

// remembered returns the privacy s's user last set, if it is remembered.
func (l *locator) remembered(s *Socket) *spatial.Privacy {
	key := s.PresenceKey()
	if key == "" {
		return nil
	}
	l.mu.Lock()
	b := l.users[userKey(s.nsp, key)]
	l.mu.Unlock()
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.privacy
}

// userKey is the key of the user of presence key k in namespace n.
func userKey(n *Namespace, k string) string { return n.name + "\x00" + k }

// remember keeps pv as the privacy of the user of b.
func (b *budget) remember(pv spatial.Privacy) {
	b.mu.Lock()
	b.privacy = &pv
	b.mu.Unlock()
}

// allowUpdate and allowQuery take a token of the user's location update
// and query rates.
func (b *budget) allowUpdate(lim *LocationLimits) bool {
	return b.allow(&b.updates, lim.UpdateRate, lim.UpdateBurst)
}

func (b *budget) allowQuery(lim *LocationLimits) bool {
	return b.allow(&b.queries, lim.QueryRate, lim.QueryBurst)
}

// allow takes a token of one of b's buckets.
func (b *budget) allow(bucket *tokenBucket, rate float64, burst int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bucket.allow(time.Now(), rate, burst)
}

// admit implements feature: a recovered socket gets its state back, or,
// when its session has none that can be read, is hidden (fail closed).
func (l *locator) admit(s *Socket, restored *Session) error {
	if restored == nil {
		return nil
	}
	var st locationState
	raw, ok := restored.State[stateKey]
	if !ok || json.Unmarshal(raw, &st) != nil || st.Privacy.Validate() != nil {
		st = locationState{Privacy: spatial.Privacy{Hidden: true}}
		s.logger().Warn("location state not restored: the socket is hidden")
	}
	sp := l.space(s.nsp)
	if sp == nil {
		return ErrServerClosed
	}
	loc := &located{s: s, sp: sp, user: l.hold(s), privacy: st.Privacy, watch: st.Watch, pending: st.Position}
	if loc.pending != nil && loc.pending.Validate() != nil {
		loc.pending = nil
	}
	sp.mu.Lock()
	sp.socks[s.id] = loc
	sp.mu.Unlock()
	return nil
}

// refused implements feature.
func (l *locator) refused(s *Socket) {
	if st, _ := l.located(s, false); st != nil {
		st.sp.forget(st)
	}
}

// forget drops st from its space and releases its budget.
func (sp *space) forget(st *located) {
	sp.mu.Lock()
	if sp.socks[st.s.id] == st {
		delete(sp.socks, st.s.id)
	}
	sp.mu.Unlock()
	sp.loc.release(st.user)
}

// connected implements feature: a recovered socket is placed where it was,
// with its privacy, and watches again, before its handlers run and before
// anyone is told about it.
func (l *locator) connected(s *Socket) {
	st, _ := l.located(s, false)
	if st == nil && l.remembered(s) != nil {
		// A user that set its privacy has it from its first moment.
		st, _ = l.located(s, true)
	}
	if st != nil {
		st.mu.Lock()
		if s.recovered {
			// What the client saw before it dropped is stale, and the
			// leaves of its disconnect never reached it: it starts again
			// from nothing, then hears of those it sees now.
			b, at := s.eventHead(NearbyState, 16)
			_ = s.emitBuilt(NearbyState, append(b, `{"members":[]}`...), at)
		}
		if pos := st.pending; pos != nil {
			st.pending = nil
			st.place(*pos)
		}
		st.mu.Unlock()
	}
	if l.cfg.event != "" {
		s.On(l.cfg.event, l.onLocation)
	}
}

// joined and left implement feature: area rooms are the index's to decide.
func (l *locator) joined(*Socket, string) {}
func (l *locator) left(*Socket, string)   {}

// disconnected implements feature: the socket leaves the index at once
// (those who saw it get nearby:leave, "disconnected"), and a session kept
// for recovery keeps its privacy, watch and location, but not its area
// rooms, which its location decides again.
func (l *locator) disconnected(s *Socket, _ string, sess *Session) {
	st, _ := l.located(s, false)
	if st != nil {
		obs := l.srv.cfg.observers
		st.mu.Lock()
		if sess != nil {
			l.persist(st, sess)
		}
		st.gone = true
		if st.sp.idx.Remove(s.id) {
			for _, o := range obs {
				o.Unlocated(s)
			}
		}
		st.share(LeaveDisconnected)
		if st.watch != nil {
			for _, o := range obs {
				o.WatchEnded(s)
			}
		}
		st.mu.Unlock()
		st.sp.forget(st)
	} else if sess != nil {
		l.persist(nil, sess)
	}
}

// persisting implements feature.
func (l *locator) persisting(s *Socket, sess *Session) {
	st, _ := l.located(s, false)
	if st != nil {
		st.mu.Lock()
		defer st.mu.Unlock()
	}
	l.persist(st, sess)
}

// persist writes the location state of st (nil: none) into sess and drops
// its area rooms; the caller holds st.mu. The position kept is the one
// others are shown (a coarsened member's cell, a zone's center), never the
// exact one: a session may be kept outside this server (in Redis), and a
// recovered socket shows what it showed.
func (l *locator) persist(st *located, sess *Session) {
	var state locationState
	if st != nil {
		if pos, ok := st.sp.idx.Placed(st.s.id); ok {
			state.Position = &pos
		}
		state.Privacy, state.Watch = st.privacy, st.watch
	}
	if b, err := json.Marshal(state); err == nil {
		if sess.State == nil {
			sess.State = make(map[string]json.RawMessage)
		}
		sess.State[stateKey] = b
	}
	l.mu.Lock()
	sess.Rooms = slices.DeleteFunc(sess.Rooms, func(r string) bool {
		name, ok := strings.CutPrefix(r, areaPrefix)
		_, area := l.areas[name]
		return ok && area
	})
	l.mu.Unlock()
}

// dropped implements feature: a dropped namespace's index goes.
func (l *locator) dropped(n *Namespace) {
	l.mu.Lock()
	sp := l.spaces[n]
	delete(l.spaces, n)
	l.mu.Unlock()
	if sp != nil {
		sp.stopSharing()
		_ = sp.idx.Close()
	}
}

// close implements feature.
func (l *locator) close() {
	l.mu.Lock()
	l.closed = true
	for _, b := range l.users {
		if b.timer != nil {
			b.timer.Stop()
		}
	}
	spaces := l.spaces
	l.spaces = nil
	l.mu.Unlock()
	for _, sp := range spaces {
		sp.stopSharing()
		_ = sp.idx.Close()
	}
}

// quietIn reports whether s is kept out of the presence of room: an area
// room, while s is hidden.
func (l *locator) quietIn(s *Socket, room string) bool {
	if !strings.HasPrefix(room, areaPrefix) {
		return false
	}
	// The index's flag, not st.quiet: the area events of a placement are
	// delivered before hush runs, and a socket placed hidden (or stepping
	// into a zone that hides it) must never be tracked in them.
	st, _ := l.located(s, false)
	return st != nil && st.sp.idx.Hidden(s.id)
}

// place puts the socket in the index at pos with its privacy, starts its
// watch if it had none in the index, and follows what others may see of
// it now. st.mu is held.
func (st *located) place(pos spatial.Position) error {
	s, idx := st.s, st.sp.idx
	// A replica of it (a socket recovered here from another server, which
	// did not say it went) becomes this socket, with its own watch.
	replica := idx.Replica(s.id)
	added, err := idx.Place(s.id, pos, st.sp.effective(st.privacy))
	if err != nil {
		return err
	}
	st.last, st.lastAt = pos.Point, time.Now()
	if (added || replica) && st.watch != nil { // new to the index: the watch resumes
		_ = idx.Watch(s.id, st.watch.Radius, st.watch.Option())
	}
	for _, o := range s.nsp.srv.cfg.observers {
		o.Located(s, added)
	}
	st.hush()
	st.share("")
	return nil
}

// hush keeps the socket's area rooms' presence in step with whether it is
// hidden: a hidden socket is published in none. st.mu is held.
func (st *located) hush() {
	s := st.s
	quiet := st.sp.idx.Hidden(s.id)
	if st.quiet.Swap(quiet) == quiet {
		return
	}
	h := s.nsp.srv.presence
	if h == nil {
		return
	}
	// Rooms joined from now on see the flag; those joined before are
	// done here.
	// On the socket's inbox, as its joins: the store may be remote, and
	// st.mu is held.
	s.inbox.enqueue(func() {
		for _, r := range s.Rooms() {
			if !strings.HasPrefix(r, areaPrefix) {
				continue
			}
			if quiet {
				h.untrack(s, r, true) // it still sees the area's presence
			} else if s.Connected() {
				h.track(s, r)
			}
		}
	})
}

// onEvent turns the index's events into client events and area rooms. It
// runs on the goroutine delivering the index's events, one at a time and
// in order, so that each client gets, about each member, enter, move…,
// leave, in that order.
func (sp *space) onEvent(ev spatial.Event[string]) {
	srv := sp.nsp.srv
	defer func() {
		if v := recover(); v != nil {
			srv.cfg.logger.Error("spatial event handler panicked", "panic", fmt.Sprint(v))
		}
	}()
	switch ev.Kind {
	case spatial.State:
		if w := sp.socket(ev.Watcher); w != nil {
			for _, h := range ev.Members { // the state is newer
				w.client.conn.DropLatest(moveKey(sp.nsp.name, h.ID))
			}
			b, at := w.eventHead(NearbyState, len(ev.Members)*(32+nearbySize)+16)
			b = append(b, `{"members":[`...)
			for i, h := range ev.Members {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendNearby(b, h.ID, h.Position, h.Distance)
			}
			if w.emitBuilt(NearbyState, append(b, "]}"...), at) == nil {
				srv.spatialEvents(NearbyState, 1)
			}
		}
	case spatial.Enter:
		if w := sp.socket(ev.Watcher); w != nil {
			b, at := w.eventHead(NearbyEnter, len(ev.Member)+nearbySize)
			b = appendNearby(b, ev.Member, ev.Position, ev.Distance)
			if w.emitBuilt(NearbyEnter, b, at) == nil {
				srv.spatialEvents(NearbyEnter, 1)
			}
		}
	case spatial.Move:
		if w := sp.socket(ev.Watcher); w != nil && w.Connected() {
			key, frame := sp.movePacket(w, ev)
			w.client.sendLatest(key, frame)
			srv.spatialEvents(NearbyMove, 1)
		}
	case spatial.Leave:
		if w := sp.socket(ev.Watcher); w != nil {
			// A move of the member still queued would come after its leave.
			w.client.conn.DropLatest(moveKey(sp.nsp.name, ev.Member))
			b, at := w.eventHead(NearbyLeave, len(ev.Member)+40)
			b = sio.AppendString(append(b, `{"id":`...), ev.Member)
			b = sio.AppendString(append(b, `,"reason":`...), sp.leaveReason(ev))
			if w.emitBuilt(NearbyLeave, append(b, '}'), at) == nil {
				srv.spatialEvents(NearbyLeave, 1)
			}
		}
	case spatial.Expired:
		// Its position was too old: the other servers are told, on its
		// inbox (a caller of the index may hold st.mu while delivering).
		if m := sp.socket(ev.Member); m != nil && sp.shared != nil {
			if st, _ := sp.loc.located(m, false); st != nil {
				m.inbox.enqueue(func() {
					st.mu.Lock()
					defer st.mu.Unlock()
					if !st.gone {
						st.share("")
					}
				})
			}
		}
	case spatial.FenceEnter, spatial.FenceLeave:
		m := sp.socket(ev.Member)
		if m == nil {
			return
		}
		room, name := AreaRoom(ev.Fence), AreaEnter
		if ev.Kind == spatial.FenceEnter {
			m.join(room)
			if !m.Connected() { // it left all its rooms meanwhile
				m.Leave(room)
				return
			}
		} else {
			m.Leave(room)
			name = AreaLeave
		}
		if m.Connected() {
			err := m.Emit(name, struct {
				Area string `json:"area"`
				Room string `json:"room"`
			}{ev.Fence, room})
			if err == nil {
				srv.spatialEvents(name, 1)
			}
		}
	}
}

// socket returns the located socket id of the space, or nil.
func (sp *space) socket(id string) *Socket {
	sp.mu.RLock()
	defer sp.mu.RUnlock()
	if st := sp.socks[id]; st != nil {
		return st.s
	}
	return nil
}

// moveKey is the SendLatest key of member's moves in namespace nsp: one a
// client's own EmitLatest cannot use.
func moveKey(nsp, member string) string { return latestKey(nsp, "\x00move:"+member) }

// movePacket returns the nearby:move packet of ev for w, and its
// SendLatest key: those built for the previous watcher when the move is the
// same (the events of one move come together), else new ones.
func (sp *space) movePacket(w *Socket, ev spatial.Event[string]) (string, transport.Packet) {
	sp.moveMu.Lock()
	defer sp.moveMu.Unlock()
	m := &sp.move
	if m.member == ev.Member && m.pos == ev.Position && m.frame.Data != nil {
		return m.key, m.frame
	}
	payload := appendNearby(make([]byte, 0, len(ev.Member)+nearbySize), ev.Member, ev.Position, -1)
	b, _ := w.eventHead(NearbyMove, len(payload)+1)
	frames, err := sp.nsp.srv.cfg.parser.frames(append(append(b, payload...), ']'), nil)
	if err != nil || len(frames) != 1 {
		return "", transport.Packet{} // numbers the index wrote: not reached
	}
	if m.member != ev.Member {
		m.key = moveKey(sp.nsp.name, ev.Member)
	}
	m.member, m.pos, m.frame = ev.Member, ev.Position, frames[0]
	return m.key, m.frame
}

// leaveReason says why the Leave ev happened, as one of the Leave…
// constants.
func (sp *space) leaveReason(ev spatial.Event[string]) string {
	switch ev.Cause {
	case spatial.CauseHidden:
		return LeaveHidden
	case spatial.CauseRemoved:
		m := sp.socket(ev.Member)
		switch {
		case m == nil:
			return sp.goneReason(ev.Member) // another server's
		case !m.Connected():
			return LeaveDisconnected
		}
		return LeaveUnlocated
	case spatial.CauseUnwatched:
		return LeaveUnwatched
	case spatial.CauseWatcherHidden, spatial.CauseWatcherRemoved:
		return LeaveSelf
	default:
		return LeaveFar
	}
}

// spatialEvents tells the observers about n spatial events sent.
func (s *Server) spatialEvents(event string, n int) {
	for _, o := range s.cfg.observers {
		o.SpatialEvents(event, n)
	}
}
