package spatial_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/spatial"
)

func TestHiddenQueries(t *testing.T) {
	t.Parallel()
	x := spatial.New[string]()
	require.NoError(t, x.Set("seen", north(10, 0)))
	require.NoError(t, x.Set("ghost", north(5, 0)))
	assert.False(t, x.SetHidden("nobody", true))
	require.True(t, x.SetHidden("ghost", true))
	assert.True(t, x.Hidden("ghost"))
	assert.False(t, x.Hidden("seen"))

	hits, err := x.Nearby(spatial.Point{}, 100, 0)
	require.NoError(t, err)
	assert.Equal(t, []string{"seen"}, ids(hits))
	hits, err = x.Nearest(spatial.Point{}, 2)
	require.NoError(t, err)
	assert.Equal(t, []string{"seen"}, ids(hits))
	hits, err = x.WithinBounds(spatial.Bounds{South: -1, West: -1, North: 1, East: 1})
	require.NoError(t, err)
	assert.Equal(t, []string{"seen"}, ids(hits))
	hits, err = x.WithinPolygon(spatial.Polygon{{Lat: -1, Lng: -1}, {Lat: -1, Lng: 1}, {Lat: 1, Lng: 0}})
	require.NoError(t, err)
	assert.Equal(t, []string{"seen"}, ids(hits))
	_, ok := x.Shown("ghost")
	assert.False(t, ok)
	_, ok = x.Get("ghost")
	assert.True(t, ok, "Get is the application's own view")

	// Set keeps the flag.
	require.NoError(t, x.Set("ghost", north(6, 0)))
	assert.True(t, x.Hidden("ghost"))
	require.True(t, x.SetHidden("ghost", false))
	hits, err = x.Nearby(spatial.Point{}, 100, 0)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"seen", "ghost"}, ids(hits))
}

func TestHiddenWatches(t *testing.T) {
	t.Parallel()
	x, rec := recorded()
	require.NoError(t, x.Set("w", north(0, 0)))
	require.NoError(t, x.Watch("w", 100))
	require.NoError(t, x.Set("m", north(10, 0)))
	require.NoError(t, x.Watch("m", 100))
	assert.ElementsMatch(t, []spatial.Event[string]{enter("w", "m"), enter("m", "w")}, rec.take())

	require.True(t, x.SetHidden("m", true))
	assert.Equal(t, []spatial.Event[string]{leave("w", "m", spatial.CauseHidden)}, rec.take(), "hiding leaves others' watches")
	require.True(t, x.SetHidden("m", true), "again: no change")
	require.NoError(t, x.Set("m", north(50, 0)))
	assert.Empty(t, rec.take(), "a hidden member moves unseen")
	require.NoError(t, x.Set("m", north(300, 0)))
	assert.Equal(t, []spatial.Event[string]{leave("m", "w", spatial.CauseFar)}, rec.take(), "a hidden member still watches")
	require.NoError(t, x.Set("m", north(20, 0)))
	assert.Equal(t, []spatial.Event[string]{enter("m", "w")}, rec.take())
	in, _ := x.Watching("w")
	assert.Empty(t, in)

	require.True(t, x.SetHidden("m", false))
	assert.Equal(t, []spatial.Event[string]{enter("w", "m")}, rec.take(), "showing enters the watches it is within")

	// A member hidden before the watch starts is not entered.
	require.NoError(t, x.Set("h", north(1, 0)))
	require.True(t, x.SetHidden("h", true))
	rec.take()
	require.NoError(t, x.Watch("w", 150))
	assert.Empty(t, rec.take())
}

func TestShown(t *testing.T) {
	t.Parallel()
	when := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	exact := spatial.Position{Point: spatial.Point{Lat: 48.85837, Lng: 2.29448}, Accuracy: 5, Time: when}

	x := spatial.New[string]()
	require.NoError(t, x.Set("a", exact))
	got, ok := x.Shown("a")
	require.True(t, ok)
	assert.Equal(t, exact, got, "no coarsening by default")
	_, ok = x.Shown("nobody")
	assert.False(t, ok)

	x = spatial.New[string](spatial.WithCoarsening(1000))
	require.NoError(t, x.Set("a", exact))
	got, ok = x.Shown("a")
	require.True(t, ok)
	assert.Equal(t, spatial.Coarsen(exact.Point, 1000), got.Point)
	assert.NotEqual(t, exact.Point, got.Point)
	assert.Equal(t, 1000.0, got.Accuracy)
	assert.Equal(t, when, got.Time)
	stored, _ := x.Get("a")
	assert.Equal(t, exact, stored, "the index keeps the exact position")
	hits, err := x.Nearby(exact.Point, 1, 0)
	require.NoError(t, err)
	assert.Empty(t, hits, "but searches where it is shown")
	hits, err = x.Nearby(got.Point, 1, 0)
	require.NoError(t, err)
	require.Equal(t, []string{"a"}, ids(hits))
	assert.Equal(t, got, hits[0].Position)
	assert.Zero(t, hits[0].Distance)

	assert.Panics(t, func() { spatial.New[string](spatial.WithCoarsening(-1)) })
	assert.Panics(t, func() { spatial.New[string](spatial.WithCoarsening(math.NaN())) })
}

func TestCoarsen(t *testing.T) {
	t.Parallel()
	p := spatial.Point{Lat: 52.52, Lng: 13.405}
	for _, m := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		assert.Equal(t, p, spatial.Coarsen(p, m), "meters %v", m)
	}
	bad := spatial.Point{Lat: 100}
	assert.Equal(t, bad, spatial.Coarsen(bad, 100))
	assert.Equal(t, spatial.Coarsen(spatial.Point{Lat: 10, Lng: 180}, 500), spatial.Coarsen(spatial.Point{Lat: 10, Lng: -180}, 500), "the antimeridian is one cell")
	for _, pole := range []spatial.Point{{Lat: 90}, {Lat: -90}, {Lat: 90, Lng: 180}} {
		c := spatial.Coarsen(pole, 1000)
		require.NoError(t, c.Validate())
		assert.Less(t, spatial.Distance(pole, c), 1000.0, "pole %v", pole)
	}
	// A whole-globe cell.
	require.NoError(t, spatial.Coarsen(p, 1e8).Validate())
}

func TestPropertyCoarsen(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(13, 13))
	for range 20000 {
		p := globePoint(rng)
		m := math.Pow(10, rng.Float64()*5) // 1 m .. 100 km
		c := spatial.Coarsen(p, m)
		require.NoError(t, c.Validate(), "Coarsen(%v, %v)", p, m)
		assert.Equal(t, c, spatial.Coarsen(c, m), "a cell's center is in the cell: Coarsen(%v, %v)", p, m)
		// A nearby point in the same cell gives the same answer: nudge p
		// toward c, which stays in the (convex) cell.
		q := spatial.Point{Lat: p.Lat + (c.Lat-p.Lat)/2, Lng: wrapLng(p.Lng + wrapLng(c.Lng-p.Lng)/2)}
		assert.Equal(t, c, spatial.Coarsen(q, m), "stable within a cell: %v %v %v", p, q, m)
		if math.Abs(p.Lat) < 80 && m <= 10_000 {
			assert.Less(t, spatial.Distance(p, c), 0.75*m, "Coarsen(%v, %v) = %v", p, m, c)
		}
	}
}

// Place inserts a member hidden in one step: no watcher ever sees it.
func TestPlaceHidden(t *testing.T) {
	t.Parallel()
	x, rec := recorded()
	require.NoError(t, x.Set("w", north(0, 0)))
	require.NoError(t, x.Watch("w", 100, spatial.WithSymmetric()))
	added, err := x.Place("ghost", north(10, 0), spatial.Privacy{Hidden: true})
	require.NoError(t, err)
	assert.True(t, added)
	assert.Empty(t, rec.take(), "a member placed hidden is never seen")
	assert.True(t, x.Hidden("ghost"))

	// Placing again shown and moved: one Enter each way, at the new place.
	added, err = x.Place("ghost", north(20, 0), spatial.Privacy{})
	require.NoError(t, err)
	assert.False(t, added)
	assert.ElementsMatch(t, []spatial.Event[string]{enter("w", "ghost"), enter("ghost", "w")}, rec.take())
	// Placing hidden and out of reach: one Leave each way. w loses ghost
	// because it hid; ghost saw w only through w's symmetric watch, which
	// holds no hidden member, so it too is told it hid.
	_, err = x.Place("ghost", north(500, 0), spatial.Privacy{Hidden: true})
	require.NoError(t, err)
	assert.ElementsMatch(t, []spatial.Event[string]{leave("w", "ghost", spatial.CauseHidden), leave("ghost", "w", spatial.CauseWatcherHidden)}, rec.take())

	_, err = x.Place("bad", spatial.Position{Point: spatial.Point{Lat: 91}}, spatial.Privacy{Hidden: true})
	require.ErrorIs(t, err, spatial.ErrInvalidPoint)
	assert.Equal(t, 2, x.Len())
}
