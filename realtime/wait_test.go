package realtime_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/realtime"
)

// A handler may ask its own client and wait for the answer: the read loop
// takes the acknowledgement while the handler waits. So may a connection
// handler, and the events that arrive meanwhile wait their turn.
func TestHandlerWaitsForOwnClient(t *testing.T) {
	t.Parallel()
	srv := realtime.New()
	srv.OnConnection(func(s *realtime.Socket) {
		ctx, cancel := context.WithTimeout(s.Context(), wait)
		defer cancel()
		hello, err := s.EmitWithAck(ctx, "hello")
		var name string
		if err != nil || hello.Bind(&name) != nil {
			s.Disconnect(true)
			return
		}
		s.On("order", func(e *realtime.Event) {
			ctx, cancel := context.WithTimeout(s.Context(), wait)
			defer cancel()
			answer, err := s.EmitWithAck(ctx, "confirm", e.Values()...)
			if err != nil {
				_ = e.Ack(err.Error())
				return
			}
			_ = e.Ack(append([]any{name}, answer.Values()...)...)
		})
	})
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	require.True(t, strings.HasPrefix(r.connect("/", ""), `40{"sid":`))
	assert.Equal(t, `420["hello"]`, r.next())
	// sent while the connection handler waits: handled after it
	r.send(`421["order","tea"]`)
	r.send(`430["gopher"]`)
	assert.Equal(t, `421["confirm","tea"]`, r.next())
	r.send(`431[{"ok":true}]`)
	assert.Equal(t, `431["gopher",{"ok":true}]`, r.next())
}

// Events of one socket are handled one at a time, in order, even when a
// handler waits; another namespace of the same connection is not held up.
func TestSlowHandlerDelaysOnlyItsSocket(t *testing.T) {
	t.Parallel()
	srv := realtime.New()
	release := make(chan struct{})
	var running, most atomic.Int32
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("slow", func(e *realtime.Event) {
			if n := running.Add(1); n > most.Load() {
				most.Store(n)
			}
			defer running.Add(-1)
			<-release
			_ = e.Ack("slow done")
		})
		s.On("n", func(e *realtime.Event) {
			if n := running.Add(1); n > most.Load() {
				most.Store(n)
			}
			defer running.Add(-1)
			_ = e.Ack(e.Values()...)
		})
	})
	srv.Of("/other").OnConnection(func(s *realtime.Socket) {
		s.On("ping", func(e *realtime.Event) { _ = e.Ack("pong") })
	})
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	r.connect("/", "")
	r.connect("/other", "")
	r.send(`420["slow"]`)
	for i := 1; i <= 5; i++ {
		r.send(`42` + string(rune('0'+i)) + `["n",` + string(rune('0'+i)) + `]`)
	}
	r.send(`42/other,9["ping"]`)
	assert.Equal(t, `43/other,9["pong"]`, r.next(), "the other namespace answers while / is busy")
	close(release)
	assert.Equal(t, `430["slow done"]`, r.next())
	for i := 1; i <= 5; i++ {
		assert.Equal(t, `43`+string(rune('0'+i))+`[`+string(rune('0'+i))+`]`, r.next(), "in order")
	}
	assert.Equal(t, int32(1), most.Load(), "one handler of the socket at a time")
}

// When the socket disconnects, a handler waiting for its client's answer
// gets ErrNotConnected at once, and the disconnect handlers run after it.
func TestWaitingHandlerAndDisconnect(t *testing.T) {
	t.Parallel()
	srv := realtime.New()
	errs := make(chan error, 1)
	order := make(chan string, 4)
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("ask", func(e *realtime.Event) {
			_, err := s.EmitWithAck(context.Background(), "never answered")
			order <- "handler"
			errs <- err
		})
		s.OnDisconnect(func(_ *realtime.Socket, reason string) { order <- "disconnect " + reason })
	})
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	r.connect("/", "")
	r.send(`42["ask"]`)
	assert.Equal(t, `420["never answered"]`, r.next())
	_ = r.ws.Close()
	assert.ErrorIs(t, recv(t, errs), realtime.ErrNotConnected)
	assert.Equal(t, "handler", recv(t, order))
	assert.Equal(t, "disconnect transport close", recv(t, order))
}

// Middleware may block: it runs on the socket's goroutine, so the
// connection goes on answering pings and other namespaces meanwhile.
func TestMiddlewareMayBlock(t *testing.T) {
	t.Parallel()
	srv := realtime.New()
	release := make(chan struct{})
	srv.Of("/slow").Use(func(*realtime.Socket) error {
		<-release
		return nil
	})
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	r.send("40/slow,")
	assert.True(t, strings.HasPrefix(r.connect("/", ""), `40{"sid":`), "/ is answered while /slow's middleware waits")
	close(release)
	assert.True(t, strings.HasPrefix(r.next(), `40/slow,{"sid":`))
}

// recordWarnings is a slog.Handler keeping the messages of Warn records.
type recordWarnings struct {
	mu   sync.Mutex
	msgs []string
	attr map[string]string
}

func (h *recordWarnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h *recordWarnings) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h *recordWarnings) WithGroup(string) slog.Handler                { return h }
func (h *recordWarnings) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		if h.attr == nil {
			h.attr = make(map[string]string)
		}
		h.attr[a.Key] = a.Value.String()
		return true
	})
	return nil
}

// A flood over the event limit is logged once, not once per event.
func TestEventRateLimitLogsOnce(t *testing.T) {
	t.Parallel()
	logs := &recordWarnings{}
	srv, _ := echoServer(t, realtime.WithEventRate(0.001, 1), realtime.WithLogger(slog.New(logs)))
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	r.connect("/", "")
	for i := range 50 {
		r.send(fmt.Sprintf(`42%d["echo"]`, i))
	}
	for range 50 {
		r.next()
	}
	logs.mu.Lock()
	defer logs.mu.Unlock()
	assert.Equal(t, []string{"event rate exceeded, events refused"}, logs.msgs)
	assert.Equal(t, "echo", logs.attr["event"])
}

// A handler waiting for its client's answer gets it even when the client
// has sent more events than the socket may keep waiting: those are refused
// with an answer, and the read loop goes on to the acknowledgement.
func TestFullInboxKeepsReadingAcks(t *testing.T) {
	t.Parallel()
	srv := realtime.New(realtime.WithEventRate(0, 0))
	answers := make(chan string, 1)
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("ask", func(e *realtime.Event) {
			ctx, cancel := context.WithTimeout(s.Context(), wait)
			defer cancel()
			a, err := s.EmitWithAck(ctx, "q")
			if err != nil {
				answers <- err.Error()
				return
			}
			answers <- string(a.JSON(0))
		})
		s.On("n", func(*realtime.Event) {})
	})
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	r.connect("/", "")
	r.send(`42["ask"]`)
	assert.Equal(t, `420["q"]`, r.next())
	const sent = 300
	for i := range sent {
		r.send(fmt.Sprintf(`42%d["n"]`, i+1))
	}
	r.send(`430["yes"]`)
	assert.Equal(t, `"yes"`, recv(t, answers))
	overloaded := 0
	for range sent - 256 {
		if strings.HasSuffix(r.next(), `[{"error":"overloaded"}]`) {
			overloaded++
		}
	}
	assert.Equal(t, sent-256, overloaded, "the events beyond 256 are refused with an answer")
}

// A socket's disconnect handlers run on its goroutine, not on the read
// loop: one may wait for the client's answer on another namespace.
func TestDisconnectHandlerMayWait(t *testing.T) {
	t.Parallel()
	srv := realtime.New()
	main := make(chan *realtime.Socket, 1)
	srv.OnConnection(func(s *realtime.Socket) { main <- s })
	answers := make(chan string, 1)
	srv.Of("/chat").OnConnection(func(s *realtime.Socket) {
		s.OnDisconnect(func(*realtime.Socket, string) {
			m := <-main
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			a, err := m.EmitWithAck(ctx, "bye?")
			if err != nil {
				answers <- err.Error()
				return
			}
			answers <- string(a.JSON(0))
		})
	})
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	r.connect("/", "")
	r.connect("/chat", "")
	r.send("41/chat,")
	assert.Equal(t, `420["bye?"]`, r.next())
	r.send(`430["bye"]`)
	assert.Equal(t, `"bye"`, recv(t, answers))
}

// A client that leaves a namespace and joins it again while the first
// socket's connection handler still runs gets its second CONNECT answered.
func TestRejoinWhileConnectionHandlerRuns(t *testing.T) {
	t.Parallel()
	srv := realtime.New()
	release := make(chan struct{})
	var first atomic.Bool
	srv.Of("/chat").OnConnection(func(*realtime.Socket) {
		if first.CompareAndSwap(false, true) {
			<-release
		}
	})
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	require.True(t, strings.HasPrefix(r.connect("/chat", ""), `40/chat,{"sid":`))
	r.send("41/chat,")
	r.send("40/chat,")
	close(release)
	assert.True(t, strings.HasPrefix(r.next(), `40/chat,{"sid":`), "the second CONNECT is answered")
}
