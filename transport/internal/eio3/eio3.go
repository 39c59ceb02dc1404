// Package eio3 encodes and decodes the framing of Engine.IO protocol v3
// (engine.io-parser 2.x), spoken by engine.io-client 3.x and so by
// socket.io-client 2.x. The packets are those of v4 ([eio.Packet]); what
// differs is how they are framed:
//
//   - Text form: "<digit><data>", as in v4; binary data sent as text is
//     "b<digit><base64>" (a v4 payload has "b<base64>").
//   - Binary form (a WebSocket binary frame, a record of a binary payload):
//     the packet type as one byte (0x04 for a message), then the data.
//   - Text payload (long-polling): each packet as "<length>:<text form>",
//     the length counting UTF-16 code units, as JavaScript's String.length.
//   - Binary payload (long-polling, application/octet-stream, for clients
//     with XHR2 when a packet is binary): per packet 0x00 (text) or 0x01
//     (binary), the length in bytes as decimal digits of one byte each
//     (0-9), 0xFF, then the packet: text as UTF-8, binary in binary form.
//
// # Limits
//
// [DecodePayload] stops at maxPackets packets and reports
// [eio.ErrTooManyPackets] before its callback sees any of them; lengths
// have at most 10 digits. The caller bounds the payload size.
package eio3

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/vicinity-go/vicinity/internal/eio"
)

// maxDigits bounds the digits of a length in a payload.
const maxDigits = 10

func invalid(what string) error { return fmt.Errorf("%w: v3 %s", eio.ErrInvalidPacket, what) }

// AppendText appends the text form of p: binary data as "b<digit><base64>".
func AppendText(dst []byte, p eio.Packet) []byte {
	if p.Binary {
		dst = append(dst, 'b', '0'+byte(p.Type))
		return base64.StdEncoding.AppendEncode(dst, p.Data)
	}
	return eio.AppendText(dst, p.Type, p.Data)
}

// textLen returns the length of p's text form in UTF-16 code units.
func textLen(p eio.Packet) int {
	if p.Binary {
		return 2 + base64.StdEncoding.EncodedLen(len(p.Data))
	}
	return 1 + utf16Len(p.Data)
}

// utf16Len counts the UTF-16 code units of b read as UTF-8; each invalid
// byte counts one, as the U+FFFD a decoder puts in its place.
func utf16Len(b []byte) int {
	n := 0
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			n++
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
		i += size
	}
	return n
}

// utf16Prefix returns how many bytes of b hold its first n UTF-16 code
// units, or false if b is shorter or the n-th unit splits a surrogate pair.
func utf16Prefix(b []byte, n int) (int, bool) {
	i := 0
	for n > 0 {
		if i >= len(b) {
			return 0, false
		}
		if b[i] < utf8.RuneSelf {
			i++
			n--
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		units := 1
		if r >= 0x10000 {
			units = 2
		}
		if units > n {
			return 0, false
		}
		i += size
		n -= units
	}
	return i, true
}

// DecodeText parses a packet in text form: "<digit><data>", or binary data
// as "b<digit><base64>". Text data aliases b.
func DecodeText(b []byte) (eio.Packet, error) {
	if len(b) == 0 || b[0] != 'b' {
		return eio.DecodeText(b)
	}
	if len(b) < 2 || b[1] < '0' || b[1] > '0'+byte(eio.Noop) {
		return eio.Packet{}, invalid("base64 packet type")
	}
	data := make([]byte, base64.StdEncoding.DecodedLen(len(b)-2))
	n, err := base64.StdEncoding.Decode(data, b[2:])
	if err != nil {
		return eio.Packet{}, invalid("base64")
	}
	t := eio.Type(b[1] - '0')
	return eio.Packet{Type: t, Data: data[:n], Binary: t == eio.Message}, nil
}

// AppendBinary appends the binary form of p: its type as one byte, then its
// data.
func AppendBinary(dst []byte, p eio.Packet) []byte {
	dst = append(dst, byte(p.Type))
	return append(dst, p.Data...)
}

// DecodeBinary parses a packet in binary form (a WebSocket binary frame).
// Data aliases b; a message is binary.
func DecodeBinary(b []byte) (eio.Packet, error) {
	if len(b) == 0 || b[0] > byte(eio.Noop) {
		return eio.Packet{}, invalid("binary packet type")
	}
	t := eio.Type(b[0])
	return eio.Packet{Type: t, Data: b[1:], Binary: t == eio.Message}, nil
}

// AppendPayload appends p to a text payload: "<length>:<text form>".
func AppendPayload(dst []byte, p eio.Packet) []byte {
	dst = strconv.AppendInt(dst, int64(textLen(p)), 10)
	dst = append(dst, ':')
	return AppendText(dst, p)
}

// AppendBinaryPayload appends p to a binary payload.
func AppendBinaryPayload(dst []byte, p eio.Packet) []byte {
	kind := byte(0)
	if p.Binary {
		kind = 1
	}
	dst = append(dst, kind)
	var digits [20]byte
	for _, d := range strconv.AppendInt(digits[:0], int64(1+len(p.Data)), 10) {
		dst = append(dst, d-'0')
	}
	dst = append(dst, 0xff)
	if p.Binary {
		return AppendBinary(dst, p)
	}
	return eio.AppendText(dst, p.Type, p.Data)
}

// PayloadLen returns an upper bound of the bytes AppendPayload or
// AppendBinaryPayload adds for p.
func PayloadLen(p eio.Packet) int {
	n := 2 + base64.StdEncoding.EncodedLen(len(p.Data))
	if !p.Binary {
		n = 1 + len(p.Data)
	}
	return n + maxDigits + 2
}

// DecodePayload splits a long-polling payload into packets, a binary one
// (application/octet-stream) if binary, and calls fn for each, in order,
// stopping at fn's first error. The whole payload is parsed before fn sees
// a packet: a malformed payload, or one with more than maxPackets packets
// (0 means no limit), is rejected as a whole. Empty records of a text
// payload ("0:") are skipped, as by Node. Data aliases b where it can.
func DecodePayload(b []byte, binary bool, maxPackets int, fn func(eio.Packet) error) error {
	var pkts []eio.Packet
	var err error
	if binary {
		pkts, err = splitBinary(b, maxPackets)
	} else {
		pkts, err = splitText(b, maxPackets)
	}
	if err != nil {
		return err
	}
	for _, p := range pkts {
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

func splitText(b []byte, maxPackets int) ([]eio.Packet, error) {
	if len(b) == 0 {
		return nil, invalid("empty payload")
	}
	var pkts []eio.Packet
	for len(b) > 0 {
		i := bytes.IndexByte(b, ':')
		if i <= 0 || i > maxDigits {
			return nil, invalid("payload length")
		}
		n := 0
		for _, c := range b[:i] {
			if c < '0' || c > '9' {
				return nil, invalid("payload length")
			}
			n = n*10 + int(c-'0')
		}
		b = b[i+1:]
		j, ok := utf16Prefix(b, n)
		if !ok {
			return nil, invalid("payload length")
		}
		rec := b[:j]
		b = b[j:]
		if len(rec) == 0 {
			continue
		}
		if maxPackets > 0 && len(pkts) == maxPackets {
			return nil, eio.ErrTooManyPackets
		}
		p, err := DecodeText(rec)
		if err != nil {
			return nil, err
		}
		pkts = append(pkts, p)
	}
	return pkts, nil
}

func splitBinary(b []byte, maxPackets int) ([]eio.Packet, error) {
	if len(b) == 0 {
		return nil, invalid("empty payload")
	}
	var pkts []eio.Packet
	for len(b) > 0 {
		kind := b[0]
		if kind > 1 {
			return nil, invalid("binary payload kind")
		}
		n, i := 0, 1
		for ; i < len(b) && b[i] != 0xff; i++ {
			if b[i] > 9 || i > maxDigits {
				return nil, invalid("binary payload length")
			}
			n = n*10 + int(b[i])
		}
		if i == 1 || i == len(b) || n > len(b)-i-1 {
			return nil, invalid("binary payload length")
		}
		rec := b[i+1 : i+1+n]
		b = b[i+1+n:]
		if maxPackets > 0 && len(pkts) == maxPackets {
			return nil, eio.ErrTooManyPackets
		}
		var p eio.Packet
		var err error
		if kind == 0 {
			if !utf8.Valid(rec) {
				return nil, eio.ErrInvalidUTF8
			}
			p, err = DecodeText(rec)
		} else {
			p, err = DecodeBinary(rec)
		}
		if err != nil {
			return nil, err
		}
		pkts = append(pkts, p)
	}
	return pkts, nil
}
