package transport_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/transport"
)

func TestSendQueue(t *testing.T) {
	t.Parallel()
	msg := func(n int) transport.Packet { return transport.Message([]byte(strings.Repeat("x", n)), false) }
	tests := []struct {
		name          string
		frames, bytes int
		fill          []transport.Packet // queued while there is room
		over          transport.Packet   // does not fit
	}{
		{"frames", 4, 1 << 20, []transport.Packet{msg(1), msg(1), msg(1), msg(1)}, msg(1)},
		{"bytes", 100, 10, []transport.Packet{msg(4), msg(4)}, msg(1)}, // 5+5 bytes queued
		{"one big packet behind another", 100, 10, []transport.Packet{msg(0)}, msg(10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, transport.WithSendQueue(tt.frames, tt.bytes))
			sid, s := h.handshake(t) // and no GET: nothing drains the queue
			for i, p := range tt.fill {
				require.True(t, s.conn.Send(false, p), "packet %d", i)
			}
			assert.False(t, s.conn.Send(true, tt.over), "volatile send over the limit")
			s.assertOpen(t)

			assert.False(t, s.conn.Send(false, tt.over), "send over the limit")
			assert.Equal(t, transport.ReasonSlowClient, s.closed(t))
			assert.Equal(t, transport.ReasonSlowClient, s.conn.Reason())
			assertNoSessions(t, h)
			assertForgotten(t, h, sid)
		})
	}
}

// A Send of several packets is queued whole or not at all.
func TestSendQueueAllOrNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.WithSendQueue(3, 1<<20))
	sid, s := h.handshake(t)
	a, b := transport.Message([]byte("a"), false), transport.Message([]byte("b"), false)
	require.True(t, s.conn.Send(false, a, b))
	assert.False(t, s.conn.Send(true, a, b))
	assert.Equal(t, "4a\x1e4b", h.get(t, sid).body)
	require.True(t, s.conn.Send(false, a, b, a), "the queue is empty again")
	s.assertOpen(t)
}

// An empty queue takes one send whatever its size: the limits bound the
// backlog, not what the application chooses to send at once.
func TestSendQueueEmptyTakesAnyBatch(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.WithSendQueue(2, 10))
	sid, s := h.handshake(t)
	a := transport.Message([]byte("a"), false)
	big := transport.Message([]byte(strings.Repeat("x", 20)), false)
	require.True(t, s.conn.Send(false, a, a, a), "more packets than the limit")
	assert.False(t, s.conn.Send(true, a), "a volatile send behind it")
	assert.Equal(t, "4a\x1e4a\x1e4a", h.get(t, sid).body)
	require.True(t, s.conn.Send(true, big), "more bytes than the limit, volatile")
	assert.Equal(t, "4"+strings.Repeat("x", 20), h.get(t, sid).body)
	require.True(t, s.conn.Send(false, big), "more bytes than the limit")
	s.assertOpen(t)
	assert.False(t, s.conn.Send(false, a), "a send behind an oversized one")
	assert.Equal(t, transport.ReasonSlowClient, s.closed(t))
}

// Shutdown delivers what is queued, then closes: the WebSocket client reads
// every packet and then the close frame.
func TestShutdownWebSocket(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ws, s := h.handshakeWS(t)
	ws2, s2 := h.handshakeWS(t)
	want := []string{"4one", "4two", "4three"}
	for _, m := range want {
		require.True(t, s.conn.Send(false, transport.Message([]byte(m[1:]), false)))
	}

	done := make(chan error, 1)
	go func() { done <- h.eng.Shutdown(context.Background()) }()
	for _, m := range want {
		_, data := readWS(t, ws)
		assert.Equal(t, m, string(data))
	}
	for _, c := range []*websocket.Conn{ws, ws2} {
		err := readWSErr(t, c)
		assert.True(t, websocket.IsCloseError(err, websocket.CloseNoStatusReceived), "got %v", err)
	}
	require.NoError(t, <-done)
	assertNoSessions(t, h)
	assert.Equal(t, transport.ReasonServerShutdown, s.closed(t))
	assert.Equal(t, transport.ReasonServerShutdown, s2.closed(t))

	assertRefused(t, h)
	assert.ErrorIs(t, h.eng.Shutdown(context.Background()), transport.ErrServerClosed)
	assert.ErrorIs(t, h.eng.Close(), transport.ErrServerClosed)
}

// Shutdown answers a pending GET with the close packet, and waits for a
// polling client to come back for what is queued.
func TestShutdownPolling(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		pending bool   // a GET waits when Shutdown begins
		queued  string // queued when Shutdown begins
		want    string // the GET's answer
	}{
		{name: "pending GET", pending: true, want: "1"},
		{name: "queued", queued: "last", want: "4last"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			sid, s := h.handshake(t)
			var pending <-chan response
			if tt.pending {
				pending = h.pendingGet(t, context.Background(), s)
			}
			if tt.queued != "" {
				require.True(t, s.conn.Send(false, transport.Message([]byte(tt.queued), false)))
			}
			done := make(chan error, 1)
			go func() { done <- h.eng.Shutdown(context.Background()) }()
			assert.Equal(t, transport.ReasonServerShutdown, s.closed(t))
			var r response
			if tt.pending {
				r = <-pending
			} else {
				r = h.get(t, sid)
			}
			require.NoError(t, r.err)
			assert.Equal(t, tt.want, r.body)
			if tt.queued != "" {
				assert.Equal(t, "6\x1e1", h.get(t, sid).body, "a noop and the close packet, as from Node")
			}
			require.NoError(t, <-done)
			assertNoSessions(t, h)
			assertRefused(t, h)
		})
	}
}

// When ctx ends first, Shutdown closes what remains at once.
func TestShutdownContext(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	sid, s := h.handshake(t) // a polling client that never comes back
	require.True(t, s.conn.Send(false, transport.Message([]byte("lost"), false)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, h.eng.Shutdown(ctx), context.Canceled)
	assert.Equal(t, transport.ReasonServerShutdown, s.closed(t))
	assertNoSessions(t, h)
	assertForgotten(t, h, sid)
	assertRefused(t, h)
}

func TestClose(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ws, s := h.handshakeWS(t)
	_, s2 := h.handshake(t)
	pending := h.pendingGet(t, context.Background(), s2)

	require.NoError(t, h.eng.Close())
	assert.Equal(t, transport.ReasonServerShutdown, s.closed(t))
	assert.Equal(t, transport.ReasonServerShutdown, s2.closed(t))
	assert.Error(t, readWSErr(t, ws))
	r := <-pending
	require.NoError(t, r.err)
	assert.Equal(t, "1", r.body)
	assertNoSessions(t, h)
	assertRefused(t, h)
	assert.ErrorIs(t, h.eng.Close(), transport.ErrServerClosed)
	assert.ErrorIs(t, h.eng.Shutdown(context.Background()), transport.ErrServerClosed)
}

// Close during a Shutdown that waits for a client still closes it at once.
func TestCloseDuringShutdown(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, s := h.handshake(t) // polling, no GET: Shutdown would wait for it
	done := make(chan error, 1)
	go func() { done <- h.eng.Shutdown(context.Background()) }()
	assert.Equal(t, transport.ReasonServerShutdown, s.closed(t))
	assert.ErrorIs(t, h.eng.Close(), transport.ErrServerClosed)
	assert.NoError(t, <-done)
	assertNoSessions(t, h)
}

// Close during a Shutdown that waits for a WebSocket client to answer the
// close frame (its session has written its last packets and left the
// server) closes the socket at once.
func TestCloseDuringShutdownWebSocket(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.WithWriteTimeout(time.Hour))
	ws, s := h.handshakeWS(t) // and never reads: the close frame goes unanswered
	done := make(chan error, 1)
	go func() { done <- h.eng.Shutdown(context.Background()) }()
	assert.Equal(t, transport.ReasonServerShutdown, s.closed(t))
	require.Eventually(t, func() bool { return h.eng.Len() == 0 }, wait, time.Millisecond, "the session leaves once its close frame is written")
	assert.ErrorIs(t, h.eng.Close(), transport.ErrServerClosed)
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(wait):
		require.FailNow(t, "Shutdown still waits for the WebSocket")
	}
	assert.Error(t, readWSErr(t, ws))
}

// assertRefused checks that new handshakes get HTTP 503.
func assertRefused(t *testing.T, h *harness) {
	t.Helper()
	r := h.do(context.Background(), http.MethodGet, "EIO=4&transport=polling", nil, nil)
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusServiceUnavailable, r.status)
	var e engineError
	require.NoError(t, json.Unmarshal([]byte(r.body), &e), "body %q", r.body)
	assert.Equal(t, transport.ErrServerClosed.Error(), e.Message)

	d := websocket.Dialer{HandshakeTimeout: wait}
	_, res, err := d.Dial(h.wsURL("EIO=4&transport=websocket"), nil)
	require.ErrorIs(t, err, websocket.ErrBadHandshake)
	_ = res.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
}

// A session closed gracefully whose transport then fails (its client went
// away first) has no writer left to take its last packets: it leaves the
// server at once, and Shutdown does not wait a ping timeout for it.
func TestGracefulCloseThenTransportFails(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.WithPingTimeout(time.Minute))
	sid, s := h.handshake(t)
	require.True(t, s.conn.Send(false, transport.Message([]byte("last"), false)))
	s.conn.Close()
	assert.Equal(t, []string{sid}, transport.SessionIDs(h.eng), "kept for its last packets")
	s.conn.Fail(transport.ReasonTransportError)
	assertNoSessions(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, h.eng.Shutdown(ctx))
	assert.Equal(t, transport.ReasonForcedClose, s.closed(t), "one OnClose, with the first reason")
}

// A session whose writer has taken nothing for the stall timeout while
// StallBacklog packets wait is closed as a slow client (a volatile send is
// dropped first); one with fewer packets waiting, or waiting for less long,
// is not, and a burst into a session that was idle for long is taken whole.
func TestStallTimeout(t *testing.T) {
	t.Parallel()
	const stall = 200 * time.Millisecond
	msg := transport.Message([]byte("x"), false)
	fill := func(t *testing.T, s *session, n int) {
		for i := range n {
			require.True(t, s.conn.Send(false, msg), "packet %d", i)
		}
	}

	t.Run("stalled", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, transport.WithStallTimeout(stall))
		_, s := h.handshake(t) // and no GET: nothing takes from the queue
		fill(t, s, transport.StallBacklog)
		time.Sleep(stall + 50*time.Millisecond)
		assert.False(t, s.conn.Send(true, msg), "a volatile send to a stalled session")
		s.assertOpen(t)
		assert.False(t, s.conn.Send(false, msg), "a send to a stalled session")
		assert.Equal(t, transport.ReasonSlowClient, s.closed(t))
	})
	t.Run("few packets waiting", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, transport.WithStallTimeout(stall))
		_, s := h.handshake(t)
		fill(t, s, transport.StallBacklog-2)
		time.Sleep(stall + 50*time.Millisecond)
		assert.True(t, s.conn.Send(false, msg), "one packet short of the backlog")
		s.assertOpen(t)
	})
	t.Run("idle, then a burst", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, transport.WithStallTimeout(stall))
		sid, s := h.handshake(t)
		require.True(t, s.conn.Send(false, msg))
		assert.Equal(t, "4x", h.get(t, sid).body, "taken: the queue is empty")
		time.Sleep(stall + 50*time.Millisecond) // idle, nothing waiting
		fill(t, s, 2*transport.StallBacklog)
		s.assertOpen(t)
	})
	t.Run("off", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, transport.WithStallTimeout(0))
		_, s := h.handshake(t)
		fill(t, s, transport.StallBacklog)
		time.Sleep(stall + 50*time.Millisecond)
		assert.True(t, s.conn.Send(false, msg))
		s.assertOpen(t)
	})
}
