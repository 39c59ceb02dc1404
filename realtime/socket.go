package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vicinity-go/vicinity/internal/id"
	"github.com/vicinity-go/vicinity/internal/sio"
	"github.com/vicinity-go/vicinity/transport"
)

// Disconnect reasons a socket's disconnect handlers receive, besides the
// transport's ([transport.ReasonTransportClose], [transport.ReasonPingTimeout],
// …). The names are those of the Node.js server.
const (
	ReasonServerNamespaceDisconnect = "server namespace disconnect" // Socket.Disconnect
	ReasonClientNamespaceDisconnect = "client namespace disconnect" // the client called socket.disconnect()
)

// Socket is a client's connection to one namespace. It is safe for
// concurrent use. Its handlers run one at a time, in order, on a goroutine
// of the socket's own, and may block (see the package's Concurrency).
type Socket struct {
	id     string
	pid    string
	nsp    *Namespace
	client *client

	// The handshake: the connection's shared part, this socket's time (Unix
	// nanoseconds) and auth; hs is made from them on the first Handshake.
	hs   atomic.Pointer[Handshake]
	at   int64
	auth json.RawMessage

	bucket     tokenBucket // the event rate limit; used on the read goroutine only
	refused    int         // events the rate limit refused since refusedLog; likewise
	refusedLog mono        // when refused events were last logged, 0 for never; likewise

	inbox inbox // runs the handlers

	recovered bool // set before the socket is shared

	mu           sync.Mutex
	connected    bool
	closing      bool
	ended        bool               // the context is cancelled, or will be when made
	ctx          context.Context    // nil until the first Context
	cancel       context.CancelFunc // ctx's
	handlers     []eventHandler
	anyHandlers  []func(*Event)
	disconnectin []func(*Socket, string)
	disconnect   []func(*Socket, string)
	acks         map[uint64]func(Args) // nil until the first EmitWithAck
	data         any
	early        []string // rooms joined in the middleware, before it connected
}

// eventHandler is the handler [Socket.On] set for an event. A socket's
// are sorted by event: a slice, searched, costs less than a map.
type eventHandler struct {
	event string
	fn    func(*Event)
}

// handler returns the handler of event, or nil. s.mu is held.
func (s *Socket) handler(event string) func(*Event) {
	if i, ok := slices.BinarySearchFunc(s.handlers, event, byEvent); ok {
		return s.handlers[i].fn
	}
	return nil
}

func byEvent(h eventHandler, event string) int { return strings.Compare(h.event, event) }

func newSocket(n *Namespace, c *client, auth json.RawMessage) *Socket {
	s := &Socket{
		id:     id.New(),
		nsp:    n,
		client: c,
		at:     time.Now().UnixNano(),
		auth:   auth,
	}
	s.inbox.srv = n.srv
	return s
}

// logger returns the socket's logger. It is made on each use: a socket logs
// rarely, and keeps none.
func (s *Socket) logger() *slog.Logger { return s.client.logger().With("nsp", s.nsp.name) }

// Context returns a context cancelled when the socket disconnects, for work
// a handler starts on the socket's behalf.
func (s *Socket) Context() context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx == nil { // made on first use: most sockets never need one
		s.ctx, s.cancel = context.WithCancel(context.Background())
		if s.ended {
			s.cancel()
		}
	}
	return s.ctx
}

// end cancels the socket's context, now or when it is made.
func (s *Socket) end() {
	s.mu.Lock()
	s.ended = true
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// ID returns the socket's id, also the name of a room it is always in.
func (s *Socket) ID() string { return s.id }

// Namespace returns the socket's namespace.
func (s *Socket) Namespace() *Namespace { return s.nsp }

// Handshake returns what the client sent when connecting. It must not be
// modified: its headers and query are shared with the connection's other
// sockets. It is made on the first call, from the request the connection
// keeps: a socket that never asks keeps no copy.
func (s *Socket) Handshake() *Handshake {
	if h := s.hs.Load(); h != nil {
		return h
	}
	h := *s.client.handshake() // headers and query shared by the connection's sockets
	h.Time = time.Unix(0, s.at)
	if len(s.auth) > 0 {
		h.Auth = s.auth
	}
	if s.hs.CompareAndSwap(nil, &h) {
		return &h
	}
	return s.hs.Load()
}

// Recovered reports whether the socket is a recovered one: same id, rooms
// and data as before a short disconnection, missed packets delivered. See
// [WithRecovery].
func (s *Socket) Recovered() bool { return s.recovered }

// Transport returns the name of the transport now carrying the socket:
// "polling" or "websocket".
func (s *Socket) Transport() string { return s.client.conn.Transport() }

// Connected reports whether the socket is connected.
func (s *Socket) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connected
}

// Data returns the value set by [Socket.SetData]. After a recovery it is the
// JSON encoding (a json.RawMessage) of the value set before.
func (s *Socket) Data() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
}

// SetData stores an application value with the socket, returned by
// [Socket.Data] and by FetchSockets. It should encode with encoding/json.
func (s *Socket) SetData(v any) {
	s.mu.Lock()
	s.data = v
	s.mu.Unlock()
}

// On sets the handler of an event, replacing any previous one.
func (s *Socket) On(event string, fn func(*Event)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := slices.BinarySearchFunc(s.handlers, event, byEvent)
	if ok {
		s.handlers[i].fn = fn
		return
	}
	s.handlers = slices.Insert(s.handlers, i, eventHandler{event, fn})
}

// OnAny adds a handler called for every event, before the event's own.
func (s *Socket) OnAny(fn func(*Event)) {
	s.mu.Lock()
	s.anyHandlers = append(s.anyHandlers, fn)
	s.mu.Unlock()
}

// OnDisconnecting adds a handler called when the socket is disconnecting,
// while it is still in its rooms.
func (s *Socket) OnDisconnecting(fn func(s *Socket, reason string)) {
	s.mu.Lock()
	s.disconnectin = append(s.disconnectin, fn)
	s.mu.Unlock()
}

// OnDisconnect adds a handler called once the socket has disconnected, with
// the reason.
func (s *Socket) OnDisconnect(fn func(s *Socket, reason string)) {
	s.mu.Lock()
	s.disconnect = append(s.disconnect, fn)
	s.mu.Unlock()
}

// Emit sends an event to the client. Arguments are encoded with
// encoding/json, except []byte arguments, which travel as binary
// attachments.
func (s *Socket) Emit(event string, args ...any) error { return s.emit(false, event, args) }

// EmitVolatile is [Socket.Emit] for a packet the client may miss: if its
// send queue is full the packet is dropped instead of disconnecting it.
func (s *Socket) EmitVolatile(event string, args ...any) error { return s.emit(true, event, args) }

func (s *Socket) emit(volatile bool, event string, args []any) error {
	if sio.Reserved(event) {
		return ErrReservedEvent
	}
	if !s.Connected() {
		return ErrNotConnected
	}
	for _, o := range s.nsp.srv.cfg.observers {
		o.EventSent(s, event, args)
	}
	if s.pid != "" && !volatile {
		// kept for recovery: through the adapter, to the socket's own room
		return s.nsp.broadcast(context.Background(), BroadcastOptions{Rooms: []string{s.id}, Local: true}, event, args)
	}
	frames, err := s.nsp.encode(sio.Event, 0, false, event, args)
	if err != nil {
		return err
	}
	s.client.send(volatile, frames)
	return nil
}

// EmitLatest sends an event of which only the newest matters, replacing
// the one sent earlier with the same key if it is still queued: see
// [BroadcastOperator.EmitLatest].
func (s *Socket) EmitLatest(key, event string, args ...any) error {
	if err := checkLatest(key, args); err != nil {
		return err
	}
	if sio.Reserved(event) {
		return ErrReservedEvent
	}
	frames, err := s.nsp.encode(sio.Event, 0, false, event, args)
	if err != nil {
		return err
	}
	if len(frames) > 1 {
		return errLatestBinary
	}
	for _, o := range s.nsp.srv.cfg.observers {
		o.EventSent(s, event, args)
	}
	s.client.sendLatest(latestKey(s.nsp.name, key), frames[0])
	return nil
}

// EmitWithAck sends an event and waits for the client's acknowledgement,
// returning its arguments. It returns ctx.Err() if ctx ends first and
// [ErrNotConnected] if the socket disconnects first. It may be called from
// the socket's own handlers: the acknowledgement is taken by the read loop
// while the handler waits.
func (s *Socket) EmitWithAck(ctx context.Context, event string, args ...any) (Args, error) {
	if sio.Reserved(event) {
		return Args{}, ErrReservedEvent
	}
	ch := make(chan Args, 1)
	ackID := s.nsp.nextAckID()
	if !s.expectAck(ackID, func(a Args) { ch <- a }) {
		return Args{}, ErrNotConnected
	}
	forget := func() { s.forgetAck(ackID) }
	frames, err := s.nsp.encode(sio.Event, ackID, true, event, args)
	if err != nil {
		forget()
		return Args{}, err
	}
	for _, o := range s.nsp.srv.cfg.observers {
		o.EventSent(s, event, args)
	}
	s.client.send(false, frames)
	select {
	case a := <-ch:
		return a, nil
	case <-ctx.Done():
		forget()
		for _, o := range s.nsp.srv.cfg.observers {
			o.AckTimedOut(s.nsp, event, 1)
		}
		return Args{}, ctx.Err()
	case <-s.Context().Done():
		return Args{}, ErrNotConnected
	}
}

// Join adds the socket to rooms. Room names share one space with socket ids
// (each socket is in the room named by its id), so prefix application room
// names ("room:lobby") if users choose them.
//
// Since room names often come from clients, Join bounds what they can make
// the server keep: a name longer than [WithMaxNameLen] (256 bytes by
// default) returns [ErrRoomNameTooLong], and rooms that would put the socket
// in more than [WithMaxRooms] (1000 by default, its own room aside) return
// [ErrTooManyRooms]. Either way the socket joins none of rooms.
func (s *Socket) Join(rooms ...string) error {
	if err := s.checkJoin(rooms); err != nil {
		return err
	}
	s.join(rooms...)
	return nil
}

// checkJoin checks rooms against the limits of [Socket.Join].
func (s *Socket) checkJoin(rooms []string) error {
	cfg := &s.nsp.srv.cfg
	for _, r := range rooms {
		if len(r) > cfg.maxNameLen {
			return ErrRoomNameTooLong
		}
	}
	in := s.Rooms() // sorted, its own included once it connected
	n := len(in)
	if _, own := slices.BinarySearch(in, s.id); own {
		n--
	}
	var seen map[string]bool // for a long list; a short one is searched
	if len(rooms) > 8 {
		seen = make(map[string]bool, len(rooms))
	}
	for i, r := range rooms {
		if _, was := slices.BinarySearch(in, r); was {
			continue
		}
		if seen != nil {
			if seen[r] {
				continue
			}
			seen[r] = true
		} else if slices.Contains(rooms[:i], r) {
			continue
		}
		if n++; n > cfg.maxRooms {
			return ErrTooManyRooms
		}
	}
	return nil
}

// join adds the socket to rooms, without the limits of [Socket.Join]: for
// the server's own choices (SocketsJoin, area rooms).
func (s *Socket) join(rooms ...string) {
	if s.joinEarly(rooms) {
		return
	}
	feats, obs := s.nsp.srv.feats, s.nsp.srv.cfg.observers
	if feats == nil && obs == nil {
		s.nsp.adapter.AddAll(s.id, rooms)
		return
	}
	before := s.Rooms()
	s.nsp.adapter.AddAll(s.id, rooms)
	if obs != nil {
		s.joined(before)
	}
	for i, r := range rooms {
		if _, was := slices.BinarySearch(before, r); !was && !slices.Contains(rooms[:i], r) {
			for _, f := range feats {
				f.joined(s, r)
			}
		}
	}
}

// joined tells the observers about the rooms the socket is in and was not
// in before, sorted.
func (s *Socket) joined(before []string) {
	for _, r := range s.Rooms() {
		if _, was := slices.BinarySearch(before, r); !was {
			for _, o := range s.nsp.srv.cfg.observers {
				o.RoomJoined(s, r)
			}
		}
	}
}

// joinEarly keeps rooms for when the socket connects, if it has not yet
// (a join in the middleware, as Node allows), and reports whether it did.
func (s *Socket) joinEarly(rooms []string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.connected || s.ended {
		return false
	}
	for _, r := range rooms {
		if i, ok := slices.BinarySearch(s.early, r); !ok {
			s.early = slices.Insert(s.early, i, r)
		}
	}
	return true
}

// takeEarly returns the rooms joined before the socket connected, and
// forgets them.
func (s *Socket) takeEarly() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	early := s.early
	s.early = nil
	return early
}

// Leave removes the socket from room.
func (s *Socket) Leave(room string) {
	s.mu.Lock()
	if !s.connected && !s.ended { // in the middleware
		if i, ok := slices.BinarySearch(s.early, room); ok {
			s.early = slices.Delete(s.early, i, i+1)
		}
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	feats, obs := s.nsp.srv.feats, s.nsp.srv.cfg.observers
	if feats == nil && obs == nil {
		s.nsp.adapter.Del(s.id, room)
		return
	}
	_, was := slices.BinarySearch(s.Rooms(), room)
	s.nsp.adapter.Del(s.id, room)
	if !was {
		return
	}
	for _, f := range feats {
		f.left(s, room)
	}
	for _, o := range obs {
		o.RoomLeft(s, room)
	}
}

// Rooms returns the rooms the socket is in, sorted, including its own
// (in the middleware: those it joined there).
func (s *Socket) Rooms() []string {
	s.mu.Lock()
	if !s.connected && !s.ended {
		early := slices.Clone(s.early)
		s.mu.Unlock()
		return early
	}
	s.mu.Unlock()
	return s.nsp.adapter.SocketRooms(s.id)
}

// Broadcast selects every other socket of the namespace.
func (s *Socket) Broadcast() BroadcastOperator { return s.nsp.op().Except(s.id) }

// To selects the other sockets in any of rooms.
func (s *Socket) To(rooms ...string) BroadcastOperator { return s.Broadcast().To(rooms...) }

// Except selects every other socket of the namespace not in rooms.
func (s *Socket) Except(rooms ...string) BroadcastOperator { return s.Broadcast().Except(rooms...) }

// Disconnect disconnects the socket from its namespace: the client gets a
// disconnect packet ("io server disconnect") and does not reconnect. With
// close set, the whole connection and its other namespaces are closed too.
func (s *Socket) Disconnect(close bool) {
	if close {
		s.client.disconnectAll()
		return
	}
	// The socket is marked closing before the packet goes out: the client
	// may answer it (closing the connection, when it was its last
	// namespace) before this goroutine goes on, and that close must find
	// the reason taken, as Node.js's synchronous _onclose does.
	if !s.startClose() {
		return
	}
	s.client.sendPacket(&sio.Packet{Type: sio.Disconnect, Namespace: s.nsp.name})
	s.finishClose(ReasonServerNamespaceDisconnect)
}

func (s *Socket) info() SocketInfo {
	return SocketInfo{ID: s.id, Handshake: *s.Handshake(), Rooms: s.Rooms(), Data: s.Data()}
}

// recoverable lists the reasons after which a socket's state is kept for
// connection-state recovery.
var recoverable = map[string]bool{
	transport.ReasonTransportError: true,
	transport.ReasonTransportClose: true,
	transport.ReasonForcedClose:    true,
	transport.ReasonPingTimeout:    true,
	transport.ReasonServerShutdown: true,
	transport.ReasonSlowClient:     true,
}

// onclose disconnects the socket once, with reason. At once, the socket
// stops taking packets, asks for no more acknowledgements and its waits for
// them end; the rest (the disconnecting handlers, leaving its rooms, the
// disconnect handlers) runs on its inbox after the handlers already queued,
// so that a socket's handlers never run concurrently, and never on a read
// loop.
func (s *Socket) onclose(reason string) {
	if s.startClose() {
		s.finishClose(reason)
	}
}

// startClose marks the socket closing; false if it is not connected or
// already closing, in which case the disconnection and its reason are
// another's.
func (s *Socket) startClose() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.connected || s.closing {
		return false
	}
	s.closing = true
	return true
}

// finishClose goes on with the disconnection startClose began, with
// reason.
func (s *Socket) finishClose(reason string) {
	s.client.detach(s)
	s.end()
	s.inbox.enqueue(func() { s.closed(reason) })
}

// baseSession is the socket's session without its features' state.
func (s *Socket) baseSession() Session {
	sess := Session{SID: s.id, PID: s.pid, Rooms: s.Rooms()}
	if d := s.Data(); d != nil {
		sess.Data, _ = json.Marshal(d)
	}
	return sess
}

// Session returns the session the socket would be recovered with if its
// connection dropped now: its id, rooms and data, and the state of the
// server's features (see [Session]). ok is false when the socket cannot be
// recovered (recovery is off, or it is a Socket.IO 2 client) or is no
// longer connected. It is for cluster adapters that keep the sessions of
// connected sockets, so that a client recovers on another server even
// after this one crashed.
func (s *Socket) Session() (sess Session, ok bool) {
	if s.pid == "" || !s.Connected() {
		return Session{}, false
	}
	sess = s.baseSession()
	for _, f := range s.nsp.srv.feats {
		f.persisting(s, &sess)
	}
	return sess, true
}

// closed runs the disconnection of the socket on its inbox.
func (s *Socket) closed(reason string) {
	s.mu.Lock()
	disconnecting, disconnect := s.disconnectin, s.disconnect
	s.mu.Unlock()

	// still connected and in its rooms while the disconnecting handlers run
	for _, fn := range disconnecting {
		s.call("disconnecting", func() { fn(s, reason) })
	}
	s.mu.Lock()
	s.connected = false
	s.mu.Unlock()
	obs := s.nsp.srv.cfg.observers
	var sess *Session
	if s.pid != "" && recoverable[reason] {
		b := s.baseSession()
		sess = &b
	}
	// Before the session is kept for recovery: a recovered socket reuses
	// this id, and its features' state must not be dropped by us. Nobody
	// finds it near any more before the disconnect handlers run.
	s.nsp.srv.disconnected(s, reason, sess)
	var rooms []string // for the observers: the rooms it leaves
	if obs != nil {
		rooms = s.Rooms()
	}
	s.nsp.remove(s)
	s.nsp.adapter.DelAll(s.id)
	for _, o := range obs {
		for _, r := range rooms {
			o.RoomLeft(s, r)
		}
		o.SocketDisconnected(s, reason)
	}
	s.nsp.dropIfEmpty()
	if sess != nil {
		// once the socket has left everything: a recovered socket takes
		// its id, and must not lose the rooms it gets back
		s.nsp.persist(*sess)
	}
	s.logger().Info("disconnect", "reason", reason)
	for _, fn := range disconnect {
		s.call("disconnect", func() { fn(s, reason) })
	}
}

// onEvent handles an EVENT packet from the client, on the read loop: it is
// checked and rate limited here, and queued for the socket's handlers.
func (s *Socket) onEvent(p *sio.Packet, atts [][]byte) {
	name, args, err := sio.DecodeEvent(p, atts)
	if err != nil {
		s.client.fail(err)
		return
	}
	if cfg := &s.nsp.srv.cfg; !s.bucket.allow(time.Now(), cfg.eventRate, cfg.eventBurst) {
		s.refuse(name, p, errRateLimited, "event rate exceeded, events refused")
		return
	}
	e := &Event{Socket: s, Name: name, Args: Args{args}, ackID: p.ID, hasAck: p.HasID}
	if s.nsp.srv.cfg.logger.Enabled(context.Background(), slog.LevelDebug) {
		if l := s.logger(); l.Enabled(context.Background(), slog.LevelDebug) {
			l.LogAttrs(context.Background(), slog.LevelDebug, "event", slog.String("event", name), slog.Int("args", args.Len()))
		}
	}
	if !s.inbox.push(func() { s.dispatch(e) }, args.Size()) {
		s.refuse(name, p, errOverloaded, "too many events waiting for the handlers, events refused")
	}
}

// dispatch runs the handlers of an event, on the socket's inbox. They are
// looked up now, so that those a connection handler set are found.
func (s *Socket) dispatch(e *Event) {
	s.mu.Lock()
	anys, h := s.anyHandlers, s.handler(e.Name)
	s.mu.Unlock()
	for _, fn := range anys {
		s.callEvent(e, fn)
	}
	if h != nil {
		s.callEvent(e, h)
	}
}

// What a client that asked for an acknowledgement gets for an event
// refused by the [WithEventRate] limit, or because the socket already has
// too many events waiting for its handlers (256, or 4 MiB).
var (
	errRateLimited = map[string]string{"error": "rate limited"}
	errOverloaded  = map[string]string{"error": "overloaded"}
)

// refuseLogEvery is how often a socket logs the events it refused.
const refuseLogEvery = 10 * time.Second

// refuse answers an event that will not be handled: answer as its
// acknowledgement if the client waits for one, and a warning, msg, with the
// count of refused events at most once per refuseLogEvery. On the read
// loop.
func (s *Socket) refuse(name string, p *sio.Packet, answer map[string]string, msg string) {
	if p.HasID {
		_ = s.ack(p.ID, []any{answer})
	}
	for _, o := range s.nsp.srv.cfg.observers {
		o.EventRefused(s, name, answer["error"])
	}
	s.refused++
	if now := monoNow(); s.refusedLog == 0 || now-s.refusedLog >= mono(refuseLogEvery) {
		s.logger().Warn(msg, "event", name, "count", s.refused)
		s.refused, s.refusedLog = 0, now
	}
}

// ack sends an acknowledgement with args.
func (s *Socket) ack(id uint64, args []any) error {
	pkts, err := s.nsp.encode(sio.Ack, id, true, "", args)
	if err != nil {
		return err
	}
	s.client.send(false, pkts)
	return nil
}

// onAck handles an ACK packet answering EmitWithAck, on the read loop, even
// while one of the socket's handlers waits for it.
func (s *Socket) onAck(p *sio.Packet, atts [][]byte) {
	if !p.HasID {
		return
	}
	args, err := sio.DecodeAck(p, atts)
	if err != nil {
		s.client.fail(err)
		return
	}
	s.mu.Lock()
	fn, ok := s.acks[p.ID]
	delete(s.acks, p.ID)
	s.mu.Unlock()
	if ok {
		fn(Args{args})
	}
}

// expectAck registers fn to receive the acknowledgement with id; false if
// the socket is not connected.
func (s *Socket) expectAck(id uint64, fn func(Args)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.connected || s.closing {
		return false
	}
	if s.acks == nil { // made on the first EmitWithAck: most sockets never wait for one
		s.acks = make(map[uint64]func(Args))
	}
	s.acks[id] = fn
	return true
}

func (s *Socket) forgetAck(id uint64) {
	s.mu.Lock()
	delete(s.acks, id)
	s.mu.Unlock()
}

// callEvent runs an event handler; if it panics, the panic is logged and a
// client waiting for an acknowledgement gets {"error":"internal error"}.
func (s *Socket) callEvent(e *Event, fn func(*Event)) {
	if !s.call(e.Name, func() { fn(e) }) && e.hasAck {
		_ = e.Ack(map[string]string{"error": "internal error"})
	}
}

// call runs a user handler, recovering a panic. It reports whether fn
// returned normally.
func (s *Socket) call(what string, fn func()) bool {
	ok := call(s.logger, what, fn)
	if !ok {
		s.panicked(what)
	}
	return ok
}

// panicked tells the observers that a handler of the socket panicked.
func (s *Socket) panicked(what string) {
	for _, o := range s.nsp.srv.cfg.observers {
		o.HandlerPanicked(s, what)
	}
}

// call runs a user handler, logging a panic to the logger log returns. It
// reports whether fn returned normally.
func call(log func() *slog.Logger, what string, fn func()) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			log().Error("handler panicked", "event", what, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			ok = false
		}
	}()
	fn()
	return true
}

func (s *Socket) runMiddleware(mw Middleware) (err error) {
	defer func() {
		if v := recover(); v != nil {
			s.logger().Error("middleware panicked", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			err = &ConnectError{Message: "internal error"}
			s.panicked("middleware")
		}
	}()
	return mw(s)
}

// tokenBucket limits a rate of events: a burst, then rate a second. Its
// rate and burst are the server's, passed to allow; the zero value is a
// full bucket.
type tokenBucket struct {
	tokens float64
	last   mono // of the last allow; 0 before the first
}

// allow takes a token, if there is one, at now. A zero rate allows
// everything.
func (b *tokenBucket) allow(now time.Time, rate float64, burst int) bool {
	if rate == 0 {
		return true
	}
	t := monoOf(now)
	if b.last == 0 {
		b.tokens = float64(burst)
	} else {
		b.tokens = min(float64(burst), b.tokens+time.Duration(t-b.last).Seconds()*rate)
	}
	b.last = t
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// mono is a time on the monotonic clock, in nanoseconds since the package
// was loaded, plus one so that 0 can mean "never": 8 bytes where a
// time.Time takes 24.
type mono int64

// epoch is mono's origin.
var epoch = time.Now()

func monoOf(t time.Time) mono { return mono(t.Sub(epoch)) + 1 }

func monoNow() mono { return monoOf(time.Now()) }
