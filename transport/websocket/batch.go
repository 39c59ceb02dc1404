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
// network connection, so that the writer can coalesce frames.
type hijacker struct {
	http.ResponseWriter
	conn *batchConn
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = &batchConn{Conn: nc}
	return h.conn, brw, nil
}

// maxKeptBuffer is the largest batch buffer kept between flushes.
const maxKeptBuffer = 64 << 10

// batchConn is a net.Conn whose writes, between begin and flush, collect in
// a buffer and reach the network in one write. Outside a batch, writes pass
// straight through (the handshake response, control frames).
type batchConn struct {
	net.Conn
	mu       sync.Mutex
	batching bool
	buf      []byte
}

func (b *batchConn) begin() {
	b.mu.Lock()
	b.batching = true
	b.mu.Unlock()
}

func (b *batchConn) flush(deadline time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.batching = false
	if len(b.buf) == 0 {
		return nil
	}
	_ = b.Conn.SetWriteDeadline(deadline)
	_, err := b.Conn.Write(b.buf)
	if cap(b.buf) > maxKeptBuffer {
		b.buf = nil
	} else {
		b.buf = b.buf[:0]
	}
	return err
}

func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.batching {
		b.buf = append(b.buf, p...)
		return len(p), nil
	}
	return b.Conn.Write(p)
}

func (b *batchConn) SetWriteDeadline(t time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.batching {
		return nil // flush sets the batch's deadline
	}
	return b.Conn.SetWriteDeadline(t)
}
