package spatial

import (
	"errors"
	"fmt"
	"math"
	"sync"
)

// ErrNotFound reports an operation on a member that is not in the index.
var ErrNotFound = errors.New("spatial: no such member")

// EventKind says what an [Event] reports.
type EventKind uint8

const (
	// Enter: Member came within Watcher's radius.
	Enter EventKind = iota + 1
	// Leave: Member went beyond Watcher's radius plus margin, was removed,
	// or the watch ended with [Index.Unwatch].
	Leave
	// FenceEnter: Member came inside the fence named Fence, or the fence
	// was added around it.
	FenceEnter
	// FenceLeave: Member left the fence named Fence, was removed, or the
	// fence was removed.
	FenceLeave
)

// String returns "enter", "leave", "fence enter" or "fence leave".
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
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is a change that an [Index] reports to the handler set with
// [WithEvents].
type Event[K comparable] struct {
	Kind    EventKind
	Watcher K      // the member whose watch changed; zero for fence events
	Member  K      // the member that entered or left
	Fence   string // the fence's name, for FenceEnter and FenceLeave
	// Distance is the great-circle distance in meters between Watcher and
	// Member when the event happened; for a Leave caused by removing
	// Member, the distance at its last position. It is zero for fence
	// events.
	Distance float64
}

// WithEvents sets the function that receives the index's events ([Enter],
// [Leave], [FenceEnter], [FenceLeave]). The default is none: watches are still kept (see
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
type WatchOption func(*watchConfig)

type watchConfig struct {
	margin float64
}

// WithMargin sets the hysteresis of a watch, in meters: a member enters at
// the radius but leaves only beyond radius+m, so members on the boundary do
// not flap. The default is zero. It must be finite and not negative.
func WithMargin(m float64) WatchOption {
	return func(c *watchConfig) { c.margin = m }
}

// watch is member owner's interest in the members around it. Its circle of
// radius+margin is kept in the index's watch tree, as one or two boxes.
type watch[K comparable] struct {
	owner          *entry[K]
	radius, margin float64
	boxes          []box
	// inside maps each member inside to the epoch of the refresh that
	// last confirmed it, so a refresh updates the map in place.
	inside map[*entry[K]]uint32
	epoch  uint32
}

// Watch makes member id watch the circle of radius meters around itself:
// from now on, every member coming within radius of id produces an [Enter]
// event, and every member inside going further than radius plus the margin
// (see [WithMargin]) or being removed produces a [Leave] event. Members
// already inside get Enter events now. The circle moves with id.
//
// Watch returns an error wrapping [ErrNotFound] if id is not in the index,
// and one wrapping [ErrInvalidRadius] if radius is not positive and finite
// or the margin is negative or not finite. Watching again replaces the
// watch: members inside that are outside the new circle leave, members
// newly within the radius enter. Removing id ([Index.Remove]) ends its watch
// without events; set it and watch again after a reconnect.
//
// Cost: Watch and each move of id are a radius query around id; a move of
// another member is a point query in a tree of watch circles at its old and
// its new position, so it costs nothing for watchers far away.
func (x *Index[K]) Watch(id K, radius float64, opts ...WatchOption) error {
	var wc watchConfig
	for _, o := range opts {
		o(&wc)
	}
	if math.IsNaN(radius) || math.IsInf(radius, 0) || radius <= 0 {
		return fmt.Errorf("spatial: watch: radius %v: %w", radius, ErrInvalidRadius)
	}
	if math.IsNaN(wc.margin) || math.IsInf(wc.margin, 0) || wc.margin < 0 {
		return fmt.Errorf("spatial: watch: margin %v: %w", wc.margin, ErrInvalidRadius)
	}
	x.mu.Lock()
	e, ok := x.members[id]
	if !ok {
		x.mu.Unlock()
		return fmt.Errorf("spatial: watch: %w", ErrNotFound)
	}
	var evs []Event[K]
	w := e.watch
	if w == nil {
		w = &watch[K]{owner: e, inside: make(map[*entry[K]]uint32)}
		e.watch = w
		x.watches++
	} else {
		x.unindexWatch(w)
	}
	w.radius, w.margin = radius, wc.margin
	x.indexWatch(w)
	x.refreshWatch(w, &evs)
	x.unlockAndDeliver(evs)
	return nil
}

// Unwatch ends member id's watch, with a [Leave] event for every member
// that was inside it. It reports whether id had a watch.
func (x *Index[K]) Unwatch(id K) bool {
	x.mu.Lock()
	e, ok := x.members[id]
	if !ok || e.watch == nil {
		x.mu.Unlock()
		return false
	}
	var evs []Event[K]
	x.dropWatch(e, &evs)
	x.unlockAndDeliver(evs)
	return true
}

// Watching returns the members inside member id's watch, in no particular
// order, and whether id has a watch.
func (x *Index[K]) Watching(id K) ([]K, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, ok := x.members[id]
	if !ok || e.watch == nil {
		return nil, false
	}
	out := make([]K, 0, len(e.watch.inside))
	for m := range e.watch.inside {
		out = append(out, m.id)
	}
	return out, true
}

// WatchersOf returns the members whose watch holds member id, in no
// particular order: those who should get id's location updates. It is
// answered from a set kept with the watches, without a search; none when
// id is not in the index or is hidden.
func (x *Index[K]) WatchersOf(id K) []K {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, ok := x.members[id]
	if !ok || len(e.watchers) == 0 {
		return nil
	}
	out := make([]K, 0, len(e.watchers))
	for w := range e.watchers {
		out = append(out, w.owner.id)
	}
	return out
}

// events is the delivery queue of an index's events. Lock order: Index.mu,
// then events.mu.
type events[K comparable] struct {
	fn         func(Event[K])
	mu         sync.Mutex
	queue      []Event[K]
	delivering bool
}

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
		q.queue = nil
		if len(batch) == 0 {
			q.delivering = false
			q.mu.Unlock()
			done = true
			return
		}
		q.mu.Unlock()
		for _, ev := range batch {
			q.fn(ev)
		}
	}
}

// indexWatch inserts w's circle into the watch tree.
func (x *Index[K]) indexWatch(w *watch[K]) {
	w.boxes = circleBoxes(w.owner.pos.Point, w.radius+w.margin)
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

// dropWatch ends e's watch, appending a Leave for each member inside to evs
// when evs is not nil.
func (x *Index[K]) dropWatch(e *entry[K], evs *[]Event[K]) {
	w := e.watch
	x.unindexWatch(w)
	for m := range w.inside {
		delete(m.watchers, w)
		if evs != nil {
			*evs = append(*evs, Event[K]{Kind: Leave, Watcher: e.id, Member: m.id, Distance: chord2ToMeters(chord2(e.v, m.v))})
		}
	}
	e.watch = nil
	x.watches--
}

// refreshWatch recomputes the members inside w after w was created or its
// owner moved: a radius query around the owner.
func (x *Index[K]) refreshWatch(w *watch[K], evs *[]Event[K]) {
	o := w.owner
	keep := w.radius + w.margin
	limit2 := metersToChord2(keep)*(1+1e-9) + 1e-18
	w.epoch++
	epoch := w.epoch
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
			} else if !was && d <= w.radius {
				w.inside[m] = epoch
				m.addWatcher(w)
				*evs = append(*evs, Event[K]{Kind: Enter, Watcher: o.id, Member: m.id, Distance: d})
			}
			return true
		})
	}
	for m, e := range w.inside {
		if e != epoch {
			delete(w.inside, m)
			delete(m.watchers, w)
			*evs = append(*evs, Event[K]{Kind: Leave, Watcher: o.id, Member: m.id, Distance: chord2ToMeters(chord2(o.v, m.v))})
		}
	}
}

func (e *entry[K]) addWatcher(w *watch[K]) {
	if e.watchers == nil {
		e.watchers = make(map[*watch[K]]struct{})
	}
	e.watchers[w] = struct{}{}
}

// moved updates the watches after e was inserted (old is nil) or moved
// from old: watches whose circle holds the old or the new position decide
// whether e enters or leaves them, and e's own watch follows it.
func (x *Index[K]) moved(e *entry[K], old *box, evs *[]Event[K]) {
	if x.watches == 0 {
		return
	}
	check := func(_, _ [2]float64, w *watch[K]) bool {
		if w.owner == e || e.hidden {
			return true
		}
		d := chord2ToMeters(chord2(w.owner.v, e.v))
		_, in := w.inside[e]
		switch {
		case !in && d <= w.radius:
			w.inside[e] = w.epoch
			e.addWatcher(w)
			*evs = append(*evs, Event[K]{Kind: Enter, Watcher: w.owner.id, Member: e.id, Distance: d})
		case in && d > w.radius+w.margin:
			delete(w.inside, e)
			delete(e.watchers, w)
			*evs = append(*evs, Event[K]{Kind: Leave, Watcher: w.owner.id, Member: e.id, Distance: d})
		}
		return true
	}
	// A watch holding both positions is checked twice; the second check
	// finds nothing to change.
	if old != nil {
		x.wtree.Search(old.min, old.max, check)
	}
	x.wtree.Search(e.rect.min, e.rect.max, check)
	if w := e.watch; w != nil {
		x.unindexWatch(w)
		x.indexWatch(w)
		x.refreshWatch(w, evs)
	}
}

// removed drops e from every watch that holds it, with Leave events, and
// ends e's own watch silently.
func (x *Index[K]) removed(e *entry[K], evs *[]Event[K]) {
	for w := range e.watchers {
		delete(w.inside, e)
		*evs = append(*evs, Event[K]{Kind: Leave, Watcher: w.owner.id, Member: e.id, Distance: chord2ToMeters(chord2(w.owner.v, e.v))})
	}
	e.watchers = nil
	if e.watch != nil {
		x.dropWatch(e, nil)
	}
}
