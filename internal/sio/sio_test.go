package sio_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/internal/sio"
)

const ph0 = `{"_placeholder":true,"num":0}`

// validPackets are the protocol document's examples and a few more, each
// with the packet it decodes to. canonical marks inputs that Append
// reproduces byte for byte.
var validPackets = []struct {
	name      string
	in        string
	want      sio.Packet
	canonical bool
}{
	{"connect main", `0`, sio.Packet{Type: sio.Connect, Namespace: "/"}, true},
	{"connect main with sid", `0{"sid":"wZX3oN0bSVIhsaknAAAI"}`,
		sio.Packet{Type: sio.Connect, Namespace: "/", Data: raw(`{"sid":"wZX3oN0bSVIhsaknAAAI"}`)}, true},
	{"connect admin", `0/admin,`, sio.Packet{Type: sio.Connect, Namespace: "/admin"}, true},
	{"connect admin without comma", `0/admin`, sio.Packet{Type: sio.Connect, Namespace: "/admin"}, false},
	{"connect admin with sid", `0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}`,
		sio.Packet{Type: sio.Connect, Namespace: "/admin", Data: raw(`{"sid":"oSO0OpakMV_3jnilAAAA"}`)}, true},
	{"connect admin with auth", `0/admin,{"token":"123"}`,
		sio.Packet{Type: sio.Connect, Namespace: "/admin", Data: raw(`{"token":"123"}`)}, true},
	{"connect explicit main namespace", `0/,{}`, sio.Packet{Type: sio.Connect, Namespace: "/", Data: raw(`{}`)}, false},
	{"connect error object", `4{"message":"Not authorized"}`,
		sio.Packet{Type: sio.ConnectError, Namespace: "/", Data: raw(`{"message":"Not authorized"}`)}, true},
	{"connect error string", `4/admin,"Not authorized"`,
		sio.Packet{Type: sio.ConnectError, Namespace: "/admin", Data: raw(`"Not authorized"`)}, true},
	{"disconnect main", `1`, sio.Packet{Type: sio.Disconnect, Namespace: "/"}, true},
	{"disconnect admin", `1/admin,`, sio.Packet{Type: sio.Disconnect, Namespace: "/admin"}, true},
	{"event main", `2["foo"]`, sio.Packet{Type: sio.Event, Namespace: "/", Data: raw(`["foo"]`)}, true},
	{"event admin", `2/admin,["bar"]`, sio.Packet{Type: sio.Event, Namespace: "/admin", Data: raw(`["bar"]`)}, true},
	{"event with args", `2["hey","Jude"]`, sio.Packet{Type: sio.Event, Namespace: "/", Data: raw(`["hey","Jude"]`)}, true},
	{"event numeric name", `2[1,{"a":1}]`, sio.Packet{Type: sio.Event, Namespace: "/", Data: raw(`[1,{"a":1}]`)}, true},
	{"event negative numeric name", `2[-1.5]`, sio.Packet{Type: sio.Event, Namespace: "/", Data: raw(`[-1.5]`)}, true},
	{"event escaped name", `2["conn\"ect"]`, sio.Packet{Type: sio.Event, Namespace: "/", Data: raw(`["conn\"ect"]`)}, true},
	{"event name like reserved", `2["connected"]`, sio.Packet{Type: sio.Event, Namespace: "/", Data: raw(`["connected"]`)}, true},
	{"event with id", `212["foo"]`, sio.Packet{Type: sio.Event, Namespace: "/", ID: 12, HasID: true, Data: raw(`["foo"]`)}, true},
	{"event admin with id", `2/admin,13["foo"]`,
		sio.Packet{Type: sio.Event, Namespace: "/admin", ID: 13, HasID: true, Data: raw(`["foo"]`)}, true},
	{"event id zero", `20["foo"]`, sio.Packet{Type: sio.Event, Namespace: "/", ID: 0, HasID: true, Data: raw(`["foo"]`)}, true},
	{"event id leading zeros", `2007["foo"]`, sio.Packet{Type: sio.Event, Namespace: "/", ID: 7, HasID: true, Data: raw(`["foo"]`)}, false},
	{"event max id", `218446744073709551615["foo"]`,
		sio.Packet{Type: sio.Event, Namespace: "/", ID: 1<<64 - 1, HasID: true, Data: raw(`["foo"]`)}, true},
	{"event surrounding whitespace", "2 \t[ \"foo\" ]\r\n", sio.Packet{Type: sio.Event, Namespace: "/", Data: raw(`[ "foo" ]`)}, false},
	{"ack empty", `312[]`, sio.Packet{Type: sio.Ack, Namespace: "/", ID: 12, HasID: true, Data: raw(`[]`)}, true},
	{"ack admin", `3/admin,13["bar"]`, sio.Packet{Type: sio.Ack, Namespace: "/admin", ID: 13, HasID: true, Data: raw(`["bar"]`)}, true},
	{"ack after binary event", `314["bar"]`, sio.Packet{Type: sio.Ack, Namespace: "/", ID: 14, HasID: true, Data: raw(`["bar"]`)}, true},
	{"ack without id", `3[null]`, sio.Packet{Type: sio.Ack, Namespace: "/", Data: raw(`[null]`)}, true},
	{"binary event", `51-["baz",` + ph0 + `]`,
		sio.Packet{Type: sio.BinaryEvent, Namespace: "/", Attachments: 1, Data: raw(`["baz",` + ph0 + `]`)}, true},
	{"binary event admin two attachments", `52-/admin,["baz",` + ph0 + `,{"_placeholder":true,"num":1}]`,
		sio.Packet{Type: sio.BinaryEvent, Namespace: "/admin", Attachments: 2,
			Data: raw(`["baz",` + ph0 + `,{"_placeholder":true,"num":1}]`)}, true},
	{"binary event with id", `51-14["foo",` + ph0 + `]`,
		sio.Packet{Type: sio.BinaryEvent, Namespace: "/", Attachments: 1, ID: 14, HasID: true, Data: raw(`["foo",` + ph0 + `]`)}, true},
	{"binary event zero attachments", `50-["foo"]`, sio.Packet{Type: sio.BinaryEvent, Namespace: "/", Data: raw(`["foo"]`)}, true},
	{"binary event ten attachments", `510-["foo"]`, sio.Packet{Type: sio.BinaryEvent, Namespace: "/", Attachments: 10, Data: raw(`["foo"]`)}, true},
	{"binary ack with id", `61-15["bar",` + ph0 + `]`,
		sio.Packet{Type: sio.BinaryAck, Namespace: "/", Attachments: 1, ID: 15, HasID: true, Data: raw(`["bar",` + ph0 + `]`)}, true},
	{"binary ack admin", `61-/admin,15[` + ph0 + `]`,
		sio.Packet{Type: sio.BinaryAck, Namespace: "/admin", Attachments: 1, ID: 15, HasID: true, Data: raw(`[` + ph0 + `]`)}, true},
	{"namespace with odd bytes", `2/a[b{c,["x"]`, sio.Packet{Type: sio.Event, Namespace: "/a[b{c", Data: raw(`["x"]`)}, true},
}

// invalidPackets must fail to decode with the default Limits.
var invalidPackets = []struct {
	name    string
	in      string
	tooMany bool // ErrTooManyAttachments rather than ErrInvalidPacket
}{
	{name: "empty", in: ``},
	{name: "unknown type 7", in: `7`},
	{name: "unknown type 9", in: `999`},
	{name: "type not a digit", in: `a["foo"]`},
	{name: "engine.io prefix left on", in: `42["foo"]`},
	{name: "binary without count", in: `5`},
	{name: "binary count without dash", in: `51`},
	{name: "binary data without dash", in: `51["foo",` + ph0 + `]`},
	{name: "binary empty count", in: `5-["foo"]`},
	{name: "binary count not a number", in: `5a-["foo"]`},
	{name: "binary negative count", in: `5-1-["foo"]`},
	{name: "binary ack without dash", in: `61`},
	{name: "binary without data", in: `51-`},
	{name: "too many attachments", in: `511-["foo"]`, tooMany: true},
	{name: "attachment count overflow", in: `5184467440737095516150-["foo"]`, tooMany: true},
	{name: "invalid json", in: `2["some","data"`},
	{name: "invalid json string", in: `2/admin,"invalid`},
	{name: "invalid json bare word", in: `2foo`},
	{name: "trailing garbage", in: `2["foo"]x`},
	{name: "trailing bracket", in: `2["foo"]]`},
	{name: "two values", in: `0{}{}`},
	{name: "two arrays", in: `2["a"] ["b"]`},
	{name: "trailing nul", in: "2[\"foo\"]\x00"},
	{name: "ack id overflow", in: `218446744073709551616["foo"]`},
	{name: "huge ack id", in: `299999999999999999999999999999["foo"]`},
	{name: "connect with array", in: `0[]`},
	{name: "connect with string", in: `0/admin,"invalid"`},
	{name: "connect with number", in: `0/admin,1.5`},
	{name: "disconnect with object", in: `1/admin,{}`},
	{name: "disconnect with array", in: `1[]`},
	{name: "event without data", in: `2`},
	{name: "event admin without data", in: `2/admin,`},
	{name: "event id without data", in: `212`},
	{name: "event with object", in: `2/admin,{}`},
	{name: "event with string", in: `2"foo"`},
	{name: "event empty array", in: `2[]`},
	{name: "event name object", in: `2[{"toString":"foo"}]`},
	{name: "event name bool", in: `2[true,"foo"]`},
	{name: "event name null", in: `2[null,"bar"]`},
	{name: "event name array", in: `2[["foo"]]`},
	{name: "event reserved connect", in: `2["connect"]`},
	{name: "event reserved connect_error", in: `2["connect_error"]`},
	{name: "event reserved disconnect", in: `2["disconnect",1]`},
	{name: "event reserved disconnecting", in: `2/admin,["disconnecting"]`},
	{name: "event reserved newListener", in: `2["newListener"]`},
	{name: "event reserved removeListener", in: `2["removeListener"]`},
	{name: "event reserved escaped", in: `2["\u0063onnect"]`},
	{name: "binary event reserved", in: `51-["disconnect",` + ph0 + `]`},
	{name: "binary event with object", in: `51-{}`},
	{name: "ack without data", in: `312`},
	{name: "ack with object", in: `3{}`},
	{name: "ack with string", in: `3"bar"`},
	{name: "binary ack with object", in: `61-{}`},
	{name: "connect error without data", in: `4`},
	{name: "connect error id without data", in: `41`},
	{name: "connect error with array", in: `4[]`},
	{name: "connect error with number", in: `4/admin,-1`},
	{name: "whitespace only data", in: `2 `},
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func TestDecode(t *testing.T) {
	t.Parallel()
	for _, tt := range validPackets {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := sio.Decode([]byte(tt.in), sio.Limits{})
			require.NoError(t, err, "decode %q", tt.in)
			assert.Equal(t, tt.want, got, "decode %q", tt.in)
			if got.Data != nil {
				assert.True(t, json.Valid(got.Data), "data of %q", tt.in)
			}
		})
	}
}

func TestDecodeInvalid(t *testing.T) {
	t.Parallel()
	for _, tt := range invalidPackets {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := sio.Decode([]byte(tt.in), sio.Limits{})
			if tt.tooMany {
				require.ErrorIs(t, err, sio.ErrTooManyAttachments, "decode %q", tt.in)
			} else {
				require.ErrorIs(t, err, sio.ErrInvalidPacket, "decode %q", tt.in)
			}
		})
	}
}

func TestDecodeLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		max     int
		in      string
		tooMany bool
	}{
		{"default allows 10", 0, `510-["a"]`, false},
		{"default refuses 11", 0, `511-["a"]`, true},
		{"negative means default", -1, `510-["a"]`, false},
		{"negative refuses 11", -1, `511-["a"]`, true},
		{"custom allows 2", 2, `62-[]`, false},
		{"custom refuses 3", 2, `63-[]`, true},
		{"custom allows 100", 100, `5100-["a"]`, false},
		{"custom refuses 101", 100, `5101-["a"]`, true},
		{"leading zeros count", 2, `5002-["a"]`, false},
		{"huge limit", math.MaxInt, `59223372036854775807-["a"]`, true},
		{"huge limit allows", math.MaxInt, `52147483647-["a"]`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := sio.Decode([]byte(tt.in), sio.Limits{MaxAttachments: tt.max})
			if tt.tooMany {
				require.ErrorIs(t, err, sio.ErrTooManyAttachments, "decode %q", tt.in)
				return
			}
			require.NoError(t, err, "decode %q", tt.in)
			assert.LessOrEqual(t, p.Attachments, max(tt.max, sio.DefaultMaxAttachments))
			assert.Positive(t, p.Attachments)
		})
	}
}

func TestDecodeAliasesInput(t *testing.T) {
	t.Parallel()
	in := []byte(`2["foo"]`)
	p, err := sio.Decode(in, sio.Limits{})
	require.NoError(t, err)
	require.Len(t, p.Data, len(in)-1)
	assert.Same(t, &in[1], &p.Data[0], "Data should be a subslice of the input")
}

func TestAppend(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    sio.Packet
		want string
	}{
		{"connect", sio.Packet{Type: sio.Connect, Namespace: "/"}, `0`},
		{"connect empty namespace", sio.Packet{Type: sio.Connect}, `0`},
		{"connect sid", sio.Packet{Type: sio.Connect, Data: raw(`{"sid":"wZX3oN0bSVIhsaknAAAI"}`)}, `0{"sid":"wZX3oN0bSVIhsaknAAAI"}`},
		{"connect admin", sio.Packet{Type: sio.Connect, Namespace: "/admin"}, `0/admin,`},
		{"connect admin sid", sio.Packet{Type: sio.Connect, Namespace: "/admin", Data: raw(`{"sid":"oSO0OpakMV_3jnilAAAA"}`)},
			`0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}`},
		{"connect error", sio.Packet{Type: sio.ConnectError, Namespace: "/", Data: raw(`{"message":"Not authorized"}`)},
			`4{"message":"Not authorized"}`},
		{"event", sio.Packet{Type: sio.Event, Namespace: "/", Data: raw(`["foo"]`)}, `2["foo"]`},
		{"event admin", sio.Packet{Type: sio.Event, Namespace: "/admin", Data: raw(`["bar"]`)}, `2/admin,["bar"]`},
		{"event id", sio.Packet{Type: sio.Event, ID: 12, HasID: true, Data: raw(`["foo"]`)}, `212["foo"]`},
		{"event id zero", sio.Packet{Type: sio.Event, HasID: true, Data: raw(`["foo"]`)}, `20["foo"]`},
		{"event id without HasID", sio.Packet{Type: sio.Event, ID: 12, Data: raw(`["foo"]`)}, `2["foo"]`},
		{"ack", sio.Packet{Type: sio.Ack, ID: 12, HasID: true, Data: raw(`[]`)}, `312[]`},
		{"ack admin", sio.Packet{Type: sio.Ack, Namespace: "/admin", ID: 13, HasID: true, Data: raw(`["bar"]`)}, `3/admin,13["bar"]`},
		{"binary event", sio.Packet{Type: sio.BinaryEvent, Attachments: 1, Data: raw(`["baz",` + ph0 + `]`)},
			`51-["baz",` + ph0 + `]`},
		{"binary event zero attachments", sio.Packet{Type: sio.BinaryEvent, Data: raw(`["baz"]`)}, `50-["baz"]`},
		{"binary ack", sio.Packet{Type: sio.BinaryAck, Attachments: 1, ID: 15, HasID: true, Data: raw(`["bar",` + ph0 + `]`)},
			`61-15["bar",` + ph0 + `]`},
		{"attachments ignored for event", sio.Packet{Type: sio.Event, Attachments: 3, Data: raw(`["foo"]`)}, `2["foo"]`},
		{"disconnect", sio.Packet{Type: sio.Disconnect}, `1`},
		{"disconnect admin", sio.Packet{Type: sio.Disconnect, Namespace: "/admin"}, `1/admin,`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, string(tt.p.Append(nil)))
			assert.Equal(t, "4"+tt.want, string(tt.p.Append([]byte("4"))), "append after an Engine.IO prefix")
		})
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tt := range validPackets {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := sio.Decode([]byte(tt.in), sio.Limits{})
			require.NoError(t, err, "decode %q", tt.in)
			enc := p.Append(nil)
			if tt.canonical {
				assert.Equal(t, tt.in, string(enc))
			}
			again, err := sio.Decode(enc, sio.Limits{})
			require.NoError(t, err, "decode %q", enc)
			assert.Equal(t, p, again, "decode %q", enc)
		})
	}
}

func TestTypeString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ  sio.Type
		want string
	}{
		{sio.Connect, "CONNECT"},
		{sio.Disconnect, "DISCONNECT"},
		{sio.Event, "EVENT"},
		{sio.Ack, "ACK"},
		{sio.ConnectError, "CONNECT_ERROR"},
		{sio.BinaryEvent, "BINARY_EVENT"},
		{sio.BinaryAck, "BINARY_ACK"},
		{sio.Type(7), "Type(7)"},
		{sio.Type(255), "Type(255)"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.typ.String())
	}
}

func TestReserved(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"} {
		assert.True(t, sio.Reserved(name), name)
	}
	for _, name := range []string{"", "message", "Connect", "connected", "disconnect "} {
		assert.False(t, sio.Reserved(name), name)
	}
}

// step is one transport message fed to a Reassembler and what it yields.
type step struct {
	data        string
	binary      bool
	wantDone    bool
	wantPacket  sio.Packet
	wantAtts    []string
	wantErr     error
	wantNoAtts  bool   // attachments must be nil
	description string // why the step is there, for failures
}

func TestReassembler(t *testing.T) {
	t.Parallel()
	event := sio.Packet{Type: sio.Event, Namespace: "/", Data: raw(`["foo"]`)}
	bin2 := sio.Packet{Type: sio.BinaryEvent, Namespace: "/admin", Attachments: 2,
		Data: raw(`["baz",` + ph0 + `,{"_placeholder":true,"num":1}]`)}
	binAck := sio.Packet{Type: sio.BinaryAck, Namespace: "/", Attachments: 1, ID: 15, HasID: true, Data: raw(`["bar",` + ph0 + `]`)}
	tests := []struct {
		name  string
		lim   sio.Limits
		steps []step
	}{
		{"text packet", sio.Limits{}, []step{
			{data: `2["foo"]`, wantDone: true, wantPacket: event, wantNoAtts: true},
		}},
		{"binary event with two attachments", sio.Limits{}, []step{
			{data: `52-/admin,["baz",` + ph0 + `,{"_placeholder":true,"num":1}]`},
			{data: "\x01\x02", binary: true},
			{data: "\x03\x04", binary: true, wantDone: true, wantPacket: bin2, wantAtts: []string{"\x01\x02", "\x03\x04"}},
			{data: `2["foo"]`, wantDone: true, wantPacket: event, wantNoAtts: true},
		}},
		{"binary ack", sio.Limits{}, []step{
			{data: `61-15["bar",` + ph0 + `]`},
			{data: "\x01\x02\x03\x04", binary: true, wantDone: true, wantPacket: binAck, wantAtts: []string{"\x01\x02\x03\x04"}},
		}},
		{"empty attachment", sio.Limits{}, []step{
			{data: `61-15["bar",` + ph0 + `]`},
			{data: "", binary: true, wantDone: true, wantPacket: binAck, wantAtts: []string{""}},
		}},
		{"binary event with zero attachments", sio.Limits{}, []step{
			{data: `50-["foo"]`, wantDone: true, wantPacket: sio.Packet{Type: sio.BinaryEvent, Namespace: "/", Data: raw(`["foo"]`)}, wantNoAtts: true},
		}},
		{"unexpected binary", sio.Limits{}, []step{
			{data: "\x01", binary: true, wantErr: sio.ErrInvalidPacket},
			{data: `2["foo"]`, wantDone: true, wantPacket: event, wantNoAtts: true},
		}},
		{"binary after complete packet", sio.Limits{}, []step{
			{data: `61-15["bar",` + ph0 + `]`},
			{data: "\x01", binary: true, wantDone: true, wantPacket: binAck, wantAtts: []string{"\x01"}},
			{data: "\x02", binary: true, wantErr: sio.ErrInvalidPacket},
		}},
		{"text while awaiting attachments", sio.Limits{}, []step{
			{data: `52-/admin,["baz",` + ph0 + `,{"_placeholder":true,"num":1}]`},
			{data: "\x01\x02", binary: true},
			{data: `2["foo"]`, wantErr: sio.ErrInvalidPacket},
			{data: "\x03\x04", binary: true, wantErr: sio.ErrInvalidPacket, description: "partial packet dropped"},
			{data: `2["foo"]`, wantDone: true, wantPacket: event, wantNoAtts: true},
		}},
		{"invalid text", sio.Limits{}, []step{
			{data: `2[]`, wantErr: sio.ErrInvalidPacket},
			{data: `2["foo"]`, wantDone: true, wantPacket: event, wantNoAtts: true},
		}},
		{"limit applies", sio.Limits{MaxAttachments: 1}, []step{
			{data: `52-/admin,["baz",` + ph0 + `,{"_placeholder":true,"num":1}]`, wantErr: sio.ErrTooManyAttachments},
			{data: "\x01\x02", binary: true, wantErr: sio.ErrInvalidPacket},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := sio.NewReassembler(tt.lim)
			for i, s := range tt.steps {
				p, atts, done, err := r.Add([]byte(s.data), s.binary)
				if s.wantErr != nil {
					require.ErrorIs(t, err, s.wantErr, "step %d %q %s", i, s.data, s.description)
					assert.False(t, done, "step %d", i)
					continue
				}
				require.NoError(t, err, "step %d %q", i, s.data)
				require.Equal(t, s.wantDone, done, "step %d %q", i, s.data)
				if !done {
					continue
				}
				assert.Equal(t, s.wantPacket, p, "step %d %q", i, s.data)
				if s.wantNoAtts {
					assert.Nil(t, atts, "step %d %q", i, s.data)
					continue
				}
				require.Len(t, atts, p.Attachments, "step %d %q", i, s.data)
				for j, a := range atts {
					assert.Equal(t, s.wantAtts[j], string(a), "step %d attachment %d", i, j)
				}
			}
		})
	}
}

func TestReassemblerZeroValueAndReset(t *testing.T) {
	t.Parallel()
	var r sio.Reassembler
	_, _, done, err := r.Add([]byte(`51-["foo",`+ph0+`]`), false)
	require.NoError(t, err)
	require.False(t, done)
	r.Reset()
	_, _, _, err = r.Add([]byte{1}, true)
	require.ErrorIs(t, err, sio.ErrInvalidPacket, "binary after Reset")

	_, _, _, err = r.Add([]byte(`511-["foo"]`), false)
	require.ErrorIs(t, err, sio.ErrTooManyAttachments, "zero value uses the default limit")

	p, atts, done, err := r.Add([]byte(`510-["foo"]`), false)
	require.NoError(t, err)
	require.False(t, done)
	for i := range 10 {
		p, atts, done, err = r.Add([]byte{byte(i)}, true)
		require.NoError(t, err)
		require.Equal(t, i == 9, done, "attachment %d", i)
	}
	assert.Equal(t, 10, p.Attachments)
	require.Len(t, atts, 10)
	assert.Equal(t, []byte{9}, atts[9])
}

func TestFillPlaceholders(t *testing.T) {
	t.Parallel()
	atts := [][]byte{{1, 2, 3, 4}, {0xff}, {}}
	tests := []struct {
		name    string
		in      string
		atts    [][]byte
		want    string
		wantErr bool
	}{
		{name: "no placeholders", in: `["foo",{"a":[1,2]}]`, atts: atts, want: `["foo",{"a":[1,2]}]`},
		{name: "no placeholders no attachments", in: `["foo"]`, want: `["foo"]`},
		{name: "top level", in: ph0, atts: atts, want: `"AQIDBA=="`},
		{name: "event argument", in: `["baz",` + ph0 + `]`, atts: atts, want: `["baz","AQIDBA=="]`},
		{name: "two arguments", in: `["baz",` + ph0 + `,{"_placeholder":true,"num":1}]`, atts: atts, want: `["baz","AQIDBA==","/w=="]`},
		{name: "reused num", in: `[` + ph0 + `,` + ph0 + `]`, atts: atts, want: `["AQIDBA==","AQIDBA=="]`},
		{name: "empty attachment", in: `[{"_placeholder":true,"num":2}]`, atts: atts, want: `[""]`},
		{name: "nested object", in: `["up",{"file":{"name":"a","data":{"_placeholder":true,"num":1}}}]`, atts: atts,
			want: `["up",{"file":{"name":"a","data":"/w=="}}]`},
		{name: "nested arrays", in: `[[[` + ph0 + `],[{"x":[{"_placeholder":true,"num":1}]}]]]`, atts: atts,
			want: `[[["AQIDBA=="],[{"x":["/w=="]}]]]`},
		{name: "keys reversed", in: `[{"num":1,"_placeholder":true}]`, atts: atts, want: `["/w=="]`},
		{name: "whitespace inside", in: "[ { \"_placeholder\" :\ttrue ,\n\"num\" : 1 } ]", atts: atts, want: `[ "/w==" ]`},
		{name: "false flag is data", in: `[{"_placeholder":false,"num":0}]`, atts: atts, want: `[{"_placeholder":false,"num":0}]`},
		{name: "extra member is data", in: `[{"_placeholder":true,"num":0,"x":1}]`, atts: atts, want: `[{"_placeholder":true,"num":0,"x":1}]`},
		{name: "missing num is data", in: `[{"_placeholder":true}]`, atts: atts, want: `[{"_placeholder":true}]`},
		{name: "duplicate flag is data", in: `[{"_placeholder":true,"_placeholder":true}]`, atts: atts, want: `[{"_placeholder":true,"_placeholder":true}]`},
		{name: "key inside string", in: `["\"_placeholder\":true,\"num\":0"]`, atts: atts, want: `["\"_placeholder\":true,\"num\":0"]`},
		{name: "num out of range", in: `[{"_placeholder":true,"num":3}]`, atts: atts, wantErr: true},
		{name: "num without attachments", in: `["a",` + ph0 + `]`, wantErr: true},
		{name: "negative num", in: `[{"_placeholder":true,"num":-1}]`, atts: atts, wantErr: true},
		{name: "fractional num", in: `[{"_placeholder":true,"num":0.5}]`, atts: atts, wantErr: true},
		{name: "string num is data", in: `[{"_placeholder":true,"num":"0"}]`, atts: atts, want: `[{"_placeholder":true,"num":"0"}]`},
		{name: "object num is data", in: `[{"num":{"_placeholder":true,"num":0},"_placeholder":true}]`, atts: atts,
			want: `[{"num":"AQIDBA==","_placeholder":true}]`},
		{name: "exponent num", in: `[{"_placeholder":true,"num":0e0}]`, atts: atts, wantErr: true},
		{name: "huge num", in: `[{"_placeholder":true,"num":99999999999999999999999}]`, atts: atts, wantErr: true},
		{name: "invalid json with placeholder", in: `["a",` + ph0, atts: atts, wantErr: true},
		{name: "invalid json without placeholder", in: `["a"`, atts: atts, wantErr: true},
		{name: "trailing garbage", in: `[` + ph0 + `]]`, atts: atts, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := sio.FillPlaceholders(raw(tt.in), tt.atts)
			if json.Valid(raw(tt.in)) {
				decoded, decErr := sio.FillDecoded(raw(tt.in), tt.atts)
				assert.Equal(t, err, decErr, "FillDecoded %q", tt.in)
				assert.Equal(t, string(got), string(decoded), "FillDecoded %q", tt.in)
			}
			if tt.wantErr {
				require.Error(t, err, "fill %q", tt.in)
				return
			}
			require.NoError(t, err, "fill %q", tt.in)
			assert.Equal(t, tt.want, string(got), "fill %q", tt.in)
		})
	}
}

func TestNestingLimit(t *testing.T) {
	t.Parallel()
	nested := func(depth int) string { return strings.Repeat("[", depth) + strings.Repeat("]", depth) }
	// The EVENT array itself is the first level, as in encoding/json.
	_, err := sio.Decode([]byte(`2["a",`+nested(9999)+`]`), sio.Limits{})
	require.NoError(t, err, "10000 levels")
	_, err = sio.Decode([]byte(`2["a",`+nested(10000)+`]`), sio.Limits{})
	require.ErrorIs(t, err, sio.ErrInvalidPacket, "10001 levels")

	// Objects nested through "num" members are data, not placeholders, and
	// are walked once, not once per level.
	deep := strings.Repeat(`{"num":`, 9999) + ph0 + strings.Repeat(`}`, 9999)
	got, err := sio.FillPlaceholders(raw(deep), [][]byte{{1}})
	require.NoError(t, err)
	assert.Equal(t, strings.Repeat(`{"num":`, 9999)+`"AQ=="`+strings.Repeat(`}`, 9999), string(got))
}

func TestFillPlaceholdersDecodesToBytes(t *testing.T) {
	t.Parallel()
	data := raw(`["upload",{"name":"a.bin","body":` + ph0 + `},{"_placeholder":true,"num":1}]`)
	filled, err := sio.FillPlaceholders(data, [][]byte{{1, 2, 3, 4}, {5}})
	require.NoError(t, err)
	name, args, err := sio.EventName(filled)
	require.NoError(t, err)
	assert.Equal(t, "upload", name)
	require.Len(t, args, 2)
	var file struct {
		Name string
		Body []byte
	}
	require.NoError(t, json.Unmarshal(args[0], &file))
	assert.Equal(t, "a.bin", file.Name)
	assert.Equal(t, []byte{1, 2, 3, 4}, file.Body)
	var b []byte
	require.NoError(t, json.Unmarshal(args[1], &b))
	assert.Equal(t, []byte{5}, b)
}

func TestFillPlaceholdersUnchanged(t *testing.T) {
	fills := []struct {
		name string
		fill func(json.RawMessage, [][]byte) (json.RawMessage, error)
	}{
		{name: "FillPlaceholders", fill: sio.FillPlaceholders},
		{name: "FillDecoded", fill: sio.FillDecoded},
	}
	for _, tt := range fills {
		t.Run(tt.name, func(t *testing.T) {
			in := raw(`["foo",{"a":[1,2,"x"]}]`)
			got, err := tt.fill(in, nil)
			require.NoError(t, err)
			assert.Same(t, &in[0], &got[0], "data without placeholders is returned as is")
			allocs := testing.AllocsPerRun(100, func() {
				_, _ = tt.fill(in, nil)
			})
			assert.Zero(t, allocs)
		})
	}
}

func TestTypeBinary(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   sio.Type
		want sio.Type
	}{
		{name: "event", in: sio.Event, want: sio.BinaryEvent},
		{name: "ack", in: sio.Ack, want: sio.BinaryAck},
		{name: "binary event", in: sio.BinaryEvent, want: sio.BinaryEvent},
		{name: "binary ack", in: sio.BinaryAck, want: sio.BinaryAck},
		{name: "connect", in: sio.Connect, want: sio.Connect},
		{name: "disconnect", in: sio.Disconnect, want: sio.Disconnect},
		{name: "connect error", in: sio.ConnectError, want: sio.ConnectError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, tt.in.Binary())
		})
	}
}

func TestAppendEventHead(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		nsp   string
		event string
		want  string
	}{
		{name: "main namespace", nsp: "/", event: "nearby:enter", want: `2["nearby:enter",`},
		{name: "empty namespace is main", nsp: "", event: "e", want: `2["e",`},
		{name: "other namespace", nsp: "/geo", event: "e", want: `2/geo,["e",`},
		{name: "escaped name", nsp: "/", event: "a\"b\u2028", want: `2["a\"b\u2028",`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := sio.AppendEventHead([]byte("x"), tt.nsp, tt.event)
			assert.Equal(t, "x"+tt.want, string(b))

			// Completed with an argument, it is what AppendPacket writes.
			b = append(append(b[1:], `{"a":1}`...), ']')
			want, _, err := sio.AppendPacket(nil, sio.Packet{Type: sio.Event, Namespace: tt.nsp}, tt.event, []any{raw(`{"a":1}`)})
			require.NoError(t, err)
			assert.Equal(t, string(want), string(b))
			p, err := sio.Decode(b, sio.Limits{})
			require.NoError(t, err, "decode %q", b)
			assert.Equal(t, sio.Event, p.Type)
		})
	}
}

func TestMarshalArgs(t *testing.T) {
	t.Parallel()
	type point struct {
		Lat  float64 `json:"lat"`
		Lng  float64 `json:"lng"`
		Blob []byte  `json:"blob,omitempty"`
	}
	tests := []struct {
		name     string
		event    string
		args     []any
		want     string
		wantAtts [][]byte
		wantErr  bool
	}{
		{name: "event only", event: "ping", want: `["ping"]`},
		{name: "empty ack", want: `[]`},
		{name: "ack args", args: []any{"bar", 1}, want: `["bar",1]`},
		{name: "protocol example", event: "hey", args: []any{"Jude"}, want: `["hey","Jude"]`},
		{name: "scalars", event: "s", args: []any{
			true, false, nil, int(-1), int8(-8), int16(-16), int32(-32), int64(-64),
			uint(1), uint8(8), uint16(16), uint32(32), uint64(1<<64 - 1), 1.5, float32(0.1), 1e21, 1e-7, 0.0, -0.0,
		}, want: `["s",true,false,null,-1,-8,-16,-32,-64,1,8,16,32,18446744073709551615,1.5,0.1,1e+21,1e-7,0,0]`},
		{name: "string escapes", event: "e\"v", args: []any{"a\\b\n\t\r\b\f\x01<>&\u2028\u2029\xff€"},
			want: `["e\"v","a\\b\n\t\r\b\f\u0001<>&\u2028\u2029\ufffd€"]`},
		{name: "struct through encoding/json", event: "move", args: []any{point{Lat: 52.52, Lng: 13.405}},
			want: `["move",{"lat":52.52,"lng":13.405}]`},
		{name: "map without html escaping", event: "m", args: []any{map[string]string{"a": "<b>"}}, want: `["m",{"a":"<b>"}]`},
		{name: "binary argument", event: "baz", args: []any{[]byte{1, 2, 3, 4}},
			want: `["baz",` + ph0 + `]`, wantAtts: [][]byte{{1, 2, 3, 4}}},
		{name: "two binary arguments", event: "baz", args: []any{[]byte{1, 2}, "x", []byte{3, 4}},
			want: `["baz",` + ph0 + `,"x",{"_placeholder":true,"num":1}]`, wantAtts: [][]byte{{1, 2}, {3, 4}}},
		{name: "binary ack", args: []any{[]byte{}}, want: `[` + ph0 + `]`, wantAtts: [][]byte{{}}},
		{name: "nil bytes are null, as in encoding/json", event: "n", args: []any{[]byte(nil), map[string]any{"b": []byte(nil)}, point{}},
			want: `["n",null,{"b":null},{"lat":0,"lng":0}]`},
		{name: "nil bytes beside binary", event: "n", args: []any{[]byte(nil), []byte{1}, struct{ B, C []byte }{C: []byte{2}}},
			want: `["n",null,` + ph0 + `,{"B":null,"C":{"_placeholder":true,"num":1}}]`, wantAtts: [][]byte{{1}, {2}}},
		{name: "bytes in a struct field", event: "p", args: []any{point{Blob: []byte{1, 2, 3, 4}}},
			want: `["p",{"lat":0,"lng":0,"blob":` + ph0 + `}]`, wantAtts: [][]byte{{1, 2, 3, 4}}},
		{name: "bytes in maps and slices, numbered in writing order", event: "n", args: []any{
			[]byte{0}, map[string]any{"b": []any{"x", []byte{2}}, "a": []byte{1}}, &point{Blob: []byte{3}}},
			want: `["n",` + ph0 + `,{"a":{"_placeholder":true,"num":1},"b":["x",{"_placeholder":true,"num":2}]},` +
				`{"lat":0,"lng":0,"blob":{"_placeholder":true,"num":3}}]`,
			wantAtts: [][]byte{{0}, {1}, {2}, {3}}},
		{name: "a named byte slice is not binary", event: "r", args: []any{struct{ R json.RawMessage }{R: raw(`[1]`)}},
			want: `["r",{"R":[1]}]`},
		{name: "raw message", event: "r", args: []any{raw(` {"a": [1, 2]} `), json.RawMessage(nil)}, want: `["r",{"a": [1, 2]},null]`},
		{name: "invalid raw message", event: "r", args: []any{raw(`{"a":`)}, wantErr: true},
		{name: "nan", event: "f", args: []any{math.NaN()}, wantErr: true},
		{name: "float32 infinity", event: "f", args: []any{float32(math.Inf(1))}, wantErr: true},
		{name: "unsupported type", event: "c", args: []any{make(chan int)}, wantErr: true},
		{name: "marshaler error", event: "c", args: []any{map[string]any{"f": math.NaN()}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data, atts, err := sio.MarshalArgs(tt.event, tt.args)
			prefix := []byte("prefix")
			appended, appAtts, appErr := sio.AppendArgs(prefix, tt.event, tt.args)
			pkt, pktAtts, pktErr := sio.AppendPacket(prefix, sio.Packet{Type: sio.Event, Namespace: "/n", ID: 9, HasID: true}, tt.event, tt.args)
			if tt.wantErr {
				require.Error(t, err)
				require.Error(t, appErr, "AppendArgs")
				assert.Equal(t, err.Error(), appErr.Error(), "AppendArgs")
				assert.Equal(t, "prefix", string(appended), "AppendArgs returns dst on error")
				require.Error(t, pktErr, "AppendPacket")
				assert.Equal(t, err.Error(), pktErr.Error(), "AppendPacket")
				assert.Equal(t, "prefix", string(pkt), "AppendPacket returns dst on error")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(data))
			assert.True(t, json.Valid(data), "valid JSON: %s", data)
			assert.Equal(t, tt.wantAtts, atts)

			require.NoError(t, appErr, "AppendArgs")
			assert.Equal(t, "prefix"+tt.want, string(appended), "AppendArgs")
			assert.Equal(t, tt.wantAtts, appAtts, "AppendArgs")

			// AppendPacket writes what Packet.Append writes with the data
			// of MarshalArgs, as a binary packet when there are attachments.
			want := sio.Packet{Type: sio.Event, Namespace: "/n", ID: 9, HasID: true, Data: data, Attachments: len(atts)}
			if len(atts) > 0 {
				want.Type = sio.BinaryEvent
			}
			require.NoError(t, pktErr, "AppendPacket")
			assert.Equal(t, string(want.Append(prefix)), string(pkt), "AppendPacket")
			assert.Equal(t, tt.wantAtts, pktAtts, "AppendPacket")
		})
	}
}

// TestMarshalArgsMatchesEncodingJSON checks the fast paths against
// encoding/json, the oracle, for values where HTML escaping does not matter.
func TestMarshalArgsMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	values := []any{
		"", "plain", "quote\"backslash\\", "ctl\x00\x1f\x7f", "utf8 ünï € 😀", "bad \xc3\x28 utf8", "\u2028\u2029",
		0, -1, 1 << 62, uint64(1 << 63), int8(-128), uint8(255),
		0.0, 1.0, -1.5, 1e20, 1e21, 123456789e-15, 1e-6, 9.99e-7, 3.141592653589793, 5e-324, 1.7976931348623157e308,
		float32(1e20), float32(1e21), float32(1e-6), float32(9.99e-7), float32(3.4028235e38), float32(-0.3),
		true, nil,
	}
	for _, v := range values {
		data, atts, err := sio.MarshalArgs("", []any{v})
		require.NoError(t, err, "marshal %#v", v)
		assert.Empty(t, atts)
		want, err := json.Marshal([]any{v})
		require.NoError(t, err, "json.Marshal %#v", v)
		assert.Equal(t, string(want), string(data), "marshal %#v", v)
	}
}

func TestSplitArray(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr bool
	}{
		{name: "empty", in: `[]`, want: []string{}},
		{name: "empty with space", in: ` [ ] `, want: []string{}},
		{name: "one", in: `["foo"]`, want: []string{`"foo"`}},
		{name: "mixed", in: `["a",1,-2.5e3,true,false,null,{"b":[1,{}]},[[]],"]"]`,
			want: []string{`"a"`, `1`, `-2.5e3`, `true`, `false`, `null`, `{"b":[1,{}]}`, `[[]]`, `"]"`}},
		{name: "whitespace trimmed", in: "[ 1 ,\n\"x\" \t, {} ]", want: []string{`1`, `"x"`, `{}`}},
		{name: "not an array", in: `{"a":1}`, wantErr: true},
		{name: "empty input", in: ``, wantErr: true},
		{name: "unterminated", in: `[1,2`, wantErr: true},
		{name: "trailing comma", in: `[1,]`, wantErr: true},
		{name: "leading comma", in: `[,1]`, wantErr: true},
		{name: "missing comma", in: `[1 2]`, wantErr: true},
		{name: "bad element", in: `[01]`, wantErr: true},
		{name: "trailing garbage", in: `[1]x`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := sio.SplitArray(raw(tt.in))
			if tt.wantErr {
				require.Error(t, err, "split %q", tt.in)
				return
			}
			require.NoError(t, err, "split %q", tt.in)
			gotStr := make([]string, len(got))
			for i, e := range got {
				gotStr[i] = string(e)
			}
			assert.Equal(t, tt.want, gotStr)
		})
	}
}

func TestEventName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		wantName string
		wantArgs []string
		wantErr  bool
	}{
		{name: "name only", in: `["foo"]`, wantName: "foo", wantArgs: []string{}},
		{name: "with args", in: `["hey","Jude",{"a":1}]`, wantName: "hey", wantArgs: []string{`"Jude"`, `{"a":1}`}},
		{name: "escaped name", in: `["a\"b\u00e9"]`, wantName: "a\"bé", wantArgs: []string{}},
		{name: "unicode name", in: `["über"]`, wantName: "über", wantArgs: []string{}},
		{name: "integer name", in: `[1,"x"]`, wantName: "1", wantArgs: []string{`"x"`}},
		{name: "negative zero name", in: `[-0]`, wantName: "0", wantArgs: []string{}},
		{name: "fraction name", in: `[1.50]`, wantName: "1.5", wantArgs: []string{}},
		{name: "exponent name", in: `[1e2]`, wantName: "100", wantArgs: []string{}},
		{name: "small name", in: `[0.000001]`, wantName: "0.000001", wantArgs: []string{}},
		{name: "tiny name", in: `[1.5e-7]`, wantName: "1.5e-7", wantArgs: []string{}},
		{name: "huge name", in: `[1e21]`, wantName: "1e+21", wantArgs: []string{}},
		{name: "huger name", in: `[1.5e300]`, wantName: "1.5e+300", wantArgs: []string{}},
		{name: "out of range number", in: `[1e400]`, wantErr: true},
		{name: "empty array", in: `[]`, wantErr: true},
		{name: "bool name", in: `[true]`, wantErr: true},
		{name: "object name", in: `[{}]`, wantErr: true},
		{name: "not an array", in: `"foo"`, wantErr: true},
		{name: "invalid", in: `["foo"`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			name, args, err := sio.EventName(raw(tt.in))
			if tt.wantErr {
				require.Error(t, err, "event name of %q", tt.in)
				return
			}
			require.NoError(t, err, "event name of %q", tt.in)
			assert.Equal(t, tt.wantName, name)
			argStr := make([]string, len(args))
			for i, a := range args {
				argStr[i] = string(a)
			}
			assert.Equal(t, tt.wantArgs, argStr)
		})
	}
}

// TestMarshalDecodeFill runs an outgoing binary event through the whole
// codec and back, as a server and client would.
func TestMarshalDecodeFill(t *testing.T) {
	t.Parallel()
	data, atts, err := sio.MarshalArgs("upload", []any{"a.bin", []byte("hello"), []byte{}})
	require.NoError(t, err)
	out := sio.Packet{Type: sio.BinaryEvent, Namespace: "/files", ID: 3, HasID: true, Data: data, Attachments: len(atts)}
	wire := out.Append(nil)
	assert.True(t, strings.HasPrefix(string(wire), "52-/files,3["), "wire %q", wire)

	var r sio.Reassembler
	_, _, done, err := r.Add(wire, false)
	require.NoError(t, err)
	require.False(t, done)
	_, _, done, err = r.Add(atts[0], true)
	require.NoError(t, err)
	require.False(t, done)
	p, got, done, err := r.Add(atts[1], true)
	require.NoError(t, err)
	require.True(t, done)
	assert.Equal(t, out, p)

	filled, err := sio.FillPlaceholders(p.Data, got)
	require.NoError(t, err)
	var name string
	var body, empty []byte
	require.NoError(t, json.Unmarshal(filled, &[]any{&name, &name, &body, &empty}))
	assert.Equal(t, "a.bin", name)
	assert.Equal(t, []byte("hello"), body)
	assert.Equal(t, []byte{}, empty)
}

// A binary packet's text and attachments together are bounded by
// MaxPacketBytes; the partial packet is dropped at the message that
// crosses the limit.
func TestReassemblerMaxPacketBytes(t *testing.T) {
	t.Parallel()
	text := []byte(`52-["foo",` + ph0 + `,` + strings.Replace(ph0, "0", "1", 1) + `]`)
	tests := []struct {
		name   string
		limit  int
		atts   []int // attachment sizes
		failAt int   // index of the message refused: 0 the text, 1… an attachment; -1 none
	}{
		{"no limit", 0, []int{1 << 20, 1 << 20}, -1},
		{"at the limit", len(text) + 200, []int{100, 100}, -1},
		{"over by the last attachment", len(text) + 200, []int{100, 101}, 2},
		{"over by the first attachment", len(text) + 200, []int{201, 1}, 1},
		{"text alone over", len(text) - 1, []int{1, 1}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := sio.NewReassembler(sio.Limits{MaxPacketBytes: tt.limit})
			_, _, done, err := r.Add(text, false)
			if tt.failAt == 0 {
				require.ErrorIs(t, err, sio.ErrPacketTooLarge)
				return
			}
			require.NoError(t, err)
			require.False(t, done)
			for i, n := range tt.atts {
				_, atts, done, err := r.Add(make([]byte, n), true)
				if i+1 == tt.failAt {
					require.ErrorIs(t, err, sio.ErrPacketTooLarge, "attachment %d", i)
					_, _, _, err = r.Add([]byte{1}, true)
					require.ErrorIs(t, err, sio.ErrInvalidPacket, "the partial packet was dropped")
					return
				}
				require.NoError(t, err, "attachment %d", i)
				if i == len(tt.atts)-1 {
					require.True(t, done)
					require.Len(t, atts, 2)
				}
			}
		})
	}
}
