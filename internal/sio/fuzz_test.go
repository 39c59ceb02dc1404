package sio_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/vicinity-go/vicinity/internal/sio"
)

func FuzzDecode(f *testing.F) {
	for _, tt := range validPackets {
		f.Add([]byte(tt.in))
	}
	for _, tt := range invalidPackets {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := sio.Decode(b, sio.Limits{})
		if err != nil {
			if !errors.Is(err, sio.ErrInvalidPacket) && !errors.Is(err, sio.ErrTooManyAttachments) {
				t.Fatalf("decode %q: error %v wraps no sentinel", b, err)
			}
			return
		}
		if p.Type > sio.BinaryAck {
			t.Fatalf("decode %q: type %d", b, p.Type)
		}
		binary := p.Type == sio.BinaryEvent || p.Type == sio.BinaryAck
		if p.Attachments < 0 || p.Attachments > sio.DefaultMaxAttachments || !binary && p.Attachments != 0 {
			t.Fatalf("decode %q: %d attachments for %v", b, p.Attachments, p.Type)
		}
		if !strings.HasPrefix(p.Namespace, "/") || strings.Contains(p.Namespace, ",") {
			t.Fatalf("decode %q: namespace %q", b, p.Namespace)
		}
		if p.Data != nil && !json.Valid(p.Data) {
			t.Fatalf("decode %q: invalid JSON data %q", b, p.Data)
		}
		if msg := checkDataOracle(p); msg != "" {
			t.Fatalf("decode %q: %s", b, msg)
		}

		enc := p.Append(nil)
		again, err := sio.Decode(enc, sio.Limits{})
		if err != nil {
			t.Fatalf("decode %q, encoded as %q: %v", b, enc, err)
		}
		if !packetsEqual(p, again) {
			t.Fatalf("decode %q = %+v, encoded as %q, decodes to %+v", b, p, enc, again)
		}
		if enc2 := again.Append(nil); !bytes.Equal(enc, enc2) {
			t.Fatalf("decode %q: encodings differ: %q, %q", b, enc, enc2)
		}
	})
}

func packetsEqual(a, b sio.Packet) bool {
	return a.Type == b.Type && a.Namespace == b.Namespace && a.ID == b.ID && a.HasID == b.HasID &&
		a.Attachments == b.Attachments && bytes.Equal(a.Data, b.Data) && (a.Data == nil) == (b.Data == nil)
}

// checkDataOracle checks a decoded packet's data against the payload rules
// with encoding/json; it returns what is wrong, or "".
func checkDataOracle(p sio.Packet) string {
	if p.Data == nil {
		switch p.Type {
		case sio.Connect, sio.Disconnect:
			return ""
		}
		return "data missing for " + p.Type.String()
	}
	var v any
	if err := json.Unmarshal(p.Data, &v); err != nil {
		return "encoding/json: " + err.Error()
	}
	ok := false
	switch p.Type {
	case sio.Connect:
		_, ok = v.(map[string]any)
	case sio.ConnectError:
		switch v.(type) {
		case string, map[string]any:
			ok = true
		}
	case sio.Event, sio.BinaryEvent:
		if arr, isArr := v.([]any); isArr && len(arr) > 0 {
			switch name := arr[0].(type) {
			case float64:
				ok = true
			case string:
				ok = !sio.Reserved(name)
			}
		}
	case sio.Ack, sio.BinaryAck:
		_, ok = v.([]any)
	}
	if !ok {
		return "data not allowed for " + p.Type.String()
	}
	return ""
}

func FuzzFillPlaceholders(f *testing.F) {
	f.Add([]byte(`["baz",{"_placeholder":true,"num":0}]`), uint8(1))
	f.Add([]byte(`["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`), uint8(2))
	f.Add([]byte(`["up",{"file":{"data":{"num":1,"_placeholder":true}}},[[{"_placeholder":true,"num":0}]]]`), uint8(2))
	f.Add([]byte(`{"_placeholder":true,"num":3}`), uint8(3))
	f.Add([]byte(`[{"_placeholder":true,"num":0,"x":1},{"_placeholder":false,"num":0}]`), uint8(1))
	f.Add([]byte(`["\"_placeholder\":true"]`), uint8(0))
	f.Add([]byte(`["foo",1,null]`), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, n uint8) {
		atts := make([][]byte, n%5)
		for i := range atts {
			atts[i] = bytes.Repeat([]byte{byte(i)}, i)
		}
		out, err := sio.FillPlaceholders(data, atts)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("fill %q: invalid JSON %q", data, out)
		}
		if !bytes.Contains(data, []byte(`"_placeholder"`)) && !bytes.Equal(out, data) {
			t.Fatalf("fill %q without placeholders changed it to %q", data, out)
		}
		if bytes.IndexByte(data, '\\') >= 0 || hasDuplicateKeys(data) {
			return // the oracle cannot tell escaped keys from literal ones, nor count repeated keys
		}
		in, err := unmarshalNumbers(data)
		if err != nil {
			t.Fatalf("fill %q succeeded on what encoding/json refuses: %v", data, err)
		}
		got, err := unmarshalNumbers(out)
		if err != nil {
			t.Fatalf("fill %q: unmarshal %q: %v", data, out, err)
		}
		want := fillOracle(in, atts)
		wantJSON, _ := json.Marshal(want)
		gotJSON, _ := json.Marshal(got)
		if !bytes.Equal(wantJSON, gotJSON) {
			t.Fatalf("fill %q = %s, want %s", data, gotJSON, wantJSON)
		}
	})
}

// FuzzFillDecoded checks that FillDecoded, which trusts its input to be
// valid JSON, agrees with FillPlaceholders on valid JSON, and does not
// panic on anything else.
func FuzzFillDecoded(f *testing.F) {
	f.Add([]byte(`["baz",{"_placeholder":true,"num":0}]`), uint8(1))
	f.Add([]byte(`["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`), uint8(2))
	f.Add([]byte(`["up",{"file":{"data":{"num":1,"_placeholder":true}}},[[{"_placeholder":true,"num":0}]]]`), uint8(2))
	f.Add([]byte(`[{"_placeholder":true,"num":3}]`), uint8(3))
	f.Add([]byte(` ["foo",1,null] `), uint8(0))
	f.Add([]byte(`["a",{"_placeholder":true,"num":0}`), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, n uint8) {
		atts := make([][]byte, n%5)
		for i := range atts {
			atts[i] = bytes.Repeat([]byte{byte(i)}, i)
		}
		got, gotErr := sio.FillDecoded(data, atts)
		if !json.Valid(data) {
			return
		}
		want, wantErr := sio.FillPlaceholders(data, atts)
		if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
			t.Fatalf("FillDecoded(%q) error %v, FillPlaceholders %v", data, gotErr, wantErr)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("FillDecoded(%q) = %q, FillPlaceholders %q", data, got, want)
		}
	})
}

// hasDuplicateKeys reports whether an object in the valid JSON data repeats
// a key, which decoding into a map hides.
func hasDuplicateKeys(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		keys      map[string]bool // nil for an array
		expectKey bool
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		top := len(stack) - 1
		if top >= 0 && stack[top].keys != nil {
			if stack[top].expectKey {
				if key, ok := tok.(string); ok {
					if stack[top].keys[key] {
						return true
					}
					stack[top].keys[key] = true
					stack[top].expectKey = false
					continue
				}
			} else {
				stack[top].expectKey = true // this token starts the member's value
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{keys: map[string]bool{}, expectKey: true})
		case json.Delim('['):
			stack = append(stack, frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
	}
}

// unmarshalNumbers decodes data keeping numbers as json.Number.
func unmarshalNumbers(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the value: %v", err)
	}
	return v, nil
}

// fillOracle replaces placeholders in a tree decoded by encoding/json.
func fillOracle(v any, atts [][]byte) any {
	switch v := v.(type) {
	case []any:
		for i := range v {
			v[i] = fillOracle(v[i], atts)
		}
	case map[string]any:
		if num, isNum := v["num"].(json.Number); isNum && len(v) == 2 && v["_placeholder"] == true {
			if n, err := num.Int64(); err == nil && n >= 0 && n < int64(len(atts)) {
				return base64.StdEncoding.EncodeToString(atts[n])
			}
		}
		for k := range v {
			v[k] = fillOracle(v[k], atts)
		}
	}
	return v
}

func FuzzSplitArray(f *testing.F) {
	f.Add([]byte(`["a",1,-2.5e3,true,false,null,{"b":[1,{}]},[[]],"]"]`))
	f.Add([]byte(" [ 1 ,\n\"x\" \t, {} ] "))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[1,]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := sio.SplitArray(data)
		trimmed := bytes.TrimLeft(data, " \t\r\n")
		if len(trimmed) == 0 || trimmed[0] != '[' {
			if err == nil {
				t.Fatalf("split %q: no error for a non-array", data)
			}
			return
		}
		var want []json.RawMessage
		wantErr := json.Unmarshal(data, &want)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("split %q: error %v, encoding/json says %v", data, err, wantErr)
		}
		if err != nil {
			return
		}
		if len(got) != len(want) {
			t.Fatalf("split %q: %d elements, want %d", data, len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("split %q: element %d is %q, want %q", data, i, got[i], want[i])
			}
		}
	})
}

// FuzzDecodeEvent checks the arguments of binary events: no panic; Bind
// into an any, Values and MarshalJSON agree; sending Values again gives
// the same arguments back, binary as binary.
func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`51-["x",{"_placeholder":true,"num":0}]`), uint8(1))
	f.Add([]byte(`52-["x",{"a":[{"_placeholder":true,"num":1},"s"]},{"num":0,"_placeholder":true}]`), uint8(2))
	f.Add([]byte(`2["x",{"_placeholder":true,"num":0},1.5e3,"\u00e9\ud83d\ude00",null,true,[]]`), uint8(0))
	f.Add([]byte(`51-["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":0}]`), uint8(1))
	f.Fuzz(func(t *testing.T, text []byte, n uint8) {
		p, err := sio.Decode(text, sio.Limits{})
		if err != nil || (p.Type != sio.Event && p.Type != sio.BinaryEvent) {
			return
		}
		atts := make([][]byte, min(int(n)%4, p.Attachments))
		for i := range atts {
			atts[i] = []byte{byte(i), 0xff}
		}
		_, args, err := sio.DecodeEvent(&p, atts)
		if err != nil {
			if !errors.Is(err, sio.ErrInvalidPacket) {
				t.Fatalf("decode event %q: error %v wraps no sentinel", text, err)
			}
			return
		}
		b, err := json.Marshal(args)
		if err != nil || !json.Valid(b) {
			t.Fatalf("MarshalJSON of %q: %s, %v", text, b, err)
		}
		want := make([]any, args.Len())
		for i := range want {
			if err := args.Bind(append(make([]any, i), &want[i])...); err != nil {
				return // a number out of float64's range, say
			}
		}
		data, out, err := sio.MarshalArgs("x", args.Values())
		if err != nil {
			t.Fatalf("re-encode %q: %v", text, err)
		}
		typ := sio.Event
		if len(out) > 0 {
			typ = sio.BinaryEvent
		}
		again := sio.Packet{Type: typ, Data: data, Attachments: len(out)}
		_, args2, err := sio.DecodeEvent(&again, out)
		if err != nil {
			t.Fatalf("decode re-encoded %s: %v", data, err)
		}
		got := make([]any, args2.Len())
		for i := range got {
			if err := args2.Bind(append(make([]any, i), &got[i])...); err != nil {
				t.Fatalf("bind re-encoded %s: %v", data, err)
			}
		}
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("%q: sent again as %s: %#v, want %#v", text, data, got, want)
		}
	})
}
