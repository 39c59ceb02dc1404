package siomsgpack_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/internal/sio"
	"github.com/vicinity-go/vicinity/internal/siomsgpack"
)

// h decodes hex written with optional spaces.
func h(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// roundTrips are packets with the exact bytes socket.io-msgpack-parser
// writes for them (checked against it by TestNode for the same objects).
var roundTrips = []struct {
	name string
	p    sio.Packet
	atts [][]byte
	wire string
}{
	{
		name: "connect",
		p:    sio.Packet{Type: sio.Connect, Namespace: "/"},
		wire: "82 a4 74797065 00 a3 6e7370 a1 2f",
	},
	{
		name: "connect with auth",
		p:    sio.Packet{Type: sio.Connect, Namespace: "/admin", Data: json.RawMessage(`{"token":"abc","n":1}`)},
		wire: "83 a4 74797065 00 a4 64617461 82 a5 746f6b656e a3 616263 a1 6e 01 a3 6e7370 a6 2f61646d696e",
	},
	{
		name: "disconnect",
		p:    sio.Packet{Type: sio.Disconnect, Namespace: "/admin"},
		wire: "82 a4 74797065 01 a3 6e7370 a6 2f61646d696e",
	},
	{
		name: "event",
		p:    sio.Packet{Type: sio.Event, Namespace: "/", Data: json.RawMessage(`["chat","hi",1,-1,1.5,true,false,null]`)},
		wire: "83 a4 74797065 02 a4 64617461 98 a4 63686174 a2 6869 01 ff cb 3ff8000000000000 c3 c2 c0 a3 6e7370 a1 2f",
	},
	{
		name: "event with ack id",
		p:    sio.Packet{Type: sio.Event, Namespace: "/", Data: json.RawMessage(`["ping"]`), ID: 7, HasID: true},
		wire: "84 a4 74797065 02 a4 64617461 91 a4 70696e67 a2 6964 07 a3 6e7370 a1 2f",
	},
	{
		name: "ack",
		p:    sio.Packet{Type: sio.Ack, Namespace: "/", Data: json.RawMessage(`[]`), ID: 300, HasID: true},
		wire: "84 a4 74797065 03 a4 64617461 90 a2 6964 cd012c a3 6e7370 a1 2f",
	},
	{
		name: "connect_error",
		p:    sio.Packet{Type: sio.ConnectError, Namespace: "/", Data: json.RawMessage(`"Not authorized"`)},
		wire: "83 a4 74797065 04 a4 64617461 ae 4e6f7420617574686f72697a6564 a3 6e7370 a1 2f",
	},
	{
		name: "binary event",
		p: sio.Packet{Type: sio.BinaryEvent, Namespace: "/", Attachments: 1,
			Data: json.RawMessage(`["bin",{"_placeholder":true,"num":0}]`)},
		atts: [][]byte{{1, 2, 3}},
		wire: "83 a4 74797065 02 a4 64617461 92 a3 62696e c4 03 010203 a3 6e7370 a1 2f",
	},
	{
		name: "binary ack",
		p: sio.Packet{Type: sio.BinaryAck, Namespace: "/", ID: 1, HasID: true, Attachments: 1,
			Data: json.RawMessage(`[{"_placeholder":true,"num":0}]`)},
		atts: [][]byte{{0xff}},
		wire: "84 a4 74797065 03 a4 64617461 91 c4 01 ff a2 6964 01 a3 6e7370 a1 2f",
	},
	{
		name: "nested binary",
		p: sio.Packet{Type: sio.BinaryEvent, Namespace: "/", Attachments: 2,
			Data: json.RawMessage(`["b",{"f":{"_placeholder":true,"num":0},"l":[{"_placeholder":true,"num":1}]}]`)},
		atts: [][]byte{[]byte("hi"), {}},
		wire: "83 a4 74797065 02 a4 64617461 92 a1 62 82 a1 66 c4 02 6869 a1 6c 91 c4 00 a3 6e7370 a1 2f",
	},
	{
		name: "integers",
		p: sio.Packet{Type: sio.Event, Namespace: "/", Data: json.RawMessage(
			`[0,127,128,65536,-32,-33,-129,-2147483649,18446744073709551615,-9223372036854775808]`)},
		wire: "83 a4 74797065 02 a4 64617461 9a 00 7f cc80 ce00010000 e0 d0df d1ff7f d3ffffffff7fffffff" +
			" cfffffffffffffffff d38000000000000000 a3 6e7370 a1 2f",
	},
	{
		name: "large ack id",
		p:    sio.Packet{Type: sio.Ack, Namespace: "/", Data: json.RawMessage(`[]`), ID: 1 << 63, HasID: true},
		wire: "84 a4 74797065 03 a4 64617461 90 a2 6964 cf8000000000000000 a3 6e7370 a1 2f",
	},
	{
		name: "object with 16 members",
		p: sio.Packet{Type: sio.Connect, Namespace: "/", Data: json.RawMessage(
			`{"a":0,"b":1,"c":2,"d":3,"e":4,"f":5,"g":6,"h":7,"i":8,"j":9,"k":10,"l":11,"m":12,"n":13,"o":14,"p":15}`)},
		wire: "83 a4 74797065 00 a4 64617461 de0010 a161 00 a162 01 a163 02 a164 03 a165 04 a166 05 a167 06 a168 07" +
			" a169 08 a16a 09 a16b 0a a16c 0b a16d 0c a16e 0d a16f 0e a170 0f a3 6e7370 a1 2f",
	},
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tt := range roundTrips {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wire, err := siomsgpack.Append(nil, tt.p, tt.atts)
			require.NoError(t, err, "append %+v", tt.p)
			assert.Equal(t, hex.EncodeToString(h(tt.wire)), hex.EncodeToString(wire))

			p, atts, err := siomsgpack.Decode(wire, sio.Limits{})
			require.NoError(t, err, "decode %x", wire)
			assert.Equal(t, tt.p, p)
			assert.Equal(t, tt.atts, atts)
		})
	}
}

func TestAppendKeepsDst(t *testing.T) {
	t.Parallel()
	p := sio.Packet{Type: sio.Event, Data: json.RawMessage(`["a"]`)}
	b, err := siomsgpack.Append([]byte("prefix"), p, nil)
	require.NoError(t, err)
	assert.Equal(t, "prefix", string(b[:6]))
	_, _, err = siomsgpack.Decode(b[6:], sio.Limits{})
	require.NoError(t, err)

	p.Data = json.RawMessage(`["a",`)
	b, err = siomsgpack.Append([]byte("prefix"), p, nil)
	require.Error(t, err)
	assert.Equal(t, "prefix", string(b))
}

// TestConversions decodes msgpack data and checks the JSON written.
func TestConversions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data string // hex of the value of "data", an EVENT's array
		want string
	}{
		{"float32", "92 a1 78 ca 3dcccccd", `["x",0.10000000149011612]`},
		{"float64 exponent", "93 a1 78 cb 3e7ad7f29abcaf48 cb 444b1ae4d6e2ef50", `["x",1e-7,1e+21]`},
		{"negative zero", "92 a1 78 cb 8000000000000000", `["x",0]`},
		{"int64 extremes", "93 a1 78 d3 8000000000000000 cf ffffffffffffffff", `["x",-9223372036854775808,18446744073709551615]`},
		{"escapes", "92 a1 78 a7 220a5c01e280a8", `["x","\"\n\\\u0001\u2028"]`},
		{"invalid UTF-8 string", "92 a1 78 a3 61ff62", "[\"x\",\"a\uFFFDb\"]"},
		{"invalid UTF-8 key", "92 a1 78 81 a1 ff 01", "[\"x\",{\"\uFFFD\":1}]"},
		{"arraybuffer is binary", "92 a1 78 c7 02 00 0102", `["x",{"_placeholder":true,"num":0}]`},
		{"undefined in array", "93 a1 78 d4 00 00 c0", `["x",null,null]`},
		{"undefined member", "92 a1 78 83 a1 61 d40000 a1 62 01 a1 63 d40000", `["x",{"b":1}]`},
		{"only undefined members", "92 a1 78 81 a1 61 d40000", `["x",{}]`},
		{"date", "92 a1 78 d7 00 0000018f34069e7b", `["x","2024-05-01T12:00:00.123Z"]`},
		{"date before the epoch", "92 a1 78 d7 00 ffffffffffffffff", `["x","1969-12-31T23:59:59.999Z"]`},
		{"date year -1", "92 a1 78 d7 00 ffffc76e394a7400", `["x","-000001-01-01T00:00:00.000Z"]`},
		{"date year 10000", "92 a1 78 d7 00 0000e677d21fdc00", `["x","+010000-01-01T00:00:00.000Z"]`},
		{"date at the limit", "92 a1 78 d7 00 001eb208c2dc0000", `["x","+275760-09-13T00:00:00.000Z"]`},
		{"invalid date", "92 a1 78 d7 00 001eb208c2dc0001", `["x",null]`},
		{"duplicate keys kept", "92 a1 78 82 a1 61 01 a1 61 02", `["x",{"a":1,"a":2}]`},
		{"placeholder with a third member", "92 a1 78 83 ac 5f706c616365686f6c646572 c3 a3 6e756d 00 a1 78 c0",
			`["x",{"_placeholder":true,"num":0,"x":null}]`},
		{"placeholder flag false", "92 a1 78 82 ac 5f706c616365686f6c646572 c2 a3 6e756d 00",
			`["x",{"_placeholder":false,"num":0}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg := append(h("83 a4 74797065 02 a4 64617461"), h(tt.data)...)
			msg = append(msg, h("a3 6e7370 a1 2f")...)
			p, _, err := siomsgpack.Decode(msg, sio.Limits{})
			require.NoError(t, err, "decode %x", msg)
			assert.Equal(t, tt.want, string(p.Data))
			assert.True(t, json.Valid(p.Data), "valid JSON %s", p.Data)

			// What Append writes decodes to the same packet.
			again, err := siomsgpack.Append(nil, p, nil)
			if p.Type == sio.BinaryEvent {
				_, atts, _ := siomsgpack.Decode(msg, sio.Limits{})
				again, err = siomsgpack.Append(nil, p, atts)
			}
			require.NoError(t, err)
			p2, _, err := siomsgpack.Decode(again, sio.Limits{})
			require.NoError(t, err, "decode %x", again)
			assert.Equal(t, p, p2)
		})
	}
}

// TestDecodeKeys covers the top-level keys: order, unknown keys, undefined.
func TestDecodeKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		wire string
		want sio.Packet
	}{
		{"client connect, data undefined", "83 a4 74797065 00 a4 64617461 d40000 a3 6e7370 a1 2f",
			sio.Packet{Type: sio.Connect, Namespace: "/"}},
		{"options ignored", "84 a4 74797065 02 a4 64617461 91 a1 61 a7 6f7074696f6e73 81 a8 636f6d7072657373 c3 a3 6e7370 a1 2f",
			sio.Packet{Type: sio.Event, Namespace: "/", Data: json.RawMessage(`["a"]`)}},
		{"unknown key with binary and ext", "84 a4 74797065 02 a4 64617461 91 a1 61 a1 78 92 c4 01 00 d6 05 00000000 a3 6e7370 a1 2f",
			sio.Packet{Type: sio.Event, Namespace: "/", Data: json.RawMessage(`["a"]`)}},
		{"keys in any order", "84 a2 6964 05 a3 6e7370 a2 2f61 a4 64617461 91 a1 61 a4 74797065 03",
			sio.Packet{Type: sio.Ack, Namespace: "/a", ID: 5, HasID: true, Data: json.RawMessage(`["a"]`)}},
		{"id undefined", "84 a4 74797065 02 a4 64617461 91 a1 61 a2 6964 d40000 a3 6e7370 a1 2f",
			sio.Packet{Type: sio.Event, Namespace: "/", Data: json.RawMessage(`["a"]`)}},
		{"integral float type and id", "84 a4 74797065 cb 4000000000000000 a4 64617461 91 a1 61 a2 6964 cb 4008000000000000 a3 6e7370 a1 2f",
			sio.Packet{Type: sio.Event, Namespace: "/", ID: 3, HasID: true, Data: json.RawMessage(`["a"]`)}},
		{"numeric event name", "83 a4 74797065 02 a4 64617461 91 cb 3ff8000000000000 a3 6e7370 a1 2f",
			sio.Packet{Type: sio.Event, Namespace: "/", Data: json.RawMessage(`[1.5]`)}},
		{"reserved name not first", "83 a4 74797065 02 a4 64617461 92 a1 61 a7 636f6e6e656374 a3 6e7370 a1 2f",
			sio.Packet{Type: sio.Event, Namespace: "/", Data: json.RawMessage(`["a","connect"]`)}},
		{"connect_error object", "83 a4 74797065 04 a4 64617461 80 a3 6e7370 a1 2f",
			sio.Packet{Type: sio.ConnectError, Namespace: "/", Data: json.RawMessage(`{}`)}},
		{"map16 and str8 forms", "de0002 a4 74797065 00 a3 6e7370 d9 02 2f78",
			sio.Packet{Type: sio.Connect, Namespace: "/x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, atts, err := siomsgpack.Decode(h(tt.wire), sio.Limits{})
			require.NoError(t, err, "decode %s", tt.wire)
			assert.Equal(t, tt.want, p)
			assert.Empty(t, atts)
		})
	}
}

// refusals are messages Decode refuses. node says whether
// socket.io-msgpack-parser refuses them too (checked by TestNode).
var refusals = []struct {
	name string
	wire string
	node bool // the npm parser refuses it as well
}{
	{"empty", "", true},
	{"not a map", "92 02 a1 2f", true},
	{"truncated map", "83 a4 74797065 02", true},
	{"truncated string", "82 a4 74797065 02 a3 6e7370 a5 2f", true},
	{"trailing bytes", "82 a4 74797065 00 a3 6e7370 a1 2f 00", true},
	{"unused code c1", "82 a4 74797065 00 a3 6e7370 c1", true},
	{"type missing", "81 a3 6e7370 a1 2f", true},
	{"type 5", "82 a4 74797065 05 a3 6e7370 a1 2f", true},
	{"type 6", "83 a4 74797065 06 a4 64617461 90 a3 6e7370 a1 2f", true},
	{"type negative", "82 a4 74797065 ff a3 6e7370 a1 2f", true},
	{"type fractional", "82 a4 74797065 cb 3ff8000000000000 a3 6e7370 a1 2f", true},
	{"type a string", "82 a4 74797065 a1 30 a3 6e7370 a1 2f", true},
	{"type undefined", "82 a4 74797065 d40000 a3 6e7370 a1 2f", true},
	{"nsp missing", "81 a4 74797065 00", true},
	{"nsp not a string", "82 a4 74797065 00 a3 6e7370 c0", true},
	{"nsp undefined", "82 a4 74797065 00 a3 6e7370 d40000", true},
	{"connect with null data", "83 a4 74797065 00 a4 64617461 c0 a3 6e7370 a1 2f", true},
	{"connect with array data", "83 a4 74797065 00 a4 64617461 90 a3 6e7370 a1 2f", true},
	{"disconnect with data", "83 a4 74797065 01 a4 64617461 80 a3 6e7370 a1 2f", true},
	{"connect_error without data", "82 a4 74797065 04 a3 6e7370 a1 2f", true},
	{"connect_error with number", "83 a4 74797065 04 a4 64617461 01 a3 6e7370 a1 2f", true},
	{"event without data", "82 a4 74797065 02 a3 6e7370 a1 2f", true},
	{"event with object data", "83 a4 74797065 02 a4 64617461 80 a3 6e7370 a1 2f", true},
	{"ack with string data", "84 a4 74797065 03 a4 64617461 a1 61 a2 6964 01 a3 6e7370 a1 2f", true},
	{"id a string", "84 a4 74797065 02 a4 64617461 91 a1 61 a2 6964 a1 31 a3 6e7370 a1 2f", true},
	{"id fractional", "84 a4 74797065 02 a4 64617461 91 a1 61 a2 6964 cb 3ff8000000000000 a3 6e7370 a1 2f", true},
	{"id null", "84 a4 74797065 02 a4 64617461 91 a1 61 a2 6964 c0 a3 6e7370 a1 2f", true},

	// Where Decode is stricter, as sio.Decode is for the text protocol.
	{"event with empty array", "83 a4 74797065 02 a4 64617461 90 a3 6e7370 a1 2f", false},
	{"event name null", "83 a4 74797065 02 a4 64617461 91 c0 a3 6e7370 a1 2f", false},
	{"event name a map", "83 a4 74797065 02 a4 64617461 91 80 a3 6e7370 a1 2f", false},
	{"event name binary", "83 a4 74797065 02 a4 64617461 91 c4 00 a3 6e7370 a1 2f", false},
	{"reserved event name", "83 a4 74797065 02 a4 64617461 91 a7 636f6e6e656374 a3 6e7370 a1 2f", false},
	{"reserved event name disconnecting", "83 a4 74797065 02 a4 64617461 91 ad 646973636f6e6e656374696e67 a3 6e7370 a1 2f", false},
	{"id negative", "84 a4 74797065 02 a4 64617461 91 a1 61 a2 6964 ff a3 6e7370 a1 2f", false},
	{"id too large", "84 a4 74797065 02 a4 64617461 91 a1 61 a2 6964 cb 4430000000000000 a3 6e7370 a1 2f", false},
	{"nsp empty", "82 a4 74797065 00 a3 6e7370 a0", false},
	{"nsp without slash", "82 a4 74797065 00 a3 6e7370 a1 61", false},
	{"nsp with comma", "82 a4 74797065 00 a3 6e7370 a3 2f612c", false},
	{"nsp invalid UTF-8", "82 a4 74797065 00 a3 6e7370 a2 2fff", false},
	{"duplicate type", "83 a4 74797065 00 a4 74797065 00 a3 6e7370 a1 2f", false},
	{"duplicate data", "84 a4 74797065 02 a4 64617461 91 a1 61 a4 64617461 91 a1 62 a3 6e7370 a1 2f", false},
	{"key not a string", "83 a4 74797065 00 01 02 a3 6e7370 a1 2f", false},
	{"map key not a string", "83 a4 74797065 02 a4 64617461 92 a1 61 81 01 02 a3 6e7370 a1 2f", false},
	{"map key binary", "83 a4 74797065 02 a4 64617461 92 a1 61 81 c4 01 61 02 a3 6e7370 a1 2f", false},
	{"NaN", "83 a4 74797065 02 a4 64617461 92 a1 61 cb 7ff8000000000000 a3 6e7370 a1 2f", false},
	{"infinity", "83 a4 74797065 02 a4 64617461 92 a1 61 cb 7ff0000000000000 a3 6e7370 a1 2f", false},
	{"float32 infinity", "83 a4 74797065 02 a4 64617461 92 a1 61 ca ff800000 a3 6e7370 a1 2f", false},
	{"ext type 5", "83 a4 74797065 02 a4 64617461 92 a1 61 d5 05 0000 a3 6e7370 a1 2f", false},
	{"msgpack timestamp", "83 a4 74797065 02 a4 64617461 92 a1 61 d6 ff 00000000 a3 6e7370 a1 2f", false},
	{"fixext 4 of type 0", "83 a4 74797065 02 a4 64617461 92 a1 61 d6 00 00000000 a3 6e7370 a1 2f", false},
	{"placeholder-shaped map", "83 a4 74797065 02 a4 64617461 92 a1 61 82 ac 5f706c616365686f6c646572 c3 a3 6e756d 00 a3 6e7370 a1 2f", false},
	{"placeholder-shaped map, num first", "83 a4 74797065 02 a4 64617461 92 a1 61 82 a3 6e756d cb 3ff8000000000000 ac 5f706c616365686f6c646572 c3 a3 6e7370 a1 2f", false},
	{"binary in connect", "83 a4 74797065 00 a4 64617461 81 a1 61 c4 00 a3 6e7370 a1 2f", false},
	{"binary in connect_error", "83 a4 74797065 04 a4 64617461 81 a1 61 c4 00 a3 6e7370 a1 2f", false},
	{"array count past the end", "83 a4 74797065 02 a4 64617461 dd ffffffff a3 6e7370 a1 2f", true},
	{"map count past the end", "83 a4 74797065 00 a4 64617461 df 7fffffff a3 6e7370 a1 2f", true},
	{"bin length past the end", "83 a4 74797065 02 a4 64617461 92 a1 61 c6 ffffffff a3 6e7370 a1 2f", true},
	{"str length past the end", "83 a4 74797065 02 a4 64617461 92 a1 61 db ffffffff a3 6e7370 a1 2f", true},
}

func TestDecodeRefuses(t *testing.T) {
	t.Parallel()
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, atts, err := siomsgpack.Decode(h(tt.wire), sio.Limits{})
			require.Error(t, err, "decode %s = %+v", tt.wire, p)
			assert.ErrorIs(t, err, sio.ErrInvalidPacket)
			assert.Equal(t, sio.Packet{}, p)
			assert.Nil(t, atts)
		})
	}
}

// nested returns an EVENT message whose data is ["a", x] with x depth arrays
// nested in each other.
func nested(depth int) []byte {
	msg := h("83 a4 74797065 02 a4 64617461 92 a1 61")
	msg = append(msg, bytes.Repeat([]byte{0x91}, depth-1)...)
	msg = append(msg, 0x90)
	return append(msg, h("a3 6e7370 a1 2f")...)
}

func TestDecodeLimits(t *testing.T) {
	t.Parallel()
	bins := func(n int) []byte {
		msg := h("83 a4 74797065 02 a4 64617461")
		msg = append(msg, 0xdc, byte((n+1)>>8), byte(n+1), 0xa1, 'a')
		for range n {
			msg = append(msg, 0xc4, 0x01, 0x07)
		}
		return append(msg, h("a3 6e7370 a1 2f")...)
	}
	t.Run("default attachments", func(t *testing.T) {
		p, atts, err := siomsgpack.Decode(bins(sio.DefaultMaxAttachments), sio.Limits{})
		require.NoError(t, err)
		assert.Equal(t, sio.BinaryEvent, p.Type)
		assert.Equal(t, sio.DefaultMaxAttachments, p.Attachments)
		assert.Len(t, atts, sio.DefaultMaxAttachments)

		_, _, err = siomsgpack.Decode(bins(sio.DefaultMaxAttachments+1), sio.Limits{})
		assert.ErrorIs(t, err, sio.ErrTooManyAttachments)
		assert.NotErrorIs(t, err, sio.ErrInvalidPacket)
	})
	t.Run("set attachments", func(t *testing.T) {
		_, atts, err := siomsgpack.Decode(bins(300), sio.Limits{MaxAttachments: 300})
		require.NoError(t, err)
		assert.Len(t, atts, 300)
		_, _, err = siomsgpack.Decode(bins(3), sio.Limits{MaxAttachments: 2})
		assert.ErrorIs(t, err, sio.ErrTooManyAttachments)
	})
	t.Run("attachments alias the message", func(t *testing.T) {
		msg := bins(2)
		_, atts, err := siomsgpack.Decode(msg, sio.Limits{})
		require.NoError(t, err)
		require.Len(t, atts, 2)
		assert.Equal(t, 1, cap(atts[0]), "capacity cut to the length")
		assert.Same(t, &msg[len(msg)-len("a3 6e7370 a1 2f")/3-2], &atts[1][0])
	})
	t.Run("depth", func(t *testing.T) {
		// The data array is at depth 0, its second element at 1.
		_, _, err := siomsgpack.Decode(nested(9999), sio.Limits{})
		require.NoError(t, err)
		_, _, err = siomsgpack.Decode(nested(10000), sio.Limits{})
		assert.ErrorIs(t, err, sio.ErrInvalidPacket)
	})
	t.Run("depth of ignored keys", func(t *testing.T) {
		msg := h("83 a4 74797065 00 a3 6e7370 a1 2f a1 78")
		msg = append(msg, bytes.Repeat([]byte{0x91}, 20000)...)
		msg = append(msg, 0x90)
		_, _, err := siomsgpack.Decode(msg, sio.Limits{})
		assert.ErrorIs(t, err, sio.ErrInvalidPacket)
	})
	t.Run("depth agrees with sio", func(t *testing.T) {
		for _, depth := range []int{9999, 10000} {
			p, _, err := siomsgpack.Decode(nested(depth), sio.Limits{})
			text := []byte(`2["a",` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `]`)
			_, textErr := sio.Decode(text, sio.Limits{})
			assert.Equal(t, textErr == nil, err == nil, "depth %d: %v, text: %v", depth, err, textErr)
			if err == nil {
				assert.Equal(t, string(text[1:]), string(p.Data))
			}
		}
	})
}

func TestAppendErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    sio.Packet
		atts [][]byte
	}{
		{"unknown type", sio.Packet{Type: 7}, nil},
		{"invalid JSON", sio.Packet{Type: sio.Event, Data: json.RawMessage(`["a",]`)}, nil},
		{"trailing JSON", sio.Packet{Type: sio.Event, Data: json.RawMessage(`["a"] 1`)}, nil},
		{"number out of range", sio.Packet{Type: sio.Event, Data: json.RawMessage(`["a",1e400]`)}, nil},
		{"placeholder out of range", sio.Packet{Type: sio.BinaryEvent,
			Data: json.RawMessage(`["a",{"_placeholder":true,"num":1}]`)}, [][]byte{{1}}},
		{"placeholder negative", sio.Packet{Type: sio.BinaryEvent,
			Data: json.RawMessage(`["a",{"num":-1,"_placeholder":true}]`)}, [][]byte{{1}}},
		{"placeholder fractional", sio.Packet{Type: sio.BinaryEvent,
			Data: json.RawMessage(`["a",{"_placeholder":true,"num":0.5}]`)}, [][]byte{{1}}},
		{"placeholder without attachments", sio.Packet{Type: sio.BinaryAck,
			Data: json.RawMessage(`[{"_placeholder":true,"num":0}]`)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := siomsgpack.Append(nil, tt.p, tt.atts)
			require.Error(t, err, "append %+v = %x", tt.p, b)
			assert.Empty(t, b)
		})
	}
}

func TestAppendJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    sio.Packet
		atts [][]byte
		want string // hex of the data value
	}{
		{"whitespace", sio.Packet{Type: sio.Event, Data: json.RawMessage(" [ \"a\" , { \"b\" : [ ] , \"c\" : { } } ] ")}, nil,
			"92 a1 61 82 a1 62 90 a1 63 80"},
		{"escapes", sio.Packet{Type: sio.Event, Data: json.RawMessage(`["\u00e9\n\"\ud83d\ude00"]`)}, nil,
			"91 a8 c3a90a22f09f9880"},
		{"lone surrogate", sio.Packet{Type: sio.Event, Data: json.RawMessage(`["\ud800"]`)}, nil, "91 a3 efbfbd"},
		{"invalid UTF-8", sio.Packet{Type: sio.Event, Data: json.RawMessage("[\"a\xffb\"]")}, nil, "91 a5 61efbfbd62"},
		{"numbers", sio.Packet{Type: sio.Event, Data: json.RawMessage(
			`[-0,1.0,1e3,-9223372036854775809,18446744073709551616,-1.5E-2]`)}, nil,
			"96 00 cb 3ff0000000000000 cb 408f400000000000 cb c3e0000000000000 cb 43f0000000000000 cb bf8eb851eb851eb8"},
		{"literal placeholder in a plain event", sio.Packet{Type: sio.Event, Data: json.RawMessage(`[{"_placeholder":true,"num":0}]`)}, nil,
			"91 82 ac 5f706c616365686f6c646572 c3 a3 6e756d 00"},
		{"placeholder with spaces, num first", sio.Packet{Type: sio.BinaryEvent,
			Data: json.RawMessage(`["a",{ "num" : 0 , "_placeholder" : true }]`)}, [][]byte{{9}},
			"92 a1 61 c4 01 09"},
		{"escaped key is no placeholder", sio.Packet{Type: sio.BinaryEvent,
			Data: json.RawMessage(`[{"\u006eum":0,"_placeholder":true}]`)}, [][]byte{{9}},
			"91 82 a3 6e756d 00 ac 5f706c616365686f6c646572 c3"},
		{"attachment of 300 bytes", sio.Packet{Type: sio.BinaryEvent,
			Data: json.RawMessage(`[{"_placeholder":true,"num":0}]`)}, [][]byte{bytes.Repeat([]byte{1}, 300)},
			"91 c5 012c" + strings.Repeat("01", 300)},
		{"array of 16", sio.Packet{Type: sio.Event, Data: json.RawMessage(`[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]`)}, nil,
			"dc 0010 000102030405060708090a0b0c0d0e0f"},
		{"strings of 32 and 256 bytes", sio.Packet{Type: sio.Event, Data: json.RawMessage(
			`["` + strings.Repeat("a", 32) + `","` + strings.Repeat("b", 256) + `"]`)}, nil,
			"92 d9 20" + strings.Repeat("61", 32) + " da 0100" + strings.Repeat("62", 256)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := siomsgpack.Append(nil, tt.p, tt.atts)
			require.NoError(t, err, "append %s", tt.p.Data)
			head := h("83 a4 74797065 02 a4 64617461")
			if tt.p.Type == sio.Ack || tt.p.Type == sio.BinaryAck {
				head[7] = 0x03
			}
			require.True(t, bytes.HasPrefix(b, head), "%x", b)
			want := hex.EncodeToString(h(tt.want)) + "a36e7370a12f"
			assert.Equal(t, want, hex.EncodeToString(b[len(head):]))
		})
	}
}

// TestErrorsWrap checks that every refusal wraps a sentinel (the fuzz test
// checks the same on random input).
func TestErrorsWrap(t *testing.T) {
	t.Parallel()
	for _, tt := range refusals {
		_, _, err := siomsgpack.Decode(h(tt.wire), sio.Limits{})
		assert.True(t, errors.Is(err, sio.ErrInvalidPacket) || errors.Is(err, sio.ErrTooManyAttachments), "%s: %v", tt.name, err)
	}
}
