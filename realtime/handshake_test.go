package realtime_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/realtime"
)

// The handshake's JSON is the Node.js server's socket.handshake.
func TestHandshakeJSON(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 2, 23, 29, 8, 123e6, time.UTC)
	hs := realtime.Handshake{
		Headers: http.Header{"User-Agent": {"node", "again"}, "Accept": {"a", "b"}, "Cookie": {"x=1", "y=2"}, "Set-Cookie": {"s=1"}},
		Time:    at.In(time.FixedZone("CET", 3600)),
		Address: "127.0.0.1",
		URL:     "/socket.io/?EIO=4&transport=polling&t=x&k=1&k=2",
		Query:   url.Values{"EIO": {"4"}, "transport": {"polling"}, "t": {"x"}, "k": {"1", "2"}},
	}
	b, err := json.Marshal(hs)
	require.NoError(t, err)
	assert.JSONEq(t, `{
		"headers": {"user-agent": "node", "accept": "a, b", "cookie": "x=1; y=2", "set-cookie": ["s=1"]},
		"time": "Wed Dec 02 2026 23:29:08 GMT+0000 (Coordinated Universal Time)",
		"address": "127.0.0.1", "xdomain": false, "secure": false, "issued": 1796254148123,
		"url": "/socket.io/?EIO=4&transport=polling&t=x&k=1&k=2",
		"query": {"EIO": "4", "transport": "polling", "t": "x", "k": ["1", "2"]},
		"auth": {}}`, string(b))

	var back realtime.Handshake
	require.NoError(t, json.Unmarshal(b, &back))
	assert.True(t, at.Equal(back.Time), "issued gives the time: %v", back.Time)
	assert.Equal(t, "node", back.Headers.Get("User-Agent"))
	assert.Equal(t, []string{"s=1"}, back.Headers["Set-Cookie"])
	assert.Equal(t, hs.Query, back.Query)
	assert.Equal(t, `{}`, string(back.Auth))

	var bad realtime.Handshake
	assert.Error(t, json.Unmarshal([]byte(`{"headers":{"x":1}}`), &bad), "a header that is no string")
}

// What a socket's handshake holds, from a real request.
func TestHandshakeOfSocket(t *testing.T) {
	t.Parallel()
	srv := realtime.New()
	got := make(chan realtime.Handshake, 2)
	srv.OnConnection(func(s *realtime.Socket) { got <- *s.Handshake() })
	srv.Of("/a").OnConnection(func(s *realtime.Socket) { got <- *s.Handshake() })
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	before := time.Now()
	r.connect("/", "")
	main := recv(t, got) // the connection handlers of "/" and "/a" may run in either order
	r.connect("/a", `{"token":"t"}`)
	a := recv(t, got)
	assert.Equal(t, "127.0.0.1", main.Address, "the IP alone")
	assert.Equal(t, strings.TrimPrefix(ts.URL, "http://"), main.Headers.Get("Host"), "as in Node")
	assert.Equal(t, `{}`, string(main.Auth), "no auth is {}")
	assert.JSONEq(t, `{"token":"t"}`, string(a.Auth))
	assert.Equal(t, "4", main.Query.Get("EIO"))
	assert.True(t, strings.HasPrefix(main.URL, "/socket.io/?EIO=4"), main.URL)
	assert.False(t, main.XDomain)
	assert.False(t, main.Secure)
	assert.False(t, main.Time.Before(before.Add(-time.Second)), "the time of the namespace connect")
}
