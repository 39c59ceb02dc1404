package spatial

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// coverCase is a circle and a grid to cover it with.
type coverCase struct {
	c    Circle
	grid Grid
}

// randomCover returns a circle, often on the antimeridian, at or near a
// pole, tiny or huge, and a grid of at most about 60 cells across it.
func randomCover(t *testing.T, rng *rand.Rand) coverCase {
	t.Helper()
	c := Circle{Center: Point{Lat: edgyLat(rng), Lng: edgyLng(rng)}}
	switch rng.IntN(8) {
	case 0:
		c.Radius = 0
	case 1:
		c.Radius = rng.Float64() // under a meter
	case 2:
		c.Radius = math.Pi*EarthRadius*(1-rng.Float64()*0.01) + rng.Float64()*1e5 // about the whole globe
	default:
		c.Radius = math.Pow(10, rng.Float64()*7.3) // 1 m to 20,000 km
	}
	size := math.Pow(10, rng.Float64()*6) // 1 m to 1,000 km
	size = math.Min(maxGridMeters, math.Max(size, c.Radius/30))
	g, err := NewGrid(size)
	require.NoError(t, err, "NewGrid(%v)", size)
	return coverCase{c: c, grid: g}
}

// pointsIn returns points inside c: random ones, some on its edge, and
// at a pole the circle holds, that pole at several longitudes.
func pointsIn(rng *rand.Rand, c Circle, n int) []Point {
	var out []Point
	add := func(p Point) {
		if p.Validate() == nil && Distance(c.Center, p) <= c.Radius {
			out = append(out, p)
		}
	}
	add(c.Center)
	for i := range n {
		d := c.Radius * math.Sqrt(rng.Float64())
		if i%4 == 0 {
			d = c.Radius // on the edge, up to rounding
		}
		p := travel(c.Center, rng.Float64()*2*math.Pi, d)
		add(p)
		if p.Lng == 180 {
			add(Point{Lat: p.Lat, Lng: -180})
		}
	}
	for _, lat := range []float64{90, -90} {
		for range 8 {
			add(Point{Lat: lat, Lng: edgyLng(rng)})
		}
	}
	return out
}

// TestGridCoverProperty checks Cover on random circles: every point inside
// is in a cell it lists, the cells are sorted, each once, cells of the
// grid, and each comes within a millimeter of the circle (an exact lower
// bound of its distance, rectChord2, decides).
func TestGridCoverProperty(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 11))
	total, points := 0, 0
	for i := range 2000 {
		tc := randomCover(t, rng)
		g, c := tc.grid, tc.c
		cells := g.Cover(c)
		require.NotEmpty(t, cells, "case %d: %+v size %v", i, c, g.Size())
		total += len(cells)
		require.True(t, slices.IsSortedFunc(cells, cmpCell), "case %d: sorted", i)
		for j := 1; j < len(cells); j++ {
			if cells[j-1] == cells[j] {
				require.Fail(t, "a cell twice", "case %d: %v", i, cells[j])
			}
		}
		// No require in the loops: its t.Helper costs a stack walk.
		for _, p := range pointsIn(rng, c, 100) {
			points++
			cell := g.Cell(p)
			if _, found := slices.BinarySearchFunc(cells, cell, cmpCell); !found {
				require.Fail(t, "a point not covered", "case %d: %+v size %v: %v (distance %v) in %v", i, c, g.Size(), p, Distance(c.Center, p), cell)
			}
		}
		lat, lng := c.Center.Lat*degToRad, c.Center.Lng*degToRad
		sin, cos := math.Sincos(lat)
		for _, cell := range cells {
			if !g.Contains(cell) {
				require.Fail(t, "not a cell of the grid", "case %d: %v", i, cell)
			}
			b := g.Bounds(cell)
			d := chord2ToMeters(math.Max(0, rectChord2(lat, lng, sin, cos, [2]float64{b.West, b.South}, [2]float64{b.East, b.North})))
			if d > c.Radius+1e-3+c.Radius*1e-11 {
				require.Fail(t, "a cell too far", "case %d: %+v size %v: %v at %v is %v m away", i, c, g.Size(), cell, b, d)
			}
		}
		if c.Radius == 0 && math.Abs(c.Center.Lat) != 90 {
			require.Equal(t, []Cell{g.Cell(c.Center)}, cells, "case %d: radius 0", i)
		}
	}
	t.Logf("%d cells, %d points", total, points)
}

func cmpCell(a, b Cell) int {
	if a.Row != b.Row {
		return cmp.Compare(a.Row, b.Row)
	}
	return cmp.Compare(a.Col, b.Col)
}

// TestGridCoverFenceProperty checks CoverFence on random polygons: every
// point inside is in a cell it lists.
func TestGridCoverFenceProperty(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(8, 12))
	g, err := NewGrid(200_000)
	require.NoError(t, err)
	inside := 0
	for i := range 2000 {
		poly := randomPolygon(rng)
		pp, err := poly.prepare()
		if err != nil {
			continue
		}
		cells, err := g.CoverFence(Fence{Polygon: poly})
		require.NoError(t, err, "case %d", i)
		require.True(t, slices.IsSortedFunc(cells, cmpCell), "case %d: sorted", i)
		for range 200 {
			p := Point{Lat: edgyLat(rng), Lng: edgyLng(rng)}
			if !pp.contains(p) {
				continue
			}
			inside++
			if _, found := slices.BinarySearchFunc(cells, g.Cell(p), cmpCell); !found {
				require.Fail(t, "a point not covered", "case %d: %v in %v: %v", i, p, poly, g.Cell(p))
			}
		}
	}
	require.Greater(t, inside, 1000)
}
