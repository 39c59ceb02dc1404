package realtime

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Errors returned by the API.
var (
	ErrReservedEvent   = errors.New("realtime: reserved event name")
	ErrNotConnected    = errors.New("realtime: socket not connected")
	ErrNoAck           = errors.New("realtime: the client did not ask for an acknowledgement")
	ErrAlreadyAcked    = errors.New("realtime: event already acknowledged")
	ErrServerClosed    = errors.New("realtime: server closed")
	ErrInvalidArgument = errors.New("realtime: invalid argument")
)

// ConnectError refuses a connection from middleware with what the client
// receives in its connect_error event: err.message is Message and err.data
// is Data (any value encoding/json can encode; nil for none). Middleware may
// return any error; a plain one becomes a ConnectError with its text.
type ConnectError struct {
	Message string
	Data    any
}

func (e *ConnectError) Error() string { return "realtime: connection refused: " + e.Message }

func connectErrorPayload(err error) json.RawMessage {
	ce := &ConnectError{Message: err.Error()}
	if !errors.As(err, &ce) {
		ce = &ConnectError{Message: err.Error()}
	}
	body := struct {
		Message string `json:"message"`
		Data    any    `json:"data,omitempty"`
	}{ce.Message, ce.Data}
	b, jerr := json.Marshal(body)
	if jerr != nil {
		b, _ = json.Marshal(struct {
			Message string `json:"message"`
		}{ce.Message})
	}
	return b
}

// argCountError reports an event with fewer arguments than Bind was given.
type argCountError struct{ have, want int }

func (e *argCountError) Error() string {
	return fmt.Sprintf("realtime: %d arguments, want %d", e.have, e.want)
}

func (e *argCountError) Unwrap() error { return ErrInvalidArgument }
