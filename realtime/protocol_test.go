package realtime_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vicinity-go/vicinity/realtime"
	"github.com/vicinity-go/vicinity/transport"
)

// echoServer acks "echo" events with their arguments and reports each
// socket's disconnect reason.
func echoServer(t *testing.T, opts ...realtime.Option) (*realtime.Server, chan string) {
	t.Helper()
	srv := realtime.New(opts...)
	reasons := make(chan string, 16)
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("echo", func(e *realtime.Event) {
			_ = e.Ack(e.Values()...)
		})
		s.OnDisconnect(func(_ *realtime.Socket, reason string) { reasons <- reason })
	})
	return srv, reasons
}

func TestConnectReply(t *testing.T) {
	t.Parallel()
	srv, _ := echoServer(t)
	srv.Of("/admin")
	ts := serve(t, srv)

	r := dialRaw(t, ts)
	assert.Regexp(t, `^40\{"sid":"[A-Za-z0-9_-]{20}"\}$`, r.connect("/", ""))
	assert.Regexp(t, `^40/admin,\{"sid":"[A-Za-z0-9_-]{20}"\}$`, r.connect("/admin", `{"token":"x"}`))
	assert.Equal(t, `44/nope,{"message":"Invalid namespace"}`, r.connect("/nope", ""))
}

func TestEventsAndAcks(t *testing.T) {
	t.Parallel()
	srv, _ := echoServer(t)
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	r.connect("/", "")

	tests := []struct {
		name, send, want string
	}{
		{name: "ack with args", send: `4212["echo","a",{"b":[1,2]}]`, want: `4312["a",{"b":[1,2]}]`},
		{name: "ack without args", send: `427["echo"]`, want: `437[]`},
		{name: "large ack id", send: `424294967296["echo",1]`, want: `434294967296[1]`},
	}
	for _, tt := range tests {
		r.send(tt.send)
		assert.Equal(t, tt.want, r.next(), tt.name)
	}
}

func TestServerAck(t *testing.T) {
	t.Parallel()
	srv := realtime.New()
	got := make(chan realtime.Args, 1)
	errs := make(chan error, 1)
	srv.OnConnection(func(s *realtime.Socket) {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			a, err := s.EmitWithAck(ctx, "question", 42)
			got <- a
			errs <- err
		}()
	})
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	r.connect("/", "")
	assert.Equal(t, `420["question",42]`, r.next())
	r.send(`4399["unknown id is ignored"]`)
	r.send(`430["answer",{"n":1}]`)
	require.NoError(t, recv(t, errs))
	a := recv(t, got)
	var s string
	var m map[string]int
	require.NoError(t, a.Bind(&s, &m))
	assert.Equal(t, "answer", s)
	assert.Equal(t, map[string]int{"n": 1}, m)
}

func TestServerAckTimeout(t *testing.T) {
	t.Parallel()
	srv := realtime.New()
	errs := make(chan error, 1)
	srv.OnConnection(func(s *realtime.Socket) {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			_, err := s.EmitWithAck(ctx, "question")
			errs <- err
		}()
	})
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	r.connect("/", "")
	assert.ErrorIs(t, recv(t, errs), context.DeadlineExceeded)
}

func TestBinary(t *testing.T) {
	t.Parallel()
	srv := realtime.New()
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("upload", func(e *realtime.Event) {
			var name string
			var file struct {
				Body []byte `json:"body"`
			}
			if err := e.Bind(&name, &file); err != nil {
				_ = e.Ack(err.Error())
				return
			}
			_ = e.Ack(name, append([]byte("got:"), file.Body...))
		})
	})
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	r.connect("/", "")
	r.send(`451-3["upload","a.bin",{"body":{"_placeholder":true,"num":0}}]`)
	r.sendBinary([]byte{1, 2, 3})
	assert.Equal(t, `461-3["a.bin",{"_placeholder":true,"num":0}]`, r.next())
	typ, data := r.read()
	assert.Equal(t, websocket.BinaryMessage, typ)
	assert.Equal(t, []byte("got:\x01\x02\x03"), data)
}

func TestMalformedPacketsClose(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		send   []string
		reason string // default: parse error
	}{
		{name: "unknown engine type", send: []string{"9"}},
		{name: "unknown socket type", send: []string{"49"}},
		{name: "bad json", send: []string{`42["echo",`}},
		{name: "event is not an array", send: []string{`42{"a":1}`}},
		{name: "reserved event", send: []string{`42["disconnect"]`}},
		{name: "binary without count", send: []string{`45["echo"]`}},
		{name: "too many attachments", send: []string{`4511-["echo"]`}},
		{name: "text while attachments pending", send: []string{`451-["echo",{"_placeholder":true,"num":0}]`, `42["echo"]`}},
		{name: "placeholder out of range", send: []string{`451-["echo",{"_placeholder":true,"num":3}]`, "\x00"}},
		{name: "connect error from client", send: []string{`44{"message":"x"}`}},
		// Node: "invalid heartbeat direction", a transport error
		{name: "client ping", send: []string{"2"}, reason: transport.ReasonTransportError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, reasons := echoServer(t)
			ts := serve(t, srv)
			r := dialRaw(t, ts)
			r.connect("/", "")
			for i, s := range tt.send {
				if i == len(tt.send)-1 && s == "\x00" {
					r.sendBinary([]byte{0})
					continue
				}
				r.send(s)
			}
			r.closed()
			assert.Equal(t, cmp.Or(tt.reason, transport.ReasonParseError), recv(t, reasons))
		})
	}
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	srv := realtime.New()
	var order []string
	srv.Use(func(s *realtime.Socket) error {
		order = append(order, "first")
		var auth struct{ Token string }
		err := json.Unmarshal(s.Handshake().Auth, &auth)
		if err != nil || auth.Token != "good" {
			return &realtime.ConnectError{Message: "not authorized", Data: map[string]int{"code": 401}}
		}
		return nil
	})
	srv.Use(func(s *realtime.Socket) error {
		order = append(order, "second")
		if s.Handshake().Query.Get("ban") != "" {
			return errors.New("banned")
		}
		return nil
	})
	srv.Use(func(*realtime.Socket) error { panic("middleware bug") })
	ts := serve(t, srv)

	r := dialRaw(t, ts)
	assert.Equal(t, `44{"message":"not authorized","data":{"code":401}}`, r.connect("/", `{"token":"bad"}`))
	assert.Equal(t, `44{"message":"internal error"}`, r.connect("/", `{"token":"good"}`))
	assert.Equal(t, []string{"first", "first", "second"}, order)
}

func TestMiddlewarePlainError(t *testing.T) {
	t.Parallel()
	srv := realtime.New()
	srv.Use(func(*realtime.Socket) error { return errors.New("banned") })
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	assert.Equal(t, `44{"message":"banned"}`, r.connect("/", ""))
}

func TestHandlerPanicIsRecovered(t *testing.T) {
	t.Parallel()
	srv, _ := echoServer(t)
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("boom", func(*realtime.Event) { panic("handler bug") })
	})
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	r.connect("/", "")
	r.send(`425["boom"]`)
	assert.Equal(t, `435[{"error":"internal error"}]`, r.next())
	r.send(`426["echo","still alive"]`)
	assert.Equal(t, `436["still alive"]`, r.next())
}

func TestEventRateLimit(t *testing.T) {
	t.Parallel()
	srv, _ := echoServer(t, realtime.WithEventRate(0.001, 2))
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	r.connect("/", "")
	for i := range 5 {
		r.send(`42` + string(rune('0'+i)) + `["echo"]`)
	}
	r.send(`41`) // a disconnect is not an event: it is never limited
	var got []string
	for range 5 {
		got = append(got, r.next())
	}
	// the refusals are answered at once, the accepted events by their
	// handler: the two may interleave
	limited := `[{"error":"rate limited"}]`
	assert.ElementsMatch(t, []string{`430[]`, `431[]`, `432` + limited, `433` + limited, `434` + limited}, got)
	r.closedOrQuiet()
}

// closedOrQuiet asserts nothing arrives for a moment: used where the server
// must stay silent. It breaks the connection, so it must be its last read.
func (r *raw) closedOrQuiet() {
	r.t.Helper()
	require.NoError(r.t, r.ws.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
	_, data, err := r.ws.ReadMessage()
	if err == nil {
		r.t.Fatalf("unexpected frame %q", data)
	}
}

func TestConnectTimeout(t *testing.T) {
	t.Parallel()
	srv := realtime.New(realtime.WithConnectTimeout(20 * time.Millisecond))
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	r.closed()
}

func TestDisconnects(t *testing.T) {
	t.Parallel()
	srv, reasons := echoServer(t)
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("kick", func(*realtime.Event) { s.Disconnect(false) })
		s.On("close", func(*realtime.Event) { s.Disconnect(true) })
	})
	ts := serve(t, srv)

	r := dialRaw(t, ts)
	r.connect("/", "")
	r.send(`41`)
	assert.Equal(t, realtime.ReasonClientNamespaceDisconnect, recv(t, reasons))

	r.connect("/", "")
	r.send(`42["kick"]`)
	assert.Equal(t, `41`, r.next())
	assert.Equal(t, realtime.ReasonServerNamespaceDisconnect, recv(t, reasons))

	r.connect("/", "")
	r.send(`42["close"]`)
	assert.Equal(t, `41`, r.next())
	r.closed()
	assert.Equal(t, realtime.ReasonServerNamespaceDisconnect, recv(t, reasons))

	r2 := dialRaw(t, ts)
	r2.connect("/", "")
	_ = r2.ws.Close()
	assert.Equal(t, transport.ReasonTransportClose, recv(t, reasons))
}

func TestRoomsAndBroadcast(t *testing.T) {
	t.Parallel()
	srv := realtime.New()
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("join", func(e *realtime.Event) {
			var room string
			_ = e.Bind(&room)
			s.Join(room)
			_ = e.Ack(s.Rooms())
		})
		s.On("leave", func(e *realtime.Event) {
			var room string
			_ = e.Bind(&room)
			s.Leave(room)
			_ = e.Ack()
		})
		s.On("say", func(e *realtime.Event) {
			var room, text string
			_ = e.Bind(&room, &text)
			_ = s.To(room).Emit("said", text)
			_ = e.Ack()
		})
		s.On("all", func(e *realtime.Event) {
			_ = s.Broadcast().Emit("all", "hi")
			_ = e.Ack()
		})
	})
	ts := serve(t, srv)
	a, b, c := dialRaw(t, ts), dialRaw(t, ts), dialRaw(t, ts)
	for _, r := range []*raw{a, b, c} {
		r.connect("/", "")
	}
	a.send(`420["join","blue"]`)
	assert.Regexp(t, `^430\[\[.*"blue".*\]\]$`, a.next())
	b.send(`420["join","blue"]`)
	b.next()

	c.send(`421["say","blue","hello"]`)
	assert.Equal(t, `431[]`, c.next())
	assert.Equal(t, `42["said","hello"]`, a.next())
	assert.Equal(t, `42["said","hello"]`, b.next())

	a.send(`422["say","blue","from a"]`) // the sender is excluded
	assert.Equal(t, `432[]`, a.next())
	assert.Equal(t, `42["said","from a"]`, b.next())

	b.send(`423["leave","blue"]`)
	assert.Equal(t, `433[]`, b.next())
	c.send(`424["say","blue","only a"]`)
	assert.Equal(t, `434[]`, c.next())
	assert.Equal(t, `42["said","only a"]`, a.next())

	a.send(`425["all"]`)
	assert.Equal(t, `435[]`, a.next())
	assert.Equal(t, `42["all","hi"]`, b.next())
	assert.Equal(t, `42["all","hi"]`, c.next())
	b.closedOrQuiet() // b got nothing it should not have
}

func TestServerSideOperations(t *testing.T) {
	t.Parallel()
	srv := realtime.New()
	connected := make(chan *realtime.Socket, 4)
	srv.OnConnection(func(s *realtime.Socket) {
		s.SetData(map[string]string{"name": "n" + s.ID()[:3]})
		connected <- s
	})
	ts := serve(t, srv)
	a, b := dialRaw(t, ts), dialRaw(t, ts)
	a.connect("/", "")
	sa := recv(t, connected)
	b.connect("/", "")
	sb := recv(t, connected)
	ctx := context.Background()

	require.NoError(t, srv.Of("/").SocketsJoin(ctx, "all"))
	assert.Contains(t, sa.Rooms(), "all")
	assert.Contains(t, sb.Rooms(), "all")

	socks, err := srv.To("all").FetchSockets(ctx)
	require.NoError(t, err)
	ids := []string{socks[0].ID, socks[1].ID}
	sort.Strings(ids)
	want := []string{sa.ID(), sb.ID()}
	sort.Strings(want)
	assert.Equal(t, want, ids)
	assert.NotNil(t, socks[0].Data)

	require.NoError(t, srv.To(sa.ID()).SocketsLeave(ctx, "all"))
	assert.NotContains(t, sa.Rooms(), "all")

	require.NoError(t, srv.To("all").Emit("news", 1))
	assert.Equal(t, `42["news",1]`, b.next())

	for _, rs := range socks {
		if rs.ID == sa.ID() {
			require.NoError(t, rs.Emit("direct", "x"))
		}
	}
	assert.Equal(t, `42["direct","x"]`, a.next(), "a left the room: no news before the direct message")
	require.NoError(t, srv.Of("/").Except(sa.ID()).DisconnectSockets(ctx, false))
	assert.Equal(t, `41`, b.next())
	// the DISCONNECT goes out before the socket leaves, on its own goroutine
	assert.Eventually(t, func() bool { return srv.Of("/").Len() == 1 }, wait, time.Millisecond)
}

// A socket's own room behaves as any room: the socket may leave it and
// come back, and others may join it. (The in-memory adapter keeps it as a
// flag on the socket, not as a set of one.)
func TestOwnRoom(t *testing.T) {
	t.Parallel()
	srv := realtime.New()
	connected := make(chan *realtime.Socket, 3)
	srv.OnConnection(func(s *realtime.Socket) { connected <- s })
	ts := serve(t, srv)
	a, b, c := dialRaw(t, ts), dialRaw(t, ts), dialRaw(t, ts)
	a.connect("/", "")
	sa := recv(t, connected)
	b.connect("/", "")
	sb := recv(t, connected)
	c.connect("/", "")
	sc := recv(t, connected)
	ctx := context.Background()
	ids := func(op realtime.BroadcastOperator) []string {
		t.Helper()
		socks, err := op.FetchSockets(ctx)
		require.NoError(t, err)
		var out []string
		for _, s := range socks {
			out = append(out, s.ID)
		}
		sort.Strings(out)
		return out
	}
	sorted := func(ids ...string) []string { sort.Strings(ids); return ids }

	assert.Equal(t, []string{sa.ID()}, sa.Rooms())
	assert.Equal(t, []string{sa.ID()}, ids(srv.To(sa.ID())))
	assert.Equal(t, sorted(sb.ID(), sc.ID()), ids(srv.Of("/").Except(sa.ID())))

	require.NoError(t, sb.Join(sa.ID(), "z", "0"))
	assert.Equal(t, sorted(sa.ID(), sb.ID()), ids(srv.To(sa.ID())), "b joined a's room")
	assert.Equal(t, sorted(sa.ID(), sb.ID()), ids(srv.To(sa.ID(), sb.ID())), "each once")
	assert.Equal(t, sorted(sb.ID(), sa.ID(), "z", "0"), sb.Rooms())
	assert.Equal(t, []string{sc.ID()}, ids(srv.Of("/").Except(sa.ID())))
	require.NoError(t, srv.To(sa.ID()).Emit("to-a"))
	assert.Equal(t, `42["to-a"]`, a.next())
	assert.Equal(t, `42["to-a"]`, b.next())

	sa.Leave(sa.ID())
	assert.Empty(t, sa.Rooms(), "a left its own room")
	assert.Equal(t, []string{sb.ID()}, ids(srv.To(sa.ID())))
	assert.Equal(t, sorted(sa.ID(), sc.ID()), ids(srv.Of("/").Except(sa.ID())))
	assert.Equal(t, sorted(sa.ID(), sb.ID(), sc.ID()), ids(srv.Of("/").Local()), "a is still in the namespace")

	require.NoError(t, sa.Join(sa.ID()))
	assert.Equal(t, []string{sa.ID()}, sa.Rooms())
	sb.Leave(sa.ID())
	assert.Equal(t, []string{sa.ID()}, ids(srv.To(sa.ID())))
	assert.Equal(t, sorted(sb.ID(), "z", "0"), sb.Rooms())
	c.closedOrQuiet()
}

func TestDynamicNamespaces(t *testing.T) {
	t.Parallel()
	srv := realtime.New()
	parent := srv.OfRegexp(regexp.MustCompile(`^/room-\d+$`))
	joined := make(chan string, 2)
	parent.OnConnection(func(s *realtime.Socket) { joined <- s.Namespace().Name() })
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	assert.Regexp(t, `^40/room-7,`, r.connect("/room-7", ""))
	assert.Equal(t, "/room-7", recv(t, joined))
	assert.Equal(t, `44/room-x,{"message":"Invalid namespace"}`, r.connect("/room-x", ""))
	require.NoError(t, parent.Emit("hello"))
	assert.Equal(t, `42/room-7,["hello"]`, r.next())
}

func TestReservedEvents(t *testing.T) {
	t.Parallel()
	srv := realtime.New()
	errs := make(chan error, 1)
	srv.OnConnection(func(s *realtime.Socket) { errs <- s.Emit("connect") })
	ts := serve(t, srv)
	dialRaw(t, ts).connect("/", "")
	assert.ErrorIs(t, recv(t, errs), realtime.ErrReservedEvent)
	assert.ErrorIs(t, srv.Emit("disconnect"), realtime.ErrReservedEvent)
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	srv, reasons := echoServer(t)
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	r.connect("/", "")
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(context.Background()) }()
	r.closed() // Shutdown waits for the client to answer the close frame
	require.NoError(t, recv(t, done))
	assert.Equal(t, transport.ReasonServerShutdown, recv(t, reasons))
	assert.ErrorIs(t, srv.Shutdown(context.Background()), realtime.ErrServerClosed)

	u := "ws" + strings.TrimPrefix(ts.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
	_, resp, err := websocket.DefaultDialer.Dial(u, nil)
	require.Error(t, err)
	require.NotNil(t, resp)
	assert.Equal(t, 503, resp.StatusCode)
}

func TestUnknownPath(t *testing.T) {
	t.Parallel()
	srv := realtime.New(realtime.WithPath("/rt"))
	ts := serve(t, srv)
	t.Cleanup(func() { _ = srv.Close() }) // the polling session below never polls again
	for path, status := range map[string]int{"/other/?EIO=4&transport=polling": 404, "/rt/?EIO=4&transport=polling": 200} {
		resp, err := ts.Client().Get(ts.URL + path)
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, status, resp.StatusCode, path)
	}
}

func TestBroadcastWithAck(t *testing.T) {
	t.Parallel()
	srv := realtime.New()
	ts := serve(t, srv)
	a, b := dialRaw(t, ts), dialRaw(t, ts)
	a.connect("/", "")
	b.connect("/", "")

	type result struct {
		answers []realtime.Args
		err     error
	}
	results := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		answers, err := srv.Of("/").EmitWithAck(ctx, "vote", "lunch?")
		results <- result{answers, err}
	}()
	pa, pb := a.next(), b.next()
	assert.Equal(t, pa, pb, "one encoded packet for every recipient")
	require.Regexp(t, `^42\d+\["vote","lunch\?"\]$`, pa)
	id := strings.TrimSuffix(strings.TrimPrefix(pa, "42"), `["vote","lunch?"]`)
	a.send("43" + id + `["yes"]`)
	b.send("43" + id + `["no"]`)
	res := recv(t, results)
	require.NoError(t, res.err)
	var votes []string
	for _, ans := range res.answers {
		var v string
		require.NoError(t, ans.Bind(&v))
		votes = append(votes, v)
	}
	sort.Strings(votes)
	assert.Equal(t, []string{"no", "yes"}, votes)

	// one socket never answers: the answers so far and the context's error
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		answers, err := srv.Of("/").EmitWithAck(ctx, "vote", "dinner?")
		results <- result{answers, err}
	}()
	pa = a.next()
	b.next()
	id = strings.TrimSuffix(strings.TrimPrefix(pa, "42"), `["vote","dinner?"]`)
	a.send("43" + id + `["yes"]`)
	res = recv(t, results)
	assert.ErrorIs(t, res.err, context.DeadlineExceeded)
	assert.Len(t, res.answers, 1)
}

func TestSocketContext(t *testing.T) {
	t.Parallel()
	srv := realtime.New()
	ctxs := make(chan context.Context, 1)
	srv.OnConnection(func(s *realtime.Socket) { ctxs <- s.Context() })
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	r.connect("/", "")
	ctx := recv(t, ctxs)
	require.NoError(t, ctx.Err(), "context of a connected socket")
	r.send("41")
	recv(t, ctx.Done())
	assert.ErrorIs(t, ctx.Err(), context.Canceled)
}

func TestConnectLimits(t *testing.T) {
	t.Parallel()
	t.Run("namespaces per connection", func(t *testing.T) {
		t.Parallel()
		srv := realtime.New()
		srv.OfFunc(func(string, json.RawMessage) bool { return true })
		ts := serve(t, srv)
		r := dialRaw(t, ts)
		for i := range 64 {
			assert.Regexp(t, `^40/n`+strconv.Itoa(i)+`,\{"sid"`, r.connect("/n"+strconv.Itoa(i), ""))
		}
		assert.Equal(t, `44/n64,{"message":"Too many namespaces"}`, r.connect("/n64", ""))
	})
	t.Run("connection attempts", func(t *testing.T) {
		t.Parallel()
		srv := realtime.New(realtime.WithEventRate(0.001, 2))
		srv.Use(func(*realtime.Socket) error { return errors.New("no") })
		ts := serve(t, srv)
		r := dialRaw(t, ts)
		assert.Equal(t, `44{"message":"no"}`, r.connect("/", ""))
		assert.Equal(t, `44{"message":"no"}`, r.connect("/", ""))
		assert.Equal(t, `44{"message":"Too many connection attempts"}`, r.connect("/", ""))
	})
}

func TestDisconnectingHandlers(t *testing.T) {
	t.Parallel()
	srv := realtime.New()
	type seen struct {
		connected bool
		rooms     []string
		emitErr   error
	}
	got := make(chan seen, 1)
	joined := make(chan struct{}, 2)
	srv.OnConnection(func(s *realtime.Socket) {
		s.Join("team")
		s.OnDisconnecting(func(s *realtime.Socket, _ string) {
			got <- seen{s.Connected(), s.Rooms(), s.To("team").Emit("bye", s.ID())}
		})
		joined <- struct{}{}
	})
	ts := serve(t, srv)
	a, b := dialRaw(t, ts), dialRaw(t, ts)
	a.connect("/", "")
	recv(t, joined)
	reply := b.connect("/", "")
	recv(t, joined)
	b.send("41")
	g := recv(t, got)
	assert.True(t, g.connected, "still connected while disconnecting")
	assert.Contains(t, g.rooms, "team")
	assert.NoError(t, g.emitErr)
	id := strings.TrimSuffix(strings.TrimPrefix(reply, `40{"sid":"`), `"}`)
	assert.Equal(t, `42["bye","`+id+`"]`, a.next())
}

func TestCloseCutsShutdownShort(t *testing.T) {
	t.Parallel()
	srv, reasons := echoServer(t)
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	r.connect("/", "")
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(context.Background()) }() // r never answers the close frame
	assert.Equal(t, transport.ReasonServerShutdown, recv(t, reasons))
	assert.ErrorIs(t, srv.Close(), realtime.ErrServerClosed)
	require.NoError(t, recv(t, done))
}

func TestEmitWithAckWithoutTargets(t *testing.T) {
	t.Parallel()
	srv := realtime.New()
	parent := srv.OfFunc(func(string, json.RawMessage) bool { return true })
	answers, err := parent.EmitWithAck(context.Background(), "anyone?")
	assert.NoError(t, err)
	assert.Empty(t, answers)
	answers, err = srv.To("empty room").EmitWithAck(context.Background(), "anyone?")
	assert.NoError(t, err)
	assert.Empty(t, answers)
	_ = srv.Close()
}

func TestRecovery(t *testing.T) {
	t.Parallel()
	srv := realtime.New(
		realtime.WithRecovery(time.Minute, true),
		realtime.WithTransportOptions(transport.WithSendQueue(8, 1<<20)),
	)
	gone := make(chan string, 4)
	joined := make(chan struct{}, 8)
	srv.OnConnection(func(s *realtime.Socket) {
		defer func() { joined <- struct{}{} }() // the test waits: "room" is joined
		s.Join("room")
		s.On("say", func(e *realtime.Event) {
			var text string
			_ = e.Bind(&text)
			_ = s.To("room").Emit("msg", text)
			_ = e.Ack()
		})
		s.OnDisconnect(func(s *realtime.Socket, _ string) { gone <- s.ID() })
	})
	ts := serve(t, srv)
	say := func(b *raw, text string) {
		t.Helper()
		b.send(`420["say","` + text + `"]`)
		require.Equal(t, `430[]`, b.next())
	}
	sidPid := regexp.MustCompile(`^40\{"pid":"([^"]+)","sid":"([^"]+)"\}$`)
	msg := regexp.MustCompile(`^42\["msg","([^"]+)","([^"]+)"\]$`)

	a, b := dialRaw(t, ts), dialRaw(t, ts)
	m := sidPid.FindStringSubmatch(a.connect("/", ""))
	require.Len(t, m, 3, "CONNECT carries a pid")
	pid, sid := m[1], m[2]
	recv(t, joined)
	b.connect("/", "")
	recv(t, joined)
	say(b, "m0")
	mm := msg.FindStringSubmatch(a.next())
	require.Len(t, mm, 3, "a broadcast carries its offset last")
	offset := mm[2]

	_ = a.ws.Close()
	assert.Equal(t, sid, recv(t, gone))
	say(b, "m1")
	say(b, "m2")

	a2 := dialRaw(t, ts)
	m = sidPid.FindStringSubmatch(a2.connect("/", `{"pid":"`+pid+`","offset":"`+offset+`"}`))
	require.Len(t, m, 3)
	assert.Equal(t, []string{pid, sid}, m[1:], "same pid and socket id")
	for _, want := range []string{"m1", "m2"} {
		mm = msg.FindStringSubmatch(a2.next())
		require.Len(t, mm, 3)
		assert.Equal(t, want, mm[1])
		offset = mm[2]
	}

	// more missed than half the send queue holds: a fresh session instead
	_ = a2.ws.Close()
	assert.Equal(t, sid, recv(t, gone))
	for i := range 5 {
		say(b, "x"+strconv.Itoa(i))
	}
	a3 := dialRaw(t, ts)
	m = sidPid.FindStringSubmatch(a3.connect("/", `{"pid":"`+pid+`","offset":"`+offset+`"}`))
	require.Len(t, m, 3)
	assert.NotEqual(t, sid, m[2], "not recovered")

	// an unknown offset, or none, does not recover either (as with Node.js)
	sid3 := m[2]
	_ = a3.ws.Close()
	assert.Equal(t, sid3, recv(t, gone))
	a4 := dialRaw(t, ts)
	m = sidPid.FindStringSubmatch(a4.connect("/", `{"pid":"`+m[1]+`"}`))
	require.Len(t, m, 3)
	assert.NotEqual(t, sid3, m[2], "no offset: not recovered")
}

// A client that closes its connection as soon as it gets the DISCONNECT
// packet (socket.io-client does when that was its last namespace) does not
// change the reason: the socket was disconnected by the server, as Node's
// synchronous _onclose reports. The close raced the reason before.
func TestKickThenClientCloses(t *testing.T) {
	t.Parallel()
	srv, reasons := echoServer(t)
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("kick", func(*realtime.Event) { s.Disconnect(false) })
		s.On("close", func(*realtime.Event) { s.Disconnect(true) })
	})
	ts := serve(t, srv)
	for i := range 50 {
		ev := []string{"kick", "close"}[i%2]
		r := dialRaw(t, ts)
		r.connect("/", "")
		r.send(`42["` + ev + `"]`)
		assert.Equal(t, `41`, r.next())
		_ = r.ws.Close()
		assert.Equal(t, realtime.ReasonServerNamespaceDisconnect, recv(t, reasons), ev)
	}
}
