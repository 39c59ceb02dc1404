package spatial

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// ErrNotFound reports an operation on a member that is not in the index.
var ErrNotFound = errors.New("spatial: no such member")

// EventKind says what an [Event] reports.
type EventKind uint8

const (
	// Enter: Member came within Watcher's radius.
	Enter EventKind = iota + 1
	// Leave: Member went beyond Watcher's radius plus margin, hid, was
	// removed, or the watch ended; the event's Cause says which.
	Leave
	// FenceEnter: Member came inside the fence named Fence, or the fence
	// was added around it.
	FenceEnter
	// FenceLeave: Member left the fence named Fence, was removed, or the
	// fence was removed.
	FenceLeave
	// Move: Member, which Watcher sees and still does, is shown at a new
	// position (or with a new accuracy). For each watcher and member the
	// events come as Enter, Move…, Leave, Enter, …: never a Move outside
	// an Enter…Leave span.
	Move
	// State: Watcher started a watch (it had none); Members are all it
	// sees now, nearest first: those of its watch and the owners of
	// symmetric watches that hold it. It stands for the Enter events of
	// the watch's start, and is the whole of Watcher's view: what it saw
	// before and is not listed, it no longer sees.
	State
	// Expired: Member was removed by [Index.Expire], its position too old
	// (see [WithMaxAge]); it comes after the Leave and FenceLeave events
	// of the removal. Watcher is zero.
	Expired
)

// String returns "enter", "leave", "fence enter", "fence leave", "move",
// "state" or "expired".
func (k EventKind) String() string {
	switch k {
	case Enter:
		return "enter"
	case Leave:
		return "leave"
	case FenceEnter:
		return "fence enter"
	case FenceLeave:
		return "fence leave"
	case Move:
		return "move"
	case State:
		return "state"
	case Expired:
		return "expired"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Cause says why a [Leave] happened: what ended Watcher's view of Member.
type Cause uint8

const (
	// CauseFar: the two are no longer within range. One of them moved, a
	// watch was made smaller, or a dwell ran out.
	CauseFar Cause = iota + 1
	// CauseHidden: Member hid ([Index.SetHidden], [Index.Place]).
	CauseHidden
	// CauseRemoved: Member was removed ([Index.Remove], expiry).
	CauseRemoved
	// CauseUnwatched: the watch that showed Member ended
	// ([Index.Unwatch]), or Member's watch stopped being symmetric.
	CauseUnwatched
	// CauseWatcherHidden: Watcher hid, so it no longer sees the owners of
	// symmetric watches that held it. A member that hides and moves in one
	// [Index.Place] gets CauseFar for the members its own watch lost.
	CauseWatcherHidden
	// CauseWatcherRemoved: Watcher was removed; its view ended.
	CauseWatcherRemoved
)

// String returns "far", "hidden", "removed", "unwatched", "watcher hidden"
// or "watcher removed".
func (c Cause) String() string {
	switch c {
	case CauseFar:
		return "far"
	case CauseHidden:
		return "hidden"
	case CauseRemoved:
		return "removed"
	case CauseUnwatched:
		return "unwatched"
	case CauseWatcherHidden:
		return "watcher hidden"
	case CauseWatcherRemoved:
		return "watcher removed"
	}
	return fmt.Sprintf("Cause(%d)", uint8(c))
}

// Event is a change that an [Index] reports to the handler set with
// [WithEvents].
type Event[K comparable] struct {
	Kind    EventKind
	Cause   Cause  // why a Leave happened; zero for the other kinds
	Watcher K      // the member whose watch changed; zero for fence events
	Member  K      // the member that entered or left
	Fence   string // the fence's name, for FenceEnter and FenceLeave
	// Position is Member's position as shown (see [Privacy]) when the
	// event happened, for Enter, Move and Leave (for a removal its last
	// one, for hiding where it was last seen): fit to send to Watcher. An
	// Enter carries it so that the application can announce the member
	// even if it hides or goes before the event is handled; the Leave that
	// follows says so.
	Position Position
	// Distance is the great-circle distance in meters between where
	// Watcher and Member are shown when the event happened; for a Leave
	// caused by removing Member, the distance at its last position. It is
	// zero for fence events.
	Distance float64
	// Members are those a new watch holds, for State.
	Members []Hit[K]
}

// Expand returns the events ev stands for: for a [State], an [Enter] of
// each member, nearest first (those Watcher saw already included);
// otherwise ev itself.
func (ev Event[K]) Expand() []Event[K] {
	if ev.Kind != State {
		return []Event[K]{ev}
	}
	out := make([]Event[K], len(ev.Members))
	for i, h := range ev.Members {
		out[i] = Event[K]{Kind: Enter, Watcher: ev.Watcher, Member: h.ID, Position: h.Position, Distance: h.Distance}
	}
	return out
}

// WithEvents sets the function that receives the index's events ([Enter],
// [Move], [Leave], [State], [FenceEnter], [FenceLeave], [Expired]). The default is none:
// watches are still kept (see
// [Index.Watching]) but nothing is reported. K must be the index's key
// type; New panics if it is not, or if fn is nil.
//
// Events are collected while the index is locked and delivered after it is
// unlocked, one at a time and in the order the changes happened, across all
// goroutines. The goroutine whose call produced them delivers them before
// that call returns, unless another goroutine is delivering at the time: then
// that one delivers them too, after its own, and the call returns at once.
// fn may call the index (a Set from fn queues its events behind the current
// ones) but must not block for long: it delays every later event. A panic
// in fn propagates to the caller and the events still queued are dropped.
func WithEvents[K comparable](fn func(Event[K])) Option {
	return func(c *config) {
		if fn == nil {
			panic("spatial: WithEvents: nil handler")
		}
		c.events = fn
	}
}

// WatchOption configures one watch; see [Index.Watch].
type WatchOption func(*WatchSettings)

// WatchSettings are the settings of a watch that its options make: see
// [WithMargin], [WithDwell], [WithSymmetric] and [WithCapacity]. They can be
// kept (they encode to JSON) and given back with [WatchSettings.Option].
type WatchSettings struct {
	Margin    float64       `json:"margin,omitempty"`
	Dwell     time.Duration `json:"dwell,omitempty"`
	Symmetric bool          `json:"symmetric,omitempty"`
	Capacity  int           `json:"capacity,omitempty"`
}

// Settings returns the settings opts make.
func Settings(opts ...WatchOption) WatchSettings {
	var s WatchSettings
	for _, o := range opts {
		o(&s)
	}
	return s
}

// Option returns the option that sets all of s.
func (s WatchSettings) Option() WatchOption {
	return func(c *WatchSettings) { *c = s }
}

// WithMargin sets the hysteresis of a watch, in meters: a member enters at
// the radius but leaves only beyond radius+m, so members on the boundary do
// not flap. The default is zero. It must be finite and not negative.
func WithMargin(m float64) WatchOption {
	return func(c *WatchSettings) { c.Margin = m }
}

// WithDwell delays leaving: a member that goes beyond the radius plus the
// margin leaves only once it has stayed beyond for d, so a position that
// jumps out and back (a GPS glitch, a tunnel) produces no Leave and Enter.
// Coming back within radius plus margin before d is up cancels the leave.
// The dwell is measured on the clock: a timer delivers the Leave events that
// fall due ([Index.Close] stops it), and [Index.Expire] delivers those due
// by the time it is given. The default is zero, leaving at once; d must
// not be negative.
func WithDwell(d time.Duration) WatchOption {
	return func(c *WatchSettings) { c.Dwell = d }
}

// WithSymmetric makes the watch mutual: every member inside the watch also
// sees the watcher, as if it watched the watcher back, whether or not it
// has a watch of its own. A member sees another once, however many watches
// say so: it gets one [Enter] when the first of them holds the other and
// one [Leave] when the last lets go. A hidden watcher is not seen through
// its symmetric watch (see [Index.SetHidden]).
func WithSymmetric() WatchOption {
	return func(c *WatchSettings) { c.Symmetric = true }
}

// WithCapacity bounds the members a watch holds to n, so that a watch in
// a crowd costs its owner no more than n members: the watch starts with
// the n nearest, and a member within the radius enters only while the
// watch holds fewer than n, when it moves or the owner does (those
// already inside stay until they leave). Zero, the default, is no bound; n
// must not be negative.
func WithCapacity(n int) WatchOption {
	return func(c *WatchSettings) { c.Capacity = n }
}

// watch is member owner's interest in the members around it. Its circle of
// radius+margin is kept in the index's watch tree, as one or two boxes.
type watch[K comparable] struct {
	owner          *entry[K]
	radius, margin float64
	dwell          time.Duration
	symmetric      bool
	capacity       int // 0: no bound
	boxes          []box
	// inside maps each member inside to the epoch of the refresh that
	// last confirmed it, so a refresh updates the map in place.
	inside map[*entry[K]]uint32
	epoch  uint32
	// leaving maps the members inside but beyond radius+margin to the
	// time they leave, with a dwell.
	leaving map[*entry[K]]time.Time
}

// Watch makes member id watch the circle of radius meters around itself:
// from now on, every member coming within radius of id produces an [Enter]
// event, and every member inside going further than radius plus the margin
// (see [WithMargin], [WithDwell]) or being removed produces a [Leave]
// event. Members already inside get Enter events now. The circle moves
// with id. With [WithSymmetric] the members inside see id too.
//
// Watch returns an error wrapping [ErrNotFound] if id is not in the index,
// and one wrapping [ErrInvalidRadius] if radius is not positive and finite
// or the margin is negative or not finite, or the dwell is negative.
// Watching again replaces the watch: members inside that are outside the
// new circle leave, members newly within the radius enter, and the others
// stay without events. Removing id ([Index.Remove]) ends its watch, with
// Leave events both ways; set it and watch again to start over.
//
// Cost: Watch and each move of id are a radius query around id; a move of
// another member is a check of the watches that hold it and a point query
// in a tree of watch circles at its new position, so it costs nothing for
// watchers far away.
func (x *Index[K]) Watch(id K, radius float64, opts ...WatchOption) error {
	wc := Settings(opts...)
	if !finite(radius) || radius <= 0 {
		return fmt.Errorf("spatial: watch: radius %v: %w", radius, ErrInvalidRadius)
	}
	if !finite(wc.Margin) || wc.Margin < 0 {
		return fmt.Errorf("spatial: watch: margin %v: %w", wc.Margin, ErrInvalidRadius)
	}
	if wc.Dwell < 0 {
		return fmt.Errorf("spatial: watch: dwell %v: %w", wc.Dwell, ErrInvalidRadius)
	}
	if wc.Capacity < 0 {
		return fmt.Errorf("spatial: watch: capacity %d: %w", wc.Capacity, ErrInvalidRadius)
	}
	x.mu.Lock()
	e, ok := x.member(id)
	if !ok {
		x.mu.Unlock()
		return fmt.Errorf("spatial: watch: %w", ErrNotFound)
	}
	var evs []Event[K]
	w := e.watch
	fresh := w == nil
	if fresh {
		w = &watch[K]{owner: e, inside: make(map[*entry[K]]uint32)}
		e.watch = w
	} else {
		x.unindexWatch(w)
	}
	// The members inside stop seeing e through this watch before the
	// circle changes, and start after, so that no pair enters and leaves
	// in one call.
	if w.symmetric && !wc.Symmetric {
		before := x.viewers(e)
		w.symmetric = false
		for m := range w.inside {
			m.symIn--
		}
		x.diffViewers(e, before, CauseUnwatched, &evs)
	}
	if wc.Dwell != w.dwell { // pending leaves keep when they started
		for m, at := range w.leaving {
			at = at.Add(wc.Dwell - w.dwell)
			w.leaving[m] = at
			x.dwell.add(x, w, at)
		}
	}
	w.radius, w.margin, w.dwell, w.capacity = radius, wc.Margin, wc.Dwell, wc.Capacity
	x.indexWatch(w)
	x.refreshWatch(w, &evs) // with no dwell, those leaving leave now
	if fresh {
		evs = x.stateOf(e, evs)
	}
	if !w.symmetric && wc.Symmetric {
		before := x.viewers(e)
		w.symmetric = true
		for m := range w.inside {
			m.symIn++
		}
		x.diffViewers(e, before, CauseUnwatched, &evs) // enters only
	}
	x.unlockAndDeliver(evs)
	return nil
}

// Unwatch ends member id's watch, with a [Leave] event for every member
// that id no longer sees and, for a symmetric watch, for every member that
// no longer sees id. It reports whether id had a watch.
func (x *Index[K]) Unwatch(id K) bool {
	x.mu.Lock()
	e, ok := x.member(id)
	if !ok || e.watch == nil {
		x.mu.Unlock()
		return false
	}
	var evs []Event[K]
	x.dropWatch(e, &evs)
	x.unlockAndDeliver(evs)
	return true
}

// Watching returns the members that member id sees, in no particular
// order: those inside its watch and those whose symmetric watch holds it
// ([WithSymmetric]); and whether id has a watch of its own.
func (x *Index[K]) Watching(id K) ([]K, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, ok := x.member(id)
	if !ok {
		return nil, false
	}
	seen := x.seen(e)
	out := make([]K, len(seen))
	for i, m := range seen {
		out[i] = m.id
	}
	return out, e.watch != nil
}

// WatchersOf returns the members that see member id, in no particular
// order: those who should get id's location updates. They are the owners
// of the watches that hold id and, if id's own watch is symmetric, the
// members inside it. The answer comes from sets kept with the watches,
// without a search; none when id is not in the index or is hidden.
func (x *Index[K]) WatchersOf(id K) []K {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, ok := x.member(id)
	if !ok {
		return nil
	}
	var out []K
	eachViewer(e, func(v *entry[K]) { out = append(out, v.id) })
	return out
}

// inWatch reports whether w is a watch that holds m.
func inWatch[K comparable](w *watch[K], m *entry[K]) bool {
	if w == nil {
		return false
	}
	_, ok := w.inside[m]
	return ok
}

// sees reports whether v sees m: m is inside v's watch, or v is inside m's
// symmetric watch and m is not hidden.
func sees[K comparable](v, m *entry[K]) bool {
	return inWatch(v.watch, m) || (m.watch != nil && m.watch.symmetric && !m.hidden && inWatch(m.watch, v))
}

// viewers returns the members that see e, each once.
func (x *Index[K]) viewers(e *entry[K]) []*entry[K] {
	var out []*entry[K]
	eachViewer(e, func(v *entry[K]) { out = append(out, v) })
	return out
}

// eachViewer calls fn with each member that sees e, once.
func eachViewer[K comparable](e *entry[K], fn func(*entry[K])) {
	for w := range e.watchers {
		fn(w.owner)
	}
	if w := e.watch; w != nil && w.symmetric && !e.hidden {
		for m := range w.inside {
			if !inWatch(m.watch, e) { // else counted above
				fn(m)
			}
		}
	}
}

// seen returns the members that e sees, each once.
func (x *Index[K]) seen(e *entry[K]) []*entry[K] {
	var out []*entry[K]
	if e.watch != nil {
		for m := range e.watch.inside {
			out = append(out, m)
		}
	}
	for w := range e.watchers {
		if w.symmetric && !w.owner.hidden && !inWatch(e.watch, w.owner) {
			out = append(out, w.owner)
		}
	}
	return out
}

// diffSeen appends the events of the change in what e sees, from before;
// its leaves have cause c.
func (x *Index[K]) diffSeen(e *entry[K], before []*entry[K], c Cause, evs *[]Event[K]) {
	diffPairs(e, before, x.seen(e), func(m *entry[K]) (w, mem *entry[K]) { return e, m }, c, evs)
}

// diffViewers appends the events of the change in who sees e, from
// before; its leaves have cause c.
func (x *Index[K]) diffViewers(e *entry[K], before []*entry[K], c Cause, evs *[]Event[K]) {
	diffPairs(e, before, x.viewers(e), func(v *entry[K]) (w, mem *entry[K]) { return v, e }, c, evs)
}

// diffPairs appends a Leave with cause c for each pair of e with a member
// of before that is not in after, and an Enter for each pair with a member
// of after that is not in before; pair says which is the watcher.
func diffPairs[K comparable](e *entry[K], before, after []*entry[K], pair func(*entry[K]) (w, m *entry[K]), c Cause, evs *[]Event[K]) {
	for _, o := range before {
		if !slices.Contains(after, o) {
			w, m := pair(o)
			*evs = append(*evs, leaveEvent(w, m, c))
		}
	}
	for _, o := range after {
		if !slices.Contains(before, o) {
			w, m := pair(o)
			*evs = append(*evs, enterEvent(w, m, dist(w, m)))
		}
	}
}

// link puts m inside w, at distance d from w's owner, with the Enter
// events of whoever starts seeing whom; evs nil means no events.
func (x *Index[K]) link(w *watch[K], m *entry[K], d float64, evs *[]Event[K]) {
	o := w.owner
	seen := sees(o, m)
	mirror := w.symmetric && !o.hidden
	seenBack := mirror && sees(m, o)
	w.inside[m] = w.epoch
	m.addWatcher(w)
	if w.symmetric {
		m.symIn++
	}
	if evs == nil {
		return
	}
	if !seen {
		*evs = append(*evs, enterEvent(o, m, d))
	}
	if mirror && !seenBack {
		*evs = append(*evs, enterEvent(m, o, d))
	}
}

// unlink takes m out of w, with the Leave events, of cause c, of whoever
// stops seeing whom; evs nil means no events.
func (x *Index[K]) unlink(w *watch[K], m *entry[K], c Cause, evs *[]Event[K]) {
	o := w.owner
	if _, in := w.inside[m]; in && w.symmetric {
		m.symIn--
	}
	delete(w.inside, m)
	delete(m.watchers, w)
	delete(w.leaving, m)
	if evs == nil {
		return
	}
	if !sees(o, m) {
		*evs = append(*evs, leaveEvent(o, m, c))
	}
	if w.symmetric && !o.hidden && !sees(m, o) {
		*evs = append(*evs, leaveEvent(m, o, c))
	}
}

// beyond handles member m of w found beyond radius+margin: it leaves now,
// or with a dwell, once the dwell is up.
func (x *Index[K]) beyond(w *watch[K], m *entry[K], evs *[]Event[K]) {
	if w.dwell == 0 {
		x.unlink(w, m, CauseFar, evs)
		return
	}
	if _, ok := w.leaving[m]; ok {
		return
	}
	if w.leaving == nil {
		w.leaving = make(map[*entry[K]]time.Time)
	}
	at := time.Now().Add(w.dwell)
	w.leaving[m] = at
	x.dwell.add(x, w, at)
}

// within handles member m of w found within radius+margin: a pending
// leave is cancelled.
func within[K comparable](w *watch[K], m *entry[K]) {
	delete(w.leaving, m)
}

// events is the delivery queue of an index's events. Lock order: Index.mu,
// then events.mu.
type events[K comparable] struct {
	fn         func(Event[K])
	mu         sync.Mutex
	queue      []Event[K]
	spare      []Event[K] // a delivered batch's storage, for the next queue
	delivering bool
}

// maxSpare is the largest batch whose storage is kept for the next.
const maxSpare = 1024

// unlockAndDeliver queues evs, releases x.mu (held for writing) and
// delivers the queue unless another goroutine is delivering it.
func (x *Index[K]) unlockAndDeliver(evs []Event[K]) {
	q := &x.events
	if len(evs) == 0 || q.fn == nil {
		x.mu.Unlock()
		return
	}
	q.mu.Lock()
	q.queue = append(q.queue, evs...)
	if q.delivering {
		q.mu.Unlock()
		x.mu.Unlock()
		return
	}
	q.delivering = true
	q.mu.Unlock()
	x.mu.Unlock()
	q.drain()
}

// drain delivers queued events until the queue is empty. The caller has set
// q.delivering.
func (q *events[K]) drain() {
	done := false
	defer func() {
		if !done { // fn panicked
			q.mu.Lock()
			q.queue, q.delivering = nil, false
			q.mu.Unlock()
		}
	}()
	for {
		q.mu.Lock()
		batch := q.queue
		if len(batch) == 0 {
			q.delivering = false
			q.mu.Unlock()
			done = true
			return
		}
		q.queue, q.spare = q.spare, nil
		q.mu.Unlock()
		for _, ev := range batch {
			q.fn(ev)
		}
		if cap(batch) <= maxSpare {
			clear(batch) // keep no member alive
			q.mu.Lock()
			q.spare = batch[:0]
			q.mu.Unlock()
		}
	}
}

// indexWatch inserts w's circle into the watch tree.
func (x *Index[K]) indexWatch(w *watch[K]) {
	w.boxes = circleBoxes(w.owner.point(), w.radius+w.margin)
	for _, b := range w.boxes {
		x.wtree.Insert(b.min, b.max, w)
	}
}

func (x *Index[K]) unindexWatch(w *watch[K]) {
	for _, b := range w.boxes {
		x.wtree.Delete(b.min, b.max, w)
	}
	w.boxes = nil
}

// dropWatch ends e's watch, with the Leave events of unlink; evs nil
// means no events.
func (x *Index[K]) dropWatch(e *entry[K], evs *[]Event[K]) {
	w := e.watch
	x.unindexWatch(w)
	for m := range w.inside {
		x.unlink(w, m, CauseUnwatched, evs)
	}
	e.watch = nil
}

// refreshWatch recomputes the members inside w after w was created or its
// owner moved: a radius query around the owner. Members new to it enter
// nearest first, as many as its capacity allows.
func (x *Index[K]) refreshWatch(w *watch[K], evs *[]Event[K]) {
	o := w.owner
	keep := w.radius + w.margin
	limit2 := screenChord2(keep)
	w.epoch++
	epoch := w.epoch
	var news []Hit[*entry[K]] // members within the radius, not inside yet
	for _, b := range w.boxes {
		x.tree.Search(b.min, b.max, func(_, _ [2]float64, m *entry[K]) bool {
			if m == o || m.hidden {
				return true
			}
			c2 := chord2(o.v, m.v)
			if c2 > limit2 {
				return true
			}
			d := chord2ToMeters(c2)
			if _, was := w.inside[m]; was && d <= keep {
				w.inside[m] = epoch
				within(w, m)
			} else if !was && d <= w.radius {
				news = append(news, Hit[*entry[K]]{ID: m, Distance: d})
			}
			return true
		})
	}
	for m, e := range w.inside {
		if e != epoch {
			x.beyond(w, m, evs)
		}
	}
	if len(news) > 1 {
		slices.SortFunc(news, func(a, b Hit[*entry[K]]) int { return cmp.Compare(a.Distance, b.Distance) })
	}
	for _, h := range news {
		if w.full() {
			break
		}
		if !x.symFull(w, h.ID) {
			x.link(w, h.ID, h.Distance, evs)
		}
	}
}

// symFull reports whether w is symmetric and m is held by as many
// symmetric watches as WithSymmetricLimit allows.
func (x *Index[K]) symFull(w *watch[K], m *entry[K]) bool {
	return w.symmetric && x.symLimit > 0 && m.symIn >= x.symLimit
}

// WithSymmetricLimit bounds to n the symmetric watches that hold one
// member, so that what a member sees through others' symmetric watches is
// bounded as its own watch is ([WithCapacity]): walking into a crowd of
// symmetric watchers, it enters (and sees) the first n it comes within,
// and others as those let go. Zero, the default, is no bound; New panics
// if n is negative.
func WithSymmetricLimit(n int) Option {
	return func(c *config) {
		if n < 0 {
			panic(fmt.Sprintf("spatial: WithSymmetricLimit: %d", n))
		}
		c.symLimit = n
	}
}

// full reports whether w holds as many members as its capacity allows.
func (w *watch[K]) full() bool { return w.capacity > 0 && len(w.inside) >= w.capacity }

// stateOf replaces the Enter events of e's new watch in evs by one [State]
// event: every member e sees now, nearest first.
func (x *Index[K]) stateOf(e *entry[K], evs []Event[K]) []Event[K] {
	out := evs[:0]
	for _, ev := range evs {
		if ev.Kind != Enter || ev.Watcher != e.id {
			out = append(out, ev)
		}
	}
	seen := x.seen(e)
	members := make([]Hit[K], len(seen))
	for i, m := range seen {
		members[i] = Hit[K]{ID: m.id, Position: m.shown(), Distance: dist(e, m)}
	}
	slices.SortFunc(members, func(a, b Hit[K]) int { return cmp.Compare(a.Distance, b.Distance) })
	return append([]Event[K]{{Kind: State, Watcher: e.id, Members: members}}, out...)
}

func (e *entry[K]) addWatcher(w *watch[K]) {
	if e.watchers == nil {
		e.watchers = make(map[*watch[K]]struct{})
	}
	e.watchers[w] = struct{}{}
}

// moved updates the watches after e was inserted or moved: the watches
// that hold e and those whose circle holds its new position decide whether
// it enters or leaves them, and e's own watch follows it.
func (x *Index[K]) moved(e *entry[K], evs *[]Event[K]) {
	if x.wtree.Len() == 0 { // no watches: every watch has a box in the tree
		return
	}
	if !e.hidden { // a hidden member is in no watch, and enters none
		x.placeInWatches(e, evs)
	}
	if w := e.watch; w != nil {
		x.unindexWatch(w)
		x.indexWatch(w)
		x.refreshWatch(w, evs)
	}
}

// placeInWatches decides, for every watch that holds e or whose circle
// holds e's position, whether e enters or leaves it. e is not hidden: a
// hidden member is in no watch and enters none.
func (x *Index[K]) placeInWatches(e *entry[K], evs *[]Event[K]) {
	check := func(_, _ [2]float64, w *watch[K]) bool {
		if w.owner == e {
			return true
		}
		d := dist(w.owner, e)
		_, in := w.inside[e]
		switch {
		case !in && d <= w.radius && !w.full() && !x.symFull(w, e):
			x.link(w, e, d, evs)
		case in && d > w.radius+w.margin:
			x.beyond(w, e, evs)
		case in:
			within(w, e)
		}
		return true
	}
	// A watch that holds e and whose circle holds its position is checked
	// twice; the second check finds nothing to change.
	for w := range e.watchers {
		check(e.at, e.at, w)
	}
	x.wtree.Search(e.at, e.at, check)
}

// removed drops e from every watch and ends its own, with a Leave event for
// every member that saw it and for every member it saw.
func (x *Index[K]) removed(e *entry[K], evs *[]Event[K]) {
	before, seen := x.viewers(e), x.seen(e)
	for w := range e.watchers {
		x.unlink(w, e, 0, nil)
	}
	if e.watch != nil {
		x.dropWatch(e, nil)
	}
	x.diffViewers(e, before, CauseRemoved, evs)
	x.diffSeen(e, seen, CauseWatcherRemoved, evs)
}

// dist is the distance in meters between a and b.
func dist[K comparable](a, b *entry[K]) float64 { return chord2ToMeters(chord2(a.v, b.v)) }

// enterEvent is the Enter of member m, at distance d, in watcher w's view.
func enterEvent[K comparable](w, m *entry[K], d float64) Event[K] {
	return Event[K]{Kind: Enter, Watcher: w.id, Member: m.id, Position: m.shown(), Distance: d}
}

// leaveEvent is the Leave of member m from watcher w's view, of cause c.
func leaveEvent[K comparable](w, m *entry[K], c Cause) Event[K] {
	return Event[K]{Kind: Leave, Cause: c, Watcher: w.id, Member: m.id, Position: m.shown(), Distance: dist(w, m)}
}
