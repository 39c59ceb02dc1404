// Package eio encodes and decodes Engine.IO protocol v4 packets, the framing
// under Socket.IO.
//
// A packet is a type digit followed by its data: "0" open, "1" close,
// "2" ping, "3" pong, "4" message, "5" upgrade, "6" noop. Over WebSocket each
// frame carries one packet; a binary frame is a message packet holding raw
// bytes, with no type digit. Over HTTP long-polling a payload carries one or
// more packets separated by the record separator 0x1e, and a binary message
// is written as "b" followed by its standard base64 encoding.
//
// # Limits
//
// [DecodePayload] stops at maxPackets packets and reports
// [ErrTooManyPackets]; the caller bounds the payload size before decoding.
package eio
