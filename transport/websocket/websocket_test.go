package websocket_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/transport"
	wstransport "github.com/vicinity-go/vicinity/transport/websocket"
)

// countingListener counts the writes to the connections it accepts.
type countingListener struct {
	net.Listener
	writes atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, writes: &l.writes}, nil
}

type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

type discard struct{}

func (discard) OnMessage([]byte, bool) {}
func (discard) OnClose(string)         {}

// server starts an Engine.IO server with the WebSocket transport only and
// returns it, its URL and where its Conns arrive.
func server(t testing.TB, l net.Listener) (*transport.Server, string, <-chan *transport.Conn) {
	t.Helper()
	return serverWith(t, l, discard{})
}

// serverWith is server with r as every session's Receiver, and opts.
func serverWith(t testing.TB, l net.Listener, r transport.Receiver, opts ...transport.Option) (*transport.Server, string, <-chan *transport.Conn) {
	t.Helper()
	conns := make(chan *transport.Conn, 1)
	eng := transport.NewServer(func(c *transport.Conn) transport.Receiver {
		conns <- c
		return r
	}, append(opts, transport.WithTransports(wstransport.New()))...)
	srv := httptest.NewUnstartedServer(eng)
	if l != nil {
		_ = srv.Listener.Close()
		srv.Listener = l
	}
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(func() { _ = eng.Close() })
	return eng, "ws" + strings.TrimPrefix(srv.URL, "http") + "/?EIO=4&transport=websocket", conns
}

func dial(t testing.TB, url string, conns <-chan *transport.Conn) (*websocket.Conn, *transport.Conn) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, res, err := d.Dial(url, nil)
	require.NoError(t, err)
	_ = res.Body.Close()
	t.Cleanup(func() { _ = ws.Close() })
	_, open, err := ws.ReadMessage()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(open), "0{"), "open packet %q", open)
	select {
	case c := <-conns:
		return ws, c
	case <-time.After(5 * time.Second):
		require.FailNow(t, "no session")
		return nil, nil
	}
}

// Everything queued by one Send reaches the network in one write.
func TestOneWritePerBatch(t *testing.T) {
	t.Parallel()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	l := &countingListener{Listener: inner}
	_, url, conns := server(t, l)
	ws, c := dial(t, url, conns)

	before := l.writes.Load() // the handshake response and the open packet
	pkts := make([]transport.Packet, 50)
	for i := range pkts {
		pkts[i] = transport.Message(fmt.Appendf(nil, "m%d", i), i%2 == 1)
	}
	require.True(t, c.Send(false, pkts...))
	require.NoError(t, ws.SetReadDeadline(time.Now().Add(5*time.Second)))
	for i := range pkts {
		typ, data, err := ws.ReadMessage()
		require.NoError(t, err, "message %d", i)
		want, wantType := fmt.Sprintf("4m%d", i), websocket.TextMessage
		if i%2 == 1 {
			want, wantType = want[1:], websocket.BinaryMessage
		}
		assert.Equal(t, wantType, typ, "message %d", i)
		assert.Equal(t, want, string(data), "message %d", i)
	}
	assert.Equal(t, int64(1), l.writes.Load()-before, "writes for one batch")
}

func TestTransport(t *testing.T) {
	t.Parallel()
	w := wstransport.New()
	assert.Equal(t, "websocket", w.Name())
	assert.True(t, w.Upgradable())
}

// A plain HTTP request to the WebSocket transport is refused before a
// session is created.
func TestNotAnUpgrade(t *testing.T) {
	t.Parallel()
	eng, url, conns := server(t, nil)
	res, err := http.Get("http" + strings.TrimPrefix(url, "ws"))
	require.NoError(t, err)
	body, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadRequest, res.StatusCode)
	assert.JSONEq(t, `{"code":3,"message":"Bad request"}`, string(body))
	assert.Zero(t, eng.Len())
	assert.Empty(t, conns, "the Handler is not called")
}

func TestAccept(t *testing.T) {
	t.Parallel()
	upgrade := http.Header{
		"Connection":            {"keep-alive, Upgrade"},
		"Upgrade":               {"websocket"},
		"Sec-Websocket-Version": {"13"},
		"Sec-Websocket-Key":     {"dGhlIHNhbXBsZSBub25jZQ=="},
	}
	without := func(key string) http.Header {
		h := upgrade.Clone()
		h.Del(key)
		return h
	}
	tests := []struct {
		name   string
		method string
		header http.Header
		want   bool
	}{
		{"upgrade", http.MethodGet, upgrade, true},
		{"plain GET", http.MethodGet, http.Header{}, false},
		{"POST", http.MethodPost, upgrade, false},
		{"no Connection", http.MethodGet, without("Connection"), false},
		{"no Upgrade", http.MethodGet, without("Upgrade"), false},
		{"no version", http.MethodGet, without("Sec-Websocket-Version"), false},
		{"no key", http.MethodGet, without("Sec-Websocket-Key"), false},
	}
	w := wstransport.New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(tt.method, "/?EIO=4&transport=websocket", nil)
			r.Header = tt.header
			assert.Equal(t, tt.want, w.Accept(r))
		})
	}
}

// A text frame that is not UTF-8 is never delivered: the session closes
// with "parse error" and the client gets close code 1007.
func TestInvalidUTF8(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		frame string
	}{
		{"message", "4caf\xe9"},
		{"lone continuation byte", "4\x80"},
		{"surrogate half", "4\xed\xa0\x80"},
		{"truncated rune", "4ok\xe2\x82"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, url, conns := server(t, nil)
			ws, c := dial(t, url, conns)
			require.NoError(t, ws.WriteMessage(websocket.TextMessage, []byte(tt.frame)))
			require.NoError(t, ws.SetReadDeadline(time.Now().Add(5*time.Second)))
			var err error
			for err == nil {
				_, _, err = ws.ReadMessage()
			}
			assert.True(t, websocket.IsCloseError(err, websocket.CloseInvalidFramePayloadData), "close error %v", err)
			select {
			case <-c.Done():
			case <-time.After(5 * time.Second):
				require.FailNow(t, "session still open")
			}
			assert.Equal(t, transport.ReasonParseError, c.Reason())
		})
	}
}

// countStacks returns how many goroutines have fn on their stack.
func countStacks(fn string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, fn) {
			count++
		}
	}
	return count
}

// An idle session has no goroutine once parked (on Linux; elsewhere one,
// its read loop, off the net/http handler's): the writer runs only while
// there is something to write, and starts again for the next packet; the
// read loop parks the connection after idleWait and resumes when the client
// sends. (Not parallel: it counts goroutines.)
func TestIdleSessionParks(t *testing.T) {
	rec := &recorder{msgs: make(chan string, 100), closes: make(chan string, 100)}
	eng, url, conns := serverWith(t, nil, rec)
	const n = 10
	readLoops := n
	if runtime.GOOS == "linux" {
		readLoops = 0
	}
	wss := make([]*websocket.Conn, n)
	cs := make([]*transport.Conn, n)
	for i := range n {
		wss[i], cs[i] = dial(t, url, conns)
	}
	for round := range 2 {
		for i, c := range cs {
			require.True(t, c.Send(false, transport.Message([]byte("hi"), false)))
			require.NoError(t, wss[i].SetReadDeadline(time.Now().Add(5*time.Second)))
			_, data, err := wss[i].ReadMessage()
			require.NoError(t, err, "round %d, session %d", round, i)
			assert.Equal(t, "4hi", string(data))
		}
		require.Eventually(t, func() bool {
			return countStacks("websocket.(*link).writeLoop") == 0 && countStacks("websocket.(*link).serve") == readLoops
		}, 5*time.Second, 5*time.Millisecond, "writers or read loops still running when idle")
		assert.Zero(t, countStacks("websocket.(*Transport).Serve("), "handlers still running")
		for i, ws := range wss { // wakes every parked read loop
			require.NoError(t, ws.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, "4from %d", i)))
		}
		got := make(map[string]bool)
		for range n {
			got[recvWithin(t, rec.msgs)] = true
		}
		assert.Len(t, got, n, "every client's message, round %d", round)
	}
	closed := make(chan error, n)
	for _, ws := range wss {
		go func() { // answers the server's close frame
			_, _, err := ws.ReadMessage()
			closed <- err
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, eng.Shutdown(ctx))
	for range n {
		var ce *websocket.CloseError
		require.ErrorAs(t, <-closed, &ce)
	}
	require.Eventually(t, func() bool { return countStacks("websocket.(*link).serve") == 0 },
		5*time.Second, 5*time.Millisecond, "read loops after Shutdown")
}

// recorder is a Receiver that passes on what it gets.
type recorder struct {
	msgs   chan string // OnMessage's data
	closes chan string // OnClose's reason
}

func (r *recorder) OnMessage(data []byte, _ bool) { r.msgs <- string(data) }
func (r *recorder) OnClose(reason string)         { r.closes <- reason }

func recvWithin(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		require.FailNow(t, "nothing within 5s")
		return ""
	}
}

// waitParked waits until no read loop runs (on Linux: every idle session is
// parked).
func waitParked(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		return
	}
	require.Eventually(t, func() bool { return countStacks("websocket.(*link).serve") == 0 },
		5*time.Second, 5*time.Millisecond, "read loops of idle sessions")
}

// A parked session still ends as it should, whoever ends it: the server at
// once (its read loop resumes to find the network connection closed), the
// server gracefully (the client gets a close frame, and the read loop waits
// for the answer), the client hanging up, the client's close frame. Nothing
// is left. (Not parallel: it counts goroutines.)
func TestParkedSessionCloses(t *testing.T) {
	for _, tt := range []struct {
		name   string
		close  func(ws *websocket.Conn, c *transport.Conn)
		reason string
		frame  bool // the client gets a close frame
	}{
		{"server at once", func(_ *websocket.Conn, c *transport.Conn) { c.CloseWithReason("kicked", false) }, "kicked", false},
		{"server gracefully", func(_ *websocket.Conn, c *transport.Conn) { c.Close() }, transport.ReasonForcedClose, true},
		{"client hangs up", func(ws *websocket.Conn, _ *transport.Conn) { _ = ws.NetConn().Close() }, transport.ReasonTransportClose, false},
		{"client close frame", func(ws *websocket.Conn, _ *transport.Conn) {
			_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		}, transport.ReasonTransportClose, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{msgs: make(chan string, 10), closes: make(chan string, 10)}
			eng, url, conns := serverWith(t, nil, rec)
			ws, c := dial(t, url, conns)
			waitParked(t)
			tt.close(ws, c)
			assert.Equal(t, tt.reason, recvWithin(t, rec.closes))
			if tt.frame {
				_, _, err := ws.ReadMessage() // answers the close frame
				var ce *websocket.CloseError
				require.ErrorAs(t, err, &ce)
				assert.Equal(t, websocket.CloseNoStatusReceived, ce.Code)
			}
			require.Eventually(t, func() bool { return countStacks("websocket.(*link).serve") == 0 && eng.Len() == 0 },
				5*time.Second, 5*time.Millisecond, "read loop or session left")
		})
	}
}

// A parked session closed gracefully whose client never answers the close
// frame (it reads nothing) is let go at the write timeout: the read loop
// resumes to wait for the answer, and Shutdown finds nothing held.
func TestParkedSessionSilentClient(t *testing.T) {
	rec := &recorder{msgs: make(chan string, 10), closes: make(chan string, 10)}
	eng, url, conns := serverWith(t, nil, rec, transport.WithWriteTimeout(300*time.Millisecond))
	_, c := dial(t, url, conns)
	waitParked(t)
	c.Close()
	assert.Equal(t, transport.ReasonForcedClose, recvWithin(t, rec.closes))
	require.Eventually(t, func() bool { return countStacks("websocket.(*link).serve") == 0 && eng.Len() == 0 },
		5*time.Second, 5*time.Millisecond, "read loop or session left")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	assert.NoError(t, eng.Shutdown(ctx), "the session's hold was released")
}

// A parked session whose client stops answering pings is closed by the
// ping timeout, like any other.
func TestParkedSessionPingTimeout(t *testing.T) {
	rec := &recorder{msgs: make(chan string, 10), closes: make(chan string, 10)}
	eng, url, conns := serverWith(t, nil, rec, transport.WithPingInterval(700*time.Millisecond), transport.WithPingTimeout(300*time.Millisecond))
	_, _ = dial(t, url, conns)
	waitParked(t)
	assert.Equal(t, transport.ReasonPingTimeout, recvWithin(t, rec.closes))
	require.Eventually(t, func() bool { return countStacks("websocket.(*link).serve") == 0 && eng.Len() == 0 },
		5*time.Second, 5*time.Millisecond, "read loop or session left")
}
