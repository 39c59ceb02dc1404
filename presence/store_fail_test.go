package presence_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/presence"
)

var errStore = errors.New("store down")

// failingStore is a memory store that fails every call while fail is set.
type failingStore struct {
	*presence.MemoryStore
	fail atomic.Bool
}

func (s *failingStore) err() error {
	if s.fail.Load() {
		return errStore
	}
	return nil
}

func (s *failingStore) Put(ctx context.Context, topic, key string, m presence.Meta) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.MemoryStore.Put(ctx, topic, key, m)
}

func (s *failingStore) Remove(ctx context.Context, topic, key, connID string, at time.Time, hold bool) (bool, error) {
	if err := s.err(); err != nil {
		return false, err
	}
	return s.MemoryStore.Remove(ctx, topic, key, connID, at, hold)
}

func (s *failingStore) Release(ctx context.Context, topic, key, connID string, leftAt time.Time) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.MemoryStore.Release(ctx, topic, key, connID, leftAt)
}

func (s *failingStore) Get(ctx context.Context, topic, key string) ([]presence.Meta, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.MemoryStore.Get(ctx, topic, key)
}

func (s *failingStore) List(ctx context.Context, topic string) ([]presence.Member, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.MemoryStore.List(ctx, topic)
}

func (s *failingStore) Count(ctx context.Context, topic string) (int, error) {
	if err := s.err(); err != nil {
		return 0, err
	}
	return s.MemoryStore.Count(ctx, topic)
}

func (s *failingStore) Topics(ctx context.Context, key string) ([]string, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.MemoryStore.Topics(ctx, key)
}

func (s *failingStore) LastSeen(ctx context.Context, key string) (time.Time, bool, error) {
	if err := s.err(); err != nil {
		return time.Time{}, false, err
	}
	return s.MemoryStore.LastSeen(ctx, key)
}

func (s *failingStore) Heartbeat(ctx context.Context, node string, now time.Time, ttl time.Duration) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.MemoryStore.Heartbeat(ctx, node, now, ttl)
}

func (s *failingStore) Watch(ctx context.Context, topic string, fn func(presence.Diff)) (func(), error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.MemoryStore.Watch(ctx, topic, fn)
}

func TestSubscribeErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := &failingStore{MemoryStore: presence.NewMemoryStore()}
	var logs syncBuffer
	tr, _ := newTracker(t, presence.WithStore(store),
		presence.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	store.fail.Store(true)
	cancel, err := tr.SubscribeContext(ctx, "room", func(presence.Diff) { t.Error("subscribed") })
	require.ErrorIs(t, err, errStore)
	cancel()
	tr.Subscribe("room", func(presence.Diff) { t.Error("subscribed") })()
	assert.Contains(t, logs.String(), "presence: subscribe")
	store.fail.Store(false)
	require.NoError(t, tr.Track(ctx, "room", "ann", presence.Meta{ConnID: "a"}))

	var got []string
	cancel, err = tr.SubscribeContext(ctx, "room", func(d presence.Diff) { got = append(got, render(d)) })
	require.NoError(t, err)
	defer cancel()
	require.NoError(t, tr.Untrack(ctx, "room", "ann", "a"))
	assert.Equal(t, []string{"leave ann [a] @0s"}, got)

	require.NoError(t, tr.Close())
	_, err = tr.SubscribeContext(ctx, "room", func(presence.Diff) {})
	assert.ErrorIs(t, err, presence.ErrClosed)
}

func TestStoreErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := &failingStore{MemoryStore: presence.NewMemoryStore()}
	var logs syncBuffer
	tr, clock := newTracker(t, presence.WithStore(store), presence.WithLeaveDelay(time.Second),
		presence.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	require.NoError(t, tr.Track(ctx, "room", "ann", presence.Meta{ConnID: "a"}))
	require.NoError(t, tr.Untrack(ctx, "room", "ann", "a"))
	store.fail.Store(true)

	for i, err := range []error{
		tr.Track(ctx, "room", "ann", presence.Meta{ConnID: "a"}),
		tr.Untrack(ctx, "room", "ann", "a"),
		tr.UntrackConn(ctx, "ann", "a"),
		tr.Update(ctx, "room", "ann", "a", func(*presence.Meta) {}),
		tr.UpdateConn(ctx, "ann", "a", func(*presence.Meta) {}),
	} {
		assert.ErrorIs(t, err, errStore, "call %d", i)
	}
	_, err := tr.List(ctx, "room")
	assert.ErrorIs(t, err, errStore)
	_, _, err = tr.Get(ctx, "room", "ann")
	assert.ErrorIs(t, err, errStore)
	_, err = tr.Topics(ctx, "ann")
	assert.ErrorIs(t, err, errStore)
	_, err = tr.Count(ctx, "room")
	assert.ErrorIs(t, err, errStore)
	_, _, err = tr.LastSeen(ctx, "ann")
	assert.ErrorIs(t, err, errStore)

	clock.Advance(5 * time.Second) // the release and the heartbeat fail: logged
	assert.Contains(t, logs.String(), "presence: release")
	assert.Contains(t, logs.String(), "presence: heartbeat")
	store.fail.Store(false)
	assert.Equal(t, "ann [a]", list(t, tr, "room"), "held until the release succeeds")
	clock.Advance(5 * time.Second)
	assert.Empty(t, list(t, tr, "room"), "released on the next try")
}

// A node expired while alive (its heartbeats failed) cannot track until it
// heartbeats again, which tells it to track its connections again.
func TestExpiredNodeHeartbeatsAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := &failingStore{MemoryStore: presence.NewMemoryStore()}
	var logs syncBuffer
	tr, clock := newTracker(t, presence.WithStore(store),
		presence.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	rec := record(t, tr, "room")
	require.NoError(t, tr.Track(ctx, "room", "ann", presence.Meta{ConnID: "a"}))

	store.fail.Store(true) // heartbeats fail; ExpireNodes works
	clock.Advance(presence.DefaultHeartbeatTTL + presence.DefaultHeartbeatInterval)
	store.fail.Store(false)
	assert.Equal(t, []string{"join ann [a]", "leave ann [a] @0s"}, rec.take(), "expired")
	err := tr.Track(ctx, "room", "ann", presence.Meta{ConnID: "a"})
	require.ErrorIs(t, err, presence.ErrNodeExpired, "until it heartbeats")
	assert.Empty(t, list(t, tr, "room"))

	clock.Advance(presence.DefaultHeartbeatInterval)
	assert.Contains(t, logs.String(), "presence: node expired")
	require.NoError(t, tr.Track(ctx, "room", "ann", presence.Meta{ConnID: "a"}), "tracked again")
	assert.Equal(t, "ann [a]", list(t, tr, "room"))
	clock.Advance(presence.DefaultHeartbeatTTL)
	assert.Equal(t, "ann [a]", list(t, tr, "room"), "alive")
}
