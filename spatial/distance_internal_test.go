package spatial

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bigPrec is the precision of the reference distance, in bits: far more
// than float64's 53, so that its own error is negligible.
const bigPrec = 200

var bigPi, _, _ = big.ParseFloat("3.14159265358979323846264338327950288419716939937510582097494459230781640628620899862803482534211706798", 10, bigPrec, big.ToNearestEven)

func bigF(v float64) *big.Float { return new(big.Float).SetPrec(bigPrec).SetFloat64(v) }

// bigSinCos returns the sine and cosine of x (radians, |x| <= 4) by their
// Taylor series.
func bigSinCos(x *big.Float) (sin, cos *big.Float) {
	sin, cos = bigF(0), bigF(0)
	term := bigF(1) // x^n / n!
	eps := new(big.Float).SetMantExp(bigF(1), -bigPrec-8)
	for n := 0; ; n++ {
		switch n % 4 {
		case 0:
			cos.Add(cos, term)
		case 1:
			sin.Add(sin, term)
		case 2:
			cos.Sub(cos, term)
		case 3:
			sin.Sub(sin, term)
		}
		term.Mul(term, x)
		term.Quo(term, bigF(float64(n+1)))
		if n > 4 && new(big.Float).Abs(term).Cmp(eps) < 0 {
			return sin, cos
		}
	}
}

// bigAsin returns asin(x) for 0 <= x <= 0.75, by Newton's method on sin
// from the float64 value: each step doubles the correct bits.
func bigAsin(x *big.Float) *big.Float {
	f, _ := x.Float64()
	y := bigF(math.Asin(f))
	for range 4 {
		s, c := bigSinCos(y)
		s.Sub(s, x)
		y.Sub(y, s.Quo(s, c))
	}
	return y
}

// bigUnit is unit(p) in bigPrec bits.
func bigUnit(p Point) [3]*big.Float {
	toRad := func(deg float64) *big.Float {
		r := new(big.Float).SetPrec(bigPrec).Mul(bigF(deg), bigPi)
		return r.Quo(r, bigF(180))
	}
	sLat, cLat := bigSinCos(toRad(p.Lat))
	sLng, cLng := bigSinCos(toRad(p.Lng))
	return [3]*big.Float{
		new(big.Float).SetPrec(bigPrec).Mul(cLat, cLng),
		new(big.Float).SetPrec(bigPrec).Mul(cLat, sLng),
		sLat,
	}
}

// refDistance is the great-circle distance between a and b on the sphere
// of radius EarthRadius, computed in bigPrec bits: from the shorter of the
// chord to b and the chord to its antipode, so that asin stays
// well-conditioned.
func refDistance(a, b Point) float64 {
	ua, ub := bigUnit(a), bigUnit(b)
	c2, s2 := bigF(0), bigF(0)
	for i := range 3 {
		d := new(big.Float).SetPrec(bigPrec).Sub(ua[i], ub[i])
		s := new(big.Float).SetPrec(bigPrec).Add(ua[i], ub[i])
		c2.Add(c2, d.Mul(d, d))
		s2.Add(s2, s.Mul(s, s))
	}
	half := func(sq *big.Float) *big.Float { // asin of half the root of sq
		r := new(big.Float).SetPrec(bigPrec).Sqrt(sq)
		return bigAsin(r.Quo(r, bigF(2)))
	}
	var theta *big.Float
	if c2.Cmp(s2) <= 0 {
		theta = half(c2)
		theta.Mul(theta, bigF(2))
	} else if s2.Sign() == 0 {
		theta = new(big.Float).Copy(bigPi)
	} else {
		h := half(s2)
		theta = new(big.Float).SetPrec(bigPrec).Sub(bigPi, h.Mul(h, bigF(2)))
	}
	d, _ := theta.Mul(theta, bigF(EarthRadius)).Float64()
	return d
}

// naiveDistance is the squared chord converted by 2R*asin(c/2), as
// Distance was once computed: ill-conditioned near the antipode.
func naiveDistance(a, b Point) float64 {
	ua, ub := unit(a), unit(b)
	dx, dy, dz := ua[0]-ub[0], ua[1]-ub[1], ua[2]-ub[2]
	return 2 * EarthRadius * math.Asin(math.Min(1, math.Sqrt(dx*dx+dy*dy+dz*dz)/2))
}

// antipode returns the point opposite p, in range.
func antipode(p Point) Point {
	lng := p.Lng + 180
	if lng > 180 {
		lng -= 360
	}
	return Point{Lat: -p.Lat, Lng: lng}
}

// nudge moves p by up to d degrees in latitude and longitude, staying in
// range.
func nudge(rng *rand.Rand, p Point, d float64) Point {
	p.Lat = math.Max(-90, math.Min(90, p.Lat+(2*rng.Float64()-1)*d))
	p.Lng = math.Max(-180, math.Min(180, p.Lng+(2*rng.Float64()-1)*d))
	return p
}

func randomPoint(rng *rand.Rand) Point {
	return Point{Lat: math.Asin(2*rng.Float64()-1) * radToDeg, Lng: rng.Float64()*360 - 180}
}

// TestDistancePrecision checks Distance against a 200-bit reference: well
// under a millimeter everywhere, and in particular near the antipode,
// where a squared chord near 4 has lost the distance to 0.27 m.
func TestDistancePrecision(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		pair func(rng *rand.Rand) (a, b Point)
		// naive is how far the naive conversion gets from the reference
		// at worst on these pairs, at least: proof that the cases reach
		// where it fails.
		naive float64
	}{
		{"exact antipodes", func(rng *rand.Rand) (Point, Point) {
			a := randomPoint(rng)
			return a, antipode(a)
		}, 0.05},
		{"within a micrometer of the antipode", func(rng *rand.Rand) (Point, Point) {
			a := randomPoint(rng)
			return a, nudge(rng, antipode(a), 1e-11)
		}, 0.05},
		{"within a meter of the antipode", func(rng *rand.Rand) (Point, Point) {
			a := randomPoint(rng)
			return a, nudge(rng, antipode(a), 1e-5)
		}, 0.001},
		{"within 100 km of the antipode", func(rng *rand.Rand) (Point, Point) {
			a := randomPoint(rng)
			return a, nudge(rng, antipode(a), 1)
		}, 0},
		{"poles", func(rng *rand.Rand) (Point, Point) {
			a := Point{Lat: 90, Lng: rng.Float64()*360 - 180}
			return a, nudge(rng, Point{Lat: -90, Lng: rng.Float64()*360 - 180}, 1e-11)
		}, 0},
		{"near a quarter circle", func(rng *rand.Rand) (Point, Point) {
			a := randomPoint(rng)
			return a, destinationPoint(a, rng.Float64()*360, (0.5+(2*rng.Float64()-1)*1e-6)*math.Pi*EarthRadius)
		}, 0},
		{"anywhere", func(rng *rand.Rand) (Point, Point) {
			return randomPoint(rng), randomPoint(rng)
		}, 0},
		{"within a meter", func(rng *rand.Rand) (Point, Point) {
			a := randomPoint(rng)
			return a, nudge(rng, a, 1e-5)
		}, 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(11, uint64(i)))
			var worst, worstNaive float64
			for range 300 {
				a, b := tt.pair(rng)
				want := refDistance(a, b)
				got := Distance(a, b)
				require.InDelta(t, want, got, 1e-6, "Distance(%v, %v)", a, b)
				assert.Equal(t, got, Distance(b, a), "symmetric: %v, %v", a, b)
				worst = math.Max(worst, math.Abs(got-want))
				worstNaive = math.Max(worstNaive, math.Abs(naiveDistance(a, b)-want))
			}
			t.Logf("worst error %.3g m (naive %.3g m)", worst, worstNaive)
			assert.GreaterOrEqual(t, worstNaive, tt.naive, "the cases reach where the naive conversion fails")
		})
	}
}

// destinationPoint returns the point d meters from p at bearing degrees.
func destinationPoint(p Point, bearing, d float64) Point {
	q := destination(p, bearing, d)
	q.Lat = math.Max(-90, math.Min(90, q.Lat))
	return q
}

// TestChord2Keys checks the distance keys that the index screens and ranks
// with: they grow with the distance, convert to it and back, and a
// candidate is never screened out for a radius its distance is within.
func TestChord2Keys(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(12, 13))
	tests := []struct {
		name string
		far  func(a Point) Point
	}{
		{"anywhere", func(Point) Point { return randomPoint(rng) }},
		{"near", func(a Point) Point { return nudge(rng, a, math.Pow(10, -12*rng.Float64())) }},
		{"near the antipode", func(a Point) Point { return nudge(rng, antipode(a), math.Pow(10, -12*rng.Float64())) }},
		{"exact antipode", antipode},
		{"near a quarter circle", func(a Point) Point {
			return destinationPoint(a, rng.Float64()*360, (0.5+(2*rng.Float64()-1)*1e-9)*math.Pi*EarthRadius)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 2000 {
				a := randomPoint(rng)
				b := tt.far(a)
				k := chord2(unit(a), unit(b))
				d := chord2ToMeters(k)
				require.False(t, math.IsNaN(k), "chord2(%v, %v)", a, b)
				require.LessOrEqual(t, k, screenChord2(d), "screen for %v m: %v, %v", d, a, b)
				assert.InDelta(t, d, chord2ToMeters(metersToChord2(d)), 1e-7, "round trip of %v m", d)
				// A key a hair larger is a longer distance.
				if k < math.MaxFloat64 {
					assert.GreaterOrEqual(t, chord2ToMeters(math.Nextafter(k, math.Inf(1))), d, "monotone at %v", k)
				}
			}
		})
	}
	assert.Equal(t, math.Pi*EarthRadius, chord2ToMeters(math.Inf(1)), "key of exact antipodes")
	assert.Equal(t, math.Inf(1), metersToChord2(math.Pi*EarthRadius), "half the circumference")
	assert.InDelta(t, math.Pi/2*EarthRadius, chord2ToMeters(2), 1e-8, "a quarter circle")
	assert.InDelta(t, math.Pi/2*EarthRadius, chord2ToMeters(math.Nextafter(2, 3)), 1e-8, "a quarter circle, far side")
}
