package eio

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Type is an Engine.IO packet type.
type Type byte

// The Engine.IO v4 packet types.
const (
	Open Type = iota
	Close
	Ping
	Pong
	Message
	Upgrade
	Noop
)

var typeNames = [...]string{"open", "close", "ping", "pong", "message", "upgrade", "noop"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", byte(t))
}

// Separator separates packets in a long-polling payload.
const Separator = 0x1e

// Errors returned by the decoders.
var (
	ErrInvalidPacket  = errors.New("eio: invalid packet")
	ErrTooManyPackets = errors.New("eio: too many packets in payload")
	// ErrInvalidUTF8 is returned for a text packet whose data is not valid
	// UTF-8; it wraps ErrInvalidPacket. Nothing invalid may be relayed: a
	// browser closes its whole WebSocket on a text frame that is not UTF-8.
	ErrInvalidUTF8 = fmt.Errorf("%w: text not valid UTF-8", ErrInvalidPacket)
)

// Packet is one Engine.IO packet. Binary is true only for a message whose
// Data is raw bytes rather than text.
type Packet struct {
	Type   Type
	Data   []byte
	Binary bool
}

// DecodeText parses a packet in text form ("<digit><data>"), as carried by a
// WebSocket text frame. Data aliases b. Data that is not valid UTF-8 is
// refused with [ErrInvalidUTF8].
func DecodeText(b []byte) (Packet, error) {
	if len(b) == 0 || b[0] < '0' || b[0] > '0'+byte(Noop) {
		return Packet{}, ErrInvalidPacket
	}
	if !utf8.Valid(b[1:]) {
		return Packet{}, ErrInvalidUTF8
	}
	return Packet{Type: Type(b[0] - '0'), Data: b[1:]}, nil
}

// AppendText appends the text form of a packet of type t carrying data.
func AppendText(dst []byte, t Type, data []byte) []byte {
	dst = append(dst, '0'+byte(t))
	return append(dst, data...)
}

// DecodePayload splits a long-polling payload into packets and calls fn for
// each, in order, stopping at fn's first error. Text data aliases b; binary
// data is freshly decoded from base64. A payload with more than maxPackets
// packets (0 means no limit) is rejected before fn sees any of them.
func DecodePayload(b []byte, maxPackets int, fn func(Packet) error) error {
	if len(b) == 0 {
		return ErrInvalidPacket
	}
	if maxPackets > 0 && countPackets(b) > maxPackets {
		return ErrTooManyPackets
	}
	for len(b) > 0 {
		var rec []byte
		if i := bytes.IndexByte(b, Separator); i >= 0 {
			rec, b = b[:i], b[i+1:]
			if len(b) == 0 {
				return ErrInvalidPacket // a trailing separator announces an empty packet
			}
		} else {
			rec, b = b, nil
		}
		p, err := decodeRecord(rec)
		if err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

func countPackets(b []byte) int {
	return 1 + bytes.Count(b, []byte{Separator})
}

func decodeRecord(rec []byte) (Packet, error) {
	if len(rec) > 0 && rec[0] == 'b' {
		data := make([]byte, base64.StdEncoding.DecodedLen(len(rec)-1))
		n, err := base64.StdEncoding.Decode(data, rec[1:])
		if err != nil {
			return Packet{}, fmt.Errorf("%w: bad base64", ErrInvalidPacket)
		}
		return Packet{Type: Message, Data: data[:n], Binary: true}, nil
	}
	return DecodeText(rec)
}

// AppendPayload appends p to a long-polling payload under construction,
// writing the separator first unless dst is empty.
func AppendPayload(dst []byte, p Packet) []byte {
	if len(dst) > 0 {
		dst = append(dst, Separator)
	}
	if p.Binary {
		dst = append(dst, 'b')
		return base64.StdEncoding.AppendEncode(dst, p.Data)
	}
	return AppendText(dst, p.Type, p.Data)
}

// PayloadLen returns how many bytes AppendPayload adds for p after the
// separator.
func PayloadLen(p Packet) int {
	if p.Binary {
		return 1 + base64.StdEncoding.EncodedLen(len(p.Data))
	}
	return 1 + len(p.Data)
}
