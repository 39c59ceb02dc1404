package realtime_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/client"
	"github.com/vicinity-go/vicinity/realtime"
	"github.com/vicinity-go/vicinity/spatial"
	"github.com/vicinity-go/vicinity/transport"
)

// sseBlock is one block of an SSE stream (the lines up to a blank line).
type sseBlock struct {
	Event, Data, ID string
	HasID           bool
	Comments        []string
	Retry           string
}

// sseStream is a client of an event stream, parsing it as EventSource does.
type sseStream struct {
	resp   *http.Response
	blocks chan sseBlock
}

// streamServer serves srv at /socket.io/ and es at /events on 127.0.0.1
// until the test ends.
func streamServer(t *testing.T, srv *realtime.Server, es http.Handler) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	mux.Handle("/events", es)
	ts := httptest.NewServer(mux)
	t.Cleanup(func() {
		_ = srv.Close()
		ts.Close()
	})
	return ts
}

// openStream GETs url with header and reads its blocks on a goroutine
// until the body ends, which the test's end makes sure of.
func openStream(t *testing.T, url string, header http.Header) *sseStream {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err, "GET %s", url)
	s := &sseStream{resp: resp, blocks: make(chan sseBlock, 1024)}
	t.Cleanup(func() { _ = resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		close(s.blocks)
		return s
	}
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	go func() {
		defer close(s.blocks)
		sc := bufio.NewScanner(resp.Body)
		var b sseBlock
		empty := true
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				if !empty {
					s.blocks <- b
				}
				b, empty = sseBlock{}, true
				continue
			}
			empty = false
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "":
				b.Comments = append(b.Comments, value)
			case "event":
				b.Event = value
			case "data":
				b.Data = value
			case "id":
				b.ID, b.HasID = value, true
			case "retry":
				b.Retry = value
			}
		}
	}()
	return s
}

// next returns the next block, failing the test if none comes in time or
// the stream ended.
func (s *sseStream) next(t *testing.T) sseBlock {
	t.Helper()
	select {
	case b, ok := <-s.blocks:
		require.True(t, ok, "the stream ended")
		return b
	case <-time.After(5 * time.Second):
		require.FailNow(t, "no block in 5s")
		return sseBlock{}
	}
}

// nextEvent returns the next block with data, skipping comments and ids.
func (s *sseStream) nextEvent(t *testing.T) sseBlock {
	t.Helper()
	for range 100 {
		if b := s.next(t); b.Data != "" {
			return b
		}
	}
	require.FailNow(t, "no event in 100 blocks")
	return sseBlock{}
}

// ended waits until the stream ends, failing the test if it does not;
// it returns the events read meanwhile.
func (s *sseStream) ended(t *testing.T) []sseBlock {
	t.Helper()
	var got []sseBlock
	for {
		select {
		case b, ok := <-s.blocks:
			if !ok {
				return got
			}
			if b.Data != "" {
				got = append(got, b)
			}
		case <-time.After(5 * time.Second):
			require.FailNow(t, "the stream did not end in 5s")
		}
	}
}

// start reads the stream's first block, written once the client is
// registered: broadcasts from then on reach it.
func (s *sseStream) start(t *testing.T) sseBlock {
	t.Helper()
	b := s.next(t)
	require.Equal(t, "2000", b.Retry, "the first block suggests a retry delay")
	return b
}

func TestEventStreamEvents(t *testing.T) {
	t.Parallel()
	srv := realtime.New()
	nsp := srv.Of("/")
	es := nsp.EventStream([]string{"lobby"}, realtime.StreamOptions{})
	ts := streamServer(t, srv, es)
	s := openStream(t, ts.URL+"/events", nil)
	s.start(t)

	require.NoError(t, srv.To("lobby").Emit("one", map[string]any{"n": 1}))
	require.NoError(t, srv.To("elsewhere").Emit("other", 0))                     // another room
	require.NoError(t, srv.To("lobby").Emit("binary", []byte{1, 2}))             // binary: not streamed
	_ = srv.To("lobby").Near(spatial.Point{Lat: 1, Lng: 1}, 100).Emit("near", 1) // needs a location
	require.NoError(t, srv.To("lobby").Emit("two", "a", 2))                      // several arguments
	require.NoError(t, srv.To("lobby").Emit("three"))                            // none
	require.NoError(t, srv.Emit("everyone", "hi"))                               // the whole namespace reaches the room
	require.NoError(t, srv.To("lobby").Except("lobby").Emit("except", 1))        // excluded

	for _, want := range []sseBlock{
		{Event: "one", Data: `{"n":1}`},
		{Event: "two", Data: `["a",2]`},
		{Event: "three", Data: `[]`},
		{Event: "everyone", Data: `"hi"`},
	} {
		got := s.nextEvent(t)
		assert.Equal(t, want.Event, got.Event)
		assert.Equal(t, want.Data, got.Data, "data of %s", want.Event)
		assert.False(t, got.HasID, "no id without recovery")
	}
	assert.Equal(t, 1, es.Len())
}

func TestEventStreamFilterAndState(t *testing.T) {
	t.Parallel()
	srv := realtime.New()
	es := srv.Of("/").EventStream([]string{"a", "b"}, realtime.StreamOptions{Events: []string{"chat"}, State: []string{"count", "mood"}})
	ts := streamServer(t, srv, es)
	require.NoError(t, srv.To("a").Emit("count", 1))
	require.NoError(t, srv.To("b").Emit("mood", "calm"))
	require.NoError(t, srv.To("a").Emit("count", 2)) // the last count is kept, after the mood
	require.NoError(t, srv.To("a").Emit("chat", "before"))

	s := openStream(t, ts.URL+"/events", nil)
	s.start(t)
	assert.Equal(t, sseBlock{Event: "mood", Data: `"calm"`}, s.nextEvent(t))
	assert.Equal(t, sseBlock{Event: "count", Data: `2`}, s.nextEvent(t))
	require.NoError(t, srv.To("a").Emit("noise", 1)) // not in Events
	require.NoError(t, srv.To("b").Emit("chat", "live"))
	assert.Equal(t, sseBlock{Event: "chat", Data: `"live"`}, s.nextEvent(t))
}

func TestEventStreamHeartbeat(t *testing.T) {
	t.Parallel()
	srv := realtime.New()
	es := srv.Of("/").EventStream([]string{"r"}, realtime.StreamOptions{Heartbeat: 20 * time.Millisecond})
	ts := streamServer(t, srv, es)
	s := openStream(t, ts.URL+"/events", nil)
	s.start(t)
	assert.Equal(t, sseBlock{Comments: []string{"ping"}}, s.next(t))
	assert.Equal(t, sseBlock{Comments: []string{"ping"}}, s.next(t))
}

func TestEventStreamResume(t *testing.T) {
	t.Parallel()
	srv := realtime.New(realtime.WithRecovery(time.Minute, true))
	es := srv.Of("/").EventStream([]string{"r"}, realtime.StreamOptions{})
	ts := streamServer(t, srv, es)

	s := openStream(t, ts.URL+"/events", nil)
	s.start(t)
	fresh := s.next(t)
	assert.True(t, fresh.HasID, "a fresh stream gets the id to resume from")
	assert.NotEmpty(t, fresh.ID, "the stream's start, though nothing was broadcast yet")
	for i := range 3 {
		require.NoError(t, srv.To("r").Emit("n", i))
	}
	var last string
	for i := range 3 {
		b := s.nextEvent(t)
		require.Equal(t, sseBlock{Event: "n", Data: string(rune('0' + i)), ID: b.ID, HasID: true}, b)
		require.NotEmpty(t, b.ID)
		last = b.ID
	}
	_ = s.resp.Body.Close()
	require.Eventually(t, func() bool { return es.Len() == 0 }, 5*time.Second, 5*time.Millisecond, "the handler ends with its client")

	for i := 3; i < 5; i++ { // missed
		require.NoError(t, srv.To("r").Emit("n", i))
	}
	s = openStream(t, ts.URL+"/events", http.Header{"Last-Event-Id": {last}})
	s.start(t)
	got := []string{s.nextEvent(t).Data, s.nextEvent(t).Data}
	require.NoError(t, srv.To("r").Emit("n", 5)) // live
	b := s.nextEvent(t)
	got = append(got, b.Data)
	assert.Equal(t, []string{"3", "4", "5"}, got, "missed then live, no gap, no duplicate")

	// The same with the query parameter, from the last id: only what follows.
	s2 := openStream(t, ts.URL+"/events?lastEventId="+b.ID, nil)
	s2.start(t)
	require.NoError(t, srv.To("r").Emit("n", 6))
	assert.Equal(t, "6", s2.nextEvent(t).Data)
	assert.Equal(t, "6", s.nextEvent(t).Data)

	// An unknown id: told, then live.
	s3 := openStream(t, ts.URL+"/events", http.Header{"Last-Event-Id": {"nope"}})
	s3.start(t)
	reset := s3.next(t)
	assert.Equal(t, realtime.EventStreamReset, reset.Event)
	assert.Contains(t, reset.Data, "unknown or too old")
	assert.True(t, s3.next(t).HasID, "then the id to resume from")
	require.NoError(t, srv.To("r").Emit("n", 7))
	assert.Equal(t, "7", s3.nextEvent(t).Data)
}

func TestEventStreamResumeTooOld(t *testing.T) {
	t.Parallel()
	srv := realtime.New(realtime.WithRecovery(time.Minute, true))
	es := srv.Of("/").EventStream([]string{"r"}, realtime.StreamOptions{Buffer: 4})
	ts := streamServer(t, srv, es)
	s := openStream(t, ts.URL+"/events", nil)
	s.start(t)
	require.NoError(t, srv.To("r").Emit("n", 0))
	first := s.nextEvent(t).ID
	for i := 1; i < 8; i++ { // more than the buffer keeps
		require.NoError(t, srv.To("r").Emit("n", i))
	}
	s2 := openStream(t, ts.URL+"/events", http.Header{"Last-Event-Id": {first}})
	s2.start(t)
	assert.Equal(t, realtime.EventStreamReset, s2.next(t).Event)
}

func TestEventStreamNoRecovery(t *testing.T) {
	t.Parallel()
	srv := realtime.New()
	es := srv.Of("/").EventStream([]string{"r"}, realtime.StreamOptions{})
	ts := streamServer(t, srv, es)
	s := openStream(t, ts.URL+"/events", http.Header{"Last-Event-Id": {"x"}})
	s.start(t)
	reset := s.next(t)
	assert.Equal(t, realtime.EventStreamReset, reset.Event)
	assert.Contains(t, reset.Data, "recovery is off")
	require.NoError(t, srv.To("r").Emit("n", 1))
	b := s.next(t)
	assert.Equal(t, sseBlock{Event: "n", Data: "1"}, b, "no id, no id block")
}

func TestEventStreamOrigin(t *testing.T) {
	t.Parallel()
	srv := realtime.New(realtime.WithTransportOptions(transport.WithAllowedOrigins("https://app.example")))
	es := srv.Of("/").EventStream([]string{"r"}, realtime.StreamOptions{})
	ts := streamServer(t, srv, es)
	tests := []struct {
		name, origin string
		status       int
	}{
		{name: "no origin (not a browser)", status: http.StatusOK},
		{name: "own origin", origin: ts.URL, status: http.StatusOK},
		{name: "listed", origin: "https://app.example", status: http.StatusOK},
		{name: "other", origin: "https://evil.example", status: http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			// The Socket.IO endpoint decides the same.
			req, _ := http.NewRequest(http.MethodGet, ts.URL+"/socket.io/?EIO=4&transport=polling", nil)
			req.Header = h.Clone()
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			_ = resp.Body.Close()
			assert.Equal(t, tt.status, resp.StatusCode, "Socket.IO endpoint, origin %q", tt.origin)

			s := openStream(t, ts.URL+"/events", h)
			assert.Equal(t, tt.status, s.resp.StatusCode, "event stream, origin %q", tt.origin)
			if tt.origin != "" && tt.status == http.StatusOK {
				assert.Equal(t, tt.origin, s.resp.Header.Get("Access-Control-Allow-Origin"))
			}
			_ = s.resp.Body.Close()
		})
	}
}

func TestEventStreamLimits(t *testing.T) {
	t.Parallel()
	srv := realtime.New()
	es := srv.Of("/").EventStream([]string{"r"}, realtime.StreamOptions{MaxClients: 1})
	ts := streamServer(t, srv, es)
	s := openStream(t, ts.URL+"/events", nil)
	s.start(t)
	full := openStream(t, ts.URL+"/events", nil)
	assert.Equal(t, http.StatusServiceUnavailable, full.resp.StatusCode, "past MaxClients")

	resp, err := http.Post(ts.URL+"/events", "text/plain", nil)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)

	assert.Panics(t, func() { srv.Of("/").EventStream(nil, realtime.StreamOptions{}) }, "no rooms")
	assert.Panics(t, func() { srv.Of("/").EventStream([]string{"r"}, realtime.StreamOptions{Buffer: -1}) }, "negative buffer")

	_ = s.resp.Body.Close()
	require.Eventually(t, func() bool { return es.Len() == 0 }, 5*time.Second, 5*time.Millisecond)
	again := openStream(t, ts.URL+"/events", nil)
	again.start(t)

	es.Close()
	again.ended(t)
	closed := openStream(t, ts.URL+"/events", nil)
	assert.Equal(t, http.StatusServiceUnavailable, closed.resp.StatusCode, "after Close")
}

func TestEventStreamShutdown(t *testing.T) {
	t.Parallel()
	srv := realtime.New()
	es := srv.Of("/").EventStream([]string{"r"}, realtime.StreamOptions{})
	ts := streamServer(t, srv, es)
	s := openStream(t, ts.URL+"/events", nil)
	s.start(t)
	require.NoError(t, srv.To("r").Emit("bye", 1))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, srv.Shutdown(ctx))
	got := s.ended(t)
	require.NotEmpty(t, got, "what was queued is written")
	assert.Equal(t, "bye", got[0].Event)
	assert.Equal(t, 0, es.Len())
	after := openStream(t, ts.URL+"/events", nil)
	assert.Equal(t, http.StatusServiceUnavailable, after.resp.StatusCode, "after Shutdown")
}

// gatedWriter blocks every Write until gate is closed: a client that does
// not read.
type gatedWriter struct {
	http.ResponseWriter
	gate <-chan struct{}
}

func (g gatedWriter) Write(b []byte) (int, error) {
	<-g.gate
	return g.ResponseWriter.Write(b)
}

func (g gatedWriter) Unwrap() http.ResponseWriter { return g.ResponseWriter }

func TestEventStreamSlowClient(t *testing.T) {
	t.Parallel()
	srv := realtime.New(realtime.WithRecovery(time.Minute, true))
	es := srv.Of("/").EventStream([]string{"r"}, realtime.StreamOptions{Buffer: 8})
	gate := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(open)
	var slowOnce sync.Once
	ts := streamServer(t, srv, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("slow") == "" {
			es.ServeHTTP(w, r)
			return
		}
		served := false
		slowOnce.Do(func() { served = true; es.ServeHTTP(gatedWriter{w, gate}, r) })
		if !served {
			es.ServeHTTP(w, r)
		}
	}))
	go func() { // the slow client's request: its handler blocks in its first write
		resp, err := http.Get(ts.URL + "/events?slow=1")
		if err == nil {
			_ = resp.Body.Close()
		}
	}()
	require.Eventually(t, func() bool { return es.Len() == 1 }, 5*time.Second, 5*time.Millisecond)
	for i := range 6 {
		require.NoError(t, srv.To("r").Volatile().Emit("v", i)) // volatile: dropped when behind, never fatal
	}
	for i := range 20 {
		require.NoError(t, srv.To("r").Emit("n", i))
	}
	open()
	require.Eventually(t, func() bool { return es.Len() == 0 }, 5*time.Second, 5*time.Millisecond, "the slow client is disconnected")
}

func TestEventStreamCluster(t *testing.T) {
	t.Parallel()
	srv := realtime.New()
	nsp := srv.Of("/")
	ma, ok := nsp.Adapter().(*realtime.MemoryAdapter)
	require.True(t, ok)
	assert.False(t, ma.HasRoom("r"))
	es := nsp.EventStream([]string{"r"}, realtime.StreamOptions{})
	assert.True(t, ma.HasRoom("r"), "a cluster adapter asks HasRoom whether to deliver the room's broadcasts here")
	ts := streamServer(t, srv, es)
	s := openStream(t, ts.URL+"/events", nil)
	s.start(t)
	// Another server's broadcast, as a cluster adapter delivers it.
	p := realtime.NewPacket([]byte(`2["remote",{"from":"node2"}]`), nil, "")
	require.NoError(t, ma.Broadcast(context.Background(), p, realtime.BroadcastOptions{Rooms: []string{"r"}, Local: true}))
	assert.Equal(t, sseBlock{Event: "remote", Data: `{"from":"node2"}`}, s.nextEvent(t))
	es.Close()
	assert.False(t, ma.HasRoom("r"))
}

func TestEventStreamResumeWithState(t *testing.T) {
	t.Parallel()
	srv := realtime.New(realtime.WithRecovery(time.Minute, true))
	es := srv.Of("/").EventStream([]string{"r"}, realtime.StreamOptions{State: []string{"count"}})
	ts := streamServer(t, srv, es)
	require.NoError(t, srv.To("r").Emit("count", 1))
	s := openStream(t, ts.URL+"/events", nil)
	s.start(t)
	assert.Equal(t, sseBlock{Event: "count", Data: "1"}, s.next(t), "the state first, without an id")
	require.NoError(t, srv.To("r").Emit("chat", "x"))
	from := s.nextEvent(t).ID
	require.NoError(t, srv.To("r").Emit("count", 2))
	require.NoError(t, srv.To("r").Emit("chat", "y"))

	// A reloaded page resumes: the state (it has lost it), then what it missed.
	s2 := openStream(t, ts.URL+"/events", http.Header{"Last-Event-Id": {from}})
	s2.start(t)
	assert.Equal(t, sseBlock{Event: "count", Data: "2"}, s2.next(t))
	var got []string
	for range 2 {
		b := s2.nextEvent(t)
		assert.True(t, b.HasID, "missed events have ids")
		got = append(got, b.Event+" "+b.Data)
	}
	assert.Equal(t, []string{"count 2", `chat "y"`}, got)
}

// TestEventStreamResumeBeforeFirstEvent: a client that drops before the
// stream's first event resumes from the id of the stream's start. (An
// EventSource whose last event id is empty sends no Last-Event-ID, and
// would come back as new, missing what was sent while it was away.)
func TestEventStreamResumeBeforeFirstEvent(t *testing.T) {
	t.Parallel()
	srv := realtime.New(realtime.WithRecovery(time.Minute, true))
	es := srv.Of("/").EventStream([]string{"r"}, realtime.StreamOptions{Buffer: 4})
	ts := streamServer(t, srv, es)

	s := openStream(t, ts.URL+"/events", nil)
	s.start(t)
	start := s.next(t)
	require.True(t, start.HasID)
	require.NotEmpty(t, start.ID, "what the browser's EventSource sends back when it reconnects")
	_ = s.resp.Body.Close()
	require.Eventually(t, func() bool { return es.Len() == 0 }, 5*time.Second, 5*time.Millisecond)

	require.NoError(t, srv.To("r").Emit("n", 1)) // missed while away
	s = openStream(t, ts.URL+"/events", http.Header{"Last-Event-Id": {start.ID}})
	s.start(t)
	require.NoError(t, srv.To("r").Emit("n", 2))
	missed := s.nextEvent(t)
	assert.Equal(t, sseBlock{Event: "n", Data: "1", ID: missed.ID, HasID: true}, missed, "what it missed, then the live events")
	assert.Equal(t, "2", s.nextEvent(t).Data)

	// Once the stream has lost events since its start, its start is too old.
	for i := 3; i < 8; i++ {
		require.NoError(t, srv.To("r").Emit("n", i))
	}
	s = openStream(t, ts.URL+"/events", http.Header{"Last-Event-Id": {start.ID}})
	s.start(t)
	assert.Equal(t, realtime.EventStreamReset, s.next(t).Event)

	// A fresh client of a new stream, and that of another server, is not
	// resumed: the start's id is the stream's own.
	other := realtime.New(realtime.WithRecovery(time.Minute, true))
	oes := other.Of("/").EventStream([]string{"r"}, realtime.StreamOptions{})
	ots := streamServer(t, other, oes)
	s = openStream(t, ots.URL+"/events", http.Header{"Last-Event-Id": {start.ID}})
	s.start(t)
	assert.Equal(t, realtime.EventStreamReset, s.next(t).Event)
}

// TestEventStreamResumeEndsWithNewestState: a resumed client does not get
// the older values of a State event it missed, even when the newest was
// sent without an id (volatile, or EmitLatest), and never ends on an old
// value; it gets their ids.
func TestEventStreamResumeEndsWithNewestState(t *testing.T) {
	t.Parallel()
	srv := realtime.New(realtime.WithRecovery(time.Minute, true))
	es := srv.Of("/").EventStream([]string{"r"}, realtime.StreamOptions{State: []string{"count"}})
	ts := streamServer(t, srv, es)

	require.NoError(t, srv.To("r").Emit("chat", "hello"))
	s := openStream(t, ts.URL+"/events", nil)
	s.start(t)
	last := s.next(t)
	require.True(t, last.HasID)
	_ = s.resp.Body.Close()
	require.Eventually(t, func() bool { return es.Len() == 0 }, 5*time.Second, 5*time.Millisecond)

	for _, tt := range []struct {
		name string
		emit func() error
	}{
		{"volatile", func() error { return srv.To("r").Volatile().Emit("count", 2) }},
		{"latest", func() error { return srv.To("r").EmitLatest("count", "count", 2) }},
		{"with an id", func() error { return srv.To("r").Emit("count", 2) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, srv.To("r").Emit("count", 1)) // kept, with an id
			require.NoError(t, srv.To("r").Emit("chat", "between"))
			require.NoError(t, tt.emit()) // the newest state

			s := openStream(t, ts.URL+"/events", http.Header{"Last-Event-Id": {last.ID}})
			s.start(t)
			require.NoError(t, srv.To("r").Emit("marker", 0))
			var got []string
			var ids int
			for range 100 {
				b := s.next(t)
				if b.Event == "marker" {
					last = b
					break
				}
				if b.Data == "" && b.HasID {
					ids++
				}
				if b.Data != "" {
					got = append(got, b.Event+" "+b.Data)
				}
			}
			require.Equal(t, "marker", last.Event)
			assert.NotContains(t, got, "count 1", "an older state than the newest")
			assert.Equal(t, "count 2", got[0], "the newest state first")
			assert.Contains(t, got, `chat "between"`, "what it missed")
			assert.Equal(t, 1, ids, "the id of the older state, in its place")
		})
	}
}

// dropObserver counts the dynamic namespaces dropped.
type dropObserver struct {
	realtime.NopObserver
	dropped atomic.Int32
}

func (o *dropObserver) NamespaceDropped(*realtime.Namespace) { o.dropped.Add(1) }

// TestEventStreamDynamicChild: an EventStream keeps the dynamic child
// namespace it follows while it is open, when the child's last socket
// goes, and makes again a child already dropped; once closed, the child
// goes with its last socket.
func TestEventStreamDynamicChild(t *testing.T) {
	t.Parallel()
	obs := &dropObserver{}
	srv := realtime.New(realtime.WithObserver(obs))
	parent := srv.OfRegexp(regexp.MustCompile(`^/room-\d+$`))
	children := make(chan *realtime.Namespace, 4)
	parent.OnConnection(func(s *realtime.Socket) { children <- s.Namespace() })
	streams := map[string]*realtime.EventStream{}
	var mu sync.Mutex
	ready := make(chan struct{})
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	mux.HandleFunc("/events/{n}", func(w http.ResponseWriter, r *http.Request) {
		<-ready
		mu.Lock()
		es := streams[r.PathValue("n")]
		mu.Unlock()
		es.ServeHTTP(w, r)
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(func() {
		_ = srv.Close()
		ts.Close()
	})
	connect := func(name string) *client.Socket {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := client.Connect(ctx, ts.URL+name, client.WithReconnection(false))
		require.NoError(t, err)
		return c
	}

	// A stream made while the child lives keeps it when its socket goes.
	c1 := connect("/room-1")
	child := <-children
	es1 := child.EventStream([]string{"r"}, realtime.StreamOptions{})
	// A stream made on a child dropped meanwhile makes it again.
	c2 := connect("/room-2")
	dropped := <-children
	_ = c2.Manager().Close()
	require.Eventually(t, func() bool { return obs.dropped.Load() == 1 }, 5*time.Second, 5*time.Millisecond, "/room-2 has no socket left")
	es2 := dropped.EventStream([]string{"r"}, realtime.StreamOptions{})
	mu.Lock()
	streams["1"], streams["2"] = es1, es2
	mu.Unlock()
	close(ready)

	_ = c1.Manager().Close()
	require.Eventually(t, func() bool { return child.Len() == 0 }, 5*time.Second, 5*time.Millisecond)
	s1 := openStream(t, ts.URL+"/events/1", nil)
	s1.start(t)
	s2 := openStream(t, ts.URL+"/events/2", nil)
	s2.start(t)
	c3 := connect("/room-1")
	assert.Same(t, child, <-children, "the child was kept")
	require.NoError(t, parent.To("r").Emit("n", 1)) // reaches every child
	require.NoError(t, srv.Of("/room-1").To("r").Emit("n", 2))
	require.NoError(t, srv.Of("/room-2").To("r").Emit("n", 3))
	assert.Equal(t, "1", s1.nextEvent(t).Data)
	assert.Equal(t, "2", s1.nextEvent(t).Data)
	assert.Equal(t, "1", s2.nextEvent(t).Data)
	assert.Equal(t, "3", s2.nextEvent(t).Data)
	assert.Equal(t, int32(1), obs.dropped.Load())

	// Closed, a stream keeps its child no longer.
	es2.Close()
	require.Eventually(t, func() bool { return obs.dropped.Load() == 2 }, 5*time.Second, 5*time.Millisecond, "/room-2 went with its stream")
	es1.Close()
	assert.Equal(t, int32(2), obs.dropped.Load(), "/room-1 has a socket")
	_ = c3.Manager().Close()
	require.Eventually(t, func() bool { return obs.dropped.Load() == 3 }, 5*time.Second, 5*time.Millisecond, "/room-1 went with its last socket")
}

// followingAdapter is a cluster adapter as a RoomFollower: it records
// what it is told, and what HasRoom reports then.
type followingAdapter struct {
	*realtime.MemoryAdapter
	mu    sync.Mutex
	calls []string
}

func (a *followingAdapter) FollowRooms(rooms []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range rooms {
		a.calls = append(a.calls, "follow "+r+" "+strconv.FormatBool(a.HasRoom(r)))
	}
}

func (a *followingAdapter) UnfollowRooms(rooms []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range rooms {
		a.calls = append(a.calls, "unfollow "+r+" "+strconv.FormatBool(a.HasRoom(r)))
	}
}

func (a *followingAdapter) took() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	calls := a.calls
	a.calls = nil
	return calls
}

// TestEventStreamRoomFollower: an adapter that is a RoomFollower is told
// of the rooms an EventStream follows when it is made, once HasRoom
// reports them, and when it is closed, once HasRoom no longer does.
func TestEventStreamRoomFollower(t *testing.T) {
	t.Parallel()
	var fa *followingAdapter
	srv := realtime.New(realtime.WithAdapter(func(n *realtime.Namespace) realtime.Adapter {
		fa = &followingAdapter{MemoryAdapter: realtime.NewLocalAdapter(n)}
		return fa
	}))
	t.Cleanup(func() { _ = srv.Close() })
	nsp := srv.Of("/")
	a := nsp.EventStream([]string{"b", "a", "b"}, realtime.StreamOptions{})
	assert.Equal(t, []string{"follow a true", "follow b true"}, fa.took())
	b := nsp.EventStream([]string{"b"}, realtime.StreamOptions{})
	assert.Equal(t, []string{"follow b true"}, fa.took())
	a.Close()
	assert.Equal(t, []string{"unfollow a false", "unfollow b true"}, fa.took(), "b is still followed")
	a.Close()
	assert.Empty(t, fa.took(), "closed once")
	b.Close()
	assert.Equal(t, []string{"unfollow b false"}, fa.took())

	_ = srv.Close()
	c := nsp.EventStream([]string{"c"}, realtime.StreamOptions{})
	c.Close()
	assert.Empty(t, fa.took(), "the server is closed: the stream is too, at once")
}
