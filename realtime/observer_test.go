package realtime_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/presence"
	"github.com/vicinity-go/vicinity/realtime"
	"github.com/vicinity-go/vicinity/spatial"
	"github.com/vicinity-go/vicinity/transport"
)

// recorder is an Observer counting what it is told, by "Method/detail".
type recorder struct {
	mu     sync.Mutex
	counts map[string]int
}

func newRecorder() *recorder { return &recorder{counts: make(map[string]int)} }

func (r *recorder) add(key string, n int) {
	r.mu.Lock()
	r.counts[key] += n
	r.mu.Unlock()
}

func (r *recorder) get(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[key]
}

func (r *recorder) snapshot() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.counts))
	for k, v := range r.counts {
		out[k] = v
	}
	return out
}

func (r *recorder) ConnOpened(c *realtime.Conn) { r.add("ConnOpened/"+c.Transport(), 1) }
func (r *recorder) ConnUpgraded(_ *realtime.Conn, t string) {
	r.add("ConnUpgraded/"+t, 1)
}
func (r *recorder) ConnClosed(_ *realtime.Conn, reason string) { r.add("ConnClosed/"+reason, 1) }
func (r *recorder) BytesIn(t string, n int)                    { r.add("BytesIn/"+t, n) }
func (r *recorder) BytesOut(t string, n int)                   { r.add("BytesOut/"+t, n) }
func (r *recorder) PacketsDropped(t string, n int)             { r.add("PacketsDropped/"+t, n) }
func (r *recorder) NamespaceCreated(n *realtime.Namespace)     { r.add("NamespaceCreated/"+n.Name(), 1) }
func (r *recorder) NamespaceDropped(n *realtime.Namespace)     { r.add("NamespaceDropped/"+n.Name(), 1) }
func (r *recorder) SocketConnected(s *realtime.Socket) {
	r.add("SocketConnected/"+s.Namespace().Name(), 1)
}
func (r *recorder) SocketDisconnected(_ *realtime.Socket, reason string) {
	r.add("SocketDisconnected/"+reason, 1)
}
func (r *recorder) ConnectRefused(_ *realtime.Conn, nsp string, err error) {
	r.add("ConnectRefused/"+nsp+"/"+err.Error(), 1)
}
func (r *recorder) RoomJoined(s *realtime.Socket, room string) {
	r.add("RoomJoined/"+roomName(s, room), 1)
}
func (r *recorder) RoomLeft(s *realtime.Socket, room string) { r.add("RoomLeft/"+roomName(s, room), 1) }
func (r *recorder) PacketIn(t realtime.PacketType)           { r.add("PacketIn/"+t.String(), 1) }
func (r *recorder) PacketsOut(t realtime.PacketType, n int)  { r.add("PacketsOut/"+t.String(), n) }
func (r *recorder) EventSent(_ *realtime.Socket, event string, args []any) {
	r.add(fmt.Sprintf("EventSent/%s/%d", event, len(args)), 1)
}
func (r *recorder) EventRefused(_ *realtime.Socket, event, reason string) {
	r.add("EventRefused/"+event+"/"+reason, 1)
}
func (r *recorder) AckTimedOut(_ *realtime.Namespace, event string, n int) {
	r.add("AckTimedOut/"+event, n)
}
func (r *recorder) HandlerPanicked(_ *realtime.Socket, what string) {
	r.add("HandlerPanicked/"+what, 1)
}
func (r *recorder) PresenceTracked(_ *realtime.Socket, room string) {
	r.add("PresenceTracked/"+room, 1)
}
func (r *recorder) PresenceUntracked(_ *realtime.Socket, room string) {
	r.add("PresenceUntracked/"+room, 1)
}
func (r *recorder) Located(_ *realtime.Socket, added bool) { r.add(fmt.Sprint("Located/", added), 1) }
func (r *recorder) Unlocated(*realtime.Socket)             { r.add("Unlocated", 1) }
func (r *recorder) WatchStarted(*realtime.Socket)          { r.add("WatchStarted", 1) }
func (r *recorder) WatchEnded(*realtime.Socket)            { r.add("WatchEnded", 1) }
func (r *recorder) SpatialEvents(event string, n int)      { r.add("SpatialEvents/"+event, n) }

// roomName names a socket's own room "self".
func roomName(s *realtime.Socket, room string) string {
	if room == s.ID() {
		return "self"
	}
	return room
}

var _ realtime.Observer = (*recorder)(nil)

// polling is a long-polling client spoken by hand.
type polling struct {
	t   *testing.T
	url string // with the sid
	sid string
}

var sidRE = regexp.MustCompile(`"sid":"([^"]+)"`)

func dialPolling(t *testing.T, ts *httptest.Server) *polling {
	t.Helper()
	base := ts.URL + "/socket.io/?EIO=4&transport=polling"
	body := httpDo(t, http.MethodGet, base, "")
	m := sidRE.FindStringSubmatch(body)
	require.Len(t, m, 2, "open packet %q", body)
	return &polling{t: t, url: base + "&sid=" + m[1], sid: m[1]}
}

func (p *polling) post(body string) {
	p.t.Helper()
	require.Equal(p.t, "ok", httpDo(p.t, http.MethodPost, p.url, body), "POST %q", body)
}

func (p *polling) get() string {
	p.t.Helper()
	return httpDo(p.t, http.MethodGet, p.url, "")
}

func httpDo(t *testing.T, method, url, body string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	require.NoError(t, err)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err, "%s %s", method, url)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return string(b)
}

// upgrade moves p's session to a WebSocket and returns it, as raw.
func (p *polling) upgrade(ts *httptest.Server) *raw {
	p.t.Helper()
	u := "ws" + strings.TrimPrefix(ts.URL, "http") + "/socket.io/?EIO=4&transport=websocket&sid=" + p.sid
	ws, _, err := websocket.DefaultDialer.Dial(u, nil)
	require.NoError(p.t, err, "dial %s", u)
	p.t.Cleanup(func() { _ = ws.Close() })
	r := &raw{t: p.t, ws: ws}
	r.send("2probe")
	require.Equal(p.t, "3probe", r.next())
	r.send("5")
	return r
}

// until reads frames until a text frame equal to want, and returns the
// binary frames read on the way.
func (r *raw) until(want string) [][]byte {
	r.t.Helper()
	var bins [][]byte
	for {
		typ, data := r.read()
		switch {
		case typ == websocket.BinaryMessage:
			bins = append(bins, data)
		case string(data) == "2":
			r.send("3")
		case string(data) == want:
			return bins
		}
	}
}

// TestObserverSession scripts a session and checks what an observer is
// told: two clients connect over polling, one upgrades, joins a room,
// sends events (one binary, one over the rate limit, one whose handler
// panics, one whose handler's EmitWithAck ends by its context) and gets
// answers; the other, which does not poll, loses volatile packets and is
// then closed as a slow client.
func TestObserverSession(t *testing.T) {
	rec := newRecorder()
	srv := realtime.New(
		realtime.WithObserver(rec),
		realtime.WithEventRate(0.001, 5), // 5 events, then refusals
		realtime.WithTransportOptions(transport.WithSendQueue(8, 1<<20)),
	)
	socks := make(chan *realtime.Socket, 2)
	srv.OnConnection(func(s *realtime.Socket) {
		socks <- s
		s.On("join", func(e *realtime.Event) {
			s.Join("lobby")
			_ = e.Ack("ok")
		})
		s.On("bin", func(e *realtime.Event) {
			var b []byte
			require.NoError(t, e.Bind(&b))
			_ = s.Emit("bin", b)
		})
		s.On("boom", func(*realtime.Event) { panic("boom") })
		s.On("ask", func(*realtime.Event) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, err := s.EmitWithAck(ctx, "question")
			assert.ErrorIs(t, err, context.Canceled)
		})
	})
	ts := serve(t, srv)

	// b connects over polling and then stops polling.
	b := dialPolling(t, ts)
	b.post("40")
	require.Contains(t, b.get(), `40{"sid":"`)
	bs := recv(t, socks)

	a := dialPolling(t, ts)
	a.post("40")
	require.Contains(t, a.get(), `40{"sid":"`)
	as := recv(t, socks)
	as.On("flood", func(*realtime.Event) {
		for i := range 20 {
			_ = bs.EmitVolatile("v", i) // 8 fit in b's queue, 12 are dropped
		}
		_ = bs.Emit("x") // closes b as slow
		_ = as.Emit("flooded")
	})
	ws := a.upgrade(ts)

	ws.send(`420["join","lobby"]`)
	ws.until(`430["ok"]`)
	ws.send(`451-["bin",{"_placeholder":true,"num":0}]`)
	ws.sendBinary([]byte{1, 2, 3})
	bins := ws.until(`451-["bin",{"_placeholder":true,"num":0}]`)
	assert.Empty(t, bins)
	_, bin := ws.read()
	assert.Equal(t, []byte{1, 2, 3}, bin)
	ws.send(`42["boom"]`)
	ws.send(`42["ask"]`)
	ws.send(`42["flood"]`)
	ws.until(`42["flooded"]`)
	ws.send(`421["over"]`) // the sixth event
	ws.until(`431[{"error":"rate limited"}]`)
	ws.send("41")
	require.Eventually(t, func() bool { return !as.Connected() }, wait, time.Millisecond)
	require.NoError(t, ws.ws.Close())

	want := map[string]int{
		"ConnOpened/polling":                             2,
		"ConnUpgraded/websocket":                         1,
		"ConnClosed/slow client":                         1,
		"ConnClosed/transport close":                     1,
		"NamespaceCreated//":                             1, // "/" by New
		"SocketConnected//":                              2,
		"SocketDisconnected/slow client":                 1,
		"SocketDisconnected/client namespace disconnect": 1,
		"RoomJoined/self":                                2,
		"RoomJoined/lobby":                               1,
		"RoomLeft/self":                                  2,
		"RoomLeft/lobby":                                 1,

		"PacketIn/connect":        2,
		"PacketIn/event":          5, // join, boom, ask, flood, over; bin's is binary
		"PacketIn/binary_event":   1,
		"PacketIn/disconnect":     1,
		"PacketsOut/connect":      2,
		"PacketsOut/ack":          2, // join's and over's refusal
		"PacketsOut/binary_event": 1,
		"PacketsOut/event":        8 + 1 + 1, // b's volatile packets, question, flooded
		"PacketsDropped/polling":  12,

		"EventSent/bin/1":                1,
		"EventSent/question/0":           1,
		"EventSent/v/1":                  20,
		"EventSent/x/0":                  1,
		"EventSent/flooded/0":            1,
		"EventRefused/over/rate limited": 1,
		"AckTimedOut/question":           1,
		"HandlerPanicked/boom":           1,
	}
	traffic := func() map[string]int {
		got := rec.snapshot()
		for _, k := range []string{"BytesIn/polling", "BytesIn/websocket", "BytesOut/polling", "BytesOut/websocket"} {
			assert.Positive(t, got[k], k)
			delete(got, k)
		}
		return got
	}
	if !assert.Eventually(t, func() bool { return assert.ObjectsAreEqual(want, traffic()) }, wait, time.Millisecond) {
		assert.Equal(t, want, traffic())
	}
}

// TestObserverExtensions checks the hooks of dynamic namespaces, refused
// CONNECTs, presence and locations.
func TestObserverExtensions(t *testing.T) {
	rec := newRecorder()
	srv := realtime.New(
		realtime.WithObserver(rec),
		realtime.WithPresence(presence.New(), func(s *realtime.Socket) (string, presence.Meta, error) {
			return "user-" + s.ID()[:4], presence.Meta{}, nil
		}),
		realtime.WithSpatial(),
	)
	srv.OfRegexp(regexp.MustCompile(`^/room-\d+$`)).OnConnection(func(s *realtime.Socket) {
		s.On("here", func(e *realtime.Event) {
			_ = s.Join("lobby")
			assert.NoError(t, s.Watch(100))
			assert.NoError(t, s.SetLocation(spatial.Point{Lat: 1, Lng: 2}, 0))
			_ = e.Ack()
		})
	})
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	assert.Equal(t, `44/nope,{"message":"Invalid namespace"}`, r.connect("/nope", ""))
	assert.Contains(t, r.connect("/room-1", ""), `40/room-1,{"sid":"`)
	r.send(`42/room-1,1["here"]`)
	r.until(`43/room-1,1[]`)
	r.send("41/room-1,")
	require.Eventually(t, func() bool { return rec.get("NamespaceDropped//room-1") == 1 }, wait, time.Millisecond)
	want := map[string]int{
		"ConnectRefused//nope/realtime: connection refused: Invalid namespace": 1,
		"NamespaceCreated//room-1": 1,
		"NamespaceDropped//room-1": 1,
		"PresenceTracked/":         1,
		"PresenceTracked/lobby":    1,
		"PresenceUntracked/":       1,
		"PresenceUntracked/lobby":  1,
		"WatchStarted":             1,
		"WatchEnded":               1,
		"Located/true":             1,
		"Unlocated":                1,
	}
	got := rec.snapshot()
	for k, v := range want {
		assert.Equal(t, v, got[k], k)
	}
}
