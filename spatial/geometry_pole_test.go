package spatial_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/spatial"
)

// poleLngs are longitudes a member at a pole may be stored with: every one
// names the same place.
var poleLngs = []float64{-180, -120.5, -0.25, 0, 45, 90, 179.75, 180}

// polarQuery is a region, bounds or polygon, and what it holds at and near
// the poles.
type polarQuery struct {
	name    string
	bounds  *spatial.Bounds
	poly    spatial.Polygon
	north   bool            // holds the north pole
	south   bool            // holds the south pole
	in, out []spatial.Point // points inside and outside, mostly near a pole
}

func polarQueries() []polarQuery {
	return []polarQuery{
		{
			name:   "bounds reaching the north pole",
			bounds: &spatial.Bounds{South: 80, West: 0, North: 90, East: 10},
			north:  true,
			in:     []spatial.Point{{Lat: 85, Lng: 5}, {Lat: 89.9999, Lng: 10}},
			out:    []spatial.Point{{Lat: 89.9999, Lng: 11}, {Lat: 85, Lng: -5}},
		},
		{
			name:   "bounds reaching the south pole across the antimeridian",
			bounds: &spatial.Bounds{South: -90, West: 170, North: -80, East: -170},
			south:  true,
			in:     []spatial.Point{{Lat: -85, Lng: 180}, {Lat: -85, Lng: -180}, {Lat: -89.9999, Lng: 175}},
			out:    []spatial.Point{{Lat: -89.9999, Lng: 0}, {Lat: -79, Lng: 180}},
		},
		{
			name:   "bounds of the north pole alone",
			bounds: &spatial.Bounds{South: 90, West: 5, North: 90, East: 6},
			north:  true,
			out:    []spatial.Point{{Lat: 89.99999999, Lng: 5.5}},
		},
		{
			name:   "bounds of the south pole alone, crossing the antimeridian",
			bounds: &spatial.Bounds{South: -90, West: 179, North: -90, East: -179},
			south:  true,
			out:    []spatial.Point{{Lat: -89.99999999, Lng: 180}},
		},
		{
			name:   "bounds of both poles",
			bounds: &spatial.Bounds{South: -90, West: -1, North: 90, East: 1},
			north:  true,
			south:  true,
			in:     []spatial.Point{{Lat: 0, Lng: 0}, {Lat: 89.9999, Lng: 1}},
			out:    []spatial.Point{{Lat: 89.9999, Lng: 2}, {Lat: -89.9999, Lng: 180}},
		},
		{
			name:   "the whole globe",
			bounds: &spatial.Bounds{South: -90, West: -180, North: 90, East: 180},
			north:  true,
			south:  true,
			in:     []spatial.Point{{Lat: 89.9999, Lng: 180}, {Lat: -89.9999, Lng: -180}},
		},
		{
			name:   "bounds short of the pole",
			bounds: &spatial.Bounds{South: 80, West: -180, North: 89.9999, East: 180},
			in:     []spatial.Point{{Lat: 89.9999, Lng: 3}},
			out:    []spatial.Point{{Lat: 89.99999, Lng: 3}},
		},
		{
			name:  "polygon with an edge along the north pole",
			poly:  spatial.Polygon{{Lat: 80, Lng: 0}, {Lat: 80, Lng: 90}, {Lat: 90, Lng: 90}, {Lat: 90, Lng: 0}},
			north: true,
			in:    []spatial.Point{{Lat: 85, Lng: 45}, {Lat: 89.9999, Lng: 1}},
			out:   []spatial.Point{{Lat: 85, Lng: 100}, {Lat: 89.9999, Lng: -179}},
		},
		{
			name:  "polygon with a vertex at the north pole",
			poly:  spatial.Polygon{{Lat: 80, Lng: 0}, {Lat: 90, Lng: 0}, {Lat: 80, Lng: 10}},
			north: true,
			in:    []spatial.Point{{Lat: 82, Lng: 5}},
			out:   []spatial.Point{{Lat: 89, Lng: 5}, {Lat: 89.9999, Lng: 180}},
		},
		{
			name:  "polygon with an edge along the south pole across the antimeridian",
			poly:  spatial.Polygon{{Lat: -80, Lng: 170}, {Lat: -80, Lng: -170}, {Lat: -90, Lng: -170}, {Lat: -90, Lng: 170}},
			south: true,
			in:    []spatial.Point{{Lat: -85, Lng: 180}, {Lat: -85, Lng: -180}, {Lat: -89.9999, Lng: -175}},
			out:   []spatial.Point{{Lat: -85, Lng: 0}, {Lat: -89.9999, Lng: 160}},
		},
		{
			name:  "polygon along the pole over half the longitudes",
			poly:  spatial.Polygon{{Lat: 80, Lng: 0}, {Lat: 80, Lng: 90}, {Lat: 90, Lng: 90}, {Lat: 90, Lng: -90}, {Lat: 80, Lng: -90}},
			north: true,
			in:    []spatial.Point{{Lat: 85, Lng: -45}, {Lat: 85, Lng: 45}},
			out:   []spatial.Point{{Lat: 85, Lng: 180}, {Lat: 89.9999, Lng: 135}},
		},
		{
			name: "polygon short of the pole",
			poly: spatial.Polygon{{Lat: 80, Lng: 0}, {Lat: 80, Lng: 90}, {Lat: 89.9999, Lng: 90}, {Lat: 89.9999, Lng: 0}},
			in:   []spatial.Point{{Lat: 89, Lng: 45}},
			out:  []spatial.Point{{Lat: 89.99999, Lng: 45}},
		},
	}
}

func (q polarQuery) contains(p spatial.Point) bool {
	if q.bounds != nil {
		return q.bounds.Contains(p)
	}
	return q.poly.Contains(p)
}

// TestPoleContains checks that a region reaching a pole holds every point
// at that pole, whatever its longitude, and one that does not holds none.
func TestPoleContains(t *testing.T) {
	t.Parallel()
	for _, q := range polarQueries() {
		t.Run(q.name, func(t *testing.T) {
			t.Parallel()
			if q.bounds != nil {
				require.NoError(t, q.bounds.Validate())
			} else {
				require.NoError(t, q.poly.Validate())
			}
			for _, lng := range poleLngs {
				n, s := spatial.Point{Lat: 90, Lng: lng}, spatial.Point{Lat: -90, Lng: lng}
				assert.Equal(t, q.north, q.contains(n), "north pole at %v", lng)
				assert.Equal(t, q.south, q.contains(s), "south pole at %v", lng)
			}
			for _, p := range q.in {
				assert.True(t, q.contains(p), "%v", p)
			}
			for _, p := range q.out {
				assert.False(t, q.contains(p), "%v", p)
			}
		})
	}
}

// TestPoleQueries checks that WithinBounds, WithinPolygon and polygon
// fences find the members at a pole that their region reaches, whatever
// the longitude they were stored at, each once.
func TestPoleQueries(t *testing.T) {
	t.Parallel()
	for _, q := range polarQueries() {
		t.Run(q.name, func(t *testing.T) {
			t.Parallel()
			x := spatial.New[string]()
			var want []string
			add := func(id string, p spatial.Point, in bool) {
				t.Helper()
				require.NoError(t, x.Set(id, spatial.Position{Point: p}), "Set(%q, %v)", id, p)
				if in {
					want = append(want, id)
				}
			}
			for i, lng := range poleLngs {
				add(fmt.Sprintf("north%d", i), spatial.Point{Lat: 90, Lng: lng}, q.north)
				add(fmt.Sprintf("south%d", i), spatial.Point{Lat: -90, Lng: lng}, q.south)
			}
			for i, p := range q.in {
				add(fmt.Sprintf("in%d", i), p, true)
			}
			for i, p := range q.out {
				add(fmt.Sprintf("out%d", i), p, false)
			}
			slices.Sort(want)

			var hits []spatial.Hit[string]
			var err error
			if q.bounds != nil {
				hits, err = x.WithinBounds(*q.bounds)
			} else {
				hits, err = x.WithinPolygon(q.poly)
			}
			require.NoError(t, err)
			got := ids(hits)
			slices.Sort(got) // a member found twice fails the comparison
			assert.Equal(t, want, got)

			if q.poly == nil {
				return
			}
			// A fence holds the members inside when it is added, and those
			// that move onto a pole it reaches, at any longitude.
			require.NoError(t, x.AddFence("f", spatial.Fence{Polygon: q.poly}))
			assert.Equal(t, want, inFence(t, x, "f"), "members inside when added")
			for _, lng := range poleLngs {
				for _, lat := range []float64{90, -90} {
					require.NoError(t, x.Set("mover", spatial.Position{Point: spatial.Point{Lat: 0, Lng: -100}}))
					require.Empty(t, x.FencesOf("mover"))
					require.NoError(t, x.Set("mover", spatial.Position{Point: spatial.Point{Lat: lat, Lng: lng}}))
					in := lat == 90 && q.north || lat == -90 && q.south
					assert.Equal(t, in, slices.Contains(x.FencesOf("mover"), "f"), "moved to %v, %v", lat, lng)
				}
			}
		})
	}
}
