package sio

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestValid(t *testing.T) {
	t.Parallel()
	tests := []string{
		``, ` `, `1`, `-`, `-0`, `-01`, `01`, `0.`, `0.1`, `1e`, `1e+`, `1E-5`, `.5`, `+1`,
		`"`, `""`, `"\"`, `"\u12"`, `"\u12G4"`, `"\u1234"`, `"\x"`, "\"\x01\"", "\"\x7f\xff\"",
		`t`, `true`, `truex`, `nul`, `null`, `false`, `fals`,
		`[`, `[]`, `[1,]`, `[,]`, `[1 2]`, `{}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{a:1}`, `{"a":1 "b":2}`,
		` [ {"a" : [ 1 , "x" ] } ] `, `[]]`, `{}}`, "[\x00]",
		strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth),
		strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1),
		strings.Repeat(`{"a":`, maxDepth) + "1" + strings.Repeat("}", maxDepth),
		strings.Repeat(`{"a":`, maxDepth+1) + "1" + strings.Repeat("}", maxDepth+1),
	}
	for _, in := range tests {
		assert.Equal(t, json.Valid([]byte(in)), valid([]byte(in)), "valid %.40q", in)
	}
}

func FuzzValid(f *testing.F) {
	for _, s := range []string{`["foo",{"a":[1,2.5e-3,true,null]}]`, `"\u00e9\n"`, `{"a":}`, `-0.0E+1`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := valid(b), json.Valid(b); got != want {
			t.Fatalf("valid(%q) = %v, json.Valid says %v", b, got, want)
		}
	})
}

// jsNumberOracle is jsNumber as written before it used AppendFloat:
// JavaScript's Number.prototype.toString for finite numbers.
func jsNumberOracle(f float64) string {
	if f == 0 {
		return "0" // also -0
	}
	if abs := math.Abs(f); abs >= 1e-6 && abs < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	b := strconv.AppendFloat(make([]byte, 0, 24), f, 'e', -1, 64)
	// Go writes e-07 and e+21; JavaScript writes e-7 and e+21.
	if n := len(b); b[n-2] == '0' && (b[n-3] == '-' || b[n-3] == '+') {
		b = append(b[:n-2], b[n-1])
	}
	return string(b)
}

func TestJSNumber(t *testing.T) {
	t.Parallel()
	edges := []float64{
		0, math.Copysign(0, -1), 1, -1, 0.1, 1e-6, -1e-6, 9.999999e-7, 1e-7, 1.5e-10, 1e-100,
		5e-324, -5e-324, 1e20, 9.999999999999999e20, 1e21, -1e21, 1.5e99, 1e100, 1e300,
		math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, 123456789012345680000,
		1 << 53, 0.000001234, 3.141592653589793,
	}
	for _, f := range edges {
		assert.Equal(t, jsNumberOracle(f), jsNumber(f), "jsNumber(%v)", f)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		var f float64
		if r.IntN(2) == 0 {
			f = math.Float64frombits(r.Uint64()) // any exponent
		} else {
			f = (r.Float64() - 0.5) * math.Pow(10, float64(r.IntN(60)-30))
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		if got, want := jsNumber(f), jsNumberOracle(f); got != want {
			t.Fatalf("jsNumber(%v) = %s, want %s", f, got, want)
		}
	}
}

func FuzzJSNumber(f *testing.F) {
	for _, v := range []float64{0, 1e-7, 1e21, 5e-324, math.MaxFloat64, -1.5} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v float64) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return // EventName never passes them: ParseFloat refuses them
		}
		if got, want := jsNumber(v), jsNumberOracle(v); got != want {
			t.Fatalf("jsNumber(%v) = %s, want %s", v, got, want)
		}
	})
}
