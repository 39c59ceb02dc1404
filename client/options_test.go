package client_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/client"
)

// TestOptionsAreUsed checks that the options handing the manager its
// plumbing (timeouts, HTTP client, dialer, logger) take effect.
func TestOptionsAreUsed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// setup returns the URL to connect to, the options under test, and
		// a check of Connect's error and of the option's effect; ctx is
		// Connect's context.
		setup func(t *testing.T, ts *httptest.Server) (url string, opts []client.Option, check func(ctx context.Context, err error))
	}{
		{
			name: "WithHandshakeTimeout",
			setup: func(t *testing.T, _ *httptest.Server) (string, []client.Option, func(context.Context, error)) {
				opts := []client.Option{client.WithHandshakeTimeout(50 * time.Millisecond), client.WithReconnection(false)}
				return mute(t), opts, func(ctx context.Context, err error) {
					// The default, 20s, would outlast Connect's context.
					require.Error(t, err, "connect to a server that never answers")
					assert.NoError(t, ctx.Err(), "Connect returned before its context ended")
					assert.ErrorIs(t, err, context.DeadlineExceeded)
					assert.ErrorContains(t, err, "client: handshake")
				}
			},
		},
		{
			name: "WithHTTPClient",
			setup: func(t *testing.T, ts *httptest.Server) (string, []client.Option, func(context.Context, error)) {
				tr := http.DefaultTransport.(*http.Transport).Clone()
				t.Cleanup(tr.CloseIdleConnections) // after the manager closes
				rt := &countingTransport{rt: tr}
				opts := []client.Option{client.WithHTTPClient(&http.Client{Transport: rt}), client.WithTransports(client.Polling)}
				return ts.URL, opts, func(_ context.Context, err error) {
					require.NoError(t, err)
					assert.Positive(t, rt.n.Load(), "requests through the given client")
				}
			},
		},
		{
			name: "WithDialer",
			setup: func(t *testing.T, ts *httptest.Server) (string, []client.Option, func(context.Context, error)) {
				var dials atomic.Int32
				d := &websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					dials.Add(1)
					return (&net.Dialer{}).DialContext(ctx, network, addr)
				}}
				opts := []client.Option{client.WithDialer(d), client.WithTransports(client.WebSocket)}
				return ts.URL, opts, func(_ context.Context, err error) {
					require.NoError(t, err)
					assert.Positive(t, dials.Load(), "connections dialed by the given dialer")
				}
			},
		},
		{
			name: "WithLogger",
			setup: func(t *testing.T, ts *httptest.Server) (string, []client.Option, func(context.Context, error)) {
				h := &recordingHandler{msgs: new(messages)}
				return ts.URL, []client.Option{client.WithLogger(slog.New(h))}, func(_ context.Context, err error) {
					require.NoError(t, err)
					// "open" is logged before the session is used, but
					// "connect" after Connect is woken: it may come a
					// little after Connect has returned.
					assert.Contains(t, h.msgs.get(), "open", "the session's opening is logged")
					assert.Eventually(t, func() bool { return slices.Contains(h.msgs.get(), "connect") },
						wait, time.Millisecond, "the socket's connection is logged: %v", h.msgs.get())
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, ts := serve(t)
			url, opts, check := tt.setup(t, ts)
			m := client.New(url, opts...)
			t.Cleanup(func() { _ = m.Close() }) // before the setup's cleanups
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			check(ctx, m.Socket("/").Connect(ctx))
		})
	}
}

// countingTransport counts the requests it passes on to rt.
type countingTransport struct {
	rt http.RoundTripper
	n  atomic.Int32
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.rt.RoundTrip(r)
}

// messages collects log messages from any goroutine.
type messages struct {
	mu   sync.Mutex
	msgs []string
}

func (m *messages) add(s string) {
	m.mu.Lock()
	m.msgs = append(m.msgs, s)
	m.mu.Unlock()
}

func (m *messages) get() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.msgs)
}

// recordingHandler is a slog.Handler keeping every record's message.
type recordingHandler struct{ msgs *messages }

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.msgs.add(r.Message)
	return nil
}

func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler      { return h }

// mute returns the URL of a server that accepts connections and never
// answers; they are closed when the test ends.
func mute(t *testing.T) string {
	t.Helper()
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() { // after serveTCP's: no connection comes any more
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return serveTCP(t, func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	})
}
