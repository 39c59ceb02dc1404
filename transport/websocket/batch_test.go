package websocket

import (
	"net"
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
	b := &batchConn{Conn: rc}
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

	// A failed flush reports the error and leaves no batch behind.
	b.begin()
	_, _ = b.Write([]byte("lost"))
	rc.failNext = net.ErrClosed
	assert.ErrorIs(t, b.flush(time.Unix(5, 0)), net.ErrClosed)
	b.begin()
	_, _ = b.Write([]byte("next"))
	require.NoError(t, b.flush(time.Unix(6, 0)))
	assert.Equal(t, "next", rc.writes[len(rc.writes)-1])
}

func TestBatchConnDropsLargeBuffer(t *testing.T) {
	t.Parallel()
	b := &batchConn{Conn: &recordConn{}}
	b.begin()
	_, _ = b.Write(make([]byte, maxKeptBuffer+1))
	require.NoError(t, b.flush(time.Time{}))
	assert.Nil(t, b.buf, "a buffer over maxKeptBuffer is released")

	b.begin()
	_, _ = b.Write(make([]byte, 100))
	require.NoError(t, b.flush(time.Time{}))
	assert.NotNil(t, b.buf, "a small buffer is kept")
	assert.Empty(t, b.buf)
}
