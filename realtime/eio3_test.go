package realtime_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/realtime"
)

// dialV3 opens a WebSocket as socket.io-client 2.x does (Engine.IO v3).
func dialV3(t *testing.T, url string) *raw {
	t.Helper()
	u := "ws" + strings.TrimPrefix(url, "http") + "/socket.io/?EIO=3&transport=websocket"
	ws, _, err := websocket.DefaultDialer.Dial(u, nil)
	require.NoError(t, err, "dial %s", u)
	t.Cleanup(func() { _ = ws.Close() })
	r := &raw{t: t, ws: ws}
	require.True(t, strings.HasPrefix(r.next(), `0{"sid":"`))
	return r
}

// A Socket.IO 2 client is connected to "/" at once, with an empty CONNECT
// reply; its namespaces take their auth from their query; a refusal is an
// ERROR packet with the error's data.
func TestSocketIO2Client(t *testing.T) {
	t.Parallel()
	srv := realtime.New(realtime.WithAllowEIO3(true))
	auths := make(chan string, 1)
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("echo", func(e *realtime.Event) { _ = e.Ack(e.Values()...) })
	})
	chat := srv.Of("/chat")
	chat.Use(func(s *realtime.Socket) error {
		if strings.Contains(string(s.Handshake().Auth), "bad") {
			return &realtime.ConnectError{Message: "no", Data: map[string]int{"code": 4}}
		}
		return nil
	})
	chat.OnConnection(func(s *realtime.Socket) { auths <- string(s.Handshake().Auth) })
	ts := serve(t, srv)

	r := dialV3(t, ts.URL)
	assert.Equal(t, "40", r.next(), "joined / without asking, no payload")
	r.send(`421["echo",1]`)
	assert.Equal(t, `431[1]`, r.next())
	r.send(`40/chat?token=x&n=1,`)
	assert.Equal(t, `40/chat,`, r.next())
	assert.JSONEq(t, `{"token":"x","n":"1"}`, recv(t, auths))
	r.send(`40/nope,`)
	assert.Equal(t, `44/nope,{"message":"Invalid namespace"}`, r.next(), "as Node, whatever the protocol")

	refused := dialV3(t, ts.URL)
	assert.Equal(t, "40", refused.next())
	refused.send(`40/chat?token=bad,`)
	assert.Equal(t, `44/chat,{"code":4}`, refused.next(), "the middleware's data alone")
}

// Many Socket.IO 2 clients opening at once: their automatic CONNECT races
// nothing (run with -race).
func TestSocketIO2ClientsOpenAtOnce(t *testing.T) {
	t.Parallel()
	srv := realtime.New(realtime.WithAllowEIO3(true))
	ts := serve(t, srv)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			r := dialV3(t, ts.URL)
			assert.Equal(t, "40", r.next())
		})
	}
	wg.Wait()
}
