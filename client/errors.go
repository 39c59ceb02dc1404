package client

import (
	"encoding/json"
	"errors"

	"github.com/vicinity-go/vicinity/internal/sio"
)

// Errors returned by the API.
var (
	// ErrNotConnected: the socket is not connected and the packet cannot
	// be buffered (see [WithSendBuffer]), or an acknowledgement is answered
	// after the socket disconnected.
	ErrNotConnected = errors.New("client: socket not connected")
	// ErrDisconnected: the socket disconnected while [Socket.EmitWithAck]
	// waited for an acknowledgement to a packet already sent, or while
	// [Socket.Connect] waited.
	ErrDisconnected = errors.New("client: socket disconnected")
	// ErrBufferFull: the socket is not connected and its send buffer is
	// full.
	ErrBufferFull = errors.New("client: send buffer full")
	// ErrReservedEvent: the event name is one Socket.IO reserves
	// ("connect", "disconnect", …).
	ErrReservedEvent = errors.New("client: reserved event name")
	// ErrNoAck: [Event.Ack] on an event the server sent without asking for
	// an acknowledgement.
	ErrNoAck = errors.New("client: the server did not ask for an acknowledgement")
	// ErrAlreadyAcked: [Event.Ack] called a second time.
	ErrAlreadyAcked = errors.New("client: event already acknowledged")
	// ErrClosed: the [Manager] is closed.
	ErrClosed = errors.New("client: manager closed")
	// ErrReconnectFailed is wrapped by the error [Socket.Connect] returns,
	// and passed to connect_error handlers, when the reconnection attempts
	// set by [WithReconnectionAttempts] are exhausted.
	ErrReconnectFailed = errors.New("client: reconnection attempts exhausted")

	// ErrInvalidArgument is wrapped by [Args.Bind] errors.
	ErrInvalidArgument = sio.ErrInvalidArgument
)

// ConnectError is the server's refusal of a socket, its connect_error: a
// middleware error (Message, and Data if the middleware gave any) or
// "Invalid namespace". [Socket.Connect] returns it, reached with
// errors.As. A refused socket is not retried: call Connect again.
type ConnectError struct {
	Message string
	// Data is the JSON value the server attached, nil if none.
	Data json.RawMessage
}

func (e *ConnectError) Error() string { return "client: connection refused: " + e.Message }

// parseConnectError decodes CONNECT_ERROR data: an object
// {"message":…,"data":…} or, from old servers, a bare string.
func parseConnectError(data json.RawMessage) *ConnectError {
	var s string
	if json.Unmarshal(data, &s) == nil {
		return &ConnectError{Message: s}
	}
	var body struct {
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	_ = json.Unmarshal(data, &body) // Decode checked it is an object
	if string(body.Data) == "null" {
		body.Data = nil
	}
	return &ConnectError{Message: body.Message, Data: body.Data}
}

// Disconnect reasons, as the JavaScript client names them, passed to the
// handlers of [Socket.OnDisconnect].
const (
	// ReasonServerDisconnect: the server disconnected the socket
	// (realtime's Socket.Disconnect). No reconnection follows.
	ReasonServerDisconnect = "io server disconnect"
	// ReasonClientDisconnect: [Socket.Disconnect] or [Manager.Close]. No
	// reconnection follows.
	ReasonClientDisconnect = "io client disconnect"
	// ReasonTransportClose: the server closed the connection (a polling
	// close packet, a WebSocket close or end of stream), for instance on
	// shutdown.
	ReasonTransportClose = "transport close"
	// ReasonTransportError: the connection failed (a refused request, a
	// reset, a write error) or carried an undecodable Engine.IO packet.
	ReasonTransportError = "transport error"
	// ReasonPingTimeout: no ping from the server within its ping interval
	// plus ping timeout: the server or the network is gone.
	ReasonPingTimeout = "ping timeout"
	// ReasonParseError: the server sent a Socket.IO packet the client
	// cannot decode.
	ReasonParseError = "parse error"
	// ReasonForcedClose: the client closed the Engine.IO connection, which
	// it does when no socket uses it any more.
	ReasonForcedClose = "forced close"
)
