package transport_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/transport"
)

func TestPollingPost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want []message
	}{
		{"one", "4hello", []message{{"hello", false}}},
		{"two in order", "4hello\x1e4world", []message{{"hello", false}, {"world", false}}},
		{"empty message", "4", []message{{"", false}}},
		{"utf-8", "4€ é", []message{{"€ é", false}}},
		{"binary", "bAQID", []message{{"\x01\x02\x03", true}}},
		{"mixed", "4a\x1ebAQID\x1e4b", []message{{"a", false}, {"\x01\x02\x03", true}, {"b", false}}},
		{"noop is ignored", "6\x1e4a", []message{{"a", false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			sid, s := h.handshake(t)
			r := h.post(t, sid, tt.body)
			assert.Equal(t, http.StatusOK, r.status)
			assert.Equal(t, "ok", r.body)
			for _, want := range tt.want {
				assert.Equal(t, want, s.message(t), "POST %q", tt.body)
			}
			s.assertOpen(t)
		})
	}
}

func TestPollingGetBatches(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	sid, s := h.handshake(t)
	require.True(t, s.conn.Send(false, transport.Message([]byte("a"), false)))
	require.True(t, s.conn.Send(false, transport.Message([]byte("b"), false), transport.Message([]byte{1, 2, 3}, true)))
	require.True(t, s.conn.Send(true, transport.Message([]byte("c"), false)))
	r := h.get(t, sid)
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "4a\x1e4b\x1ebAQID\x1e4c", r.body)
	assert.Equal(t, "text/plain; charset=UTF-8", r.header.Get("Content-Type"))
	s.assertOpen(t)
}

func TestPollingPendingGet(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, s := h.handshake(t)
	res := h.pendingGet(t, context.Background(), s)
	require.True(t, s.conn.Send(false, transport.Message([]byte("late"), false)))
	r := <-res
	require.NoError(t, r.err)
	assert.Equal(t, "4late", r.body)
	s.assertOpen(t)
}

func TestPollingOverlappingGet(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	sid, s := h.handshake(t)
	first := h.pendingGet(t, context.Background(), s)

	// The second GET is refused with an empty 400, as by Node, which
	// closes the session and so answers the first with the close packet.
	r := h.get(t, sid)
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Empty(t, r.body)
	assert.Equal(t, transport.ReasonTransportError, s.closed(t))

	r = <-first
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "1", r.body)
	assertNoSessions(t, h)
}

func TestPollingOverlappingPost(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	inHandler, release := make(chan struct{}), make(chan struct{})
	h.hook = func(_ *session, m message) {
		if m.data == "block" {
			close(inHandler)
			<-release
		}
	}
	sid, s := h.handshake(t)
	first := make(chan response, 1)
	go func() {
		first <- h.do(context.Background(), http.MethodPost, query(sid), strings.NewReader("4block"), nil)
	}()
	select {
	case <-inHandler: // the first POST holds the session's POST slot
	case <-time.After(wait):
		require.FailNow(t, "first POST not delivered")
	}
	r := h.post(t, sid, "4second")
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Equal(t, transport.ReasonTransportError, s.conn.Reason())
	close(release) // OnClose waits for the OnMessage in progress
	assert.Equal(t, transport.ReasonTransportError, s.closed(t))
	r = <-first
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, message{"block", false}, s.message(t))
	select {
	case m := <-s.msgs:
		assert.Fail(t, "message after the refused POST", "%v", m)
	default:
	}
}

func TestPollingMaxPayload(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    io.Reader
		length  int64 // 0: known from body; -1: chunked
		status  int
		reason  string
		message string
	}{
		{name: "at limit", body: strings.NewReader("4123456789"), status: 200, message: "123456789"},
		{name: "over limit", body: strings.NewReader("41234567890"), status: 413, reason: transport.ReasonTransportError},
		{name: "over limit chunked", body: io.MultiReader(strings.NewReader("4123456789"), strings.NewReader("0")), length: -1, status: 413, reason: transport.ReasonTransportError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, transport.WithMaxPayload(10))
			sid, s := h.handshake(t)
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url(query(sid)), tt.body)
			require.NoError(t, err)
			if tt.length != 0 {
				req.ContentLength = tt.length
			}
			res, err := h.client.Do(req)
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
			assert.Equal(t, tt.status, res.StatusCode)
			if tt.reason != "" {
				assert.Equal(t, tt.reason, s.closed(t))
				return
			}
			assert.Equal(t, message{tt.message, false}, s.message(t))
			s.assertOpen(t)
		})
	}
}

func TestPollingBadPayload(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		body   string
		status int
		reason string
	}{
		{"empty", "", 400, transport.ReasonParseError},
		{"unknown type", "9", 400, transport.ReasonParseError},
		{"not a packet", "hello", 400, transport.ReasonParseError},
		{"trailing separator", "4a\x1e", 400, transport.ReasonParseError},
		{"empty record", "4a\x1e\x1e4b", 400, transport.ReasonParseError},
		{"bad base64", "b!!!", 400, transport.ReasonParseError},
		{"invalid UTF-8", "4caf\xe9", 400, transport.ReasonParseError},
		{"invalid UTF-8 after a message", "4a\x1e4\xed\xa0\x80", 400, transport.ReasonParseError},
		{"too many packets", strings.Repeat("4\x1e", 1024) + "4", 400, transport.ReasonParseError},
		{"open from client", "0", 200, transport.ReasonParseError},
		{"ping from client", "2", 200, transport.ReasonTransportError}, // Node: "invalid heartbeat direction"
		{"upgrade over polling", "5", 200, transport.ReasonParseError},
		{"close", "1", 200, transport.ReasonTransportClose},
		{"close after message", "4a\x1e1\x1e4b", 200, transport.ReasonTransportClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			sid, s := h.handshake(t)
			r := h.post(t, sid, tt.body)
			assert.Equal(t, tt.status, r.status, "POST %q: %s", tt.body, r.body)
			assert.Equal(t, tt.reason, s.closed(t), "POST %q", tt.body)
			assert.Equal(t, tt.reason, s.conn.Reason())
			if n := h.eng.Len(); n != 0 {
				t.Errorf("DEBUG Len=%d extra sessions=%d", n, len(h.sessions))
				for len(h.sessions) > 0 {
					x := <-h.sessions
					t.Errorf("DEBUG extra %s (ours %s) url=%s", x.conn.ID(), sid, x.conn.Request().URL)
				}
			}
			assertForgotten(t, h, sid)
		})
	}
}

func TestPollingMessagesBeforeClose(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	sid, s := h.handshake(t)
	h.post(t, sid, "4a\x1e1\x1e4b")
	assert.Equal(t, message{"a", false}, s.message(t))
	assert.Equal(t, transport.ReasonTransportClose, s.closed(t))
	select {
	case m := <-s.msgs:
		assert.Fail(t, "message after close packet", "%v", m)
	default:
	}
}

func TestPollingClientGoesAway(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, s := h.handshake(t)
	ctx, cancel := context.WithCancel(context.Background())
	res := h.pendingGet(t, ctx, s)
	cancel()
	r := <-res
	require.ErrorIs(t, r.err, context.Canceled)
	assert.Equal(t, transport.ReasonTransportError, s.closed(t), "as Node's \"poll connection closed prematurely\"")
	assertNoSessions(t, h)
}

func TestPollingServerClose(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		pending bool   // a GET waits when Close is called
		send    string // sent before Close
		want    string
	}{
		{name: "pending GET", pending: true, want: "1"},
		{name: "next GET", send: "last", want: "4last"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			sid, s := h.handshake(t)
			if tt.send != "" {
				require.True(t, s.conn.Send(false, transport.Message([]byte(tt.send), false)))
			}
			var r response
			if tt.pending {
				res := h.pendingGet(t, context.Background(), s)
				s.conn.Close()
				r = <-res
				require.NoError(t, r.err)
			} else {
				s.conn.Close()
				r = h.get(t, sid)
			}
			assert.Equal(t, tt.want, r.body)
			if tt.send != "" {
				assert.Equal(t, "6\x1e1", h.get(t, sid).body, "a noop and the close packet, as from Node")
			}
			assert.Equal(t, transport.ReasonForcedClose, s.closed(t))
			assert.False(t, s.conn.Send(false, transport.Message([]byte("x"), false)), "Send after Close")
			assertNoSessions(t, h)
			assertForgotten(t, h, sid)
		})
	}
}

// CloseWithReason without grace drops the queue and forgets the session.
func TestPollingCloseWithReason(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	sid, s := h.handshake(t)
	require.True(t, s.conn.Send(false, transport.Message([]byte("dropped"), false)))
	s.conn.CloseWithReason("kicked", false)
	assert.Equal(t, "kicked", s.closed(t))
	assert.Equal(t, "kicked", s.conn.Reason())
	select {
	case <-s.conn.Done():
	default:
		assert.Fail(t, "Done not closed")
	}
	assertNoSessions(t, h)
	assertForgotten(t, h, sid)
}

// A GET held open longer than the http.Server's WriteTimeout is still
// answered: the transport sets its own write deadline when it answers.
func TestPollingOutlivesServerWriteTimeout(t *testing.T) {
	t.Parallel()
	h := newHarnessHTTP(t, func(srv *http.Server) { srv.WriteTimeout = 50 * time.Millisecond },
		transport.WithPingInterval(250*time.Millisecond), transport.WithPingTimeout(wait))
	sid, s := h.handshake(t)
	r := h.get(t, sid) // answered by the first ping, after the server's timeout
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "2", r.body)
	s.assertOpen(t)
}
