package sio

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// MarshalArgs encodes the JSON array that forms EVENT or ACK data: the event
// name, unless event is "" (as for ACK data), then args. Each []byte, as an
// arg or anywhere inside one (a struct field, a map or slice element),
// becomes a placeholder and is returned in attachments, in the order
// written and not copied, as socket.io-parser does with the Buffers it
// finds at any depth; a nil []byte is null, as in encoding/json. A packet
// with attachments must be sent as a BinaryEvent or BinaryAck. A
// json.RawMessage arg is validated and inserted verbatim (nil as null), and
// a named byte-slice type other than []byte is encoded as encoding/json
// encodes it. Strings, booleans, integers, floats and nil are written
// directly; every other arg is encoded with encoding/json's semantics
// (without HTML escaping). Event names are not checked against Reserved.
func MarshalArgs(event string, args []any) (data json.RawMessage, attachments [][]byte, err error) {
	data, attachments, err = AppendArgs(make([]byte, 0, 32+len(event)+16*len(args)), event, args)
	if err != nil {
		return nil, nil, err
	}
	return data, attachments, nil
}

// AppendPacket appends the text of an EVENT or ACK packet p whose data is
// the array [AppendArgs] writes for event and args, and returns the packet's
// attachments, the []byte values in args. With attachments the packet is
// written as p.Type.Binary() with their count; p.Data and p.Attachments are
// ignored. On error it returns dst, whose spare capacity may have been
// written to.
func AppendPacket(dst []byte, p Packet, event string, args []any) ([]byte, [][]byte, error) {
	n, size := argsSize(event, args)
	if n > 0 {
		p.Type = p.Type.Binary()
	}
	p.Attachments = n
	withHead := p.appendHead(slices.Grow(dst, 24+len(p.Namespace)+size))
	b, atts, err := AppendArgs(withHead, event, args)
	if err != nil {
		return dst, nil, err
	}
	if len(atts) != n { // []byte values nested in args: the head changes
		data := b[len(withHead):]
		p.Type, p.Attachments = p.Type.Binary(), len(atts)
		out := p.appendHead(append(make([]byte, 0, len(b)+8), dst...))
		b = append(out, data...)
	}
	return b, atts, nil
}

// argsSize returns how many attachments AppendArgs makes of the top-level
// []byte args (more may be nested in others) and a guess of the number of
// bytes it writes.
func argsSize(event string, args []any) (attachments, size int) {
	size = 4 + len(event) + len(args)
	for _, arg := range args {
		switch v := arg.(type) {
		case []byte:
			if v != nil {
				attachments++
			}
			size += len(`{"_placeholder":true,"num":0}`)
		case string:
			size += len(v) + 2
		case json.RawMessage:
			size += len(v)
		default:
			size += 16
		}
	}
	return attachments, size
}

// AppendEventHead appends the start of an EVENT packet in namespace nsp
// ("" is "/") with no ack id: the packet header, then '[', the event name
// and ',', so that one or more arguments and a final ']' complete it.
func AppendEventHead(dst []byte, nsp, event string) []byte {
	p := Packet{Type: Event, Namespace: nsp}
	return append(openArgs(p.appendHead(dst), event), ',')
}

// openArgs appends the start of the data array: '[' and the event name,
// unless event is "".
func openArgs(b []byte, event string) []byte {
	b = append(b, '[')
	if event != "" {
		b = AppendString(b, event)
	}
	return b
}

// AppendArgs appends the JSON array that [MarshalArgs] returns to dst and
// returns the extended buffer with the attachments. On error it returns
// dst, whose spare capacity may have been written to.
func AppendArgs(dst []byte, event string, args []any) (b []byte, attachments [][]byte, err error) {
	b = openArgs(dst, event)
	for i, arg := range args {
		if i > 0 || event != "" {
			b = append(b, ',')
		}
		switch v := arg.(type) {
		case []byte:
			if v == nil {
				b = append(b, "null"...) // as encoding/json writes a nil slice
				break
			}
			b = append(b, `{"_placeholder":true,"num":`...)
			b = strconv.AppendInt(b, int64(len(attachments)), 10)
			b = append(b, '}')
			attachments = append(attachments, v)
		case json.RawMessage:
			if v == nil {
				b = append(b, "null"...)
				break
			}
			v = trimSpace(v)
			if !valid(v) {
				return dst, nil, argError(i, errInvalidRaw)
			}
			b = append(b, v...)
		case string:
			b = AppendString(b, v)
		case nil:
			b = append(b, "null"...)
		case bool:
			b = strconv.AppendBool(b, v)
		case int:
			b = strconv.AppendInt(b, int64(v), 10)
		case int8:
			b = strconv.AppendInt(b, int64(v), 10)
		case int16:
			b = strconv.AppendInt(b, int64(v), 10)
		case int32:
			b = strconv.AppendInt(b, int64(v), 10)
		case int64:
			b = strconv.AppendInt(b, v, 10)
		case uint:
			b = strconv.AppendUint(b, uint64(v), 10)
		case uint8:
			b = strconv.AppendUint(b, uint64(v), 10)
		case uint16:
			b = strconv.AppendUint(b, uint64(v), 10)
		case uint32:
			b = strconv.AppendUint(b, uint64(v), 10)
		case uint64:
			b = strconv.AppendUint(b, v, 10)
		case float64:
			if b, err = AppendFloat(b, v, 64); err != nil {
				return dst, nil, argError(i, err)
			}
		case float32:
			if b, err = AppendFloat(b, float64(v), 32); err != nil {
				return dst, nil, argError(i, err)
			}
		default:
			if b, attachments, err = appendValue(b, v, attachments); err != nil {
				return dst, nil, argError(i, err)
			}
		}
	}
	return append(b, ']'), attachments, nil
}

// errInvalidRaw is the error of an invalid json.RawMessage arg.
var errInvalidRaw = errors.New("invalid json.RawMessage")

func argError(i int, err error) error { return fmt.Errorf("sio: arg %d: %w", i, err) }

// AppendFloat appends f as encoding/json writes it (bits is 32 or 64);
// NaN and infinities are errors.
func AppendFloat(b []byte, f float64, bits int) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, fmt.Errorf("unsupported value %v", f)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) ||
			bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if format == 'e' { // e-09 becomes e-9, as in encoding/json
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

// maxPooledBuffer keeps a single huge argument from pinning its buffer.
const maxPooledBuffer = 64 << 10

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string the way encoding/json does, minus
// HTML escaping: invalid UTF-8 becomes U+FFFD, and U+2028 and U+2029 are
// escaped for JavaScript.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
