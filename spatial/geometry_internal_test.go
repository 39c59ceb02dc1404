package spatial

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRectDistance checks the point-to-rectangle distance used to rank tree
// nodes against a dense sampling of the rectangle's boundary and inside.
func TestRectDistance(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		x0, x1 := rng.Float64()*360-180, rng.Float64()*360-180
		y0, y1 := rng.Float64()*180-90, rng.Float64()*180-90
		if i%2 == 0 { // small rectangles too
			x1 = math.Min(x0+rng.Float64()*5, 180)
			y1 = math.Min(y0+rng.Float64()*5, 90)
		}
		lo := [2]float64{math.Min(x0, x1), math.Min(y0, y1)}
		hi := [2]float64{math.Max(x0, x1), math.Max(y0, y1)}
		c := Point{Lat: rng.Float64()*180 - 90, Lng: rng.Float64()*360 - 180}
		lat, lng := c.Lat*degToRad, c.Lng*degToRad
		got := chord2ToMeters(math.Max(0, rectChord2(lat, lng, math.Sin(lat), math.Cos(lat), lo, hi)))

		const n = 60
		best := math.Inf(1)
		for a := 0; a <= n; a++ {
			for b := 0; b <= n; b++ {
				p := Point{
					Lat: lo[1] + (hi[1]-lo[1])*float64(a)/n,
					Lng: lo[0] + (hi[0]-lo[0])*float64(b)/n,
				}
				best = math.Min(best, Distance(c, p))
			}
		}
		require.LessOrEqual(t, got, best+1e-3, "lower bound: %v to %v..%v", c, lo, hi)
		// The sampling is coarse, so the exact value is somewhat below it.
		cell := math.Max(hi[0]-lo[0], hi[1]-lo[1]) / n * degToRad * EarthRadius
		require.GreaterOrEqual(t, got, best-2*cell-1, "tight: %v to %v..%v", c, lo, hi)
	}
}

// TestCircleBoxes checks that the boxes of a circle contain every point on
// and inside it.
func TestCircleBoxes(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		c := Point{Lat: rng.Float64()*180 - 90, Lng: rng.Float64()*360 - 180}
		if rng.IntN(4) == 0 {
			c.Lat = math.Copysign(89+rng.Float64(), c.Lat) // near a pole
		}
		if rng.IntN(4) == 0 {
			c.Lng = math.Copysign(179+rng.Float64(), c.Lng) // near the antimeridian
		}
		r := math.Pow(10, rng.Float64()*7.5) // 1 m .. 30,000 km
		boxes := circleBoxes(c, r)
		require.NotEmpty(t, boxes)
		for _, b := range boxes {
			require.LessOrEqual(t, b.min[0], b.max[0])
			require.LessOrEqual(t, b.min[1], b.max[1])
			require.GreaterOrEqual(t, b.min[0], -180.0)
			require.LessOrEqual(t, b.max[0], 180.0)
		}
		// Points on the circle (shrunk by a hair), by destination formula.
		for k := range 72 {
			p := destination(c, float64(k)*5, r*(1-1e-9))
			in := false
			for _, b := range boxes {
				if p.Lng >= b.min[0] && p.Lng <= b.max[0] && p.Lat >= b.min[1] && p.Lat <= b.max[1] {
					in = true
				}
			}
			assert.True(t, in, "circle %v r=%v bearing %d: %v outside %v", c, r, k*5, p, boxes)
		}
	}
}

// destination returns the point reached from p going d meters at bearing
// (degrees).
func destination(p Point, bearing, d float64) Point {
	lat1, lng1 := p.Lat*degToRad, p.Lng*degToRad
	th := bearing * degToRad
	delta := d / EarthRadius
	lat2 := math.Asin(math.Sin(lat1)*math.Cos(delta) + math.Cos(lat1)*math.Sin(delta)*math.Cos(th))
	lng2 := lng1 + math.Atan2(math.Sin(th)*math.Sin(delta)*math.Cos(lat1), math.Cos(delta)-math.Sin(lat1)*math.Sin(lat2))
	lng := math.Remainder(lng2*radToDeg, 360)
	return Point{Lat: lat2 * radToDeg, Lng: lng}
}
