package spatial_test

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/spatial"
)

// wrapLng brings a longitude back into [-180, 180].
func wrapLng(lng float64) float64 {
	return math.Remainder(lng, 360)
}

// world is a set of members and the index that holds them, for comparing
// queries against a brute-force scan.
type world struct {
	name    string
	index   *spatial.Index[int]
	members map[int]spatial.Point
	point   func(*rand.Rand) spatial.Point // a random point of this world
}

// cityPoint returns a point in a 20 km box around Berlin.
func cityPoint(rng *rand.Rand) spatial.Point {
	// 20 km is about 0.18° of latitude and 0.295° of longitude at 52.5°N.
	return spatial.Point{Lat: 52.43 + rng.Float64()*0.18, Lng: 13.26 + rng.Float64()*0.295}
}

// globePoint returns a point anywhere, uniformly on the sphere most of the
// time and near the poles or the antimeridian otherwise.
func globePoint(rng *rand.Rand) spatial.Point {
	p := spatial.Point{
		Lat: math.Asin(2*rng.Float64()-1) * 180 / math.Pi,
		Lng: rng.Float64()*360 - 180,
	}
	switch rng.IntN(8) {
	case 0:
		p.Lat = math.Copysign(88+2*rng.Float64(), p.Lat)
	case 1:
		p.Lng = wrapLng(180 + rng.NormFloat64())
	case 2: // exactly on the antimeridian, either spelling
		p.Lng = float64(1-2*rng.IntN(2)) * 180
	case 3:
		if rng.IntN(8) == 0 { // exactly at a pole
			p.Lat = float64(1-2*rng.IntN(2)) * 90
		}
	}
	return p
}

// antipodeOf returns the point opposite p, moved by up to nudge degrees
// in latitude and longitude.
func antipodeOf(rng *rand.Rand, p spatial.Point, nudge float64) spatial.Point {
	return spatial.Point{
		Lat: math.Max(-90, math.Min(90, -p.Lat+(2*rng.Float64()-1)*nudge)),
		Lng: wrapLng(p.Lng + 180 + (2*rng.Float64()-1)*nudge),
	}
}

// someMember returns the point of a member picked by rng (ids are below
// twice the members left).
func (w *world) someMember(rng *rand.Rand) spatial.Point {
	for {
		if p, ok := w.members[rng.IntN(len(w.members)*2)]; ok {
			return p
		}
	}
}

func newWorld(t *testing.T, name string, n int, point func(*rand.Rand) spatial.Point) *world {
	t.Helper()
	rng := rand.New(rand.NewPCG(42, uint64(n)))
	w := &world{name: name, index: spatial.New[int](), members: make(map[int]spatial.Point), point: point}
	for i := range n {
		p := point(rng)
		require.NoError(t, w.index.Set(i, spatial.Position{Point: p}))
		w.members[i] = p
	}
	// Move a tenth and remove a twentieth, so the tree has seen churn.
	for i := range n / 10 {
		p := point(rng)
		require.NoError(t, w.index.Set(i*7%n, spatial.Position{Point: p}))
		w.members[i*7%n] = p
	}
	for i := range n / 20 {
		id := (i*13 + 5) % n
		assert.Equal(t, w.index.Remove(id), w.hasMember(id))
		delete(w.members, id)
	}
	require.Equal(t, len(w.members), w.index.Len())
	return w
}

func (w *world) hasMember(id int) bool { _, ok := w.members[id]; return ok }

type scored struct {
	id int
	d  float64
}

// byDistance returns every member with its distance from c, nearest first.
func (w *world) byDistance(c spatial.Point) []scored {
	out := make([]scored, 0, len(w.members))
	for id, p := range w.members {
		out = append(out, scored{id, spatial.Distance(c, p)})
	}
	slices.SortFunc(out, func(a, b scored) int { return cmp.Compare(a.d, b.d) })
	return out
}

func worlds(t *testing.T) []*world {
	return []*world{
		newWorld(t, "city", 5000, cityPoint),
		newWorld(t, "globe", 5000, globePoint),
	}
}

// checkSorted compares hits with the brute-force answer want (sorted by
// distance): same distances in the same order and the same ids, allowing
// members at equal distance in either order.
func checkSorted(t *testing.T, want []scored, hits []spatial.Hit[int], msg string, args ...any) {
	t.Helper()
	m := append([]any{msg}, args...)
	require.Len(t, hits, len(want), m...)
	gotIDs, wantIDs := make([]int, len(hits)), make([]int, len(want))
	for i := range hits {
		require.Equal(t, want[i].d, hits[i].Distance, m...)
		gotIDs[i], wantIDs[i] = hits[i].ID, want[i].id
	}
	// Equal distances may come in another order; ids are unique.
	slices.Sort(gotIDs)
	slices.Sort(wantIDs)
	require.Equal(t, wantIDs, gotIDs, m...)
}

func TestPropertyNearby(t *testing.T) {
	t.Parallel()
	for _, w := range worlds(t) {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(7, 7))
			found := 0
			for range 300 {
				c := w.point(rng)
				radius := math.Pow(10, 1+rng.Float64()*4) // 10 m .. 100 km
				if w.name == "globe" {
					radius = math.Pow(10, 3+rng.Float64()*4.4) // 1 km .. 25,000 km
				}
				switch rng.IntN(8) {
				case 0: // from near a member's antipode, out to about that member
					c = antipodeOf(rng, w.someMember(rng), math.Pow(10, -8*rng.Float64()))
					radius = math.Pi*spatial.EarthRadius - radius/1000
				case 1: // a member exactly on the edge
					radius = spatial.Distance(c, w.someMember(rng))
				}
				limit := 0
				if rng.IntN(3) == 0 {
					limit = 1 + rng.IntN(20)
				}
				hits, err := w.index.Nearby(c, radius, limit)
				require.NoError(t, err)
				all := w.byDistance(c)
				n, _ := slices.BinarySearchFunc(all, radius, func(s scored, r float64) int {
					if s.d <= r {
						return -1
					}
					return 1
				})
				want := all[:n]
				if limit > 0 && len(want) > limit {
					// A tie across the cut could pick either; avoid it.
					if want[limit-1].d == want[limit].d {
						continue
					}
					want = want[:limit]
				}
				checkSorted(t, want, hits, "Nearby(%v, %v, %d)", c, radius, limit)
				found += len(want)
			}
			t.Logf("%d hits", found)
			assert.Greater(t, found, 1000, "the queries find members")
		})
	}
}

func TestPropertyNearest(t *testing.T) {
	t.Parallel()
	for _, w := range worlds(t) {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(8, 8))
			for range 300 {
				c := w.point(rng)
				if w.name == "globe" && rng.IntN(2) == 0 {
					c = globePoint(rng) // queries from anywhere
				}
				if rng.IntN(8) == 0 { // from a member's antipode: in the city, all are far
					c = antipodeOf(rng, w.someMember(rng), math.Pow(10, -8*rng.Float64()))
				}
				k := 1 + rng.IntN(50)
				hits, err := w.index.Nearest(c, k)
				require.NoError(t, err)
				all := w.byDistance(c)
				if k < len(all) && all[k-1].d == all[k].d {
					continue // a tie across the cut
				}
				checkSorted(t, all[:min(k, len(all))], hits, "Nearest(%v, %d)", c, k)
			}
		})
	}
}

func TestPropertyWithinBounds(t *testing.T) {
	t.Parallel()
	for _, w := range worlds(t) {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(9, 9))
			found := 0
			for range 300 {
				a, b := w.point(rng), w.point(rng)
				bounds := spatial.Bounds{
					South: min(a.Lat, b.Lat), North: max(a.Lat, b.Lat),
					West: a.Lng, East: b.Lng, // either order: West > East crosses
				}
				switch rng.IntN(6) { // edges on the antimeridian
				case 0:
					bounds.East = 180
				case 1:
					bounds.West = -180
				}
				switch rng.IntN(8) { // reaching a pole: its members at any longitude
				case 0:
					bounds.North = 90
				case 1:
					bounds.South = -90
				}
				hits, err := w.index.WithinBounds(bounds)
				require.NoError(t, err)
				var want []int
				for id, p := range w.members {
					if bounds.Contains(p) {
						want = append(want, id)
					}
				}
				assertSameIDs(t, want, hits, "WithinBounds(%+v)", bounds)
				found += len(want)
			}
			t.Logf("%d hits", found)
			assert.Greater(t, found, 1000, "the queries find members")
		})
	}
}

// starPolygon returns a simple polygon around c: vertices at increasing
// angles with random radii (degrees), so it is star-shaped and usually
// concave. Longitudes wrap, so polygons near the antimeridian cross it.
func starPolygon(rng *rand.Rand, c spatial.Point, size float64) spatial.Polygon {
	n := 3 + rng.IntN(12)
	poly := make(spatial.Polygon, n)
	for i := range poly {
		angle := (float64(i) + rng.Float64()*0.9) / float64(n) * 2 * math.Pi
		r := size * (0.2 + rng.Float64())
		lat := math.Max(-90, math.Min(90, c.Lat+r*math.Sin(angle)))
		poly[i] = spatial.Point{Lat: lat, Lng: wrapLng(c.Lng + r*math.Cos(angle))}
	}
	return poly
}

func TestPropertyWithinPolygon(t *testing.T) {
	t.Parallel()
	for _, w := range worlds(t) {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(10, 10))
			size := 0.05
			if w.name == "globe" {
				size = 20
			}
			found := 0
			for range 300 {
				c := w.point(rng)
				if w.name == "globe" {
					c.Lat = math.Max(-60, math.Min(60, c.Lat)) // not around a pole
					if rng.IntN(4) == 0 {
						// Near a pole, not around it: vertices beyond it
						// are clamped to it, so the polygon reaches it.
						c.Lat = math.Copysign(75+15*rng.Float64(), c.Lat)
					}
				}
				poly := starPolygon(rng, c, size*rng.Float64())
				hits, err := w.index.WithinPolygon(poly)
				require.NoError(t, err, "%v", poly)
				var want []int
				for id, p := range w.members {
					if poly.Contains(p) {
						want = append(want, id)
					}
				}
				assertSameIDs(t, want, hits, "WithinPolygon(%v)", poly)
				found += len(want)
			}
			t.Logf("%d hits", found)
			assert.Greater(t, found, 1000, "the queries find members")
		})
	}
}

// assertSameIDs checks that hits hold exactly the ids in want, in any order
// (sorting first: testify's ElementsMatch is quadratic).
func assertSameIDs(t *testing.T, want []int, hits []spatial.Hit[int], msg string, args ...any) {
	t.Helper()
	got := ids(hits)
	slices.Sort(got)
	slices.Sort(want)
	if len(want) == 0 {
		want = []int{}
	}
	assert.Equal(t, want, got, append([]any{msg}, args...)...)
}
