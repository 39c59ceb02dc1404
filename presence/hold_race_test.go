package presence_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/presence"
)

// hookStore is a memory store that calls afterPut, once set, after each Put.
type hookStore struct {
	*presence.MemoryStore
	afterPut atomic.Pointer[func(topic, key string, m presence.Meta)]
}

func (s *hookStore) Put(ctx context.Context, topic, key string, m presence.Meta) error {
	err := s.MemoryStore.Put(ctx, topic, key, m)
	if f := s.afterPut.Load(); f != nil {
		(*f)(topic, key, m)
	}
	return err
}

// A Untrack that holds the connection a Track just added, before that Track
// returned, must not lose its leave delay: the user leaves when it ends.
func TestTrackDoesNotCancelNewerHold(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := &hookStore{MemoryStore: presence.NewMemoryStore()}
	tr, clock := newTracker(t, presence.WithStore(store), presence.WithLeaveDelay(time.Second))
	rec := record(t, tr, "room")

	require.NoError(t, tr.Track(ctx, "room", "ann", presence.Meta{ConnID: "c1"}))
	require.NoError(t, tr.Untrack(ctx, "room", "ann", "c1")) // held since 0s
	clock.Advance(100 * time.Millisecond)

	hook := func(topic, key string, m presence.Meta) {
		store.afterPut.Store(nil)
		require.NoError(t, tr.Untrack(ctx, topic, key, m.ConnID)) // held since 100ms
	}
	store.afterPut.Store(&hook)
	require.NoError(t, tr.Track(ctx, "room", "ann", presence.Meta{ConnID: "c2"}))
	assert.Equal(t, "ann [c2]", list(t, tr, "room"), "held")

	clock.Advance(time.Second)
	n, err := tr.Count(ctx, "room")
	require.NoError(t, err)
	assert.Zero(t, n, "no ghost member")
	assert.Equal(t, []string{"join ann [c1]", "update ann [c2]", "leave ann [c2] @100ms"}, rec.take())
}

// A late hold never stops the timer of another one.
func TestOlderHoldDoesNotStopNewer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr, clock := newTracker(t, presence.WithLeaveDelay(time.Second))
	rec := record(t, tr, "room")
	for i, conn := range []string{"c1", "c2", "c3"} {
		require.NoError(t, tr.Track(ctx, "room", "ann", presence.Meta{ConnID: conn}))
		require.NoError(t, tr.Untrack(ctx, "room", "ann", conn), "hold %d", i)
		clock.Advance(300 * time.Millisecond)
	}
	clock.Advance(time.Second)
	n, err := tr.Count(ctx, "room")
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Equal(t, []string{"join ann [c1]", "update ann [c2]", "update ann [c3]", "leave ann [c3] @600ms"}, rec.take())
}
