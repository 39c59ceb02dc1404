package sio

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// maxDepth is encoding/json's nesting limit, so that valid agrees with
// json.Valid.
const maxDepth = 10000

// errSyntax is the error returned for malformed JSON.
var errSyntax = errors.New("sio: invalid JSON")

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipSpace returns the index of the first non-whitespace byte at or after i.
func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// trimSpace returns b without leading and trailing JSON whitespace.
func trimSpace(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && isSpace(b[i]) {
		i++
	}
	for j > i && isSpace(b[j-1]) {
		j--
	}
	return b[i:j]
}

// valid reports whether b is one JSON value with optional surrounding
// whitespace; it agrees with json.Valid.
func valid(b []byte) bool {
	end := skipValue(b, skipSpace(b, 0), 0)
	return end >= 0 && skipSpace(b, end) == len(b)
}

// skipValue returns the index just past the JSON value starting at b[i], or
// -1 if there is none. depth counts the enclosing arrays and objects.
func skipValue(b []byte, i, depth int) int { return walker{b: b}.value(i, depth) }

// walker walks JSON values. object, if set, sees every object first: it
// returns handled true with the index past the object (or -1) to take the
// object over.
type walker struct {
	b      []byte
	object func(i int) (end int, handled bool)
}

// value returns the index just past the JSON value starting at b[i], or -1
// if there is none. depth counts the enclosing arrays and objects.
func (w walker) value(i, depth int) int {
	b := w.b
	if i >= len(b) {
		return -1
	}
	switch c := b[i]; c {
	case '"':
		end, _ := scanString(b, i)
		return end
	case '{':
		if depth >= maxDepth {
			return -1
		}
		if w.object != nil {
			if end, handled := w.object(i); handled {
				return end
			}
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == '}' {
			return i + 1
		}
		for {
			if i >= len(b) || b[i] != '"' {
				return -1
			}
			if i, _ = scanString(b, i); i < 0 {
				return -1
			}
			i = skipSpace(b, i)
			if i >= len(b) || b[i] != ':' {
				return -1
			}
			if i = w.value(skipSpace(b, i+1), depth+1); i < 0 {
				return -1
			}
			var done bool
			if i, done = w.next(i, '}'); done {
				return i
			}
		}
	case '[':
		if depth >= maxDepth {
			return -1
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1
		}
		for {
			if i = w.value(i, depth+1); i < 0 {
				return -1
			}
			var done bool
			if i, done = w.next(i, ']'); done {
				return i
			}
		}
	case 't':
		return skipLiteral(b, i, "true")
	case 'f':
		return skipLiteral(b, i, "false")
	case 'n':
		return skipLiteral(b, i, "null")
	default:
		if c == '-' || isDigit(c) {
			return scanNumber(b, i)
		}
		return -1
	}
}

// next reads what follows a member or element at b[i]. After a ',' it
// returns the index of the next one; at closer, the index past the
// container and done; anything else is -1 and done.
func (w walker) next(i int, closer byte) (int, bool) {
	b := w.b
	i = skipSpace(b, i)
	switch {
	case i >= len(b):
		return -1, true
	case b[i] == ',':
		return skipSpace(b, i+1), false
	case b[i] == closer:
		return i + 1, true
	default:
		return -1, true
	}
}

func skipLiteral(b []byte, i int, lit string) int {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// scanString returns the index just past the JSON string starting at
// b[i] == '"', or -1, and whether the string holds escapes.
func scanString(b []byte, i int) (end int, escaped bool) {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, escaped
		case c == '\\':
			escaped = true
			i++
			if i >= len(b) {
				return -1, escaped
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-i <= 4 {
					return -1, escaped
				}
				for _, h := range b[i+1 : i+5] {
					if !isHex(h) {
						return -1, escaped
					}
				}
				i += 4
			default:
				return -1, escaped
			}
		case c < 0x20:
			return -1, escaped
		}
	}
	return -1, escaped
}

func isHex(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// scanNumber returns the index just past the JSON number starting at b[i],
// or -1.
func scanNumber(b []byte, i int) int {
	if b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return -1
	case b[i] == '0':
		i++
	case isDigit(b[i]):
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i
}

// SplitArray splits the JSON array raw, which may be surrounded by
// whitespace, into its elements, each without surrounding whitespace. The
// elements are subslices of raw. An empty array yields an empty slice; raw
// that is not a valid JSON array is an error.
func SplitArray(raw json.RawMessage) ([]json.RawMessage, error) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return nil, fmt.Errorf("%w: not an array", errSyntax)
	}
	i = skipSpace(raw, i+1)
	elems := make([]json.RawMessage, 0, 4)
	if i < len(raw) && raw[i] == ']' {
		i++
	} else {
		for {
			end := skipValue(raw, i, 1)
			if end < 0 {
				return nil, errSyntax
			}
			elems = append(elems, raw[i:end:end])
			i = skipSpace(raw, end)
			if i >= len(raw) {
				return nil, errSyntax
			}
			if raw[i] == ']' {
				i++
				break
			}
			if raw[i] != ',' {
				return nil, errSyntax
			}
			i = skipSpace(raw, i+1)
		}
	}
	if skipSpace(raw, i) != len(raw) {
		return nil, fmt.Errorf("%w: data after array", errSyntax)
	}
	return elems, nil
}

// EventName splits EVENT data into the event name and the arguments that
// follow it. The name is the first element: a string, or a number, which is
// converted to its decimal text as JavaScript would ("1", "1.5", "1e+21").
// It does not check for reserved names; Decode does. The arguments are
// subslices of data.
func EventName(data json.RawMessage) (name string, args []json.RawMessage, err error) {
	elems, err := SplitArray(data)
	if err != nil {
		return "", nil, err
	}
	if len(elems) == 0 {
		return "", nil, errors.New("sio: event data is an empty array")
	}
	first := elems[0]
	switch c := first[0]; {
	case c == '"':
		if name, ok := unquoteSimple(first); ok {
			return name, elems[1:], nil
		}
		if err := json.Unmarshal(first, &name); err != nil {
			return "", nil, err
		}
	case c == '-' || isDigit(c):
		f, err := strconv.ParseFloat(string(first), 64)
		if err != nil { // out of float64 range; JavaScript says Infinity
			return "", nil, fmt.Errorf("sio: event name %s: %w", first, err)
		}
		name = jsNumber(f)
	default:
		return "", nil, errors.New("sio: event name is not a string or a number")
	}
	return name, elems[1:], nil
}

// unquoteSimple unquotes a valid JSON string that holds no escapes and only
// valid UTF-8, the common case that needs no decoding.
func unquoteSimple(s []byte) (string, bool) {
	s = s[1 : len(s)-1]
	if bytes.IndexByte(s, '\\') >= 0 || !utf8.Valid(s) {
		return "", false
	}
	return string(s), true
}

// jsNumber formats f as JavaScript's Number.prototype.toString does for
// finite numbers, which is how encoding/json writes them too, but for 0.
func jsNumber(f float64) string {
	if f == 0 {
		return "0" // also -0
	}
	b, _ := AppendFloat(make([]byte, 0, 24), f, 64)
	return string(b)
}

// placeholderKey and numKey name the members of a placeholder object.
const (
	placeholderKey = `"_placeholder"`
	numKey         = `"num"`
)

// FillPlaceholders returns data with every placeholder object (at any depth)
// replaced by the JSON string of the standard base64 encoding of
// attachments[N], which encoding/json decodes into a []byte. A placeholder is
// an object with exactly two members, "_placeholder" (true) and "num" (a
// number), in either order, with the keys spelled without escapes, as
// socket.io-parser writes them; any other object is data. A placeholder
// whose num is not an index of attachments (negative, fractional, too large)
// is an error, as is invalid JSON. Data that holds no placeholder is returned
// unchanged, without allocating. The time taken is linear in len(data).
func FillPlaceholders(data json.RawMessage, attachments [][]byte) (json.RawMessage, error) {
	if !containsPlaceholderKey(data) {
		if !valid(data) {
			return nil, errSyntax
		}
		return data, nil
	}
	return fill(data, attachments)
}

// FillDecoded is [FillPlaceholders] for data known to be valid JSON, such
// as the Data of a packet from [Decode] or a [Reassembler]: data without a
// placeholder is returned as is, unchecked, so that valid data is scanned
// once less. Its results on valid JSON are those of FillPlaceholders; on
// anything else they are unspecified, but it does not panic.
func FillDecoded(data json.RawMessage, attachments [][]byte) (json.RawMessage, error) {
	if !containsPlaceholderKey(data) {
		return data, nil
	}
	return fill(data, attachments)
}

// fill is FillPlaceholders for data that holds the placeholder key.
func fill(data json.RawMessage, attachments [][]byte) (json.RawMessage, error) {
	f := filler{in: data, atts: attachments}
	end := f.value(skipSpace(data, 0), 0)
	if end < 0 || skipSpace(data, end) != len(data) {
		if f.err != nil {
			return nil, f.err
		}
		return nil, errSyntax
	}
	if f.out == nil {
		return data, nil
	}
	return append(f.out, data[f.copied:]...), nil
}

var placeholderKeyBytes = []byte(placeholderKey)

func containsPlaceholderKey(b []byte) bool { return bytes.Contains(b, placeholderKeyBytes) }

// filler copies in to out, replacing placeholders. out stays nil until the
// first replacement; copied is how much of in has been dealt with.
type filler struct {
	in     []byte
	atts   [][]byte
	out    []byte
	copied int
	err    error
	used   []bool // set: only check the placeholders, copy nothing, each attachment once
	unused int    // with used: the attachments no placeholder named yet
}

// value walks the value at in[i] like skipValue, replacing placeholders, and
// returns the index past it or -1 (with f.err set for a bad placeholder).
func (f *filler) value(i, depth int) int {
	return walker{b: f.in, object: f.object}.value(i, depth)
}

// object takes over the object at in[i] if it is a placeholder.
func (f *filler) object(i int) (int, bool) {
	end, num, ok := f.placeholder(i)
	if !ok {
		return 0, false
	}
	if f.err != nil {
		return -1, true
	}
	if f.used == nil {
		f.replace(i, end, num)
		return end, true
	}
	if f.used[num] {
		f.err = fmt.Errorf("sio: attachment %d named twice", num)
		return -1, true
	}
	f.used[num] = true
	f.unused--
	return end, true
}

// placeholder reports whether the object at in[i] is a placeholder, and if
// so where it ends and its num. It looks no further than the first member
// that rules a placeholder out. A placeholder whose num is not a valid index
// sets f.err.
func (f *filler) placeholder(i int) (end, num int, ok bool) {
	b := f.in
	var seenFlag, seenNum bool
	numStart, numEnd := -1, -1
	i = skipSpace(b, i+1)
	for n := 0; n < 2; n++ {
		if n == 1 {
			if i >= len(b) || b[i] != ',' {
				return 0, 0, false
			}
			i = skipSpace(b, i+1)
		}
		var key string
		switch {
		case hasPrefixAt(b, i, placeholderKey):
			key = placeholderKey
		case hasPrefixAt(b, i, numKey):
			key = numKey
		default:
			return 0, 0, false
		}
		i = skipSpace(b, i+len(key))
		if i >= len(b) || b[i] != ':' {
			return 0, 0, false
		}
		i = skipSpace(b, i+1)
		if key == placeholderKey {
			if seenFlag || !hasPrefixAt(b, i, "true") {
				return 0, 0, false
			}
			seenFlag = true
			i += len("true")
		} else {
			if seenNum {
				return 0, 0, false
			}
			// Only a number makes a placeholder. Skipping any other value
			// here would rescan nested objects once per level.
			if i >= len(b) || b[i] != '-' && !isDigit(b[i]) {
				return 0, 0, false
			}
			seenNum = true
			numStart = i
			if numEnd = scanNumber(b, i); numEnd < 0 {
				return 0, 0, false
			}
			i = numEnd
		}
		i = skipSpace(b, i)
	}
	if i >= len(b) || b[i] != '}' {
		return 0, 0, false
	}
	num, err := strconv.Atoi(string(b[numStart:numEnd]))
	if err != nil || num < 0 || num >= len(f.atts) {
		f.err = fmt.Errorf("sio: placeholder num %s out of range: %d attachments", b[numStart:numEnd], len(f.atts))
	}
	return i + 1, num, true
}

// replace writes the copy of in up to start, then the base64 string of
// attachment num, and skips in up to end.
func (f *filler) replace(start, end, num int) {
	if f.out == nil {
		n := len(f.in)
		for _, a := range f.atts {
			n += base64.StdEncoding.EncodedLen(len(a)) + 2
		}
		f.out = make([]byte, 0, n)
	}
	f.out = append(f.out, f.in[f.copied:start]...)
	f.out = append(f.out, '"')
	f.out = base64.StdEncoding.AppendEncode(f.out, f.atts[num])
	f.out = append(f.out, '"')
	f.copied = end
}

func hasPrefixAt(b []byte, i int, s string) bool {
	return len(b)-i >= len(s) && string(b[i:i+len(s)]) == s
}
