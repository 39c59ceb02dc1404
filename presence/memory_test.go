package presence_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/presence"
)

func TestMemoryStoreHold(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := presence.NewMemoryStore()
	var got []string
	cancel, err := s.Watch(ctx, "room", func(d presence.Diff) { got = append(got, render(d)) })
	require.NoError(t, err)
	defer cancel()
	meta := func(conn string) presence.Meta {
		return presence.Meta{ConnID: conn, Status: presence.StatusOnline, JoinedAt: t0, Node: "n"}
	}
	left := t0.Add(time.Second)

	require.NoError(t, s.Put(ctx, "room", "ann", meta("tab1")))
	held, err := s.Remove(ctx, "room", "ann", "tab1", left, true)
	require.NoError(t, err)
	assert.True(t, held)
	ms, err := s.Get(ctx, "room", "ann")
	require.NoError(t, err)
	assert.Equal(t, "[tab1]", metas(ms), "a held meta is listed")
	held, err = s.Remove(ctx, "room", "ann", "tab1", left.Add(time.Second), true)
	require.NoError(t, err)
	assert.False(t, held, "already held")
	require.ErrorIs(t, s.Update(ctx, "room", "ann", meta("tab1")), presence.ErrNotTracked)
	require.NoError(t, s.Release(ctx, "room", "ann", "tab1", left.Add(time.Second)), "not held since then")
	require.NoError(t, s.Release(ctx, "room", "ann", "tab2", left), "not that connection")
	n, err := s.Count(ctx, "room")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	require.NoError(t, s.Release(ctx, "room", "ann", "tab1", left))
	assert.Equal(t, []string{"join ann [tab1]", "leave ann [tab1] @1s"}, got)

	got = nil
	require.NoError(t, s.Put(ctx, "room", "bob", meta("tab1")))
	_, err = s.Remove(ctx, "room", "bob", "tab1", left, true)
	require.NoError(t, err)
	require.NoError(t, s.Put(ctx, "room", "bob", meta("tab2")))
	require.NoError(t, s.Release(ctx, "room", "bob", "tab1", left), "dropped by the Put")
	assert.Equal(t, []string{"join bob [tab1]", "update bob [tab2]"}, got)
	_, ok, err := s.LastSeen(ctx, "bob")
	require.NoError(t, err)
	assert.False(t, ok)
}

func TestMemoryStoreWatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := presence.NewMemoryStore()
	m := presence.Meta{ConnID: "c", Status: presence.StatusOnline, JoinedAt: t0}
	require.NoError(t, s.Put(ctx, "room", "before", m))

	var got []string
	cancel, err := s.Watch(ctx, "room", func(d presence.Diff) { got = append(got, render(d)) })
	require.NoError(t, err)
	other := 0
	cancelOther, err := s.Watch(ctx, "other", func(presence.Diff) { other++ })
	require.NoError(t, err)
	defer cancelOther()
	done, stop := context.WithCancel(ctx)
	stop()
	_, err = s.Watch(done, "room", func(presence.Diff) { t.Error("registered") })
	require.ErrorIs(t, err, context.Canceled)
	require.NoError(t, s.Put(ctx, "room", "ann", m))
	require.NoError(t, s.Put(ctx, "room", "ann", m), "no change")
	require.NoError(t, s.Update(ctx, "room", "ann", m), "no change")
	cancel()
	cancel()
	require.NoError(t, s.Put(ctx, "room", "bob", m))
	assert.Equal(t, []string{"join ann [c]"}, got)
	assert.Zero(t, other)
}

func TestMemoryStoreForgetLastSeen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := presence.NewMemoryStore()
	m := presence.Meta{ConnID: "c", Status: presence.StatusOnline, JoinedAt: t0}
	for i, key := range []string{"a", "b", "c"} {
		require.NoError(t, s.Put(ctx, "room", key, m))
		_, err := s.Remove(ctx, "room", key, "c", t0.Add(time.Duration(i)*time.Hour), false)
		require.NoError(t, err)
	}
	require.NoError(t, s.ForgetLastSeen(ctx, t0.Add(time.Hour)))
	for key, want := range map[string]bool{"a": false, "b": true, "c": true} {
		_, ok, err := s.LastSeen(ctx, key)
		require.NoError(t, err)
		assert.Equal(t, want, ok, "last seen of %q", key)
	}
	require.NoError(t, s.ForgetLastSeen(ctx, t0.Add(3*time.Hour)))
	_, ok, err := s.LastSeen(ctx, "c")
	require.NoError(t, err)
	assert.False(t, ok)
}

// Expiring a node copies only the metas of the keys it changes, not those
// of every member (under the shard's write lock).
func TestMemoryStoreExpireCopiesOnlyAffected(t *testing.T) { // not parallel: counts allocations
	ctx := context.Background()
	s := presence.NewMemoryStore()
	meta := func(conn, node string) presence.Meta {
		return presence.Meta{ConnID: conn, Status: presence.StatusOnline, JoinedAt: t0, Node: node}
	}
	for i := range 2000 {
		require.NoError(t, s.Put(ctx, "room", fmt.Sprintf("k%d", i), meta("c", "live")))
	}
	require.NoError(t, s.Put(ctx, "room", "gone", meta("c", "dead")))
	require.NoError(t, s.Heartbeat(ctx, "dead", t0, time.Second))
	require.NoError(t, s.Heartbeat(ctx, "live", t0, time.Hour))

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	dead, err := s.ExpireNodes(ctx, t0.Add(time.Minute))
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	assert.Equal(t, []string{"dead"}, dead)
	assert.Less(t, after.Mallocs-before.Mallocs, uint64(500), "allocations")
	n, err := s.Count(ctx, "room")
	require.NoError(t, err)
	assert.Equal(t, 2000, n)
}

func TestMemoryStoreExpiredNode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := presence.NewMemoryStore()
	m := presence.Meta{ConnID: "c", Status: presence.StatusOnline, JoinedAt: t0, Node: "n"}
	require.NoError(t, s.Heartbeat(ctx, "n", t0, time.Second))
	require.NoError(t, s.Put(ctx, "room", "ann", m))
	dead, err := s.ExpireNodes(ctx, t0.Add(time.Minute))
	require.NoError(t, err)
	assert.Equal(t, []string{"n"}, dead)
	require.ErrorIs(t, s.Put(ctx, "room", "ann", m), presence.ErrNodeExpired)
	require.ErrorIs(t, s.Heartbeat(ctx, "n", t0.Add(time.Minute), time.Second), presence.ErrNodeExpired)
	require.NoError(t, s.Heartbeat(ctx, "n", t0.Add(time.Minute), time.Second), "once")
	require.NoError(t, s.Put(ctx, "room", "ann", m))
	n, err := s.Count(ctx, "room")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}
