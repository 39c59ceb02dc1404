package spatial_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/spatial"
)

func at(lat, lng float64) spatial.Position {
	return spatial.Position{Point: spatial.Point{Lat: lat, Lng: lng}}
}

// ids returns the ids of hits, in order.
func ids[K comparable](hits []spatial.Hit[K]) []K {
	out := make([]K, len(hits))
	for i, h := range hits {
		out[i] = h.ID
	}
	return out
}

func TestIndexSetGetRemove(t *testing.T) {
	t.Parallel()
	x := spatial.New[string]()
	assert.Zero(t, x.Len())
	_, ok := x.Get("ann")
	assert.False(t, ok)

	when := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	pos := spatial.Position{Point: paris, Accuracy: 12.5, Time: when}
	require.NoError(t, x.Set("ann", pos))
	require.NoError(t, x.Set("bob", spatial.Position{Point: london}))
	assert.Equal(t, 2, x.Len())
	got, ok := x.Get("ann")
	require.True(t, ok)
	assert.Equal(t, pos, got)

	// Move ann to London: Paris no longer finds her.
	moved := spatial.Position{Point: london, Accuracy: 3, Time: when.Add(time.Minute)}
	require.NoError(t, x.Set("ann", moved))
	assert.Equal(t, 2, x.Len())
	got, _ = x.Get("ann")
	assert.Equal(t, moved, got)
	hits, err := x.Nearby(paris, 10_000, 0)
	require.NoError(t, err)
	assert.Empty(t, hits)
	hits, err = x.Nearby(london, 10, 0)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"ann", "bob"}, ids(hits))

	// Same place, new accuracy and time.
	again := spatial.Position{Point: london, Accuracy: 1, Time: when.Add(2 * time.Minute)}
	require.NoError(t, x.Set("ann", again))
	got, _ = x.Get("ann")
	assert.Equal(t, again, got)

	assert.True(t, x.Remove("ann"))
	assert.False(t, x.Remove("ann"))
	assert.Equal(t, 1, x.Len())
	hits, err = x.Nearby(london, 10, 0)
	require.NoError(t, err)
	assert.Equal(t, []string{"bob"}, ids(hits))
}

func TestIndexSetInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		pos  spatial.Position
		err  error
	}{
		{"nan", at(math.NaN(), 0), spatial.ErrInvalidPoint},
		{"inf", at(0, math.Inf(1)), spatial.ErrInvalidPoint},
		{"lat range", at(91, 0), spatial.ErrInvalidPoint},
		{"lng range", at(0, -181), spatial.ErrInvalidPoint},
		{"negative accuracy", spatial.Position{Accuracy: -1}, spatial.ErrInvalidAccuracy},
		{"nan accuracy", spatial.Position{Accuracy: math.NaN()}, spatial.ErrInvalidAccuracy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			x := spatial.New[int]()
			require.NoError(t, x.Set(1, at(1, 1)))
			assert.ErrorIs(t, x.Set(1, tt.pos), tt.err)
			assert.ErrorIs(t, x.Set(2, tt.pos), tt.err)
			got, ok := x.Get(1)
			assert.True(t, ok)
			assert.Equal(t, at(1, 1), got, "unchanged")
			assert.Equal(t, 1, x.Len())
		})
	}
}

func TestIndexQueryInvalid(t *testing.T) {
	t.Parallel()
	x := spatial.New[int]()
	require.NoError(t, x.Set(1, at(0, 0)))
	_, err := x.Nearby(spatial.Point{Lat: math.NaN()}, 10, 0)
	assert.ErrorIs(t, err, spatial.ErrInvalidPoint)
	for _, r := range []float64{-1, math.NaN(), math.Inf(1)} {
		_, err = x.Nearby(spatial.Point{}, r, 0)
		assert.ErrorIs(t, err, spatial.ErrInvalidRadius, "radius %v", r)
	}
	_, err = x.Nearest(spatial.Point{Lng: 200}, 1)
	assert.ErrorIs(t, err, spatial.ErrInvalidPoint)
	hits, err := x.Nearest(spatial.Point{}, 0)
	assert.NoError(t, err)
	assert.Empty(t, hits)
	_, err = x.WithinBounds(spatial.Bounds{South: 1, North: 0})
	assert.ErrorIs(t, err, spatial.ErrInvalidBounds)
	_, err = x.WithinPolygon(spatial.Polygon{{}, {}})
	assert.ErrorIs(t, err, spatial.ErrInvalidPolygon)
}

func TestIndexNearbyOrderAndLimit(t *testing.T) {
	t.Parallel()
	x := spatial.New[string]()
	for name, p := range map[string]spatial.Point{
		"paris": paris, "london": london, "new york": newYork, "sydney": sydney,
	} {
		require.NoError(t, x.Set(name, spatial.Position{Point: p}))
	}
	hits, err := x.Nearby(paris, 10_000_000, 0)
	require.NoError(t, err)
	assert.Equal(t, []string{"paris", "london", "new york"}, ids(hits))
	assert.Zero(t, hits[0].Distance)
	assert.InDelta(t, spatial.Distance(paris, london), hits[1].Distance, 1e-6)

	hits, err = x.Nearby(paris, 10_000_000, 2)
	require.NoError(t, err)
	assert.Equal(t, []string{"paris", "london"}, ids(hits))

	// The whole Earth.
	hits, err = x.Nearby(paris, 30_000_000, 0)
	require.NoError(t, err)
	assert.Len(t, hits, 4)

	// Radius edge is inclusive; zero radius finds exact matches.
	d := spatial.Distance(paris, london)
	hits, err = x.Nearby(paris, d, 0)
	require.NoError(t, err)
	assert.Equal(t, []string{"paris", "london"}, ids(hits))
	hits, err = x.Nearby(paris, 0, 0)
	require.NoError(t, err)
	assert.Equal(t, []string{"paris"}, ids(hits))

	near, err := x.Nearest(paris, 3)
	require.NoError(t, err)
	assert.Equal(t, []string{"paris", "london", "new york"}, ids(near))
	near, err = x.Nearest(sydney, 10)
	require.NoError(t, err)
	assert.Len(t, near, 4)
	assert.Equal(t, "sydney", near[0].ID)
}

func TestIndexAntimeridian(t *testing.T) {
	t.Parallel()
	x := spatial.New[string]()
	east, west := spatial.Point{Lat: -17, Lng: 179.99}, spatial.Point{Lat: -17, Lng: -179.99}
	require.NoError(t, x.Set("east", spatial.Position{Point: east}))
	require.NoError(t, x.Set("west", spatial.Position{Point: west}))
	require.NoError(t, x.Set("far", at(-17, 0)))
	d := spatial.Distance(east, west)
	assert.InDelta(t, 2_127, d, 10) // 0.02° of longitude at 17°S

	tests := []struct {
		name   string
		center spatial.Point
		want   []string
	}{
		{"from east", east, []string{"east", "west"}},
		{"from west", west, []string{"west", "east"}},
		{"from 180", spatial.Point{Lat: -17, Lng: 180}, nil},
		{"from -180", spatial.Point{Lat: -17, Lng: -180}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hits, err := x.Nearby(tt.center, 3_000, 0)
			require.NoError(t, err)
			if tt.want != nil {
				assert.Equal(t, tt.want, ids(hits))
			} else {
				assert.ElementsMatch(t, []string{"east", "west"}, ids(hits))
			}
			near, err := x.Nearest(tt.center, 2)
			require.NoError(t, err)
			assert.ElementsMatch(t, []string{"east", "west"}, ids(near))
		})
	}

	// Bounds and polygons across the antimeridian.
	hits, err := x.WithinBounds(spatial.Bounds{South: -18, West: 179, North: -16, East: -179})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"east", "west"}, ids(hits))
	hits, err = x.WithinBounds(spatial.Bounds{South: -18, West: 179.995, North: -16, East: -179})
	require.NoError(t, err)
	assert.Equal(t, []string{"west"}, ids(hits))
	hits, err = x.WithinPolygon(spatial.Polygon{{Lat: -18, Lng: 179}, {Lat: -16, Lng: 179}, {Lat: -16, Lng: -179}, {Lat: -18, Lng: -179}})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"east", "west"}, ids(hits))
	// A triangle that reaches across only near its tip.
	hits, err = x.WithinPolygon(spatial.Polygon{{Lat: -19, Lng: 178}, {Lat: -15, Lng: 178}, {Lat: -17, Lng: -179.98}})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"east", "west"}, ids(hits))
}

func TestIndexPoles(t *testing.T) {
	t.Parallel()
	x := spatial.New[string]()
	// Four members 89.99°N spread around the pole, about 1.1 km from it,
	// and one at the pole itself; one far south.
	for i, lng := range []float64{-135, -45, 45, 135} {
		require.NoError(t, x.Set(fmt.Sprint("ring", i), at(89.99, lng)))
	}
	require.NoError(t, x.Set("pole", at(90, 0)))
	require.NoError(t, x.Set("south", at(89, 0)))
	all := []string{"ring0", "ring1", "ring2", "ring3", "pole"}

	// From one ring member, a 3 km circle covers the pole and so the
	// whole ring, across all longitudes.
	hits, err := x.Nearby(spatial.Point{Lat: 89.99, Lng: -135}, 3_000, 0)
	require.NoError(t, err)
	assert.ElementsMatch(t, all, ids(hits))
	assert.Equal(t, "ring0", hits[0].ID)
	assert.Equal(t, "pole", hits[1].ID)
	assert.Equal(t, "ring2", hits[4].ID, "the opposite member is farthest")

	near, err := x.Nearest(spatial.Point{Lat: 89.999, Lng: 100}, 5)
	require.NoError(t, err)
	assert.ElementsMatch(t, all, ids(near))
	assert.Equal(t, "pole", near[0].ID)

	// A small circle near the pole that does not cover it.
	hits, err = x.Nearby(spatial.Point{Lat: 89.99, Lng: 45}, 500, 0)
	require.NoError(t, err)
	assert.Equal(t, []string{"ring2"}, ids(hits))

	// The south pole, on the other side.
	require.NoError(t, x.Set("amundsen", at(-89.9972, 139.2728)))
	hits, err = x.Nearby(spatial.Point{Lat: -89.999, Lng: -40}, 1_000, 0)
	require.NoError(t, err)
	assert.Equal(t, []string{"amundsen"}, ids(hits))
}

func TestIndexWithinPolygonConcave(t *testing.T) {
	t.Parallel()
	x := spatial.New[string]()
	require.NoError(t, x.Set("arm", at(0.5, 2.5)))
	require.NoError(t, x.Set("notch", at(1.5, 2)))
	require.NoError(t, x.Set("spine", at(1.5, 0.5)))
	require.NoError(t, x.Set("west edge", at(1.5, 0)))
	require.NoError(t, x.Set("east edge", at(2.5, 3)))
	hits, err := x.WithinPolygon(spatial.Polygon{
		{Lat: 0, Lng: 0}, {Lat: 0, Lng: 3}, {Lat: 1, Lng: 3}, {Lat: 1, Lng: 1},
		{Lat: 2, Lng: 1}, {Lat: 2, Lng: 3}, {Lat: 3, Lng: 3}, {Lat: 3, Lng: 0},
	})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"arm", "spine", "west edge"}, ids(hits))
}

// TestIndexConcurrent moves members from several goroutines while others
// query; run with -race.
func TestIndexConcurrent(t *testing.T) {
	t.Parallel()
	x := spatial.New[int]()
	const members = 500
	center := spatial.Point{Lat: 52.52, Lng: 13.405}
	for i := range members {
		require.NoError(t, x.Set(i, spatial.Position{Point: center}))
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for range 2000 {
				id := rng.IntN(members)
				p := spatial.Point{Lat: center.Lat + rng.Float64()*0.1 - 0.05, Lng: center.Lng + rng.Float64()*0.1 - 0.05}
				if rng.IntN(10) == 0 {
					x.Remove(id)
				}
				assert.NoError(t, x.Set(id, spatial.Position{Point: p, Time: time.Unix(int64(id), 0)}))
			}
		})
	}
	for r := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 2))
			for range 300 {
				hits, err := x.Nearby(center, 2_000+rng.Float64()*3_000, 0)
				assert.NoError(t, err)
				assert.True(t, slices.IsSortedFunc(hits, func(a, b spatial.Hit[int]) int {
					return int(math.Copysign(1, a.Distance-b.Distance))
				}))
				near, err := x.Nearest(center, 10)
				assert.NoError(t, err)
				assert.LessOrEqual(t, len(near), 10)
				_, err = x.WithinBounds(spatial.Bounds{South: 52.5, West: 13.3, North: 52.6, East: 13.5})
				assert.NoError(t, err)
				x.Get(rng.IntN(members))
				x.Len()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, members, x.Len())
}

// TestIndexAntimeridianAliases checks that longitudes 180 and -180 are one
// meridian for area queries.
func TestIndexAntimeridianAliases(t *testing.T) {
	t.Parallel()
	x := spatial.New[string]()
	require.NoError(t, x.Set("plus", at(-17, 180)))
	require.NoError(t, x.Set("minus", at(-17, -180)))
	for _, b := range []spatial.Bounds{
		{South: -18, West: 170, North: -16, East: 180},
		{South: -18, West: -180, North: -16, East: -170},
		{South: -18, West: 180, North: -16, East: 180},
		{South: -18, West: 170, North: -16, East: -170},
		{South: -90, West: -180, North: 90, East: 180},
	} {
		hits, err := x.WithinBounds(b)
		require.NoError(t, err)
		assert.ElementsMatch(t, []string{"plus", "minus"}, ids(hits), "%+v", b)
	}
	// West edges are inside a polygon; -180 is its west edge here.
	hits, err := x.WithinPolygon(spatial.Polygon{{Lat: -18, Lng: -180}, {Lat: -18, Lng: -170}, {Lat: -16, Lng: -170}, {Lat: -16, Lng: -180}})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"plus", "minus"}, ids(hits))
	hits, err = x.Nearby(spatial.Point{Lat: -17, Lng: 180}, 1, 0)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"plus", "minus"}, ids(hits))
	assert.InDelta(t, 0, hits[1].Distance, 1e-6, "the same place")
}
