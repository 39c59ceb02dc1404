// Package siomsgpack encodes and decodes Socket.IO packets the way the npm
// package socket.io-msgpack-parser (3.x, on notepack.io 2.x) does, so that a
// server can talk to clients built with that parser. It converts between the
// msgpack wire form and [sio.Packet], whose Data is JSON, so the rest of the
// server sees the same packets whichever parser a client uses. It does no
// I/O: each packet is one binary Engine.IO message.
//
// # Format
//
// A packet is one msgpack map (notepack.io's encoding of the JavaScript
// packet object):
//
//	{"type": 2, "data": ["chat", "hi", <bin>], "id": 7, "nsp": "/"}
//
// type is 0 (CONNECT) to 4 (CONNECT_ERROR): there are no BINARY_EVENT or
// BINARY_ACK types and no separate attachment messages, since binary values
// travel inline. nsp is required. data and id are optional. [Append] writes
// the keys in that order, as a socket.io server does, and omits data when
// Packet.Data is nil and id when !Packet.HasID. [Decode] takes the keys in
// any order and ignores keys it does not know, such as the "options" map
// socket.io-client adds to every packet.
//
// notepack.io writes numbers as the smallest msgpack integer that holds them,
// or as float64 when they have a fraction or are not finite; a Node.js
// Buffer as bin; an ArrayBuffer or typed array as ext type 0 (ext 8/16/32);
// undefined as fixext 1 type 0; a Date as fixext 8 type 0 holding its
// milliseconds since the epoch as a signed 64-bit integer. The browser build
// writes an ArrayBuffer as bin.
//
// # Conversions
//
// [Decode] writes JSON as encoding/json would for the decoded JavaScript
// value, with these rules:
//   - integers are written exactly, the full int64 and uint64 ranges
//     included; float32 and float64 values are written as
//     [sio.AppendFloat] writes a float64 (a float32 as the float64 it
//     widens to, as JavaScript reads it), and -0 as 0, as JSON.stringify
//     writes it; NaN and infinities are refused;
//   - strings are written as [sio.AppendString] writes them, but for
//     invalid UTF-8, which becomes U+FFFD as such (not "\ufffd"), so the
//     JSON is always valid and the same after a round trip;
//   - bin and ext type 0 of ext 8/16/32 (an ArrayBuffer) are binary: each
//     becomes a placeholder {"_placeholder":true,"num":N} and attachment N,
//     and the packet becomes a [sio.BinaryEvent] or [sio.BinaryAck]. Binary
//     is refused in CONNECT, DISCONNECT and CONNECT_ERROR data, which the
//     text protocol cannot carry either;
//   - undefined drops a map member and is null in an array, as
//     JSON.stringify does; as data or id it means absent;
//   - a Date becomes its toISOString text, such as
//     "2024-05-01T12:00:00.000Z", or null for a time JavaScript cannot
//     represent (more than 8.64e15 ms from the epoch), as JSON.stringify
//     does; every other ext (the msgpack timestamp, type -1, included) is
//     refused;
//   - map keys must be strings; members keep their order, duplicate keys
//     included;
//   - a map that would read as a placeholder (exactly the members
//     "_placeholder": true and "num": a number) is refused, so that data
//     cannot pose as an attachment.
//
// [Append] does the reverse: JSON integers that fit an int64 or uint64
// become msgpack integers, other numbers float64, and a placeholder becomes
// its attachment as bin. Its output for a packet is byte for byte what
// notepack.io writes for the same JavaScript object with the same key order,
// except that notepack.io writes an integral float such as 1.0 (which JSON
// can spell "1.0" or "1e3") as an integer.
//
// # Validation
//
// [Decode] refuses what socket.io-msgpack-parser's decoder refuses (a type
// that is not an integer from 0 to 4, an nsp that is not a string, data of
// the wrong kind for the type, an id that is not an integer, trailing
// bytes) and, like [sio.Decode], more: an EVENT whose first element is not
// a string or a number, or is a reserved event name (see [sio.Reserved]);
// an nsp that does not start with '/', holds ',' or is not valid UTF-8; an
// id that is negative or above the uint64 range; a key given twice at the
// top level; any other msgpack it cannot convert to JSON. Errors wrap
// [sio.ErrInvalidPacket], or [sio.ErrTooManyAttachments] for more binary
// values than the limit.
//
// # Limits
//
// [sio.Limits.MaxAttachments] (default 10) bounds the binary values of one
// packet. Nesting is bounded at 10000 levels, as in encoding/json and
// [sio.Decode]. Every length and count is checked against the bytes left
// before anything is allocated, so memory is bounded by the message: the
// JSON written is at most 6 bytes per message byte plus one placeholder per
// attachment. The size of a message is the transport's to bound.
//
// # Memory
//
// The attachments [Decode] returns are subslices of the message, not copies
// (with their capacity cut to their length); Packet.Data and
// Packet.Namespace are not. Callers that reuse read buffers must copy the
// attachments first.
//
// # Concurrency
//
// The functions are safe for concurrent use.
package siomsgpack
