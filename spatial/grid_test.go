package spatial_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/spatial"
)

func TestNewGrid(t *testing.T) {
	t.Parallel()
	for _, meters := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), -1, 0, 0.999, 1_000_000.001, 1e9} {
		_, err := spatial.NewGrid(meters)
		assert.ErrorIs(t, err, spatial.ErrInvalidGrid, "NewGrid(%v)", meters)
	}
	for _, meters := range []float64{1, 2000, 1_000_000} {
		g, err := spatial.NewGrid(meters)
		require.NoError(t, err, "NewGrid(%v)", meters)
		assert.Equal(t, meters, g.Size())
		again, err := spatial.NewGrid(meters)
		require.NoError(t, err)
		assert.Equal(t, g, again, "grids of one size are equal")
	}
	a, _ := spatial.NewGrid(1000)
	b, _ := spatial.NewGrid(1001)
	assert.NotEqual(t, a, b)
}

// TestGridCells checks Cell, Center, Bounds and Contains against each
// other and against Coarsen, at random points anywhere, on every scale.
func TestGridCells(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 20_000 {
		size := math.Pow(10, rng.Float64()*6)
		g, err := spatial.NewGrid(size)
		require.NoError(t, err)
		p := globePoint(rng)
		c := g.Cell(p)
		if !g.Contains(c) {
			require.Fail(t, "not a cell of the grid", "case %d: %v of %v at size %v", i, c, p, size)
		}
		center := g.Center(c)
		if center != spatial.Coarsen(p, size) || g.Cell(center) != c {
			require.Fail(t, "center", "case %d: %v of %v at size %v: center %v, Coarsen %v", i, c, p, size, center, spatial.Coarsen(p, size))
		}
		b := g.Bounds(c)
		require.NoError(t, b.Validate())
		if !b.Contains(center) || !b.Contains(p) || b.West >= b.East || b.South >= b.North {
			require.Fail(t, "bounds", "case %d: %v of %v at size %v: %+v", i, c, p, size, b)
		}
		// The next cells north and east begin where c ends, up to
		// rounding.
		if b.North < 90 && g.Cell(spatial.Point{Lat: b.North + 1e-9, Lng: p.Lng}).Row != c.Row+1 {
			require.Fail(t, "north", "case %d: %v of %v at size %v: %+v", i, c, p, size, b)
		}
		if b.East < 180 && g.Cell(spatial.Point{Lat: center.Lat, Lng: b.East + 1e-9}).Col != c.Col+1 {
			require.Fail(t, "east", "case %d: %v of %v at size %v: %+v", i, c, p, size, b)
		}
	}
}

func TestGridEdges(t *testing.T) {
	t.Parallel()
	g, err := spatial.NewGrid(2000)
	require.NoError(t, err)
	// Longitudes 180 and -180 are one meridian: column 0.
	east, west := g.Cell(spatial.Point{Lat: 10, Lng: 180}), g.Cell(spatial.Point{Lat: 10, Lng: -180})
	assert.Equal(t, west, east)
	assert.Zero(t, east.Col)
	last := g.Cell(spatial.Point{Lat: 10, Lng: 179.9999})
	assert.Equal(t, g.Bounds(last).East, 180.0)
	assert.False(t, g.Contains(spatial.Cell{Row: last.Row, Col: last.Col + 1}))

	// The poles: row 0 and the last row, whose cells reach the pole.
	south, north := g.Cell(spatial.Point{Lat: -90, Lng: 33}), g.Cell(spatial.Point{Lat: 90, Lng: 33})
	assert.Zero(t, south.Row)
	assert.Equal(t, -90.0, g.Bounds(south).South)
	assert.Equal(t, 90.0, g.Bounds(north).North)
	assert.False(t, g.Contains(spatial.Cell{Row: north.Row + 1}))

	// Invalid input and cells of no grid.
	for _, p := range []spatial.Point{{Lat: math.NaN()}, {Lat: 91}, {Lng: math.Inf(1)}} {
		assert.Equal(t, spatial.Cell{Row: -1, Col: -1}, g.Cell(p), "Cell(%v)", p)
	}
	for _, c := range []spatial.Cell{{Row: -1}, {Col: -1}, {Row: math.MaxInt32}} {
		assert.False(t, g.Contains(c), "Contains(%v)", c)
		assert.Zero(t, g.Center(c), "Center(%v)", c)
		assert.Zero(t, g.Bounds(c), "Bounds(%v)", c)
	}
	assert.Nil(t, g.Cover(spatial.Circle{Radius: -1}))
	assert.Nil(t, g.Cover(spatial.Circle{Radius: math.NaN()}))
	assert.Nil(t, g.Cover(spatial.Circle{Center: spatial.Point{Lat: 100}, Radius: 1}))

	// The zero Grid has no cells.
	var zero spatial.Grid
	assert.Equal(t, spatial.Cell{Row: -1, Col: -1}, zero.Cell(spatial.Point{}))
	assert.False(t, zero.Contains(spatial.Cell{}))
	assert.Nil(t, zero.Cover(spatial.Circle{Radius: 1000}))
	cells, err := zero.CoverFence(spatial.Fence{Polygon: spatial.Polygon{{Lat: 0, Lng: 0}, {Lat: 1, Lng: 0}, {Lat: 0, Lng: 1}}})
	require.NoError(t, err)
	assert.Nil(t, cells)
}

func TestGridCover(t *testing.T) {
	t.Parallel()
	g, err := spatial.NewGrid(2000)
	require.NoError(t, err)
	at := func(lat, lng float64) spatial.Point { return spatial.Point{Lat: lat, Lng: lng} }

	// Radius 0: the center's cell alone; at a pole, the whole polar row.
	p := at(52.52, 13.405)
	assert.Equal(t, []spatial.Cell{g.Cell(p)}, g.Cover(spatial.Circle{Center: p}))
	polar := g.Cover(spatial.Circle{Center: at(90, 10)})
	require.NotEmpty(t, polar)
	for i, c := range polar {
		assert.Equal(t, spatial.Cell{Row: polar[0].Row, Col: int32(i)}, c)
	}
	assert.False(t, g.Contains(spatial.Cell{Row: polar[0].Row, Col: int32(len(polar))}), "the whole row")

	// Across the antimeridian: a circle at 179.999 reaches column 0.
	cells := g.Cover(spatial.Circle{Center: at(0, 179.999), Radius: 500})
	assert.Contains(t, cells, g.Cell(at(0, -180)))
	assert.Contains(t, cells, g.Cell(at(0, 179.999)))
	cells = g.Cover(spatial.Circle{Center: at(0, -180), Radius: 500})
	assert.Contains(t, cells, g.Cell(at(0, 179.999)))

	// A circle holding the north pole covers the rows around it whole.
	cells = g.Cover(spatial.Circle{Center: at(89.99, 0), Radius: 5000})
	rows := map[int32]int{}
	for _, c := range cells {
		rows[c.Row]++
	}
	top := g.Cell(at(90, 0)).Row
	assert.Equal(t, len(polar), rows[top])
	assert.Contains(t, cells, g.Cell(at(89.99, 180)), "the other side of the pole")

	// CoverFence: a circle as Cover; an invalid fence is refused.
	circle := spatial.Circle{Center: p, Radius: 5000}
	fenced, err := g.CoverFence(spatial.Fence{Circle: &circle})
	require.NoError(t, err)
	assert.Equal(t, g.Cover(circle), fenced)
	_, err = g.CoverFence(spatial.Fence{})
	assert.ErrorIs(t, err, spatial.ErrInvalidFence)
	// A polygon: its bounding box, here one 2 km cell of a small square.
	c := g.Cell(p)
	b := g.Bounds(c)
	in := func(f float64, lo, hi float64) float64 { return lo + f*(hi-lo) }
	square := spatial.Polygon{
		at(in(0.4, b.South, b.North), in(0.4, b.West, b.East)),
		at(in(0.4, b.South, b.North), in(0.6, b.West, b.East)),
		at(in(0.6, b.South, b.North), in(0.6, b.West, b.East)),
		at(in(0.6, b.South, b.North), in(0.4, b.West, b.East)),
	}
	fenced, err = g.CoverFence(spatial.Fence{Polygon: square})
	require.NoError(t, err)
	assert.Equal(t, []spatial.Cell{c}, fenced)

	// AppendCover appends, without allocating when there is room.
	buf := make([]spatial.Cell, 1, 64)
	buf = g.AppendCover(buf, circle)
	assert.Equal(t, g.Cover(circle), buf[1:])
}

// TestGridAppendCoverAllocs is not parallel: AllocsPerRun counts every
// goroutine's.
func TestGridAppendCoverAllocs(t *testing.T) {
	g, err := spatial.NewGrid(2000)
	require.NoError(t, err)
	buf := make([]spatial.Cell, 0, 64)
	for _, c := range []spatial.Circle{
		{Center: spatial.Point{Lat: 52.52, Lng: 13.405}, Radius: 5000},
		{Center: spatial.Point{Lat: 0, Lng: 180}, Radius: 5000},
		{Center: spatial.Point{Lat: 90}, Radius: 5000},
	} {
		allocs := testing.AllocsPerRun(100, func() { buf = g.AppendCover(buf[:0], c) })
		assert.Zero(t, allocs, "%+v", c)
	}
}

func TestCellString(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "4711.1234", spatial.Cell{Row: 4711, Col: 1234}.String())
	assert.Equal(t, "0.0", spatial.Cell{}.String())
	assert.Equal(t, "-1.-1", spatial.Cell{Row: -1, Col: -1}.String())
	rng := rand.New(rand.NewPCG(5, 6))
	cells := []spatial.Cell{{}, {Row: math.MaxInt32, Col: math.MinInt32}, {Row: math.MinInt32, Col: math.MaxInt32}}
	for range 1000 {
		cells = append(cells, spatial.Cell{Row: int32(rng.Uint32()), Col: int32(rng.IntN(100_000))})
	}
	for _, c := range cells {
		got, err := spatial.ParseCell(c.String())
		require.NoError(t, err, "ParseCell(%q)", c.String())
		assert.Equal(t, c, got)
	}
	for _, s := range []string{
		"", ".", "1", "1.", ".1", "1.2.3", "+1.2", "1.+2", "01.2", "1.02", "-0.1", "1.-0", " 1.2", "1.2 ",
		"1,2", "a.b", "1.2a", "0x1.2", "1_0.2", "2147483648.0", "0.-2147483649", "１.2",
	} {
		_, err := spatial.ParseCell(s)
		assert.ErrorIs(t, err, spatial.ErrInvalidCell, "ParseCell(%q)", s)
	}
}

func FuzzParseCell(f *testing.F) {
	for _, s := range []string{"4711.1234", "0.0", "-1.-1", "01.2", "1.2.3", "2147483648.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := spatial.ParseCell(s)
		if err != nil {
			return
		}
		require.Equal(t, s, c.String(), "ParseCell(%q) = %v", s, c)
		row, col, _ := cutDot(s)
		r, _ := strconv.Atoi(row)
		k, _ := strconv.Atoi(col)
		require.Equal(t, spatial.Cell{Row: int32(r), Col: int32(k)}, c, "against strconv")
	})
}

// cutDot splits s at its first dot.
func cutDot(s string) (before, after string, found bool) {
	for i := range len(s) {
		if s[i] == '.' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func ExampleGrid_Cover() {
	g, err := spatial.NewGrid(2000) // cells of about 2 km × 2 km
	if err != nil {
		fmt.Println(err)
		return
	}
	// A member at the Brandenburg Gate publishes to its cell...
	gate := spatial.Point{Lat: 52.5163, Lng: 13.3777}
	fmt.Println("publish to", g.Cell(gate))

	// ...and a watcher 1.9 km away, watching 1 km around itself,
	// subscribes to the cells its circle overlaps: the gate's is one of
	// them (the watcher's own), so its server receives the gate's member
	// and its index decides, by distance, that it is not in the watch.
	for _, c := range g.Cover(spatial.Circle{Center: spatial.Point{Lat: 52.5200, Lng: 13.4050}, Radius: 1000}) {
		fmt.Println("subscribe to", c)
	}

	// A circle on the antimeridian covers cells on both sides of it:
	// column 0 starts at -180, and the last column ends at 180.
	fmt.Println(g.Cover(spatial.Circle{Center: spatial.Point{Lat: -17.0, Lng: 179.999}, Radius: 300}))
	// Output:
	// publish to 7923.6541
	// subscribe to 7922.6544
	// subscribe to 7923.6541
	// subscribe to 7923.6542
	// [4058.0 4058.19139]
}

// BenchmarkGridCover covers a watcher's circle on a 2 km grid, reusing the
// buffer, at points around Berlin.
func BenchmarkGridCover(b *testing.B) {
	g, err := spatial.NewGrid(2000)
	if err != nil {
		b.Fatal(err)
	}
	for _, radius := range []float64{500, 5000} {
		b.Run(fmt.Sprintf("radius=%v", radius), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			circles := make([]spatial.Circle, 1024)
			for i := range circles {
				circles[i] = spatial.Circle{Center: cityPoint(rng), Radius: radius}
			}
			var buf []spatial.Cell
			cells, i := 0, 0
			b.ReportAllocs()
			for b.Loop() {
				buf = g.AppendCover(buf[:0], circles[i%len(circles)])
				cells += len(buf)
				i++
			}
			b.ReportMetric(float64(cells)/float64(i), "cells/op")
		})
	}
}
