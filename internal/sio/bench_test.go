package sio_test

import (
	"encoding/json"
	"testing"

	"github.com/vicinity-go/vicinity/internal/sio"
)

func BenchmarkDecode(b *testing.B) {
	inputs := []struct {
		name string
		in   string
	}{
		{"event", `2["move",{"lat":52.520008,"lng":13.404954,"accuracy":12.5}]`},
		{"event_nsp_id", `2/geo,4711["nearby",{"lat":52.520008,"lng":13.404954},{"radius":500,"limit":20,"kinds":["cafe","bar"]}]`},
		{"ack", `312[]`},
		{"binary_event", `51-["upload",{"name":"a.bin"},{"_placeholder":true,"num":0}]`},
		{"connect_auth", `0/admin,{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.t-IDcSemACt8x4iTMCda8Yhe3iZaWbvV5XKSTbuAn0M"}`},
	}
	for _, in := range inputs {
		b.Run(in.name, func(b *testing.B) {
			msg := []byte(in.in)
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				if _, err := sio.Decode(msg, sio.Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkMarshalArgs(b *testing.B) {
	type position struct {
		Lat      float64 `json:"lat"`
		Lng      float64 `json:"lng"`
		Accuracy float64 `json:"accuracy"`
	}
	inputs := []struct {
		name  string
		event string
		args  []any
	}{
		{"scalars", "move", []any{"user-42", 52.520008, 13.404954, 12}},
		{"struct", "move", []any{"user-42", position{Lat: 52.520008, Lng: 13.404954, Accuracy: 12.5}}},
		{"binary", "upload", []any{"a.bin", make([]byte, 1024)}},
		{"ack_empty", "", nil},
	}
	for _, in := range inputs {
		b.Run(in.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := sio.MarshalArgs(in.event, in.args); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFill measures the placeholder pass over the data of an incoming
// event: FillPlaceholders checks data without placeholders once more,
// FillDecoded trusts Decode's check.
func BenchmarkFill(b *testing.B) {
	data := []byte(`["move",{"lat":52.520008,"lng":13.404954,"accuracy":12.5},{"radius":500,"limit":20,"kinds":["cafe","bar"]}]`)
	fills := []struct {
		name string
		fill func(json.RawMessage, [][]byte) (json.RawMessage, error)
	}{
		{"FillPlaceholders", sio.FillPlaceholders},
		{"FillDecoded", sio.FillDecoded},
	}
	for _, f := range fills {
		b.Run(f.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := f.fill(data, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
