package realtime

import (
	"fmt"
	"sync/atomic"

	"github.com/vicinity-go/vicinity/internal/sio"
	"github.com/vicinity-go/vicinity/transport"
)

// Args are the arguments of an event or an acknowledgement, as raw JSON.
// Bind decodes them into Go values; a binary attachment appears as a base64
// JSON string, so it decodes into a []byte.
type Args = sio.Args

// Event is an event a client sent.
type Event struct {
	Socket *Socket
	Name   string
	Args
	ackID  uint64
	hasAck bool
	acked  atomic.Bool
}

// WantsAck reports whether the client waits for an acknowledgement.
func (e *Event) WantsAck() bool { return e.hasAck }

// Ack answers the client's acknowledgement callback with args. It returns
// [ErrNoAck] if the client asked for none and [ErrAlreadyAcked] the second
// time.
func (e *Event) Ack(args ...any) error {
	if !e.hasAck {
		return ErrNoAck
	}
	if e.acked.Swap(true) {
		return ErrAlreadyAcked
	}
	pkts, err := encode(sio.Ack, e.Socket.nsp.name, e.ackID, true, "", args)
	if err != nil {
		return err
	}
	e.Socket.client.send(false, pkts)
	return nil
}

// AckResult answers the event with the outcome of handling it, the
// convention of vicinity's built-in events: {"ok": true} when err is nil,
// {"error": "…"} with err's text otherwise. It does nothing when the client
// asked for no acknowledgement, and returns what [Event.Ack] returns.
func (e *Event) AckResult(err error) error {
	if !e.WantsAck() {
		return nil
	}
	if err != nil {
		return e.Ack(map[string]string{"error": err.Error()})
	}
	return e.Ack(map[string]bool{"ok": true})
}

// encode builds the Engine.IO packets of an event (event != "") or an
// acknowledgement: the text packet, its JSON written in place, then one
// binary packet per attachment.
func encode(typ sio.Type, nsp string, ackID uint64, hasID bool, event string, args []any) ([]transport.Packet, error) {
	text, atts, err := sio.AppendPacket(nil, sio.Packet{Type: typ, Namespace: nsp, ID: ackID, HasID: hasID}, event, args)
	if err != nil {
		return nil, fmt.Errorf("realtime: encode %q: %w", event, err)
	}
	return frame(text, atts), nil
}

// frame turns the text and attachments of a Socket.IO packet into its
// Engine.IO packets.
func frame(text []byte, atts [][]byte) []transport.Packet {
	out := make([]transport.Packet, 1+len(atts))
	out[0] = transport.Message(text, false)
	for i, a := range atts {
		out[i+1] = transport.Message(a, true)
	}
	return out
}
