package realtime

import (
	"strings"
	"testing"

	"github.com/vicinity-go/vicinity/internal/sio"
)

// BenchmarkEncode measures the encoding of one outgoing packet: the JSON of
// its arguments written into the framed text, and the attachments after it.
func BenchmarkEncode(b *testing.B) {
	inputs := []struct {
		name string
		args []any
	}{
		{"small", []any{"user-42", 52.520008, 13.404954}},
		{"text=16k", []any{strings.Repeat("x", 16<<10)}},
		{"binary", []any{"a.bin", make([]byte, 1024)}},
		{"nested-binary", []any{map[string]any{"name": "a.bin", "body": make([]byte, 1024)}}},
	}
	for _, parser := range []Parser{JSONParser, MsgpackParser} {
		n := New(WithParser(parser)).Of("/chat")
		for _, in := range inputs {
			b.Run(parser.String()+"/"+in.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := n.encode(sio.Event, 7, true, "msg", in.args); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
