package realtime

import (
	"fmt"

	"github.com/vicinity-go/vicinity/internal/sio"
	"github.com/vicinity-go/vicinity/internal/siomsgpack"
	"github.com/vicinity-go/vicinity/transport"
)

// Parser is how Socket.IO packets are written on the wire, the Node.js
// server's parser option. Every client of a server must use the server's.
type Parser int

const (
	// JSONParser is Socket.IO's default: a packet is a text message with
	// JSON data, followed by one binary message per attachment.
	JSONParser Parser = iota
	// MsgpackParser is the npm package socket.io-msgpack-parser's format,
	// for clients created with
	//
	//	io(url, { parser: require("socket.io-msgpack-parser") })
	//
	// A packet is one binary message holding a msgpack map, binary data
	// inline. It is smaller and faster to parse for binary-heavy apps.
	MsgpackParser
)

// String returns "json" or "msgpack".
func (p Parser) String() string {
	switch p {
	case JSONParser:
		return "json"
	case MsgpackParser:
		return "msgpack"
	}
	return fmt.Sprintf("Parser(%d)", int(p))
}

// frames returns the wire form of a packet given as its JSON text and
// attachments. Only the msgpack parser can fail, on JSON it cannot write
// (a number beyond float64, a placeholder naming no attachment, both
// possible in a json.RawMessage argument).
func (p Parser) frames(text []byte, atts [][]byte) ([]transport.Packet, error) {
	if p == MsgpackParser {
		return msgpackFrames(text, atts)
	}
	out := make([]transport.Packet, 1+len(atts))
	out[0] = transport.Message(text, false)
	for i, a := range atts {
		out[i+1] = transport.Message(a, true)
	}
	return out, nil
}

// msgpackDecoder decodes socket.io-msgpack-parser messages: each binary
// message is a whole packet.
// msgpackDecoder decodes the msgpack parser's messages, each a whole packet
// (see client.decode).
type msgpackDecoder struct{ lim sio.Limits }

func (d msgpackDecoder) Add(data []byte, binary bool) (sio.Packet, [][]byte, bool, error) {
	if !binary {
		return sio.Packet{}, nil, false, fmt.Errorf("%w: text message with the msgpack parser", sio.ErrInvalidPacket)
	}
	p, atts, err := siomsgpack.Decode(data, d.lim)
	if err != nil {
		return sio.Packet{}, nil, false, err
	}
	return p, atts, true, nil
}

// msgpackFrames re-encodes a packet the server built as JSON text.
func msgpackFrames(text []byte, atts [][]byte) ([]transport.Packet, error) {
	p, err := sio.Decode(text, sio.Limits{MaxAttachments: max(len(atts), 1)})
	if err != nil {
		return nil, fmt.Errorf("msgpack parser: %w", err)
	}
	b, err := siomsgpack.Append(make([]byte, 0, len(text)+16), p, atts)
	if err != nil {
		return nil, fmt.Errorf("msgpack parser: %w", err)
	}
	return []transport.Packet{transport.Message(b, true)}, nil
}

// wire returns the packet's frames in the server's format, encoding them
// the first time; nil if they cannot be (see Parser.frames), which the
// first caller, the broadcast that made the packet, reports.
func (p *Packet) wire(pr Parser) ([]transport.Packet, error) {
	p.once.Do(func() { p.frames, p.err = pr.frames(p.text, p.atts) })
	return p.frames, p.err
}
