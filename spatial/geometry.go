package spatial

import (
	"errors"
	"fmt"
	"math"
)

// EarthRadius is the mean radius of the Earth in meters (IUGG R1), the
// radius of the sphere on which every distance in this package is measured.
const EarthRadius = 6_371_008.8

// Sentinel errors. Errors returned by this package wrap one of them with
// detail; test with [errors.Is].
var (
	// ErrInvalidPoint reports a coordinate that is not finite or is out of
	// range: latitude outside [-90, 90] or longitude outside [-180, 180].
	ErrInvalidPoint = errors.New("spatial: invalid coordinate")
	// ErrInvalidAccuracy reports a position accuracy that is negative or not
	// finite.
	ErrInvalidAccuracy = errors.New("spatial: invalid accuracy")
	// ErrInvalidRadius reports a search radius that is negative or not finite.
	ErrInvalidRadius = errors.New("spatial: invalid radius")
	// ErrInvalidBounds reports a [Bounds] with an invalid corner or with
	// South greater than North.
	ErrInvalidBounds = errors.New("spatial: invalid bounds")
	// ErrInvalidPolygon reports a [Polygon] with fewer than three vertices,
	// an invalid vertex, or one that winds around a pole.
	ErrInvalidPolygon = errors.New("spatial: invalid polygon")
)

const (
	degToRad = math.Pi / 180
	radToDeg = 180 / math.Pi
)

// Point is a location in degrees on the WGS84 datum: Lat in [-90, 90]
// (north positive), Lng in [-180, 180] (east positive). The zero Point is
// valid: the intersection of the equator and the prime meridian.
type Point struct {
	Lat float64 `json:"lat"`
	Lng float64 `json:"lng"`
}

// Validate reports whether p is a usable coordinate. It returns an error
// wrapping [ErrInvalidPoint] when a component is NaN or infinite, when Lat
// is outside [-90, 90], or when Lng is outside [-180, 180].
func (p Point) Validate() error {
	switch {
	case math.IsNaN(p.Lat) || math.IsInf(p.Lat, 0):
		return fmt.Errorf("latitude %v is not finite: %w", p.Lat, ErrInvalidPoint)
	case math.IsNaN(p.Lng) || math.IsInf(p.Lng, 0):
		return fmt.Errorf("longitude %v is not finite: %w", p.Lng, ErrInvalidPoint)
	case p.Lat < -90 || p.Lat > 90:
		return fmt.Errorf("latitude %v outside [-90, 90]: %w", p.Lat, ErrInvalidPoint)
	case p.Lng < -180 || p.Lng > 180:
		return fmt.Errorf("longitude %v outside [-180, 180]: %w", p.Lng, ErrInvalidPoint)
	}
	return nil
}

// Distance returns the great-circle distance between a and b in meters on
// a sphere of radius [EarthRadius]. It is accurate to about 0.5% against the
// WGS84 ellipsoid, and to well under a millimeter against the sphere at any
// distance, antipodes included (a few nanometers). Both points should be
// valid (see [Point.Validate]); the result for invalid points is
// unspecified but Distance never panics.
func Distance(a, b Point) float64 {
	return chord2ToMeters(chord2(unit(a), unit(b)))
}

// vec3 is a point on the unit sphere in Earth-centered coordinates. Members
// keep theirs, so that a distance costs no trigonometry: chord2 of two unit
// vectors orders pairs exactly as their great-circle distance does, and
// converts to it with one asin (the haversine formula in another form).
type vec3 [3]float64

func unit(p Point) vec3 {
	sLat, cLat := math.Sincos(p.Lat * degToRad)
	sLng, cLng := math.Sincos(p.Lng * degToRad)
	return vec3{cLat * cLng, cLat * sLng, sLat}
}

// chord2 returns the distance key of two unit vectors: their squared
// chord, in [0, 2], up to a quarter of a great circle apart (10,007 km);
// beyond, 4 over the squared chord from a to the antipode of b, in (2,
// +Inf], +Inf for exact antipodes. The key grows with the great-circle
// distance, and chord2ToMeters converts it back; it is compared only with
// keys from chord2, metersToChord2, screenChord2 and rectChord2.
//
// Near the antipode a squared chord is close to 4, where one float64 step
// is 0.2 m of distance and asin is ill-conditioned: converting it would be
// off by up to 0.27 m. The chord to the antipode is small there instead,
// and keeps every bit. A short distance, the common case, costs one
// compare more than the squared chord.
func chord2(a, b vec3) (k float64) {
	dx, dy, dz := a[0]-b[0], a[1]-b[1], a[2]-b[2]
	if k = dx*dx + dy*dy + dz*dz; k <= 2 {
		return k
	}
	// The loop keeps chord2 within the inlining budget (its cost is 78 of
	// 80): the hot paths call it for every candidate.
	k = 0
	for i := range a {
		s := a[i] + b[i]
		k += s * s
	}
	return 4 / k
}

// chord2ToMeters converts a distance key (see chord2) to the great-circle
// distance in meters. Both forms are well-conditioned: asin is taken of at
// most sqrt(2)/2.
func chord2ToMeters(k float64) float64 {
	if k <= 2 {
		return 2 * EarthRadius * math.Asin(math.Sqrt(k)/2)
	}
	// 1/sqrt(k) is half the chord from a to -b, so -b is 2R*asin of it
	// away, and b half the circumference less that.
	return EarthRadius * (math.Pi - 2*math.Asin(1/math.Sqrt(k)))
}

// metersToChord2 converts a great-circle distance in meters to a distance
// key (see chord2); distances of half the circumference or more give +Inf.
func metersToChord2(d float64) float64 {
	delta := d / EarthRadius
	switch {
	case delta >= math.Pi:
		return math.Inf(1)
	case delta <= math.Pi/2:
		c := 2 * math.Sin(delta/2)
		return c * c
	}
	s := 2 * math.Sin((math.Pi-delta)/2) // the chord to the antipode
	return 4 / (s * s)
}

// screenChord2 is the distance key a candidate is screened with for a
// radius of meters: the key of a micrometer more than the radius, so that
// rounding (nanometers, see chord2) never drops a member exactly on the
// edge before its distance decides.
func screenChord2(meters float64) float64 {
	return metersToChord2(meters + 1e-6)
}

// finite reports whether v is neither NaN nor infinite.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// xy maps a point to the R-tree's plane: x is the longitude, y the latitude,
// both in degrees. It is the only place that knows the axis order.
func xy(p Point) [2]float64 { return [2]float64{p.Lng, p.Lat} }

// withAliases adds to bs, boxes that all share one latitude range, a line
// box on the meridian -180 when they reach 180 but not -180, or the other
// way around: members stored at either longitude are at the same place.
// No member is matched by two boxes.
func withAliases(bs []box) []box {
	var west, east bool
	for _, b := range bs {
		west = west || b.min[0] == -180
		east = east || b.max[0] == 180
	}
	lo, hi := bs[0].min[1], bs[0].max[1]
	switch {
	case east && !west:
		bs = append(bs, box{[2]float64{-180, lo}, [2]float64{-180, hi}})
	case west && !east:
		bs = append(bs, box{[2]float64{180, lo}, [2]float64{180, hi}})
	}
	return bs
}

// atPoles keeps bs, boxes that all share one latitude range, off the
// poles, and adds for each pole that the range reaches a line box at that
// latitude spanning every longitude: all the longitudes of a pole name one
// place, and a member there is stored at whatever longitude it was given.
// A box left empty (a range at a pole only) is dropped. No member is
// matched by two boxes.
func atPoles(bs []box) []box {
	south, north := bs[0].min[1], bs[0].max[1]
	if south > -90 && north < 90 {
		return bs
	}
	lo, hi := south, north
	if south == -90 {
		lo = math.Nextafter(-90, 0)
	}
	if north == 90 {
		hi = math.Nextafter(90, 0)
	}
	out := make([]box, 0, len(bs)+2)
	if lo <= hi {
		for _, b := range bs {
			b.min[1], b.max[1] = lo, hi
			out = append(out, b)
		}
	}
	if south == -90 {
		out = append(out, box{[2]float64{-180, -90}, [2]float64{180, -90}})
	}
	if north == 90 {
		out = append(out, box{[2]float64{-180, 90}, [2]float64{180, 90}})
	}
	return out
}

// box is an axis-aligned rectangle in the R-tree's plane (x=lng, y=lat) that
// never crosses the antimeridian: min[0] <= max[0], both in [-180, 180].
type box struct{ min, max [2]float64 }

// circleBoxes returns the one or two boxes that together cover every point
// within radius meters of c. A box that would cross the antimeridian is split
// in two; a circle that covers a pole gets one box spanning all longitudes
// from the pole down to its lowest latitude.
func circleBoxes(c Point, radius float64) []box {
	delta := radius / EarthRadius // angular radius
	if delta >= math.Pi {
		return []box{{[2]float64{-180, -90}, [2]float64{180, 90}}}
	}
	// The boxes are padded by a hair (well under a millimeter) so that
	// rounding never drops a member the exact distance test would keep.
	d := delta*radToDeg*(1+1e-9) + 1e-9
	south, north := c.Lat-d, c.Lat+d
	if north >= 90 || south <= -90 {
		return []box{{[2]float64{-180, math.Max(south, -90)}, [2]float64{180, math.Min(north, 90)}}}
	}
	// The widest longitude reached by the circle, at latitude
	// asin(sin(lat)/cos(delta)).
	s := math.Sin(delta) / math.Cos(c.Lat*degToRad)
	if s >= 1 {
		return []box{{[2]float64{-180, south}, [2]float64{180, north}}}
	}
	dLng := math.Asin(s)*radToDeg*(1+1e-9) + 1e-9
	west, east := c.Lng-dLng, c.Lng+dLng
	switch {
	case east-west >= 360:
		return []box{{[2]float64{-180, south}, [2]float64{180, north}}}
	case west < -180:
		return []box{
			{[2]float64{-180, south}, [2]float64{east, north}},
			{[2]float64{west + 360, south}, [2]float64{180, north}},
		}
	case east > 180:
		return []box{
			{[2]float64{west, south}, [2]float64{180, north}},
			{[2]float64{-180, south}, [2]float64{east - 360, north}},
		}
	}
	return withAliases([]box{{[2]float64{west, south}, [2]float64{east, north}}})
}

// rectChord2 returns a lower bound of the distance key (see chord2)
// between the center of a query (latitude lat and longitude lng in
// radians, sinLat and cosLat of lat) and the nearest point of the lat/lng
// rectangle min..max (degrees, x=lng, y=lat, not crossing the
// antimeridian). It is exact up to rounding, minus a small margin, so that
// a best-first nearest-neighbour search that ranks nodes by it and items by
// their exact key is exact.
func rectChord2(lat, lng, sinLat, cosLat float64, min, max [2]float64) float64 {
	var c2, s2 float64 // squared chords to the nearest point and to its antipode
	if lngDeg := lng * radToDeg; lngDeg >= min[0] && lngDeg <= max[0] {
		// The nearest point is on our own meridian.
		var dLat float64
		if latDeg := lat * radToDeg; latDeg > max[1] {
			dLat = (latDeg - max[1]) * degToRad
		} else if latDeg < min[1] {
			dLat = (min[1] - latDeg) * degToRad
		}
		s, c := math.Sincos(dLat / 2)
		c2, s2 = 4*s*s, 4*c*c
	} else {
		// The longitude is outside the rectangle: the nearest point is on
		// one of its two meridian edges (along a parallel the distance
		// grows with the longitude difference, so the nearest point of a
		// latitude edge is a corner). The cosine of the angle to the
		// nearest point is the largest dot product.
		sLo, cLo := math.Sincos(min[1] * degToRad)
		sHi, cHi := math.Sincos(max[1] * degToRad)
		dot := math.Max(
			meridianDot(sinLat, cosLat, math.Cos(lng-min[0]*degToRad), sLo, cLo, sHi, cHi),
			meridianDot(sinLat, cosLat, math.Cos(lng-max[0]*degToRad), sLo, cLo, sHi, cHi),
		)
		c2, s2 = 2-2*dot, 2+2*dot
	}
	// The dot-product form loses about 1e-16 absolutely; the margins keep
	// the bound below every item inside the rectangle.
	if c2 <= 2 {
		return c2*(1-1e-9) - 1e-14
	}
	return 4 / (s2*(1+1e-9) + 1e-14)
}

// meridianDot returns the largest dot product between the query center
// (sinLat, cosLat) and a point of a meridian segment whose longitude
// differs from the center's by an angle with cosine cosD, between
// latitudes with sines and cosines (sLo, cLo) and (sHi, cHi).
func meridianDot(sinLat, cosLat, cosD, sLo, cLo, sHi, cHi float64) float64 {
	if cosD <= 0 {
		// The meridian is on the far hemisphere: the dot product along it
		// has its minimum inside, so the best is an end.
		return math.Max(sinLat*sLo+cosLat*cLo*cosD, sinLat*sHi+cosLat*cHi*cosD)
	}
	// Along the meridian the dot product has one maximum, at
	// tan(t) = tan(lat)/cos(dLng); clamping it to the segment gives the
	// segment's best. Sines order latitudes.
	n := math.Hypot(sinLat, cosLat*cosD)
	st, ct := sinLat/n, cosLat*cosD/n
	if n == 0 || st < sLo {
		st, ct = sLo, cLo
	} else if st > sHi {
		st, ct = sHi, cHi
	}
	return sinLat*st + cosLat*ct*cosD
}

// Bounds is a latitude/longitude rectangle in degrees. West > East means the
// rectangle crosses the antimeridian: it covers longitudes West..180 and
// -180..East. Edges are inclusive. Bounds{-90, -180, 90, 180} is the whole
// globe.
//
// Bounds that reach a pole (North 90, or South -90) contain every point at
// that pole, whatever its longitude and whatever West and East are: every
// longitude of a pole names the same place.
type Bounds struct {
	South float64 `json:"south"`
	West  float64 `json:"west"`
	North float64 `json:"north"`
	East  float64 `json:"east"`
}

// Validate returns an error wrapping [ErrInvalidBounds] when a corner is not
// a valid point or South is greater than North.
func (b Bounds) Validate() error {
	if err := (Point{b.South, b.West}).Validate(); err != nil {
		return fmt.Errorf("south-west corner: %w: %w", ErrInvalidBounds, err)
	}
	if err := (Point{b.North, b.East}).Validate(); err != nil {
		return fmt.Errorf("north-east corner: %w: %w", ErrInvalidBounds, err)
	}
	if b.South > b.North {
		return fmt.Errorf("south %v above north %v: %w", b.South, b.North, ErrInvalidBounds)
	}
	return nil
}

// Contains reports whether p lies in b, edges included; a point at a pole
// lies in b when b reaches that pole. It is false when b or p is invalid.
func (b Bounds) Contains(p Point) bool {
	if b.Validate() != nil || p.Validate() != nil {
		return false
	}
	return b.contains(p)
}

func (b Bounds) contains(p Point) bool {
	if p.Lat < b.South || p.Lat > b.North {
		return false
	}
	if p.Lat == 90 || p.Lat == -90 {
		return true // b reaches the pole, which is at every longitude
	}
	in := func(lng float64) bool {
		if b.West <= b.East {
			return lng >= b.West && lng <= b.East
		}
		return lng >= b.West || lng <= b.East
	}
	// Longitudes 180 and -180 are the same meridian.
	return in(p.Lng) || (p.Lng == -180 && in(180)) || (p.Lng == 180 && in(-180))
}

// boxes returns the R-tree boxes of a valid b.
func (b Bounds) boxes() []box {
	if b.West <= b.East {
		return atPoles(withAliases([]box{{[2]float64{b.West, b.South}, [2]float64{b.East, b.North}}}))
	}
	return atPoles([]box{
		{[2]float64{b.West, b.South}, [2]float64{180, b.North}},
		{[2]float64{-180, b.South}, [2]float64{b.East, b.North}},
	})
}

// Polygon is a simple polygon given by its vertices in order (either
// winding), in degrees; the last vertex connects back to the first, so do
// not repeat it. Edges are straight lines in the lat/lng plane (not great
// circles).
//
// Each edge takes the short way around in longitude: an edge whose ends
// differ by more than 180° of longitude crosses the antimeridian. The
// polygon is unwrapped accordingly, so a polygon spanning the antimeridian
// (for example Fiji's) works as expected. A polygon that winds around a pole
// is refused with [ErrInvalidPolygon]; query such areas with
// [Index.WithinBounds] or [Index.Nearby].
//
// A polygon contains a pole when one of its vertices is at that pole
// (latitude 90 or -90); every point at the pole is then inside, whatever
// its longitude, since every longitude of a pole names the same place, and
// no point at the pole is inside any other polygon. Vertices at a pole keep
// their longitudes, which shape the polygon: in the lat/lng plane an edge
// between two of them runs along the pole, so {80, 0}, {80, 90}, {90, 90},
// {90, 0} is the wedge between the meridians 0 and 90 north of latitude 80.
// This overrides the rule for points on an edge (see [Polygon.Contains]):
// two polygons that meet at a pole both contain it.
type Polygon []Point

// Validate returns an error wrapping [ErrInvalidPolygon] when p has fewer
// than three vertices, a vertex that is not a valid point, or winds around
// a pole.
func (poly Polygon) Validate() error {
	_, err := poly.prepare()
	return err
}

// Contains reports whether p lies inside the polygon, by ray casting in the
// unwrapped lng/lat plane. A point exactly on an edge is decided
// consistently but arbitrarily: for an axis-aligned rectangle, points on
// the south and west edges are inside and points on the north and east
// edges are outside. A point at a pole is inside when a vertex is at that
// pole (see [Polygon]). It is false when poly or p is invalid.
func (poly Polygon) Contains(p Point) bool {
	pp, err := poly.prepare()
	if err != nil || p.Validate() != nil {
		return false
	}
	return pp.contains(p)
}

// preparedPolygon is a validated polygon with unwrapped longitudes
// (xs may leave [-180, 180] by less than 360°) and its bounding box.
type preparedPolygon struct {
	xs, ys     []float64
	minX, maxX float64
	minY, maxY float64
}

func (poly Polygon) prepare() (*preparedPolygon, error) {
	if len(poly) < 3 {
		return nil, fmt.Errorf("%d vertices, need at least 3: %w", len(poly), ErrInvalidPolygon)
	}
	pp := &preparedPolygon{
		xs: make([]float64, len(poly)),
		ys: make([]float64, len(poly)),
	}
	for i, v := range poly {
		if err := v.Validate(); err != nil {
			return nil, fmt.Errorf("vertex %d: %w: %w", i, ErrInvalidPolygon, err)
		}
		x := v.Lng
		if i > 0 {
			prev := pp.xs[i-1]
			for x-prev > 180 {
				x -= 360
			}
			for x-prev < -180 {
				x += 360
			}
		}
		pp.xs[i], pp.ys[i] = x, v.Lat
	}
	// Closing the ring must bring the longitude back to where it started;
	// if it is a full turn away, the ring winds around a pole.
	last, first := pp.xs[len(poly)-1], pp.xs[0]
	closing := first - last
	for closing > 180 {
		closing -= 360
	}
	for closing < -180 {
		closing += 360
	}
	if math.Abs(last+closing-first) > 1e-9 {
		return nil, fmt.Errorf("winds around a pole: %w", ErrInvalidPolygon)
	}
	pp.minX, pp.maxX = pp.xs[0], pp.xs[0]
	pp.minY, pp.maxY = pp.ys[0], pp.ys[0]
	for i := range pp.xs {
		pp.minX, pp.maxX = math.Min(pp.minX, pp.xs[i]), math.Max(pp.maxX, pp.xs[i])
		pp.minY, pp.maxY = math.Min(pp.minY, pp.ys[i]), math.Max(pp.maxY, pp.ys[i])
	}
	if pp.maxX-pp.minX >= 360 {
		return nil, fmt.Errorf("spans %v° of longitude: %w", pp.maxX-pp.minX, ErrInvalidPolygon)
	}
	return pp, nil
}

// boxes returns the R-tree boxes covering the polygon: one or two, and a
// line box at each pole it reaches.
func (pp *preparedPolygon) boxes() []box {
	switch {
	case pp.minX < -180:
		return atPoles([]box{
			{[2]float64{pp.minX + 360, pp.minY}, [2]float64{180, pp.maxY}},
			{[2]float64{-180, pp.minY}, [2]float64{math.Min(pp.maxX, 180), pp.maxY}},
		})
	case pp.maxX > 180:
		return atPoles([]box{
			{[2]float64{math.Max(pp.minX, -180), pp.minY}, [2]float64{180, pp.maxY}},
			{[2]float64{-180, pp.minY}, [2]float64{pp.maxX - 360, pp.maxY}},
		})
	}
	return atPoles(withAliases([]box{{[2]float64{pp.minX, pp.minY}, [2]float64{pp.maxX, pp.maxY}}}))
}

// contains tests a valid point. A point at a pole is inside when a vertex
// is at that pole; any other point's longitude is tried at each 360° shift
// that falls inside the unwrapped bounding box.
func (pp *preparedPolygon) contains(p Point) bool {
	if p.Lat < pp.minY || p.Lat > pp.maxY {
		return false
	}
	if p.Lat == 90 || p.Lat == -90 {
		return true // a vertex is at the pole
	}
	for _, x := range [3]float64{p.Lng - 360, p.Lng, p.Lng + 360} {
		if x >= pp.minX && x <= pp.maxX && pp.crossings(x, p.Lat) {
			return true
		}
	}
	return false
}

// crossings reports whether a ray from (x, y) towards +x crosses the ring
// an odd number of times.
func (pp *preparedPolygon) crossings(x, y float64) bool {
	in := false
	n := len(pp.xs)
	for i, j := 0, n-1; i < n; j, i = i, i+1 {
		xi, yi, xj, yj := pp.xs[i], pp.ys[i], pp.xs[j], pp.ys[j]
		if (yi > y) != (yj > y) && x < (xj-xi)*(y-yi)/(yj-yi)+xi {
			in = !in
		}
	}
	return in
}
