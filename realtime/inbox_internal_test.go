package realtime

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A full inbox refuses events, in count and in bytes, but not the server's
// own jobs; what was queued runs in order.
func TestInboxBounded(t *testing.T) {
	t.Parallel()
	q := inbox{srv: &Server{}}
	release := make(chan struct{})
	started := make(chan struct{})
	var ran []int
	require.True(t, q.push(func() { close(started); <-release }, 1))
	<-started // taken: the inbox holds nothing
	for i := range maxInbox {
		require.True(t, q.push(func() { ran = append(ran, i) }, 1), "job %d", i)
	}
	assert.False(t, q.push(func() { ran = append(ran, -1) }, 1), "full: refused")
	q.enqueue(func() { ran = append(ran, maxInbox) }) // a close, say
	close(release)
	require.NoError(t, q.srv.active.wait(context.Background()))
	require.Len(t, ran, maxInbox+1)
	for i, v := range ran {
		require.Equal(t, i, v, "in order, the server's job last")
	}

	release = make(chan struct{})
	started = make(chan struct{})
	require.True(t, q.push(func() { close(started); <-release }, 1))
	<-started // taken: the inbox holds nothing
	require.True(t, q.push(func() {}, maxInboxBytes*2), "an event alone is taken whatever its size")
	assert.False(t, q.push(func() {}, 1), "over the byte bound")
	close(release)
	require.NoError(t, q.srv.active.wait(context.Background()))
}

// A panic in a job is logged and the inbox goes on.
func TestInboxRecovers(t *testing.T) {
	t.Parallel()
	q := inbox{srv: New()}
	ran := false
	q.enqueue(func() { panic("a plug-in's bug") })
	q.enqueue(func() { ran = true })
	require.NoError(t, q.srv.active.wait(context.Background()))
	assert.True(t, ran)
}

// Shutdown's wait ends with ctx if a handler never returns.
func TestActivityWaitEndsWithContext(t *testing.T) {
	t.Parallel()
	var a activity
	a.add()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, a.wait(ctx), context.Canceled)
	a.done()
	assert.NoError(t, a.wait(context.Background()))
}
