package client_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/client"
)

// rawServer is a minimal Engine.IO WebSocket server: it sends the open
// packet, records what the client sends, and then sends script.
func rawServer(t *testing.T, script ...string) (url string, frames <-chan string) {
	t.Helper()
	got := make(chan string, 16)
	up := websocket.Upgrader{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		open := `0{"sid":"s1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`
		if ws.WriteMessage(websocket.TextMessage, []byte(open)) != nil {
			return
		}
		_, msg, err := ws.ReadMessage() // the CONNECT
		if err != nil {
			return
		}
		got <- string(msg)
		for _, s := range script {
			if ws.WriteMessage(websocket.TextMessage, []byte(s)) != nil {
				return
			}
		}
		for {
			_, msg, err := ws.ReadMessage()
			if err != nil {
				return
			}
			got <- string(msg)
		}
	}))
	t.Cleanup(ts.Close)
	return ts.URL, got
}

func TestParseError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		script []string
		want   string
	}{
		{name: "invalid JSON", script: []string{`40{"sid":"abc"}`, `42["event"`}, want: client.ReasonParseError},
		{name: "unknown packet type", script: []string{`40{"sid":"abc"}`, `49`}, want: client.ReasonParseError},
		{name: "reserved event name", script: []string{`40{"sid":"abc"}`, `42["disconnect"]`}, want: client.ReasonParseError},
		{name: "text while awaiting attachment", script: []string{`40{"sid":"abc"}`, `42["ok"]`, `451-["x",{"_placeholder":true,"num":0}]`, `42["text instead"]`}, want: client.ReasonParseError},
		{name: "bad engine.io packet", script: []string{`40{"sid":"abc"}`, `9`}, want: client.ReasonTransportError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url, frames := rawServer(t, tt.script...)
			m := client.New(url, client.WithTransports(client.WebSocket), client.WithReconnection(false))
			t.Cleanup(func() { _ = m.Close() })
			s := m.Socket("/")
			ids := make(chan string, 1)
			s.OnConnect(func(s *client.Socket) { ids <- s.ID() })
			reasons := make(chan string, 1)
			s.OnDisconnect(func(_ *client.Socket, reason string) { reasons <- reason })
			connect(t, s)
			assert.Equal(t, "40", recv(t, frames, "CONNECT"))
			assert.Equal(t, "abc", recv(t, ids, "connect"))
			assert.Equal(t, tt.want, recv(t, reasons, "disconnect"))
			require.Eventually(t, func() bool { return m.Transport() == "" }, wait, time.Millisecond)
		})
	}
}

func TestCompatOldServer(t *testing.T) {
	t.Parallel()
	url, _ := rawServer(t, `40`) // a Socket.IO v2 server: no sid in CONNECT
	m := client.New(url, client.WithTransports(client.WebSocket), client.WithReconnection(false))
	t.Cleanup(func() { _ = m.Close() })
	err := m.Socket("/").Connect(ctxWait(t))
	var ce *client.ConnectError
	require.ErrorAs(t, err, &ce)
	assert.Contains(t, ce.Message, "older Socket.IO protocol")
}

// A server announcing a WebSocket message larger than the client's limit
// (that of a polling response) gets the connection closed, rather than the
// client buffering whatever it sends.
func TestWebSocketReadLimit(t *testing.T) {
	t.Parallel()
	up := websocket.Upgrader{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		open := `0{"sid":"s1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`
		if ws.WriteMessage(websocket.TextMessage, []byte(open)) != nil {
			return
		}
		if _, _, err := ws.ReadMessage(); err != nil { // the CONNECT
			return
		}
		if ws.WriteMessage(websocket.TextMessage, []byte(`40{"sid":"abc"}`)) != nil {
			return
		}
		// The header of a final text frame of 1 TiB, and a first byte.
		header := []byte{0x81, 127, 0, 0, 1, 0, 0, 0, 0, 0, '4'}
		if _, err := ws.NetConn().Write(header); err != nil {
			return
		}
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}))
	t.Cleanup(ts.Close)

	m := client.New(ts.URL, client.WithTransports(client.WebSocket), client.WithReconnection(false))
	t.Cleanup(func() { _ = m.Close() })
	s := m.Socket("/")
	reasons := make(chan string, 1)
	s.OnDisconnect(func(_ *client.Socket, reason string) { reasons <- reason })
	connect(t, s)
	assert.Equal(t, client.ReasonTransportError, recv(t, reasons, "disconnect"))
}
