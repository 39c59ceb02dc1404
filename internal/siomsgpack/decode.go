package siomsgpack

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/vicinity-go/vicinity/internal/sio"
)

// maxDepth is encoding/json's nesting limit, which sio.Decode applies too.
const maxDepth = 10000

// maxDateMillis is the largest distance from the epoch, in milliseconds, of
// a valid JavaScript Date.
const maxDateMillis = 8.64e15

// kind is the kind of a msgpack value, as far as conversion cares.
type kind uint8

const (
	kindNil kind = iota
	kindBool
	kindInt   // item.i
	kindUint  // item.u
	kindFloat // item.f
	kindStr   // item.raw
	kindBin   // item.raw: bin, or ext 8/16/32 of type 0 (an ArrayBuffer)
	kindArray // item.n elements follow
	kindMap   // item.n key-value pairs follow
	kindUndefined
	kindDate // item.i milliseconds since the epoch
	kindExt  // item.ext, item.raw: any other ext
)

// item is the head of one msgpack value: a whole scalar, or the element
// count of a container whose elements follow.
type item struct {
	kind kind
	ext  int8
	b    bool
	i    int64
	u    uint64
	f    float64
	n    int
	raw  []byte
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: msgpack: %s", sio.ErrInvalidPacket, fmt.Sprintf(format, args...))
}

var errTruncated = invalid("truncated")

// Decode decodes one socket.io-msgpack-parser message into a packet whose
// Data is JSON, with each binary value replaced by a placeholder
// {"_placeholder":true,"num":N} and returned as attachment N. A packet with
// attachments is a [sio.BinaryEvent] or [sio.BinaryAck] with Attachments
// set; Namespace is "/" unless the message says otherwise. The attachments
// alias b; Data does not. Errors wrap [sio.ErrInvalidPacket], or
// [sio.ErrTooManyAttachments] when there are more binary values than
// lim.MaxAttachments. See the package documentation for the conversions and
// what is refused.
func Decode(b []byte, lim sio.Limits) (sio.Packet, [][]byte, error) {
	d := decoder{b: b, maxAtts: maxAttachments(lim)}
	p, err := d.packet()
	if err != nil {
		return sio.Packet{}, nil, err
	}
	return p, d.atts, nil
}

// maxAttachments is sio's reading of lim.MaxAttachments.
func maxAttachments(lim sio.Limits) int {
	if lim.MaxAttachments <= 0 {
		return sio.DefaultMaxAttachments
	}
	return min(lim.MaxAttachments, math.MaxInt32)
}

// decoder reads b from i, writing the JSON of the packet's data to out and
// its binary values to atts.
type decoder struct {
	b       []byte
	i       int
	out     []byte
	atts    [][]byte
	maxAtts int
	// first is the kind of the first element of the data array, once read;
	// firstStr its bytes when it is a string. lastStr is the last string read.
	first             kind
	firstStr, lastStr []byte
}

// Top-level keys, as bits for spotting duplicates.
const (
	seenType = 1 << iota
	seenNsp
	seenData
	seenID
)

func (d *decoder) packet() (sio.Packet, error) {
	it, err := d.head()
	if err != nil {
		return sio.Packet{}, err
	}
	if it.kind != kindMap {
		return sio.Packet{}, invalid("packet is not a map")
	}
	var p sio.Packet
	var seen, present int
	dataKind := kindUndefined
	for range it.n {
		k, err := d.head()
		if err != nil {
			return sio.Packet{}, err
		}
		if k.kind != kindStr {
			return sio.Packet{}, invalid("packet key is not a string")
		}
		var bit int
		switch string(k.raw) {
		case "type":
			bit = seenType
		case "nsp":
			bit = seenNsp
		case "data":
			bit = seenData
		case "id":
			bit = seenID
		default:
			if err := d.skip(0); err != nil {
				return sio.Packet{}, err
			}
			continue
		}
		if seen&bit != 0 {
			return sio.Packet{}, invalid("key %q given twice", k.raw)
		}
		seen |= bit
		if bit == seenData {
			d.out = make([]byte, 0, 64)
			if dataKind, err = d.value(0); err != nil {
				return sio.Packet{}, err
			}
			if dataKind != kindUndefined {
				p.Data = d.out
				present |= bit
			}
			continue
		}
		v, err := d.head()
		if err != nil {
			return sio.Packet{}, err
		}
		if v.kind == kindUndefined {
			continue // as if absent
		}
		present |= bit
		switch bit {
		case seenType:
			t, ok := integer(v)
			if !ok || t > uint64(sio.ConnectError) {
				return sio.Packet{}, invalid("invalid packet type")
			}
			p.Type = sio.Type(t)
		case seenNsp:
			if v.kind != kindStr {
				return sio.Packet{}, invalid("nsp is not a string")
			}
			if p.Namespace, err = namespace(v.raw); err != nil {
				return sio.Packet{}, err
			}
		case seenID:
			if p.ID, p.HasID = integer(v); !p.HasID {
				return sio.Packet{}, invalid("id is not an integer from 0 to 2^64-1")
			}
		}
	}
	if d.i != len(d.b) {
		return sio.Packet{}, invalid("%d trailing bytes", len(d.b)-d.i)
	}
	if present&seenType == 0 {
		return sio.Packet{}, invalid("invalid packet type")
	}
	if present&seenNsp == 0 {
		return sio.Packet{}, invalid("nsp is not a string")
	}
	if err := d.checkData(p.Type, dataKind); err != nil {
		return sio.Packet{}, err
	}
	if len(d.atts) > 0 {
		p.Type = p.Type.Binary()
		p.Attachments = len(d.atts)
	}
	return p, nil
}

// checkData applies sio.Decode's payload rules to the data just read.
func (d *decoder) checkData(t sio.Type, data kind) error {
	var ok bool
	switch t {
	case sio.Connect:
		ok = data == kindUndefined || data == kindMap
	case sio.Disconnect:
		ok = data == kindUndefined
	case sio.ConnectError:
		ok = data == kindStr || data == kindMap
	case sio.Ack:
		ok = data == kindArray
	case sio.Event:
		switch d.first {
		case kindStr:
			ok = data == kindArray && !sio.Reserved(string(d.firstStr))
		case kindInt, kindUint, kindFloat:
			ok = data == kindArray
		}
	}
	if !ok {
		return invalid("data not allowed for %v", t)
	}
	if len(d.atts) > 0 && t != sio.Event && t != sio.Ack {
		return invalid("binary data in %v", t)
	}
	return nil
}

// integer returns the value of an integral number item that fits a uint64.
// Like JavaScript's Number.isInteger, it takes integral floats.
func integer(v item) (uint64, bool) {
	switch v.kind {
	case kindUint:
		return v.u, true
	case kindInt:
		return uint64(v.i), v.i >= 0
	case kindFloat:
		if v.f >= 0 && v.f < 1<<64 && v.f == math.Trunc(v.f) {
			return uint64(v.f), true
		}
	}
	return 0, false
}

// namespace checks a namespace as the text protocol can carry it.
func namespace(raw []byte) (string, error) {
	if len(raw) == 0 || raw[0] != '/' {
		return "", invalid("nsp does not start with '/'")
	}
	for _, c := range raw {
		if c == ',' {
			return "", invalid("nsp holds ','")
		}
	}
	if !utf8.Valid(raw) {
		return "", invalid("nsp is not valid UTF-8")
	}
	if len(raw) == 1 {
		return "/", nil
	}
	return string(raw), nil
}

// value appends the JSON of the value at d.i to d.out and returns its kind.
// An undefined value appends nothing. depth counts the enclosing arrays and
// maps within the data.
func (d *decoder) value(depth int) (kind, error) {
	it, err := d.head()
	if err != nil {
		return 0, err
	}
	switch it.kind {
	case kindNil:
		d.out = append(d.out, "null"...)
	case kindBool:
		d.out = strconv.AppendBool(d.out, it.b)
	case kindInt:
		d.out = strconv.AppendInt(d.out, it.i, 10)
	case kindUint:
		d.out = strconv.AppendUint(d.out, it.u, 10)
	case kindFloat:
		if it.f == 0 { // -0 too, as JSON.stringify writes it
			d.out = append(d.out, '0')
			break
		}
		if d.out, err = sio.AppendFloat(d.out, it.f, 64); err != nil {
			return 0, invalid("%v cannot be JSON", it.f)
		}
	case kindStr:
		d.out = appendJSONString(d.out, it.raw)
		d.lastStr = it.raw
	case kindBin:
		if len(d.atts) >= d.maxAtts {
			return 0, fmt.Errorf("%w: limit is %d", sio.ErrTooManyAttachments, d.maxAtts)
		}
		d.out = append(d.out, `{"_placeholder":true,"num":`...)
		d.out = strconv.AppendInt(d.out, int64(len(d.atts)), 10)
		d.out = append(d.out, '}')
		d.atts = append(d.atts, it.raw[:len(it.raw):len(it.raw)])
	case kindArray:
		if depth >= maxDepth {
			return 0, invalid("nested too deeply")
		}
		d.out = append(d.out, '[')
		for j := range it.n {
			if j > 0 {
				d.out = append(d.out, ',')
			}
			k, err := d.value(depth + 1)
			if err != nil {
				return 0, err
			}
			if k == kindUndefined {
				d.out = append(d.out, "null"...)
			}
			if depth == 0 && j == 0 {
				d.first, d.firstStr = k, d.lastStr
			}
		}
		d.out = append(d.out, ']')
	case kindMap:
		if depth >= maxDepth {
			return 0, invalid("nested too deeply")
		}
		if err := d.object(it.n, depth); err != nil {
			return 0, err
		}
	case kindUndefined:
	case kindDate:
		d.out = appendDate(d.out, it.i)
	default:
		return 0, invalid("ext type %d is not supported", it.ext)
	}
	return it.kind, nil
}

// object appends the JSON of a map of n members whose first key is at d.i.
func (d *decoder) object(n, depth int) error {
	start := len(d.out)
	d.out = append(d.out, '{')
	var members int
	var flag, num bool // a member "_placeholder": true, a member "num": number
	for range n {
		k, err := d.head()
		if err != nil {
			return err
		}
		if k.kind != kindStr {
			return invalid("map key is not a string")
		}
		mark := len(d.out)
		if members > 0 {
			d.out = append(d.out, ',')
		}
		d.out = append(appendJSONString(d.out, k.raw), ':')
		valueAt := len(d.out)
		v, err := d.value(depth + 1)
		if err != nil {
			return err
		}
		if v == kindUndefined {
			d.out = d.out[:mark] // JSON.stringify drops the member
			continue
		}
		members++
		switch string(k.raw) {
		case "_placeholder":
			flag = flag || string(d.out[valueAt:]) == "true"
		case "num":
			num = num || v == kindInt || v == kindUint || v == kindFloat
		}
	}
	if members == 2 && flag && num {
		return invalid("a map reads as an attachment placeholder: %s}", d.out[start:])
	}
	d.out = append(d.out, '}')
	return nil
}

// skip reads past the value at d.i, checking only that it is well formed.
func (d *decoder) skip(depth int) error {
	it, err := d.head()
	if err != nil {
		return err
	}
	switch it.kind {
	case kindArray, kindMap:
		if depth >= maxDepth {
			return invalid("nested too deeply")
		}
		n := it.n
		if it.kind == kindMap {
			n *= 2 // head bounded it by the bytes left
		}
		for range n {
			if err := d.skip(depth + 1); err != nil {
				return err
			}
		}
	}
	return nil
}

// head reads the head of the value at d.i: a scalar whole, a container's
// count. Every length and count is checked against the bytes left.
func (d *decoder) head() (item, error) {
	if d.i >= len(d.b) {
		return item{}, errTruncated
	}
	c := d.b[d.i]
	d.i++
	switch {
	case c <= 0x7f:
		return item{kind: kindUint, u: uint64(c)}, nil
	case c <= 0x8f:
		return d.container(kindMap, uint64(c&0x0f))
	case c <= 0x9f:
		return d.container(kindArray, uint64(c&0x0f))
	case c <= 0xbf:
		return d.bytes(kindStr, uint64(c&0x1f))
	case c >= 0xe0:
		return item{kind: kindInt, i: int64(int8(c))}, nil
	}
	switch c {
	case 0xc0:
		return item{kind: kindNil}, nil
	case 0xc2, 0xc3:
		return item{kind: kindBool, b: c == 0xc3}, nil
	case 0xc4, 0xc5, 0xc6: // bin 8, 16, 32
		n, ok := d.uint(1 << (c - 0xc4))
		if !ok {
			return item{}, errTruncated
		}
		return d.bytes(kindBin, n)
	case 0xc7, 0xc8, 0xc9: // ext 8, 16, 32
		n, ok := d.uint(1 << (c - 0xc7))
		if !ok {
			return item{}, errTruncated
		}
		return d.ext(n, false)
	case 0xca:
		u, ok := d.uint(4)
		return item{kind: kindFloat, f: float64(math.Float32frombits(uint32(u)))}, okOrTruncated(ok)
	case 0xcb:
		u, ok := d.uint(8)
		return item{kind: kindFloat, f: math.Float64frombits(u)}, okOrTruncated(ok)
	case 0xcc, 0xcd, 0xce, 0xcf: // uint 8, 16, 32, 64
		u, ok := d.uint(1 << (c - 0xcc))
		return item{kind: kindUint, u: u}, okOrTruncated(ok)
	case 0xd0, 0xd1, 0xd2, 0xd3: // int 8, 16, 32, 64
		size := 1 << (c - 0xd0)
		u, ok := d.uint(size)
		shift := 64 - 8*size // sign-extend
		return item{kind: kindInt, i: int64(u<<shift) >> shift}, okOrTruncated(ok)
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16
		return d.ext(1<<(c-0xd4), true)
	case 0xd9, 0xda, 0xdb: // str 8, 16, 32
		n, ok := d.uint(1 << (c - 0xd9))
		if !ok {
			return item{}, errTruncated
		}
		return d.bytes(kindStr, n)
	case 0xdc, 0xdd: // array 16, 32
		n, ok := d.uint(2 << (c - 0xdc))
		if !ok {
			return item{}, errTruncated
		}
		return d.container(kindArray, n)
	case 0xde, 0xdf: // map 16, 32
		n, ok := d.uint(2 << (c - 0xde))
		if !ok {
			return item{}, errTruncated
		}
		return d.container(kindMap, n)
	}
	return item{}, invalid("unknown code 0x%02x", c) // 0xc1
}

func okOrTruncated(ok bool) error {
	if !ok {
		return errTruncated
	}
	return nil
}

// left returns how many bytes are left to read.
func (d *decoder) left() uint64 { return uint64(len(d.b) - d.i) }

// uint reads a big-endian unsigned integer of size 1, 2, 4 or 8 bytes.
func (d *decoder) uint(size int) (uint64, bool) {
	if d.left() < uint64(size) {
		return 0, false
	}
	b := d.b[d.i : d.i+size]
	d.i += size
	switch size {
	case 1:
		return uint64(b[0]), true
	case 2:
		return uint64(binary.BigEndian.Uint16(b)), true
	case 4:
		return uint64(binary.BigEndian.Uint32(b)), true
	}
	return binary.BigEndian.Uint64(b), true
}

// bytes takes the n bytes of a str or bin.
func (d *decoder) bytes(k kind, n uint64) (item, error) {
	if d.left() < n {
		return item{}, errTruncated
	}
	raw := d.b[d.i : d.i+int(n)]
	d.i += int(n)
	return item{kind: k, raw: raw}, nil
}

// container checks that n elements (n pairs for a map) can follow: each
// takes a byte at least.
func (d *decoder) container(k kind, n uint64) (item, error) {
	need := n
	if k == kindMap {
		need *= 2 // n < 2^32, so no overflow
	}
	if d.left() < need {
		return item{}, errTruncated
	}
	return item{kind: k, n: int(n)}, nil
}

// ext reads the type and n data bytes of an ext; fixed tells fixext from
// ext 8/16/32, which notepack.io reads differently for type 0.
func (d *decoder) ext(n uint64, fixed bool) (item, error) {
	if d.left() < 1 {
		return item{}, errTruncated
	}
	typ := int8(d.b[d.i])
	d.i++
	it, err := d.bytes(kindExt, n)
	if err != nil {
		return item{}, err
	}
	it.ext = typ
	if typ != 0 {
		return it, nil
	}
	switch {
	case !fixed:
		it.kind = kindBin // an ArrayBuffer
	case n == 1:
		it.kind = kindUndefined
	case n == 8:
		it.kind = kindDate
		it.i = int64(binary.BigEndian.Uint64(it.raw))
	}
	return it, nil
}

// appendDate appends the JSON of a JavaScript Date of ms milliseconds since
// the epoch: its toISOString text, or null if it is an invalid Date.
func appendDate(b []byte, ms int64) []byte {
	if ms > maxDateMillis || ms < -maxDateMillis {
		return append(b, "null"...)
	}
	t := time.UnixMilli(ms).UTC()
	b = append(b, '"')
	if y := t.Year(); y < 0 || y > 9999 { // an expanded year: ±YYYYYY
		sign := byte('+')
		if y < 0 {
			sign, y = '-', -y
		}
		b = append(b, sign)
		b = appendPadded(b, y, 6)
	} else {
		b = appendPadded(b, y, 4)
	}
	b = t.AppendFormat(b, "-01-02T15:04:05.000Z")
	return append(b, '"')
}

// appendPadded appends n, zero-padded to width digits.
func appendPadded(b []byte, n, width int) []byte {
	var buf [20]byte
	s := strconv.AppendInt(buf[:0], int64(n), 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD, written as such rather than as the escape sio.AppendString
// writes, so that the JSON of a decoded packet, encoded and decoded again,
// is the same.
func appendJSONString(b, s []byte) []byte {
	if !utf8.Valid(s) {
		valid := make([]byte, 0, len(s)+8)
		for len(s) > 0 {
			r, size := utf8.DecodeRune(s)
			valid = utf8.AppendRune(valid, r)
			s = s[size:]
		}
		s = valid
	}
	return sio.AppendString(b, unsafeString(s))
}

// unsafeString views b as a string without copying, for the calls to
// sio.AppendString, which reads its argument and does not keep it; b is not
// written to meanwhile.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
