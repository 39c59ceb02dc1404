package sio

import (
	"bytes"
	"cmp"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// Values that are not strings, numbers, booleans, nil, []byte or
// json.RawMessage are encoded and decoded by github.com/go-json-experiment/json
// with encoding/json's (v1) semantics: struct tags, MarshalJSON and
// UnmarshalJSON methods, sorted map keys, case-insensitive field names all
// behave as in encoding/json. It is used rather than encoding/json because
// its type-specific marshalers let a []byte at any depth become a binary
// attachment, and a placeholder at any depth come back as a []byte, as
// socket.io-parser does with Buffers; encoding/json has no such hook.

// jsonOptions are the options of every encoding and decoding: encoding/json's
// semantics, without HTML escaping (Socket.IO payloads are not HTML), with
// encoding/json's Number, which the v1 options know only as their own type.
var jsonOptions = json.JoinOptions(jsonv1.DefaultOptionsV1(), jsontext.EscapeForHTML(false),
	json.WithMarshalers(numberMarshaler), json.WithUnmarshalers(numberUnmarshaler))

var (
	numberMarshaler   = json.MarshalToFunc(marshalNumber)
	numberUnmarshaler = json.UnmarshalFromFunc(unmarshalNumber)
)

// marshalNumber writes an encoding/json.Number as its number, "" as 0, as
// encoding/json does.
func marshalNumber(enc *jsontext.Encoder, n stdjson.Number) error {
	s := cmp.Or(string(n), "0")
	if end := scanNumber([]byte(s), 0); end != len(s) {
		return fmt.Errorf("invalid number literal %q", s)
	}
	return enc.WriteValue(jsontext.Value(s))
}

// unmarshalNumber reads a number, or a string holding one, into an
// encoding/json.Number, as encoding/json does; null leaves it as it is.
func unmarshalNumber(dec *jsontext.Decoder, n *stdjson.Number) error {
	kind := dec.PeekKind()
	v, err := dec.ReadValue()
	if err != nil {
		return err
	}
	switch kind {
	case '0':
		*n = stdjson.Number(v)
	case '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return err
		}
		if s == "" || scanNumber([]byte(s), 0) != len(s) {
			return fmt.Errorf("invalid number literal %q", s)
		}
		*n = stdjson.Number(s)
	case 'n':
	default:
		return fmt.Errorf("cannot decode %s into json.Number", kind)
	}
	return nil
}

// binaryEncoder encodes one value, turning each []byte in it into a
// placeholder and collecting the bytes. It is pooled with its options, whose
// marshaler refers to it.
type binaryEncoder struct {
	atts [][]byte // attachments of the packet being written, in order
	opts json.Options
	buf  bytes.Buffer
}

var binaryEncoders = sync.Pool{New: func() any {
	e := new(binaryEncoder)
	e.opts = json.JoinOptions(jsonOptions, json.WithMarshalers(json.JoinMarshalers(numberMarshaler, json.MarshalToFunc(e.placeholder))))
	return e
}}

// placeholder writes the placeholder of b, the next attachment.
func (e *binaryEncoder) placeholder(enc *jsontext.Encoder, b []byte) error {
	if b == nil {
		return enc.WriteToken(jsontext.Null) // as encoding/json writes a nil slice
	}
	var tmp [48]byte
	p := append(tmp[:0], `{"_placeholder":true,"num":`...)
	p = strconv.AppendInt(p, int64(len(e.atts)), 10)
	p = append(p, '}')
	e.atts = append(e.atts, b)
	return enc.WriteValue(p)
}

// appendValue appends the JSON encoding of v to b; every []byte in v becomes
// a placeholder numbered from len(atts), and is appended to atts.
func appendValue(b []byte, v any, atts [][]byte) ([]byte, [][]byte, error) {
	e := binaryEncoders.Get().(*binaryEncoder)
	e.atts = atts
	defer func() {
		e.atts = nil
		if e.buf.Cap() <= maxPooledBuffer {
			e.buf.Reset()
			binaryEncoders.Put(e)
		}
	}()
	if err := json.MarshalWrite(&e.buf, v, e.opts); err != nil {
		return b, atts, err
	}
	return append(b, e.buf.Bytes()...), e.atts, nil
}

// binder decodes arguments whose packet carried attachments: a placeholder
// becomes its attachment wherever the destination is a []byte or an any.
type binder struct {
	atts [][]byte
	opts json.Options
}

func newBinder(atts [][]byte) *binder {
	d := &binder{atts: atts}
	d.opts = json.JoinOptions(jsonOptions, json.WithUnmarshalers(json.JoinUnmarshalers(
		numberUnmarshaler,
		json.UnmarshalFromFunc(d.bytes),
		json.UnmarshalFromFunc(d.any),
	)))
	return d
}

// errIllegalAttachment is socket.io-parser's error for a placeholder whose
// num names no attachment.
var errIllegalAttachment = errors.New("illegal attachments")

// bytes decodes a placeholder into a []byte; anything else is left to the
// default (a base64 string, or null).
func (d *binder) bytes(dec *jsontext.Decoder, dst *[]byte) error {
	if dec.PeekKind() != '{' {
		return errors.ErrUnsupported
	}
	v, err := dec.ReadValue()
	if err != nil {
		return err
	}
	f := filler{in: v, atts: d.atts}
	end, num, ok := f.placeholder(0)
	switch {
	case !ok || end != len(v):
		return fmt.Errorf("cannot decode object %.40s into []byte", v)
	case f.err != nil:
		return errIllegalAttachment
	}
	*dst = d.atts[num]
	return nil
}

// any decodes an object or an array into an any with decodeAny, so that a
// placeholder at any depth becomes its []byte; scalars are left to the
// default.
func (d *binder) any(dec *jsontext.Decoder, dst *any) error {
	if k := dec.PeekKind(); k != '{' && k != '[' {
		return errors.ErrUnsupported
	}
	raw, err := dec.ReadValue()
	if err != nil {
		return err
	}
	v, err := decodeAny(raw, d.atts)
	if err != nil {
		return err
	}
	*dst = v
	return nil
}

// decodeAny decodes the valid JSON value b as encoding/json decodes into
// an any (map[string]any, []any, string, float64, bool, nil), with each
// placeholder, as [FillPlaceholders] recognizes them, its attachment. It
// takes time linear in len(b).
func decodeAny(b []byte, atts [][]byte) (any, error) {
	d := anyDecoder{b: b, atts: atts}
	v, end := d.value(skipSpace(b, 0))
	if d.err == nil && (end < 0 || skipSpace(b, end) != len(b)) {
		d.err = errSyntax
	}
	return v, d.err
}

// anyDecoder is decodeAny's state: the first error stops it.
type anyDecoder struct {
	b    []byte
	atts [][]byte
	err  error
}

// fail records err and returns what value returns on error.
func (d *anyDecoder) fail(err error) (any, int) {
	if d.err == nil {
		d.err = err
	}
	return nil, -1
}

// value decodes the value at b[i] and returns it with the index past it.
func (d *anyDecoder) value(i int) (any, int) {
	b := d.b
	if i >= len(b) {
		return d.fail(errSyntax)
	}
	switch c := b[i]; {
	case c == '{':
		f := filler{in: b, atts: d.atts}
		if end, num, ok := f.placeholder(i); ok {
			if f.err != nil {
				return d.fail(errIllegalAttachment)
			}
			return d.atts[num], end
		}
		m := make(map[string]any)
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == '}' {
			return m, i + 1
		}
		for {
			if i >= len(b) || b[i] != '"' {
				return d.fail(errSyntax)
			}
			key, end := d.str(i)
			if end < 0 {
				return nil, -1
			}
			i = skipSpace(b, end)
			if i >= len(b) || b[i] != ':' {
				return d.fail(errSyntax)
			}
			v, end := d.value(skipSpace(b, i+1))
			if end < 0 {
				return nil, -1
			}
			m[key] = v
			var done bool
			if i, done = (walker{b: b}).next(end, '}'); done {
				if i < 0 {
					return d.fail(errSyntax)
				}
				return m, i
			}
		}
	case c == '[':
		a := []any{}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == ']' {
			return a, i + 1
		}
		for {
			v, end := d.value(i)
			if end < 0 {
				return nil, -1
			}
			a = append(a, v)
			var done bool
			if i, done = (walker{b: b}).next(end, ']'); done {
				if i < 0 {
					return d.fail(errSyntax)
				}
				return a, i
			}
		}
	case c == '"':
		return d.str(i)
	case c == 't' && hasPrefixAt(b, i, "true"):
		return true, i + 4
	case c == 'f' && hasPrefixAt(b, i, "false"):
		return false, i + 5
	case c == 'n' && hasPrefixAt(b, i, "null"):
		return nil, i + 4
	case c == '-' || isDigit(c):
		end := scanNumber(b, i)
		if end < 0 {
			return d.fail(errSyntax)
		}
		f, err := strconv.ParseFloat(string(b[i:end]), 64)
		if err != nil {
			return d.fail(fmt.Errorf("cannot decode number %s into float64", b[i:end]))
		}
		return f, end
	}
	return d.fail(errSyntax)
}

// str decodes the string at b[i], as encoding/json does (invalid UTF-8
// becomes U+FFFD).
func (d *anyDecoder) str(i int) (string, int) {
	end, escaped := scanString(d.b, i)
	if end < 0 {
		d.fail(errSyntax)
		return "", -1
	}
	if !escaped {
		if s, ok := unquoteSimple(d.b[i:end]); ok {
			return s, end
		}
	}
	var s string
	if err := json.Unmarshal(d.b[i:end], &s, jsonOptions); err != nil {
		d.fail(err)
		return "", -1
	}
	return s, end
}
