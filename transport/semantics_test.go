package transport_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/transport"
	"github.com/vicinity-go/vicinity/transport/polling"
	wstransport "github.com/vicinity-go/vicinity/transport/websocket"
)

// The session semantics of the Node.js reference server, as raw-protocol
// scripts: each runs against vicinity, and, when node is installed, against
// the Node.js server (engine.io 6.6, the engine of socket.io 4.8), and both
// transcripts must equal the one written down here. Node is the spec: where
// the two differ, vicinity is wrong.

// Settings of both servers in these scripts: no ping within a script, and
// an upgrade timeout short enough to wait for.
const (
	refPingInterval   = 60 * time.Second
	refPingTimeout    = 20 * time.Second
	refUpgradeTimeout = 500 * time.Millisecond
)

// refOpen is the open packet both servers send, its sid replaced by <sid>.
const (
	refOpen   = `GET 200 0{"sid":"<sid>","upgrades":["websocket"],"pingInterval":60000,"pingTimeout":20000,"maxPayload":1000000}`
	refOpenWS = `0{"sid":"<sid>","upgrades":[],"pingInterval":60000,"pingTimeout":20000,"maxPayload":1000000}`
	// refOpenV3 is refOpen in a v3 payload: its length counts a 20
	// character sid, the length of the sids of both servers.
	refOpenV3 = `GET 200 118:0{"sid":"<sid>","upgrades":["websocket"],"pingInterval":60000,"pingTimeout":20000,"maxPayload":1000000}`
)

// peerState is what a server holds for a sid.
type peerState struct {
	Exists    bool   `json:"exists"`
	Transport string `json:"transport"`
	Polling   bool   `json:"writable"` // a GET is pending (on polling)
	Reason    string `json:"reason"`   // why the session closed, once it has
}

// peer is an Engine.IO server the scripts talk to: its base URL and a way
// to look at its sessions.
type peer struct {
	name   string
	base   string
	client *http.Client
	state  func(t *testing.T, sid string) peerState
}

// echo is the Receiver both servers run: it echoes each message, except
// "server-close", which closes the session from the server.
type echo struct {
	c      *transport.Conn
	closed func(reason string)
}

func (e *echo) OnMessage(data []byte, binary bool) {
	if !binary && string(data) == "server-close" {
		e.c.Close()
		return
	}
	e.c.Send(false, transport.Message(append([]byte(nil), data...), binary))
}

func (e *echo) OnClose(reason string) { e.closed(reason) }

// vicinityPeer starts a vicinity server configured like the Node one, with
// opts added.
func vicinityPeer(t *testing.T, opts ...transport.Option) *peer {
	t.Helper()
	var reasons sync.Map // sid → reason
	opts = append([]transport.Option{
		transport.WithTransports(polling.New(), wstransport.New()),
		transport.WithPingInterval(refPingInterval),
		transport.WithPingTimeout(refPingTimeout),
		transport.WithUpgradeTimeout(refUpgradeTimeout),
	}, opts...)
	eng := transport.NewServer(func(c *transport.Conn) transport.Receiver {
		return &echo{c: c, closed: func(r string) { reasons.Store(c.ID(), r) }}
	}, opts...)
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", eng)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { _ = eng.Close() })
	return &peer{
		name:   "vicinity",
		base:   srv.URL,
		client: srv.Client(),
		state: func(_ *testing.T, sid string) peerState {
			exists, tr, polling, _ := transport.State(eng, sid)
			r, _ := reasons.Load(sid)
			reason, _ := r.(string)
			return peerState{Exists: exists, Transport: tr, Polling: polling && tr == "polling", Reason: reason}
		},
	}
}

// nodePeer starts the Node.js reference server with opts.
func nodePeer(t *testing.T, opts map[string]any) *peer {
	t.Helper()
	o := map[string]any{
		"pingInterval":   refPingInterval.Milliseconds(),
		"pingTimeout":    refPingTimeout.Milliseconds(),
		"upgradeTimeout": refUpgradeTimeout.Milliseconds(),
	}
	for k, v := range opts {
		o[k] = v
	}
	base := startNodeServer(t, o)
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	return &peer{
		name:   "node",
		base:   base,
		client: client,
		state: func(t *testing.T, sid string) peerState {
			res, err := client.Get(base + "/state?sid=" + sid)
			require.NoError(t, err)
			defer res.Body.Close()
			var s peerState
			require.NoError(t, json.NewDecoder(res.Body).Decode(&s))
			s.Polling = s.Polling && s.Transport == "polling"
			return s
		},
	}
}

// script runs requests against a peer and writes down what it sees, with
// the session's sid replaced by <sid>.
type script struct {
	t   *testing.T
	p   *peer
	sid string
	log []string
	// v3 makes the session's requests ask for protocol 3 (EIO=3); b64
	// adds b64=1.
	v3, b64 bool
}

func (s *script) note(format string, args ...any) {
	line := format
	if len(args) > 0 {
		line = fmt.Sprintf(format, args...)
	}
	if s.sid != "" {
		line = strings.ReplaceAll(line, s.sid, "<sid>")
	}
	s.log = append(s.log, line)
}

// do sends a request and notes "METHOD status body".
func (s *script) do(method, query, contentType, body string) {
	s.t.Helper()
	s.note("%s", s.request(method, query, contentType, body))
}

func (s *script) request(method, query, contentType, body string) string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.p.base+"/engine.io/?"+query, rd)
	require.NoError(s.t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := s.p.client.Do(req)
	require.NoError(s.t, err, "%s %s", method, query)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(s.t, err)
	if res.Header.Get("Content-Type") == "application/octet-stream" {
		return fmt.Sprintf("%s %d [binary] %q", method, res.StatusCode, b)
	}
	return fmt.Sprintf("%s %d %s", method, res.StatusCode, b)
}

// open makes a polling handshake and remembers the sid.
func (s *script) open() {
	s.t.Helper()
	line := s.request(http.MethodGet, s.base("polling"), "", "")
	prefix := "GET 200 0{"
	if s.v3 {
		prefix = "GET 200 "
	}
	require.True(s.t, strings.HasPrefix(line, prefix), "handshake: %s", line)
	var o openData
	js := line[strings.Index(line, "{"):]
	require.NoError(s.t, json.Unmarshal([]byte(js), &o), "handshake: %s", line)
	s.sid = o.SID
	s.note("%s", line)
}

// base is the query of the session's protocol for a transport, without sid.
func (s *script) base(transport string) string {
	q := "EIO=4&transport=" + transport
	if s.v3 {
		q = "EIO=3&transport=" + transport
	}
	if s.b64 {
		q += "&b64=1"
	}
	return q
}

func (s *script) q() string { return s.base("polling") + "&sid=" + s.sid }

func (s *script) get()               { s.t.Helper(); s.do(http.MethodGet, s.q(), "", "") }
func (s *script) post(body string)   { s.t.Helper(); s.do(http.MethodPost, s.q(), "", body) }
func (s *script) getQ(query string)  { s.t.Helper(); s.do(http.MethodGet, query, "", "") }
func (s *script) postQ(query string) { s.t.Helper(); s.do(http.MethodPost, query, "", "") }

// pendingGet starts a GET and returns once the server holds it.
func (s *script) pendingGet() <-chan string {
	s.t.Helper()
	ch := make(chan string, 1)
	go func() { ch <- s.requestNoFail(http.MethodGet, s.q()) }()
	s.until("GET pending", func(st peerState) bool { return st.Polling })
	return ch
}

func (s *script) requestNoFail(method, query string) string {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, s.p.base+"/engine.io/?"+query, nil)
	res, err := s.p.client.Do(req)
	if err != nil {
		return "error " + err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return fmt.Sprintf("%s %d %s", method, res.StatusCode, b)
}

// await notes the answer of a GET started by pendingGet.
func (s *script) await(ch <-chan string) {
	s.t.Helper()
	select {
	case line := <-ch:
		s.note("%s", line)
	case <-time.After(2 * wait):
		require.FailNow(s.t, "no answer to the pending GET")
	}
}

// until waits for the server's state of the session to satisfy cond.
func (s *script) until(what string, cond func(peerState) bool) {
	s.t.Helper()
	require.Eventually(s.t, func() bool { return cond(s.p.state(s.t, s.sid)) }, wait, 5*time.Millisecond, "%s: %s", s.p.name, what)
}

// upgraded waits until the session is on WebSocket.
func (s *script) upgraded() {
	s.t.Helper()
	s.until("upgraded", func(st peerState) bool { return st.Transport == "websocket" })
}

// reason waits for the session to close and notes why.
func (s *script) reason() {
	s.t.Helper()
	var r string
	s.until("closed", func(st peerState) bool { r = st.Reason; return r != "" })
	s.note("reason %s", r)
}

// dial opens a WebSocket and notes "WS 101" or "WS status body".
func (s *script) dial(query string) *websocket.Conn {
	s.t.Helper()
	d := websocket.Dialer{HandshakeTimeout: wait}
	url := "ws" + strings.TrimPrefix(s.p.base, "http") + "/engine.io/?" + query
	ws, res, err := d.Dial(url, nil)
	if err != nil {
		require.ErrorIs(s.t, err, websocket.ErrBadHandshake, "dial %s", query)
		b, _ := io.ReadAll(res.Body)
		s.note("WS %d %s", res.StatusCode, b)
		return nil
	}
	s.t.Cleanup(func() { _ = ws.Close() })
	s.note("WS %d", res.StatusCode)
	return ws
}

// dialSID opens a WebSocket for the session.
func (s *script) dialSID() *websocket.Conn {
	s.t.Helper()
	return s.dial(s.base("websocket") + "&sid=" + s.sid)
}

// openWS opens a session over WebSocket, notes the open packet and
// remembers the sid.
func (s *script) openWS() *websocket.Conn {
	s.t.Helper()
	ws := s.dial(s.base("websocket"))
	require.NotNil(s.t, ws)
	require.NoError(s.t, ws.SetReadDeadline(time.Now().Add(wait)))
	_, data, err := ws.ReadMessage()
	require.NoError(s.t, err)
	var o openData
	require.NoError(s.t, json.Unmarshal(data[1:], &o), "open packet %q", data)
	s.sid = o.SID
	s.note("WS< %s", data)
	return ws
}

// sendBinary writes a binary frame.
func (s *script) sendBinary(ws *websocket.Conn, data string) {
	s.t.Helper()
	require.NoError(s.t, ws.SetWriteDeadline(time.Now().Add(wait)))
	require.NoError(s.t, ws.WriteMessage(websocket.BinaryMessage, []byte(data)))
}

// send writes a text frame.
func (s *script) send(ws *websocket.Conn, text string) {
	s.t.Helper()
	require.NoError(s.t, ws.SetWriteDeadline(time.Now().Add(wait)))
	require.NoError(s.t, ws.WriteMessage(websocket.TextMessage, []byte(text)))
}

// read notes the next frame: "WS< text", "WS< bin hex", or how the
// WebSocket ended ("WS< close 1005").
func (s *script) read(ws *websocket.Conn) {
	s.t.Helper()
	require.NoError(s.t, ws.SetReadDeadline(time.Now().Add(2*wait)))
	typ, data, err := ws.ReadMessage()
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		s.note("WS< close %d", ce.Code)
	case errors.As(err, &ne) && ne.Timeout():
		require.FailNow(s.t, "nothing to read", "%s", s.p.name)
	case err != nil:
		s.note("WS< error")
	case typ == websocket.BinaryMessage:
		s.note("WS< bin %s", hex.EncodeToString(data))
	default:
		s.note("WS< %s", data)
	}
}

// upgrade runs the whole upgrade over a new WebSocket.
func (s *script) upgrade() *websocket.Conn {
	s.t.Helper()
	ws := s.dialSID()
	require.NotNil(s.t, ws)
	s.send(ws, "2probe")
	s.read(ws)
	s.send(ws, "5")
	s.upgraded()
	return ws
}

const (
	unknownSID = `{"code":1,"message":"Session ID unknown"}`
	badRequest = `{"code":3,"message":"Bad request"}`
)

// sessionScripts are the session semantics, each with the transcript Node
// produces.
var sessionScripts = []struct {
	name string
	run  func(s *script)
	want []string
}{
	{
		name: "a closed session is unknown at once",
		run: func(s *script) {
			s.open()
			s.post("1")
			s.get()
			s.post("4late")
			s.dialSID()
			s.reason()
		},
		want: []string{refOpen, "POST 200 ok", "GET 400 " + unknownSID, "POST 400 " + unknownSID, "WS 400 Session ID unknown", "reason transport close"},
	},
	{
		name: "the client's close packet ends the pending poll with a noop",
		run: func(s *script) {
			s.open()
			g := s.pendingGet()
			s.post("1")
			s.await(g)
			s.get()
			s.reason()
		},
		want: []string{refOpen, "POST 200 ok", "GET 200 6", "GET 400 " + unknownSID, "reason transport close"},
	},
	{
		name: "a server close ends the pending poll with the close packet",
		run: func(s *script) {
			s.open()
			g := s.pendingGet()
			s.post("4server-close")
			s.await(g)
			s.get()
			s.reason()
		},
		want: []string{refOpen, "POST 200 ok", "GET 200 1", "GET 400 " + unknownSID, "reason forced close"},
	},
	{
		name: "after a server close the next poll gets a noop and the close packet",
		run: func(s *script) {
			s.open()
			s.post("4server-close")
			s.get()
			s.get()
			s.reason()
		},
		want: []string{refOpen, "POST 200 ok", "GET 200 6\x1e1", "GET 400 " + unknownSID, "reason forced close"},
	},
	{
		name: "a server close writes what is queued first",
		run: func(s *script) {
			s.open()
			s.post("4a\x1e4server-close")
			s.get()
			s.get()
			s.get()
			s.reason()
		},
		want: []string{refOpen, "POST 200 ok", "GET 200 4a", "GET 200 6\x1e1", "GET 400 " + unknownSID, "reason forced close"},
	},
	{
		name: "a second GET is refused and closes the session",
		run: func(s *script) {
			s.open()
			g := s.pendingGet()
			s.get()
			s.await(g)
			s.get()
			s.reason()
		},
		want: []string{refOpen, "GET 400 ", "GET 200 1", "GET 400 " + unknownSID, "reason transport error"},
	},
	{
		name: "a binary POST is refused on protocol 4",
		run: func(s *script) {
			s.open()
			s.do(http.MethodPost, s.q(), "application/octet-stream", "4x")
			s.reason()
		},
		want: []string{refOpen, "POST 400 ", "reason transport error"},
	},
	{
		name: "after the upgrade polling is refused",
		run: func(s *script) {
			s.open()
			ws := s.upgrade()
			s.get()
			s.post("4x")
			s.send(ws, "4hi")
			s.read(ws)
		},
		want: []string{refOpen, "WS 101", "WS< 3probe", "GET 400 " + badRequest, "POST 400 " + badRequest, "WS< 4hi"},
	},
	{
		name: "a poll pending across the upgrade gets a noop, the next one 400",
		run: func(s *script) {
			s.open()
			g := s.pendingGet()
			ws := s.dialSID()
			s.send(ws, "2probe")
			s.read(ws)
			s.await(g)
			s.send(ws, "5")
			s.upgraded()
			s.get()
		},
		want: []string{refOpen, "WS 101", "WS< 3probe", "GET 200 6", "GET 400 " + badRequest},
	},
	{
		name: "a second WebSocket after the upgrade is accepted and closed",
		run: func(s *script) {
			s.open()
			ws := s.upgrade()
			ws2 := s.dialSID()
			s.read(ws2)
			s.send(ws, "4still")
			s.read(ws)
		},
		want: []string{refOpen, "WS 101", "WS< 3probe", "WS 101", "WS< close 1005", "WS< 4still"},
	},
	{
		name: "a second WebSocket during the upgrade is accepted and closed",
		run: func(s *script) {
			s.open()
			ws := s.dialSID()
			s.send(ws, "2probe")
			s.read(ws)
			ws2 := s.dialSID()
			s.read(ws2)
			s.send(ws, "5")
			s.upgraded()
			s.send(ws, "4still")
			s.read(ws)
		},
		want: []string{refOpen, "WS 101", "WS< 3probe", "WS 101", "WS< close 1005", "WS< 4still"},
	},
	{
		name: "a second WebSocket on a WebSocket session is accepted and closed",
		run: func(s *script) {
			ws := s.openWS()
			ws2 := s.dialSID()
			s.read(ws2)
			s.send(ws, "4still")
			s.read(ws)
		},
		want: []string{"WS 101", "WS< " + refOpenWS, "WS 101", "WS< close 1005", "WS< 4still"},
	},
	{
		name: "a server close over WebSocket sends a close frame",
		run: func(s *script) {
			s.open()
			ws := s.upgrade()
			s.send(ws, "4server-close")
			s.read(ws)
			s.reason()
		},
		want: []string{refOpen, "WS 101", "WS< 3probe", "WS< close 1005", "reason forced close"},
	},
	{
		name: "unknown sid",
		run: func(s *script) {
			s.getQ("EIO=4&transport=polling&sid=nope")
			s.postQ("EIO=4&transport=polling&sid=nope")
			s.dial("EIO=4&transport=websocket&sid=nope")
		},
		want: []string{"GET 400 " + unknownSID, "POST 400 " + unknownSID, "WS 400 Session ID unknown"},
	},
	{
		name: "requests are checked in Node's order",
		run: func(s *script) {
			s.getQ("EIO=3&transport=flash")
			s.getQ("EIO=3&transport=polling")
			s.getQ("transport=polling")
			s.getQ("EIO=5&transport=polling")
			s.postQ("EIO=3&transport=polling")
			s.getQ("EIO=4&transport=websocket")
			// Not here: a WebSocket handshake with EIO=3, which Node
			// completes (101) before it finds the protocol unsupported, then
			// writes its HTTP 400 into the WebSocket stream; vicinity
			// answers the handshake with 400 "Unsupported protocol
			// version" (TestUnsupportedProtocolWebSocket).
			s.dial("EIO=4&transport=flash")
			s.open()
			s.getQ("EIO=3&transport=polling&sid=" + s.sid)
			s.dial("EIO=3&transport=websocket&sid=" + s.sid)
		},
		want: []string{
			`GET 400 {"code":0,"message":"Transport unknown"}`,
			`GET 400 {"code":5,"message":"Unsupported protocol version"}`,
			`GET 400 {"code":5,"message":"Unsupported protocol version"}`,
			`GET 400 {"code":5,"message":"Unsupported protocol version"}`,
			`POST 400 {"code":2,"message":"Bad handshake method"}`,
			`GET 400 {"code":3,"message":"Bad request"}`,
			"WS 400 Transport unknown",
			refOpen,
			"GET 400 " + badRequest,
			"WS 400 Bad request",
		},
	},
}

// TestSessionSemantics runs each script against vicinity and checks the
// transcript.
func TestSessionSemantics(t *testing.T) {
	t.Parallel()
	for _, tt := range sessionScripts {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := &script{t: t, p: vicinityPeer(t)}
			tt.run(s)
			assert.Equal(t, tt.want, s.log)
		})
	}
}

// TestSessionSemanticsNode runs each script against the Node.js reference
// server and vicinity: the transcripts must be equal, and be the one
// written down.
func TestSessionSemanticsNode(t *testing.T) {
	t.Parallel()
	node := nodePeer(t, nil)
	for _, tt := range sessionScripts {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := &script{t: t, p: node}
			tt.run(n)
			v := &script{t: t, p: vicinityPeer(t)}
			tt.run(v)
			assert.Equal(t, n.log, v.log, "vicinity differs from Node")
			assert.Equal(t, tt.want, n.log, "Node's transcript")
		})
	}
}
