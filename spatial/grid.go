package spatial

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrInvalidGrid reports a [Grid] cell size that cannot be used: one that
// is not finite, under 1 m or over 1,000 km.
var ErrInvalidGrid = errors.New("spatial: invalid grid")

// ErrInvalidCell reports text that is not a [Cell] as [Cell.String] writes
// it.
var ErrInvalidCell = errors.New("spatial: invalid cell")

// The sizes a Grid may have, in meters.
const (
	minGridMeters = 1
	maxGridMeters = 1_000_000
)

// Grid divides the Earth into cells of about size × size meters, for
// sharing locations by place: a server publishes what its members show to
// the cells they are in ([Grid.Cell]) and subscribes to the cells the
// circles of its watchers and members overlap ([Grid.Cover]).
//
// It is the grid of [Coarsen] (and of [Privacy.Precision] and
// [WithCoarsening]) for the same size, so g.Center(g.Cell(p)) is
// Coarsen(p, g.Size()): rows of equal latitude height (180° divided into a
// whole number of rows at least size meters high), and in each row cells
// of equal longitude width, a whole number of them around the globe, each
// at least size meters wide at the row's middle latitude. Rows are
// numbered from 0 at the south pole northwards, columns from 0 at
// longitude -180 eastwards; longitudes 180 and -180 fall in column 0. The
// rows at the poles hold fewer, wider cells, down to a few.
//
// A Grid is a small value: copy it freely. Two grids of the same size are
// equal (==). The zero Grid has no cells; make one with [NewGrid].
type Grid struct {
	g grid
}

// NewGrid returns the grid of cells of about meters × meters. It returns an
// error wrapping [ErrInvalidGrid] when meters is not finite, under 1 m or
// over 1,000 km.
func NewGrid(meters float64) (Grid, error) {
	if !finite(meters) || meters < minGridMeters || meters > maxGridMeters {
		return Grid{}, fmt.Errorf("spatial: new grid: size %v m (1 m to 1,000 km): %w", meters, ErrInvalidGrid)
	}
	return Grid{newGrid(meters)}, nil
}

// Size returns the size the grid was made with, in meters: the least
// height and width of its cells (see [Grid]); zero for the zero Grid.
func (g Grid) Size() float64 { return g.g.meters }

// Cell is a cell of a [Grid]: its row, from 0 at the south pole, and its
// column in that row, from 0 at longitude -180. It is comparable, fit for a
// map key. Which place it is depends on the grid: see [Grid.Contains].
type Cell struct {
	Row, Col int32
}

// noCell is the cell of no grid, for invalid input.
var noCell = Cell{Row: -1, Col: -1}

// String returns c as the row and the column in decimal, joined by a dot:
// "4711.1234" is row 4711, column 1234 (and "-1.-1" is Cell{-1, -1}). The
// format is stable, fit for a channel name; [ParseCell] reads it back.
func (c Cell) String() string {
	var b [24]byte
	s := strconv.AppendInt(b[:0], int64(c.Row), 10)
	s = append(s, '.')
	s = strconv.AppendInt(s, int64(c.Col), 10)
	return string(s)
}

// ParseCell returns the cell that [Cell.String] writes as s. It accepts
// exactly the strings String returns (no sign but a minus, no leading zero,
// no space) and returns an error wrapping [ErrInvalidCell] for any other;
// whether the cell is one of a grid is for [Grid.Contains] to say.
func ParseCell(s string) (Cell, error) {
	row, col, ok := strings.Cut(s, ".")
	r, errRow := strconv.ParseInt(row, 10, 32)
	c, errCol := strconv.ParseInt(col, 10, 32)
	cell := Cell{Row: int32(r), Col: int32(c)}
	if !ok || errRow != nil || errCol != nil || cell.String() != s {
		return Cell{}, fmt.Errorf("spatial: parse cell %q: %w", s, ErrInvalidCell)
	}
	return cell, nil
}

// Cell returns the cell of g that holds p. A point at a pole is held by
// the cell of its longitude in the polar row, though every longitude
// names that place (see [Grid.Cover]). For an invalid p (see
// [Point.Validate]), or with the zero Grid, it returns Cell{-1, -1}, a
// cell of no grid.
func (g Grid) Cell(p Point) Cell {
	if g.g.rows == 0 || p.Validate() != nil {
		return noCell
	}
	c := g.g.at(p)
	return Cell{Row: int32(c.row), Col: int32(c.col)}
}

// Contains reports whether c is a cell of g.
func (g Grid) Contains(c Cell) bool {
	return c.Row >= 0 && float64(c.Row) < g.g.rows && c.Col >= 0 && float64(c.Col) < g.g.cols(float64(c.Row))
}

// Center returns the center of cell c of g: the point [Coarsen] shows for
// every point of c. It returns the zero Point when c is not a cell of g.
func (g Grid) Center(c Cell) Point {
	if !g.Contains(c) {
		return Point{}
	}
	return g.g.center(cell{row: float64(c.Row), col: float64(c.Col)})
}

// Bounds returns the rectangle of cell c of g: the points [Grid.Cell] puts
// in c, up to rounding on its edges (an edge shared with the next cell
// north or east belongs to that cell). The cells of the polar rows reach
// the pole. It returns the zero Bounds when c is not a cell of g.
func (g Grid) Bounds(c Cell) Bounds {
	if !g.Contains(c) {
		return Bounds{}
	}
	row, col := float64(c.Row), float64(c.Col)
	cols := g.g.cols(row)
	dLng := 360 / cols
	b := Bounds{
		South: -90 + row*g.g.dLat,
		West:  -180 + col*dLng,
		North: math.Min(90, -90+(row+1)*g.g.dLat),
		East:  math.Min(180, -180+(col+1)*dLng),
	}
	if row == g.g.rows-1 {
		b.North = 90
	}
	if col == cols-1 {
		b.East = 180
	}
	return b
}

// Cover returns every cell of g that holds a point of circle c, edge
// included, sorted by row, then column, each once. It never misses one;
// the only others it may list come within about a millimeter of the
// circle, from the margins that keep rounding from missing one (1 µm plus
// a trillionth of the radius in distance, 0.11 mm in latitude). In each
// row it lists the columns that the circle's extent in that row's
// latitudes reaches, so it is right across the antimeridian (a circle at
// longitude 179.99 covers cells of column 0 too) and at the poles: a
// circle that holds a pole covers the whole polar row (a point at a pole
// is in the cell of whatever longitude it is given), and every row that
// it holds all around, whole.
//
// A radius of zero covers the cell of the center alone, or the whole polar
// row when the center is at a pole. The count of cells grows with the
// square of radius over size: about π(r/size)² plus the cells on the edge.
// Cover returns nil for an invalid circle (an invalid center, a negative
// or non-finite radius) and with the zero Grid.
func (g Grid) Cover(c Circle) []Cell {
	return g.AppendCover(nil, c)
}

// AppendCover appends the cells of [Grid.Cover] to dst and returns the
// extended slice; it allocates nothing when dst has room for them.
func (g Grid) AppendCover(dst []Cell, c Circle) []Cell {
	p := c.Center
	if g.g.rows == 0 || p.Validate() != nil || !finite(c.Radius) || c.Radius < 0 {
		return dst
	}
	gg := g.g
	if c.Radius == 0 {
		if p.Lat == 90 || p.Lat == -90 {
			return gg.appendRow(dst, gg.at(p).row, -180, 180)
		}
		return append(dst, g.Cell(p))
	}
	// The margin keeps a point whose distance rounds to the radius inside.
	delta := (c.Radius*(1+1e-12) + 1e-6) / EarthRadius
	if delta >= math.Pi {
		return gg.appendBox(dst, -90, 90, -180, 180)
	}
	d := delta * radToDeg
	south, north := math.Max(-90, p.Lat-d), math.Min(90, p.Lat+d)
	if p.Lat == 90 || p.Lat == -90 {
		// Every longitude of a pole names it: the circle is a cap.
		return gg.appendBox(dst, south, north, -180, 180)
	}
	w := widest{lat0: p.Lat * degToRad, havDelta: hav(delta), wide: math.NaN()}
	w.cosLat0 = math.Cos(w.lat0)
	if s := math.Sin(w.lat0) / math.Cos(delta); math.Abs(s) < 1 {
		w.wide = math.Asin(s) * radToDeg
	}
	first := math.Floor(gg.fracRow(Point{Lat: south}))
	last := math.Min(math.Floor(gg.fracRow(Point{Lat: north})), gg.rows-1)
	for row := first; row <= last; row++ {
		// The row's latitudes, widened by a hair (0.11 mm) for a point
		// whose row was rounded across an edge.
		a := math.Max(south, -90+row*gg.dLat-1e-9)
		b := math.Min(north, -90+(row+1)*gg.dLat+1e-9)
		if (b == 90 && p.Lat+d >= 90) || (a == -90 && p.Lat-d <= -90) {
			dst = gg.appendRow(dst, row, -180, 180) // the circle holds the pole
			continue
		}
		half := w.halfWidth(a, b)
		dst = gg.appendRow(dst, row, p.Lng-half, p.Lng+half)
	}
	return dst
}

// widest finds how far in longitude a circle reaches within a band of
// latitudes: the circle of angular radius delta around a center at
// latitude lat0 (radians), with havDelta = hav(delta); wide is the
// latitude in degrees where it is widest, NaN when it has none (it holds a
// pole or a hemisphere).
type widest struct {
	lat0, cosLat0, havDelta, wide float64
}

// halfWidth returns the greatest longitude difference, in degrees, from
// the center of a point of the circle between latitudes a and b (degrees,
// a <= b): 180 or more when the band goes all around. At latitude φ a
// point λ away in longitude is inside when hav(λ) <= h(φ) = (hav(delta) -
// hav(φ - lat0)) / (cos φ cos lat0), and h has one turning point, at the
// latitude of wide: its greatest value in the band is at an end or there.
func (w widest) halfWidth(a, b float64) float64 {
	h := math.Max(w.h(a), w.h(b))
	if w.wide > a && w.wide < b {
		h = math.Max(h, w.h(w.wide))
	}
	switch {
	case h >= 1 || math.IsNaN(h):
		return 180
	case h <= 0:
		return 0
	}
	return 2 * math.Asin(math.Sqrt(h)) * radToDeg
}

// h is the haversine of the half-width of the circle at latitude lat
// (degrees); negative when the circle does not reach lat.
func (w widest) h(lat float64) float64 {
	phi := lat * degToRad
	return (w.havDelta - hav(phi-w.lat0)) / (math.Cos(phi) * w.cosLat0)
}

// hav is the haversine of an angle in radians.
func hav(theta float64) float64 {
	s := math.Sin(theta / 2)
	return s * s
}

// CoverFence returns the cells of g that hold a point of f, as
// [Grid.Cover] does: for a circle, exactly those of Cover; for a polygon,
// those of its bounding box in latitude and longitude (so a few more than
// the polygon needs; a polygon with a vertex at a pole covers the whole
// polar row). It returns an error wrapping [ErrInvalidFence] when f is
// invalid, and none with the zero Grid.
func (g Grid) CoverFence(f Fence) ([]Cell, error) {
	fc, err := prepareFence[struct{}]("", f)
	if err != nil {
		return nil, fmt.Errorf("spatial: cover fence: %w", err)
	}
	if fc.circle {
		return g.Cover(*f.Circle), nil
	}
	if g.g.rows == 0 {
		return nil, nil
	}
	pp := fc.poly
	const pad = 1e-9 // degrees: rounding never moves a point out of the box
	return g.g.appendBox(nil, math.Max(-90, pp.minY-pad), math.Min(90, pp.maxY+pad), pp.minX-pad, pp.maxX+pad), nil
}

// appendBox appends the cells that hold a point between latitudes south
// and north and longitudes west and east (west <= east, unwrapped: they
// may leave [-180, 180] by less than 360), row by row; a polar row the
// box reaches the pole of is appended whole.
func (g grid) appendBox(dst []Cell, south, north, west, east float64) []Cell {
	first := math.Floor(g.fracRow(Point{Lat: south}))
	last := math.Min(math.Floor(g.fracRow(Point{Lat: north})), g.rows-1)
	for row := first; row <= last; row++ {
		if (row == 0 && south == -90) || (row == g.rows-1 && north == 90) {
			dst = g.appendRow(dst, row, -180, 180)
		} else {
			dst = g.appendRow(dst, row, west, east)
		}
	}
	return dst
}

// appendRow appends the cells of row that hold a longitude between west
// and east (west <= east, unwrapped), in column order: all of them when
// the range goes around the globe.
func (g grid) appendRow(dst []Cell, row, west, east float64) []Cell {
	cols := g.cols(row)
	// The same arithmetic as fracCol, which is monotonic in the longitude.
	lo := math.Floor((west + 180) / 360 * cols)
	hi := math.Floor((east + 180) / 360 * cols)
	if hi-lo+1 >= cols {
		return appendCols(dst, row, 0, cols-1)
	}
	turns := math.Floor(lo / cols)
	lo, hi = lo-turns*cols, hi-turns*cols
	if hi >= cols { // across the antimeridian
		dst = appendCols(dst, row, 0, hi-cols)
		return appendCols(dst, row, lo, cols-1)
	}
	return appendCols(dst, row, lo, hi)
}

// appendCols appends the cells of row from column lo to hi.
func appendCols(dst []Cell, row, lo, hi float64) []Cell {
	r := int32(row)
	for c := lo; c <= hi; c++ {
		dst = append(dst, Cell{Row: r, Col: int32(c)})
	}
	return dst
}
