package transport

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vicinity-go/vicinity/internal/eio"
)

// Reasons a [Conn] closes, as passed to [Receiver.OnClose]. The first five
// are the names the Socket.IO reference server uses.
const (
	ReasonTransportClose = "transport close"      // the client closed the connection
	ReasonTransportError = "transport error"      // the connection failed or misbehaved
	ReasonPingTimeout    = "ping timeout"         // no pong within the ping timeout
	ReasonParseError     = "parse error"          // the client sent an undecodable packet
	ReasonForcedClose    = "forced close"         // the server called Close
	ReasonServerShutdown = "server shutting down" // Server.Shutdown or Server.Close
	ReasonSlowClient     = "slow client"          // the send queue overflowed
)

// ErrClosed is returned by [Conn.Next] once the connection is closed and its
// final packets have been handed out.
var ErrClosed = errors.New("transport: connection closed")

// Packet is an Engine.IO packet.
type Packet = eio.Packet

// Message returns a message packet carrying data, which the caller must not
// modify afterwards: it may be shared by many connections' queues.
func Message(data []byte, binary bool) Packet {
	return Packet{Type: eio.Message, Data: data, Binary: binary}
}

// Receiver consumes what a [Conn] reads. OnMessage calls are made one at a
// time, in order, on the goroutine of the request or connection that read
// the message. OnClose is called exactly once, on a goroutine of the
// transport's, never on the stack of the caller that closed the connection
// (a [Conn.Send] whose packets overflowed the queue, [Conn.Close], a timer,
// [Server.Shutdown]), so it may take locks that caller holds. It is never
// called concurrently with OnMessage: it waits for an OnMessage call in
// progress (one that closed the connection, say) to return, and no OnMessage
// call follows it. If the connection closes while the [Handler] runs,
// OnClose is called once the Handler has returned.
type Receiver interface {
	OnMessage(data []byte, binary bool)
	OnClose(reason string)
}

// UpgradeReceiver is implemented by a [Receiver] that wants to know when its
// connection moves to another transport, as with Node's
// socket.conn.on("upgrade"). OnUpgrade is called at most once per
// connection, when the upgrade has completed (the client's upgrade packet
// has arrived and [Conn.Transport] reports the new transport), with the new
// transport's name ("websocket"). It is called on the new transport's
// goroutine, never concurrently with OnMessage, and never after OnClose; a
// connection closed during the upgrade gets no OnUpgrade. It should return
// quickly: the new transport reads nothing until it has.
type UpgradeReceiver interface {
	Receiver
	OnUpgrade(transport string)
}

// Conn is one Engine.IO session: a client identified by its sid, reached
// over one transport at a time. Its send queue is bounded and [Conn.Send]
// never blocks. It is safe for concurrent use.
//
// Besides Send and Close, the exported methods are for [Transport]
// implementations.
type Conn struct {
	srv      *Server
	id       string
	req      *http.Request
	protocol int  // Engine.IO protocol revision: 3 or 4
	base64   bool // the client asked for binary data as base64 (b64=1)

	wake chan struct{} // capacity 1: a pending wake-up for the writer
	// waker, if set, is called where wake is signalled and when the
	// connection closes: a transport whose writer runs only while there is
	// something to write starts it from there (see SetWaker).
	waker atomic.Pointer[func()]
	// done is closed when the connection closes: it is ctx.Done(). The
	// connection's lifetime is a context so that a transport can end a
	// request with context.AfterFunc, without a goroutine waiting.
	done   <-chan struct{}
	ctx    context.Context
	cancel context.CancelFunc

	// recvMu serializes deliveries to recv. Lock order: recvMu, then mu.
	recvMu sync.Mutex

	mu         sync.Mutex
	recv       Receiver // nil until the Handler returns; set under recvMu and mu
	transport  Transport
	upgrading  bool
	closed     bool
	overflowed atomic.Bool // a send overflowed the queue: closing as a slow client, nothing is sent or delivered
	graceful   bool        // closed with the queue left to be written
	reason     string
	queue      packetQueue
	bytes      int
	latest     map[string]int // SendLatest's key → its packet's index in queue
	polling    [2]bool        // a GET, a POST in flight
	abort      func()         // closes the active transport's network connection
	// The heartbeat: one timer, due at beatAt, for the next ping (protocol
	// 4, !awaiting), or closing the session if the pong (4, awaiting) or
	// the client's next ping (3) is late.
	beat     *time.Timer
	beatAt   time.Time
	awaiting bool
}

func newConn(srv *Server, t Transport, r *http.Request, sid string) *Conn {
	req := r.Clone(context.Background())
	req.Body = http.NoBody
	c := &Conn{
		srv:       srv,
		id:        sid,
		req:       req,
		protocol:  protocolOf(r.URL.Query()),
		base64:    r.URL.Query().Get("b64") != "",
		transport: t,
		wake:      make(chan struct{}, 1),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.done = c.ctx.Done()
	return c
}

// ID returns the session id (sid) the client was given in the handshake.
func (c *Conn) ID() string { return c.id }

// Protocol returns the Engine.IO protocol revision the client speaks: 4, or
// 3 for a client admitted by [WithAllowEIO3].
func (c *Conn) Protocol() int { return c.protocol }

// Base64 reports whether the client asked in its handshake, with the b64
// query parameter, for binary data as base64 text: a v3 client without
// XHR2 or binary WebSocket frames. Transports of protocol 3 honour it.
func (c *Conn) Base64() bool { return c.base64 }

// Request returns the handshake request: its headers, URL query and remote
// address. Its body is empty; it must not be modified.
func (c *Conn) Request() *http.Request { return c.req }

// Transport returns the name of the transport currently carrying the
// connection ("polling" or "websocket").
func (c *Conn) Transport() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.transport.Name()
}

// Done returns a channel closed when the connection closes.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Context returns a context cancelled when the connection closes, for
// transports: context.AfterFunc(c.Context(), …) ends a request when its
// session closes, without a goroutine waiting meanwhile.
func (c *Conn) Context() context.Context { return c.ctx }

// Reason returns why the connection closed, or "" while it is open.
func (c *Conn) Reason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

// Send queues pkts to be written together, in order, without blocking. The
// packets' data must not be modified afterwards; it may be shared with other
// connections. Send reports whether the packets were queued: false when the
// connection is closed or the queue is full. A full queue drops a volatile
// send; any other send then closes the connection with [ReasonSlowClient]
// (the Receiver's OnClose runs later, on another goroutine). An empty queue
// takes any batch, whatever its size: the limits bound the backlog.
func (c *Conn) Send(volatile bool, pkts ...Packet) bool {
	n := 0
	for _, p := range pkts {
		n += eio.PayloadLen(p)
	}
	c.mu.Lock()
	if c.closed || c.overflowed.Load() {
		c.mu.Unlock()
		return false
	}
	if !c.fits(len(pkts), n) {
		name := c.transport.Name()
		if !volatile {
			c.overflowed.Store(true)
		}
		c.mu.Unlock()
		if !volatile {
			// The close is the slow connection's cost, not the sender's
			// (a broadcast reaching a thousand of them): it runs on a
			// goroutine of its own, and no send is queued meanwhile.
			go c.closeSlow()
		} else if obs := c.srv.cfg.observers; obs != nil {
			for _, o := range obs {
				o.Dropped(c, name, len(pkts), packetBytes(pkts))
			}
		}
		return false
	}
	for _, p := range pkts {
		c.queue.push(p)
	}
	c.bytes += n
	c.mu.Unlock()
	c.notify()
	return true
}

// slowCloses lets one slow-client close run at a time in the process.
var slowCloses = make(chan struct{}, 1)

// closeSlow closes the connection whose queue a send overflowed. Clients
// that stop reading together overflow together (a thousand of them in one
// broadcast): their closes (the network connection, the session's
// removal, the OnClose that follows) run one at a time, each letting other
// goroutines run before the next, instead of a thousand at once ahead of
// every reading client's writer.
func (c *Conn) closeSlow() {
	slowCloses <- struct{}{}
	c.srv.cfg.logger.Debug("closing a slow client", "sid", c.id)
	c.srv.slowLog.log(c.srv.cfg.logger, "slow clients closed: a send queue full, or its writer stuck", "sid", c.id)
	c.close(ReasonSlowClient, false)
	runtime.Gosched()
	<-slowCloses
}

// fits reports whether frames packets of n bytes fit behind what is
// queued; anything fits in an empty queue, nothing behind a stalled one
// (see WithStallTimeout). c.mu is held.
func (c *Conn) fits(frames, n int) bool {
	q, cfg := c.queue.len(), &c.srv.cfg
	if cfg.stallTimeout > 0 && c.queue.stalled(cfg.stallTimeout) {
		return false
	}
	return q == 0 || q+frames <= cfg.queueFrames && c.bytes+n <= cfg.queueBytes
}

func (c *Conn) notify() {
	select {
	case c.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
	if w := c.waker.Load(); w != nil {
		(*w)()
	}
}

// SetWaker makes fn the connection's wake-up, for a transport whose writer
// runs only while there is something to write: fn is called, without c's
// locks held, whenever [Conn.Take] may have something new to return
// (packets were queued, the connection is upgrading or moving to another
// transport) and when the connection closes. fn must not block; it starts
// the writer if none runs. SetWaker(nil) removes it.
func (c *Conn) SetWaker(fn func()) {
	if fn == nil {
		c.waker.Store(nil)
		return
	}
	c.waker.Store(&fn)
}

// SendLatest queues p under key, replacing the packet queued under the
// same key if the writer has not taken it yet: for state of which only the
// newest matters, such as a member's position, a slow client gets the
// latest value instead of a backlog. Like a volatile [Conn.Send], it never
// closes the connection: a full queue drops p (false). p's data must not be
// modified afterwards.
func (c *Conn) SendLatest(key string, p Packet) bool {
	n := eio.PayloadLen(p)
	c.mu.Lock()
	if c.closed || c.overflowed.Load() {
		c.mu.Unlock()
		return false
	}
	if i, ok := c.latest[key]; ok {
		q := c.queue.at(i)
		c.bytes += n - eio.PayloadLen(*q)
		*q = p
		c.mu.Unlock()
		return true
	}
	if !c.fits(1, n) {
		name := c.transport.Name()
		c.mu.Unlock()
		for _, o := range c.srv.cfg.observers {
			o.Dropped(c, name, 1, packetBytes([]Packet{p}))
		}
		return false
	}
	if c.latest == nil {
		c.latest = make(map[string]int)
	}
	c.latest[key] = c.queue.len()
	c.queue.push(p)
	c.bytes += n
	c.mu.Unlock()
	c.notify()
	return true
}

// DropLatest takes back the packet queued under key by [Conn.SendLatest],
// if the writer has not taken it yet, and reports whether there was one:
// for news made stale by what is sent next (a member's position, before
// the packet that says it is gone).
func (c *Conn) DropLatest(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, ok := c.latest[key]
	if !ok {
		return false
	}
	q := c.queue.at(i)
	c.bytes -= eio.PayloadLen(*q)
	*q = Packet{Type: dropped}
	delete(c.latest, key)
	return true
}

// Close closes the connection with [ReasonForcedClose], as Node's
// socket.conn.close(): packets already queued are still written first,
// unless the transport fails before they are (the client has gone), then
// the transport is closed, with no packet of the layer above: a pending
// poll gets the Engine.IO close packet (a later one a noop and the close
// packet), a WebSocket a close frame. The client sees its transport close
// (Socket.IO's "transport close") and may reconnect. Close is idempotent. It
// does not wait for the Receiver's OnClose, which runs on a goroutine of the
// transport's.
func (c *Conn) Close() { c.close(ReasonForcedClose, true) }

// CloseWithReason closes the connection with the given reason. graceful
// writes what is queued first; otherwise the network connection is closed at
// once and the queue dropped.
func (c *Conn) CloseWithReason(reason string, graceful bool) { c.close(reason, graceful) }

func (c *Conn) close(reason string, graceful bool) {
	c.mu.Lock()
	if c.closed {
		// A session closed gracefully waits for a writer to take its last
		// packets. If its transport fails meanwhile (the client went away
		// first), no writer ever will: it is abandoned now, not after the
		// ping timeout, which Shutdown would wait for.
		late := c.graceful && !graceful
		if late {
			c.graceful = false
			c.dropQueue()
		}
		abort := c.abort
		c.mu.Unlock()
		if late {
			c.abandon(abort)
		}
		return
	}
	c.closed = true
	c.graceful = graceful
	c.reason = reason
	if !graceful {
		c.dropQueue()
	}
	abort := c.abort
	if c.beat != nil {
		c.beat.Stop()
	}
	c.cancel()     // closes done
	recv := c.recv // nil while the Handler runs: setReceiver delivers OnClose
	c.mu.Unlock()

	c.srv.cfg.logger.Debug("closed", "sid", c.id, "reason", reason)
	if recv != nil {
		// Counted before the session leaves the server: Shutdown, which
		// waits for both, must not find it gone and its OnClose uncounted.
		c.srv.mu.Lock()
		c.srv.enter(nil)
		c.srv.mu.Unlock()
	}
	if graceful {
		// A session closed gracefully stays reachable until a writer takes
		// its last packets and the close packet, its transport fails, or
		// a polling client fails to come back for them.
		time.AfterFunc(c.srv.cfg.pingTimeout, func() { c.srv.remove(c) })
	} else {
		c.abandon(abort)
	}
	if w := c.waker.Load(); w != nil {
		(*w)() // the writer sends what is left and the close
	}
	if recv != nil {
		go c.deliverClose(recv, reason)
	}
}

// dropQueue forgets what is queued. c.mu is held.
func (c *Conn) dropQueue() {
	c.queue.reset()
	c.bytes = 0
	c.latest = nil
}

// abandon removes the closed session from the server and closes its
// network connection, if it has one, with abort.
func (c *Conn) abandon(abort func()) {
	c.srv.remove(c)
	if abort != nil {
		abort()
	}
}

// deliverClose calls recv.OnClose on a goroutine of its own, counted among
// the server's active requests, once any OnMessage call in progress has
// returned: close may be called from anywhere (a Send holding the caller's
// locks, a timer, an OnMessage), and Receive delivers no message once the
// connection is closed.
func (c *Conn) deliverClose(recv Receiver, reason string) {
	defer c.srv.leave(nil)
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	recv.OnClose(reason)
}

// setReceiver installs the Handler's Receiver, on the handshake request's
// goroutine once the Handler has returned. If the connection closed while
// the Handler ran (it called Close, or the server shut down), the Receiver's
// OnClose is called now, since close could not: no message can have been
// delivered yet, and none will be.
func (c *Conn) setReceiver(r Receiver) {
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	c.mu.Lock()
	c.recv = r
	closed, reason := c.closed, c.reason
	c.mu.Unlock()
	if closed {
		r.OnClose(reason)
	}
}

// Next waits until there is something for transport t to write and returns
// it appended to dst. It returns the queued packets; a single noop packet
// when t must end its request because the connection is moving to another
// transport; or, once the connection is closed and its queue handed out,
// [ErrClosed], upon which t sends a close packet. It returns ctx.Err() if
// ctx ends first, unless the connection has moved to another transport by
// then: the noop, since the end of a request an upgrade made useless is not
// a failure of the connection.
func (c *Conn) Next(ctx context.Context, t Transport, dst []Packet) ([]Packet, error) {
	for {
		out, ok, err := c.take(t, dst)
		if ok {
			return out, err
		}
		select {
		case <-c.wake:
		case <-c.done:
		case <-ctx.Done():
			c.mu.Lock()
			moved := c.transport != t
			c.mu.Unlock()
			if moved { // an end of the request that the upgrade raced is not a failure
				return append(dst, Packet{Type: eio.Noop}), nil
			}
			return dst, ctx.Err()
		}
	}
}

// Take is [Conn.Next] without the wait, for a transport whose writer runs
// only while there is something to write (see [Conn.SetWaker]): with
// nothing to write yet it returns dst unchanged and a nil error, and the
// writer may stop until its next wake-up.
func (c *Conn) Take(t Transport, dst []Packet) ([]Packet, error) {
	out, _, err := c.take(t, dst)
	return out, err
}

// take returns what [Conn.Next] would without waiting; ok is false when
// Next would wait.
func (c *Conn) take(t Transport, dst []Packet) (out []Packet, ok bool, err error) {
	c.mu.Lock()
	switch {
	case c.transport != t:
		c.mu.Unlock()
		return append(dst, Packet{Type: eio.Noop}), true, nil
	case c.queue.len() > 0:
		// After a graceful close the last packets go out on their own,
		// and the close follows on the next call: a polling client
		// handles a payload's close packet before its other packets.
		from := len(dst)
		dst = c.queue.appendTo(dst)
		taken := len(dst) - from
		c.bytes = 0
		clear(c.latest)
		if taken == 0 { // only packets taken back (DropLatest): nothing to write
			c.mu.Unlock()
			return c.take(t, dst)
		}
		c.mu.Unlock()
		if obs := c.srv.cfg.observers; obs != nil {
			sent := dst[len(dst)-taken:]
			for _, o := range obs {
				o.Sent(c, t.Name(), taken, packetBytes(sent))
			}
		}
		return dst, true, nil
	case c.closed:
		c.mu.Unlock()
		c.srv.remove(c)
		return dst, true, ErrClosed
	case c.upgrading:
		c.mu.Unlock()
		return append(dst, Packet{Type: eio.Noop}), true, nil
	}
	c.mu.Unlock()
	return dst, false, nil
}

// Receive handles one packet read from the client. A message goes to the
// Receiver; a pong (protocol 4) re-arms the heartbeat; a ping (protocol 3)
// re-arms it and is answered with a pong; a close packet closes the
// connection. A heartbeat packet in the wrong direction closes the
// connection with [ReasonTransportError], as Node's "invalid heartbeat
// direction"; any other packet type is a protocol error that closes it
// with [ReasonParseError]. The returned error tells the
// transport to stop reading.
func (c *Conn) Receive(p Packet) error {
	if c.srv.cfg.observers != nil {
		c.observeReceived(p)
	}
	switch p.Type {
	case eio.Message:
		c.recvMu.Lock()
		defer c.recvMu.Unlock()
		select {
		case <-c.done:
			return ErrClosed
		default:
		}
		if c.overflowed.Load() { // closing, on a goroutine of its own
			return ErrClosed
		}
		c.recv.OnMessage(p.Data, p.Binary)
		return nil
	case eio.Ping, eio.Pong:
		if (p.Type == eio.Ping) != (c.protocol == 3) {
			// A v4 client answers pings; a v3 client sends them.
			c.srv.cfg.logger.Warn("invalid heartbeat direction", "sid", c.id, "type", p.Type.String())
			c.close(ReasonTransportError, false)
			return ErrClosed
		}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil
		}
		if c.protocol == 3 {
			c.rearm(false, c.srv.cfg.pingInterval+c.srv.cfg.pingTimeout)
			c.mu.Unlock()
			c.Send(false, Packet{Type: eio.Pong})
			return nil
		}
		c.rearm(false, c.srv.cfg.pingInterval)
		c.mu.Unlock()
		return nil
	case eio.Noop:
		return nil
	case eio.Close:
		c.close(ReasonTransportClose, false)
		return ErrClosed
	default:
		c.srv.cfg.logger.Warn("unexpected packet", "sid", c.id, "type", p.Type.String())
		c.close(ReasonParseError, false)
		return ErrClosed
	}
}

// Fail closes the connection because its transport failed: reason is
// [ReasonTransportClose] when the client closed it cleanly (a WebSocket
// close frame or EOF) and [ReasonTransportError] otherwise (a network
// error, an aborted long-poll, a protocol violation).
func (c *Conn) Fail(reason string) { c.close(reason, false) }

// Errors of [Conn.BeginPoll].
var (
	// ErrOverlap: a request of the same kind is already in flight.
	ErrOverlap = errors.New("transport: overlapping request")
	// ErrMoved: the session has left the requesting transport (upgraded).
	ErrMoved = errors.New("transport: session moved to another transport")
)

// BeginPoll claims the connection's single GET (post false) or POST (post
// true) slot for transport t. It returns [ErrOverlap] if a request of that
// kind is already in flight (the caller answers 400 and closes the
// connection, as Node does), and [ErrMoved] if the connection is no longer
// on t, because an upgrade completed since the server looked (the caller
// answers 400 and leaves the connection alone).
func (c *Conn) BeginPoll(t Transport, post bool) error {
	i := 0
	if post {
		i = 1
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.transport != t:
		return ErrMoved
	case c.polling[i]:
		return ErrOverlap
	}
	c.polling[i] = true
	return nil
}

// EndPoll releases the slot claimed by [Conn.BeginPoll].
func (c *Conn) EndPoll(post bool) {
	i := 0
	if post {
		i = 1
	}
	c.mu.Lock()
	c.polling[i] = false
	c.mu.Unlock()
}

// SetAbort records how to close the active transport's network connection
// at once; it runs when the connection closes without draining. If the
// connection has already closed that way, fn runs before SetAbort returns.
func (c *Conn) SetAbort(fn func()) {
	c.mu.Lock()
	c.abort = fn
	hard := c.abandoned()
	c.mu.Unlock()
	if hard {
		fn()
	}
}

// Abandoned reports whether the connection was closed without draining its
// queue: what is queued will never be written.
func (c *Conn) Abandoned() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.abandoned()
}

// abandoned is [Conn.Abandoned] with c.mu held.
func (c *Conn) abandoned() bool { return c.closed && !c.graceful }

// BeginUpgrade marks the connection as moving to transport t after a
// successful probe: the current transport's pending poll is answered with a
// noop. It returns false if the connection is closed or already upgrading.
func (c *Conn) BeginUpgrade(t Transport) bool {
	c.mu.Lock()
	ok := !c.closed && !c.upgrading && c.transport != t
	if ok {
		c.upgrading = true
	}
	c.mu.Unlock()
	c.notify()
	return ok
}

// CompleteUpgrade makes t, which called [Conn.BeginUpgrade], the active
// transport, with abort closing its network connection, and tells the
// Receiver if it is an [UpgradeReceiver]. A connection closed
// gracefully meanwhile still completes, so that t writes its last packets
// (the client has paused its old transport); it returns false if the
// connection was closed at once.
func (c *Conn) CompleteUpgrade(t Transport, abort func()) bool {
	c.mu.Lock()
	if c.abandoned() || !c.upgrading {
		c.mu.Unlock()
		return false
	}
	c.upgrading = false
	c.transport = t
	c.abort = abort
	recv := c.recv
	c.mu.Unlock()
	c.srv.cfg.logger.Debug("upgraded", "sid", c.id, "transport", t.Name())
	c.notify()
	if u, ok := recv.(UpgradeReceiver); ok {
		c.recvMu.Lock()
		select {
		case <-c.done: // OnClose is on its way, or has been called
		default:
			u.OnUpgrade(t.Name())
		}
		c.recvMu.Unlock()
	}
	return true
}

// CancelUpgrade abandons an upgrade begun with [Conn.BeginUpgrade].
func (c *Conn) CancelUpgrade() {
	c.mu.Lock()
	c.upgrading = false
	c.mu.Unlock()
}

// OpenPacket returns the data of the open packet for a client connecting
// over t: sid, upgrades, pingInterval, pingTimeout, maxPayload.
func (c *Conn) OpenPacket(t Transport) Packet {
	return Packet{Type: eio.Open, Data: c.srv.openData(c.id, t)}
}

// start arms the heartbeat. Protocol 4: the server pings every
// pingInterval after the last pong and closes the connection if a pong
// takes longer than pingTimeout. Protocol 3: the client pings; the
// connection closes if no ping comes for pingInterval + pingTimeout.
func (c *Conn) start() {
	cfg := &c.srv.cfg
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed { // closed while the Handler ran
		return
	}
	d := cfg.pingInterval
	if c.protocol == 3 {
		d += cfg.pingTimeout
	}
	c.beatAt = time.Now().Add(d)
	c.beat = time.AfterFunc(d, c.heartbeat)
}

// rearm sets the heartbeat due in d, awaiting a pong or not. c.mu is held.
func (c *Conn) rearm(awaiting bool, d time.Duration) {
	c.awaiting = awaiting
	c.beatAt = time.Now().Add(d)
	c.beat.Reset(d)
}

// heartbeat runs when the heartbeat is due: protocol 4 sends a ping, or
// closes the session if its pong is late; protocol 3 closes it (the
// client's ping is late).
func (c *Conn) heartbeat() {
	c.mu.Lock()
	if c.closed || time.Now().Before(c.beatAt) { // rearmed while it started
		c.mu.Unlock()
		return
	}
	if c.protocol == 3 || c.awaiting {
		c.mu.Unlock()
		c.close(ReasonPingTimeout, false)
		return
	}
	c.rearm(true, c.srv.cfg.pingTimeout)
	c.mu.Unlock()
	c.Send(false, Packet{Type: eio.Ping})
}
