package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// proto is the wire protocol the raw client speaks to a target.
type proto int

const (
	protoSIO        proto = iota // Engine.IO v4 + Socket.IO v5 text frames
	protoCentrifuge              // Centrifuge's JSON protocol
	protoHub                     // the hub target's tiny text protocol
)

func (p proto) path() string {
	switch p {
	case protoCentrifuge:
		return "/connection/websocket"
	case protoHub:
		return "/ws"
	}
	return "/socket.io/?EIO=4&transport=websocket"
}

// epoch is the origin of the timestamps the tool puts in payloads: the
// sender and the receivers share this process, so a monotonic clock works.
var epoch = time.Now()

func now() int64 { return int64(time.Since(epoch)) }

var (
	errClosed  = errors.New("connection closed")
	errTimeout = errors.New("timed out")
	errRefused = errors.New("refused")
)

// writePool shares gorilla's write buffers between the tool's connections,
// so that holding 19,000 of them costs little.
var writePool sync.Pool

// conn is a lean raw client: one WebSocket, one read goroutine once
// started (it answers pings), writes under a mutex. It keeps the latencies
// of the broadcast messages it receives while recording is on.
type conn struct {
	ws    *websocket.Conn
	proto proto
	read  []byte // reusable read buffer

	wmu  sync.Mutex
	wbuf []byte
	id   uint64 // last request id, under wmu

	acks chan ack      // answers to requests (echo), capacity 1
	done chan struct{} // closed when the read loop ends

	connected string // Socket.IO: the CONNECT answer's data ({"sid":…,"pid":…})

	// Set before start, for a scenario that reads events itself (geo):
	// onEvent gets each Socket.IO event ("42…") instead of the broadcast
	// timing, and onAck each answer too (its arguments, "[…]"); what they
	// get is valid only during the call.
	onEvent func(msg []byte)
	onAck   func(id uint64, ok bool, args []byte)

	recording *atomic.Bool // shared by a scenario's receivers
	mu        sync.Mutex
	lat       []int64 // delivery latencies in ns, under mu
	got       int64   // messages received while recording, under mu
	last      int64   // when the last one arrived (now()), under mu
}

type ack struct {
	id uint64
	ok bool
}

type dialOptions struct {
	addr    string
	proto   proto
	room    string // joined after connecting, if not empty
	rcvBuf  int    // SO_RCVBUF if > 0 (non-reading clients)
	auth    string // Socket.IO: the CONNECT packet's data, e.g. a recovery {"pid":…,"offset":…}
	timeout time.Duration
}

// dial connects, does the protocol's handshake (Engine.IO open and a
// Socket.IO CONNECT to "/", or Centrifuge's connect) and joins the room. It
// does not start the read loop: call start.
func dial(ctx context.Context, o dialOptions) (*conn, error) {
	if o.timeout == 0 {
		o.timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	nd := &net.Dialer{}
	if o.rcvBuf > 0 {
		nd.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, o.rcvBuf)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	d := websocket.Dialer{
		NetDialContext:   nd.DialContext,
		HandshakeTimeout: o.timeout,
		ReadBufferSize:   1024,
		WriteBufferSize:  1024,
		WriteBufferPool:  &writePool,
	}
	ws, _, err := d.DialContext(ctx, "ws://"+o.addr+o.proto.path(), nil)
	if err != nil {
		return nil, err
	}
	c := &conn{ws: ws, proto: o.proto, acks: make(chan ack, 1), done: make(chan struct{})}
	if dl, ok := ctx.Deadline(); ok {
		_ = ws.SetReadDeadline(dl)
	}
	if err := c.handshake(o.room, o.auth); err != nil {
		ws.Close()
		return nil, err
	}
	_ = ws.SetReadDeadline(time.Time{})
	return c, nil
}

func (c *conn) handshake(room, auth string) error {
	switch c.proto {
	case protoSIO:
		msg, err := c.next()
		if err != nil {
			return err
		}
		if len(msg) == 0 || msg[0] != '0' {
			return fmt.Errorf("engine.io open: got %q", msg)
		}
		if err := c.write([]byte("40" + auth)); err != nil {
			return err
		}
		if err := c.expect("40"); err != nil {
			return err
		}
		c.connected = string(c.read[2:])
		if room == "" {
			return nil
		}
		if err := c.write([]byte(`421["join",` + strconv.Quote(room) + `]`)); err != nil {
			return err
		}
		return c.expect("431")
	case protoCentrifuge:
		if err := c.write([]byte(`{"id":1,"connect":{}}`)); err != nil {
			return err
		}
		if err := c.expect(`{"id":1,"connect"`); err != nil {
			return err
		}
		c.id = 2
		if room == "" {
			return nil
		}
		if err := c.write([]byte(`{"id":2,"subscribe":{"channel":` + strconv.Quote(room) + `}}`)); err != nil {
			return err
		}
		return c.expect(`{"id":2,"subscribe"`)
	default:
		if room == "" {
			return nil
		}
		if err := c.write([]byte("j" + room)); err != nil {
			return err
		}
		return c.expect("j")
	}
}

// next reads one message into c.read; the slice is valid until the next call.
func (c *conn) next() ([]byte, error) {
	_, r, err := c.ws.NextReader()
	if err != nil {
		return nil, err
	}
	buf := bytes.NewBuffer(c.read[:0])
	_, err = buf.ReadFrom(r)
	c.read = buf.Bytes()
	return c.read, err
}

// expect reads until a message (or, for Centrifuge, a line) starts with
// prefix, answering pings meanwhile.
func (c *conn) expect(prefix string) error {
	for {
		msg, err := c.next()
		if err != nil {
			return err
		}
		for _, line := range bytes.Split(msg, []byte("\n")) {
			if bytes.HasPrefix(line, []byte(prefix)) {
				if bytes.Contains(line, []byte(`"error"`)) {
					return fmt.Errorf("%w: %q", errRefused, line)
				}
				return nil
			}
			if c.proto == protoSIO && bytes.HasPrefix(line, []byte("44")) {
				return fmt.Errorf("%w: %q", errRefused, line)
			}
			c.pong(line)
		}
	}
}

// pong answers a ping: Engine.IO "2" with "3", Centrifuge's "{}" with "{}".
func (c *conn) pong(msg []byte) bool {
	switch {
	case c.proto == protoSIO && len(msg) == 1 && msg[0] == '2':
		_ = c.write([]byte("3"))
		return true
	case c.proto == protoCentrifuge && string(msg) == "{}":
		_ = c.write([]byte("{}"))
		return true
	}
	return false
}

func (c *conn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

// start runs the read loop: pings are answered, answers go to c.acks and
// broadcast messages are timed while recording is on.
func (c *conn) start(recording *atomic.Bool) {
	c.recording = recording
	go c.loop()
}

func (c *conn) loop() {
	defer close(c.done)
	for {
		msg, err := c.next()
		if err != nil {
			return
		}
		switch c.proto {
		case protoSIO:
			switch {
			case c.pong(msg):
			case bytes.HasPrefix(msg, []byte("43")):
				id, rest := parseUint(msg[2:])
				ok := !bytes.Contains(rest, []byte(`"error"`))
				if c.onAck != nil {
					c.onAck(id, ok, rest)
				}
				c.answer(id, ok)
			case bytes.HasPrefix(msg, []byte("42")):
				if c.onEvent != nil {
					c.onEvent(msg)
				} else {
					c.deliver(msg)
				}
			case len(msg) > 0 && msg[0] == '1':
				return
			}
		case protoCentrifuge:
			for _, line := range bytes.Split(msg, []byte("\n")) {
				switch {
				case c.pong(line):
				case bytes.HasPrefix(line, []byte(`{"push"`)):
					c.deliver(line)
				case bytes.HasPrefix(line, []byte(`{"id":`)):
					id, rest := parseUint(line[6:])
					c.answer(id, !bytes.Contains(rest, []byte(`"error"`)))
				}
			}
		default:
			switch {
			case bytes.HasPrefix(msg, []byte("e")):
				id, _ := parseUint(msg[1:])
				c.answer(id, true)
			case bytes.HasPrefix(msg, []byte("m")):
				c.deliver(msg)
			}
		}
	}
}

func (c *conn) answer(id uint64, ok bool) {
	select {
	case c.acks <- ack{id, ok}:
	default: // nobody waits (a publish answer to a sender)
	}
}

func (c *conn) deliver(msg []byte) {
	if c.recording == nil || !c.recording.Load() {
		return
	}
	t := now()
	sent, ok := parseT(msg)
	c.mu.Lock()
	c.got++
	c.last = t
	if ok {
		c.lat = append(c.lat, t-sent)
	}
	c.mu.Unlock()
}

// echo sends one request answered with its own data (a Socket.IO event
// with an ack id, a Centrifuge RPC, a hub echo) and waits for the answer.
func (c *conn) echo(payload string, timeout time.Duration) (time.Duration, error) {
	c.wmu.Lock()
	c.id++
	id := c.id
	b := c.wbuf[:0]
	switch c.proto {
	case protoSIO:
		b = append(b, "42"...)
		b = strconv.AppendUint(b, id, 10)
		b = append(b, `["echo",`...)
		b = append(b, payload...)
		b = append(b, ']')
	case protoCentrifuge:
		b = append(b, `{"id":`...)
		b = strconv.AppendUint(b, id, 10)
		b = append(b, `,"rpc":{"method":"echo","data":`...)
		b = append(b, payload...)
		b = append(b, "}}"...)
	default:
		b = append(b, 'e')
		b = strconv.AppendUint(b, id, 10)
		b = append(b, ' ')
		b = append(b, payload...)
	}
	c.wbuf = b
	start := time.Now()
	err := c.ws.WriteMessage(websocket.TextMessage, b)
	c.wmu.Unlock()
	if err != nil {
		return 0, err
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case a := <-c.acks:
			if a.id != id {
				continue
			}
			if !a.ok {
				return 0, errRefused
			}
			return time.Since(start), nil
		case <-c.done:
			return 0, errClosed
		case <-timer.C:
			return 0, errTimeout
		}
	}
}

// broadcast asks the server to send {"t":now,"p":pad} to the room's members.
func (c *conn) broadcast(room, pad string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b := c.wbuf[:0]
	switch c.proto {
	case protoSIO:
		b = append(b, `42["bcast",`...)
		b = strconv.AppendQuote(b, room)
		b = append(b, ',')
	case protoCentrifuge:
		c.id++
		b = append(b, `{"id":`...)
		b = strconv.AppendUint(b, c.id, 10)
		b = append(b, `,"publish":{"channel":`...)
		b = strconv.AppendQuote(b, room)
		b = append(b, `,"data":`...)
	default:
		b = append(b, 'b')
		b = append(b, room...)
		b = append(b, ' ')
	}
	b = append(b, `{"t":`...)
	b = strconv.AppendInt(b, now(), 10)
	b = append(b, `,"p":"`...)
	b = append(b, pad...)
	b = append(b, `"}`...)
	switch c.proto {
	case protoSIO:
		b = append(b, ']')
	case protoCentrifuge:
		b = append(b, "}}"...)
	}
	c.wbuf = b
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

// close sends a close frame and closes the TCP connection.
func (c *conn) close() {
	c.wmu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.wmu.Unlock()
	_ = c.ws.Close()
}

// take returns what the connection recorded and resets it.
func (c *conn) take() (lat []int64, got, last int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	lat, got, last = c.lat, c.got, c.last
	c.lat, c.got, c.last = nil, 0, 0
	return lat, got, last
}

func parseUint(b []byte) (uint64, []byte) {
	var n uint64
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		n = n*10 + uint64(b[i]-'0')
	}
	return n, b[i:]
}

// parseT finds the "t": timestamp in a message.
func parseT(msg []byte) (int64, bool) {
	i := bytes.Index(msg, []byte(`"t":`))
	if i < 0 {
		return 0, false
	}
	n, _ := parseUint(msg[i+4:])
	return int64(n), true
}
