package spatial_test

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/spatial"
)

func FuzzPoint(f *testing.F) {
	for _, p := range [][2]float64{
		{0, 0}, {90, 180}, {-90, -180}, {48.8566, 2.3522}, {-17, 179.99999},
		{90.0000001, 0}, {0, -180.1}, {math.NaN(), 0}, {0, math.Inf(-1)},
		{math.MaxFloat64, -math.SmallestNonzeroFloat64},
	} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, lat, lng float64) {
		p := spatial.Point{Lat: lat, Lng: lng}
		err := p.Validate()
		x := spatial.New[int]()
		// A neighbour on the other side of the antimeridian or pole, to
		// make the tree non-trivial.
		require.NoError(t, x.Set(2, spatial.Position{Point: spatial.Point{Lat: 89.5, Lng: -179.5}}))
		setErr := x.Set(1, spatial.Position{Point: p, Accuracy: 5})
		if err != nil {
			require.ErrorIs(t, err, spatial.ErrInvalidPoint)
			require.ErrorIs(t, setErr, spatial.ErrInvalidPoint)
			_, ok := x.Get(1)
			require.False(t, ok)
			require.Equal(t, 1, x.Len())
			_, err = x.Nearby(p, 1, 0)
			require.ErrorIs(t, err, spatial.ErrInvalidPoint)
			_, err = x.Nearest(p, 1)
			require.ErrorIs(t, err, spatial.ErrInvalidPoint)
			return
		}
		require.NoError(t, setErr)
		got, ok := x.Get(1)
		require.True(t, ok)
		require.Equal(t, p, got.Point)

		hits, err := x.Nearby(p, 0, 0)
		require.NoError(t, err)
		require.NotEmpty(t, hits, "Nearby(%v, 0)", p)
		assert.Contains(t, ids(hits), 1)
		assert.Zero(t, hits[0].Distance)

		hits, err = x.Nearest(p, 1)
		require.NoError(t, err)
		require.Len(t, hits, 1)
		assert.Zero(t, hits[0].Distance)

		hits, err = x.WithinBounds(spatial.Bounds{South: lat, West: lng, North: lat, East: lng})
		require.NoError(t, err)
		assert.Contains(t, ids(hits), 1)

		require.True(t, x.Remove(1))
		require.Equal(t, 1, x.Len())
	})
}

// decodePolygon turns fuzz bytes into vertices. Mode 0 reads int16 pairs
// scaled a little past the valid range, so most vertices are valid; mode 1
// reads raw float64 pairs (NaN, Inf, anything).
func decodePolygon(data []byte) spatial.Polygon {
	if len(data) == 0 {
		return nil
	}
	mode, data := data[0]%2, data[1:]
	var poly spatial.Polygon
	if mode == 0 {
		for ; len(data) >= 4; data = data[4:] {
			lat := float64(int16(binary.LittleEndian.Uint16(data))) / math.MaxInt16 * 91
			lng := float64(int16(binary.LittleEndian.Uint16(data[2:]))) / math.MaxInt16 * 181
			poly = append(poly, spatial.Point{Lat: lat, Lng: lng})
		}
		return poly
	}
	for ; len(data) >= 16; data = data[16:] {
		poly = append(poly, spatial.Point{
			Lat: math.Float64frombits(binary.LittleEndian.Uint64(data)),
			Lng: math.Float64frombits(binary.LittleEndian.Uint64(data[8:])),
		})
	}
	return poly
}

func FuzzPolygon(f *testing.F) {
	le := binary.LittleEndian
	seed := func(mode byte, pts ...[2]float64) []byte {
		b := []byte{mode}
		for _, p := range pts {
			if mode == 0 {
				b = le.AppendUint16(b, uint16(int16(p[0]/91*math.MaxInt16)))
				b = le.AppendUint16(b, uint16(int16(p[1]/181*math.MaxInt16)))
			} else {
				b = le.AppendUint64(b, math.Float64bits(p[0]))
				b = le.AppendUint64(b, math.Float64bits(p[1]))
			}
		}
		return b
	}
	f.Add(seed(0, [2]float64{0, 0}, [2]float64{0, 1}, [2]float64{1, 1}, [2]float64{1, 0}))
	f.Add(seed(0, [2]float64{-12, 177}, [2]float64{-12, -178}, [2]float64{-21, -178}, [2]float64{-21, 177}))
	f.Add(seed(0, [2]float64{80, 0}, [2]float64{80, 120}, [2]float64{80, -120}))
	// Reaching a pole: its members at every longitude are inside.
	f.Add(seed(1, [2]float64{80, 0}, [2]float64{80, 90}, [2]float64{90, 90}, [2]float64{90, 0}))
	f.Add(seed(1, [2]float64{-80, 170}, [2]float64{-80, -170}, [2]float64{-90, -170}, [2]float64{-90, 170}))
	f.Add(seed(1, [2]float64{0, 0}, [2]float64{math.NaN(), 1}, [2]float64{1, 1}))
	f.Add(seed(1, [2]float64{0, 0}, [2]float64{1, 1}))
	f.Add([]byte{})

	// Members on a grid, including the antimeridian and the poles.
	x := spatial.New[spatial.Point]()
	for lat := -90.0; lat <= 90; lat += 7.5 {
		for lng := -180.0; lng <= 180; lng += 7.5 {
			p := spatial.Point{Lat: lat, Lng: lng}
			if err := x.Set(p, spatial.Position{Point: p}); err != nil {
				f.Fatal(err)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		poly := decodePolygon(data)
		err := poly.Validate()
		hits, qerr := x.WithinPolygon(poly)
		if err != nil {
			require.ErrorIs(t, err, spatial.ErrInvalidPolygon)
			require.ErrorIs(t, qerr, spatial.ErrInvalidPolygon)
			require.Empty(t, hits)
			require.False(t, poly.Contains(spatial.Point{}))
			return
		}
		require.NoError(t, qerr)
		require.GreaterOrEqual(t, len(poly), 3)
		for _, v := range poly {
			require.NoError(t, v.Validate())
		}
		var want []spatial.Point
		for lat := -90.0; lat <= 90; lat += 7.5 {
			for lng := -180.0; lng <= 180; lng += 7.5 {
				if p := (spatial.Point{Lat: lat, Lng: lng}); poly.Contains(p) {
					want = append(want, p)
				}
			}
		}
		assert.ElementsMatch(t, want, ids(hits))
	})
}
