package websocket

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

var ctxBackground = context.Background()

// hijacker hands gorilla/websocket a batchConn in place of the hijacked
// network connection, so that the writer can coalesce frames, and a reader
// of readBufferSize bytes over it in place of net/http's (gorilla reads
// through it: the upgrader has no ReadBufferSize), so that the read loop
// can tell when gorilla holds no unread byte, and drop the buffer.
type hijacker struct {
	http.ResponseWriter
	conn *batchConn
	br   *bufio.Reader // nil if the client sent data before the handshake's end (gorilla refuses it)
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	limitUnsent(nc)
	h.conn = newBatchConn(nc)
	if brw.Reader.Buffered() > 0 {
		return h.conn, brw, nil
	}
	h.br = bufio.NewReaderSize(h.conn, readBufferSize)
	return h.conn, bufio.NewReadWriter(h.br, brw.Writer), nil
}

// maxKeptBuffer is the largest batch buffer returned to bufPool.
const maxKeptBuffer = 64 << 10

// bufPool holds batch buffers (*[]byte) between batches: a connection holds
// one only while it has something to write, none while idle.
var bufPool sync.Pool

func getBuf() []byte {
	if p, ok := bufPool.Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return make([]byte, 0, 4096)
}

func putBuf(b []byte) {
	if cap(b) > 0 && cap(b) <= maxKeptBuffer {
		b = b[:0]
		bufPool.Put(&b)
	}
}

// batchConn is a net.Conn whose writes, between begin and flush, collect in
// a buffer and reach the network in one write. Outside a batch, a write
// goes straight to the network (the handshake response, control frames).
//
// No lock is held across a network write, so that the read loop's control
// frames (gorilla answers pings and close frames from it) never wait for a
// batch being written. Whoever writes to the network holds the writer role
// (writing): a goroutine that is not batching and finds no writer takes the
// role, writes, and goes on writing what others appended meanwhile until
// nothing is left. Everyone else appends to buf and returns at once, except
// flush, which waits until its batch is written so that the writer goroutine
// still feels a slow network.
type batchConn struct {
	net.Conn
	mu       sync.Mutex
	progress sync.Cond // L is &mu; broadcast when written, err or writing change
	batching bool      // between begin and flush: writes collect in buf
	writing  bool      // a goroutine holds the writer role
	buf      []byte    // what is to be written next; nil when empty (back in bufPool)
	deadline time.Time // of the next write: the latest given to flush or SetWriteDeadline
	queued   int64     // bytes ever appended to buf
	written  int64     // bytes of buf written or dropped
	err      error     // the first write error: the stream is broken, later writes fail

	// Reads: the session's read deadline (gorilla's SetReadDeadline), and
	// whether the read loop's idle wait has its own deadline set instead.
	rmu          sync.Mutex
	readDeadline time.Time
	idling       bool
	idleUntil    time.Time // the idle wait's deadline, while idling
}

// SetReadDeadline sets the session's read deadline. During the read loop's
// idle wait it is recorded, set when the wait ends, and ends the wait if it
// comes first.
func (b *batchConn) SetReadDeadline(t time.Time) error {
	b.rmu.Lock()
	defer b.rmu.Unlock()
	b.readDeadline = t
	switch {
	case !b.idling:
		return b.Conn.SetReadDeadline(t)
	case !t.IsZero() && t.Before(b.idleUntil):
		return b.Conn.SetReadDeadline(t)
	}
	return nil
}

// beginIdle sets the deadline t for the read loop's idle wait, unless the
// session has a read deadline (it is closing): it reports whether it did.
func (b *batchConn) beginIdle(t time.Time) bool {
	b.rmu.Lock()
	defer b.rmu.Unlock()
	if !b.readDeadline.IsZero() {
		return false
	}
	b.idling, b.idleUntil = true, t
	_ = b.Conn.SetReadDeadline(t)
	return true
}

// closing reports whether the session has set a read deadline: it is
// closing, and its read loop waits for the client's answer.
func (b *batchConn) closing() bool {
	b.rmu.Lock()
	defer b.rmu.Unlock()
	return !b.readDeadline.IsZero()
}

// endIdle ends the idle wait, setting the session's read deadline again.
// It reports whether the session has one (it is closing).
func (b *batchConn) endIdle() (closing bool) {
	b.rmu.Lock()
	defer b.rmu.Unlock()
	b.idling = false
	_ = b.Conn.SetReadDeadline(b.readDeadline)
	return !b.readDeadline.IsZero()
}

func newBatchConn(nc net.Conn) *batchConn {
	b := &batchConn{Conn: nc}
	b.progress.L = &b.mu
	return b
}

func (b *batchConn) begin() {
	b.mu.Lock()
	b.batching = true
	b.mu.Unlock()
}

// flush ends the batch and writes it, with the given deadline, in one
// write. If another goroutine holds the writer role, that goroutine writes
// the batch and flush waits until it is written.
func (b *batchConn) flush(deadline time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.batching = false
	b.deadline = deadline
	if b.writing {
		for target := b.queued; b.written < target && b.err == nil; {
			b.progress.Wait()
		}
		return b.err
	}
	if b.err == nil && len(b.buf) > 0 {
		b.writing = true
		b.drain()
	}
	return b.err
}

func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	if b.batching || b.writing {
		if b.buf == nil {
			b.buf = getBuf()
		}
		b.buf = append(b.buf, p...)
		b.queued += int64(len(p))
		return len(p), nil
	}
	// Not batching and no writer: buf is empty, p goes first.
	b.writing = true
	n, err := b.write(p)
	b.drain()
	return n, err
}

// SetWriteDeadline sets the deadline of the next write to the network. In
// a batch it is ignored: flush gives the batch's deadline.
func (b *batchConn) SetWriteDeadline(t time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.batching:
		return nil
	case b.writing: // for the writer's next write: leave the current one alone
		b.deadline = t
		return nil
	default:
		b.deadline = t
		return b.Conn.SetWriteDeadline(t)
	}
}

// drain writes what others appended to buf until nothing is left, a batch
// has begun (its flush writes it whole) or a write fails. The caller holds
// mu and the writer role, which drain gives up.
func (b *batchConn) drain() {
	for len(b.buf) > 0 && !b.batching && b.err == nil {
		chunk := b.buf
		b.buf = nil // what others append meanwhile goes to another buffer
		_, _ = b.write(chunk)
		b.written += int64(len(chunk))
		putBuf(chunk)
		b.progress.Broadcast()
	}
	if b.err != nil {
		putBuf(b.buf)
		b.buf = nil
		b.written = b.queued
	}
	b.writing = false
	b.progress.Broadcast()
}

// write writes p to the network with the current deadline, without holding
// mu, which the caller holds on entry and exit. A failure breaks the stream
// for good: a frame may be half written.
func (b *batchConn) write(p []byte) (int, error) {
	deadline := b.deadline
	b.mu.Unlock()
	err := b.Conn.SetWriteDeadline(deadline)
	n := 0
	if err == nil {
		n, err = b.Conn.Write(p)
	}
	b.mu.Lock()
	if err != nil && b.err == nil {
		b.err = err
	}
	return n, err
}
