package spatial

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// metersPerDegree is the length of one degree of latitude on the sphere.
const metersPerDegree = EarthRadius * degToRad

// ErrInvalidPrivacy reports a [Privacy] that cannot be used: a negative or
// non-finite precision, or an invalid zone.
var ErrInvalidPrivacy = errors.New("spatial: invalid privacy")

// WithCoarsening sets the precision, in meters, that every member is shown
// with at least: see [Privacy.Precision]. Zero, the default, shows members
// exactly unless their own Privacy coarsens them. New panics if meters is
// negative or not finite.
func WithCoarsening(meters float64) Option {
	return func(c *config) {
		if !finite(meters) || meters < 0 {
			panic(fmt.Sprintf("spatial: WithCoarsening: invalid precision %v", meters))
		}
		c.coarsen = meters
	}
}

// WithSecret sets the key that places the shown centers of privacy zones
// (see [Zone]). Give every index that shows the same members (every node of
// a cluster, and the index after a restart) the same secret of at least 16
// random bytes: with another secret a zone shows another center, and an
// observer who sees several centers of one zone can average them towards
// the zone's true center. The default is a random key made by New. New
// panics if key is shorter than 16 bytes.
func WithSecret(key []byte) Option {
	return func(c *config) {
		if len(key) < 16 {
			panic(fmt.Sprintf("spatial: WithSecret: %d bytes; at least 16 are needed", len(key)))
		}
		c.secret = append([]byte(nil), key...)
	}
}

// Privacy says how a member is shown to the others: what every decision
// another member can observe is taken on. The index searches, orders,
// measures, watches and fences members by their shown position only: who is
// in a [Index.Nearby] answer, in which order and at which distance, who
// enters and leaves a watch, and which fences a member is in, all follow
// from where it is shown, never from where it is. Only [Index.Get] returns
// the exact position, for the member's own use.
//
// In order, a member is: hidden (Hidden, or inside a zone with Hide: found
// by no query and in no watch); inside a zone: shown at the zone's shown
// center, which does not move while it stays inside; coarsened (Precision,
// or the index's [WithCoarsening]): shown at the center of its cell of a
// grid, which does not move while it stays in the cell; or else exact.
type Privacy struct {
	// Hidden hides the member: see [Index.SetHidden].
	Hidden bool `json:"hidden,omitempty"`
	// Precision, in meters, shows the member at the center of its cell of
	// a grid of about that size (see [Coarsen]), with an accuracy of at
	// least that size. The index's [WithCoarsening] is a floor: a member
	// cannot be shown more precisely. Zero shows it exactly (or with the
	// index's precision).
	//
	// The grid is fixed, the same for everyone, so a member standing still
	// shows one cell forever, whatever the noise of its device: it moves to
	// another cell only once it is a quarter of a cell beyond its own. What
	// an observer can learn is the cell, and when the member crosses from
	// one cell to the next, that it was near the edge between them then.
	Precision float64 `json:"precision,omitempty"`
	// Zones are the member's privacy zones (its home, say).
	Zones []Zone `json:"zones,omitempty"`
}

// Zone is a privacy zone of a member: while the member is inside, it is
// shown at the zone's shown center (or not at all, with Hide), a point that
// does not move while it stays inside, with an accuracy of the radius.
//
// The zone's edge is randomized, as the privacy zones of fitness apps are:
// the circle the index uses has the given radius, but its center is
// Center snapped to a grid of a quarter of the radius (so that a zone set
// again from a device's noisy fixes of one home shows one center) and then
// moved by up to a quarter of the radius, in a direction and by a distance
// that depend only on the index's secret ([WithSecret]) and that snapped
// point; that center is the zone's shown center. A member that leaves the
// zone shows where it crossed that circle, so an observer who sees many
// crossings can find the circle, and with it the shown center, but no more:
// Center is somewhere within about 0.43 of the radius of it, and every point
// within half the radius of Center is inside the zone.
type Zone struct {
	Center Point   `json:"center"`
	Radius float64 `json:"radius"` // meters, positive
	// Hide hides the member inside the zone instead of showing it at the
	// zone's shown center.
	Hide bool `json:"hide,omitempty"`
}

// Validate returns an error wrapping [ErrInvalidPrivacy] when pv cannot be
// used.
func (pv Privacy) Validate() error {
	if !finite(pv.Precision) || pv.Precision < 0 || (pv.Precision > 0 && pv.Precision < 1) {
		return fmt.Errorf("precision %v (0, or 1 m or more): %w", pv.Precision, ErrInvalidPrivacy)
	}
	for i, z := range pv.Zones {
		if err := z.Center.Validate(); err != nil {
			return fmt.Errorf("zone %d: %w: %w", i, ErrInvalidPrivacy, err)
		}
		if !finite(z.Radius) || z.Radius < 1 || z.Radius > EarthRadius {
			return fmt.Errorf("zone %d: radius %v: %w", i, z.Radius, ErrInvalidPrivacy)
		}
	}
	return nil
}

// privacy is a member's [Privacy], ready to show it: its zones with their
// randomized circles, and the cell it is shown in.
type privacy struct {
	given     Privacy // as set, its zones a copy
	hidden    bool
	replica   bool    // shown as placed: see Index.PlaceShown
	precision float64 // the member's own; the index's floor is applied when showing
	zones     []zone
	// cell is the grid cell the member is shown in, when coarsened
	// (cellOK), of the grid of cellMeters.
	cell       cell
	cellMeters float64
	cellOK     bool
}

// zone is a [Zone] in use: the circle the index tests, centered on the
// shown center.
type zone struct {
	shown  Point
	v      vec3
	radius float64
	hide   bool
}

// prepare checks pv and readies its zones with the index's secret.
func (x *Index[K]) prepare(pv Privacy) (*privacy, error) {
	if err := pv.Validate(); err != nil {
		return nil, err
	}
	pv.Zones = slices.Clone(pv.Zones)
	p := &privacy{given: pv, hidden: pv.Hidden, precision: pv.Precision}
	for _, z := range pv.Zones {
		c := x.zoneCenter(z)
		p.zones = append(p.zones, zone{shown: c, v: unit(c), radius: z.Radius, hide: z.Hide})
	}
	return p, nil
}

// zoneCenter returns the shown center of z: Center moved by up to a third
// of the radius, in a direction and by a distance drawn from an HMAC of the
// zone under the index's secret, uniformly over the disc.
func (x *Index[K]) zoneCenter(z Zone) Point {
	// The center is first snapped to a grid of a quarter of the radius, so
	// that a zone set again and again from a device's noisy fixes of one
	// home shows one center, not a cloud whose mean is the home.
	q := Coarsen(z.Center, z.Radius/4)
	m := hmac.New(sha256.New, x.secret)
	var b [24]byte
	binary.BigEndian.PutUint64(b[0:], math.Float64bits(q.Lat))
	binary.BigEndian.PutUint64(b[8:], math.Float64bits(q.Lng))
	binary.BigEndian.PutUint64(b[16:], math.Float64bits(z.Radius))
	m.Write(b[:])
	sum := m.Sum(nil)
	u1 := float64(binary.BigEndian.Uint64(sum[0:])>>11) / (1 << 53)
	u2 := float64(binary.BigEndian.Uint64(sum[8:])>>11) / (1 << 53)
	return travel(q, 2*math.Pi*u1, z.Radius/4*math.Sqrt(u2))
}

// travel returns the point d meters from p in the direction bearing
// (radians clockwise from north), on the sphere.
func travel(p Point, bearing, d float64) Point {
	delta := d / EarthRadius
	lat1, lng1 := p.Lat*degToRad, p.Lng*degToRad
	sLat1, cLat1 := math.Sincos(lat1)
	sD, cD := math.Sincos(delta)
	sB, cB := math.Sincos(bearing)
	sLat2 := math.Max(-1, math.Min(1, sLat1*cD+cLat1*sD*cB))
	lat2 := math.Asin(sLat2)
	lng2 := lng1 + math.Atan2(sB*sD*cLat1, cD-sLat1*sLat2)
	lng := math.Remainder(lng2/degToRad, 360)
	if lng == -180 {
		lng = 180
	}
	return Point{Lat: lat2 / degToRad, Lng: lng}
}

func newSecret() []byte {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // never fails (crypto/rand)
	return key
}

// grid is one precision's grid of [Coarsen]: rows of equal latitude height,
// and in each row cells of equal longitude width.
type grid struct {
	meters, rows, dLat float64
}

func newGrid(meters float64) grid {
	rows := math.Max(1, math.Floor(180*metersPerDegree/meters))
	return grid{meters: meters, rows: rows, dLat: 180 / rows}
}

// cell is a cell of a grid.
type cell struct {
	row, col float64
}

// cols returns the number of cells in row: a whole number of them around
// the globe, each at least meters wide at the row's middle latitude.
func (g grid) cols(row float64) float64 {
	lat := -90 + (row+0.5)*g.dLat
	return math.Max(1, math.Floor(360*metersPerDegree*math.Cos(lat*degToRad)/g.meters))
}

// fracRow returns p's row as a fraction: row r holds [r, r+1).
func (g grid) fracRow(p Point) float64 { return (p.Lat + 90) / g.dLat }

// fracCol returns p's column in a row of cols cells as a fraction in
// [0, cols): longitudes 180 and -180 are one meridian.
func fracCol(p Point, cols float64) float64 {
	c := (p.Lng + 180) / 360 * cols
	if c >= cols {
		c -= cols
	}
	return c
}

// at returns the cell that holds p.
func (g grid) at(p Point) cell {
	row := math.Min(math.Floor(g.fracRow(p)), g.rows-1)
	cols := g.cols(row)
	return cell{row: row, col: math.Min(math.Floor(fracCol(p, cols)), cols-1)}
}

// center returns the center of c.
func (g grid) center(c cell) Point {
	dLng := 360 / g.cols(c.row)
	return Point{Lat: -90 + (c.row+0.5)*g.dLat, Lng: -180 + (c.col+0.5)*dLng}
}

// holds reports whether p is within c widened by slack cells on every
// side: a member shown in c stays shown there until it is that far beyond.
func (g grid) holds(c cell, p Point, slack float64) bool {
	r := g.fracRow(p) - c.row
	if r < -slack || r > 1+slack {
		return false
	}
	cols := g.cols(c.row)
	d := fracCol(p, cols) - c.col
	// the shortest way around: d in [-cols/2, cols/2)
	if d >= cols/2 {
		d -= cols
	} else if d < -cols/2 {
		d += cols
	}
	return d >= -slack && d <= 1+slack
}

// hysteresis is how far beyond its cell, in cells, a coarsened member must
// go before it is shown in another: noise around an edge does not flip it.
const hysteresis = 0.25

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
	g := newGrid(meters)
	return g.center(g.at(p))
}

// show computes how e, placed at pos, is shown, and whether it is hidden,
// from its privacy. It keeps the cell e is shown in, so that a member on a
// cell's edge does not flip between cells. x.mu is held.
func (x *Index[K]) show(e *entry[K], pos Position) (Position, bool) {
	pv := e.priv
	if pv != nil && pv.replica { // shown by its owner already
		pv.cellOK = false
		return pos, pv.hidden
	}
	precision := x.coarsen
	if pv != nil {
		precision = math.Max(precision, pv.precision)
	}
	shown := pos
	if pv != nil {
		for _, z := range pv.zones {
			if chord2ToMeters(chord2(z.v, unit(pos.Point))) > z.radius {
				continue
			}
			pv.cellOK = false
			shown.Point = z.shown
			shown.Accuracy = math.Max(z.radius, precision) // nothing of the device's
			if precision > 0 {
				shown.Point = Coarsen(z.shown, precision)
			}
			return shown, pv.hidden || z.hide
		}
	}
	if precision > 0 {
		if pv == nil { // coarsened by the index: the cell is kept all the same
			pv = &privacy{}
			e.priv = pv
		}
		g := newGrid(precision)
		if !pv.cellOK || pv.cellMeters != precision || !g.holds(pv.cell, pos.Point, hysteresis) {
			pv.cell, pv.cellMeters, pv.cellOK = g.at(pos.Point), precision, true
		}
		shown.Point = g.center(pv.cell)
		shown.Accuracy = quantize(pos.Accuracy, precision)
		return shown, pv.hidden
	}
	if pv != nil {
		pv.cellOK = false
	}
	return shown, pv != nil && pv.hidden
}

// quantize rounds an accuracy up to a whole number of steps of precision
// meters, at least one: a device's changing accuracy reveals no more than
// the position does.
func quantize(accuracy, precision float64) float64 {
	if precision <= 0 {
		return accuracy
	}
	return precision * math.Max(1, math.Ceil(accuracy/precision))
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
// [Index.Place] to insert a member hidden. It changes only the Hidden of
// the member's [Privacy].
func (x *Index[K]) SetHidden(id K, hidden bool) bool {
	x.mu.Lock()
	e, ok := x.member(id)
	if !ok || (e.priv == nil && !hidden) || (e.priv != nil && e.priv.hidden == hidden) {
		x.mu.Unlock()
		return ok
	}
	p := &privacy{}
	if e.priv != nil {
		cp := *e.priv
		p = &cp
	}
	p.hidden, p.given.Hidden = hidden, hidden
	var evs []Event[K]
	x.put(id, e, e.pos, p, nil, &evs)
	x.unlockAndDeliver(evs)
	return true
}

// SetPrivacy changes how member id is shown (see [Privacy]), with the
// events of what others stop and start seeing of it, and of the fences it
// is shown in. A replica ([Index.PlaceShown]) becomes an ordinary member,
// shown from its position as pv and the index say, its position expiring
// by age ([WithMaxAge]). It returns an error wrapping [ErrNotFound] when id
// is not in the index and one wrapping [ErrInvalidPrivacy] when pv is
// invalid.
func (x *Index[K]) SetPrivacy(id K, pv Privacy) error {
	p, err := x.prepare(pv)
	if err != nil {
		return fmt.Errorf("spatial: set privacy: %w", err)
	}
	x.mu.Lock()
	e, ok := x.member(id)
	if !ok {
		x.mu.Unlock()
		return fmt.Errorf("spatial: set privacy: %w", ErrNotFound)
	}
	var evs []Event[K]
	x.put(id, e, e.pos, p, nil, &evs)
	x.unlockAndDeliver(evs)
	return nil
}

// samePrivacy reports whether a and b show a member alike.
func samePrivacy(a, b Privacy) bool {
	return a.Hidden == b.Hidden && a.Precision == b.Precision && slices.Equal(a.Zones, b.Zones)
}

// privacy returns e's Privacy.
func (e *entry[K]) privacy() Privacy {
	if e.priv == nil {
		return Privacy{}
	}
	return e.priv.given
}

// Privacy returns how member id is shown, as last set, and whether it is in
// the index.
func (x *Index[K]) Privacy(id K) (Privacy, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, ok := x.member(id)
	if !ok {
		return Privacy{}, false
	}
	return e.privacy(), true
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

// Hidden reports whether member id is hidden, by [Privacy.Hidden] or by a
// zone that hides it; false when it is not in the index.
func (x *Index[K]) Hidden(id K) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, ok := x.member(id)
	return ok && e.hidden
}

// Shown returns the position of member id as others see it (see
// [Privacy]), and whether they may: false when id is not in the index or
// is hidden.
func (x *Index[K]) Shown(id K) (Position, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, ok := x.member(id)
	if !ok || e.hidden {
		return Position{}, false
	}
	return e.shown(), true
}

// Placed returns where member id is placed, as it is or would be shown
// (see [Privacy]), also while it is hidden: the center of what it does
// that others may observe, such as a shout to those around it. ok is false
// when id is not in the index.
func (x *Index[K]) Placed(id K) (Position, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, ok := x.member(id)
	if !ok {
		return Position{}, false
	}
	return e.shown(), true
}
