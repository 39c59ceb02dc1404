package client

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/vicinity-go/vicinity/internal/eio"
	"github.com/vicinity-go/vicinity/internal/sio"
)

// Args are the arguments of an event or an acknowledgement, with the binary
// attachments that came with them. The zero value has no arguments.
type Args struct{ a sio.Args }

// Len returns the number of arguments.
func (a Args) Len() int { return a.a.Len() }

// Bind decodes the arguments, in order, into dst (pointers, as for
// json.Unmarshal); a nil entry skips its argument. Fewer arguments than dst
// is an error; extra arguments are ignored. Binary data (at any depth)
// decodes into a []byte, or into an any as a []byte. Errors wrap
// [ErrInvalidArgument].
func (a Args) Bind(dst ...any) error { return a.a.Bind(dst...) }

// JSON returns argument i as JSON, with binary data written as base64
// strings. It panics if i is out of range.
func (a Args) JSON(i int) json.RawMessage { return a.a.JSON(i) }

// MarshalJSON writes the arguments as a JSON array, binary data as base64
// strings.
func (a Args) MarshalJSON() ([]byte, error) { return a.a.MarshalJSON() }

// Values returns the arguments as values that Emit sends as they came,
// binary data as binary.
func (a Args) Values() []any { return a.a.Values() }

// Event is an event the server sent.
type Event struct {
	Socket *Socket
	Name   string
	Args
	id    uint64
	hasID bool
	eng   *engine
	acked atomic.Bool
}

// WantsAck reports whether the server waits for an acknowledgement.
func (e *Event) WantsAck() bool { return e.hasID }

// Ack answers the server's acknowledgement callback with args ([]byte
// arguments travel as binary attachments). It may be called from any
// goroutine, later than the handler. It returns [ErrNoAck] if the server
// asked for none, [ErrAlreadyAcked] the second time, and [ErrNotConnected]
// if the connection the event came on is gone.
func (e *Event) Ack(args ...any) error {
	if !e.hasID {
		return ErrNoAck
	}
	if e.acked.Swap(true) {
		return ErrAlreadyAcked
	}
	pkts, err := encode(sio.Ack, e.Socket.nsp, e.id, true, "", args)
	if err != nil {
		return err
	}
	s := e.Socket
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.connected || s.eng != e.eng || !s.eng.send(pkts...) {
		return ErrNotConnected
	}
	return nil
}

// Socket is a connection to one namespace of a server, multiplexed with
// the manager's other sockets over one Engine.IO session. It is safe for
// concurrent use.
//
// Handlers run one at a time, in order, on the manager's read goroutine:
// they must not block (start a goroutine for slow work; [Event.Ack] may be
// called later). The exception: the disconnect handlers for "io client
// disconnect" run on the goroutine calling [Socket.Disconnect] or
// [Manager.Close]. A handler that panics is recovered and logged.
type Socket struct {
	m    *Manager
	nsp  string
	auth json.RawMessage // a JSON object, or nil
	log  *slog.Logger

	mu         sync.Mutex
	active     bool    // wants a connection: Connect called, not given up
	connected  bool    // the server accepted the CONNECT
	eng        *engine // the session the CONNECT went on, nil if none
	id         string
	pid        string // recovery session, from the CONNECT reply
	offset     string // last recovery offset received
	recovered  bool
	accepted   uint64        // connections accepted so far
	err        error         // why the socket stopped trying, for Connect
	lastErr    error         // the last failure to connect, for Connect
	changed    chan struct{} // closed and replaced on each change of state
	handlers   map[string]func(*Event)
	anyFns     []func(*Event)
	connectFns []func(*Socket)
	closeFns   []func(*Socket, string)
	errorFns   []func(*Socket, error)
	acks       map[uint64]*ack
	nextAck    uint64
	buffer     []buffered // sent once connected
}

// ack waits for the acknowledgement of one EmitWithAck.
type ack struct {
	ch   chan ackResult // capacity 1
	sent bool           // the packet left the send buffer
}

type ackResult struct {
	args Args
	err  error
}

type buffered struct {
	pkts []eio.Packet
	ack  *ack // nil for Emit
}

func newSocket(m *Manager, nsp string, c socketConfig) *Socket {
	return &Socket{
		m:        m,
		nsp:      nsp,
		auth:     c.auth,
		log:      m.log.With("nsp", nsp),
		changed:  make(chan struct{}),
		handlers: make(map[string]func(*Event)),
		acks:     make(map[uint64]*ack),
	}
}

// Namespace returns the socket's namespace, such as "/" or "/chat".
func (s *Socket) Namespace() string { return s.nsp }

// Manager returns the socket's manager.
func (s *Socket) Manager() *Manager { return s.m }

// ID returns the id the server gave the socket, "" while not connected. It
// changes with each connection, unless the connection was recovered.
func (s *Socket) ID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

// Connected reports whether the socket is connected.
func (s *Socket) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connected
}

// Recovered reports whether the last connection recovered the previous
// one's state: same id, rooms and data on the server, and the packets
// missed meanwhile delivered. It needs connection-state recovery on the
// server (realtime.WithRecovery).
func (s *Socket) Recovered() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recovered
}

// On sets the handler of an event, replacing any previous one; nil removes
// it.
func (s *Socket) On(event string, fn func(*Event)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fn == nil {
		delete(s.handlers, event)
		return
	}
	s.handlers[event] = fn
}

// OnAny adds a handler called for every event, before the event's own.
func (s *Socket) OnAny(fn func(*Event)) {
	s.mu.Lock()
	s.anyFns = append(s.anyFns, fn)
	s.mu.Unlock()
}

// OnConnect adds a handler called each time the server accepts the socket:
// the first connection and every reconnection. It may run after
// [Socket.Connect] has returned.
func (s *Socket) OnConnect(fn func(s *Socket)) {
	s.mu.Lock()
	s.connectFns = append(s.connectFns, fn)
	s.mu.Unlock()
}

// OnDisconnect adds a handler called each time the connected socket
// disconnects, with the reason ([ReasonServerDisconnect], …).
func (s *Socket) OnDisconnect(fn func(s *Socket, reason string)) {
	s.mu.Lock()
	s.closeFns = append(s.closeFns, fn)
	s.mu.Unlock()
}

// OnConnectError adds a handler called when a connection attempt fails: a
// [*ConnectError] when the server refuses the socket, otherwise the error
// that kept the session from opening (wrapping [ErrReconnectFailed] when
// the manager gives up).
func (s *Socket) OnConnectError(fn func(s *Socket, err error)) {
	s.mu.Lock()
	s.errorFns = append(s.errorFns, fn)
	s.mu.Unlock()
}

// Connect connects the socket, opening the manager's session if needed,
// and waits until the server accepts it. It returns nil at once if the
// socket is connected, and nil if the server accepted it even if the
// connection dropped right after (reconnection then follows as usual). It returns a [*ConnectError] if the server refuses
// it; the session's error if it cannot be opened and reconnection is off;
// an error wrapping [ErrReconnectFailed] once the reconnection attempts are
// exhausted. If ctx ends first, the socket stops trying (as after
// Disconnect) and Connect returns ctx.Err(), with the last error seen.
func (s *Socket) Connect(ctx context.Context) error {
	s.mu.Lock()
	accepted := s.accepted
	s.mu.Unlock()
	if err := s.m.activate(s); err != nil {
		return err
	}
	for {
		s.mu.Lock()
		connected, active, err, ch := s.connected || s.accepted != accepted, s.active, s.err, s.changed
		s.mu.Unlock()
		switch {
		case connected: // or it was, and dropped already
			return nil
		case err != nil:
			return err
		case !active:
			return ErrDisconnected
		}
		select {
		case <-ch:
		case <-ctx.Done():
			s.mu.Lock()
			connected, last := s.connected, s.lastErr
			s.mu.Unlock()
			if connected {
				return nil
			}
			s.Disconnect()
			if last != nil {
				return fmt.Errorf("client: connect: %w (last error: %v)", ctx.Err(), last)
			}
			return ctx.Err()
		}
	}
}

// Disconnect disconnects the socket: the server is told, the disconnect
// handlers get "io client disconnect" on the calling goroutine, and the
// socket does not reconnect until Connect is called again. The manager's
// session closes when no socket uses it. Packets in the send buffer are
// kept for the next connection.
func (s *Socket) Disconnect() {
	s.deactivate(ReasonClientDisconnect, ErrDisconnected, true)
	s.m.deactivated()
}

// Emit sends an event. Arguments are encoded with encoding/json, except
// []byte arguments, which travel as binary attachments. While the socket is
// not connected the packet waits in the send buffer (see [WithSendBuffer]).
// Emit does not wait for the network.
func (s *Socket) Emit(event string, args ...any) error {
	if sio.Reserved(event) {
		return ErrReservedEvent
	}
	pkts, err := encode(sio.Event, s.nsp, 0, false, event, args)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sendLocked(pkts, nil)
}

// EmitWithAck sends an event, as [Socket.Emit], and waits for the server's
// acknowledgement, returning its arguments. It returns ctx.Err() if ctx
// ends first (a packet still in the send buffer is then dropped), and
// [ErrDisconnected] if the socket disconnects after the packet was sent.
func (s *Socket) EmitWithAck(ctx context.Context, event string, args ...any) (Args, error) {
	if sio.Reserved(event) {
		return Args{}, ErrReservedEvent
	}
	s.mu.Lock()
	id := s.nextAck
	s.nextAck++
	s.mu.Unlock()
	pkts, err := encode(sio.Event, s.nsp, id, true, event, args)
	if err != nil {
		return Args{}, err
	}
	a := &ack{ch: make(chan ackResult, 1)}
	s.mu.Lock()
	s.acks[id] = a
	if err := s.sendLocked(pkts, a); err != nil {
		delete(s.acks, id)
		s.mu.Unlock()
		return Args{}, err
	}
	s.mu.Unlock()
	select {
	case r := <-a.ch:
		return r.args, r.err
	case <-ctx.Done():
		s.mu.Lock()
		delete(s.acks, id)
		s.buffer = slices.DeleteFunc(s.buffer, func(b buffered) bool { return b.ack == a })
		s.mu.Unlock()
		return Args{}, ctx.Err()
	}
}

// sendLocked sends pkts on the session, or buffers them while the socket
// is not connected. Called with s.mu held.
func (s *Socket) sendLocked(pkts []eio.Packet, a *ack) error {
	if s.connected && s.eng.send(pkts...) {
		if a != nil {
			a.sent = true
		}
		return nil
	}
	n := s.m.cfg.sendBuffer
	if n == 0 {
		return ErrNotConnected
	}
	if len(s.buffer) >= n {
		return ErrBufferFull
	}
	s.buffer = append(s.buffer, buffered{pkts: pkts, ack: a})
	return nil
}

// sendConnect sends the CONNECT packet on e: the auth payload, with the
// recovery session's pid and offset if there is one. Called with s.mu
// held.
func (s *Socket) sendConnect(e *engine) {
	s.eng = e
	data := s.auth
	if s.pid != "" {
		m := map[string]json.RawMessage{}
		if data != nil {
			_ = json.Unmarshal(data, &m) // WithAuth checked it is an object
		}
		if _, ok := m["pid"]; !ok {
			m["pid"], _ = json.Marshal(s.pid)
		}
		if _, ok := m["offset"]; !ok && s.offset != "" {
			m["offset"], _ = json.Marshal(s.offset)
		}
		data, _ = json.Marshal(m)
	}
	e.send(message(&sio.Packet{Type: sio.Connect, Namespace: s.nsp, Data: data}))
}

// changedLocked wakes the Connect calls waiting for a change of state.
// Called with s.mu held.
func (s *Socket) changedLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Socket) isActive() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

// closeLocked marks s disconnected and fails the acknowledgements of
// packets already sent, as the JavaScript client does; those still in the
// send buffer keep waiting. Called with s.mu held.
func (s *Socket) closeLocked() {
	s.connected, s.eng, s.id = false, nil, ""
	for id, a := range s.acks {
		if a.sent {
			delete(s.acks, id)
			a.ch <- ackResult{err: ErrDisconnected}
		}
	}
	s.changedLocked()
}

// deactivate stops s wanting a connection, with err for Connect. If s was
// connected, the server is told (if tell) and the disconnect handlers get
// reason.
func (s *Socket) deactivate(reason string, err error, tell bool) {
	s.mu.Lock()
	was := s.connected
	if was && tell {
		s.eng.send(message(&sio.Packet{Type: sio.Disconnect, Namespace: s.nsp}))
	}
	s.active, s.err = false, err
	s.closeLocked()
	fns := s.closeFns
	s.mu.Unlock()
	if was {
		s.disconnected(fns, reason)
	}
}

// onclose handles the end of session e.
func (s *Socket) onclose(e *engine, reason string) {
	s.mu.Lock()
	if s.eng != e {
		s.mu.Unlock()
		return
	}
	was := s.connected
	s.lastErr = fmt.Errorf("client: %s", reason)
	s.closeLocked()
	fns := s.closeFns
	s.mu.Unlock()
	if was {
		s.disconnected(fns, reason)
	}
}

// disconnected logs the end of s's connection and runs fns, its disconnect
// handlers, with reason. Called without s.mu held.
func (s *Socket) disconnected(fns []func(*Socket, string), reason string) {
	s.log.Info("disconnect", "reason", reason)
	for _, fn := range fns {
		s.call("disconnect", func() { fn(s, reason) })
	}
}

// onOpenError reports a session that could not be opened to the
// connect_error handlers; final then stops the socket trying, which ends a
// waiting Connect.
func (s *Socket) onOpenError(err error, final bool) {
	s.mu.Lock()
	if !s.active {
		s.mu.Unlock()
		return
	}
	s.lastErr = err
	fns := s.errorFns
	s.mu.Unlock()
	for _, fn := range fns {
		s.call("connect_error", func() { fn(s, err) })
	}
	if final {
		s.mu.Lock()
		if s.active {
			s.active, s.err = false, err
			s.changedLocked()
		}
		s.mu.Unlock()
	}
}

// onConnect handles the server's acceptance of the CONNECT sent on e.
func (s *Socket) onConnect(e *engine, data json.RawMessage) {
	var d struct {
		SID string `json:"sid"`
		PID string `json:"pid"`
	}
	if json.Unmarshal(data, &d) != nil || d.SID == "" {
		s.onConnectError(e, &ConnectError{Message: "CONNECT without a sid: the server speaks an older Socket.IO protocol"})
		return
	}
	s.mu.Lock()
	if s.eng != e || s.connected {
		inactive := !s.active
		s.mu.Unlock()
		if inactive { // Disconnect came before the answer: undo it
			e.send(message(&sio.Packet{Type: sio.Disconnect, Namespace: s.nsp}))
		}
		return
	}
	s.connected, s.id, s.lastErr = true, d.SID, nil
	s.accepted++
	s.recovered = d.PID != "" && d.PID == s.pid
	if d.PID != s.pid {
		s.offset = ""
	}
	s.pid = d.PID
	for i, b := range s.buffer {
		e.send(b.pkts...)
		if b.ack != nil {
			b.ack.sent = true
		}
		s.buffer[i] = buffered{}
	}
	s.buffer = s.buffer[:0]
	s.changedLocked()
	fns, recovered := s.connectFns, s.recovered
	s.mu.Unlock()
	s.log.Info("connect", "id", d.SID, "recovered", recovered)
	for _, fn := range fns {
		s.call("connect", func() { fn(s) })
	}
}

// onConnectError handles the server's refusal of the CONNECT sent on e.
// The socket stops trying, as the JavaScript client's does.
func (s *Socket) onConnectError(e *engine, ce *ConnectError) {
	s.mu.Lock()
	if s.eng != e || s.connected {
		s.mu.Unlock()
		return
	}
	s.active, s.eng, s.err, s.lastErr = false, nil, ce, ce
	s.changedLocked()
	fns := s.errorFns
	s.mu.Unlock()
	s.log.Info("connect_error", "err", ce.Message)
	for _, fn := range fns {
		s.call("connect_error", func() { fn(s, ce) })
	}
	s.m.deactivated()
}

// onServerDisconnect handles a DISCONNECT from the server: the socket does
// not reconnect.
func (s *Socket) onServerDisconnect(e *engine) {
	s.mu.Lock()
	if s.eng != e || !s.connected {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.deactivate(ReasonServerDisconnect, ErrDisconnected, false)
	s.m.deactivated()
}

// onEvent handles an EVENT from session e. With a recovery session, the
// server appends the packet's offset as a last string argument: it is
// recorded and stripped. Events that ask for an acknowledgement carry no
// offset.
func (s *Socket) onEvent(e *engine, p *sio.Packet, atts [][]byte) error {
	name, args, err := sio.DecodeEvent(p, atts)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.eng != e || !s.connected {
		s.mu.Unlock()
		return nil
	}
	if n := args.Len(); s.pid != "" && !p.HasID && n > 0 && args.Raw(n - 1)[0] == '"' {
		var off string
		if json.Unmarshal(args.Raw(n-1), &off) == nil {
			s.offset = off
			args = args.Head(n - 1)
		}
	}
	anys, h := s.anyFns, s.handlers[name]
	s.mu.Unlock()
	ev := &Event{Socket: s, Name: name, Args: Args{args}, id: p.ID, hasID: p.HasID, eng: e}
	for _, fn := range anys {
		s.call(name, func() { fn(ev) })
	}
	if h != nil {
		s.call(name, func() { h(ev) })
	}
	return nil
}

// onAck handles an ACK answering EmitWithAck.
func (s *Socket) onAck(p *sio.Packet, atts [][]byte) error {
	if !p.HasID {
		return nil
	}
	args, err := sio.DecodeAck(p, atts)
	if err != nil {
		return err
	}
	s.mu.Lock()
	a := s.acks[p.ID]
	delete(s.acks, p.ID)
	s.mu.Unlock()
	if a != nil {
		a.ch <- ackResult{args: Args{args}}
	}
	return nil
}

// call runs a handler, recovering and logging a panic.
func (s *Socket) call(what string, fn func()) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("handler panicked", "event", what, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	fn()
}
