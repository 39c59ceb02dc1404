package sio

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Type is a Socket.IO packet type, sent as one decimal digit.
type Type byte

// The packet types of protocol v5.
const (
	Connect      Type = iota // 0: connect to a namespace, or its acceptance
	Disconnect               // 1: leave a namespace
	Event                    // 2: an event, optionally asking for an ack
	Ack                      // 3: the answer to an event
	ConnectError             // 4: refusal of a connect
	BinaryEvent              // 5: an event followed by binary attachments
	BinaryAck                // 6: an ack followed by binary attachments
)

// numTypes is one past the last valid Type.
const numTypes = BinaryAck + 1

var typeNames = [numTypes]string{
	"CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR", "BINARY_EVENT", "BINARY_ACK",
}

// String returns the protocol's name for t, such as "BINARY_EVENT", or
// "Type(n)" for an unknown type.
func (t Type) String() string {
	if t < numTypes {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// isBinary reports whether packets of type t carry an attachment count.
func (t Type) isBinary() bool { return t == BinaryEvent || t == BinaryAck }

// Binary returns the type that carries t's payload with binary attachments:
// BinaryEvent for Event, BinaryAck for Ack, t itself for any other type.
func (t Type) Binary() Type {
	switch t {
	case Event:
		return BinaryEvent
	case Ack:
		return BinaryAck
	}
	return t
}

// Plain returns the type without binary attachments: Event for
// BinaryEvent, Ack for BinaryAck, t otherwise (formats that carry binary
// data inline, such as msgpack, have no binary types).
func (t Type) Plain() Type {
	switch t {
	case BinaryEvent:
		return Event
	case BinaryAck:
		return Ack
	}
	return t
}

// Packet is one decoded or to-be-encoded Socket.IO packet.
type Packet struct {
	Type Type
	// Namespace starts with '/' and holds no ','; it is "/" when absent on
	// the wire. Append treats "" as "/".
	Namespace string
	// ID is the ack id, meaningful only when HasID.
	ID    uint64
	HasID bool
	// Data is the raw JSON payload without surrounding whitespace, nil when
	// absent. Placeholders of binary packets are left in place. A decoded
	// packet's Data aliases the decoded bytes.
	Data json.RawMessage
	// Attachments is the number of binary attachments that follow a
	// BinaryEvent or BinaryAck. It is not encoded for other types.
	Attachments int
}

// DefaultMaxAttachments is the attachment limit used when
// Limits.MaxAttachments is zero or less.
const DefaultMaxAttachments = 10

// Limits bound what Decode and Reassembler accept. The zero value holds the
// defaults.
type Limits struct {
	// MaxAttachments is the largest attachment count a binary packet may
	// announce. Zero or less means DefaultMaxAttachments, 10; values above
	// math.MaxInt32 count as math.MaxInt32.
	MaxAttachments int
	// MaxPacketBytes bounds what a Reassembler holds for one binary
	// packet: its text message and its attachments, in bytes. Zero or
	// less means no limit.
	MaxPacketBytes int
}

func (l Limits) maxAttachments() int {
	if l.MaxAttachments <= 0 {
		return DefaultMaxAttachments
	}
	return l.MaxAttachments
}

var (
	// ErrInvalidPacket is wrapped by every error Decode returns for a
	// malformed packet, except for ErrTooManyAttachments.
	ErrInvalidPacket = errors.New("sio: invalid packet")
	// ErrTooManyAttachments means a binary packet announced more
	// attachments than Limits.MaxAttachments.
	ErrTooManyAttachments = errors.New("sio: too many attachments")
	// ErrPacketTooLarge means a binary packet's text and attachments
	// exceed Limits.MaxPacketBytes.
	ErrPacketTooLarge = errors.New("sio: binary packet too large")
)

// reservedEvents are the event names socket.io-parser refuses in an EVENT.
var reservedEvents = map[string]bool{
	"connect":        true,
	"connect_error":  true,
	"disconnect":     true,
	"disconnecting":  true,
	"newListener":    true,
	"removeListener": true,
}

// Reserved reports whether name is an event name Socket.IO reserves for
// itself ("connect", "connect_error", "disconnect", "disconnecting",
// "newListener", "removeListener"). Decode refuses an EVENT with such a name;
// a server must not emit one either.
func Reserved(name string) bool { return reservedEvents[name] }

// Append appends the text encoding of p to dst, without the Engine.IO
// prefix, and returns the extended buffer. It trusts p: a packet that breaks
// the rules in the package documentation (a Namespace with ',' or without a
// leading '/', Data of the wrong kind) is written as is, and Decode will
// refuse or misread it.
func (p *Packet) Append(dst []byte) []byte {
	return append(p.appendHead(dst), p.Data...)
}

// appendHead appends what precedes p's Data: type, attachment count,
// namespace and ack id.
func (p *Packet) appendHead(dst []byte) []byte {
	dst = append(dst, '0'+byte(p.Type))
	if p.Type.isBinary() {
		dst = strconv.AppendInt(dst, int64(p.Attachments), 10)
		dst = append(dst, '-')
	}
	if p.Namespace != "" && p.Namespace != "/" {
		dst = append(dst, p.Namespace...)
		dst = append(dst, ',')
	}
	if p.HasID {
		dst = strconv.AppendUint(dst, p.ID, 10)
	}
	return dst
}

// Decode parses one text packet. The returned Data is a subslice of b, not a
// copy. A malformed packet yields an error wrapping ErrInvalidPacket, an
// attachment count above lim.MaxAttachments one wrapping
// ErrTooManyAttachments.
func Decode(b []byte, lim Limits) (Packet, error) {
	var p Packet
	if len(b) == 0 {
		return Packet{}, fmt.Errorf("%w: empty", ErrInvalidPacket)
	}
	if b[0] < '0' || b[0] >= '0'+byte(numTypes) {
		return Packet{}, fmt.Errorf("%w: unknown type %q", ErrInvalidPacket, b[0])
	}
	p.Type = Type(b[0] - '0')
	i := 1

	if p.Type.isBinary() {
		// n stays at most maxN, so n*10+9 cannot overflow an int64.
		maxN := int64(min(lim.maxAttachments(), math.MaxInt32))
		start := i
		var n int64
		for ; i < len(b) && isDigit(b[i]); i++ {
			n = n*10 + int64(b[i]-'0')
			if n > maxN {
				return Packet{}, fmt.Errorf("%w: limit is %d", ErrTooManyAttachments, maxN)
			}
		}
		if i == start || i == len(b) || b[i] != '-' {
			return Packet{}, fmt.Errorf("%w: bad attachment count", ErrInvalidPacket)
		}
		p.Attachments = int(n)
		i++
	}

	p.Namespace = "/"
	if i < len(b) && b[i] == '/' {
		start := i
		for i < len(b) && b[i] != ',' {
			i++
		}
		if i-start > 1 { // a bare "/" keeps the shared string
			p.Namespace = string(b[start:i])
		}
		if i < len(b) {
			i++ // the ','
		}
	}

	if i < len(b) && isDigit(b[i]) {
		var id uint64
		for ; i < len(b) && isDigit(b[i]); i++ {
			d := uint64(b[i] - '0')
			if id > (1<<64-1-d)/10 {
				return Packet{}, fmt.Errorf("%w: ack id overflows", ErrInvalidPacket)
			}
			id = id*10 + d
		}
		p.ID, p.HasID = id, true
	}

	if i < len(b) {
		data := trimSpace(b[i:])
		if !valid(data) {
			return Packet{}, fmt.Errorf("%w: invalid JSON data", ErrInvalidPacket)
		}
		p.Data = data
	}
	if err := checkData(p.Type, p.Data); err != nil {
		return Packet{}, err
	}
	return p, nil
}

// checkData applies socket.io-parser's payload rules to valid JSON data.
func checkData(t Type, data []byte) error {
	var ok bool
	switch t {
	case Connect:
		ok = data == nil || data[0] == '{'
	case Disconnect:
		ok = data == nil
	case ConnectError:
		ok = data != nil && (data[0] == '"' || data[0] == '{')
	case Ack, BinaryAck:
		ok = data != nil && data[0] == '['
	case Event, BinaryEvent:
		if data == nil || data[0] != '[' {
			break
		}
		i := skipSpace(data, 1)
		switch c := data[i]; {
		case c == '"':
			end, escaped := scanString(data, i)
			if !escaped {
				ok = !reservedEvents[string(data[i+1:end-1])]
				break
			}
			var name string
			ok = json.Unmarshal(data[i:end], &name) == nil && !reservedEvents[name]
		case c == '-' || isDigit(c):
			ok = true
		}
	}
	if !ok {
		return fmt.Errorf("%w: data not allowed for %v", ErrInvalidPacket, t)
	}
	return nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
