package transport_test

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/vicinity-go/vicinity/transport"
	"github.com/vicinity-go/vicinity/transport/polling"
)

type nopReceiver struct{}

func (nopReceiver) OnMessage([]byte, bool) {}
func (nopReceiver) OnClose(string)         {}

func nopServer(t *testing.T, opts ...transport.Option) *transport.Server {
	t.Helper()
	eng := transport.NewServer(func(*transport.Conn) transport.Receiver { return nopReceiver{} },
		append([]transport.Option{transport.WithTransports(polling.New())}, opts...)...)
	t.Cleanup(func() { _ = eng.Close() })
	return eng
}

// The origin policy compares scheme, host and port, and trusts a
// same-origin request by its Host header only for hosts DNS rebinding
// cannot forge.
func TestOriginPolicy(t *testing.T) {
	t.Parallel()
	listed := transport.WithAllowedOrigins("https://chat.example.com", "http://app.example:8080/")
	tests := []struct {
		name   string
		opts   []transport.Option
		host   string
		tls    bool
		proto  string // X-Forwarded-Proto
		origin string
		ok     bool
	}{
		{name: "no origin", host: "chat.example.com", ok: true},
		{name: "same origin by IP", host: "127.0.0.1:8080", origin: "http://127.0.0.1:8080", ok: true},
		{name: "same origin by IPv6", host: "[::1]:8080", origin: "http://[::1]:8080", ok: true},
		{name: "same origin localhost", host: "localhost:3000", origin: "http://localhost:3000", ok: true},
		{name: "same origin sub.localhost", host: "app.localhost", origin: "http://APP.localhost:80", ok: true},
		{name: "same origin by name is DNS rebinding", host: "evil.example:8080", origin: "http://evil.example:8080"},
		{name: "same origin by name listed", opts: []transport.Option{listed}, host: "chat.example.com", tls: true, origin: "https://chat.example.com", ok: true},
		{name: "scheme differs from TLS", host: "127.0.0.1", tls: true, origin: "http://127.0.0.1"},
		{name: "https origin over plain http", host: "127.0.0.1", origin: "https://127.0.0.1"},
		{name: "https behind a proxy", host: "127.0.0.1", proto: "https", origin: "https://127.0.0.1", ok: true},
		{name: "http page behind an https proxy", host: "127.0.0.1", proto: "https", origin: "http://127.0.0.1"},
		{name: "port differs", host: "127.0.0.1:8080", origin: "http://127.0.0.1:8081"},
		{name: "default port written", host: "127.0.0.1", origin: "http://127.0.0.1:80", ok: true},
		{name: "listed", opts: []transport.Option{listed}, host: "api.example.com", origin: "https://chat.example.com", ok: true},
		{name: "listed, case and default port", opts: []transport.Option{listed}, host: "api.example.com", origin: "HTTPS://Chat.Example.com:443", ok: true},
		{name: "listed with trailing slash", opts: []transport.Option{listed}, host: "api.example.com", origin: "http://app.example:8080", ok: true},
		{name: "listed host, other scheme", opts: []transport.Option{listed}, host: "api.example.com", origin: "http://chat.example.com"},
		{name: "listed host, other port", opts: []transport.Option{listed}, host: "api.example.com", origin: "https://chat.example.com:8443"},
		{name: "listed as a suffix", opts: []transport.Option{listed}, host: "api.example.com", origin: "https://evilchat.example.com"},
		{name: "null origin", host: "127.0.0.1", origin: "null"},
		{name: "file origin", host: "127.0.0.1", origin: "file://127.0.0.1"},
		{name: "origin with a path", host: "127.0.0.1", origin: "http://127.0.0.1/x"},
		{name: "any", opts: []transport.Option{transport.WithAllowedOrigins("*")}, host: "api.example.com", origin: "https://evil.example", ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			eng := nopServer(t, tt.opts...)
			r := httptest.NewRequest(http.MethodGet, "/engine.io/?EIO=4&transport=polling", nil)
			r.Host = tt.host
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if tt.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			w := httptest.NewRecorder()
			eng.ServeHTTP(w, r)
			if tt.ok {
				assert.Equal(t, http.StatusOK, w.Code, "origin %q, host %q: %s", tt.origin, tt.host, w.Body)
				assert.Equal(t, 1, eng.Len())
				return
			}
			assert.Equal(t, http.StatusForbidden, w.Code, "origin %q, host %q: %s", tt.origin, tt.host, w.Body)
			assert.JSONEq(t, `{"code":4,"message":"Forbidden"}`, w.Body.String())
			assert.Zero(t, eng.Len(), "no session for a refused origin")
		})
	}
}

func TestAllowedOriginsPanics(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"chat.example.com", "https://chat.example.com/app", "null", "ws://x.example"} {
		assert.PanicsWithValue(t, `transport: WithAllowedOrigins: "`+bad+`" is not an origin (http or https://host[:port])`,
			func() { nopServer(t, transport.WithAllowedOrigins(bad)) }, "origin %q", bad)
	}
}

// A handshake beyond WithMaxSessions gets 503 and creates nothing; a
// session that closes makes room.
func TestMaxSessions(t *testing.T) {
	t.Parallel()
	var conns []*transport.Conn
	eng := transport.NewServer(func(c *transport.Conn) transport.Receiver {
		conns = append(conns, c)
		return nopReceiver{}
	}, transport.WithTransports(polling.New()), transport.WithMaxSessions(2))
	t.Cleanup(func() { _ = eng.Close() })
	handshake := func() *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		eng.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/engine.io/?EIO=4&transport=polling", nil))
		return w
	}
	for range 2 {
		assert.Equal(t, http.StatusOK, handshake().Code)
	}
	w := handshake()
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.JSONEq(t, `{"code":3,"message":"Server full"}`, w.Body.String())
	assert.Equal(t, 2, eng.Len())
	assert.Len(t, conns, 2, "the Handler is not called for a refused handshake")

	conns[0].CloseWithReason(transport.ReasonForcedClose, false)
	assert.Equal(t, http.StatusOK, handshake().Code, "a closed session makes room")
	assert.Equal(t, 2, eng.Len())
	assert.PanicsWithValue(t, "transport: WithMaxSessions: must be positive, got 0", func() {
		transport.NewServer(func(*transport.Conn) transport.Receiver { return nil }, transport.WithTransports(polling.New()), transport.WithMaxSessions(0))
	})
}
