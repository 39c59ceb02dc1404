package transport_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/transport"
	"github.com/vicinity-go/vicinity/transport/polling"
	wstransport "github.com/vicinity-go/vicinity/transport/websocket"
)

// v3Session echoes what its client sends and records what the server sees.
type v3Session struct {
	c        *transport.Conn
	upgrades chan string
	closes   chan string
}

func (s *v3Session) OnMessage(data []byte, binary bool) {
	s.c.Send(false, transport.Message(append([]byte(nil), data...), binary))
}
func (s *v3Session) OnUpgrade(name string)     { s.upgrades <- name }
func (s *v3Session) OnClose(reason string)     { s.closes <- reason }
func (s *v3Session) protocolIs(p int) bool     { return s.c.Protocol() == p }
func (s *v3Session) transportIs(n string) bool { return s.c.Transport() == n }

// TestEngineIOClientV3 drives engine.io-client 3.x, the engine of
// socket.io-client 2.x, against a server with WithAllowEIO3: open, upgrade,
// text and binary both ways, heartbeats, close.
func TestEngineIOClientV3(t *testing.T) {
	t.Parallel()
	node := requireNode(t)
	tests := []struct {
		mode      string
		open      string
		upgraded  string
		final     string
		transport string // the server's view at the end
	}{
		{"default", "polling", "websocket", "websocket", "websocket"},
		{"websocket", "websocket", "", "websocket", "websocket"},
		{"polling", "polling", "", "polling", "polling"},
		{"polling-b64", "polling", "", "polling", "polling"},
		{"default-b64", "polling", "websocket", "websocket", "websocket"},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			t.Parallel()
			sessions := make(chan *v3Session, 1)
			eng := transport.NewServer(func(c *transport.Conn) transport.Receiver {
				s := &v3Session{c: c, upgrades: make(chan string, 2), closes: make(chan string, 1)}
				sessions <- s
				return s
			},
				transport.WithTransports(polling.New(), wstransport.New()),
				transport.WithAllowEIO3(true),
				transport.WithPingInterval(50*time.Millisecond),
				transport.WithPingTimeout(2*time.Second))
			mux := http.NewServeMux()
			mux.Handle("/engine.io/", eng)
			srv := httptest.NewServer(mux)
			t.Cleanup(srv.Close)
			t.Cleanup(func() { _ = eng.Close() })

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, "eio3-client.js", srv.URL, tt.mode)
			cmd.Dir = nodeDir
			cmd.WaitDelay = 5 * time.Second
			out, err := cmd.Output()
			var stderr string
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			require.NoError(t, err, "node eio3-client.js %s: %s", tt.mode, stderr)

			var report struct {
				Open     string `json:"open"`
				Upgraded string `json:"upgraded"`
				Text     string `json:"text"`
				Binary   []int  `json:"binary"`
				Pongs    int    `json:"pongs"`
				Final    string `json:"final"`
				Closed   string `json:"closed"`
			}
			require.NoError(t, json.Unmarshal(out, &report), "report %q", out)
			assert.Equal(t, tt.open, report.Open, "the client opened on")
			assert.Equal(t, tt.upgraded, report.Upgraded, "the client upgraded to")
			assert.Equal(t, "hello €", report.Text)
			assert.Equal(t, []int{1, 2, 3, 255}, report.Binary)
			assert.Equal(t, 3, report.Pongs)
			assert.Equal(t, tt.final, report.Final, "the client's transport after the heartbeats")
			assert.Equal(t, "forced close", report.Closed, "the client's close reason")

			var s *v3Session
			select {
			case s = <-sessions:
			case <-time.After(wait):
				require.FailNow(t, "no session")
			}
			assert.True(t, s.protocolIs(3), "Conn.Protocol")
			select {
			case r := <-s.closes:
				assert.Equal(t, transport.ReasonTransportClose, r)
			case <-time.After(wait):
				require.FailNow(t, "the session did not close")
			}
			assert.True(t, s.transportIs(tt.transport), "the server's transport")
			var ups []string
			for len(s.upgrades) > 0 {
				ups = append(ups, <-s.upgrades)
			}
			if tt.upgraded != "" {
				assert.Equal(t, []string{tt.upgraded}, ups, "OnUpgrade")
			} else {
				assert.Empty(t, ups, "OnUpgrade")
			}
			assert.Empty(t, sessions, "one session")
		})
	}
}
