package eio_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vicinity-go/vicinity/internal/eio"
)

func TestDecodeText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    eio.Packet
		wantErr bool
	}{
		{name: "open", in: `0{"sid":"x"}`, want: eio.Packet{Type: eio.Open, Data: []byte(`{"sid":"x"}`)}},
		{name: "ping", in: "2", want: eio.Packet{Type: eio.Ping, Data: []byte{}}},
		{name: "probe", in: "2probe", want: eio.Packet{Type: eio.Ping, Data: []byte("probe")}},
		{name: "message", in: "4hello", want: eio.Packet{Type: eio.Message, Data: []byte("hello")}},
		{name: "noop", in: "6", want: eio.Packet{Type: eio.Noop, Data: []byte{}}},
		{name: "empty", in: "", wantErr: true},
		{name: "type out of range", in: "7", wantErr: true},
		{name: "not a digit", in: "x", wantErr: true},
		{name: "invalid UTF-8", in: "4caf\xe9", wantErr: true},
		{name: "surrogate half", in: "4\xed\xa0\x80", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := eio.DecodeText([]byte(tt.in))
			if tt.wantErr {
				assert.ErrorIs(t, err, eio.ErrInvalidPacket, "decode %q", tt.in)
				return
			}
			require.NoError(t, err, "decode %q", tt.in)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestDecodePayload(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		max     int
		want    []eio.Packet
		wantErr error
	}{
		{name: "one", in: "4hello", want: []eio.Packet{{Type: eio.Message, Data: []byte("hello")}}},
		{name: "spec example", in: "4hello\x1ebAQIDBA==", want: []eio.Packet{
			{Type: eio.Message, Data: []byte("hello")},
			{Type: eio.Message, Data: []byte{1, 2, 3, 4}, Binary: true},
		}},
		{name: "pong and message", in: "3\x1e4x", want: []eio.Packet{
			{Type: eio.Pong, Data: []byte{}},
			{Type: eio.Message, Data: []byte("x")},
		}},
		{name: "empty binary", in: "b", want: []eio.Packet{{Type: eio.Message, Data: []byte{}, Binary: true}}},
		{name: "empty payload", in: "", wantErr: eio.ErrInvalidPacket},
		{name: "empty record", in: "4a\x1e\x1e4b", wantErr: eio.ErrInvalidPacket},
		{name: "trailing separator", in: "4a\x1e", wantErr: eio.ErrInvalidPacket},
		{name: "bad base64", in: "b!!!", wantErr: eio.ErrInvalidPacket},
		{name: "bad type", in: "9x", wantErr: eio.ErrInvalidPacket},
		{name: "invalid UTF-8", in: "4a\x1e4\xff", wantErr: eio.ErrInvalidUTF8},
		{name: "binary is not text", in: "b/w==", want: []eio.Packet{{Type: eio.Message, Data: []byte{0xff}, Binary: true}}},
		{name: "too many", in: "2\x1e2\x1e2", max: 2, wantErr: eio.ErrTooManyPackets},
		{name: "at the limit", in: "3\x1e3", max: 2, want: []eio.Packet{{Type: eio.Pong, Data: []byte{}}, {Type: eio.Pong, Data: []byte{}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []eio.Packet
			err := eio.DecodePayload([]byte(tt.in), tt.max, func(p eio.Packet) error {
				got = append(got, p)
				return nil
			})
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr, "decode %q", tt.in)
				return
			}
			require.NoError(t, err, "decode %q", tt.in)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestDecodePayloadStopsAtCallbackError(t *testing.T) {
	t.Parallel()
	stop := errors.New("stop")
	n := 0
	err := eio.DecodePayload([]byte("4a\x1e4b\x1e4c"), 0, func(eio.Packet) error {
		n++
		return stop
	})
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, 1, n)
}

func TestAppendPayload(t *testing.T) {
	t.Parallel()
	var b []byte
	b = eio.AppendPayload(b, eio.Packet{Type: eio.Message, Data: []byte("hello")})
	b = eio.AppendPayload(b, eio.Packet{Type: eio.Message, Data: []byte{1, 2, 3, 4}, Binary: true})
	b = eio.AppendPayload(b, eio.Packet{Type: eio.Ping})
	assert.Equal(t, "4hello\x1ebAQIDBA==\x1e2", string(b))
	assert.Equal(t, len("bAQIDBA=="), eio.PayloadLen(eio.Packet{Type: eio.Message, Data: []byte{1, 2, 3, 4}, Binary: true}))
	assert.Equal(t, len("4hello"), eio.PayloadLen(eio.Packet{Type: eio.Message, Data: []byte("hello")}))
}

func FuzzDecodePayload(f *testing.F) {
	for _, s := range []string{"4hello\x1ebAQIDBA==", "2", "3\x1e4x", "b", "0{}", "6\x1e6", "\x1e", "bAA=\x1e5"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var pkts []eio.Packet
		err := eio.DecodePayload(in, 16, func(p eio.Packet) error {
			pkts = append(pkts, p)
			return nil
		})
		if err != nil {
			return
		}
		require.LessOrEqual(t, len(pkts), 16)
		var out []byte
		for _, p := range pkts {
			out = eio.AppendPayload(out, p)
		}
		var again []eio.Packet
		require.NoError(t, eio.DecodePayload(out, 0, func(p eio.Packet) error {
			again = append(again, p)
			return nil
		}), "re-decode %q", out)
		require.Len(t, again, len(pkts))
		for i := range pkts {
			assert.Equal(t, pkts[i].Type, again[i].Type)
			assert.Equal(t, pkts[i].Binary, again[i].Binary)
			assert.Equal(t, string(pkts[i].Data), string(again[i].Data))
		}
	})
}

func FuzzDecodeText(f *testing.F) {
	for _, s := range []string{"2probe", "4hello", "", "7", "0{}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := eio.DecodeText(in)
		if err != nil {
			return
		}
		assert.Equal(t, string(in), string(eio.AppendText(nil, p.Type, p.Data)))
	})
}
