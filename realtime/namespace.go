package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vicinity-go/vicinity/internal/id"
	"github.com/vicinity-go/vicinity/internal/sio"
)

// Middleware runs, in the order added, for each socket connecting to a
// namespace, before its connection handlers. A non-nil error refuses the
// connection: the client receives it in connect_error (see [ConnectError]).
// Middleware runs on the socket's own goroutine, before any of its events,
// and may block (to look a token up, say); it delays only that socket.
type Middleware func(s *Socket) error

// Namespace is a communication channel multiplexed over the connection,
// with its own sockets, rooms, middleware and handlers. It is safe for
// concurrent use.
type Namespace struct {
	srv     *Server
	name    string
	adapter Adapter
	match   func(string, json.RawMessage) bool // set on dynamic parents
	parent  *Namespace                         // set on dynamic children
	ackIDs  atomic.Uint64                      // acknowledgement ids, unique in the namespace

	serverOn serverHandlers

	mu         sync.RWMutex
	sockets    map[string]*Socket
	joining    int  // sockets between lookup and registration (dynamic children)
	streams    int  // EventStreams of a dynamic child, which keep it
	dropped    bool // a dynamic child removed once empty
	children   []*Namespace
	middleware []Middleware
	onConn     []func(*Socket)
}

func newNamespace(s *Server, name string, match func(string, json.RawMessage) bool) *Namespace {
	n := &Namespace{srv: s, name: name, match: match, sockets: make(map[string]*Socket)}
	if match == nil {
		n.adapter = s.cfg.adapter(n)
	}
	return n
}

// Name returns the namespace's name, such as "/" or "/chat"; "" for a
// dynamic parent.
func (n *Namespace) Name() string { return n.name }

// Adapter returns the namespace's adapter; nil for a dynamic parent.
func (n *Namespace) Adapter() Adapter { return n.adapter }

// Use adds middleware.
func (n *Namespace) Use(mw Middleware) {
	if mw == nil {
		panic("realtime: Use: nil middleware")
	}
	n.mu.Lock()
	n.middleware = append(n.middleware, mw)
	n.mu.Unlock()
}

// OnConnection adds a handler called for each socket that connects, after
// the middleware accepted it and the client was told.
func (n *Namespace) OnConnection(fn func(*Socket)) {
	if fn == nil {
		panic("realtime: OnConnection: nil handler")
	}
	n.mu.Lock()
	n.onConn = append(n.onConn, fn)
	n.mu.Unlock()
}

// Socket returns the socket of this server with the given id, or nil.
func (n *Namespace) Socket(id string) *Socket { return n.socket(id) }

func (n *Namespace) socket(id string) *Socket {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.sockets[id]
}

// Len returns the number of sockets connected to the namespace on this
// server.
func (n *Namespace) Len() int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return len(n.sockets)
}

// handlers returns the middleware and connection handlers that apply,
// including a dynamic parent's.
func (n *Namespace) handlers() ([]Middleware, []func(*Socket)) {
	var mws []Middleware
	var ons []func(*Socket)
	if n.parent != nil {
		mws, ons = n.parent.handlers()
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	return append(mws, n.middleware...), append(ons, n.onConn...)
}

// targets returns the namespaces a broadcast on n reaches.
func (n *Namespace) targets() []*Namespace {
	if n.match == nil {
		return []*Namespace{n}
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	return slices.Clone(n.children)
}

// add connects socket s, made for n with the CONNECT packet's auth, on its
// inbox. It returns false if n is a dynamic child dropped meanwhile: the
// caller looks the namespace up again.
func (n *Namespace) add(s *Socket) bool {
	c, auth := s.client, s.auth
	n.mu.Lock()
	if n.dropped {
		n.mu.Unlock()
		return false
	}
	n.joining++
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		n.joining--
		n.mu.Unlock()
		n.dropIfEmpty()
	}()

	skipMW := false
	var (
		restored      *Session
		missed        []*Packet // delivered after the CONNECT
		restoredRooms []string
	)
	if n.srv.cfg.recovery > 0 && !c.v3() {
		if sess, lost, ok := n.restore(c, auth); ok {
			restored = &sess
			s.id, s.pid, s.recovered = sess.SID, sess.PID, true
			if len(sess.Data) > 0 {
				s.data = sess.Data
			}
			missed, restoredRooms = lost, sess.Rooms
			skipMW = n.srv.cfg.recoverySkipMW
		} else {
			s.pid = id.New()
		}
	}
	refuse := func(err error) {
		c.joined(n.name)
		if err != nil {
			c.refuseConnect(n.name, err)
		}
		s.end()
		if restored != nil {
			n.persist(*restored) // for a later attempt
		}
	}
	mws, ons := n.handlers()
	if !skipMW {
		for _, mw := range mws {
			if err := s.runMiddleware(mw); err != nil {
				refuse(err)
				return true
			}
		}
	}
	if err := n.srv.admit(s, restored); err != nil {
		refuse(err)
		return true
	}
	if !c.attach(s) {
		n.srv.refused(s)
		refuse(nil)
		return true // the connection closed meanwhile, or the namespace is joined already
	}
	n.mu.Lock()
	n.sockets[s.id] = s
	n.mu.Unlock()
	join := func() {
		n.adapter.AddAll(s.id, append(append([]string{s.id}, restoredRooms...), s.takeEarly()...))
		if n.srv.cfg.observers != nil {
			s.joined(nil)
		}
	}
	if restored == nil {
		join()
	}

	var b []byte // a Socket.IO 2 client expects no payload
	if !c.v3() {
		data := map[string]string{"sid": s.id}
		if s.pid != "" {
			data["pid"] = s.pid
		}
		b, _ = json.Marshal(data)
	}
	c.sendPacket(&sio.Packet{Type: sio.Connect, Namespace: n.name, Data: b})
	for _, p := range missed {
		if frames, err := p.wire(n.srv.cfg.parser); err == nil {
			c.send(false, frames)
		}
	}
	if restored != nil {
		// Into its rooms after what it missed: the adapter first delivers
		// what reached them since RestoreSession, then the live broadcasts.
		join()
	}
	for _, o := range n.srv.cfg.observers {
		o.SocketConnected(s)
	}
	for _, f := range n.srv.feats {
		f.connected(s)
	}
	s.logger().Info("connect", "recovered", s.recovered)
	for _, fn := range ons {
		s.call("connection", func() { fn(s) })
	}
	return true
}

// persist keeps sess for recovery; a store that fails is logged, and the
// client starts afresh when it comes back.
func (n *Namespace) persist(sess Session) {
	ctx, cancel := adapterContext()
	defer cancel()
	if err := n.adapter.PersistSession(ctx, sess); err != nil {
		n.srv.cfg.logger.Warn("recovery session not kept", "nsp", n.name, "sid", sess.SID, "err", err)
	}
}

// isDropped reports whether n, a dynamic child, was dropped.
func (n *Namespace) isDropped() bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.dropped
}

// dropIfEmpty removes a dynamic child namespace that has no socket, none
// joining and no EventStream, so that clients cannot make the server keep
// namespaces forever.
func (n *Namespace) dropIfEmpty() {
	if n.parent == nil {
		return
	}
	srv := n.srv
	srv.mu.Lock()
	n.mu.Lock()
	empty := len(n.sockets) == 0 && n.joining == 0 && n.streams == 0 && !n.dropped
	if empty {
		n.dropped = true
		if srv.nsps[n.name] == n {
			delete(srv.nsps, n.name)
		}
	}
	n.mu.Unlock()
	srv.mu.Unlock()
	if !empty {
		return
	}
	p := n.parent
	p.mu.Lock()
	p.children = slices.DeleteFunc(p.children, func(x *Namespace) bool { return x == n })
	p.mu.Unlock()
	ctx, cancel := adapterContext()
	_ = n.adapter.Close(ctx)
	cancel()
	for _, f := range srv.feats {
		f.dropped(n)
	}
	for _, o := range srv.cfg.observers {
		o.NamespaceDropped(n)
	}
}

// restore looks up the recovery session the auth payload names. A session
// whose missed packets would fill more than half of the client's send queue
// is not restored: the client starts afresh rather than being disconnected
// as slow.
func (n *Namespace) restore(c *client, auth json.RawMessage) (Session, []*Packet, bool) {
	var a struct {
		PID    string `json:"pid"`
		Offset string `json:"offset"`
	}
	if len(auth) == 0 || json.Unmarshal(auth, &a) != nil || a.PID == "" {
		return Session{}, nil, false
	}
	ctx, cancel := adapterContext()
	sess, missed, err := n.adapter.RestoreSession(ctx, a.PID, a.Offset)
	cancel()
	if err != nil {
		if !errors.Is(err, ErrNoSession) {
			c.logger().Warn("recovery session not restored: the client starts afresh", "nsp", n.name, "err", err)
		}
		return Session{}, nil, false
	}
	if n.socket(sess.SID) != nil {
		n.persist(sess)
		return Session{}, nil, false // that socket is still connected
	}
	frames, bytes := 1, 0
	for _, p := range missed {
		fs, _ := p.wire(n.srv.cfg.parser)
		frames += len(fs)
		for _, f := range fs {
			bytes += len(f.Data) + 1
		}
	}
	if maxFrames, maxBytes := c.conn.Server().QueueLimits(); frames > maxFrames/2 || bytes > maxBytes/2 {
		n.srv.cfg.logger.Info("too much to replay, recovery refused", "nsp", n.name, "packets", len(missed))
		return Session{}, nil, false
	}
	return sess, missed, true
}

func (n *Namespace) remove(s *Socket) {
	n.mu.Lock()
	if n.sockets[s.id] == s {
		delete(n.sockets, s.id)
	}
	n.mu.Unlock()
}

// nextAckID returns a fresh acknowledgement id. Ids are unique in the
// namespace, so that one encoded packet can ask many sockets for an
// acknowledgement.
func (n *Namespace) nextAckID() uint64 { return n.ackIDs.Add(1) - 1 }

// RecoveryWindow returns how long a disconnected socket's session is kept
// for connection-state recovery ([WithRecovery]); 0 when recovery is off.
func (n *Namespace) RecoveryWindow() time.Duration { return n.srv.cfg.recovery }

// NextAckID returns a fresh acknowledgement id of the namespace, for a
// cluster adapter delivering another server's broadcast that asks for
// acknowledgements (see [Adapter.BroadcastWithAck]).
func (n *Namespace) NextAckID() uint64 { return n.nextAckID() }

func (n *Namespace) op() BroadcastOperator { return BroadcastOperator{nsp: n} }

// Emit broadcasts an event to every socket of the namespace.
func (n *Namespace) Emit(event string, args ...any) error { return n.op().Emit(event, args...) }

// EmitWithAck broadcasts an event to every socket of the namespace and
// waits for their acknowledgements; see [BroadcastOperator.EmitWithAck].
func (n *Namespace) EmitWithAck(ctx context.Context, event string, args ...any) ([]Args, error) {
	return n.op().EmitWithAck(ctx, event, args...)
}

// To selects the sockets in any of rooms, for a broadcast or a server-side
// operation.
func (n *Namespace) To(rooms ...string) BroadcastOperator { return n.op().To(rooms...) }

// In is [Namespace.To].
func (n *Namespace) In(rooms ...string) BroadcastOperator { return n.op().To(rooms...) }

// Except excludes the sockets in any of rooms.
func (n *Namespace) Except(rooms ...string) BroadcastOperator { return n.op().Except(rooms...) }

// Volatile marks the broadcast volatile: a client whose queue is full
// misses it instead of being disconnected.
func (n *Namespace) Volatile() BroadcastOperator { return n.op().Volatile() }

// Local keeps the broadcast or operation to this server's sockets.
func (n *Namespace) Local() BroadcastOperator { return n.op().Local() }

// FetchSockets returns the namespace's sockets (on every server, with a
// cluster adapter).
func (n *Namespace) FetchSockets(ctx context.Context) ([]*RemoteSocket, error) {
	return n.op().FetchSockets(ctx)
}

// SocketsJoin makes every socket of the namespace join rooms.
func (n *Namespace) SocketsJoin(ctx context.Context, rooms ...string) error {
	return n.op().SocketsJoin(ctx, rooms...)
}

// SocketsLeave makes every socket of the namespace leave rooms.
func (n *Namespace) SocketsLeave(ctx context.Context, rooms ...string) error {
	return n.op().SocketsLeave(ctx, rooms...)
}

// DisconnectSockets disconnects every socket of the namespace, and closes
// their connections if close is set.
func (n *Namespace) DisconnectSockets(ctx context.Context, close bool) error {
	return n.op().DisconnectSockets(ctx, close)
}
