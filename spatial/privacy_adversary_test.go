package spatial_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/spatial"
)

// An observer that controls its own position and queries freely learns, of
// a coarsened member, the center of its cell and nothing more: the answers
// to its queries are the same wherever the member is in the cell.

// radiusSearch plays an observer at o that binary-searches the smallest
// Nearby radius that finds the member: the distance its queries reveal.
func radiusSearch(t *testing.T, x *spatial.Index[string], o spatial.Point, member string) float64 {
	t.Helper()
	lo, hi := 0.0, 20_000.0
	for range 64 {
		mid := (lo + hi) / 2
		hits, err := x.Nearby(o, mid, 0)
		require.NoError(t, err)
		found := false
		for _, h := range hits {
			found = found || h.ID == member
		}
		if found {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// watchWalk plays an observer with a watch of radius meters that walks
// north towards the member from far south of o, binary-searching where the
// member enters its watch: the distance walked reveals where the member is
// decided to be.
func watchWalk(t *testing.T, x *spatial.Index[string], o, target spatial.Point, member string, radius float64) float64 {
	t.Helper()
	const obs = "observer"
	at := func(walked float64) bool {
		p := spatial.Point{Lat: o.Lat + walked/metersPerDegree, Lng: o.Lng}
		require.NoError(t, x.Set(obs, spatial.Position{Point: p}))
		if _, ok := x.Watching(obs); !ok {
			require.NoError(t, x.Watch(obs, radius))
		}
		in, _ := x.Watching(obs)
		for _, m := range in {
			if m == member {
				return true
			}
		}
		return false
	}
	lo, hi := 0.0, (target.Lat-o.Lat)*metersPerDegree // o is south of target
	require.False(t, at(lo))
	require.True(t, at(hi))
	for range 64 {
		mid := (lo + hi) / 2
		if at(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	x.Remove(obs)
	return hi
}

// inCell returns n points of the cell that holds c at precision meters,
// spread over it (its corners' neighbourhoods included).
func inCell(rng *rand.Rand, c spatial.Point, meters float64, n int) []spatial.Point {
	center := spatial.Coarsen(c, meters)
	var out []spatial.Point
	for len(out) < n {
		p := spatial.Point{
			Lat: center.Lat + (rng.Float64()-0.5)*1.2*meters/metersPerDegree,
			Lng: center.Lng + (rng.Float64()-0.5)*1.2*meters/metersPerDegree/math.Cos(center.Lat*math.Pi/180),
		}
		if spatial.Coarsen(p, meters) == center {
			out = append(out, p)
		}
	}
	return out
}

func TestAdversaryCoarsened(t *testing.T) {
	t.Parallel()
	const cell = 100.0
	rng := rand.New(rand.NewPCG(11, 1))
	home := spatial.Point{Lat: 52.52, Lng: 13.405}
	center := spatial.Coarsen(home, cell)
	observers := []spatial.Point{
		{Lat: 52.51, Lng: 13.40}, {Lat: 52.53, Lng: 13.39}, {Lat: 52.52, Lng: 13.42},
	}
	var worst float64
	first := map[string][]float64{} // by how: the observer is coarsened too with the index's
	for _, p := range inCell(rng, home, cell, 12) {
		for _, how := range []string{"index", "member"} {
			var x *spatial.Index[string]
			if how == "index" {
				x = spatial.New[string](spatial.WithCoarsening(cell))
				require.NoError(t, x.Set("m", spatial.Position{Point: p, Accuracy: 7}))
			} else {
				x = spatial.New[string]()
				_, err := x.Place("m", spatial.Position{Point: p, Accuracy: 7}, spatial.Privacy{Precision: cell})
				require.NoError(t, err)
			}
			var seen []float64
			for _, o := range observers {
				seen = append(seen, radiusSearch(t, x, o, "m"))
				seen = append(seen, watchWalk(t, x, spatial.Point{Lat: o.Lat - 0.05, Lng: center.Lng}, center, "m", 1000))
			}
			hits, err := x.Nearby(observers[0], 5000, 0)
			require.NoError(t, err)
			require.Len(t, hits, 1)
			seen = append(seen, hits[0].Position.Lat, hits[0].Position.Lng, hits[0].Position.Accuracy, hits[0].Distance)
			if first[how] == nil {
				first[how] = seen
			}
			assert.Equal(t, first[how], seen, "every answer is the same wherever the member is in its cell (%v, %s)", p, how)
			// What the answers reveal is the cell's center.
			assert.InDelta(t, spatial.Distance(observers[0], center), seen[0], 1e-6)
			assert.Equal(t, center, hits[0].Position.Point)
			assert.Equal(t, cell, hits[0].Position.Accuracy, "the device's accuracy is rounded up to the cell")
		}
		worst = math.Max(worst, spatial.Distance(p, center))
	}
	assert.Greater(t, worst, cell/2, "so the best estimate is off by at least half a cell for some member")
}

// Order and limit follow the shown positions: two members in one cell are
// at one distance, whatever their exact positions.
func TestAdversaryOrder(t *testing.T) {
	t.Parallel()
	x := spatial.New[string](spatial.WithCoarsening(500))
	c := spatial.Coarsen(spatial.Point{Lat: 48.85, Lng: 2.35}, 500)
	near := spatial.Point{Lat: c.Lat - 0.001, Lng: c.Lng}
	far := spatial.Point{Lat: c.Lat + 0.001, Lng: c.Lng}
	require.NoError(t, x.Set("near", spatial.Position{Point: near}))
	require.NoError(t, x.Set("far", spatial.Position{Point: far}))
	o := spatial.Point{Lat: c.Lat - 0.01, Lng: c.Lng}
	hits, err := x.Nearby(o, 5000, 0)
	require.NoError(t, err)
	require.Len(t, hits, 2)
	assert.Equal(t, hits[0].Distance, hits[1].Distance)
	assert.Equal(t, hits[0].Position, hits[1].Position)
}

// A member standing still on a cell's edge, with a device whose position
// wanders by meters, shows one cell; it moves to the next once it is a
// quarter of a cell beyond.
func TestCoarsenedHysteresis(t *testing.T) {
	t.Parallel()
	const cell = 100.0
	x, rec := recorded(spatial.WithCoarsening(cell))
	c := spatial.Coarsen(spatial.Point{Lat: 10, Lng: 10}, cell)
	step := cell / metersPerDegree // the grid's row height, about
	// the edge between c's row and the next one north
	edge := c.Lat + step/2
	require.NoError(t, x.Set("w", spatial.Position{Point: spatial.Point{Lat: c.Lat, Lng: c.Lng + 0.005}}))
	require.NoError(t, x.Watch("w", 2000))
	rng := rand.New(rand.NewPCG(3, 3))
	require.NoError(t, x.Set("m", spatial.Position{Point: spatial.Point{Lat: edge - 1/metersPerDegree, Lng: c.Lng}}))
	first, _ := x.Shown("m")
	rec.takeAll()
	for range 200 {
		jitter := (rng.Float64() - 0.5) * 30 / metersPerDegree // ±15 m
		require.NoError(t, x.Set("m", spatial.Position{Point: spatial.Point{Lat: edge + jitter, Lng: c.Lng}}))
		got, _ := x.Shown("m")
		require.Equal(t, first, got)
	}
	assert.Empty(t, rec.takeAll(), "noise on the edge shows nothing")
	// A quarter of a cell beyond: the next cell.
	require.NoError(t, x.Set("m", spatial.Position{Point: spatial.Point{Lat: edge + 0.3*step, Lng: c.Lng}}))
	got, _ := x.Shown("m")
	assert.Greater(t, got.Lat, first.Lat)
	evs := rec.takeAll()
	require.Len(t, evs, 1)
	assert.Equal(t, spatial.Move, evs[0].Kind)
	assert.Equal(t, got, evs[0].Position)
	// and back a little: it stays there
	require.NoError(t, x.Set("m", spatial.Position{Point: spatial.Point{Lat: edge - 0.2*step, Lng: c.Lng}}))
	again, _ := x.Shown("m")
	assert.Equal(t, got, again)
}

func TestZones(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	home := spatial.Point{Lat: 52.5, Lng: 13.4}
	zone := spatial.Zone{Center: home, Radius: 300}
	x, rec := recorded(spatial.WithSecret(secret))
	require.NoError(t, x.Set("w", spatial.Position{Point: spatial.Point{Lat: 52.49, Lng: 13.4}}))
	require.NoError(t, x.Watch("w", 3000))
	_, err := x.Place("m", spatial.Position{Point: home, Accuracy: 3}, spatial.Privacy{Zones: []spatial.Zone{zone}})
	require.NoError(t, err)
	shown, ok := x.Shown("m")
	require.True(t, ok)
	assert.NotEqual(t, home, shown.Point)
	assert.Less(t, spatial.Distance(home, shown.Point), 0.45*zone.Radius, "the shown center is within 0.43 of the radius")
	assert.Equal(t, zone.Radius, shown.Accuracy)
	rec.takeAll()

	// Walking about inside: nothing moves, every answer is the same.
	rng := rand.New(rand.NewPCG(4, 4))
	o := spatial.Point{Lat: 52.51, Lng: 13.41}
	want := radiusSearch(t, x, o, "m")
	for range 10 {
		p := spatial.Point{Lat: home.Lat + (rng.Float64()-0.5)*0.004, Lng: home.Lng + (rng.Float64()-0.5)*0.006}
		if spatial.Distance(p, home) > 2*zone.Radius/3 {
			continue // maybe outside the randomized circle
		}
		require.NoError(t, x.Set("m", spatial.Position{Point: p, Accuracy: rng.Float64() * 50}))
		got, _ := x.Shown("m")
		require.Equal(t, shown, got)
		require.Equal(t, want, radiusSearch(t, x, o, "m"))
	}
	assert.Empty(t, rec.takeAll())

	// Another index with the same secret shows the same center; another
	// secret, another.
	y := spatial.New[string](spatial.WithSecret(secret))
	_, err = y.Place("m", spatial.Position{Point: home}, spatial.Privacy{Zones: []spatial.Zone{zone}})
	require.NoError(t, err)
	same, _ := y.Shown("m")
	assert.Equal(t, shown.Point, same.Point)
	z := spatial.New[string]()
	_, err = z.Place("m", spatial.Position{Point: home}, spatial.Privacy{Zones: []spatial.Zone{zone}})
	require.NoError(t, err)
	other, _ := z.Shown("m")
	assert.NotEqual(t, shown.Point, other.Point)

	// Leaving: shown where it is, with a move.
	out := spatial.Point{Lat: home.Lat + 0.01, Lng: home.Lng}
	require.NoError(t, x.Set("m", spatial.Position{Point: out}))
	got, _ := x.Shown("m")
	assert.Equal(t, out, got.Point)
	evs := rec.takeAll()
	require.Len(t, evs, 1)
	assert.Equal(t, spatial.Move, evs[0].Kind)

	// A hiding zone: hidden inside, with a leave; shown again outside.
	require.NoError(t, x.SetPrivacy("m", spatial.Privacy{Zones: []spatial.Zone{{Center: home, Radius: 300, Hide: true}}}))
	assert.Empty(t, rec.take())
	require.NoError(t, x.Set("m", spatial.Position{Point: home}))
	assert.Equal(t, []spatial.Event[string]{leave("w", "m", spatial.CauseHidden)}, rec.take())
	assert.True(t, x.Hidden("m"))
	hits, err := x.Nearby(home, 5000, 0)
	require.NoError(t, err)
	assert.Equal(t, []string{"w"}, ids(hits))
	pv, ok := x.Privacy("m")
	require.True(t, ok)
	assert.False(t, pv.Hidden, "the zone hides it, not its flag")
	require.NoError(t, x.Set("m", spatial.Position{Point: out}))
	assert.Equal(t, []spatial.Event[string]{enter("w", "m")}, rec.take())

	// Invalid zones are refused and change nothing.
	for _, bad := range []spatial.Zone{{Center: home}, {Center: home, Radius: math.NaN()}, {Center: spatial.Point{Lat: 91}, Radius: 10}} {
		require.ErrorIs(t, x.SetPrivacy("m", spatial.Privacy{Zones: []spatial.Zone{bad}}), spatial.ErrInvalidPrivacy)
		_, err := x.Place("m", spatial.Position{Point: home}, spatial.Privacy{Zones: []spatial.Zone{bad}})
		require.ErrorIs(t, err, spatial.ErrInvalidPrivacy)
	}
	require.ErrorIs(t, x.SetPrivacy("m", spatial.Privacy{Precision: -1}), spatial.ErrInvalidPrivacy)
	require.ErrorIs(t, x.SetPrivacy("nobody", spatial.Privacy{}), spatial.ErrNotFound)
	got, _ = x.Get("m")
	assert.Equal(t, out, got.Point)
	assert.Panics(t, func() { spatial.New[string](spatial.WithSecret([]byte("short"))) })
}

// Moves are reported to those who see the member, as shown: a coarsened
// member moving inside its cell sends nothing.
func TestMoveEvents(t *testing.T) {
	t.Parallel()
	x, rec := recorded()
	require.NoError(t, x.Set("w", north(0, 0)))
	require.NoError(t, x.Watch("w", 1000))
	require.NoError(t, x.Set("m", north(100, 0)))
	rec.takeAll()
	require.NoError(t, x.Set("m", north(200, 0)))
	evs := rec.takeAll()
	require.Len(t, evs, 1)
	assert.Equal(t, spatial.Move, evs[0].Kind)
	assert.Equal(t, "w", evs[0].Watcher)
	assert.InDelta(t, 200, evs[0].Distance, 1e-6)
	require.NoError(t, x.Set("m", north(200, 0)))
	assert.Empty(t, rec.takeAll(), "no move, no event")
	require.NoError(t, x.Set("m", spatial.Position{Point: north(200, 0).Point, Accuracy: 4}))
	evs = rec.takeAll()
	require.Len(t, evs, 1, "a new accuracy is a move")
	require.NoError(t, x.Set("m", north(5000, 0)))
	assert.Equal(t, []spatial.Event[string]{leave("w", "m", spatial.CauseFar)}, rec.take())

	require.NoError(t, x.SetPrivacy("m", spatial.Privacy{Precision: 1000}))
	require.NoError(t, x.Set("m", north(300, 0)))
	evs = rec.takeAll()
	require.NotEmpty(t, evs)
	assert.Equal(t, spatial.Enter, evs[0].Kind)
	shown, _ := x.Shown("m")
	for _, d := range []float64{290, 310, 320} {
		p := north(d, 0)
		if spatial.Coarsen(p.Point, 1000) != shown.Point {
			continue
		}
		require.NoError(t, x.Set("m", p))
		assert.Empty(t, rec.takeAll(), "inside the cell: nothing")
	}
}

// Fences are decided on the shown position too: a coarsened member whose
// cell's center is inside a fence is in it, wherever it is in the cell,
// and one whose center is outside is not.
func TestFencesOnShownPosition(t *testing.T) {
	t.Parallel()
	const cell = 500.0
	x, rec := recorded(spatial.WithCoarsening(cell))
	c := spatial.Coarsen(spatial.Point{Lat: 52.52, Lng: 13.405}, cell)
	require.NoError(t, x.AddFence("center", spatial.Fence{Circle: &spatial.Circle{Center: c, Radius: 10}}))
	rng := rand.New(rand.NewPCG(8, 8))
	for i, p := range inCell(rng, c, cell, 5) {
		id := fmt.Sprint(i)
		require.NoError(t, x.Set(id, spatial.Position{Point: p}))
		assert.Equal(t, []string{"center"}, x.FencesOf(id), "%v is %0.f m from the fence, in its cell", p, spatial.Distance(p, c))
	}
	// A member 5 m from the fence's center but in the next cell is not in it.
	next := spatial.Point{Lat: c.Lat, Lng: c.Lng + 0.6*cell/metersPerDegree/math.Cos(c.Lat*math.Pi/180)}
	require.NotEqual(t, c, spatial.Coarsen(next, cell))
	require.NoError(t, x.AddFence("edge", spatial.Fence{Circle: &spatial.Circle{Center: next, Radius: 5}}))
	require.NoError(t, x.Set("near", spatial.Position{Point: next}))
	assert.NotContains(t, x.FencesOf("near"), "edge")
	rec.takeAll()
}

// A member walking into a crowd of symmetric watchers is held by at most
// WithSymmetricLimit of them: it sees, and is seen by, that many.
func TestSymmetricLimit(t *testing.T) {
	t.Parallel()
	x, rec := recorded(spatial.WithSymmetricLimit(3))
	for i := range 5 {
		id := fmt.Sprint("w", i)
		require.NoError(t, x.Set(id, north(float64(10*i), 0)))
		require.NoError(t, x.Watch(id, 1000, spatial.WithSymmetric()))
	}
	rec.takeAll()
	require.NoError(t, x.Set("m", north(500, 0)))
	seen, own := x.Watching("m")
	assert.False(t, own)
	assert.Len(t, seen, 3, "m sees the first three")
	enters := 0
	for _, ev := range rec.take() {
		if ev.Kind == spatial.Enter {
			enters++
		}
	}
	assert.Equal(t, 6, enters, "three each way")
	// One lets go: the next move of m fills the place.
	require.NoError(t, x.Set(seen[0], north(5000, 0)))
	seen2, _ := x.Watching("m")
	assert.Len(t, seen2, 2)
	require.NoError(t, x.Set("m", north(501, 0)))
	seen3, _ := x.Watching("m")
	assert.Len(t, seen3, 3)
	assert.Panics(t, func() { spatial.New[string](spatial.WithSymmetricLimit(-1)) })
}
