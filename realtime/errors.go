package realtime

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"

	"github.com/vicinity-go/vicinity/internal/sio"
)

// Errors returned by the API.
var (
	ErrReservedEvent = errors.New("realtime: reserved event name")
	ErrNotConnected  = errors.New("realtime: socket not connected")
	ErrNoAck         = errors.New("realtime: the client did not ask for an acknowledgement")
	ErrAlreadyAcked  = errors.New("realtime: event already acknowledged")
	ErrServerClosed  = errors.New("realtime: server closed")
	ErrNoPresence    = errors.New("realtime: socket has no presence (see WithPresence)")

	// ErrTooManyRooms is returned by [Socket.Join] for rooms that would
	// take the socket past [WithMaxRooms].
	ErrTooManyRooms = errors.New("realtime: too many rooms")
	// ErrRoomNameTooLong is returned by [Socket.Join] for a room name
	// longer than [WithMaxNameLen].
	ErrRoomNameTooLong = errors.New("realtime: room name too long")

	// ErrInvalidArgument is wrapped by [Args.Bind] errors.
	ErrInvalidArgument = sio.ErrInvalidArgument
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
	var ce *ConnectError
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

// v3ErrorPayload is what a Socket.IO 2 client gets in the ERROR packet
// refusing a CONNECT, as from the Node.js server: a [ConnectError]'s data,
// or the error's message.
func v3ErrorPayload(err error) json.RawMessage {
	var ce *ConnectError
	if errors.As(err, &ce) && ce.Data != nil {
		b, jerr := json.Marshal(ce.Data)
		switch string(b) { // err.data || err.message: JavaScript's falsy values give the message
		case "0", `""`, "false", "null":
		default:
			if jerr == nil {
				return b
			}
		}
	}
	msg := err.Error()
	if ce != nil {
		msg = ce.Message
	}
	b, _ := json.Marshal(msg)
	return b
}

// v3Namespace splits the namespace of a Socket.IO 2 CONNECT,
// "/chat?token=x", into the name and the auth the query stands for,
// {"token":"x"}, as the Node.js server does; a key given twice has an
// array of its values.
func v3Namespace(nsp string) (string, []byte) {
	name, query, found := strings.Cut(nsp, "?")
	if !found {
		return name, nil
	}
	values := make(map[string][]string)
	for pair := range strings.SplitSeq(query, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, v = queryUnescape(k), queryUnescape(v)
		values[k] = append(values[k], v)
	}
	auth := make(map[string]any, len(values))
	for k, vs := range values {
		if len(vs) == 1 {
			auth[k] = vs[0]
		} else {
			auth[k] = vs
		}
	}
	b, _ := json.Marshal(auth)
	return name, b
}

// queryUnescape decodes a query component as Node's querystring does: '+'
// is a space, and a malformed escape stays as it is.
func queryUnescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return strings.ReplaceAll(s, "+", " ")
}
