// Package websocket implements the Engine.IO WebSocket transport over
// github.com/gorilla/websocket.
//
// Each Engine.IO packet is one WebSocket message: text packets as text
// frames ("4hello"), binary messages as binary frames holding the raw bytes.
//
// An idle session has no goroutine and no buffer on Linux. Once the
// connection is hijacked and the open packet written (or the upgrade probe
// done), the read loop moves to a goroutine of its own and the net/http
// handler returns, freeing its stack and net/http's buffers (the session
// stays counted by [transport.Server] until the read loop ends). When
// nothing has come from the client for half a second, the read loop parks
// the connection: its goroutine ends, its 512-byte read buffer is dropped,
// and the socket waits in an epoll set that the process's parked
// connections share, watched by one goroutine (only while any connection is
// parked); when the client sends something or hangs up, or the session
// closes, a new goroutine goes on reading. A TLS connection (one not served
// through a plain net.Conn) and other systems keep the read loop's goroutine,
// and so does a connection after a WebSocket ping or pong frame from the
// client (some native clients send them), until its next message: gorilla
// answers control frames within the read that waits for a message.
// A writer runs only while there is something to write: the session's
// wake-up starts it, it takes everything queued and writes it with a single
// flush to the network, and it stops when nothing is left; there is never
// more than one. Write buffers are pooled, held only while writing. (During
// an upgrade probe, a second goroutine watches for the session closing.)
//
// A client that stops reading pays for itself: the kernel keeps at most
// 4 KiB of a connection's writes that it could not send yet
// (TCP_NOTSENT_LOWAT, on Linux), so its writer blocks and the session's
// send queue grows, and the session is closed as a slow client (see
// [transport.WithStallTimeout] and [transport.WithSendQueue]).
//
// A text frame that is not valid UTF-8 closes the session with
// [transport.ReasonParseError] and the close code 1007 (RFC 6455's "invalid
// frame payload data"): nothing invalid is ever relayed, since a browser
// closes its whole WebSocket on such a frame.
//
// When the server closes a session gracefully, the writer sends what is
// queued and a close frame without a status code, as Node's ws does (the
// client sees 1005); the network connection is closed when the client
// answers the close frame, or after the server's write timeout. A WebSocket
// that may not join its session ([transport.ModeRefuse]) gets the same
// close frame right after the handshake.
package websocket

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"github.com/vicinity-go/vicinity/internal/eio"
	"github.com/vicinity-go/vicinity/transport"
	"github.com/vicinity-go/vicinity/transport/internal/eio3"
)

// Name is the transport's query parameter value.
const Name = "websocket"

// Transport is the WebSocket transport.
type Transport struct {
	upgrader websocket.Upgrader
}

// New returns the WebSocket transport. The origin policy is the
// [transport.Server]'s; compression is off, as in the Node.js server.
func New() *Transport {
	return &Transport{upgrader: websocket.Upgrader{
		// No ReadBufferSize: gorilla reads through the hijacker's reader
		// (readBufferSize bytes), which the read loop drops when it parks.
		WriteBufferSize: writeBufferSize,
		WriteBufferPool: &writeBufferPool,
		CheckOrigin:     func(*http.Request) bool { return true }, // checked by transport.Server
	}}
}

// An idle connection keeps only its small read buffer: a message larger
// than it is read in several reads (gorilla reads a frame's payload past
// the buffer straight into the message). A write buffer is taken from a
// pool for the time of a message's write, and batchConn's batch buffers
// likewise for the time of a batch.
const (
	readBufferSize  = 512
	writeBufferSize = 4096
)

// gorilla reads through the hijacker's reader only if it is larger than
// 256 bytes (else it makes its own, and the read loop's idle wait would
// take bytes from a reader gorilla never reads): this fails to compile if
// readBufferSize is not.
const _ = uint(readBufferSize - 257)

var writeBufferPool sync.Pool

var _ transport.Acceptor = (*Transport)(nil)

// Name returns "websocket".
func (*Transport) Name() string { return Name }

// Upgradable returns true: a polling session may upgrade to WebSocket.
func (*Transport) Upgradable() bool { return true }

// Accept reports whether r is a WebSocket handshake the transport can take:
// a GET with the Connection and Upgrade headers of an upgrade to
// "websocket", Sec-WebSocket-Version 13 and a Sec-WebSocket-Key. The
// [transport.Server] asks before it creates a session, so that a plain
// request is refused, with HTTP 400 and code 3, without one.
func (*Transport) Accept(r *http.Request) bool {
	return r.Method == http.MethodGet &&
		websocket.IsWebSocketUpgrade(r) &&
		hasToken(r.Header.Get("Sec-Websocket-Version"), "13") &&
		r.Header.Get("Sec-Websocket-Key") != ""
}

// hasToken reports whether the comma-separated list h holds token.
func hasToken(h, token string) bool {
	for t := range strings.SplitSeq(h, ",") {
		if strings.TrimSpace(t) == token {
			return true
		}
	}
	return false
}

// Serve upgrades the request to a WebSocket and runs the session on it until
// it closes.
func (t *Transport) Serve(w http.ResponseWriter, r *http.Request, c *transport.Conn, mode transport.Mode) {
	if mode == transport.ModeRequest { // the server never asks: a caller of Serve's own
		transport.WriteError(w, transport.CodeBadRequest, "")
		return
	}
	if !t.Accept(r) { // the server asks first: a caller of Serve's own
		transport.WriteError(w, transport.CodeBadRequest, "")
		if mode == transport.ModeOpen {
			c.Fail(transport.ReasonTransportError)
		}
		return
	}
	bw := &hijacker{ResponseWriter: w}
	ws, err := t.upgrader.Upgrade(bw, r, nil)
	if err != nil { // the upgrader has answered the request
		if mode == transport.ModeOpen {
			c.Fail(transport.ReasonTransportError)
		}
		return
	}
	if mode == transport.ModeRefuse {
		refuse(ws, bw.conn, c.Server().WriteTimeout())
		return
	}
	ws.SetReadLimit(int64(c.Server().MaxPayload()))
	// l must not keep bw, and so net/http's request state, alive.
	l := &link{t: t, c: c, ws: ws, bc: bw.conn, br: bw.br, timeout: c.Server().WriteTimeout(), v3: c.Protocol() == 3}
	if sc, ok := bw.conn.Conn.(syscall.Conn); ok && l.br != nil && canPark {
		l.rc, _ = sc.SyscallConn() // a TLS connection is not one: it never parks
	}
	abort := l.closeNet
	if mode == transport.ModeUpgrade {
		if !l.upgrade(abort) {
			_ = ws.Close()
			return
		}
	} else {
		c.SetAbort(abort)
		if err := l.write([]transport.Packet{c.OpenPacket(t)}); err != nil {
			c.Fail(transport.ReasonTransportError)
			_ = ws.Close()
			return
		}
	}
	// The read loop goes on on a goroutine of its own, so that the net/http
	// handler's goroutine returns: its stack, grown through the server's
	// request handling, and net/http's buffers for the connection are freed.
	// The session stays counted among the server's requests until it ends.
	l.release = c.Hold()
	c.SetWaker(l.wake)
	l.wake() // for what was queued before the waker was set
	go l.serve()
}

// serve serves the session after the handshake or the upgrade: it reads
// until the network connection fails or closes, with a writer started
// whenever there is something to write, then waits for a writer still
// running. When the connection is idle, serve parks it and returns; it is
// called again on a new goroutine when there is something to read.
func (l *link) serve() {
	if l.readLoop() {
		return // parked
	}
	_ = l.bc.Conn.Close() // unblocks a writer stuck on a dead peer
	l.stopWriter()
	l.c.SetWaker(nil)
	l.release()
}

// closeNet closes the network connection at once: the session's abort. A
// parked read loop is resumed to find it closed.
func (l *link) closeNet() {
	_ = l.bc.Conn.Close()
	parking.unpark(l)
}

// upgrade runs the probe and makes the WebSocket the session's transport.
// Until then the session's abort belongs to its polling transport, so a
// session that closes during the probe would leave the read waiting for the
// upgrade timeout: a watcher closes the WebSocket instead.
func (l *link) upgrade(abort func()) bool {
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-l.c.Done():
			if l.c.Abandoned() {
				abort()
			} // else the probe completes and the WebSocket writes the last packets
		case <-stop:
		}
	}()
	ok := l.probe() && l.c.CompleteUpgrade(l.t, abort)
	close(stop)
	<-stopped
	return ok
}

// probe runs the upgrade exchange: "2probe" → "3probe", then the client's
// "5". It reports whether the upgrade may complete.
func (l *link) probe() bool {
	c := l.c
	_ = l.ws.SetReadDeadline(time.Now().Add(c.Server().UpgradeTimeout()))
	defer func() { _ = l.ws.SetReadDeadline(time.Time{}) }()
	p, err := l.read()
	if err != nil || p.Type != eio.Ping || string(p.Data) != "probe" {
		return false
	}
	// Claim the upgrade before answering: once the client has "3probe" it
	// pauses polling and counts on this WebSocket.
	if !c.BeginUpgrade(l.t) {
		return false
	}
	if err := l.write([]transport.Packet{{Type: eio.Pong, Data: []byte("probe")}}); err != nil {
		c.CancelUpgrade()
		return false
	}
	for {
		p, err = l.read()
		if err != nil {
			c.CancelUpgrade()
			return false
		}
		switch p.Type {
		case eio.Upgrade:
			return true
		case eio.Noop:
		default:
			c.CancelUpgrade()
			return false
		}
	}
}

type link struct {
	t       *Transport
	c       *transport.Conn
	ws      *websocket.Conn
	bc      *batchConn
	br      *bufio.Reader // gorilla's reader; nil if gorilla made its own (then it never parks)
	timeout time.Duration
	v3      bool   // Engine.IO protocol 3: binary frames carry a type byte
	release func() // ends the session's hold on the server, once served

	// Parking (see park_linux.go): the socket, if it can be parked; whether
	// it is in the parker's epoll set; the id its events carry.
	rc         syscall.RawConn
	registered bool
	parkID     uint64
	closing    bool // the session has closed: the read loop discards what comes, and never parks

	// The writer runs only while there is something to write: wake starts
	// it unless it runs (then it only marks a pending wake-up), and it
	// stops once a Take finds nothing and no wake-up came since.
	wmu      sync.Mutex
	running  bool          // a writer goroutine runs
	pending  bool          // woken while running: take again before stopping
	finished bool          // no writer starts again: the session ended, or the read loop did
	exited   chan struct{} // closed when the running writer stops, for stopWriter
}

func (l *link) read() (transport.Packet, error) {
	typ, data, err := l.ws.ReadMessage()
	if err != nil {
		return transport.Packet{}, err
	}
	switch {
	case l.v3 && typ == websocket.BinaryMessage:
		return eio3.DecodeBinary(data)
	case l.v3:
		return eio3.DecodeText(data)
	case typ == websocket.BinaryMessage:
		return transport.Message(data, true), nil
	}
	return eio.DecodeText(data)
}

// readLoop reads until the network connection fails or closes, or until it
// parks the connection (it returns true then). Once the session has closed,
// what arrives is discarded: a session closed gracefully keeps reading until
// the client answers the close frame (or the deadline closeFrame sets), so
// that the server never closes a connection with unread data, which would
// reset it and could destroy the client's copy of the final packets.
func (l *link) readLoop() (parked bool) {
	if l.br != nil && l.br.Size() == 0 { // resumed: a read buffer again
		l.newReadBuffer()
	}
	for {
		if l.rc != nil && !l.closing && l.br.Buffered() == 0 && !l.await() {
			// Idle: nothing came for idleWait, and gorilla holds no
			// byte, so the socket's readiness tells when to read again.
			*l.br = bufio.Reader{} // no buffer while parked
			if parking.park(l) {
				return true
			}
			l.newReadBuffer()
		}
		p, err := l.read()
		switch {
		case errors.Is(err, eio.ErrInvalidUTF8):
			// RFC 6455 8.1: a text frame that is not UTF-8 fails the
			// connection with 1007, "invalid frame payload data".
			msg := websocket.FormatCloseMessage(websocket.CloseInvalidFramePayloadData, "invalid UTF-8")
			_ = l.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(l.timeout))
			l.c.CloseWithReason(transport.ReasonParseError, false)
			return
		case errors.Is(err, eio.ErrInvalidPacket):
			l.c.CloseWithReason(transport.ReasonParseError, false)
			return
		case err != nil:
			reason := transport.ReasonTransportError
			if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived) ||
				errors.Is(err, net.ErrClosed) || isEOF(err) {
				reason = transport.ReasonTransportClose
			}
			l.c.Fail(reason)
			return
		}
		if !l.closing && l.c.Receive(p) != nil {
			l.closing = true
		}
	}
}

// newReadBuffer gives gorilla's reader, which the read loop emptied to
// park, a buffer again.
func (l *link) newReadBuffer() { *l.br = *bufio.NewReaderSize(l.bc, readBufferSize) }

// idleWait is how long a read loop waits for the next message before it
// parks its connection.
const idleWait = 500 * time.Millisecond

// await waits up to idleWait for the next byte from the client. It reports
// false if none came: the connection is idle. It waits without limit if the
// session has set a read deadline of its own (it is closing).
func (l *link) await() bool {
	if !l.bc.beginIdle(time.Now().Add(idleWait)) {
		return true
	}
	_, err := l.br.Peek(1)
	if closing := l.bc.endIdle(); closing {
		return true
	}
	var ne net.Error
	return !errors.As(err, &ne) || !ne.Timeout() // any other error: the read finds it again
}

func isEOF(err error) bool {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code == websocket.CloseAbnormalClosure // the peer vanished without a close frame
	}
	return false
}

// wake starts the writer if it is not running; it is the session's waker
// (see transport.Conn.SetWaker) and never blocks.
func (l *link) wake() {
	l.wmu.Lock()
	switch {
	case l.finished:
	case l.running:
		l.pending = true
	default:
		l.running = true
		l.wmu.Unlock()
		go l.writeLoop()
		return
	}
	l.wmu.Unlock()
}

// idle reports whether the writer may stop after a Take that found
// nothing: no wake-up came since its previous Take. With finished, it
// stops for good.
func (l *link) idle(finished bool) bool {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.pending && !finished {
		l.pending = false
		return false
	}
	l.running, l.pending = false, false
	l.finished = l.finished || finished
	if l.exited != nil {
		close(l.exited)
		l.exited = nil
	}
	return true
}

// stopWriter lets no writer start again and waits for a running one to
// stop.
func (l *link) stopWriter() {
	l.wmu.Lock()
	l.finished = true
	if !l.running {
		l.wmu.Unlock()
		return
	}
	if l.exited == nil {
		l.exited = make(chan struct{})
	}
	exited := l.exited
	l.wmu.Unlock()
	<-exited
}

// writeLoop takes everything queued and writes it with one flush, until
// nothing is left; after the session's last packets it sends the close
// frame and no writer starts again.
func (l *link) writeLoop() {
	var batch []transport.Packet
	for {
		var err error
		batch, err = l.c.Take(l.t, batch[:0])
		if len(batch) == 0 && err == nil {
			if l.idle(false) {
				return
			}
			continue
		}
		if werr := l.write(batch); werr != nil {
			if errors.Is(werr, websocket.ErrCloseSent) {
				// The read loop sent a close frame (the client's close, an
				// oversized message, a protocol error) and is about to
				// close the session with the reason that belongs to it.
				<-l.c.Done()
			} else {
				l.c.Fail(transport.ReasonTransportError)
			}
			l.closeNet()
			l.idle(true)
			return
		}
		clear(batch)
		if err != nil {
			l.closeFrame()
			l.idle(true)
			return
		}
	}
}

// closeMessage is the payload of the server's close frames: empty, with no
// status code, as the close() of Node's ws sends (the client sees 1005).
var closeMessage = []byte{}

// refuse closes a WebSocket that may not join its session, as Node's server
// does: a close frame, then the network connection once the client answers
// it or the write timeout has passed.
func refuse(ws *websocket.Conn, bc *batchConn, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	if err := ws.WriteControl(websocket.CloseMessage, closeMessage, deadline); err == nil {
		_ = ws.SetReadDeadline(deadline)
		for {
			if _, _, err := ws.NextReader(); err != nil {
				break
			}
		}
	}
	_ = bc.Conn.Close()
}

// closeFrame ends a session the server closed: a close frame, then a read
// deadline by which the client must answer it. The read loop closes the
// network connection when the answer (or the deadline) comes.
func (l *link) closeFrame() {
	deadline := time.Now().Add(l.timeout)
	if err := l.ws.WriteControl(websocket.CloseMessage, closeMessage, deadline); err != nil && !errors.Is(err, websocket.ErrCloseSent) {
		l.closeNet()
		return
	}
	_ = l.bc.SetReadDeadline(deadline)
	parking.unpark(l) // a parked read loop waits for the answer
}

// write writes pkts as one batch with a single flush to the network.
func (l *link) write(pkts []transport.Packet) error {
	if len(pkts) == 0 {
		return nil
	}
	l.bc.begin()
	var err error
	for _, p := range pkts {
		switch {
		case p.Binary && l.v3 && l.c.Base64():
			err = l.ws.WriteMessage(websocket.TextMessage, eio3.AppendText(nil, p))
		case p.Binary && l.v3:
			err = l.writeV3Binary(p)
		case p.Binary:
			err = l.ws.WriteMessage(websocket.BinaryMessage, p.Data)
		default:
			err = l.writeText(p)
		}
		if err != nil {
			break
		}
	}
	if ferr := l.bc.flush(time.Now().Add(l.timeout)); err == nil {
		err = ferr
	}
	return err
}

// writeV3Binary writes a binary message of protocol 3: its type byte, then
// its data.
func (l *link) writeV3Binary(p transport.Packet) error {
	w, err := l.ws.NextWriter(websocket.BinaryMessage)
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte{byte(p.Type)}); err != nil {
		return err
	}
	if _, err := w.Write(p.Data); err != nil {
		return err
	}
	return w.Close()
}

func (l *link) writeText(p transport.Packet) error {
	w, err := l.ws.NextWriter(websocket.TextMessage)
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte{'0' + byte(p.Type)}); err != nil {
		return err
	}
	if _, err := w.Write(p.Data); err != nil {
		return err
	}
	return w.Close()
}
