package realtime

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An idle connection keeps only what it needs (see BenchmarkIdleConnMemory):
// no connect timer once it joined a namespace, no binary packet
// reassembler before its first binary packet, no handshake, context or
// logger until asked for, its own room as a flag. Each is made when needed.
func TestIdleConnKeepsLittle(t *testing.T) {
	t.Parallel()
	srv := New()
	t.Cleanup(func() { _ = srv.Close() })
	got := make(chan []byte, 1)
	connected := make(chan *Socket, 1)
	srv.OnConnection(func(s *Socket) {
		s.On("bin", func(e *Event) {
			var b []byte
			_ = e.Bind(&b)
			got <- b
		})
		connected <- s
	})
	sid := pollingHandshake(t, srv)
	pollingPost(t, srv, sid, "40")
	var s *Socket
	select {
	case s = <-connected:
	case <-time.After(5 * time.Second):
		require.FailNow(t, "no connection")
	}
	c := s.client
	require.Eventually(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return len(c.sockets) == 1 }, 5*time.Second, time.Millisecond)

	c.mu.Lock()
	assert.Nil(t, c.timer, "connect timer once a namespace is joined")
	c.mu.Unlock()
	assert.Nil(t, c.reasm, "reassembler before a binary packet")
	assert.Nil(t, c.hs.Load(), "connection's handshake before Handshake")
	assert.Nil(t, s.hs.Load(), "socket's handshake before Handshake")
	s.mu.Lock()
	assert.Nil(t, s.ctx, "context before Context")
	assert.Len(t, s.handlers, 1)
	s.mu.Unlock()
	a := srv.Of("/").adapter.(*MemoryAdapter)
	rs := &a.rooms[shardOf(s.id)]
	rs.mu.RLock()
	assert.NotContains(t, rs.rooms, s.id, "no set for the socket's own room")
	rs.mu.RUnlock()
	assert.Equal(t, []string{s.id}, s.Rooms())

	hs := s.Handshake()
	assert.Same(t, hs, s.Handshake(), "made once")
	assert.Equal(t, []string{"polling"}, hs.Query["transport"])
	assert.Equal(t, emptyAuth, hs.Auth)
	assert.NotNil(t, c.hs.Load())

	pollingPost(t, srv, sid, `451-["bin",{"_placeholder":true,"num":0}]`+"\x1ebAQID")
	select {
	case b := <-got:
		assert.Equal(t, []byte{1, 2, 3}, b)
	case <-time.After(5 * time.Second):
		require.FailNow(t, "no binary event")
	}
	assert.NotNil(t, c.reasm, "reassembler after a binary packet")

	pollingPost(t, srv, sid, "41")
	require.Eventually(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.timer != nil }, 5*time.Second, time.Millisecond,
		"connect timer again once the last namespace left")
}

// A socket's context made after it disconnected is done at once.
func TestContextAfterDisconnect(t *testing.T) {
	t.Parallel()
	srv := New()
	t.Cleanup(func() { _ = srv.Close() })
	ctxs := make(chan context.Context, 1)
	srv.OnConnection(func(s *Socket) {
		s.OnDisconnect(func(s *Socket, _ string) { ctxs <- s.Context() })
	})
	sid := pollingHandshake(t, srv)
	pollingPost(t, srv, sid, "40")
	require.Eventually(t, func() bool { return srv.Of("/").Len() == 1 }, 5*time.Second, time.Millisecond)
	pollingPost(t, srv, sid, "41")
	select {
	case ctx := <-ctxs:
		assert.ErrorIs(t, ctx.Err(), context.Canceled)
	case <-time.After(5 * time.Second):
		require.FailNow(t, "no disconnect")
	}
}
