package siomsgpack_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/vicinity-go/vicinity/internal/sio"
	"github.com/vicinity-go/vicinity/internal/siomsgpack"
)

func FuzzDecode(f *testing.F) {
	for _, tt := range roundTrips {
		f.Add(h(tt.wire))
	}
	for _, tt := range refusals {
		f.Add(h(tt.wire))
	}
	f.Add(nested(20))
	f.Add(h("83 a4 74797065 02 a4 64617461 92 a1 78 d7 00 0000018f34069e7b a3 6e7370 a1 2f"))
	f.Add(h("84 a4 74797065 02 a4 64617461 91 a1 61 a7 6f7074696f6e73 81 a8 636f6d7072657373 c3 a3 6e7370 a1 2f"))
	lim := sio.Limits{MaxAttachments: 3}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, atts, err := siomsgpack.Decode(b, lim)
		if err != nil {
			if !errors.Is(err, sio.ErrInvalidPacket) && !errors.Is(err, sio.ErrTooManyAttachments) {
				t.Fatalf("decode %x: error %v wraps no sentinel", b, err)
			}
			return
		}
		if p.Attachments != len(atts) || len(atts) > lim.MaxAttachments {
			t.Fatalf("decode %x: Attachments %d, %d attachments", b, p.Attachments, len(atts))
		}
		binary := p.Type == sio.BinaryEvent || p.Type == sio.BinaryAck
		if binary != (len(atts) > 0) {
			t.Fatalf("decode %x: type %v with %d attachments", b, p.Type, len(atts))
		}
		if !strings.HasPrefix(p.Namespace, "/") || strings.Contains(p.Namespace, ",") {
			t.Fatalf("decode %x: namespace %q", b, p.Namespace)
		}
		if p.Data != nil && !json.Valid(p.Data) {
			t.Fatalf("decode %x: invalid JSON %q", b, p.Data)
		}
		if len(p.Data) > 6*len(b)+30*len(atts) {
			t.Fatalf("decode %x: %d bytes of JSON", b, len(p.Data))
		}
		// The text codec agrees that the packet is valid.
		if _, err := sio.Decode(p.Append(nil), lim); err != nil {
			t.Fatalf("decode %x = %+v, which sio refuses: %v", b, p, err)
		}
		// Its placeholders are those of atts, in order.
		if len(atts) > 0 {
			if _, err := sio.FillDecoded(p.Data, atts); err != nil {
				t.Fatalf("decode %x: placeholders: %v", b, err)
			}
		}

		enc, err := siomsgpack.Append(nil, p, atts)
		if err != nil {
			t.Fatalf("decode %x = %+v, append: %v", b, p, err)
		}
		again, atts2, err := siomsgpack.Decode(enc, lim)
		if err != nil {
			t.Fatalf("decode %x, appended as %x: %v", b, enc, err)
		}
		if !packetsEqual(p, again) || len(atts) != len(atts2) {
			t.Fatalf("decode %x = %+v, appended as %x, decodes to %+v", b, p, enc, again)
		}
		for i := range atts {
			if !bytes.Equal(atts[i], atts2[i]) {
				t.Fatalf("decode %x: attachment %d changed", b, i)
			}
		}
		if enc2, _ := siomsgpack.Append(nil, again, atts2); !bytes.Equal(enc, enc2) {
			t.Fatalf("decode %x: encodings differ: %x, %x", b, enc, enc2)
		}
	})
}

func packetsEqual(a, b sio.Packet) bool {
	return a.Type == b.Type && a.Namespace == b.Namespace && a.ID == b.ID && a.HasID == b.HasID &&
		a.Attachments == b.Attachments && bytes.Equal(a.Data, b.Data) && (a.Data == nil) == (b.Data == nil)
}

// FuzzAppend feeds Append arbitrary JSON: it must not panic, and what it
// writes for valid JSON must decode to the same JSON as encoding/json reads.
func FuzzAppend(f *testing.F) {
	for _, tt := range roundTrips {
		f.Add(string(tt.p.Data))
	}
	f.Add(` [ "a" , { "b" : [ 1.5e3, -0, "\ud800\n" ] } ] `)
	f.Fuzz(func(t *testing.T, data string) {
		p := sio.Packet{Type: sio.Event, Data: json.RawMessage(data)}
		b, err := siomsgpack.Append(nil, p, nil)
		if err != nil {
			return
		}
		var want any
		if err := json.Unmarshal([]byte(data), &want); err != nil {
			t.Fatalf("append %q: encoding/json refuses it: %v", data, err)
		}
		got, _, err := siomsgpack.Decode(b, sio.Limits{})
		if err != nil {
			return // data not allowed for an EVENT, a placeholder-shaped object
		}
		var have any
		if err := json.Unmarshal(got.Data, &have); err != nil {
			t.Fatalf("append %q, decode: invalid JSON %q", data, got.Data)
		}
		wantJSON, _ := json.Marshal(noNegativeZero(want)) // Append writes -0 as 0, as notepack.io does
		haveJSON, _ := json.Marshal(have)
		if !bytes.Equal(wantJSON, haveJSON) {
			t.Fatalf("append %q, decode: %s, want %s", data, haveJSON, wantJSON)
		}
	})
}

// noNegativeZero returns v with every -0 made 0.
func noNegativeZero(v any) any {
	switch v := v.(type) {
	case float64:
		if v == 0 {
			return 0.0
		}
	case []any:
		for i := range v {
			v[i] = noNegativeZero(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = noNegativeZero(v[k])
		}
	}
	return v
}
