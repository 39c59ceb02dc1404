package spatial

import (
	"fmt"
	"math"
)

// metersPerDegree is the length of one degree of latitude on the sphere.
const metersPerDegree = EarthRadius * degToRad

// WithCoarsening sets the precision, in meters, of the positions
// [Index.Shown] returns: points are snapped with [Coarsen] to a grid of
// that size. The index keeps and searches the exact positions. Zero, the
// default, shows exact positions. New panics if meters is negative or not
// finite.
func WithCoarsening(meters float64) Option {
	return func(c *config) {
		if !finite(meters) || meters < 0 {
			panic(fmt.Sprintf("spatial: WithCoarsening: invalid precision %v", meters))
		}
		c.coarsen = meters
	}
}

// Coarsen returns the center of the grid cell of about meters × meters
// that holds p, to show others where p is without saying exactly where.
// Every point of a cell gives the same answer, so a member moving within a
// cell shows no movement, and the answer is at most about 0.71 × meters
// from p (cells near the poles are wider in longitude, up to the whole
// polar cap).
//
// The grid has rows of equal latitude height (180° divided into a whole
// number of rows at least meters high) and, in each row, cells of equal
// longitude width, a whole number of them around the globe and at least
// meters wide at the row's middle latitude. Longitudes 180 and -180 fall in
// the same cell. Coarsen returns p unchanged when meters is not positive
// and finite or p is invalid.
func Coarsen(p Point, meters float64) Point {
	if !finite(meters) || meters <= 0 || p.Validate() != nil {
		return p
	}
	rows := math.Max(1, math.Floor(180*metersPerDegree/meters))
	dLat := 180 / rows
	row := math.Min(math.Floor((p.Lat+90)/dLat), rows-1)
	lat := -90 + (row+0.5)*dLat
	// The row's width in meters at its middle latitude.
	around := 360 * metersPerDegree * math.Cos(lat*degToRad)
	cols := math.Max(1, math.Floor(around/meters))
	dLng := 360 / cols
	col := math.Mod(math.Floor((p.Lng+180)/dLng), cols)
	lng := -180 + (col+0.5)*dLng
	return Point{Lat: lat, Lng: lng}
}

// SetHidden hides member id from others, or shows it again, and reports
// whether id is in the index. A hidden member is not returned by queries
// ([Index.Nearby], [Index.Nearest], [Index.WithinBounds],
// [Index.WithinPolygon]) nor by [Index.Shown], and is in no other member's
// watch: hiding produces a [Leave] event for every member that saw it,
// showing again an [Enter] for every member that sees it then. A hidden
// member still sees others through its own watch, and its queries work as
// before; it no longer sees the owners of symmetric watches that held it.
// It stays in its fences (fence events concern the member itself);
// [Index.Get], [Index.FencesOf] and [Index.InFence] still report it, for
// the application's own use. Set keeps the flag; Remove forgets it; use
// [Index.Place] to insert a member hidden.
func (x *Index[K]) SetHidden(id K, hidden bool) bool {
	x.mu.Lock()
	e, ok := x.member(id)
	if !ok || e.hidden == hidden {
		x.mu.Unlock()
		return ok
	}
	var evs []Event[K]
	x.setHidden(e, hidden, &evs)
	x.unlockAndDeliver(evs)
	return true
}

// setHidden changes e's flag, with the events of who stops or starts
// seeing whom. x.mu is held.
func (x *Index[K]) setHidden(e *entry[K], hidden bool, evs *[]Event[K]) {
	before, seen := x.viewers(e), x.seen(e)
	x.flagHidden(e, hidden)
	x.diffViewers(e, before, CauseHidden, evs)   // leaves only when hiding
	x.diffSeen(e, seen, CauseWatcherHidden, evs) // likewise
}

// flagHidden changes e's flag and the watches that hold it, without
// events. x.mu is held.
func (x *Index[K]) flagHidden(e *entry[K], hidden bool) {
	e.hidden = hidden
	if hidden {
		for w := range e.watchers {
			x.unlink(w, e, 0, nil)
		}
	} else {
		x.placeInWatches(e, nil)
	}
}

// Hidden reports whether member id is hidden; false when it is not in the
// index.
func (x *Index[K]) Hidden(id K) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, ok := x.member(id)
	return ok && e.hidden
}

// Shown returns the position of member id as others should see it, and
// whether they may: false when id is not in the index or is hidden. With
// [WithCoarsening] the point is coarsened with [Coarsen] and the accuracy
// raised to at least the grid size; the time is kept.
func (x *Index[K]) Shown(id K) (Position, bool) {
	x.mu.RLock()
	e, ok := x.member(id)
	if !ok || e.hidden {
		x.mu.RUnlock()
		return Position{}, false
	}
	pos := e.pos
	x.mu.RUnlock()
	return x.Show(pos), true
}

// ShownTo returns the position of member as viewer should see it, as
// [Index.Shown] does, and the distance in meters from viewer's exact
// position to it; ok is false when member is hidden or either is not in
// the index. One lookup, for the events a watcher is sent.
func (x *Index[K]) ShownTo(member, viewer K) (pos Position, distance float64, ok bool) {
	x.mu.RLock()
	m, ok := x.member(member)
	v, vok := x.member(viewer)
	if !ok || !vok || m.hidden {
		x.mu.RUnlock()
		return Position{}, 0, false
	}
	pos, mv, vv := m.pos, m.v, v.v
	x.mu.RUnlock()
	if x.coarsen > 0 {
		pos = x.Show(pos)
		mv = unit(pos.Point)
	}
	return pos, chord2ToMeters(chord2(vv, mv)), true
}

// Show returns pos as others should see it: with [WithCoarsening], the
// point coarsened with [Coarsen] and the accuracy raised to at least the
// grid size; unchanged otherwise. The time is kept.
func (x *Index[K]) Show(pos Position) Position {
	if x.coarsen > 0 {
		pos.Point = Coarsen(pos.Point, x.coarsen)
		pos.Accuracy = math.Max(pos.Accuracy, x.coarsen)
	}
	return pos
}
