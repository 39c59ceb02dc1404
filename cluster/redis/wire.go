package redis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/vicinity-go/vicinity/internal/sio"
	"github.com/vicinity-go/vicinity/internal/siomsgpack"
	"github.com/vicinity-go/vicinity/realtime"
	"github.com/vicinity-go/vicinity/spatial"
)

// Request types of @socket.io/redis-adapter's classic mode, on the request
// and response channels.
const (
	reqSockets         = 0 // socket ids (Node's allSockets); answered, never sent
	reqAllRooms        = 1 // answered, never sent
	reqRemoteJoin      = 2
	reqRemoteLeave     = 3
	reqRemoteDisconn   = 4
	reqRemoteFetch     = 5
	reqServerSideEmit  = 6
	reqBroadcast       = 7 // a broadcast asking for acknowledgements
	reqBroadcastCount  = 8
	reqBroadcastAck    = 9
	reqHeartbeat       = 100 // vicinity's own, on its own channel
	reqHeartbeatClose  = 101
	reqHeartbeatHello  = 102
	reqShareAgain      = 103 // vicinity's own: the server Room names should share its sockets' locations again
	emitterUID         = "emitter"
	maxAttachmentsWire = 1 << 10
)

// Message types of socket.io-adapter's ClusterAdapter, which the sharded
// mode speaks.
const (
	msgInitialHeartbeat = 1
	msgHeartbeat        = 2
	msgBroadcast        = 3
	msgSocketsJoin      = 4
	msgSocketsLeave     = 5
	msgDisconnect       = 6
	msgFetchSockets     = 7
	msgFetchResponse    = 8
	msgServerSideEmit   = 9
	msgServerSideResp   = 10
	msgBroadcastCount   = 11
	msgBroadcastAck     = 12
	msgAdapterClose     = 13
)

// errMalformed is what a message that does not decode is dropped with.
var errMalformed = errors.New("redis adapter: malformed message")

// rooms is a list of rooms as Node writes it: strings, or numbers for
// rooms a Node server joined by number (a vicinity room is a string, so
// the number's decimal text).
type rooms []string

func (r *rooms) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	out := make([]string, 0, len(raw))
	for _, v := range raw {
		if len(v) > 0 && v[0] == '"' {
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return err
			}
			out = append(out, s)
			continue
		}
		var f float64
		if err := json.Unmarshal(v, &f); err != nil {
			return fmt.Errorf("%w: a room is neither a string nor a number", errMalformed)
		}
		out = append(out, strconv.FormatFloat(f, 'f', -1, 64))
	}
	*r = out
	return nil
}

// wireFlags are Node's broadcast flags, with vicinity's own (which Node
// servers ignore).
type wireFlags struct {
	Volatile bool            `json:"volatile,omitempty"`
	Timeout  float64         `json:"timeout,omitempty"`
	Latest   string          `json:"vicinityLatest,omitempty"`
	Near     *spatial.Circle `json:"vicinityNear,omitempty"`
	// Offset is a recoverable broadcast's recovery offset: its id in the
	// recovery log. Node servers ignore it, as their adapter recovers
	// nothing.
	Offset string `json:"vicinityOffset,omitempty"`
}

// wireOpts are a broadcast's or an operation's options on the wire.
type wireOpts struct {
	Rooms  rooms      `json:"rooms"`
	Except rooms      `json:"except"`
	Flags  *wireFlags `json:"flags,omitempty"`
}

func encodeOpts(o realtime.BroadcastOptions) wireOpts {
	w := wireOpts{Rooms: nonNil(o.Rooms), Except: nonNil(o.Except)}
	if o.Volatile || o.Latest != "" || o.Near != nil {
		w.Flags = &wireFlags{Volatile: o.Volatile || o.Latest != "", Latest: o.Latest, Near: o.Near}
	}
	return w
}

// decode returns the options for this server's own sockets.
func (w wireOpts) decode() realtime.BroadcastOptions {
	o := realtime.BroadcastOptions{Rooms: w.Rooms, Except: w.Except, Local: true}
	if f := w.Flags; f != nil {
		o.Volatile, o.Latest, o.Near = f.Volatile, f.Latest, f.Near
		if o.Latest != "" && o.Latest[0] == 0 {
			o.Latest = "" // the server's own keys are not another server's to use
		}
	}
	return o
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// wirePacket is a Socket.IO packet as socket.io's adapters carry it: the
// parser's packet object, binary data inline.
type wirePacket struct {
	Type int             `json:"type"`
	Data json.RawMessage `json:"data"`
	Nsp  string          `json:"nsp,omitempty"`
	ID   *uint64         `json:"id,omitempty"`
}

// packetJSON appends the JSON of p's packet object, without its recovery
// offset, to b: binary data stay placeholders, which the msgpack encoding
// turns into bin values.
func packetJSON(b []byte, p *realtime.Packet) ([]byte, error) {
	sp, err := sio.Decode(p.Text(), sio.Limits{MaxAttachments: maxAttachmentsWire})
	if err != nil {
		return b, err
	}
	data := sp.Data
	if p.Offset != "" {
		if data, err = dropLast(data); err != nil {
			return b, err
		}
	}
	b = append(b, `{"type":`...)
	b = strconv.AppendInt(b, int64(sp.Type.Plain()), 10)
	b = append(b, `,"data":`...)
	b = append(b, data...)
	b = append(b, `,"nsp":`...)
	b = sio.AppendString(b, sp.Namespace)
	return append(b, '}'), nil
}

// dropLast removes the last element of the JSON array data: the recovery
// offset a server adds, which is its own.
func dropLast(data json.RawMessage) (json.RawMessage, error) {
	elems, err := sio.SplitArray(data)
	if err != nil || len(elems) < 2 {
		return nil, fmt.Errorf("%w: no recovery offset to drop", errMalformed)
	}
	last := elems[len(elems)-1]
	end := bytes.LastIndex(data[:len(data)-1], last) // the offset, then only ']'
	if end < 0 {
		return nil, errMalformed
	}
	out := bytes.TrimRight(data[:end], " \t\r\n")
	out = bytes.TrimSuffix(out, []byte{','})
	return append(out[:len(out):len(out)], ']'), nil
}

// toPacket turns a packet another server sent into one for this server's
// sockets: an event in namespace nsp, with ackID when hasAck, and offset
// as its last argument unless "". Its binary values are placeholders
// referring to atts.
func toPacket(wp wirePacket, atts [][]byte, nsp string, ackID uint64, hasAck bool, offset string) (*realtime.Packet, error) {
	if wp.Type != int(sio.Event) && wp.Type != int(sio.BinaryEvent) {
		return nil, fmt.Errorf("%w: packet type %d is not an event", errMalformed, wp.Type)
	}
	name, _, err := sio.EventName(wp.Data)
	if err != nil || name == "" || sio.Reserved(name) {
		return nil, fmt.Errorf("%w: not an event", errMalformed)
	}
	data := wp.Data
	if offset != "" {
		data = appendLast(data, offset)
	}
	sp := sio.Packet{Type: sio.Event, Namespace: nsp, Data: data, ID: ackID, HasID: hasAck}
	if n := countPlaceholders(wp.Data); n > 0 || len(atts) > 0 {
		if n != len(atts) {
			return nil, fmt.Errorf("%w: %d placeholders for %d binary values", errMalformed, n, len(atts))
		}
		sp.Type, sp.Attachments = sio.BinaryEvent, len(atts)
	}
	return realtime.NewPacket(sp.Append(nil), atts, offset), nil
}

// appendLast returns the JSON array data with s appended as a string.
func appendLast(data json.RawMessage, s string) json.RawMessage {
	body := bytes.TrimRight(data, " \t\r\n")
	body = body[:len(body)-1] // the ']' (data is an event's non-empty array)
	out := make([]byte, 0, len(body)+len(s)+4)
	out = append(append(out, body...), ',')
	out = sio.AppendString(out, s)
	return append(out, ']')
}

// broadcast is a classic broadcast as received: [uid, packet, opts].
type broadcast struct {
	uid    string
	nsp    string
	packet wirePacket
	atts   [][]byte
	opts   wireOpts
}

// decodeBroadcast decodes a classic broadcast.
func decodeBroadcast(msg []byte) (broadcast, error) {
	var b broadcast
	js, atts, err := decodeAny(msg)
	if err != nil {
		return b, err
	}
	var parts []json.RawMessage
	if err := json.Unmarshal(js, &parts); err != nil || len(parts) < 3 || json.Unmarshal(parts[0], &b.uid) != nil {
		return b, errMalformed
	}
	if err := json.Unmarshal(parts[1], &b.packet); err != nil {
		return b, err
	}
	if err := json.Unmarshal(parts[2], &b.opts); err != nil {
		return b, err
	}
	b.nsp, b.atts = b.packet.Nsp, atts
	if b.nsp == "" {
		b.nsp = "/"
	}
	return b, nil
}

// isArray reports whether msg is a msgpack array: a broadcast, where
// requests and answers are maps or JSON objects.
func isArray(msg []byte) bool {
	return len(msg) > 0 && (msg[0]&0xf0 == 0x90 || msg[0] == 0xdc || msg[0] == 0xdd)
}

// countPlaceholders counts the attachment placeholders in data.
func countPlaceholders(data []byte) int {
	return bytes.Count(data, []byte(`{"_placeholder":true,"num":`))
}

// decodeAny decodes a message that is JSON when it starts with '{', as
// Node's adapters tell them apart, and msgpack otherwise, into JSON with
// binary values as placeholders referring to the attachments returned.
func decodeAny(msg []byte) ([]byte, [][]byte, error) {
	if len(msg) > 0 && msg[0] == '{' {
		return msg, nil, nil
	}
	return siomsgpack.DecodeValue(msg, sio.Limits{MaxAttachments: maxAttachmentsWire})
}

// encodeMsgpack turns the JSON js, whose placeholders refer to atts, into
// msgpack.
func encodeMsgpack(js []byte, atts [][]byte) ([]byte, error) {
	return siomsgpack.AppendValue(make([]byte, 0, len(js)+64), js, atts)
}
