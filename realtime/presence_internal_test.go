package realtime

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/presence"
	"github.com/vicinity-go/vicinity/transport"
)

// presenceStates counts the sockets whose presence state h keeps.
func presenceStates(h *presenceHub) int {
	n := 0
	for i := range h.socks {
		sh := &h.socks[i]
		sh.mu.RLock()
		n += len(sh.socks)
		sh.mu.RUnlock()
	}
	return n
}

// noneJoining reports whether no socket is between its CONNECT and its
// registration in n.
func noneJoining(n *Namespace) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.joining == 0
}

// waitFor returns what comes on ch, or fails after 5s.
func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("no %s", what)
		panic("unreachable")
	}
}

// refuser is a feature that refuses every socket: one admitted after
// presence.
type refuser struct{}

func (refuser) admit(*Socket, *Session) error {
	return &ConnectError{Message: "refused"}
}
func (refuser) refused(*Socket)                        {}
func (refuser) connected(*Socket)                      {}
func (refuser) persisting(*Socket, *Session)           {}
func (refuser) joined(*Socket, string)                 {}
func (refuser) left(*Socket, string)                   {}
func (refuser) disconnected(*Socket, string, *Session) {}
func (refuser) dropped(*Namespace)                     {}
func (refuser) close()                                 {}

// The presence hub keeps a socket's state from Identify until the socket
// is refused, or has disconnected and run its disconnect handlers: nothing
// is left behind, whichever way the socket goes.
func TestPresenceStateIsDropped(t *testing.T) {
	t.Parallel()
	alice := func(*Socket) (string, presence.Meta, error) { return "alice", presence.Meta{}, nil }

	t.Run("disconnected", func(t *testing.T) {
		t.Parallel()
		srv := New(WithPresence(presence.New(), alice))
		defer srv.Close()
		keys := make(chan string, 1)
		srv.OnConnection(func(s *Socket) {
			s.OnDisconnect(func(s *Socket, _ string) { keys <- s.PresenceKey() })
		})
		s := openPolling(t, srv, 1)[0]
		assert.Equal(t, "alice", s.PresenceKey())
		require.Equal(t, 1, presenceStates(srv.presence))
		s.Disconnect(false)
		assert.Equal(t, "alice", waitFor(t, keys, "disconnect handler"), "the disconnect handlers have the key")
		require.Eventually(t, func() bool { return presenceStates(srv.presence) == 0 }, 5*time.Second, time.Millisecond,
			"states kept after the disconnect")
		assert.Empty(t, s.PresenceKey())
		assert.ErrorIs(t, s.UpdatePresence(func(*presence.Meta) {}), ErrNoPresence)
	})

	t.Run("refused by Identify", func(t *testing.T) {
		t.Parallel()
		identified := make(chan struct{}, 1)
		srv := New(WithPresence(presence.New(), func(*Socket) (string, presence.Meta, error) {
			defer func() { identified <- struct{}{} }()
			return "", presence.Meta{}, errors.New("who are you")
		}))
		defer srv.Close()
		sid := pollingHandshake(t, srv)
		pollingPost(t, srv, sid, "40")
		waitFor(t, identified, "Identify")
		require.Eventually(t, func() bool { return noneJoining(srv.Of("/")) }, 5*time.Second, time.Millisecond)
		assert.Zero(t, presenceStates(srv.presence))
	})

	t.Run("refused by a later feature", func(t *testing.T) {
		t.Parallel()
		srv := New(WithPresence(presence.New(), alice))
		defer srv.Close()
		srv.feats = append(srv.feats, refuser{})
		identified := make(chan struct{}, 1)
		srv.presence.cfg.identify = func(s *Socket) (string, presence.Meta, error) {
			defer func() { identified <- struct{}{} }()
			return alice(s)
		}
		sid := pollingHandshake(t, srv)
		pollingPost(t, srv, sid, "40")
		waitFor(t, identified, "Identify")
		require.Eventually(t, func() bool { return noneJoining(srv.Of("/")) }, 5*time.Second, time.Millisecond)
		assert.Zero(t, presenceStates(srv.presence))
		assert.Zero(t, srv.Of("/").Len())
	})

	t.Run("connection closed while identified", func(t *testing.T) {
		t.Parallel()
		gate, entered := make(chan struct{}), make(chan struct{})
		srv := New(WithPresence(presence.New(), func(s *Socket) (string, presence.Meta, error) {
			close(entered)
			<-gate
			return alice(s)
		}))
		defer srv.Close()
		sid := pollingHandshake(t, srv)
		pollingPost(t, srv, sid, "40")
		waitFor(t, entered, "Identify")
		pollingPost(t, srv, sid, "1") // the client closes
		close(gate)
		require.Eventually(t, func() bool { return noneJoining(srv.Of("/")) && srv.Of("/").Len() == 0 }, 5*time.Second, time.Millisecond)
		require.Eventually(t, func() bool { return presenceStates(srv.presence) == 0 }, 5*time.Second, time.Millisecond,
			"states kept after the connection closed")
	})

	t.Run("recovered", func(t *testing.T) {
		t.Parallel()
		srv := New(WithPresence(presence.New(), alice), WithRecovery(time.Minute, false))
		defer srv.Close()
		gone := make(chan string, 2)
		srv.OnConnection(func(s *Socket) {
			s.OnDisconnect(func(s *Socket, _ string) { gone <- s.PresenceKey() })
		})
		old := openPolling(t, srv, 1)[0]
		nsp := srv.Of("/")
		require.NoError(t, nsp.Emit("tick"))
		rec := nsp.adapter.(*MemoryAdapter).rec
		rec.mu.Lock()
		require.NotEmpty(t, rec.packets, "the broadcast logged")
		offset := rec.packets[len(rec.packets)-1].p.Offset
		rec.mu.Unlock()
		old.client.conn.CloseWithReason(transport.ReasonTransportError, false)
		// the session is kept before the disconnect handlers run
		assert.Equal(t, "alice", waitFor(t, gone, "disconnect handler"))
		s := openPollingAs(t, srv, 1, func(int) string { return `40{"pid":"` + old.pid + `","offset":"` + offset + `"}` })[0]
		require.True(t, s.recovered, "recovered")
		require.Equal(t, old.id, s.id, "the id of the socket it restores")
		require.Eventually(t, func() bool { return presenceStates(srv.presence) == 1 }, 5*time.Second, time.Millisecond,
			"the old socket's state kept")
		assert.Equal(t, "alice", s.PresenceKey(), "the recovered socket's key")
		assert.Empty(t, old.PresenceKey(), "the old socket's key")
		assert.NoError(t, s.UpdatePresence(func(m *presence.Meta) { m.Status = "away" }))
		s.Disconnect(false)
		require.Eventually(t, func() bool { return presenceStates(srv.presence) == 0 }, 5*time.Second, time.Millisecond,
			"states kept after the disconnect")
	})
}
