package websocket

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recordConn is a net.Conn that records writes and deadlines.
type recordConn struct {
	net.Conn // nil: only the methods below may be called
	writes   []string
	deadline time.Time
	failNext error
}

func (r *recordConn) Write(p []byte) (int, error) {
	if err := r.failNext; err != nil {
		r.failNext = nil
		return 0, err
	}
	r.writes = append(r.writes, string(p))
	return len(p), nil
}

func (r *recordConn) SetWriteDeadline(t time.Time) error {
	r.deadline = t
	return nil
}

func TestBatchConn(t *testing.T) {
	t.Parallel()
	rc := &recordConn{}
	b := newBatchConn(rc)
	d1 := time.Unix(1, 0)

	// Outside a batch, writes and deadlines pass through.
	_, err := b.Write([]byte("handshake"))
	require.NoError(t, err)
	require.NoError(t, b.SetWriteDeadline(d1))
	assert.Equal(t, []string{"handshake"}, rc.writes)
	assert.Equal(t, d1, rc.deadline)

	// In a batch they collect until flush, which writes once.
	b.begin()
	for _, s := range []string{"a", "bb", "ccc"} {
		n, err := b.Write([]byte(s))
		require.NoError(t, err)
		assert.Equal(t, len(s), n)
	}
	require.NoError(t, b.SetWriteDeadline(time.Unix(2, 0)))
	assert.Equal(t, []string{"handshake"}, rc.writes, "nothing written before flush")
	assert.Equal(t, d1, rc.deadline, "a frame's deadline is ignored in a batch")
	d3 := time.Unix(3, 0)
	require.NoError(t, b.flush(d3))
	assert.Equal(t, []string{"handshake", "abbccc"}, rc.writes)
	assert.Equal(t, d3, rc.deadline)

	// An empty batch writes nothing.
	b.begin()
	require.NoError(t, b.flush(time.Unix(4, 0)))
	assert.Len(t, rc.writes, 2)

	// A failed flush reports the error, and breaks the stream for good: a
	// frame may be half written.
	b.begin()
	_, _ = b.Write([]byte("lost"))
	rc.failNext = net.ErrClosed
	assert.ErrorIs(t, b.flush(time.Unix(5, 0)), net.ErrClosed)
	b.begin()
	_, err = b.Write([]byte("next"))
	assert.ErrorIs(t, err, net.ErrClosed, "a write in a batch after the failure")
	assert.ErrorIs(t, b.flush(time.Unix(6, 0)), net.ErrClosed, "a flush after the failure")
	_, err = b.Write([]byte("control"))
	assert.ErrorIs(t, err, net.ErrClosed, "a write outside a batch after the failure")
	assert.Len(t, rc.writes, 2)
}

// blockConn is a net.Conn whose writes wait until released, recording what
// each wrote and under which deadline.
type blockConn struct {
	net.Conn               // nil: only the methods below may be called
	started  chan string   // receives each write's data as it begins
	release  chan struct{} // each write waits for a value
	mu       sync.Mutex
	deadline time.Time
	writes   []string
	dls      []time.Time // the deadline of each write
}

func (c *blockConn) Write(p []byte) (int, error) {
	c.started <- string(p)
	<-c.release
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes = append(c.writes, string(p))
	c.dls = append(c.dls, c.deadline)
	return len(p), nil
}

func (c *blockConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	return nil
}

// A control frame written while a flush is stuck on the network returns at
// once; the flushing goroutine writes it after the batch, with the control
// frame's deadline, and its flush returns once both are out.
func TestBatchConnWriteDuringFlush(t *testing.T) {
	t.Parallel()
	bc := &blockConn{started: make(chan string, 4), release: make(chan struct{})}
	b := newBatchConn(bc)
	batchDeadline, controlDeadline := time.Unix(10, 0), time.Unix(20, 0)

	b.begin()
	_, err := b.Write([]byte("batch"))
	require.NoError(t, err)
	flushed := make(chan error, 1)
	go func() { flushed <- b.flush(batchDeadline) }()
	assert.Equal(t, "batch", recvString(t, bc.started), "the flush's write")

	// The flush is blocked in the network write: a control frame from
	// another goroutine must not wait for it.
	wrote := make(chan error, 1)
	go func() {
		if err := b.SetWriteDeadline(controlDeadline); err != nil {
			wrote <- err
			return
		}
		_, err := b.Write([]byte("pong"))
		wrote <- err
	}()
	select {
	case err := <-wrote:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		require.FailNow(t, "a control frame waited for the flush's network write")
	}
	select {
	case err := <-flushed:
		require.FailNow(t, "flush returned before its write", "err %v", err)
	default:
	}

	bc.release <- struct{}{} // the batch
	assert.Equal(t, "pong", recvString(t, bc.started), "the control frame follows")
	bc.release <- struct{}{}
	select {
	case err := <-flushed:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		require.FailNow(t, "flush did not return")
	}
	bc.mu.Lock()
	defer bc.mu.Unlock()
	assert.Equal(t, []string{"batch", "pong"}, bc.writes)
	assert.Equal(t, []time.Time{batchDeadline, controlDeadline}, bc.dls)
}

// A flush that finds another goroutine writing leaves its batch to that
// goroutine, and returns once the batch is written.
func TestBatchConnFlushDuringWrite(t *testing.T) {
	t.Parallel()
	bc := &blockConn{started: make(chan string, 4), release: make(chan struct{})}
	b := newBatchConn(bc)
	controlDeadline, batchDeadline := time.Unix(10, 0), time.Unix(20, 0)
	require.NoError(t, b.SetWriteDeadline(controlDeadline))
	wrote := make(chan error, 1)
	go func() {
		_, err := b.Write([]byte("ping"))
		wrote <- err
	}()
	assert.Equal(t, "ping", recvString(t, bc.started))

	b.begin()
	for _, s := range []string{"a", "b"} {
		_, err := b.Write([]byte(s))
		require.NoError(t, err)
	}
	flushed := make(chan error, 1)
	go func() { flushed <- b.flush(batchDeadline) }()
	bc.release <- struct{}{} // the control frame
	assert.Equal(t, "ab", recvString(t, bc.started), "the batch, in one write")
	bc.release <- struct{}{}
	for _, ch := range []chan error{wrote, flushed} {
		select {
		case err := <-ch:
			require.NoError(t, err)
		case <-time.After(5 * time.Second):
			require.FailNow(t, "a write did not return")
		}
	}
	bc.mu.Lock()
	defer bc.mu.Unlock()
	assert.Equal(t, []string{"ping", "ab"}, bc.writes)
	assert.Equal(t, []time.Time{controlDeadline, batchDeadline}, bc.dls)
}

func recvString(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(5 * time.Second):
		require.FailNow(t, "no write")
		return ""
	}
}

// TestBatchConnKeepsNoBuffer: an idle connection holds no batch buffer,
// whatever the size of its last batch (small ones go back to bufPool).
func TestBatchConnKeepsNoBuffer(t *testing.T) {
	t.Parallel()
	b := newBatchConn(&recordConn{})
	b.begin()
	_, _ = b.Write(make([]byte, maxKeptBuffer+1))
	require.NoError(t, b.flush(time.Time{}))
	assert.Nil(t, b.buf, "a large buffer is released")

	b.begin()
	_, _ = b.Write(make([]byte, 100))
	require.NoError(t, b.flush(time.Time{}))
	assert.Nil(t, b.buf, "a small buffer is released")
}
