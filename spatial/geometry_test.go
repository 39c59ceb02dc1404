package spatial_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/spatial"
)

var (
	paris    = spatial.Point{Lat: 48.8566, Lng: 2.3522}
	london   = spatial.Point{Lat: 51.5074, Lng: -0.1278}
	newYork  = spatial.Point{Lat: 40.7128, Lng: -74.0060}
	losAng   = spatial.Point{Lat: 34.0522, Lng: -118.2437}
	sydney   = spatial.Point{Lat: -33.8688, Lng: 151.2093}
	auckland = spatial.Point{Lat: -36.8485, Lng: 174.7633}
	suva     = spatial.Point{Lat: -18.1416, Lng: 178.4419}
	apia     = spatial.Point{Lat: -13.8333, Lng: -171.7667}
)

func TestDistance(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		a, b spatial.Point
		want float64 // meters
	}{
		{"paris-london", paris, london, 343_500},
		{"new york-los angeles", newYork, losAng, 3_936_000},
		{"sydney-auckland", sydney, auckland, 2_156_000},
		{"suva-apia across the antimeridian", suva, apia, 1_151_000},
		{"equator across the antimeridian", spatial.Point{Lng: 179.99}, spatial.Point{Lng: -179.99}, 2_224},
		{"pole to pole", spatial.Point{Lat: 90}, spatial.Point{Lat: -90}, math.Pi * spatial.EarthRadius},
		{"antipodes", spatial.Point{Lat: 0, Lng: 0}, spatial.Point{Lat: 0, Lng: 180}, math.Pi * spatial.EarthRadius},
		{"same point", paris, paris, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := spatial.Distance(tt.a, tt.b)
			if tt.want == 0 {
				assert.Zero(t, got)
			} else {
				assert.InEpsilon(t, tt.want, got, 0.005, "Distance(%v, %v) = %v", tt.a, tt.b, got)
			}
			assert.InDelta(t, got, spatial.Distance(tt.b, tt.a), 1e-6, "symmetric")
		})
	}
}

func TestPointValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    spatial.Point
		ok   bool
	}{
		{"zero", spatial.Point{}, true},
		{"corners", spatial.Point{Lat: 90, Lng: 180}, true},
		{"other corners", spatial.Point{Lat: -90, Lng: -180}, true},
		{"nan lat", spatial.Point{Lat: math.NaN()}, false},
		{"nan lng", spatial.Point{Lng: math.NaN()}, false},
		{"inf lat", spatial.Point{Lat: math.Inf(1)}, false},
		{"-inf lng", spatial.Point{Lng: math.Inf(-1)}, false},
		{"lat above", spatial.Point{Lat: 90.000001}, false},
		{"lat below", spatial.Point{Lat: -91}, false},
		{"lng above", spatial.Point{Lng: 180.1}, false},
		{"lng below", spatial.Point{Lng: -540}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.p.Validate()
			if tt.ok {
				assert.NoError(t, err, "Validate(%v)", tt.p)
				return
			}
			require.Error(t, err, "Validate(%v)", tt.p)
			assert.ErrorIs(t, err, spatial.ErrInvalidPoint)
		})
	}
}

func TestBounds(t *testing.T) {
	t.Parallel()
	fiji := spatial.Bounds{South: -21, West: 177, North: -12, East: -178}
	tests := []struct {
		name string
		b    spatial.Bounds
		p    spatial.Point
		want bool
	}{
		{"inside", spatial.Bounds{South: 48, West: 2, North: 49, East: 3}, paris, true},
		{"outside", spatial.Bounds{South: 48, West: 2, North: 49, East: 3}, london, false},
		{"edge", spatial.Bounds{South: 48.8566, West: 2, North: 49, East: 2.3522}, paris, true},
		{"antimeridian east part", fiji, suva, true},
		{"antimeridian west part", fiji, spatial.Point{Lat: -15, Lng: -179}, true},
		{"antimeridian at 180", fiji, spatial.Point{Lat: -15, Lng: 180}, true},
		{"antimeridian at -180", fiji, spatial.Point{Lat: -15, Lng: -180}, true},
		{"antimeridian outside", fiji, apia, false},
		{"antimeridian gap", fiji, spatial.Point{Lat: -15, Lng: 0}, false},
		{"globe", spatial.Bounds{South: -90, West: -180, North: 90, East: 180}, apia, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.NoError(t, tt.b.Validate())
			assert.Equal(t, tt.want, tt.b.Contains(tt.p), "%+v contains %v", tt.b, tt.p)
		})
	}
}

func TestBoundsValidate(t *testing.T) {
	t.Parallel()
	for _, b := range []spatial.Bounds{
		{South: 10, North: 5},
		{South: math.NaN()},
		{West: 181},
		{North: 91},
		{East: math.Inf(1)},
	} {
		err := b.Validate()
		assert.ErrorIs(t, err, spatial.ErrInvalidBounds, "%+v", b)
		assert.False(t, b.Contains(spatial.Point{}), "%+v", b)
	}
}

func TestPolygon(t *testing.T) {
	t.Parallel()
	// A "C" opening to the east: the notch (0..2, 1..2 in lng) is outside.
	concave := spatial.Polygon{
		{Lat: 0, Lng: 0}, {Lat: 0, Lng: 3}, {Lat: 1, Lng: 3}, {Lat: 1, Lng: 1},
		{Lat: 2, Lng: 1}, {Lat: 2, Lng: 3}, {Lat: 3, Lng: 3}, {Lat: 3, Lng: 0},
	}
	square := spatial.Polygon{{Lat: 0, Lng: 0}, {Lat: 0, Lng: 1}, {Lat: 1, Lng: 1}, {Lat: 1, Lng: 0}}
	// Around Fiji, crossing the antimeridian, listed clockwise.
	fiji := spatial.Polygon{{Lat: -12, Lng: 177}, {Lat: -12, Lng: -178}, {Lat: -21, Lng: -178}, {Lat: -21, Lng: 177}}
	tests := []struct {
		name string
		poly spatial.Polygon
		p    spatial.Point
		want bool
	}{
		{"concave arm", concave, spatial.Point{Lat: 0.5, Lng: 2.5}, true},
		{"concave notch", concave, spatial.Point{Lat: 1.5, Lng: 2}, false},
		{"concave spine", concave, spatial.Point{Lat: 1.5, Lng: 0.5}, true},
		{"concave outside", concave, spatial.Point{Lat: 4, Lng: 1}, false},
		// Points on an edge: south and west edges are inside, north and
		// east edges outside, so adjacent tiles never both claim a point.
		{"edge west", square, spatial.Point{Lat: 0.5, Lng: 0}, true},
		{"edge south", square, spatial.Point{Lat: 0, Lng: 0.5}, true},
		{"edge east", square, spatial.Point{Lat: 0.5, Lng: 1}, false},
		{"edge north", square, spatial.Point{Lat: 1, Lng: 0.5}, false},
		{"antimeridian east side", fiji, suva, true},
		{"antimeridian west side", fiji, spatial.Point{Lat: -16, Lng: -179.5}, true},
		{"antimeridian at 180", fiji, spatial.Point{Lat: -16, Lng: 180}, true},
		{"antimeridian at -180", fiji, spatial.Point{Lat: -16, Lng: -180}, true},
		{"antimeridian outside", fiji, apia, false},
		{"antimeridian far side", fiji, spatial.Point{Lat: -16, Lng: 0}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.NoError(t, tt.poly.Validate())
			assert.Equal(t, tt.want, tt.poly.Contains(tt.p), "%v", tt.p)
		})
	}
}

func TestPolygonValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		poly spatial.Polygon
	}{
		{"nil", nil},
		{"two vertices", spatial.Polygon{{}, {Lat: 1}}},
		{"nan vertex", spatial.Polygon{{}, {Lat: 1}, {Lng: math.NaN()}}},
		{"out of range vertex", spatial.Polygon{{}, {Lat: 1}, {Lng: 200}}},
		{"around the north pole", spatial.Polygon{{Lat: 80, Lng: 0}, {Lat: 80, Lng: 120}, {Lat: 80, Lng: -120}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.ErrorIs(t, tt.poly.Validate(), spatial.ErrInvalidPolygon)
			assert.False(t, tt.poly.Contains(spatial.Point{}))
		})
	}
}
