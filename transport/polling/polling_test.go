package polling_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
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
	eng := transport.NewServer(func(c *transport.Conn) transport.Receiver { return echo{c} },
		transport.WithTransports(polling.New()))
	srv := httptest.NewServer(eng)
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
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var rd io.Reader
	if method == http.MethodPost {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, cl.url, rd)
	require.NoError(cl.tb, err)
	res, err := cl.http.Do(req)
	require.NoError(cl.tb, err, "%s %q", method, body)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(cl.tb, err)
	require.Equal(cl.tb, http.StatusOK, res.StatusCode, "%s %q: %s", method, body, b)
	return string(b)
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
