package sio

import (
	"bytes"
	"errors"
	"fmt"
	"math"
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
// semantics, without HTML escaping (Socket.IO payloads are not HTML).
var jsonOptions = json.JoinOptions(jsonv1.DefaultOptionsV1(), jsontext.EscapeForHTML(false))

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
	e.opts = json.JoinOptions(jsonOptions, json.WithMarshalers(json.MarshalToFunc(e.placeholder)))
	return e
}}

// placeholder writes the placeholder of b, the next attachment.
func (e *binaryEncoder) placeholder(enc *jsontext.Encoder, b []byte) error {
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

// any decodes an object into a map[string]any, or a placeholder into its
// []byte; arrays and scalars are left to the default, which decodes their
// elements through here again.
func (d *binder) any(dec *jsontext.Decoder, dst *any) error {
	if dec.PeekKind() != '{' {
		return errors.ErrUnsupported
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	m := make(map[string]any)
	for dec.PeekKind() != '}' {
		k, err := dec.ReadToken()
		if err != nil {
			return err
		}
		key := k.String() // before the next read invalidates k
		var v any
		if err := json.UnmarshalDecode(dec, &v); err != nil {
			return err
		}
		m[key] = v
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	if len(m) == 2 && m["_placeholder"] == true {
		if f, ok := m["num"].(float64); ok {
			if f < 0 || f >= float64(len(d.atts)) || f != math.Trunc(f) {
				return errIllegalAttachment
			}
			*dst = d.atts[int(f)]
			return nil
		}
	}
	*dst = m
	return nil
}
