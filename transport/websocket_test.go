package transport_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/transport"
)

func TestWebSocketMessages(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ws, s := h.handshakeWS(t)

	writeWS(t, ws, websocket.TextMessage, "4hello")
	writeWS(t, ws, websocket.BinaryMessage, "\x01\x02\x03")
	writeWS(t, ws, websocket.TextMessage, "4")
	writeWS(t, ws, websocket.TextMessage, "6") // noop
	writeWS(t, ws, websocket.TextMessage, "4€")
	for _, want := range []message{{"hello", false}, {"\x01\x02\x03", true}, {"", false}, {"€", false}} {
		assert.Equal(t, want, s.message(t))
	}

	big := strings.Repeat("x", 100_000) // larger than the writer's buffers
	require.True(t, s.conn.Send(false, transport.Message([]byte("hi"), false)))
	require.True(t, s.conn.Send(false, transport.Message([]byte{4, 5}, true), transport.Message([]byte(big), false)))
	require.True(t, s.conn.Send(true, transport.Message([]byte(""), false)))
	for _, want := range []struct {
		typ  int
		data string
	}{
		{websocket.TextMessage, "4hi"},
		{websocket.BinaryMessage, "\x04\x05"},
		{websocket.TextMessage, "4" + big},
		{websocket.TextMessage, "4"},
	} {
		typ, data := readWS(t, ws)
		assert.Equal(t, want.typ, typ)
		assert.Equal(t, want.data, string(data))
	}
	s.assertOpen(t)
	assert.Equal(t, "websocket", s.conn.Transport())
}

func TestWebSocketBadPacket(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		frame  string
		reason string
	}{
		{"empty", "", transport.ReasonParseError},
		{"unknown type", "9x", transport.ReasonParseError},
		{"not a packet", "hello", transport.ReasonParseError},
		{"open from client", "0", transport.ReasonParseError},
		{"ping from client", "2", transport.ReasonTransportError}, // Node: "invalid heartbeat direction"
		{"upgrade when open", "5", transport.ReasonParseError},
		{"close packet", "1", transport.ReasonTransportClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			ws, s := h.handshakeWS(t)
			writeWS(t, ws, websocket.TextMessage, tt.frame)
			assert.Equal(t, tt.reason, s.closed(t), "frame %q", tt.frame)
			assert.Error(t, readWSErr(t, ws), "the server closes the socket")
			assertNoSessions(t, h)
		})
	}
}

func TestWebSocketClientCloses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		close func(ws *websocket.Conn) error
	}{
		{"close frame", func(ws *websocket.Conn) error {
			return ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
		}},
		{"going away", func(ws *websocket.Conn) error {
			return ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""))
		}},
		{"tcp close", func(ws *websocket.Conn) error { return ws.NetConn().Close() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			ws, s := h.handshakeWS(t)
			require.NoError(t, tt.close(ws))
			assert.Equal(t, transport.ReasonTransportClose, s.closed(t))
			assertNoSessions(t, h)
			assert.False(t, s.conn.Send(false, transport.Message([]byte("x"), false)))
		})
	}
}

func TestWebSocketMaxPayload(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		typ   int
		frame string
		want  string // the message delivered; "" when the session closes
	}{
		{"text at limit", websocket.TextMessage, "4" + strings.Repeat("x", 15), strings.Repeat("x", 15)},
		{"text over limit", websocket.TextMessage, "4" + strings.Repeat("x", 16), ""},
		{"binary at limit", websocket.BinaryMessage, strings.Repeat("x", 16), strings.Repeat("x", 16)},
		{"binary over limit", websocket.BinaryMessage, strings.Repeat("x", 17), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, transport.WithMaxPayload(16))
			ws, s := h.handshakeWS(t)
			writeWS(t, ws, tt.typ, tt.frame)
			if tt.want != "" {
				assert.Equal(t, tt.want, s.message(t).data)
				s.assertOpen(t)
				return
			}
			assert.Equal(t, transport.ReasonTransportError, s.closed(t))
			err := readWSErr(t, ws)
			assert.True(t, websocket.IsCloseError(err, websocket.CloseMessageTooBig), "got %v", err)
		})
	}
}

// Conn.Close writes what is queued, then a close frame.
func TestWebSocketServerClose(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ws, s := h.handshakeWS(t)
	for _, m := range []string{"a", "b", "c"} {
		require.True(t, s.conn.Send(false, transport.Message([]byte(m), false)))
	}
	s.conn.Close()
	for _, want := range []string{"4a", "4b", "4c"} {
		_, data := readWS(t, ws)
		assert.Equal(t, want, string(data))
	}
	err := readWSErr(t, ws)
	assert.True(t, websocket.IsCloseError(err, websocket.CloseNoStatusReceived), "got %v", err)
	assert.Equal(t, transport.ReasonForcedClose, s.closed(t))
	require.Eventually(t, func() bool { return h.eng.Len() == 0 }, wait, time.Millisecond)
}

// A client that never answers the close frame is cut off at the write
// timeout rather than held forever.
func TestWebSocketServerCloseUnanswered(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.WithWriteTimeout(250*time.Millisecond))
	ws, s := h.handshakeWS(t)
	ws.SetCloseHandler(func(int, string) error { return nil }) // do not answer
	s.conn.Close()
	err := readWSErr(t, ws)
	assert.True(t, websocket.IsCloseError(err, websocket.CloseNoStatusReceived), "got %v", err)
	// The server closes the TCP connection: a raw read sees EOF.
	require.NoError(t, ws.NetConn().SetReadDeadline(time.Now().Add(wait)))
	_, err = ws.NetConn().Read(make([]byte, 1))
	require.Error(t, err)
	var ne net.Error
	assert.False(t, errors.As(err, &ne) && ne.Timeout(), "server did not close the connection: %v", err)
	assert.Equal(t, transport.ReasonForcedClose, s.closed(t))
}

// CloseWithReason without grace cuts the connection at once.
func TestWebSocketCloseWithReason(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ws, s := h.handshakeWS(t)
	s.conn.CloseWithReason("kicked", false)
	assert.Equal(t, "kicked", s.closed(t))
	assert.Error(t, readWSErr(t, ws))
	assertNoSessions(t, h)
}

// A second WebSocket for a session already on WebSocket is accepted and
// closed at once, as by Node, and leaves the session alone.
func TestWebSocketSecondSocket(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ws, s := h.handshakeWS(t)
	ws2 := h.dial(t, "EIO=4&transport=websocket&sid="+s.conn.ID(), nil)
	err := readWSErr(t, ws2)
	assert.True(t, websocket.IsCloseError(err, websocket.CloseNoStatusReceived), "got %v", err)
	r := h.do(context.Background(), http.MethodGet, query(s.conn.ID()), nil, nil)
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusBadRequest, r.status, "polling on a websocket session")
	assert.JSONEq(t, `{"code":3,"message":"Bad request"}`, r.body)

	require.True(t, s.conn.Send(false, transport.Message([]byte("still"), false)))
	_, data := readWS(t, ws)
	assert.Equal(t, "4still", string(data))
	s.assertOpen(t)
}

// A client that closes while the server is writing to it has closed the
// session: the reason is "transport close", whichever goroutine notices.
func TestWebSocketClientClosesWhileWriting(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for i := range 20 {
		ws, s := h.handshakeWS(t)
		stop := make(chan struct{})
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if !s.conn.Send(true, transport.Message([]byte("tick"), false)) && s.conn.Reason() != "" {
					return
				}
			}
		}()
		_, _ = readWS(t, ws)
		require.NoError(t, ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")))
		assert.Equal(t, transport.ReasonTransportClose, s.closed(t), "round %d", i)
		close(stop)
		<-sent
	}
}

// A WebSocket handshake with a protocol other than 4 is refused with 400
// and the message as text. (Node completes the handshake first, then
// writes its HTTP 400 into the WebSocket stream and drops the connection.)
func TestUnsupportedProtocolWebSocket(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	d := websocket.Dialer{HandshakeTimeout: wait}
	for _, q := range []string{"EIO=3&transport=websocket", "transport=websocket"} {
		_, res, err := d.Dial(h.wsURL(q), nil)
		require.ErrorIs(t, err, websocket.ErrBadHandshake, q)
		body, _ := io.ReadAll(res.Body)
		assert.Equal(t, http.StatusBadRequest, res.StatusCode, q)
		assert.Equal(t, "Unsupported protocol version", string(body), q)
	}
	assertNoSessions(t, h)
}
