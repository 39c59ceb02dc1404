package compat

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/vicinity-go/vicinity/realtime"
	"github.com/vicinity-go/vicinity/transport"
)

// refuseBadToken is the middleware of the main server's namespaces: auth
// {token:"bad"} is refused with data, {token:"plain"} with a plain error.
func refuseBadToken(s *realtime.Socket) error {
	var auth struct {
		Token string `json:"token"`
	}
	if a := s.Handshake().Auth; len(a) > 0 {
		if err := json.Unmarshal(a, &auth); err != nil {
			return err
		}
	}
	switch auth.Token {
	case "bad":
		return &realtime.ConnectError{Message: "not authorized", Data: map[string]any{"code": 401}}
	case "plain":
		return errors.New("plain refusal")
	}
	return nil
}

// requireToken is the middleware of the /nsp namespace of the Engine.IO v3
// server: auth (for a Socket.IO 2 client, the namespace's query) must carry
// token "x"; "plain" is refused with a plain error, the rest with data.
func requireToken(s *realtime.Socket) error {
	var auth struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(s.Handshake().Auth, &auth); err != nil {
		return err
	}
	switch auth.Token {
	case "x":
		return nil
	case "plain":
		return errors.New("plain refusal")
	}
	return &realtime.ConnectError{Message: "not authorized", Data: map[string]any{"code": 401}}
}

// tagOf returns the "tag" of a socket's auth payload, which names the
// client's scenario and mode ("kick-true-websocket"), or "".
func tagOf(s *realtime.Socket) string {
	var auth struct {
		Tag string `json:"tag"`
	}
	_ = json.Unmarshal(s.Handshake().Auth, &auth)
	return auth.Tag
}

// register sets the event handlers every server shares.
func (e *env) register(s *realtime.Socket) {
	tag := tagOf(s)
	e.rec.connected(tag, s.Recovered())
	s.OnDisconnect(func(_ *realtime.Socket, reason string) { e.rec.disconnected(tag, reason) })
	var auth struct {
		Welcome bool `json:"welcome"`
	}
	if json.Unmarshal(s.Handshake().Auth, &auth) == nil && auth.Welcome {
		_ = s.Emit("welcome", s.ID(), s.Namespace().Name())
	}

	s.On("whoami", func(ev *realtime.Event) {
		_ = ev.Ack(map[string]any{
			"id":        s.ID(),
			"nsp":       s.Namespace().Name(),
			"transport": s.Transport(),
			"recovered": s.Recovered(),
			"rooms":     s.Rooms(),
			"auth":      s.Handshake().Auth,
			"query":     s.Handshake().Query,
		})
	})
	e.registerBinary(s, tag)
	e.registerWaiting(s, tag)
	registerConn(s)

	s.On("echo", func(ev *realtime.Event) { _ = ev.Ack(anyArgs(ev.Args)...) })
	s.On("noack", func(*realtime.Event) {}) // never acknowledges

	// ask asks the client a "question" with the event's arguments and
	// acknowledges the event with the client's answer.
	s.On("ask", func(ev *realtime.Event) {
		args := anyArgs(ev.Args)
		e.wg.Go(func() { // overlapping the socket's next events; ask-inline waits inline
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			answer, err := s.EmitWithAck(ctx, "question", args...)
			if err != nil {
				e.rec.note(tag, "ask: "+err.Error())
				_ = ev.Ack(map[string]string{"error": err.Error()})
				return
			}
			b, _ := json.Marshal(answer)
			e.rec.note(tag, "ask: "+string(b))
			_ = ev.Ack(anyArgs(answer)...)
		})
	})
	// ask-timeout sends "ignore", which the client never acknowledges.
	s.On("ask-timeout", func(ev *realtime.Event) {
		e.wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), askTimeout)
			defer cancel()
			_, err := s.EmitWithAck(ctx, "ignore", "no answer expected")
			timedOut := errors.Is(err, context.DeadlineExceeded)
			if timedOut {
				e.rec.note(tag, "ask-timeout: deadline exceeded")
			} else {
				e.rec.note(tag, "ask-timeout: unexpected error "+errString(err))
			}
			_ = ev.Ack(map[string]any{"timeout": timedOut, "error": errString(err)})
		})
	})

	// binary takes a buffer and an object with a nested buffer; it emits
	// both back as attachments and acknowledges with the buffer reversed.
	s.On("binary", func(ev *realtime.Event) {
		var data []byte
		var meta struct {
			Label  string `json:"label"`
			Nested []byte `json:"nested"`
		}
		if err := ev.Bind(&data, &meta); err != nil {
			_ = ev.Ack(map[string]string{"error": err.Error()})
			return
		}
		_ = s.Emit("binary-back", data, meta.Nested)
		rev := slices.Clone(data)
		slices.Reverse(rev)
		_ = ev.Ack(rev, map[string]any{"len": len(data), "label": meta.Label, "nested": len(meta.Nested)})
	})

	s.On("join", func(ev *realtime.Event) {
		var room string
		if ev.Bind(&room) == nil {
			s.Join(room)
		}
		_ = ev.Ack(s.Rooms())
	})
	s.On("leave", func(ev *realtime.Event) {
		var room string
		if ev.Bind(&room) == nil {
			s.Leave(room)
		}
		_ = ev.Ack(s.Rooms())
	})
	// to-room emits "room-msg" to a room, from the namespace (the sender
	// included if in the room) or from the socket (the sender left out),
	// then "barrier" to the whole namespace: a client that gets the barrier
	// without the message was not sent it, since each connection's packets
	// keep their order.
	s.On("to-room", func(ev *realtime.Event) {
		var req struct {
			Room       string `json:"room"`
			Msg        string `json:"msg"`
			Token      string `json:"token"`
			FromSocket bool   `json:"fromSocket"`
		}
		if err := ev.Bind(&req); err != nil {
			_ = ev.Ack(map[string]string{"error": err.Error()})
			return
		}
		op := s.Namespace().To(req.Room)
		if req.FromSocket {
			op = s.To(req.Room)
		}
		_ = op.Emit("room-msg", req.Msg)
		_ = s.Namespace().Emit("barrier", req.Token)
		_ = ev.Ack()
	})
	// broadcast emits "news" to every socket of the namespace but the
	// sender, then "barrier" to all.
	s.On("broadcast", func(ev *realtime.Event) {
		var req struct {
			Msg   string `json:"msg"`
			Token string `json:"token"`
		}
		if err := ev.Bind(&req); err != nil {
			_ = ev.Ack(map[string]string{"error": err.Error()})
			return
		}
		_ = s.Broadcast().Emit("news", req.Msg)
		_ = s.Namespace().Emit("barrier", req.Token)
		_ = ev.Ack()
	})
	s.On("kick", func(ev *realtime.Event) {
		var closeConn bool
		_ = ev.Bind(&closeConn)
		s.Disconnect(closeConn)
	})
	// kick-tag disconnects the sockets of the namespace whose auth carries
	// the given tag.
	s.On("kick-tag", func(ev *realtime.Event) {
		var req struct {
			Tag   string `json:"tag"`
			Close bool   `json:"close"`
		}
		n := 0
		if ev.Bind(&req) == nil {
			socks, _ := s.Namespace().FetchSockets(context.Background())
			for _, rs := range socks {
				var auth struct {
					Tag string `json:"tag"`
				}
				if json.Unmarshal(rs.Handshake.Auth, &auth) == nil && auth.Tag == req.Tag {
					_ = rs.Disconnect(context.Background(), req.Close)
					n++
				}
			}
		}
		_ = ev.Ack(n)
	})
}

// registerRecovery sets the handlers of the recovery scenario.
func (e *env) registerRecovery(s *realtime.Socket) {
	// peer-left tells the others that s is gone and its session kept; it is
	// not among the packets s missed, since s is in its own room.
	s.OnDisconnect(func(s *realtime.Socket, reason string) {
		_ = s.Namespace().Except(s.ID()).Emit("peer-left", s.ID(), reason)
	})
	s.On("say", func(ev *realtime.Event) {
		var req struct {
			Room string `json:"room"`
			Text string `json:"text"`
		}
		if err := ev.Bind(&req); err != nil {
			_ = ev.Ack(map[string]string{"error": err.Error()})
			return
		}
		_ = s.To(req.Room).Emit("msg", req.Text)
		_ = ev.Ack()
	})
	// gate opens or closes the gate a client names in its query: while it
	// is closed, that client's handshakes are refused, so it cannot come
	// back before the test lets it.
	s.On("gate", func(ev *realtime.Event) {
		var req struct {
			Key  string `json:"key"`
			Open bool   `json:"open"`
		}
		if err := ev.Bind(&req); err != nil {
			_ = ev.Ack(map[string]string{"error": err.Error()})
			return
		}
		e.gate.set(req.Key, !req.Open)
		_ = ev.Ack()
	})
}

// registerRestart sets the handler of the restart scenario.
func (e *env) registerRestart(s *realtime.Socket) {
	s.On("restart", func(*realtime.Event) { e.restart.restart() })
}

// anyArgs turns received arguments into Emit or Ack arguments, binary
// data as binary.
func anyArgs(args realtime.Args) []any { return args.Values() }

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// gate refuses the handshakes of clients whose "gate" query parameter names
// a closed gate.
type gate struct {
	mu     sync.Mutex
	closed map[string]bool
}

var errGateClosed = errors.New("gate closed")

func (g *gate) allow(r *http.Request) error {
	key := r.URL.Query().Get("gate")
	g.mu.Lock()
	defer g.mu.Unlock()
	if key != "" && g.closed[key] {
		return errGateClosed
	}
	return nil
}

func (g *gate) set(key string, closed bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed[key] = closed
}

// restartable serves a realtime.Server that restart replaces by a new one,
// as a deployment does: the old one shuts down (its clients are told to
// close, and handshakes meanwhile are refused), then the new one takes the
// requests and the clients reconnect to it.
type restartable struct {
	newServer func() *realtime.Server

	mu  sync.Mutex
	cur *realtime.Server
	wg  sync.WaitGroup // restarts in progress
}

func (r *restartable) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	s := r.cur
	r.mu.Unlock()
	s.ServeHTTP(w, req)
}

// restart shuts the current server down, then swaps in a new one. Shutdown
// waits for the connections, so it cannot run on a handler's goroutine.
func (r *restartable) restart() {
	r.mu.Lock()
	old := r.cur
	r.mu.Unlock()
	r.wg.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = old.Shutdown(ctx)
		r.mu.Lock()
		r.cur = r.newServer()
		r.mu.Unlock()
	})
}

func (r *restartable) close() {
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.cur.Close()
}

// recorder keeps what the servers saw of each tagged client.
type recorder struct {
	mu        sync.Mutex
	reasons   map[string][]string // disconnect reasons
	recovered map[string][]bool   // Socket.Recovered of each connection
	notes     map[string][]string // what handlers saw
}

func newRecorder() *recorder {
	return &recorder{
		reasons:   make(map[string][]string),
		recovered: make(map[string][]bool),
		notes:     make(map[string][]string),
	}
}

func (r *recorder) connected(tag string, recovered bool) {
	if tag == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recovered[tag] = append(r.recovered[tag], recovered)
}

func (r *recorder) disconnected(tag, reason string) {
	if tag == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reasons[tag] = append(r.reasons[tag], reason)
}

func (r *recorder) note(tag, s string) {
	if tag == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes[tag] = append(r.notes[tag], s)
}

// get waits until m[tag] has at least n entries (the last disconnections
// may still be in progress when node exits) and returns a copy of them.
func get[T any](t *testing.T, r *recorder, m map[string][]T, tag string, n int) []T {
	t.Helper()
	entries := func() []T {
		r.mu.Lock()
		defer r.mu.Unlock()
		return slices.Clone(m[tag])
	}
	if !assert.Eventually(t, func() bool { return len(entries()) >= n }, wait, 10*time.Millisecond,
		"server-side record of client %q", tag) {
		t.Logf("%q: want %d entries, have %v", tag, n, entries())
		return nil
	}
	return entries()
}

// checkServerSide asserts what the server saw of the node tests run in
// mode, after they have passed.
func (r *recorder) checkServerSide(t *testing.T, mode string) {
	for _, closeConn := range []string{"false", "true"} {
		tag := "kick-" + closeConn + "-" + mode
		// The kicked socket and the one the test connects after it share
		// the tag, and their records may land in either order.
		if reasons := get(t, r, r.reasons, tag, 1); len(reasons) > 0 {
			assert.Contains(t, reasons, realtime.ReasonServerNamespaceDisconnect, "disconnect reasons of %s", tag)
		}
	}

	tag := "acks-" + mode
	notes := get(t, r, r.notes, tag, 2)
	assert.Contains(t, notes, `ask: [42,"ok"]`, "EmitWithAck answered by the client (%s)", tag)
	assert.Contains(t, notes, "ask-timeout: deadline exceeded", "EmitWithAck never answered (%s)", tag)

	tag = "wait-" + mode
	notes = get(t, r, r.notes, tag, 1)
	assert.Contains(t, notes, `ask-inline: ["1+2",{"ok":true}]`, "EmitWithAck inside a handler (%s)", tag)
	tag = "wait-drop-" + mode
	notes = get(t, r, r.notes, tag, 2)
	assert.Equal(t, []string{
		"ask-inline: " + realtime.ErrNotConnected.Error(),
		"disconnect: " + realtime.ReasonClientNamespaceDisconnect,
	}, notes, "EmitWithAck of a handler when its client disconnects, then the disconnect handler (%s)", tag)

	tag = "recover-" + mode
	if rec := get(t, r, r.recovered, tag, 2); len(rec) >= 2 {
		assert.Equal(t, []bool{false, true}, rec[:2], "Socket.Recovered of the first connection and of the reconnection (%s)", tag)
	}
	if reasons := get(t, r, r.reasons, tag, 1); len(reasons) > 0 {
		assert.Equal(t, transport.ReasonTransportClose, reasons[0], "disconnect reason after the client closed its engine (%s)", tag)
	}

	tag = "conn-close-" + mode
	if rec := get(t, r, r.recovered, tag, 2); len(rec) >= 2 {
		assert.Equal(t, []bool{false, true}, rec[:2], "Socket.Recovered before and after Conn().Close (%s)", tag)
	}
	if reasons := get(t, r, r.reasons, tag, 1); len(reasons) > 0 {
		assert.Equal(t, transport.ReasonForcedClose, reasons[0], "disconnect reason after Conn().Close (%s)", tag)
	}

	tag = "eio3-close-" + mode
	if rec := get(t, r, r.recovered, tag, 2); len(rec) >= 2 {
		assert.Equal(t, []bool{false, false}, rec[:2], "no recovery for Socket.IO 2 clients (%s)", tag)
	}
	if reasons := get(t, r, r.reasons, tag, 1); len(reasons) > 0 {
		assert.Equal(t, transport.ReasonForcedClose, reasons[0], "disconnect reason of a Socket.IO 2 client after Conn().Close (%s)", tag)
	}

	tag = "client-disconnect-" + mode
	if reasons := get(t, r, r.reasons, tag, 1); len(reasons) > 0 {
		assert.Equal(t, realtime.ReasonClientNamespaceDisconnect, reasons[0], "disconnect reason after socket.disconnect() (%s)", tag)
	}

	tag = "restart-" + mode
	if reasons := get(t, r, r.reasons, tag, 1); len(reasons) > 0 {
		assert.Equal(t, transport.ReasonServerShutdown, reasons[0], "disconnect reason after Shutdown (%s)", tag)
	}
}

// testWriter writes server logs to the test's output until stop.
type testWriter struct {
	t       *testing.T
	mu      sync.Mutex
	stopped bool
	out     io.Writer
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return len(p), nil
	}
	if w.out == nil {
		w.out = w.t.Output()
	}
	return w.out.Write(p)
}

func (w *testWriter) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
}
