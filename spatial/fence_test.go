package spatial_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/spatial"
)

func fenceEnter[K comparable](m K, f string) spatial.Event[K] {
	return spatial.Event[K]{Kind: spatial.FenceEnter, Member: m, Fence: f}
}

func fenceLeave[K comparable](m K, f string) spatial.Event[K] {
	return spatial.Event[K]{Kind: spatial.FenceLeave, Member: m, Fence: f}
}

func inFence(t *testing.T, x *spatial.Index[string], name string) []string {
	t.Helper()
	got, err := x.InFence(name)
	require.NoError(t, err, "InFence(%q)", name)
	slices.Sort(got)
	return got
}

func TestFenceCircleAndPolygon(t *testing.T) {
	t.Parallel()
	x, rec := recorded()
	require.NoError(t, x.Set("a", north(0, 0)))
	require.NoError(t, x.Set("b", north(500, 0)))

	require.NoError(t, x.AddFence("circle", spatial.Fence{Circle: &spatial.Circle{Center: north(0, 0).Point, Radius: 100}}))
	assert.Equal(t, []spatial.Event[string]{fenceEnter("a", "circle")}, rec.take())
	square := spatial.Polygon{{Lat: -0.001, Lng: -0.001}, {Lat: -0.001, Lng: 0.001}, {Lat: 0.01, Lng: 0.001}, {Lat: 0.01, Lng: -0.001}}
	require.NoError(t, x.AddFence("square", spatial.Fence{Polygon: square}))
	assert.ElementsMatch(t, []spatial.Event[string]{fenceEnter("a", "square"), fenceEnter("b", "square")}, rec.take())

	assert.Equal(t, []string{"circle", "square"}, x.FencesOf("a"))
	assert.Equal(t, []string{"square"}, x.FencesOf("b"))
	assert.Empty(t, x.FencesOf("nobody"))
	assert.Equal(t, []string{"a"}, inFence(t, x, "circle"))
	assert.Equal(t, []string{"a", "b"}, inFence(t, x, "square"))

	// Moves across edges.
	require.NoError(t, x.Set("b", north(50, 0)))
	assert.Equal(t, []spatial.Event[string]{fenceEnter("b", "circle")}, rec.take())
	require.NoError(t, x.Set("a", north(5000, 0)))
	assert.ElementsMatch(t, []spatial.Event[string]{fenceLeave("a", "circle"), fenceLeave("a", "square")}, rec.take())
	require.NoError(t, x.Set("a", north(1000, 0)))
	assert.Equal(t, []spatial.Event[string]{fenceEnter("a", "square")}, rec.take())
	require.NoError(t, x.Set("c", north(-10, 0)))
	assert.ElementsMatch(t, []spatial.Event[string]{fenceEnter("c", "circle"), fenceEnter("c", "square")}, rec.take())

	// Remove a member: it leaves every fence.
	assert.True(t, x.Remove("c"))
	assert.ElementsMatch(t, []spatial.Event[string]{fenceLeave("c", "circle"), fenceLeave("c", "square")}, rec.take())

	// Replace a fence: only the difference produces events.
	require.NoError(t, x.AddFence("circle", spatial.Fence{Circle: &spatial.Circle{Center: north(1000, 0).Point, Radius: 1000}}))
	assert.Equal(t, []spatial.Event[string]{fenceEnter("a", "circle")}, rec.take(), "b stays in")
	require.NoError(t, x.AddFence("circle", spatial.Fence{Circle: &spatial.Circle{Center: north(1000, 0).Point, Radius: 10}}))
	assert.Equal(t, []spatial.Event[string]{fenceLeave("b", "circle")}, rec.take())

	// Remove a fence: everyone inside leaves it.
	assert.True(t, x.RemoveFence("square"))
	assert.False(t, x.RemoveFence("square"))
	assert.ElementsMatch(t, []spatial.Event[string]{fenceLeave("a", "square"), fenceLeave("b", "square")}, rec.take())
	_, err := x.InFence("square")
	require.ErrorIs(t, err, spatial.ErrNoFence)
	assert.Equal(t, []string{"circle"}, x.FencesOf("a"))
	assert.Empty(t, x.FencesOf("b"))
}

func TestFenceInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fence spatial.Fence
	}{
		{"empty", spatial.Fence{}},
		{"both", spatial.Fence{Circle: &spatial.Circle{Radius: 1}, Polygon: spatial.Polygon{{}, {Lat: 1}, {Lng: 1}}}},
		{"zero radius", spatial.Fence{Circle: &spatial.Circle{}}},
		{"negative radius", spatial.Fence{Circle: &spatial.Circle{Radius: -1}}},
		{"NaN radius", spatial.Fence{Circle: &spatial.Circle{Radius: math.NaN()}}},
		{"bad center", spatial.Fence{Circle: &spatial.Circle{Center: spatial.Point{Lat: 91}, Radius: 1}}},
		{"two vertices", spatial.Fence{Polygon: spatial.Polygon{{}, {Lat: 1}}}},
		{"around a pole", spatial.Fence{Polygon: spatial.Polygon{{Lat: 80, Lng: 0}, {Lat: 80, Lng: 120}, {Lat: 80, Lng: -120}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			x := spatial.New[string]()
			require.ErrorIs(t, tt.fence.Validate(), spatial.ErrInvalidFence)
			require.ErrorIs(t, x.AddFence("f", tt.fence), spatial.ErrInvalidFence)
			_, err := x.InFence("f")
			require.ErrorIs(t, err, spatial.ErrNoFence, "nothing added")
		})
	}
}

func TestFenceAntimeridian(t *testing.T) {
	t.Parallel()
	x, rec := recorded()
	// A 20 km circle centred on the antimeridian, and Fiji-like polygon
	// across it.
	require.NoError(t, x.AddFence("circle", spatial.Fence{Circle: &spatial.Circle{Center: spatial.Point{Lat: -17, Lng: 180}, Radius: 20_000}}))
	require.NoError(t, x.AddFence("fiji", spatial.Fence{Polygon: spatial.Polygon{
		{Lat: -20, Lng: 177}, {Lat: -20, Lng: -178}, {Lat: -15, Lng: -178}, {Lat: -15, Lng: 177},
	}}))
	for _, tt := range []struct {
		name string
		p    spatial.Point
		want []string
	}{
		{"east of it", spatial.Point{Lat: -17, Lng: -179.9}, []string{"circle", "fiji"}},
		{"west of it", spatial.Point{Lat: -17, Lng: 179.9}, []string{"circle", "fiji"}},
		{"on it, east spelling", spatial.Point{Lat: -17, Lng: -180}, []string{"circle", "fiji"}},
		{"on it, west spelling", spatial.Point{Lat: -17, Lng: 180}, []string{"circle", "fiji"}},
		{"fiji only", spatial.Point{Lat: -19, Lng: 178}, []string{"fiji"}},
		{"outside", spatial.Point{Lat: -17, Lng: 170}, nil},
	} {
		require.NoError(t, x.Set(tt.name, spatial.Position{Point: tt.p}))
		assert.Equal(t, tt.want, x.FencesOf(tt.name), tt.name)
	}
	assert.Equal(t, []string{"east of it", "on it, east spelling", "on it, west spelling", "west of it"}, inFence(t, x, "circle"))
	rec.take()
	require.NoError(t, x.Set("west of it", spatial.Position{Point: spatial.Point{Lat: -17, Lng: 179}}))
	assert.Equal(t, []spatial.Event[string]{fenceLeave("west of it", "circle")}, rec.take())
	require.NoError(t, x.Set("west of it", spatial.Position{Point: spatial.Point{Lat: -17, Lng: -179.95}}))
	assert.Equal(t, []spatial.Event[string]{fenceEnter("west of it", "circle")}, rec.take())
}

// TestPropertyFence compares fence membership after random moves with a
// brute-force test of every member against every fence.
func TestPropertyFence(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(12, 12))
	x := spatial.New[int]()
	fences := map[string]spatial.Fence{}
	for i := range 40 {
		name := string(rune('A' + i))
		var f spatial.Fence
		c := globePoint(rng)
		if i%2 == 0 {
			f.Circle = &spatial.Circle{Center: c, Radius: math.Pow(10, 5+rng.Float64()*1.5)}
		} else {
			d := 1 + rng.Float64()*20
			lat := math.Max(-85, math.Min(85, c.Lat))
			f.Polygon = spatial.Polygon{
				{Lat: math.Max(-90, lat-d), Lng: wrapLng(c.Lng - d)},
				{Lat: math.Max(-90, lat-d), Lng: wrapLng(c.Lng + d)},
				{Lat: math.Min(90, lat+d/2), Lng: c.Lng},
			}
		}
		require.NoError(t, x.AddFence(name, f), "fence %s", name)
		fences[name] = f
	}
	pos := map[int]spatial.Point{}
	inside := 0
	for step := range 4000 {
		id := rng.IntN(500)
		if rng.IntN(15) == 0 {
			x.Remove(id)
			delete(pos, id)
		} else {
			p := globePoint(rng)
			require.NoError(t, x.Set(id, spatial.Position{Point: p}))
			pos[id] = p
		}
		if step%500 != 499 {
			continue
		}
		members := map[string][]int{}
		for id, p := range pos {
			var want []string
			for name, f := range fences {
				in := f.Polygon.Contains(p)
				if f.Circle != nil {
					in = spatial.Distance(f.Circle.Center, p) <= f.Circle.Radius
				}
				if in {
					want = append(want, name)
					members[name] = append(members[name], id)
				}
			}
			slices.Sort(want)
			require.Equal(t, want, x.FencesOf(id), "member %d at %v", id, p)
			inside += len(want)
		}
		for name := range fences {
			got, err := x.InFence(name)
			require.NoError(t, err)
			assert.ElementsMatch(t, members[name], got, "fence %s", name)
		}
	}
	assert.Greater(t, inside, 100, "members are inside fences")
}
