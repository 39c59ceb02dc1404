package siomsgpack

import (
	"github.com/vicinity-go/vicinity/internal/sio"
)

// AppendValue appends the msgpack of the JSON value raw to dst, converting
// as [Append] converts a packet's data: when atts is not empty, each
// placeholder {"_placeholder":true,"num":N} becomes atts[N] as bin. It
// serves messages that carry packets inside other structures, such as a
// cluster adapter's. It fails, returning dst, for invalid JSON, a number
// out of the float64 range or a placeholder whose num is not an index of
// atts.
func AppendValue(dst, raw []byte, atts [][]byte) ([]byte, error) {
	e := encoder{in: raw, atts: atts, placeholders: len(atts) > 0}
	b, err := e.encode(dst)
	if err != nil {
		return dst, err
	}
	return b, nil
}

// DecodeValue converts b, which must hold exactly one msgpack value, to
// JSON, as [Decode] converts a packet's data: each binary value becomes a
// placeholder {"_placeholder":true,"num":N} and is returned as attachment N
// (aliasing b), at most lim.MaxAttachments of them; an undefined value, or
// one nested in a map, is left out as JSON.stringify leaves it out, and
// reads as null in an array or at the top. Errors wrap
// [sio.ErrInvalidPacket] or [sio.ErrTooManyAttachments].
func DecodeValue(b []byte, lim sio.Limits) ([]byte, [][]byte, error) {
	d := decoder{b: b, maxAtts: maxAttachments(lim), out: make([]byte, 0, len(b)+len(b)/2)}
	k, err := d.value(0)
	if err != nil {
		return nil, nil, err
	}
	if d.i != len(d.b) {
		return nil, nil, invalid("%d trailing bytes", len(d.b)-d.i)
	}
	if k == kindUndefined {
		d.out = append(d.out, "null"...)
	}
	return d.out, d.atts, nil
}
