package realtime

import (
	"encoding/json"
	"fmt"
	"sync/atomic"

	"github.com/vicinity-go/vicinity/internal/sio"
	"github.com/vicinity-go/vicinity/transport"
)

// Args are the arguments of an event or an acknowledgement, with the binary
// attachments that came with them. The zero value has no arguments.
type Args struct{ a sio.Args }

// NewArgs returns the arguments raw, whose binary data are placeholders
// {"_placeholder":true,"num":N} referring to attachments[N], as a cluster
// adapter receives them from another server.
func NewArgs(raw []json.RawMessage, attachments [][]byte) Args {
	return Args{sio.NewArgs(raw, attachments)}
}

// Len returns the number of arguments.
func (a Args) Len() int { return a.a.Len() }

// Raw returns argument i's JSON as it came, binary data as placeholders
// referring to [Args.Attachments], for a cluster adapter to carry it. It
// panics if i is out of range.
func (a Args) Raw(i int) json.RawMessage { return a.a.Raw(i) }

// Attachments returns the binary attachments the arguments' placeholders
// refer to.
func (a Args) Attachments() [][]byte { return a.a.Attachments() }

// Bind decodes the arguments, in order, into dst (pointers, as for
// json.Unmarshal, with the same rules for struct tags and Unmarshaler); a
// nil entry skips its argument. Fewer arguments than dst is an error; extra
// arguments are ignored. Binary data the client sent (a Buffer, an
// ArrayBuffer, a Blob, at any depth) decodes into a []byte, or into an any
// as a []byte; into an any, objects become map[string]any and arrays []any.
// A json.RawMessage destination gets binary data as its placeholder object,
// {"_placeholder":true,"num":N}. Errors wrap [ErrInvalidArgument]; they are
// not encoding/json's error types.
func (a Args) Bind(dst ...any) error { return a.a.Bind(dst...) }

// JSON returns argument i as JSON, with binary data written as the base64
// string encoding/json makes of a []byte. It panics if i is out of range.
func (a Args) JSON(i int) json.RawMessage { return a.a.JSON(i) }

// MarshalJSON writes the arguments as a JSON array, binary data as base64
// strings, for logs and stores.
func (a Args) MarshalJSON() ([]byte, error) { return a.a.MarshalJSON() }

// Values returns the arguments as values to pass to Emit or Ack, which send
// them as they came, binary data as binary:
//
//	s.On("echo", func(e *realtime.Event) { e.Ack(e.Values()...) })
//
// An argument without binary data is its json.RawMessage; one with binary
// data is decoded as by Bind into an any (so its objects' keys are sent
// sorted).
func (a Args) Values() []any { return a.a.Values() }

// Event is an event a client sent.
type Event struct {
	Socket *Socket
	Name   string
	Args
	ackID  uint64
	hasAck bool
	acked  atomic.Bool
}

// Bind decodes the event's arguments into dst: see [Args.Bind].
func (e *Event) Bind(dst ...any) error { return e.Args.Bind(dst...) }

// Values returns the event's arguments for Emit or Ack: see [Args.Values].
func (e *Event) Values() []any { return e.Args.Values() }

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
	return e.Socket.ack(e.ackID, args)
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

// newPacket builds an event (event != "") or an acknowledgement: the JSON
// text packet, written in place, and its attachments.
func newPacket(typ sio.Type, nsp string, ackID uint64, hasID bool, event string, args []any) (*Packet, error) {
	text, atts, err := sio.AppendPacket(nil, sio.Packet{Type: typ, Namespace: nsp, ID: ackID, HasID: hasID}, event, args)
	if err != nil {
		return nil, fmt.Errorf("realtime: encode %q: %w", event, err)
	}
	return &Packet{text: text, atts: atts}, nil
}

// encode builds the Engine.IO packets of an event or an acknowledgement
// in the format of the namespace's server.
func (n *Namespace) encode(typ sio.Type, ackID uint64, hasID bool, event string, args []any) ([]transport.Packet, error) {
	p, err := newPacket(typ, n.name, ackID, hasID, event, args)
	if err != nil {
		return nil, err
	}
	frames, err := p.wire(n.srv.cfg.parser)
	if err != nil {
		return nil, fmt.Errorf("realtime: encode %q: %w", event, err)
	}
	return frames, nil
}
