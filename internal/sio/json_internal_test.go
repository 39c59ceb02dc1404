package sio

import (
	"encoding/json"
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
