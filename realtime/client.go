package realtime

import (
	"log/slog"
	"sync"
	"time"

	"github.com/vicinity-go/vicinity/internal/sio"
	"github.com/vicinity-go/vicinity/transport"
)

// client is one Engine.IO connection and the sockets multiplexed on it, one
// per namespace. It is the connection's transport.Receiver.
type client struct {
	srv      *Server
	conn     *transport.Conn
	log      *slog.Logger
	hs       Handshake   // what every socket's handshake shares
	engine   Conn        // what Socket.Conn returns
	reasm    decoder     // used on the read goroutine only
	timer    *time.Timer // closes a connection that joins no namespace, or has none left
	connects tokenBucket // limits CONNECT packets; read goroutine only
	// attTimer closes a connection whose binary packet's attachments are
	// late; attArmed: it runs. Read goroutine only (and OnClose, which
	// never runs concurrently with it).
	attTimer *time.Timer
	attArmed bool

	mu      sync.Mutex
	closed  bool
	sockets map[string]*Socket // by namespace name
	joining map[string]bool    // namespaces whose CONNECT is being handled
}

// open is the transport.Handler: it wraps each new Engine.IO connection.
func (s *Server) open(conn *transport.Conn) transport.Receiver {
	c := &client{
		srv:     s,
		conn:    conn,
		log:     s.cfg.logger.With("sid", conn.ID()),
		hs:      newHandshake(conn.Request()),
		reasm:   s.cfg.parser.newDecoder(sio.Limits{MaxAttachments: s.cfg.maxAttachments, MaxPacketBytes: s.maxPacketBytes()}),
		sockets: make(map[string]*Socket),
	}
	c.engine.c = c
	c.connects = newTokenBucket(s.cfg.eventRate, s.cfg.eventBurst)
	c.timer = time.AfterFunc(s.cfg.connectTimeout, func() {
		c.mu.Lock()
		idle := len(c.sockets) == 0
		c.mu.Unlock()
		if idle {
			c.log.Info("no namespace joined in time, or none left, closing")
			conn.Close()
		}
	})
	for _, o := range s.cfg.observers {
		o.ConnOpened(&c.engine)
	}
	if c.v3() {
		c.connect("/", nil) // a Socket.IO 2 client joins "/" without asking
	}
	return c
}

// OnMessage implements transport.Receiver.
func (c *client) OnMessage(data []byte, binary bool) {
	p, atts, done, err := c.reasm.Add(data, binary)
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
	s := c.sockets[p.Namespace]
	c.mu.Unlock()
	if s == nil {
		c.log.Debug("packet for a namespace not joined, ignored", "nsp", p.Namespace)
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
	c.timer.Stop()
	c.awaitAttachments(false)
	c.mu.Lock()
	c.closed = true
	socks := make([]*Socket, 0, len(c.sockets))
	for _, s := range c.sockets {
		socks = append(socks, s)
	}
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
				c.log.Warn("binary packet incomplete in time, closing", "timeout", c.srv.cfg.attachTimeout)
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
	c.log.Warn("malformed packet, closing", "err", err)
	c.conn.CloseWithReason(transport.ReasonParseError, false)
}

// connect handles a CONNECT to namespace name. The middleware, the
// connection handlers and the acceptance run on the new socket's inbox,
// off the read loop, so that middleware may take its time.
func (c *client) connect(name string, auth []byte) {
	c.mu.Lock()
	joined := c.sockets[name] != nil || c.joining[name]
	full := len(c.sockets)+len(c.joining) >= c.srv.cfg.maxNamespaces
	c.mu.Unlock()
	switch {
	case joined:
		c.log.Warn("namespace joined twice, ignored", "nsp", name)
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
	case !c.connects.allow(time.Now()):
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
	if c.closed || c.sockets[s.nsp.name] != nil {
		return false
	}
	c.sockets[s.nsp.name] = s
	c.forgetJoining(s.nsp.name)
	s.mu.Lock()
	s.connected = true
	s.mu.Unlock()
	c.timer.Stop()
	return true
}

func (c *client) detach(s *Socket) {
	c.mu.Lock()
	if c.sockets[s.nsp.name] == s {
		delete(c.sockets, s.nsp.name)
	}
	if len(c.sockets) == 0 && len(c.joining) == 0 && !c.closed {
		c.timer.Reset(c.srv.cfg.connectTimeout) // its last namespace left: closed as one that never joined
	}
	c.mu.Unlock()
}

// disconnectAll disconnects every socket of the connection with a
// disconnect packet each, then closes the connection after writing them.
func (c *client) disconnectAll() {
	c.mu.Lock()
	socks := make([]*Socket, 0, len(c.sockets))
	for _, s := range c.sockets {
		socks = append(socks, s)
	}
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
