package realtime

import "sync"

// Conn is the Engine.IO connection that carries a socket and the client's
// other namespaces: the Node.js server's socket.conn.
type Conn struct {
	c *client

	mu        sync.Mutex
	onUpgrade []func(transport string)
}

// Conn returns the Engine.IO connection carrying the socket.
func (s *Socket) Conn() *Conn { return &s.client.engine }

// ID returns the Engine.IO session id, which differs from the socket's id.
func (c *Conn) ID() string { return c.c.conn.ID() }

// Transport returns the name of the transport now carrying the connection:
// "polling" or "websocket".
func (c *Conn) Transport() string { return c.c.conn.Transport() }

// Protocol returns the Engine.IO protocol version the client speaks: 4, or
// 3 for a client of Socket.IO 2 (see [WithAllowEIO3]).
func (c *Conn) Protocol() int { return c.c.conn.Protocol() }

// Close closes the connection without telling its sockets' client to stay
// away: unlike [Socket.Disconnect], no DISCONNECT packet is sent. The
// client sees "transport close" and reconnects, and with [WithRecovery]
// recovers its sockets' ids, rooms and missed packets, as after a network
// failure. The sockets disconnect with reason "forced close". Packets
// already queued are written first.
func (c *Conn) Close() { c.c.conn.Close() }

// OnUpgrade adds a handler called when the connection moves from
// long-polling to WebSocket, with the new transport's name. It runs on the
// transport's goroutine and must not block.
func (c *Conn) OnUpgrade(fn func(transport string)) {
	c.mu.Lock()
	c.onUpgrade = append(c.onUpgrade, fn)
	c.mu.Unlock()
}

// upgraded calls the upgrade handlers.
func (c *Conn) upgraded(transport string) {
	c.mu.Lock()
	fns := c.onUpgrade
	c.mu.Unlock()
	for _, fn := range fns {
		call(c.c.logger, "upgrade", func() { fn(transport) })
	}
}
