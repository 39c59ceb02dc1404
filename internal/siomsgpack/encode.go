package siomsgpack

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/vicinity-go/vicinity/internal/sio"
)

// Append appends p as one socket.io-msgpack-parser message to dst and
// returns the extended buffer. The map holds "type", then "data" unless
// p.Data is nil, then "id" if p.HasID, then "nsp" ("/" when p.Namespace is
// ""). A BinaryEvent or BinaryAck is written as an EVENT or ACK, since binary
// values travel inline: each placeholder {"_placeholder":true,"num":N} in
// p.Data (an object with exactly those two members, keys spelled without
// escapes, as [sio.FillPlaceholders] reads them) becomes atts[N] as msgpack
// bin. Placeholders are replaced when p is a BinaryEvent or BinaryAck or
// atts is not empty; otherwise Data is written as it is, placeholder-shaped
// objects included, as the text encoder writes them. p.Attachments is
// ignored.
//
// Like [sio.Packet.Append] it trusts the namespace and the kind of data,
// but p.Data must be valid JSON. It fails, returning dst, whose spare
// capacity may have been written to, for an unknown type, invalid JSON, a
// number out of the float64 range, or a placeholder whose num is not an
// index of atts.
func Append(dst []byte, p sio.Packet, atts [][]byte) ([]byte, error) {
	t := p.Type.Plain()
	if t > sio.ConnectError {
		return dst, fmt.Errorf("siomsgpack: unknown packet type %v", p.Type)
	}
	nsp := p.Namespace
	if nsp == "" {
		nsp = "/"
	}
	n := 2
	if p.Data != nil {
		n++
	}
	if p.HasID {
		n++
	}
	b := appendMapHead(dst, n)
	b = appendString(b, "type")
	b = appendUint(b, uint64(t))
	if p.Data != nil {
		e := encoder{in: p.Data, atts: atts, placeholders: p.Type != t || len(atts) > 0}
		var err error
		if b, err = e.encode(appendString(b, "data")); err != nil {
			return dst, err
		}
	}
	if p.HasID {
		b = appendUint(appendString(b, "id"), p.ID)
	}
	b = appendString(appendString(b, "nsp"), nsp)
	return b, nil
}

var errJSON = errors.New("siomsgpack: invalid JSON data")

// encoder converts the valid JSON in to msgpack in two passes: the first
// counts the elements of every array and object (msgpack writes a count
// first), in the order they open; the second writes, taking the counts in
// the same order.
type encoder struct {
	in           []byte
	atts         [][]byte
	placeholders bool  // replace placeholders with atts
	counts       []int // element counts of the containers, in order
	next         int   // index in counts of the next container
	stack        [16]int
}

// encode appends the msgpack of e.in to b.
func (e *encoder) encode(b []byte) ([]byte, error) {
	if !json.Valid(e.in) { // which also bounds the nesting, at 10000
		return b, errJSON
	}
	e.count()
	b, end, err := e.value(b, skipSpace(e.in, 0))
	if err != nil {
		return b, err
	}
	if skipSpace(e.in, end) != len(e.in) {
		return b, errJSON // cannot happen after json.Valid
	}
	return b, nil
}

// count fills e.counts in one scan of the valid JSON e.in.
func (e *encoder) count() {
	in := e.in
	open := e.stack[:0] // indices in counts of the enclosing containers
	for i := 0; i < len(in); i++ {
		switch in[i] {
		case '"':
			i = skipString(in, i) - 1
			if i < 0 {
				return
			}
		case '[', '{':
			j := skipSpace(in, i+1)
			if j < len(in) && (in[j] == ']' || in[j] == '}') {
				e.counts = append(e.counts, 0)
				i = j
				continue
			}
			open = append(open, len(e.counts))
			e.counts = append(e.counts, 1)
		case ',':
			if len(open) > 0 {
				e.counts[open[len(open)-1]]++
			}
		case ']', '}':
			if len(open) > 0 {
				open = open[:len(open)-1]
			}
		}
	}
}

// value appends the msgpack of the JSON value at in[i] and returns the
// index past it.
func (e *encoder) value(b []byte, i int) ([]byte, int, error) {
	in := e.in
	if i >= len(in) {
		return b, i, errJSON
	}
	switch c := in[i]; {
	case c == '{':
		n, err := e.take()
		if err != nil {
			return b, i, err
		}
		if e.placeholders && n == 2 {
			if end, num, ok := placeholder(in, i); ok {
				if num < 0 || num >= len(e.atts) {
					return b, i, fmt.Errorf("siomsgpack: placeholder num %s out of range: %d attachments", in[i:end], len(e.atts))
				}
				return appendBin(b, e.atts[num]), end, nil
			}
		}
		b = appendMapHead(b, n)
		i++
		for range n {
			var err error
			if b, i, err = e.str(b, skipSpace(in, i)); err != nil {
				return b, i, err
			}
			i = skipSpace(in, i)
			if i >= len(in) || in[i] != ':' {
				return b, i, errJSON
			}
			if b, i, err = e.value(b, skipSpace(in, i+1)); err != nil {
				return b, i, err
			}
			if i = skipSpace(in, i); i >= len(in) {
				return b, i, errJSON
			}
			i++ // ',' or '}'
		}
		if n == 0 {
			i = skipSpace(in, i) + 1
		}
		return b, i, nil
	case c == '[':
		n, err := e.take()
		if err != nil {
			return b, i, err
		}
		b = appendArrayHead(b, n)
		i++
		for range n {
			var err error
			if b, i, err = e.value(b, skipSpace(in, i)); err != nil {
				return b, i, err
			}
			if i = skipSpace(in, i); i >= len(in) {
				return b, i, errJSON
			}
			i++ // ',' or ']'
		}
		if n == 0 {
			i = skipSpace(in, i) + 1
		}
		return b, i, nil
	case c == '"':
		return e.str(b, i)
	case c == 't':
		return append(b, 0xc3), i + len("true"), nil
	case c == 'f':
		return append(b, 0xc2), i + len("false"), nil
	case c == 'n':
		return append(b, 0xc0), i + len("null"), nil
	}
	return e.number(b, i)
}

// take returns the element count of the next container.
func (e *encoder) take() (int, error) {
	if e.next >= len(e.counts) {
		return 0, errJSON // cannot happen after json.Valid
	}
	n := e.counts[e.next]
	e.next++
	return n, nil
}

// str appends the msgpack string of the JSON string at in[i]. It copies
// strings without escapes that are valid UTF-8, and has encoding/json
// decode the rest, which makes invalid UTF-8 and lone surrogates U+FFFD.
func (e *encoder) str(b []byte, i int) ([]byte, int, error) {
	in := e.in
	if i >= len(in) || in[i] != '"' {
		return b, i, errJSON
	}
	end := skipString(in, i)
	if end < 0 {
		return b, i, errJSON
	}
	raw := in[i+1 : end-1]
	if !hasEscape(raw) && utf8.Valid(raw) {
		return append(appendStrHead(b, len(raw)), raw...), end, nil
	}
	var s string
	if err := json.Unmarshal(in[i:end], &s); err != nil {
		return b, i, errJSON
	}
	return appendString(b, s), end, nil
}

func hasEscape(s []byte) bool {
	for _, c := range s {
		if c == '\\' {
			return true
		}
	}
	return false
}

// number appends the msgpack of the JSON number at in[i]: an integer when
// it has no fraction or exponent and fits an int64 or a uint64, else a
// float64.
func (e *encoder) number(b []byte, i int) ([]byte, int, error) {
	in := e.in
	end, integral := scanNumber(in, i)
	if end <= i {
		return b, i, errJSON
	}
	s := in[i:end]
	if integral {
		neg := s[0] == '-'
		digits := s
		if neg {
			digits = s[1:]
		}
		var u uint64
		ok := true
		for _, c := range digits {
			d := uint64(c - '0')
			if u > (math.MaxUint64-d)/10 {
				ok = false
				break
			}
			u = u*10 + d
		}
		switch {
		case ok && !neg:
			return appendUint(b, u), end, nil
		case ok && u <= 1<<63:
			return appendInt(b, int64(-u)), end, nil // -(1<<63) wraps to itself
		}
	}
	f, err := strconv.ParseFloat(unsafeString(s), 64)
	if err != nil { // out of range
		return b, i, fmt.Errorf("siomsgpack: number %s out of range", s)
	}
	return appendFloat(b, f), end, nil
}

// placeholder reports whether the object at in[i] is a placeholder as
// sio.FillPlaceholders reads it, and if so where it ends and its num (-1 if
// num is not an integer that fits an int).
func placeholder(in []byte, i int) (end, num int, ok bool) {
	const flagKey, numKey = `"_placeholder"`, `"num"`
	var seenFlag, seenNum bool
	num = -1
	i = skipSpace(in, i+1)
	for n := range 2 {
		if n == 1 {
			if i >= len(in) || in[i] != ',' {
				return 0, 0, false
			}
			i = skipSpace(in, i+1)
		}
		var key string
		switch {
		case hasPrefixAt(in, i, flagKey):
			key = flagKey
		case hasPrefixAt(in, i, numKey):
			key = numKey
		default:
			return 0, 0, false
		}
		i = skipSpace(in, i+len(key))
		if i >= len(in) || in[i] != ':' {
			return 0, 0, false
		}
		i = skipSpace(in, i+1)
		if key == flagKey {
			if seenFlag || !hasPrefixAt(in, i, "true") {
				return 0, 0, false
			}
			seenFlag = true
			i += len("true")
		} else {
			if seenNum || i >= len(in) || in[i] != '-' && !isDigit(in[i]) {
				return 0, 0, false
			}
			seenNum = true
			numEnd, _ := scanNumber(in, i)
			if numEnd < 0 {
				return 0, 0, false
			}
			if v, err := strconv.Atoi(string(in[i:numEnd])); err == nil {
				num = v
			}
			i = numEnd
		}
		i = skipSpace(in, i)
	}
	if i >= len(in) || in[i] != '}' {
		return 0, 0, false
	}
	return i + 1, num, true
}

func hasPrefixAt(b []byte, i int, s string) bool {
	return len(b)-i >= len(s) && string(b[i:i+len(s)]) == s
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// skipString returns the index past the JSON string starting at b[i] ==
// '"', or -1.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '"':
			return i + 1
		case '\\':
			i++
		}
	}
	return -1
}

// scanNumber returns the index past the JSON number at b[i] (-1 if there is
// none) and whether it is written without fraction or exponent.
func scanNumber(b []byte, i int) (end int, integral bool) {
	start := i
	integral = true
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := i
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	if i == digits {
		return -1, false
	}
	if i < len(b) && b[i] == '.' {
		integral = false
		i++
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		integral = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i == start {
		return -1, false
	}
	return i, integral
}

// The msgpack writers, choosing the forms notepack.io chooses.

func appendUint(b []byte, u uint64) []byte {
	switch {
	case u < 0x80:
		return append(b, byte(u))
	case u <= math.MaxUint8:
		return append(b, 0xcc, byte(u))
	case u <= math.MaxUint16:
		return append(b, 0xcd, byte(u>>8), byte(u))
	case u <= math.MaxUint32:
		return append(b, 0xce, byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
	}
	return append(b, 0xcf, byte(u>>56), byte(u>>48), byte(u>>40), byte(u>>32),
		byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
}

func appendInt(b []byte, i int64) []byte {
	switch {
	case i >= 0:
		return appendUint(b, uint64(i))
	case i >= -32:
		return append(b, byte(i))
	case i >= math.MinInt8:
		return append(b, 0xd0, byte(i))
	case i >= math.MinInt16:
		return append(b, 0xd1, byte(i>>8), byte(i))
	case i >= math.MinInt32:
		return append(b, 0xd2, byte(i>>24), byte(i>>16), byte(i>>8), byte(i))
	}
	return append(b, 0xd3, byte(i>>56), byte(i>>48), byte(i>>40), byte(i>>32),
		byte(i>>24), byte(i>>16), byte(i>>8), byte(i))
}

func appendFloat(b []byte, f float64) []byte {
	u := math.Float64bits(f)
	return append(b, 0xcb, byte(u>>56), byte(u>>48), byte(u>>40), byte(u>>32),
		byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
}

// appendLen appends the 16-bit form c16 or the 32-bit form c16+1 of a
// length or count n. Lengths past 32 bits cannot be written; no message is
// that large.
func appendLen(b []byte, n int, c16 byte) []byte {
	if n <= math.MaxUint16 {
		return append(b, c16, byte(n>>8), byte(n))
	}
	return append(b, c16+1, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

func appendStrHead(b []byte, n int) []byte {
	switch {
	case n < 32:
		return append(b, 0xa0|byte(n))
	case n <= math.MaxUint8:
		return append(b, 0xd9, byte(n))
	}
	return appendLen(b, n, 0xda)
}

func appendString(b []byte, s string) []byte { return append(appendStrHead(b, len(s)), s...) }

func appendBin(b, data []byte) []byte {
	if n := len(data); n <= math.MaxUint8 {
		b = append(b, 0xc4, byte(n))
	} else {
		b = appendLen(b, n, 0xc5)
	}
	return append(b, data...)
}

func appendArrayHead(b []byte, n int) []byte {
	if n < 16 {
		return append(b, 0x90|byte(n))
	}
	return appendLen(b, n, 0xdc)
}

func appendMapHead(b []byte, n int) []byte {
	if n < 16 {
		return append(b, 0x80|byte(n))
	}
	return appendLen(b, n, 0xde)
}
