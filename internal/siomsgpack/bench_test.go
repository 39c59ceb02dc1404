package siomsgpack_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/vicinity-go/vicinity/internal/sio"
	"github.com/vicinity-go/vicinity/internal/siomsgpack"
)

// benchPackets are a small event, an event with an object argument and a
// binary event with a 4 KiB attachment.
var benchPackets = []struct {
	name string
	p    sio.Packet
	atts [][]byte
}{
	{"small", sio.Packet{Type: sio.Event, Namespace: "/", Data: json.RawMessage(`["chat","hello"]`)}, nil},
	{"object", sio.Packet{Type: sio.Event, Namespace: "/", ID: 12, HasID: true, Data: json.RawMessage(
		`["move",{"id":"u-1234","lat":52.520008,"lng":13.404954,"tags":["a","b","c"],"n":1234567,"ok":true}]`)}, nil},
	{"binary", sio.Packet{Type: sio.BinaryEvent, Namespace: "/", Attachments: 1, Data: json.RawMessage(
		`["file",{"name":"a.bin","data":{"_placeholder":true,"num":0}}]`)}, [][]byte{bytes.Repeat([]byte{7}, 4096)}},
}

func BenchmarkAppend(b *testing.B) {
	for _, bp := range benchPackets {
		b.Run(bp.name, func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 8192)
			for b.Loop() {
				var err error
				if buf, err = siomsgpack.Append(buf[:0], bp.p, bp.atts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, bp := range benchPackets {
		b.Run(bp.name, func(b *testing.B) {
			msg, err := siomsgpack.Append(nil, bp.p, bp.atts)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				if _, _, err := siomsgpack.Decode(msg, sio.Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
