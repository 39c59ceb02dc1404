package sio

import (
	"encoding/json"
	"errors"
	"fmt"

	jsonv2 "github.com/go-json-experiment/json"
)

// ErrInvalidArgument is wrapped by [Args.Bind] errors.
var ErrInvalidArgument = errors.New("invalid argument")

// Args are the arguments of an event or an acknowledgement: each one's raw
// JSON, placeholders left in place, and the packet's binary attachments.
// The zero value has no arguments.
type Args struct {
	raw  []json.RawMessage
	atts [][]byte
}

// NewArgs returns the arguments raw, whose placeholders refer to atts. With
// no attachments a placeholder is an ordinary object, as in
// socket.io-parser, which looks for them in binary packets only.
func NewArgs(raw []json.RawMessage, atts [][]byte) Args { return Args{raw: raw, atts: atts} }

// Len returns the number of arguments.
func (a Args) Len() int { return len(a.raw) }

// Binary reports whether the arguments came with binary attachments.
func (a Args) Binary() bool { return len(a.atts) > 0 }

// Size returns the bytes the arguments take: their JSON and attachments.
func (a Args) Size() int {
	n := 0
	for _, r := range a.raw {
		n += len(r)
	}
	for _, b := range a.atts {
		n += len(b)
	}
	return n
}

// MarshalJSON writes the arguments as a JSON array of their [Args.JSON].
func (a Args) MarshalJSON() ([]byte, error) {
	b := []byte{'['}
	for i := range a.raw {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, a.JSON(i)...)
	}
	return append(b, ']'), nil
}

// Head returns the first n arguments.
func (a Args) Head(n int) Args { return Args{raw: a.raw[:n], atts: a.atts} }

// Attachments returns the binary attachments the placeholders refer to.
func (a Args) Attachments() [][]byte { return a.atts }

// Raw returns argument i's JSON as received, placeholders included.
func (a Args) Raw(i int) json.RawMessage { return a.raw[i] }

// Bind decodes the arguments, in order, into dst (pointers, as for
// json.Unmarshal); a nil entry skips its argument. Fewer arguments than dst
// is an error; extra arguments are ignored. A binary attachment decodes
// into a []byte or an any, wherever it sits; into an any, objects become
// map[string]any and arrays []any, with a []byte for each attachment in
// them. Errors wrap [ErrInvalidArgument].
func (a Args) Bind(dst ...any) error {
	if len(a.raw) < len(dst) {
		return fmt.Errorf("%w: %d arguments, want %d", ErrInvalidArgument, len(a.raw), len(dst))
	}
	opts := jsonOptions
	if len(a.atts) > 0 {
		opts = newBinder(a.atts).opts
	}
	for i, d := range dst {
		if d == nil {
			continue
		}
		if err := jsonv2.Unmarshal(a.raw[i], d, opts); err != nil {
			return fmt.Errorf("%w %d: %w", ErrInvalidArgument, i, err)
		}
	}
	return nil
}

// JSON returns argument i as JSON, each binary attachment in it written as
// the base64 string encoding/json makes of a []byte.
func (a Args) JSON(i int) json.RawMessage {
	if len(a.atts) == 0 {
		return a.raw[i]
	}
	out, err := FillDecoded(a.raw[i], a.atts)
	if err != nil { // checked when the packet was decoded
		return a.raw[i]
	}
	return out
}

// Values returns the arguments as values that [AppendArgs] writes back as
// they came: an argument without attachments as its json.RawMessage, one
// with attachments decoded as Bind decodes into an any, so that each
// attachment is sent as binary again.
func (a Args) Values() []any {
	out := make([]any, len(a.raw))
	for i, r := range a.raw {
		if len(a.atts) == 0 || !containsPlaceholderKey(r) {
			out[i] = r
			continue
		}
		v, err := decodeAny(r, a.atts)
		if err != nil {
			out[i] = r // checked when the packet was decoded
			continue
		}
		out[i] = v
	}
	return out
}

// DecodeEvent returns the name and arguments of an EVENT or BINARY_EVENT
// packet p from [Decode] or a [Reassembler], with its attachments. A
// placeholder that names no attachment is an error wrapping
// [ErrInvalidPacket].
func DecodeEvent(p *Packet, atts [][]byte) (string, Args, error) {
	if err := checkPlaceholders(p.Data, atts); err != nil {
		return "", Args{}, err
	}
	name, raw, err := EventName(p.Data)
	if err != nil {
		return "", Args{}, fmt.Errorf("%w: %w", ErrInvalidPacket, err)
	}
	return name, Args{raw: raw, atts: atts}, nil
}

// DecodeAck returns the arguments of an ACK or BINARY_ACK packet p, as
// [DecodeEvent] does.
func DecodeAck(p *Packet, atts [][]byte) (Args, error) {
	if err := checkPlaceholders(p.Data, atts); err != nil {
		return Args{}, err
	}
	if len(p.Data) == 0 {
		return Args{}, nil
	}
	raw, err := SplitArray(p.Data)
	if err != nil {
		return Args{}, fmt.Errorf("%w: %w", ErrInvalidPacket, err)
	}
	return Args{raw: raw, atts: atts}, nil
}

// checkPlaceholders checks that the placeholders of a binary packet's data
// name each of its attachments once, as socket.io-parser writes them: one
// that names none is socket.io-parser's "illegal attachments"; one named
// twice, which would let a small packet stand for many copies of a large
// attachment, or not at all is refused too. Data without attachments is not
// looked at.
func checkPlaceholders(data json.RawMessage, atts [][]byte) error {
	if len(atts) == 0 {
		return nil
	}
	f := filler{in: data, atts: atts, used: make([]bool, len(atts)), unused: len(atts)}
	if end := f.value(skipSpace(data, 0), 0); end < 0 || f.err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidPacket, errIllegalAttachment)
	}
	if f.unused != 0 {
		return fmt.Errorf("%w: %d attachments named by no placeholder", ErrInvalidPacket, f.unused)
	}
	return nil
}
