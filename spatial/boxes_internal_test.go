package spatial

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// edgyLat returns a latitude, often exactly at a pole or a hair from one.
func edgyLat(rng *rand.Rand) float64 {
	switch rng.IntN(6) {
	case 0:
		return float64(1-2*rng.IntN(2)) * 90
	case 1:
		return math.Nextafter(float64(1-2*rng.IntN(2))*90, 0)
	case 2:
		return math.Copysign(85+5*rng.Float64(), rng.Float64()-0.5)
	}
	return rng.Float64()*180 - 90
}

// edgyLng returns a longitude, often exactly on the antimeridian.
func edgyLng(rng *rand.Rand) float64 {
	if rng.IntN(4) == 0 {
		return float64(1-2*rng.IntN(2)) * 180
	}
	return rng.Float64()*360 - 180
}

// randomPolygon returns a polygon of 3 to 6 vertices within 20° of
// latitude and 40° of longitude of a point, often at a pole or on the
// antimeridian; it may be invalid.
func randomPolygon(rng *rand.Rand) Polygon {
	poly := make(Polygon, 3+rng.IntN(4))
	c := Point{Lat: edgyLat(rng), Lng: edgyLng(rng)}
	for i := range poly {
		poly[i] = Point{
			Lat: math.Max(-90, math.Min(90, c.Lat+(2*rng.Float64()-1)*20)),
			Lng: math.Remainder(c.Lng+(2*rng.Float64()-1)*40, 360),
		}
	}
	return poly
}

// matches counts the boxes that hold the point a member at p is stored at.
func matches(bs []box, p Point) int {
	at, n := xy(p), 0
	for _, b := range bs {
		if at[0] >= b.min[0] && at[0] <= b.max[0] && at[1] >= b.min[1] && at[1] <= b.max[1] {
			n++
		}
	}
	return n
}

// TestBoxesMatchOnce checks the R-tree boxes of each kind of query: a
// member inside is matched by exactly one box, wherever it is stored
// (at a pole, at any longitude; on the antimeridian, at 180 or -180), so
// that no query returns a member twice; and bounds' boxes hold exactly
// the members inside.
func TestBoxesMatchOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		query func(rng *rand.Rand) (boxes []box, contains func(Point) bool, exact bool)
	}{
		{"bounds", func(rng *rand.Rand) ([]box, func(Point) bool, bool) {
			a, b := edgyLat(rng), edgyLat(rng)
			bd := Bounds{South: math.Min(a, b), West: edgyLng(rng), North: math.Max(a, b), East: edgyLng(rng)}
			return bd.boxes(), bd.contains, true
		}},
		{"polygon", func(rng *rand.Rand) ([]box, func(Point) bool, bool) {
			pp, err := randomPolygon(rng).prepare()
			if err != nil {
				return nil, func(Point) bool { return false }, false
			}
			return pp.boxes(), pp.contains, false
		}},
		{"circle", func(rng *rand.Rand) ([]box, func(Point) bool, bool) {
			c := Point{Lat: edgyLat(rng), Lng: edgyLng(rng)}
			r := math.Pow(10, 2+rng.Float64()*5.3)
			cv := unit(c)
			return circleBoxes(c, r), func(p Point) bool { return chord2ToMeters(chord2(cv, unit(p))) <= r }, false
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(21, uint64(i)))
			inside := 0
			for range 3000 {
				bs, contains, exact := tt.query(rng)
				for range 30 {
					p := Point{Lat: edgyLat(rng), Lng: edgyLng(rng)}
					n, in := matches(bs, p), contains(p)
					require.LessOrEqual(t, n, 1, "%v in %v", p, bs)
					if in {
						inside++
						require.Equal(t, 1, n, "%v inside but not in %v", p, bs)
					} else if exact {
						require.Zero(t, n, "%v outside but in %v", p, bs)
					}
				}
			}
			t.Logf("%d inside", inside)
			assert.Greater(t, inside, 1000, "points inside")
		})
	}
}
