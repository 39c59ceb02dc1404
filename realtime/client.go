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
	created  time.Time
	reasm    *sio.Reassembler // used on the read goroutine only
	timer    *time.Timer      // closes a connection that joins no namespace
	connects tokenBucket      // limits CONNECT packets; read goroutine only

	mu      sync.Mutex
	closed  bool
	sockets map[string]*Socket // by namespace name
}

// open is the transport.Handler: it wraps each new Engine.IO connection.
func (s *Server) open(conn *transport.Conn) transport.Receiver {
	c := &client{
		srv:     s,
		conn:    conn,
		log:     s.cfg.logger.With("sid", conn.ID()),
		created: time.Now(),
		reasm:   sio.NewReassembler(sio.Limits{MaxAttachments: s.cfg.maxAttachments}),
		sockets: make(map[string]*Socket),
	}
	c.connects = newTokenBucket(s.cfg.eventRate, s.cfg.eventBurst)
	c.timer = time.AfterFunc(s.cfg.connectTimeout, func() {
		c.mu.Lock()
		idle := len(c.sockets) == 0
		c.mu.Unlock()
		if idle {
			c.log.Info("no namespace joined in time, closing")
			conn.Close()
		}
	})
	return c
}

// OnMessage implements transport.Receiver.
func (c *client) OnMessage(data []byte, binary bool) {
	p, atts, done, err := c.reasm.Add(data, binary)
	if err != nil {
		c.fail(err)
		return
	}
	if !done {
		return
	}
	switch p.Type {
	case sio.Connect:
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

// OnClose implements transport.Receiver.
func (c *client) OnClose(reason string) {
	c.timer.Stop()
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
}

// fail closes the connection after a malformed packet.
func (c *client) fail(err error) {
	c.log.Warn("malformed packet, closing", "err", err)
	c.conn.CloseWithReason(transport.ReasonParseError, false)
}

func (c *client) connect(name string, auth []byte) {
	n := c.srv.lookup(name, auth)
	if n == nil {
		c.refuse(name, errInvalidNamespace)
		return
	}
	c.mu.Lock()
	_, joined := c.sockets[name]
	full := len(c.sockets) >= maxNamespaces
	c.mu.Unlock()
	switch {
	case joined:
		c.log.Warn("namespace joined twice, ignored", "nsp", name)
		return
	case full:
		c.refuse(name, &ConnectError{Message: "Too many namespaces"})
		return
	case !c.connects.allow(time.Now()):
		c.refuse(name, &ConnectError{Message: "Too many connection attempts"})
		return
	}
	for range 3 { // a dynamic namespace dropped between lookup and add is looked up again
		if n.add(c, auth) {
			return
		}
		if n = c.srv.lookup(name, auth); n == nil {
			break
		}
	}
	c.refuse(name, errInvalidNamespace)
}

// errInvalidNamespace answers a CONNECT to a namespace that does not exist.
var errInvalidNamespace = &ConnectError{Message: "Invalid namespace"}

// maxNamespaces bounds the namespaces one connection may join.
const maxNamespaces = 64

// refuse answers a CONNECT to name with connect_error: err's text, and its
// data for a *ConnectError.
func (c *client) refuse(name string, err error) {
	c.sendPacket(&sio.Packet{Type: sio.ConnectError, Namespace: name, Data: connectErrorPayload(err)})
}

// attach registers a socket that passed the middleware; false if the
// connection closed or the namespace got joined meanwhile.
func (c *client) attach(s *Socket) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.sockets[s.nsp.name] != nil {
		return false
	}
	c.sockets[s.nsp.name] = s
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
	c.conn.Send(volatile, frames...)
}

func (c *client) sendPacket(p *sio.Packet) {
	c.conn.Send(false, transport.Message(p.Append(nil), false))
}
