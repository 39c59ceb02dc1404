package eio3_test

import (
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/internal/eio"
	"github.com/vicinity-go/vicinity/transport/internal/eio3"
)

func text(t eio.Type, s string) eio.Packet { return eio.Packet{Type: t, Data: []byte(s)} }

func bin(s string) eio.Packet { return eio.Packet{Type: eio.Message, Data: []byte(s), Binary: true} }

func decode(b []byte, binary bool, max int) ([]eio.Packet, error) {
	var got []eio.Packet
	err := eio3.DecodePayload(b, binary, max, func(p eio.Packet) error {
		got = append(got, p)
		return nil
	})
	return got, err
}

// The examples of engine.io-parser 2.x and what Node's parser-v3 writes.
func TestTextPayload(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		pkts []eio.Packet
		want string
	}{
		{"message", []eio.Packet{text(eio.Message, "hello")}, "6:4hello"},
		{"two", []eio.Packet{text(eio.Message, "hello world"), text(eio.Message, "hi")}, "12:4hello world3:4hi"},
		{"pong", []eio.Packet{text(eio.Pong, "")}, "1:3"},
		{"utf-8 counts UTF-16 units", []eio.Packet{text(eio.Message, "€é")}, "3:4€é"},
		{"astral counts two", []eio.Packet{text(eio.Message, "😀")}, "3:4😀"},
		{"binary as base64", []eio.Packet{bin("\x01\x02\x03")}, "6:b4AQID"},
		{"colon inside", []eio.Packet{text(eio.Message, "a:b"), text(eio.Noop, "")}, "4:4a:b1:6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b []byte
			for _, p := range tt.pkts {
				b = eio3.AppendPayload(b, p)
			}
			assert.Equal(t, tt.want, string(b))
			got, err := decode(b, false, 0)
			require.NoError(t, err, "decode %q", b)
			require.Len(t, got, len(tt.pkts))
			for i := range got {
				assert.Equal(t, tt.pkts[i].Type, got[i].Type)
				assert.Equal(t, tt.pkts[i].Binary, got[i].Binary)
				assert.Equal(t, string(tt.pkts[i].Data), string(got[i].Data))
			}
		})
	}
}

func TestBinaryPayload(t *testing.T) {
	t.Parallel()
	var b []byte
	b = eio3.AppendBinaryPayload(b, text(eio.Message, "hé"))
	b = eio3.AppendBinaryPayload(b, bin("\x01\x02\x03"))
	b = eio3.AppendBinaryPayload(b, bin(string(make([]byte, 10))))
	want := "\x00\x04\xff4h\xc3\xa9" + "\x01\x04\xff\x04\x01\x02\x03" + "\x01\x01\x01\xff\x04" + string(make([]byte, 10))
	assert.Equal(t, want, string(b))
	got, err := decode(b, true, 0)
	require.NoError(t, err)
	assert.Equal(t, []eio.Packet{text(eio.Message, "hé"), bin("\x01\x02\x03"), bin(string(make([]byte, 10)))}, got)
}

func TestDecodePayloadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		in     string
		binary bool
		max    int
		err    error
	}{
		{name: "empty", in: "", err: eio.ErrInvalidPacket},
		{name: "no length", in: ":4a", err: eio.ErrInvalidPacket},
		{name: "length not a number", in: "x:4a", err: eio.ErrInvalidPacket},
		{name: "too short", in: "5:4a", err: eio.ErrInvalidPacket},
		{name: "trailing length", in: "2:4a3", err: eio.ErrInvalidPacket},
		{name: "bad type", in: "2:9a", err: eio.ErrInvalidPacket},
		{name: "bad base64", in: "4:b4!!", err: eio.ErrInvalidPacket},
		{name: "base64 without type", in: "1:b", err: eio.ErrInvalidPacket},
		{name: "split surrogate pair", in: "2:4😀", err: eio.ErrInvalidPacket},
		{name: "text not UTF-8", in: "2:4\xff", err: eio.ErrInvalidUTF8},
		{name: "text not UTF-8 after a message", in: "2:4a2:4\x80", err: eio.ErrInvalidUTF8},
		{name: "too many", in: "1:61:61:6", max: 2, err: eio.ErrTooManyPackets},
		{name: "length too long", in: "12345678901:4", err: eio.ErrInvalidPacket},
		{name: "binary empty", in: "", binary: true, err: eio.ErrInvalidPacket},
		{name: "binary bad kind", in: "\x02\x01\xff4", binary: true, err: eio.ErrInvalidPacket},
		{name: "binary no separator", in: "\x00\x01", binary: true, err: eio.ErrInvalidPacket},
		{name: "binary no digits", in: "\x00\xff4", binary: true, err: eio.ErrInvalidPacket},
		{name: "binary digit out of range", in: "\x00\x0a\xff4", binary: true, err: eio.ErrInvalidPacket},
		{name: "binary truncated", in: "\x01\x05\xff\x04ab", binary: true, err: eio.ErrInvalidPacket},
		{name: "binary bad UTF-8", in: "\x00\x02\xff4\xff", binary: true, err: eio.ErrInvalidUTF8},
		{name: "binary bad type", in: "\x01\x02\xff\x09a", binary: true, err: eio.ErrInvalidPacket},
		{name: "binary too many", in: "\x00\x01\xff6\x00\x01\xff6", binary: true, max: 1, err: eio.ErrTooManyPackets},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := decode([]byte(tt.in), tt.binary, tt.max)
			assert.ErrorIs(t, err, tt.err, "decode %q", tt.in)
			assert.Empty(t, got, "nothing delivered from a rejected payload")
		})
	}
}

func TestDecodePayloadSkipsEmpty(t *testing.T) {
	t.Parallel()
	got, err := decode([]byte("0:2:4a0:"), false, 0)
	require.NoError(t, err)
	assert.Equal(t, []eio.Packet{text(eio.Message, "a")}, got)
}

func TestFrames(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "\x04\x01\x02", string(eio3.AppendBinary(nil, bin("\x01\x02"))))
	p, err := eio3.DecodeBinary([]byte("\x04\x01\x02"))
	require.NoError(t, err)
	assert.Equal(t, bin("\x01\x02"), p)
	p, err = eio3.DecodeBinary([]byte("\x02probe"))
	require.NoError(t, err)
	assert.Equal(t, text(eio.Ping, "probe"), p)
	_, err = eio3.DecodeBinary(nil)
	assert.ErrorIs(t, err, eio.ErrInvalidPacket)
	_, err = eio3.DecodeBinary([]byte{7})
	assert.ErrorIs(t, err, eio.ErrInvalidPacket)

	assert.Equal(t, "b4AQI=", string(eio3.AppendText(nil, bin("\x01\x02"))))
	p, err = eio3.DecodeText([]byte("b4AQI="))
	require.NoError(t, err)
	assert.Equal(t, bin("\x01\x02"), p)
	p, err = eio3.DecodeText([]byte("2probe"))
	require.NoError(t, err)
	assert.Equal(t, text(eio.Ping, "probe"), p)
}

func FuzzDecodePayload(f *testing.F) {
	for _, s := range []string{"6:4hello", "12:4hello world3:4hi", "1:3", "3:4€é", "3:4😀", "6:b4AQID", "0:", "2:9a", "1:61:6"} {
		f.Add([]byte(s), false)
	}
	for _, s := range []string{"\x00\x04\xff4h\xc3\xa9", "\x01\x04\xff\x04\x01\x02\x03", "\x00\x01\xff6", "\x01\x01\xff\x04"} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, in []byte, binary bool) {
		pkts, err := decode(in, binary, 16)
		if err != nil {
			require.Empty(t, pkts)
			return
		}
		require.LessOrEqual(t, len(pkts), 16)
		for _, enc := range []struct {
			binary bool
			append func([]byte, eio.Packet) []byte
		}{{false, eio3.AppendPayload}, {true, eio3.AppendBinaryPayload}} {
			var out []byte
			for _, p := range pkts {
				if !p.Binary && !utf8.Valid(p.Data) {
					out = nil // a text packet carries text: invalid UTF-8 does not survive
					break
				}
				out = enc.append(out, p)
			}
			if out == nil {
				continue
			}
			again, err := decode(out, enc.binary, 0)
			require.NoError(t, err, "re-decode %q", out)
			require.Len(t, again, len(pkts))
			for i := range pkts {
				assert.Equal(t, pkts[i].Type, again[i].Type)
				assert.Equal(t, pkts[i].Binary, again[i].Binary)
				assert.Equal(t, string(pkts[i].Data), string(again[i].Data))
			}
		}
	})
}

func FuzzDecodeFrame(f *testing.F) {
	for _, s := range []string{"4hello", "2probe", "b4AQID", "\x04\x01\x02", "", "b", "b9"} {
		f.Add([]byte(s), s != "" && s[0] < '0')
	}
	f.Fuzz(func(t *testing.T, in []byte, binary bool) {
		var p eio.Packet
		var err error
		if binary {
			p, err = eio3.DecodeBinary(in)
		} else {
			p, err = eio3.DecodeText(in)
		}
		if err != nil {
			return
		}
		if !p.Binary && !utf8.Valid(p.Data) {
			// a control packet of a binary frame or of base64 ("b0…"):
			// written as text it is refused, by design
			return
		}
		var out []byte
		if binary {
			out = eio3.AppendBinary(nil, p)
		} else {
			out = eio3.AppendText(nil, p)
		}
		var again eio.Packet
		if binary {
			again, err = eio3.DecodeBinary(out)
		} else {
			again, err = eio3.DecodeText(out)
		}
		require.NoError(t, err, "re-decode %q", out)
		assert.Equal(t, p.Type, again.Type)
		assert.Equal(t, p.Binary, again.Binary)
		assert.Equal(t, string(p.Data), string(again.Data))
	})
}
