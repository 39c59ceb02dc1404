package realtime

import (
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vicinity-go/vicinity/internal/sio"
	"github.com/vicinity-go/vicinity/transport"
)

// client is one Engine.IO connection and the sockets multiplexed on it, one
// per namespace. It is the connection's transport.Receiver.
//
// An idle connection keeps little: its handshake, logger, binary packet
// reassembler and connect timer are made when first needed, and dropped (the
// timer) once a namespace is joined.
type client struct {
	srv    *Server
	conn   *transport.Conn
	engine Conn // what Socket.Conn returns
	// hs is the part of the handshake every socket shares, made from the
	// transport's request on the first Socket.Handshake.
	hs atomic.Pointer[Handshake]
	// reasm reassembles the JSON parser's binary packets; nil until the
	// first one. Read goroutine only.
	reasm    *sio.Reassembler
	connects tokenBucket // limits CONNECT packets; read goroutine only
	// attTimer closes a connection whose binary packet's attachments are
	// late; attArmed: it runs. Read goroutine only (and OnClose, which
	// never runs concurrently with it).
	attTimer *time.Timer
	attArmed bool

	closed bool // under mu
	mu     sync.Mutex
	// timer closes a connection that joins no namespace in time, or has
	// none left; nil while it has one.
	timer   *time.Timer
	sockets []*Socket       // one per namespace joined
	joining map[string]bool // namespaces whose CONNECT is being handled
}

// open is the transport.Handler: it wraps each new Engine.IO connection.
func (s *Server) open(conn *transport.Conn) transport.Receiver {
	c := &client{srv: s, conn: conn}
	c.engine.c = c
	c.mu.Lock()
	c.idle()
	c.mu.Unlock()
	for _, o := range s.cfg.observers {
		o.ConnOpened(&c.engine)
	}
	if c.v3() {
		c.connect("/", nil) // a Socket.IO 2 client joins "/" without asking
	}
	return c
}

// idle starts the timer that closes the connection unless it joins a
// namespace within the connect timeout. c.mu is held.
func (c *client) idle() {
	if c.timer != nil || c.closed {
		return
	}
	c.timer = time.AfterFunc(c.srv.cfg.connectTimeout, func() {
		c.mu.Lock()
		idle := len(c.sockets) == 0
		c.mu.Unlock()
		if idle {
			c.logger().Info("no namespace joined in time, or none left, closing")
			c.conn.Close()
		}
	})
}

// busy stops the timer of idle: the connection has a namespace. c.mu is
// held.
func (c *client) busy() {
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
}

// logger returns the connection's logger. It is made on each use: a
// connection logs rarely, and keeps none.
func (c *client) logger() *slog.Logger { return c.srv.cfg.logger.With("sid", c.conn.ID()) }

// handshake returns the part of a handshake the connection's sockets share,
// made on first use.
func (c *client) handshake() *Handshake {
	if h := c.hs.Load(); h != nil {
		return h
	}
	h := newHandshake(c.conn.Request())
	if c.hs.CompareAndSwap(nil, h) {
		return h
	}
	return c.hs.Load()
}

// socket returns the connection's socket of namespace name, or nil. c.mu is
// held.
func (c *client) socket(name string) *Socket {
	for _, s := range c.sockets {
		if s.nsp.name == name {
			return s
		}
	}
	return nil
}

// decode turns a message into a packet, as a sio.Reassembler does (see
// [Parser]). The JSON parser's reassembler is made for the first binary
// packet.
func (c *client) decode(data []byte, binary bool) (p sio.Packet, atts [][]byte, done bool, err error) {
	lim := sio.Limits{MaxAttachments: c.srv.cfg.maxAttachments, MaxPacketBytes: c.srv.maxPacketBytes()}
	if c.srv.cfg.parser == MsgpackParser {
		return msgpackDecoder{lim}.Add(data, binary)
	}
	if c.reasm == nil {
		if !binary {
			if p, err = sio.Decode(data, lim); err != nil {
				return sio.Packet{}, nil, false, err
			}
			if p.Attachments == 0 {
				return p, nil, true, nil
			}
		}
		c.reasm = sio.NewReassembler(lim)
	}
	return c.reasm.Add(data, binary)
}

// OnMessage implements transport.Receiver.
func (c *client) OnMessage(data []byte, binary bool) {
	p, atts, done, err := c.decode(data, binary)
	c.awaitAttachments(err == nil && !done)
	if err != nil {
		c.fail(err)
		return
	}
	if !done {
		return
	}
	for _, o := range c.srv.cfg.observers {
		o.PacketIn(PacketType(p.Type))
	}
	switch p.Type {
	case sio.Connect:
		if c.v3() {
			c.connect(v3Namespace(p.Namespace))
			return
		}
		c.connect(p.Namespace, p.Data)
		return
	case sio.ConnectError:
		c.fail(sio.ErrInvalidPacket) // a server-to-client packet
		return
	}
	c.mu.Lock()
	s := c.socket(p.Namespace)
	c.mu.Unlock()
	if s == nil {
		c.logger().Debug("packet for a namespace not joined, ignored", "nsp", p.Namespace)
		return
	}
	switch p.Type {
	case sio.Disconnect:
		s.onclose(ReasonClientNamespaceDisconnect)
	case sio.Event, sio.BinaryEvent:
		s.onEvent(&p, atts)
	case sio.Ack, sio.BinaryAck:
		s.onAck(&p, atts)
	}
}

// OnUpgrade implements transport.UpgradeReceiver.
func (c *client) OnUpgrade(transport string) {
	for _, o := range c.srv.cfg.observers {
		o.ConnUpgraded(&c.engine, transport)
	}
	c.engine.upgraded(transport)
}

// OnClose implements transport.Receiver.
func (c *client) OnClose(reason string) {
	c.awaitAttachments(false)
	c.mu.Lock()
	c.closed = true
	c.busy()
	socks := slices.Clone(c.sockets)
	c.mu.Unlock()
	for _, s := range socks {
		s.onclose(reason)
	}
	for _, o := range c.srv.cfg.observers {
		o.ConnClosed(&c.engine, reason)
	}
}

// awaitAttachments arms the timer of [WithAttachmentTimeout] while a binary
// packet waits for attachments (waiting), and stops it otherwise. On the
// read goroutine.
func (c *client) awaitAttachments(waiting bool) {
	switch {
	case waiting && !c.attArmed:
		c.attArmed = true
		if c.attTimer == nil {
			c.attTimer = time.AfterFunc(c.srv.cfg.attachTimeout, func() {
				c.logger().Warn("binary packet incomplete in time, closing", "timeout", c.srv.cfg.attachTimeout)
				c.conn.CloseWithReason(transport.ReasonParseError, false)
			})
		} else {
			c.attTimer.Reset(c.srv.cfg.attachTimeout)
		}
	case !waiting && c.attArmed:
		c.attArmed = false
		c.attTimer.Stop()
	}
}

// maxPacketBytes is the bound of [WithMaxAttachmentBytes].
func (s *Server) maxPacketBytes() int {
	if n := s.cfg.maxPacketBytes; n > 0 {
		return n
	}
	return s.eng.MaxPayload()
}

// fail closes the connection after a malformed packet.
func (c *client) fail(err error) {
	c.logger().Warn("malformed packet, closing", "err", err)
	c.conn.CloseWithReason(transport.ReasonParseError, false)
}

// connect handles a CONNECT to namespace name. The middleware, the
// connection handlers and the acceptance run on the new socket's inbox,
// off the read loop, so that middleware may take its time.
func (c *client) connect(name string, auth []byte) {
	c.mu.Lock()
	joined := c.socket(name) != nil || c.joining[name]
	full := len(c.sockets)+len(c.joining) >= c.srv.cfg.maxNamespaces
	c.mu.Unlock()
	switch {
	case joined:
		c.logger().Warn("namespace joined twice, ignored", "nsp", name)
		return
	case full:
		c.refuse(name, &ConnectError{Message: "Too many namespaces"})
		return
	case len(name) > c.srv.cfg.maxNameLen && c.srv.defined(name) == nil:
		c.refuse(name, errInvalidNamespace)
		return
	case len(auth) > c.srv.cfg.maxAuthBytes:
		c.refuse(name, &ConnectError{Message: "Auth payload too large"})
		return
	case !c.connects.allow(time.Now(), c.srv.cfg.eventRate, c.srv.cfg.eventBurst):
		c.refuse(name, &ConnectError{Message: "Too many connection attempts"})
		return
	}
	n := c.srv.lookup(name, auth) // a dynamic child created here is dropped if it stays empty
	if n == nil {
		c.refuse(name, errInvalidNamespace)
		return
	}
	c.mu.Lock()
	if c.joining == nil {
		c.joining = make(map[string]bool)
	}
	c.joining[name] = true
	c.mu.Unlock()
	c.join(n, name, auth, 3)
}

// join adds a socket for the CONNECT to n on the socket's inbox; a dynamic
// namespace dropped between lookup and add is looked up again, up to tries
// times.
func (c *client) join(n *Namespace, name string, auth []byte, tries int) {
	s := newSocket(n, c, auth)
	s.inbox.enqueue(func() {
		if n.add(s) {
			return
		}
		if n = c.srv.lookup(name, auth); n != nil && tries > 1 {
			c.join(n, name, auth, tries-1)
			return
		}
		c.joined(name)
		c.refuse(name, errInvalidNamespace)
	})
}

// joined ends the handling of a CONNECT to name that did not attach a
// socket.
func (c *client) joined(name string) {
	c.mu.Lock()
	c.forgetJoining(name)
	c.mu.Unlock()
}

// forgetJoining ends name's CONNECT in joining, and drops the map once it
// is empty: an idle connection keeps none. c.mu is held.
func (c *client) forgetJoining(name string) {
	delete(c.joining, name)
	if len(c.joining) == 0 {
		c.joining = nil
	}
}

// errInvalidNamespace answers a CONNECT to a namespace that does not exist.
var errInvalidNamespace = &ConnectError{Message: "Invalid namespace"}

// refuse answers a CONNECT to name with connect_error: err's text, and its
// data for a *ConnectError.
func (c *client) refuse(name string, err error) {
	c.refused(name, err)
	c.sendPacket(&sio.Packet{Type: sio.ConnectError, Namespace: name, Data: connectErrorPayload(err)})
}

// refuseConnect answers a CONNECT that the namespace's middleware refused:
// as refuse does, but for a Socket.IO 2 client, which gets the error's data
// or message alone, as from the Node.js server.
func (c *client) refuseConnect(name string, err error) {
	if !c.v3() {
		c.refuse(name, err)
		return
	}
	c.refused(name, err)
	c.sendPacket(&sio.Packet{Type: sio.ConnectError, Namespace: name, Data: v3ErrorPayload(err)})
}

// refused tells the observers about a refused CONNECT.
func (c *client) refused(name string, err error) {
	for _, o := range c.srv.cfg.observers {
		o.ConnectRefused(&c.engine, name, err)
	}
}

// v3 reports whether the client speaks Engine.IO v3, and so Socket.IO
// protocol v4 (socket.io-client 2.x).
func (c *client) v3() bool { return c.conn.Protocol() == 3 }

// attach registers a socket that passed the middleware; false if the
// connection closed or the namespace got joined meanwhile.
func (c *client) attach(s *Socket) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.socket(s.nsp.name) != nil {
		return false
	}
	c.sockets = append(c.sockets, s)
	c.forgetJoining(s.nsp.name)
	s.mu.Lock()
	s.connected = true
	s.mu.Unlock()
	c.busy()
	return true
}

func (c *client) detach(s *Socket) {
	c.mu.Lock()
	if i := slices.Index(c.sockets, s); i >= 0 {
		c.sockets = slices.Delete(c.sockets, i, i+1)
		if len(c.sockets) == 0 {
			c.sockets = nil
		}
	}
	if len(c.sockets) == 0 && len(c.joining) == 0 {
		c.idle() // its last namespace left: closed as one that never joined
	}
	c.mu.Unlock()
}

// disconnectAll disconnects every socket of the connection with a
// disconnect packet each, then closes the connection after writing them.
func (c *client) disconnectAll() {
	c.mu.Lock()
	socks := slices.Clone(c.sockets)
	c.mu.Unlock()
	for _, s := range socks {
		s.Disconnect(false)
	}
	c.conn.Close()
}

func (c *client) send(volatile bool, frames []transport.Packet) {
	if c.conn.Send(volatile, frames...) && c.srv.cfg.observers != nil {
		c.srv.cfg.observers.out(c.srv.cfg.parser, frames)
	}
}

// sendLatest queues the packet of frame under key (see
// transport.Conn.SendLatest).
func (c *client) sendLatest(key string, frame transport.Packet) {
	if c.conn.SendLatest(key, frame) && c.srv.cfg.observers != nil {
		c.srv.cfg.observers.out(c.srv.cfg.parser, []transport.Packet{frame})
	}
}

// sendPacket sends a packet the server made (CONNECT, CONNECT_ERROR,
// DISCONNECT), which every parser can write.
func (c *client) sendPacket(p *sio.Packet) {
	if frames, err := c.srv.cfg.parser.frames(p.Append(nil), nil); err == nil {
		c.send(false, frames)
	}
}
