package sio

import "fmt"

// Reassembler turns the sequence of transport messages of one connection, a
// text packet and then the binary attachments it announces, into complete
// packets. The zero value is ready to use with the default Limits. It keeps
// the messages of a partial packet until it returns them, so their buffers
// must not be reused meanwhile. It is not safe for concurrent use.
type Reassembler struct {
	lim     Limits
	pending Packet
	waiting bool     // pending awaits attachments
	atts    [][]byte // attachments received so far
	bytes   int      // size of the text message and atts
}

// NewReassembler returns a Reassembler that decodes with lim.
func NewReassembler(lim Limits) *Reassembler {
	return &Reassembler{lim: lim}
}

// Add feeds one transport message, text or binary. When it completes a
// packet it returns done=true, the packet and its attachments (len equal to
// p.Attachments, nil when there are none); the attachments are the binary
// messages as given. A text message while attachments are pending, or a
// binary message when none is expected, is an error wrapping
// ErrInvalidPacket, as are Decode's errors. After an error the partial
// packet is dropped and the next message starts afresh, though a connection
// that sent a bad packet is best closed. A binary packet whose text and
// attachments exceed Limits.MaxPacketBytes is dropped with
// ErrPacketTooLarge as soon as the message that crosses the limit arrives.
func (r *Reassembler) Add(data []byte, binary bool) (p Packet, attachments [][]byte, done bool, err error) {
	if binary {
		if !r.waiting {
			return Packet{}, nil, false, fmt.Errorf("%w: unexpected binary message", ErrInvalidPacket)
		}
		if data == nil {
			data = []byte{} // an empty Buffer stays one: a nil []byte is sent as null
		}
		if r.bytes += len(data); r.lim.MaxPacketBytes > 0 && r.bytes > r.lim.MaxPacketBytes {
			r.Reset()
			return Packet{}, nil, false, ErrPacketTooLarge
		}
		r.atts = append(r.atts, data)
		if len(r.atts) < r.pending.Attachments {
			return Packet{}, nil, false, nil
		}
		p, attachments = r.pending, r.atts
		r.Reset()
		return p, attachments, true, nil
	}
	if r.waiting {
		r.Reset()
		return Packet{}, nil, false, fmt.Errorf("%w: text message while awaiting attachments", ErrInvalidPacket)
	}
	p, err = Decode(data, r.lim)
	if err != nil {
		return Packet{}, nil, false, err
	}
	if p.Attachments == 0 {
		return p, nil, true, nil
	}
	if r.lim.MaxPacketBytes > 0 && len(data) > r.lim.MaxPacketBytes {
		return Packet{}, nil, false, ErrPacketTooLarge
	}
	r.pending, r.waiting, r.bytes = p, true, len(data)
	r.atts = make([][]byte, 0, p.Attachments)
	return Packet{}, nil, false, nil
}

// Reset drops any partial packet.
func (r *Reassembler) Reset() {
	r.pending, r.atts, r.waiting, r.bytes = Packet{}, nil, false, 0
}
