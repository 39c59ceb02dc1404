package polling_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/transport"
	"github.com/vicinity-go/vicinity/transport/polling"
)

// echo sends every message back to its client.
type echo struct{ c *transport.Conn }

func (e echo) OnMessage(data []byte, binary bool) {
	e.c.Send(false, transport.Message(data, binary))
}

func (echo) OnClose(string) {}

// client is an Engine.IO long-polling client of an echo server.
type client struct {
	tb   testing.TB
	http *http.Client
	url  string
	sid  string
}

func newClient(tb testing.TB) *client {
	tb.Helper()
	return newClientOf(tb, func(h http.Handler) http.Handler { return h })
}

// newClientOf is newClient with the echo server's handler wrapped by wrap.
func newClientOf(tb testing.TB, wrap func(http.Handler) http.Handler) *client {
	tb.Helper()
	eng := transport.NewServer(func(c *transport.Conn) transport.Receiver { return echo{c} },
		transport.WithTransports(polling.New()))
	srv := httptest.NewServer(wrap(eng))
	tb.Cleanup(srv.Close)
	tb.Cleanup(func() { _ = eng.Close() })
	cl := &client{tb: tb, http: srv.Client(), url: srv.URL + "/?EIO=4&transport=polling"}
	body := cl.do(http.MethodGet, "")
	var open struct{ SID string }
	require.True(tb, strings.HasPrefix(body, "0"), "handshake %q", body)
	require.NoError(tb, json.Unmarshal([]byte(body[1:]), &open), "handshake %q", body)
	require.NotEmpty(tb, open.SID, "handshake %q", body)
	cl.sid = open.SID
	cl.url += "&sid=" + cl.sid
	return cl
}

func (cl *client) do(method, body string) string {
	status, text, err := cl.send(method, body)
	require.NoError(cl.tb, err, "%s %q", method, body)
	require.Equal(cl.tb, http.StatusOK, status, "%s %q: %s", method, body, text)
	return text
}

// send is do without the checks, for use off the test's goroutine.
func (cl *client) send(method, body string) (status int, text string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var rd io.Reader
	if method == http.MethodPost {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, cl.url, rd)
	if err != nil {
		return 0, "", err
	}
	res, err := cl.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}

func TestEcho(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		post string
		want string
	}{
		{"text", "4hello", "4hello"},
		{"batch", "4a\x1e4b\x1e4c", "4a\x1e4b\x1e4c"},
		{"binary", "bAQID", "bAQID"},
		{"mixed", "4a\x1ebAQID", "4a\x1ebAQID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cl := newClient(t)
			assert.Equal(t, "ok", cl.do(http.MethodPost, tt.post))
			assert.Equal(t, tt.want, cl.do(http.MethodGet, ""), "echo of %q", tt.post)
		})
	}
}

// hookWriter runs hook before the first byte of a response body is written.
type hookWriter struct {
	http.ResponseWriter
	hook func()
}

func (w *hookWriter) Write(b []byte) (int, error) {
	if w.hook != nil {
		w.hook()
		w.hook = nil
	}
	return w.ResponseWriter.Write(b)
}

// TestNextRequestWhileAnswering sends the next GET and POST while the
// server is writing the answer to the previous one, as a client may once it
// has read a large answer that went out before its handler returned: the
// server must take them, not refuse them as overlapping.
func TestNextRequestWhileAnswering(t *testing.T) {
	t.Parallel()
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			var cl *client
			var armed atomic.Bool
			var next string // the answer to the request sent during the write
			posted := make(chan string, 1)
			answer := func(method, body string) string {
				status, text, err := cl.send(method, body)
				if err != nil || status != http.StatusOK {
					return fmt.Sprintf("%d %s %v", status, text, err)
				}
				return text
			}
			cl = newClientOf(t, func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method == method && armed.CompareAndSwap(true, false) {
						w = &hookWriter{ResponseWriter: w, hook: func() {
							if method == http.MethodPost {
								next = answer(http.MethodPost, "4second")
								return
							}
							got := make(chan string)
							go func() { got <- answer(http.MethodGet, "") }()
							// A client's next POST follows the answer to
							// its last one.
							assert.Equal(t, "ok", <-posted)
							// The GET is held until there is something to send.
							assert.Equal(t, "ok", answer(http.MethodPost, "4second"))
							next = <-got
						}}
					}
					h.ServeHTTP(w, r)
				})
			})
			armed.Store(true)
			if method == http.MethodPost {
				assert.Equal(t, "ok", cl.do(http.MethodPost, "4first"))
				assert.Equal(t, "ok", next)
				assert.Equal(t, "4first\x1e4second", cl.do(http.MethodGet, ""))
				return
			}
			go func() { posted <- answer(http.MethodPost, "4first") }()
			assert.Equal(t, "4first", cl.do(http.MethodGet, ""))
			assert.Equal(t, "4second", next)
		})
	}
}

func TestTransport(t *testing.T) {
	t.Parallel()
	p := polling.New()
	assert.Equal(t, "polling", p.Name())
	assert.False(t, p.Upgradable())
}

func BenchmarkPollingRoundTrip(b *testing.B) {
	cl := newClient(b)
	const payload = `4` + `42["move",{"lat":48.8566,"lng":2.3522}]`
	b.ReportAllocs()
	for b.Loop() {
		cl.do(http.MethodPost, payload)
		if got := cl.do(http.MethodGet, ""); got != payload {
			b.Fatalf("GET %q, want %q", got, payload)
		}
	}
}
