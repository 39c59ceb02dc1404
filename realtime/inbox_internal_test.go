package realtime

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A full inbox makes its pusher wait for room, or give up when the
// connection closes; what was queued runs in order.
func TestInboxBounded(t *testing.T) {
	t.Parallel()
	q := inbox{srv: &Server{}}
	release := make(chan struct{})
	var ran []int
	q.push(func() { <-release }, nil)
	for i := range maxInbox {
		require.True(t, q.push(func() { ran = append(ran, i) }, nil), "job %d", i)
	}
	done := make(chan struct{})
	pushed := make(chan bool)
	go func() { pushed <- q.push(func() { ran = append(ran, -1) }, done) }()
	select {
	case <-pushed:
		t.Fatal("a push into a full inbox returned before there was room")
	case <-time.After(20 * time.Millisecond):
	}
	close(done)
	assert.False(t, <-pushed, "given up: the connection closed")

	go func() { pushed <- q.push(func() { ran = append(ran, maxInbox) }, nil) }()
	close(release)
	require.True(t, <-pushed)
	q.srv.running.Wait()
	require.Len(t, ran, maxInbox+1)
	for i, v := range ran {
		assert.Equal(t, i, v)
	}
}

// runNow runs at once on an idle inbox, and after the queue otherwise.
func TestInboxRunNow(t *testing.T) {
	t.Parallel()
	q := inbox{srv: &Server{}}
	ran := false
	assert.True(t, q.runNow(func() { ran = true }))
	assert.True(t, ran)

	release := make(chan struct{})
	var order []string
	q.push(func() { <-release; order = append(order, "event") }, nil)
	assert.False(t, q.runNow(func() { order = append(order, "close") }))
	close(release)
	q.srv.running.Wait()
	assert.Equal(t, []string{"event", "close"}, order)
}
