package transport_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/transport"
)

// heartbeatTransports open a session over each transport and return the
// server side and how the client reads a packet and writes one.
var heartbeatTransports = []struct {
	name string
	open func(t *testing.T, h *harness) (s *session, read func(*testing.T) string, write func(*testing.T, string))
}{
	{"polling", func(t *testing.T, h *harness) (*session, func(*testing.T) string, func(*testing.T, string)) {
		sid, s := h.handshake(t)
		read := func(t *testing.T) string {
			r := h.get(t, sid)
			require.Equal(t, http.StatusOK, r.status, "GET: %s", r.body)
			return r.body
		}
		write := func(t *testing.T, pkt string) {
			r := h.post(t, sid, pkt)
			require.Equal(t, http.StatusOK, r.status, "POST: %s", r.body)
		}
		return s, read, write
	}},
	{"websocket", func(t *testing.T, h *harness) (*session, func(*testing.T) string, func(*testing.T, string)) {
		ws, s := h.handshakeWS(t)
		read := func(t *testing.T) string {
			_, data := readWS(t, ws)
			return string(data)
		}
		write := func(t *testing.T, pkt string) { writeWS(t, ws, websocket.TextMessage, pkt) }
		return s, read, write
	}},
}

func TestHeartbeatAnswered(t *testing.T) {
	t.Parallel()
	for _, tt := range heartbeatTransports {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// A generous timeout: the test is that answered pings keep the
			// session open, not how fast the client answers.
			h := newHarness(t, transport.WithPingInterval(20*time.Millisecond), transport.WithPingTimeout(2*time.Second))
			s, read, write := tt.open(t, h)
			for i := range 5 {
				require.Equal(t, "2", read(t), "ping %d", i)
				s.assertOpen(t)
				write(t, "3")
			}
			s.assertOpen(t)
		})
	}
}

func TestHeartbeatTimeout(t *testing.T) {
	t.Parallel()
	for _, tt := range heartbeatTransports {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, transport.WithPingInterval(20*time.Millisecond), transport.WithPingTimeout(20*time.Millisecond))
			s, _, _ := tt.open(t, h) // and never answers
			assert.Equal(t, transport.ReasonPingTimeout, s.closed(t))
			assertNoSessions(t, h)
		})
	}
}
