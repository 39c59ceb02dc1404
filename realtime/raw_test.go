package realtime_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
	"github.com/vicinity-go/vicinity/realtime"
)

// wait bounds every wait in these tests; nothing should come near it.
const wait = 5 * time.Second

// serve starts srv on 127.0.0.1 and stops both at cleanup.
func serve(t testing.TB, srv *realtime.Server) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = srv.Shutdown(ctx)
		ts.Close()
	})
	return ts
}

// raw speaks Engine.IO and Socket.IO by hand over a WebSocket, to test the
// server's answers to exact (and malformed) packets.
type raw struct {
	t  testing.TB
	ws *websocket.Conn
}

func dialRaw(t testing.TB, ts *httptest.Server) *raw {
	t.Helper()
	u := "ws" + strings.TrimPrefix(ts.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
	ws, _, err := websocket.DefaultDialer.Dial(u, nil)
	require.NoError(t, err, "dial %s", u)
	t.Cleanup(func() { _ = ws.Close() })
	r := &raw{t: t, ws: ws}
	open := r.next()
	require.True(t, strings.HasPrefix(open, `0{"sid":"`), "open packet %q", open)
	return r
}

// connect joins nsp ("/" or "/x") and returns the CONNECT reply.
func (r *raw) connect(nsp, auth string) string {
	r.t.Helper()
	p := "40"
	if nsp != "/" {
		p += nsp + ","
	}
	r.send(p + auth)
	return r.next()
}

func (r *raw) send(s string) {
	r.t.Helper()
	require.NoError(r.t, r.ws.WriteMessage(websocket.TextMessage, []byte(s)), "send %q", s)
}

func (r *raw) sendBinary(b []byte) {
	r.t.Helper()
	require.NoError(r.t, r.ws.WriteMessage(websocket.BinaryMessage, b))
}

// next returns the next text frame, answering pings on the way.
func (r *raw) next() string {
	r.t.Helper()
	for {
		typ, data := r.read()
		require.Equal(r.t, websocket.TextMessage, typ, "frame %q", data)
		if string(data) == "2" {
			r.send("3")
			continue
		}
		return string(data)
	}
}

func (r *raw) read() (int, []byte) {
	r.t.Helper()
	require.NoError(r.t, r.ws.SetReadDeadline(time.Now().Add(wait)))
	typ, data, err := r.ws.ReadMessage()
	require.NoError(r.t, err, "read")
	return typ, data
}

// closed asserts the server closes the connection, skipping what it sends
// before.
func (r *raw) closed() {
	r.t.Helper()
	require.NoError(r.t, r.ws.SetReadDeadline(time.Now().Add(wait)))
	for {
		if _, _, err := r.ws.ReadMessage(); err != nil {
			var ne interface{ Timeout() bool }
			if ok := asTimeout(err, &ne); ok && ne.Timeout() {
				r.t.Fatal("connection still open")
			}
			return
		}
	}
}

func asTimeout(err error, target *interface{ Timeout() bool }) bool {
	te, ok := err.(interface{ Timeout() bool })
	if ok {
		*target = te
	}
	return ok
}

// recv returns a value from ch or fails after wait.
func recv[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatal("timed out waiting")
		panic("unreachable")
	}
}
