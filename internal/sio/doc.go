// Package sio encodes and decodes Socket.IO protocol v5 packets, the protocol
// spoken by socket.io v3 and v4 servers and the official socket.io-client v4.
// It is the wire codec only: it does no I/O, and the Engine.IO "4" message
// prefix is the transport's business.
//
// # Format
//
// A packet travels as one text message:
//
//	<type>[<attachments>-][<namespace>,][<ack id>][<JSON data>]
//
// The type is one decimal digit, 0 ([Connect]) to 6 ([BinaryAck]). The
// attachment count and its '-' appear only for [BinaryEvent] and
// [BinaryAck], and there they are required. The namespace appears only when
// it is not "/"; it starts with '/' and runs to the first ','. The ack id is
// the run of decimal digits that directly precedes the JSON data. Examples:
//
//	0                                   CONNECT to "/"
//	0/admin,{"token":"123"}             CONNECT to "/admin" with auth data
//	4{"message":"Not authorized"}       CONNECT_ERROR
//	2["foo"]                            EVENT "foo"
//	2/admin,13["foo"]                   EVENT "foo" asking for ack 13
//	3/admin,13["bar"]                   ACK 13
//	51-["baz",{"_placeholder":true,"num":0}]
//	                                    BINARY_EVENT, one attachment follows
//	1/admin,                            DISCONNECT from "/admin"
//
// [Decode] checks the data as socket.io-parser does: CONNECT carries nothing
// or an object; DISCONNECT carries nothing; CONNECT_ERROR a string or an
// object; EVENT and BINARY_EVENT a non-empty array whose first element is a
// number or a string that is not a reserved event name (see [Reserved]);
// ACK and BINARY_ACK an array. Anything else is an error wrapping
// [ErrInvalidPacket].
//
// # Binary attachments
//
// A binary packet's JSON holds placeholders, {"_placeholder":true,"num":N},
// and the text message is followed by as many binary messages as its
// attachment count says. [Reassembler] collects them; [FillPlaceholders]
// swaps each placeholder for the base64 text of its attachment so that
// encoding/json decodes it into a []byte ([FillDecoded] does the same for
// data Decode has checked already); [MarshalArgs], [AppendArgs] and
// [AppendPacket] do the reverse for outgoing []byte arguments.
//
// # Limits
//
// [Limits.MaxAttachments] (default 10) bounds the attachment count a packet
// may announce, so a peer cannot make a [Reassembler] wait for, and buffer,
// an unbounded number of binary messages; a larger count fails with
// [ErrTooManyAttachments]. JSON nesting is bounded at 10000 levels, as in
// encoding/json. The size of a message is the transport's to bound.
//
// # Memory
//
// Decoded packets alias the input: [Packet.Data] and the elements returned
// by [SplitArray] and [EventName] are subslices of the caller's bytes, and a
// [Reassembler] keeps the messages it is given until it returns them. Callers
// that reuse read buffers must copy first.
//
// # Concurrency
//
// The functions are safe for concurrent use. A [Reassembler] belongs to one
// connection's read loop and is not safe for concurrent use.
package sio
