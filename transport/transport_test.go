package transport_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/transport"
	"github.com/vicinity-go/vicinity/transport/polling"
	wstransport "github.com/vicinity-go/vicinity/transport/websocket"
)

// wait bounds every wait for something the server is expected to do.
const wait = 5 * time.Second

type message struct {
	data   string
	binary bool
}

// session records what the server's Receiver gets for one Conn.
type session struct {
	conn   *transport.Conn
	msgs   chan message
	closes chan string
	hook   func(m message)
}

func (s *session) OnMessage(data []byte, binary bool) {
	m := message{string(data), binary}
	if s.hook != nil {
		s.hook(m)
	}
	select {
	case s.msgs <- m:
	default:
		panic("test receiver: message buffer full")
	}
}

func (s *session) OnClose(reason string) {
	select {
	case s.closes <- reason:
	default:
		panic("test receiver: OnClose called twice")
	}
}

// message waits for the next message the client sent.
func (s *session) message(t *testing.T) message {
	t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-time.After(wait):
		require.FailNow(t, "no message")
		return message{}
	}
}

// closed waits for the session to close and returns the reason.
func (s *session) closed(t *testing.T) string {
	t.Helper()
	select {
	case r := <-s.closes:
		return r
	case <-time.After(wait):
		require.FailNow(t, "session did not close")
		return ""
	}
}

// assertOpen checks that the session has not closed so far.
func (s *session) assertOpen(t *testing.T) {
	t.Helper()
	select {
	case r := <-s.closes:
		assert.Fail(t, "session closed", "reason %q", r)
	default:
	}
	assert.Empty(t, s.conn.Reason())
}

// harness is an Engine.IO server on 127.0.0.1 with a recording Handler.
type harness struct {
	eng      *transport.Server
	srv      *httptest.Server
	client   *http.Client
	sessions chan *session
	// hook, if set before the first handshake, runs in each OnMessage.
	hook func(s *session, m message)
	// onOpen, if set before the first handshake, runs in the Handler.
	onOpen func(c *transport.Conn) transport.Receiver
}

// newHarness starts a server with both transports and the given options
// (which may replace the transports). The server is closed when the test
// ends.
func newHarness(t *testing.T, opts ...transport.Option) *harness {
	t.Helper()
	return newHarnessHTTP(t, nil, opts...)
}

// newHarnessHTTP is newHarness with a hook to configure the http.Server.
func newHarnessHTTP(t *testing.T, configure func(*http.Server), opts ...transport.Option) *harness {
	t.Helper()
	h := &harness{sessions: make(chan *session, 16)}
	opts = append([]transport.Option{transport.WithTransports(polling.New(), wstransport.New())}, opts...)
	h.eng = transport.NewServer(func(c *transport.Conn) transport.Receiver {
		if h.onOpen != nil {
			return h.onOpen(c)
		}
		s := &session{conn: c, msgs: make(chan message, 256), closes: make(chan string, 1)}
		if h.hook != nil {
			s.hook = func(m message) { h.hook(s, m) }
		}
		h.sessions <- s
		return s
	}, opts...)
	h.srv = httptest.NewUnstartedServer(h.eng)
	if configure != nil {
		configure(h.srv.Config)
	}
	h.srv.Start()
	h.client = h.srv.Client()
	// Cleanups run last-in first-out: the engine closes its sessions (which
	// answers pending polls) before the HTTP server waits for its requests.
	t.Cleanup(h.srv.Close)
	t.Cleanup(func() { _ = h.eng.Close() })
	return h
}

// session waits for the Handler to be called for a new session.
func (h *harness) session(t *testing.T) *session {
	t.Helper()
	select {
	case s := <-h.sessions:
		return s
	case <-time.After(wait):
		require.FailNow(t, "no session")
		return nil
	}
}

func (h *harness) url(query string) string { return h.srv.URL + "/engine.io/?" + query }

func (h *harness) wsURL(query string) string {
	return "ws" + strings.TrimPrefix(h.srv.URL, "http") + "/engine.io/?" + query
}

type response struct {
	status int
	body   string
	header http.Header
	err    error
}

// do sends a request and reads the whole response.
func (h *harness) do(ctx context.Context, method, query string, body io.Reader, header http.Header) response {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, h.url(query), body)
	if err != nil {
		return response{err: err}
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := h.client.Do(req)
	if err != nil {
		return response{err: err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return response{status: res.StatusCode, body: string(b), header: res.Header, err: err}
}

func (h *harness) get(t *testing.T, sid string) response {
	t.Helper()
	r := h.do(context.Background(), http.MethodGet, "EIO=4&transport=polling&sid="+sid, nil, nil)
	require.NoError(t, r.err, "GET sid=%s", sid)
	return r
}

// assertForgotten asserts that the server has forgotten a closed session,
// as Node does at once: a GET or POST for it gets 400 "Session ID unknown".
func assertForgotten(t *testing.T, h *harness, sid string) {
	t.Helper()
	for _, r := range []response{h.get(t, sid), h.post(t, sid, "4late")} {
		assert.Equal(t, http.StatusBadRequest, r.status, "after close")
		assert.JSONEq(t, `{"code":1,"message":"Session ID unknown"}`, r.body, "after close")
	}
}

// getAsync starts a GET and returns where its response will arrive.
func (h *harness) getAsync(ctx context.Context, sid string) <-chan response {
	ch := make(chan response, 1)
	go func() {
		ch <- h.do(ctx, http.MethodGet, "EIO=4&transport=polling&sid="+sid, nil, nil)
	}()
	return ch
}

func (h *harness) post(t *testing.T, sid, body string) response {
	t.Helper()
	r := h.do(context.Background(), http.MethodPost, "EIO=4&transport=polling&sid="+sid, strings.NewReader(body), nil)
	require.NoError(t, r.err, "POST sid=%s %q", sid, body)
	return r
}

// pendingGet starts a GET for s and returns once the GET holds the
// session's polling slot: it is answered from the session's state (what is
// queued, a noop, or the close packet), whatever the test does next.
func (h *harness) pendingGet(t *testing.T, ctx context.Context, s *session) <-chan response {
	t.Helper()
	res := h.getAsync(ctx, s.conn.ID())
	require.Eventually(t, func() bool { return transport.Polling(s.conn) }, wait, time.Millisecond, "GET not pending")
	return res
}

// assertNoSessions checks that the server holds no session.
func assertNoSessions(t *testing.T, h *harness) {
	t.Helper()
	assert.Empty(t, transport.SessionIDs(h.eng))
}

type openData struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int64    `json:"pingInterval"`
	PingTimeout  int64    `json:"pingTimeout"`
	MaxPayload   int      `json:"maxPayload"`
}

func parseOpen(t *testing.T, packet string) openData {
	t.Helper()
	require.True(t, strings.HasPrefix(packet, "0"), "open packet %q", packet)
	var o openData
	require.NoError(t, json.Unmarshal([]byte(packet[1:]), &o), "open packet %q", packet)
	require.NotEmpty(t, o.SID, "open packet %q", packet)
	return o
}

// handshake opens a polling session and returns its sid and the server side.
func (h *harness) handshake(t *testing.T) (string, *session) {
	t.Helper()
	r := h.do(context.Background(), http.MethodGet, "EIO=4&transport=polling", nil, nil)
	require.NoError(t, r.err)
	require.Equal(t, http.StatusOK, r.status, "handshake: %s", r.body)
	o := parseOpen(t, r.body)
	s := h.session(t)
	require.Equal(t, o.SID, s.conn.ID())
	return o.SID, s
}

// dial opens a WebSocket with the given query; it is closed when the test
// ends.
func (h *harness) dial(t *testing.T, query string, header http.Header) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: wait}
	ws, res, err := d.Dial(h.wsURL(query), header)
	if res != nil {
		_ = res.Body.Close()
	}
	require.NoError(t, err, "dial %s", query)
	t.Cleanup(func() { _ = ws.Close() })
	return ws
}

// handshakeWS opens a WebSocket session and returns the client side (past
// the open packet) and the server side.
func (h *harness) handshakeWS(t *testing.T) (*websocket.Conn, *session) {
	t.Helper()
	ws := h.dial(t, "EIO=4&transport=websocket", nil)
	typ, data := readWS(t, ws)
	require.Equal(t, websocket.TextMessage, typ)
	o := parseOpen(t, string(data))
	s := h.session(t)
	require.Equal(t, o.SID, s.conn.ID())
	return ws, s
}

// readWS reads one message with a deadline.
func readWS(t *testing.T, ws *websocket.Conn) (int, []byte) {
	t.Helper()
	require.NoError(t, ws.SetReadDeadline(time.Now().Add(wait)))
	typ, data, err := ws.ReadMessage()
	require.NoError(t, err, "read websocket")
	return typ, data
}

// readWSErr reads until the server closes the WebSocket and returns the
// error. It fails the test if the server does not close it in time.
func readWSErr(t *testing.T, ws *websocket.Conn) error {
	t.Helper()
	require.NoError(t, ws.SetReadDeadline(time.Now().Add(wait)))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			var ne net.Error
			require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server did not close the WebSocket: %v", err)
			return err
		}
	}
}

func writeWS(t *testing.T, ws *websocket.Conn, typ int, data string) {
	t.Helper()
	require.NoError(t, ws.SetWriteDeadline(time.Now().Add(wait)))
	require.NoError(t, ws.WriteMessage(typ, []byte(data)), "write %q", data)
}

type engineError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func TestHandshake(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts []transport.Option
		want string // the open packet after `0{"sid":"<sid>",`
	}{
		{
			name: "defaults",
			want: `"upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`,
		},
		{
			name: "configured",
			opts: []transport.Option{
				transport.WithPingInterval(30 * time.Second),
				transport.WithPingTimeout(15 * time.Second),
				transport.WithMaxPayload(5000),
			},
			want: `"upgrades":["websocket"],"pingInterval":30000,"pingTimeout":15000,"maxPayload":5000}`,
		},
		{
			name: "polling only",
			opts: []transport.Option{transport.WithTransports(polling.New())},
			want: `"upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tt.opts...)
			r := h.do(context.Background(), http.MethodGet, "EIO=4&transport=polling&foo=bar", nil, http.Header{"X-Token": {"abc"}})
			require.NoError(t, r.err)
			require.Equal(t, http.StatusOK, r.status)
			o := parseOpen(t, r.body)
			assert.Equal(t, `0{"sid":"`+o.SID+`",`+tt.want, r.body)
			assert.Equal(t, "text/plain; charset=UTF-8", r.header.Get("Content-Type"))

			s := h.session(t)
			assert.Equal(t, o.SID, s.conn.ID())
			assert.Equal(t, "polling", s.conn.Transport())
			assert.Equal(t, "bar", s.conn.Request().URL.Query().Get("foo"))
			assert.Equal(t, "abc", s.conn.Request().Header.Get("X-Token"))
			assert.NotEmpty(t, s.conn.Request().RemoteAddr)
			assert.Equal(t, 1, h.eng.Len())
		})
	}
}

func TestHandshakeWebSocket(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.WithPingInterval(30*time.Second), transport.WithMaxPayload(5000))
	ws := h.dial(t, "EIO=4&transport=websocket", nil)
	typ, data := readWS(t, ws)
	require.Equal(t, websocket.TextMessage, typ)
	o := parseOpen(t, string(data))
	assert.Equal(t, `0{"sid":"`+o.SID+`","upgrades":[],"pingInterval":30000,"pingTimeout":20000,"maxPayload":5000}`, string(data))
	s := h.session(t)
	assert.Equal(t, o.SID, s.conn.ID())
	assert.Equal(t, "websocket", s.conn.Transport())
}

func TestRequestErrors(t *testing.T) {
	t.Parallel()
	deny := transport.WithAllowRequest(func(r *http.Request) error {
		if r.URL.Query().Get("token") == "" {
			return assert.AnError
		}
		return nil
	})
	tests := []struct {
		name    string
		method  string
		query   string
		header  http.Header
		opts    []transport.Option
		status  int
		code    int
		message string
	}{
		{"protocol v3", http.MethodGet, "EIO=3&transport=polling", nil, nil, 400, 5, "Unsupported protocol version"},
		{"protocol v5", http.MethodGet, "EIO=5&transport=polling", nil, nil, 400, 5, "Unsupported protocol version"},
		{"protocol checked after the transport", http.MethodGet, "EIO=3&transport=flash", nil, nil, 400, 0, "Transport unknown"},
		{"protocol checked after the method", http.MethodPost, "EIO=3&transport=polling", nil, nil, 400, 2, "Bad handshake method"},
		{"protocol missing", http.MethodGet, "transport=polling", nil, nil, 400, 5, "Unsupported protocol version"},
		{"transport unknown", http.MethodGet, "EIO=4&transport=flash", nil, nil, 400, 0, "Transport unknown"},
		{"transport missing", http.MethodGet, "EIO=4", nil, nil, 400, 0, "Transport unknown"},
		{"transport not enabled", http.MethodGet, "EIO=4&transport=websocket", nil, []transport.Option{transport.WithTransports(polling.New())}, 400, 0, "Transport unknown"},
		{"sid unknown", http.MethodGet, "EIO=4&transport=polling&sid=nope", nil, nil, 400, 1, "Session ID unknown"},
		{"sid unknown on POST", http.MethodPost, "EIO=4&transport=polling&sid=nope", nil, nil, 400, 1, "Session ID unknown"},
		{"POST handshake", http.MethodPost, "EIO=4&transport=polling", nil, nil, 400, 2, "Bad handshake method"},
		{"websocket without upgrade", http.MethodGet, "EIO=4&transport=websocket", nil, nil, 400, 3, "Bad request"},
		{"websocket without upgrade, refused anyway", http.MethodGet, "EIO=4&transport=websocket", nil, []transport.Option{deny}, 400, 3, "Bad request"},
		{"websocket upgrade without key", http.MethodGet, "EIO=4&transport=websocket", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"}}, nil, 400, 3, "Bad request"},
		{"cross origin", http.MethodGet, "EIO=4&transport=polling", http.Header{"Origin": {"https://evil.example"}}, nil, 403, 4, "Forbidden"},
		{"allow request refuses", http.MethodGet, "EIO=4&transport=polling", nil, []transport.Option{deny}, 403, 4, assert.AnError.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tt.opts...)
			r := h.do(context.Background(), tt.method, tt.query, nil, tt.header)
			require.NoError(t, r.err)
			assert.Equal(t, tt.status, r.status, "body %s", r.body)
			if tt.header.Get("Upgrade") != "" {
				// A refused WebSocket handshake, answered as by Node's
				// abortUpgrade: the message as text.
				assert.Equal(t, "text/html", r.header.Get("Content-Type"))
				assert.Equal(t, tt.message, r.body)
				return
			}
			assert.Equal(t, "application/json", r.header.Get("Content-Type"))
			var e engineError
			require.NoError(t, json.Unmarshal([]byte(r.body), &e), "body %q", r.body)
			assert.Equal(t, engineError{tt.code, tt.message}, e)
			assert.Zero(t, h.eng.Len(), "no session created")
			assert.Empty(t, h.sessions, "the Handler is not called")
		})
	}
}

func TestAllowRequestAccepts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.WithAllowRequest(func(r *http.Request) error { return nil }))
	_, s := h.handshake(t)
	s.assertOpen(t)
}

func TestOrigin(t *testing.T) {
	t.Parallel()
	const other = "https://app.example"
	tests := []struct {
		name        string
		opts        []transport.Option
		method      string
		origin      string // "self" stands for the server's own origin
		reqHeaders  string // Access-Control-Request-Headers
		status      int
		allowOrigin string
		credentials string
		methods     string
		headers     string
	}{
		{name: "no origin", method: "GET", status: 200},
		{name: "same origin", method: "GET", origin: "self", status: 200, allowOrigin: "self"},
		{name: "cross origin refused", method: "GET", origin: other, status: 403},
		{name: "null origin refused", method: "GET", origin: "null", status: 403},
		{name: "allowed origin", opts: []transport.Option{transport.WithAllowedOrigins("https://x.example", other)}, method: "GET", origin: other, status: 200, allowOrigin: other},
		{name: "other origin not in list", opts: []transport.Option{transport.WithAllowedOrigins("https://x.example")}, method: "GET", origin: other, status: 403},
		{name: "any origin", opts: []transport.Option{transport.WithAllowedOrigins("*")}, method: "GET", origin: other, status: 200, allowOrigin: "*"},
		{name: "any origin never with credentials", opts: []transport.Option{transport.WithAllowedOrigins("*"), transport.WithCredentials(true)}, method: "GET", origin: other, status: 200, allowOrigin: "*"},
		{name: "any origin preflight", opts: []transport.Option{transport.WithAllowedOrigins("*"), transport.WithCredentials(true)}, method: "OPTIONS", origin: other, reqHeaders: "content-type", status: 204, allowOrigin: "*", methods: "GET, POST, OPTIONS", headers: "content-type"},
		{name: "listed origin beside any", opts: []transport.Option{transport.WithAllowedOrigins("*", other), transport.WithCredentials(true)}, method: "GET", origin: other, status: 200, allowOrigin: other, credentials: "true"},
		{name: "unlisted origin beside listed and any", opts: []transport.Option{transport.WithAllowedOrigins("https://x.example", "*"), transport.WithCredentials(true)}, method: "GET", origin: other, status: 200, allowOrigin: "*"},
		{name: "same origin with any and credentials", opts: []transport.Option{transport.WithAllowedOrigins("*"), transport.WithCredentials(true)}, method: "GET", origin: "self", status: 200, allowOrigin: "self", credentials: "true"},
		{name: "check origin allows", opts: []transport.Option{transport.WithCheckOrigin(func(*http.Request) bool { return true })}, method: "GET", origin: other, status: 200, allowOrigin: other},
		{name: "check origin with credentials", opts: []transport.Option{transport.WithCheckOrigin(func(*http.Request) bool { return true }), transport.WithCredentials(true)}, method: "GET", origin: other, status: 200, allowOrigin: other, credentials: "true"},
		{name: "check origin overrides list", opts: []transport.Option{transport.WithAllowedOrigins("*"), transport.WithCheckOrigin(func(*http.Request) bool { return false })}, method: "GET", origin: other, status: 403},
		{name: "credentials", opts: []transport.Option{transport.WithAllowedOrigins(other), transport.WithCredentials(true)}, method: "GET", origin: other, status: 200, allowOrigin: other, credentials: "true"},
		{name: "preflight", opts: []transport.Option{transport.WithAllowedOrigins(other)}, method: "OPTIONS", origin: other, reqHeaders: "content-type", status: 204, allowOrigin: other, methods: "GET, POST, OPTIONS", headers: "content-type"},
		{name: "preflight refused", method: "OPTIONS", origin: other, status: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tt.opts...)
			origin, allow := tt.origin, tt.allowOrigin
			if origin == "self" {
				origin = h.srv.URL
			}
			if allow == "self" {
				allow = h.srv.URL
			}
			header := http.Header{}
			if origin != "" {
				header.Set("Origin", origin)
			}
			if tt.reqHeaders != "" {
				header.Set("Access-Control-Request-Method", "POST")
				header.Set("Access-Control-Request-Headers", tt.reqHeaders)
			}
			r := h.do(context.Background(), tt.method, "EIO=4&transport=polling", nil, header)
			require.NoError(t, r.err)
			require.Equal(t, tt.status, r.status, "body %s", r.body)
			assert.Equal(t, allow, r.header.Get("Access-Control-Allow-Origin"))
			assert.Equal(t, tt.credentials, r.header.Get("Access-Control-Allow-Credentials"))
			assert.Equal(t, tt.methods, r.header.Get("Access-Control-Allow-Methods"))
			assert.Equal(t, tt.headers, r.header.Get("Access-Control-Allow-Headers"))
			if origin != "" && tt.status != 403 {
				assert.Contains(t, r.header.Values("Vary"), "Origin")
			}
			switch tt.status {
			case 200:
				o := parseOpen(t, r.body)
				assert.Equal(t, o.SID, h.session(t).conn.ID())
			case 403:
				var e engineError
				require.NoError(t, json.Unmarshal([]byte(r.body), &e), "body %q", r.body)
				assert.Equal(t, engineError{4, "Forbidden"}, e)
			}
		})
	}
}

func TestOriginWebSocket(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		opts   []transport.Option
		origin string
		ok     bool
	}{
		{name: "cross origin refused", origin: "https://evil.example"},
		{name: "allowed", opts: []transport.Option{transport.WithAllowedOrigins("https://app.example")}, origin: "https://app.example", ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tt.opts...)
			d := websocket.Dialer{HandshakeTimeout: wait}
			ws, res, err := d.Dial(h.wsURL("EIO=4&transport=websocket"), http.Header{"Origin": {tt.origin}})
			if res != nil {
				defer res.Body.Close()
			}
			if !tt.ok {
				require.ErrorIs(t, err, websocket.ErrBadHandshake)
				assert.Equal(t, http.StatusForbidden, res.StatusCode)
				return
			}
			require.NoError(t, err)
			defer ws.Close()
			_, data := readWS(t, ws)
			parseOpen(t, string(data))
		})
	}
}

func TestHandlerRefuses(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.onOpen = func(*transport.Conn) transport.Receiver { return nil }
	r := h.do(context.Background(), http.MethodGet, "EIO=4&transport=polling", nil, nil)
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusForbidden, r.status)
	assertNoSessions(t, h)
}

// A Handler that closes its Conn before returning still gets exactly one
// OnClose, and the client gets the open packet, what was queued and a close.
func TestHandlerCloses(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"polling", "websocket"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			s := &session{msgs: make(chan message, 1), closes: make(chan string, 1)}
			h.onOpen = func(c *transport.Conn) transport.Receiver {
				s.conn = c
				c.Send(false, transport.Message([]byte("bye"), false))
				c.Close()
				return s
			}
			if name == "polling" {
				r := h.do(context.Background(), http.MethodGet, "EIO=4&transport=polling", nil, nil)
				require.NoError(t, r.err)
				o := parseOpen(t, r.body)
				assert.Equal(t, "4bye", h.get(t, o.SID).body)
				assert.Equal(t, "6\x1e1", h.get(t, o.SID).body, "a noop and the close packet, as from Node")
			} else {
				ws := h.dial(t, "EIO=4&transport=websocket", nil)
				_, data := readWS(t, ws)
				parseOpen(t, string(data))
				_, data = readWS(t, ws)
				assert.Equal(t, "4bye", string(data))
				assert.True(t, websocket.IsCloseError(readWSErr(t, ws), websocket.CloseNoStatusReceived))
			}
			assert.Equal(t, transport.ReasonForcedClose, s.closed(t))
			require.Eventually(t, func() bool { return h.eng.Len() == 0 }, wait, time.Millisecond)
		})
	}
}

func TestOptionsPanic(t *testing.T) {
	t.Parallel()
	h := func(*transport.Conn) transport.Receiver { return nil }
	p := transport.WithTransports(polling.New())
	tests := []struct {
		name string
		opts []transport.Option
	}{
		{"no transport", nil},
		{"nil transport", []transport.Option{transport.WithTransports(nil)}},
		{"duplicate transport", []transport.Option{transport.WithTransports(polling.New(), polling.New())}},
		{"negative ping interval", []transport.Option{p, transport.WithPingInterval(-time.Second)}},
		{"zero ping timeout", []transport.Option{p, transport.WithPingTimeout(0)}},
		{"zero max payload", []transport.Option{p, transport.WithMaxPayload(0)}},
		{"zero queue", []transport.Option{p, transport.WithSendQueue(0, 1)}},
		{"nil logger", []transport.Option{p, transport.WithLogger(nil)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Panics(t, func() { transport.NewServer(h, tt.opts...) })
		})
	}
	assert.Panics(t, func() { transport.NewServer(nil, p) })
}

// query builds a polling query for sid.
func query(sid string) string {
	return url.Values{"EIO": {"4"}, "transport": {"polling"}, "sid": {sid}}.Encode()
}
