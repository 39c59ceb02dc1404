package spatial

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/tidwall/rtree"
)

// Position is where a member is: a point, how sure we are of it, and when
// it was observed.
type Position struct {
	Point
	// Accuracy is the radius of uncertainty in meters, as reported by the
	// device (for example the Geolocation API's coords.accuracy). Zero
	// means unknown or exact. It must be finite and not negative.
	Accuracy float64 `json:"accuracy"`
	// Time is when the position was observed. The index stores it as given
	// and never reads the clock; the zero Time means unknown.
	Time time.Time `json:"time"`
}

// Validate returns an error wrapping [ErrInvalidPoint] or
// [ErrInvalidAccuracy] when pos cannot be stored.
func (pos Position) Validate() error {
	if err := pos.Point.Validate(); err != nil {
		return err
	}
	if !finite(pos.Accuracy) || pos.Accuracy < 0 {
		return fmt.Errorf("accuracy %v: %w", pos.Accuracy, ErrInvalidAccuracy)
	}
	return nil
}

// Hit is a member found by a query.
type Hit[K comparable] struct {
	ID K
	Position
	// Distance is the great-circle distance in meters from the query's
	// center, for [Index.Nearby] and [Index.Nearest]; it is zero for
	// [Index.WithinBounds] and [Index.WithinPolygon].
	Distance float64
}

// entry is the record of one member. The R-tree stores *entry values, so a
// delete compares pointers; at is the point the entry was inserted at,
// which rtree's Delete needs to find it again. A move makes one map lookup
// and touches only the entry: keeping at in the map's value instead made
// every move a second map write, and moves about 6% slower.
//
// The trees, the watches and the fences hold a member where it is shown
// (see [Privacy]): at and v are those of its shown point, acc its shown
// accuracy, and pos, the exact position, is read only by Get and to show
// the member again.
//
// The fields a query reads (v and hidden to decide, id, at, acc and pos's
// time to copy out) come first, so that a candidate costs as few cache
// lines as possible.
type entry[K comparable] struct {
	v      vec3       // unit of the shown point, for distances without trigonometry
	at     [2]float64 // the shown point, where the trees hold the entry (x = lng, y = lat)
	hidden bool       // by its privacy or a zone; see Index.SetHidden
	id     K
	acc    float64 // the shown accuracy
	symIn  int     // symmetric watches that hold it; see WithSymmetricLimit
	pos    Position
	priv   *privacy // nil: shown exactly, and no grid cell kept
	// watch is this member's own watch, or nil; watchers are the watches
	// that hold this member inside.
	watch    *watch[K]
	watchers map[*watch[K]]struct{}
	fences   map[*fence[K]]struct{} // the fences this member is inside
}

// shown returns e's position as others see it.
func (e *entry[K]) shown() Position {
	return Position{Point: e.point(), Accuracy: e.acc, Time: e.pos.Time}
}

// point returns e's shown point.
func (e *entry[K]) point() Point { return Point{Lat: e.at[1], Lng: e.at[0]} }

// member returns the entry of id.
func (x *Index[K]) member(id K) (*entry[K], bool) {
	e, ok := x.members[id]
	return e, ok
}

// Index is a spatial index of members keyed by K, each at one [Position].
// The zero Index is not usable; create one with [New].
//
// An Index is safe for concurrent use. Writers ([Index.Set],
// [Index.Remove], [Index.Watch], [Index.AddFence] and the like) hold an
// exclusive lock only while they update the maps and the R-trees; queries
// hold a shared lock while they walk the tree and copy out their hits, so
// queries run in parallel with each other. Events are delivered after the
// lock is released (see [WithEvents]).
type Index[K comparable] struct {
	mu       sync.RWMutex
	tree     rtree.RTreeG[*entry[K]]
	members  map[K]*entry[K]
	wtree    rtree.RTreeG[*watch[K]] // boxes of the watch circles
	events   events[K]
	fences   map[string]*fence[K]
	ftree    rtree.RTreeG[*fence[K]] // boxes of the fences
	maxAge   time.Duration
	expiry   expiry
	dwell    dwellTimer[K]
	coarsen  float64   // meters; see WithCoarsening
	symLimit int       // see WithSymmetricLimit
	secret   []byte    // see WithSecret
	scratch  sync.Pool // *nearbyBuf[K], reused by Nearby
	evbuf    sync.Pool // *[]Event[K], the events of one Set
}

// Option configures an [Index].
type Option func(*config)

type config struct {
	events         any // func(Event[K])
	maxAge         time.Duration
	expiryInterval time.Duration
	coarsen        float64
	secret         []byte
	symLimit       int
}

// New returns an empty index. It panics if an option is invalid, for
// example a [WithEvents] handler for another key type. With
// [WithExpiryInterval], call [Index.Close] to stop the timer.
func New[K comparable](opts ...Option) *Index[K] {
	var c config
	for _, o := range opts {
		o(&c)
	}
	x := &Index[K]{members: make(map[K]*entry[K])}
	x.evbuf.New = func() any { return new([]Event[K]) }
	if c.events != nil {
		fn, ok := c.events.(func(Event[K]))
		if !ok {
			panic(fmt.Sprintf("spatial: WithEvents: handler %T does not match the key type", c.events))
		}
		x.events.fn = fn
	}
	x.maxAge = c.maxAge
	x.coarsen = c.coarsen
	x.symLimit = c.symLimit
	x.secret = c.secret
	if x.secret == nil {
		x.secret = newSecret()
	}
	if c.expiryInterval > 0 {
		if c.maxAge == 0 {
			panic("spatial: WithExpiryInterval: no maximum age; use WithMaxAge")
		}
		x.startExpiry(c.expiryInterval)
	}
	return x
}

// Set places member id at pos, inserting it or moving it. It returns an
// error wrapping [ErrInvalidPoint] or [ErrInvalidAccuracy], and leaves the
// index unchanged, when pos is invalid. A move produces the [Enter], [Move]
// and [Leave] events of the watches it concerns, and of id's own watch, and
// the [FenceEnter] and [FenceLeave] events of the fences it crosses, all
// decided on where id is shown (see [Privacy]). A member keeps its privacy
// ([Index.SetPrivacy]); a new one is shown as the index shows everyone,
// and so is a replica ([Index.PlaceShown]), which stops being one (hidden
// if it was).
func (x *Index[K]) Set(id K, pos Position) error {
	_, err := x.place(id, pos, nil, false)
	return err
}

// Place is [Index.Set] and [Index.SetPrivacy] in one step: it places member
// id at pos, shown as pv says, so that a member inserted hidden (or in a
// zone) is never seen otherwise, not even between two calls. It reports
// whether id was new to the index, and returns an error wrapping
// [ErrInvalidPrivacy] when pv is invalid. A replica ([Index.PlaceShown])
// stops being one.
func (x *Index[K]) Place(id K, pos Position, pv Privacy) (added bool, err error) {
	return x.place(id, pos, &pv, false)
}

// place places id at pos: shown as pv says, or as it was with pv nil; a
// replica, shown as placed and hidden if pv says so (see PlaceShown).
func (x *Index[K]) place(id K, pos Position, pv *Privacy, replica bool) (bool, error) {
	if err := pos.Validate(); err != nil {
		return false, fmt.Errorf("spatial: set: %w", err)
	}
	if pv != nil {
		if err := pv.Validate(); err != nil {
			return false, fmt.Errorf("spatial: set: %w", err)
		}
	}
	v := unit(pos.Point) // before locking: the shown point, unless coarsened
	buf := x.evbuf.Get().(*[]Event[K])
	evs := (*buf)[:0]
	x.mu.Lock()
	e, ok := x.members[id]
	if !ok {
		e = &entry[K]{id: id}
	}
	p := e.priv
	if !replica && pv == nil && e.replica() {
		pv = &Privacy{Hidden: p.hidden} // Set: an ordinary member, as hidden as it was
	}
	switch {
	case replica:
		if p == nil || !p.replica || p.hidden != pv.Hidden {
			p = &privacy{given: Privacy{Hidden: pv.Hidden}, hidden: pv.Hidden, replica: true}
		}
	case pv != nil && (e.replica() || !samePrivacy(e.privacy(), *pv)):
		p, _ = x.prepare(*pv) // valid: checked above
		if !p.hidden && p.precision == 0 && len(p.zones) == 0 {
			p = nil // the common case keeps no privacy
		}
	}
	x.put(id, e, pos, p, &v, &evs)
	x.unlockAndDeliver(evs) // copies evs into the queue
	if cap(evs) <= maxSpare {
		clear(evs)
		*buf = evs[:0]
		x.evbuf.Put(buf)
	}
	return !ok, nil
}

// put places e, new to the index or not, at pos with privacy p, with the
// events of what changes; v is unit(pos.Point) if known. x.mu is held.
func (x *Index[K]) put(id K, e *entry[K], pos Position, p *privacy, v *vec3, evs *[]Event[K]) {
	_, ok := x.members[id]
	if old := e.priv; p != old && old != nil && old.cellOK {
		if p == nil {
			p = &privacy{}
		}
		p.cell, p.cellMeters, p.cellOK = old.cell, old.cellMeters, true // the same grid keeps its cell
	}
	e.priv = p
	shown, hidden := x.show(e, pos)
	e.pos = pos
	if v == nil || shown.Point != pos.Point {
		sv := unit(shown.Point)
		v = &sv
	}
	if !ok {
		e.acc, e.hidden = shown.Accuracy, hidden
		e.at, e.v = xy(shown.Point), *v
		x.members[id] = e
		x.tree.Insert(e.at, e.at, e)
		x.moved(e, evs)
		x.movedFences(e, evs)
		return
	}
	// A change of the hidden flag with a move: every pair it changes
	// involves e, so the watches are updated silently and the events are
	// the difference in who sees e and whom e sees. Hiding comes before
	// the move, and those who saw e lose it where they saw it; showing
	// comes after, so e is never seen where it hid.
	wevs := evs
	var seen []*entry[K]
	var own []K // when hiding: the members in e's own watch before the move
	flip := e.hidden != hidden
	if flip {
		seen, wevs = x.seen(e), nil
		if hidden {
			viewers := x.viewers(e)
			x.flagHidden(e, true)
			x.diffViewers(e, viewers, CauseHidden, evs)
			if e.watch != nil {
				for m := range e.watch.inside {
					own = append(own, m.id)
				}
			}
		}
	}
	n := len(*evs) // the events of the move start here
	wasAcc := e.acc
	e.acc = shown.Accuracy
	at := xy(shown.Point)
	movedTo := at != e.at
	if movedTo {
		// The entry is written before the tree is updated, so that its
		// cache lines arrive meanwhile instead of stalling the unlock.
		from := e.at
		e.v, e.at = *v, at
		x.tree.Replace(from, from, e, at, at, e)
		x.moved(e, wevs)
		x.movedFences(e, evs)
	}
	switch {
	case flip && hidden:
		// e no longer sees the owners of symmetric watches that held it,
		// but the members it lost from its own watch, which hiding leaves
		// as it is, it lost to the move.
		m := len(*evs)
		x.diffSeen(e, seen, CauseWatcherHidden, evs)
		for i := m; i < len(*evs); i++ {
			if slices.Contains(own, (*evs)[i].Member) {
				(*evs)[i].Cause = CauseFar
			}
		}
	case flip:
		x.flagHidden(e, false)
		x.diffViewers(e, nil, CauseHidden, evs) // a hidden member has no viewers: enters only
		x.diffSeen(e, seen, CauseFar, evs)
	case !hidden && (movedTo || shown.Accuracy != wasAcc):
		x.moves(e, (*evs)[n:], evs)
	}
}

// moves appends a [Move] event for every member that sees e and did not
// just see it enter (in since, the events of e's move so far).
func (x *Index[K]) moves(e *entry[K], since []Event[K], evs *[]Event[K]) {
	var entered []K
	for _, ev := range since {
		if ev.Kind == Enter && ev.Member == e.id {
			entered = append(entered, ev.Watcher)
		}
	}
	pos := e.shown()
	eachViewer(e, func(v *entry[K]) {
		if len(entered) > 0 && slices.Contains(entered, v.id) {
			return
		}
		*evs = append(*evs, Event[K]{Kind: Move, Watcher: v.id, Member: e.id, Position: pos, Distance: dist(v, e)})
	})
}

// Remove deletes member id and reports whether it was present. Every
// member that saw id gets a [Leave] event, and so does id for every member
// it saw (its watch ends); every fence that held id gets a [FenceLeave]
// event.
func (x *Index[K]) Remove(id K) bool {
	x.mu.Lock()
	e, ok := x.members[id]
	if !ok {
		x.mu.Unlock()
		return false
	}
	var evs []Event[K]
	x.drop(e, &evs)
	x.unlockAndDeliver(evs)
	return true
}

// drop removes e from the index, with the events of its watches and
// fences. x.mu is held.
func (x *Index[K]) drop(e *entry[K], evs *[]Event[K]) {
	x.tree.Delete(e.at, e.at, e)
	delete(x.members, e.id)
	x.removed(e, evs)
	x.removedFences(e, evs)
}

// Get returns the position of member id and whether it is present.
func (x *Index[K]) Get(id K) (Position, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, ok := x.member(id)
	if !ok {
		return Position{}, false
	}
	return e.pos, true
}

// Len returns the number of members.
func (x *Index[K]) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.members)
}

// Nearby returns the members within radius meters of center (great-circle
// distance, edges included), nearest first, at most limit of them; limit
// <= 0 means all. It returns an error wrapping [ErrInvalidPoint] or
// [ErrInvalidRadius] for an invalid center or a negative or non-finite
// radius. Members at equal distances come in no particular order.
// Hidden members ([Index.SetHidden]) are not returned.
func (x *Index[K]) Nearby(center Point, radius float64, limit int) ([]Hit[K], error) {
	if err := center.Validate(); err != nil {
		return nil, fmt.Errorf("spatial: nearby: %w", err)
	}
	if !finite(radius) || radius < 0 {
		return nil, fmt.Errorf("spatial: nearby: radius %v: %w", radius, ErrInvalidRadius)
	}
	cv := unit(center)
	// Candidates are screened by squared chord (no trigonometry), with a
	// hair of slack, and decided by their distance in meters. The tree walk
	// only collects pointers; the entries are read afterwards, first in a
	// tight loop whose independent loads overlap. Found members are copied
	// out under the lock, then ranked and put in order outside it.
	limit2 := screenChord2(radius)
	sc := x.nearbyScratch()
	defer x.putNearbyScratch(sc)
	ents := sc.ents[:0]
	collect := func(_, _ [2]float64, e *entry[K]) bool {
		ents = append(ents, e)
		return true
	}
	x.mu.RLock()
	for _, b := range circleBoxes(center, radius) {
		x.tree.Search(b.min, b.max, collect)
	}
	// Touch every candidate first: these loads do not depend on each
	// other, so their cache misses overlap, and the filter below finds
	// the entries in cache.
	var touch float64
	for _, e := range ents {
		touch += e.v[0] + e.acc
	}
	sc.touch = touch
	ds, tmp := sc.ds[:0], sc.hits[:0]
	for _, e := range ents {
		c2 := chord2(cv, e.v)
		if c2 > limit2 || e.hidden {
			continue
		}
		if d := chord2ToMeters(c2); d <= radius {
			// Copying now, while e's cache lines are being fetched
			// anyway, beats a second pass over scattered entries.
			tmp = append(tmp, Hit[K]{ID: e.id, Position: e.shown(), Distance: d})
			ds = append(ds, d)
		}
	}
	x.mu.RUnlock()
	sc.ents, sc.ds, sc.hits = ents, ds, tmp
	if len(ds) == 0 {
		return nil, nil
	}
	sc.order, sc.counts = sortByDistance(ds, radius, sc.order, sc.counts)
	order := sc.order
	if limit > 0 && len(order) > limit {
		order = order[:limit]
	}
	hits := make([]Hit[K], len(order))
	for i, j := range order {
		hits[i] = tmp[j]
	}
	return hits, nil
}

// nearbyBuf is the scratch space of one Nearby call.
type nearbyBuf[K comparable] struct {
	ents   []*entry[K]
	hits   []Hit[K] // the found members, unsorted
	ds     []float64
	order  []int32
	counts []int32
	touch  float64 // keeps the touching loop in Nearby
}

func (x *Index[K]) nearbyScratch() *nearbyBuf[K] {
	if sc, ok := x.scratch.Get().(*nearbyBuf[K]); ok {
		return sc
	}
	return new(nearbyBuf[K])
}

func (x *Index[K]) putNearbyScratch(sc *nearbyBuf[K]) {
	clear(sc.ents) // do not keep removed members alive
	clear(sc.hits)
	sc.ents, sc.hits = sc.ents[:0], sc.hits[:0]
	if cap(sc.ents) > 1<<16 {
		return // a rare huge query: let its buffers go
	}
	x.scratch.Put(sc)
}

// sortByDistance returns the indices of ds, distances in [0, radius],
// ordered by distance, nearest first. It is a bucket sort on the squared
// distance, which is about uniform for members spread over the disc, with
// an exact sort inside each bucket; order and counts are reused storage.
func sortByDistance(ds []float64, radius float64, order, counts []int32) (_, _ []int32) {
	n := len(ds)
	order = slices.Grow(order, n)[:n]
	counts = slices.Grow(counts, n+1)[:n+1]
	clear(counts)
	nb := float64(n)
	bucket := func(d float64) int {
		if !(radius > 0) {
			return 0
		}
		r := d / radius
		return min(n-1, max(0, int(r*r*nb)))
	}
	for _, d := range ds {
		counts[bucket(d)+1]++
	}
	for i := 1; i <= n; i++ {
		counts[i] += counts[i-1]
	}
	// counts[b] is now where bucket b starts; filling it moves it to
	// where bucket b ends, the start of b+1.
	for i, d := range ds {
		b := bucket(d)
		order[counts[b]] = int32(i)
		counts[b]++
	}
	lo := 0
	for b := range n {
		hi := int(counts[b])
		if part := order[lo:hi]; len(part) > 24 {
			slices.SortFunc(part, func(i, j int32) int { return cmp.Compare(ds[i], ds[j]) })
		} else {
			for i := 1; i < len(part); i++ {
				k := part[i]
				d := ds[k]
				j := i
				for ; j > 0 && ds[part[j-1]] > d; j-- {
					part[j] = part[j-1]
				}
				part[j] = k
			}
		}
		lo = hi
	}
	return order, counts
}

// Nearest returns the k members nearest to center by great-circle
// distance, nearest first; fewer when the index holds fewer. k <= 0
// returns none. It returns an error wrapping [ErrInvalidPoint] for an
// invalid center. It is exact everywhere, including across the
// antimeridian and near the poles.
// Hidden members ([Index.SetHidden]) are not returned.
func (x *Index[K]) Nearest(center Point, k int) ([]Hit[K], error) {
	if err := center.Validate(); err != nil {
		return nil, fmt.Errorf("spatial: nearest: %w", err)
	}
	if k <= 0 {
		return nil, nil
	}
	lat, lng := center.Lat*degToRad, center.Lng*degToRad
	sinLat, cosLat := math.Sincos(lat)
	cv := unit(center)
	hits := make([]Hit[K], 0, min(k, 1024))
	x.mu.RLock()
	// Best-first search by squared chord: nodes are ranked by a lower bound
	// of the distance to their rectangle, items by their exact distance,
	// so items come out nearest first.
	x.tree.Nearby(
		func(min, max [2]float64, e *entry[K], item bool) float64 {
			if item {
				return chord2(cv, e.v)
			}
			return rectChord2(lat, lng, sinLat, cosLat, min, max)
		},
		func(_, _ [2]float64, e *entry[K], c2 float64) bool {
			if e.hidden {
				return true
			}
			hits = append(hits, Hit[K]{ID: e.id, Position: e.shown(), Distance: c2})
			return len(hits) < k
		},
	)
	x.mu.RUnlock()
	for i := range hits {
		hits[i].Distance = chord2ToMeters(hits[i].Distance)
	}
	return hits, nil
}

// WithinBounds returns the members inside b, edges included, in no
// particular order. It returns an error wrapping [ErrInvalidBounds] when b
// is invalid.
// Hidden members ([Index.SetHidden]) are not returned.
func (x *Index[K]) WithinBounds(b Bounds) ([]Hit[K], error) {
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("spatial: within bounds: %w", err)
	}
	return x.visibleIn(b.boxes()), nil
}

// visibleIn returns the members in the boxes that are not hidden.
func (x *Index[K]) visibleIn(boxes []box) []Hit[K] {
	var hits []Hit[K]
	x.mu.RLock()
	defer x.mu.RUnlock()
	for _, bx := range boxes {
		x.tree.Search(bx.min, bx.max, func(_, _ [2]float64, e *entry[K]) bool {
			if !e.hidden {
				hits = append(hits, Hit[K]{ID: e.id, Position: e.shown()})
			}
			return true
		})
	}
	return hits
}

// WithinPolygon returns the members inside poly (see [Polygon.Contains] for
// points on an edge), in no particular order. It returns an error wrapping
// [ErrInvalidPolygon] when poly is invalid.
// Hidden members ([Index.SetHidden]) are not returned.
func (x *Index[K]) WithinPolygon(poly Polygon) ([]Hit[K], error) {
	pp, err := poly.prepare()
	if err != nil {
		return nil, fmt.Errorf("spatial: within polygon: %w", err)
	}
	// The exact test runs on copies, outside the lock.
	hits := x.visibleIn(pp.boxes())
	return slices.DeleteFunc(hits, func(h Hit[K]) bool { return !pp.contains(h.Point) }), nil
}
