package presence_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/presence"
)

// newCluster returns trackers named after names on one memory store and
// one fake clock, with opts.
func newCluster(t *testing.T, names []string, opts ...presence.Option) ([]*presence.Tracker, *presence.FakeClock) {
	t.Helper()
	clock := presence.NewFakeClock(t0)
	store := presence.NewMemoryStore()
	var trs []*presence.Tracker
	for _, name := range names {
		tr := presence.New(append([]presence.Option{presence.WithStore(store), presence.WithClock(clock), presence.WithNode(name)}, opts...)...)
		t.Cleanup(func() { _ = tr.Close() })
		trs = append(trs, tr)
	}
	return trs, clock
}

func TestClusterDiffs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	trs, _ := newCluster(t, []string{"a", "b"})
	a, b := trs[0], trs[1]
	recA, recB := record(t, a, "room"), record(t, b, "room")

	require.NoError(t, a.Track(ctx, "room", "ann", presence.Meta{ConnID: "tab1"}))
	require.NoError(t, b.Track(ctx, "room", "ann", presence.Meta{ConnID: "tab2"}))
	require.NoError(t, b.Track(ctx, "room", "bob", presence.Meta{ConnID: "tab3"}))
	require.NoError(t, a.Update(ctx, "room", "bob", "tab3", func(m *presence.Meta) { m.Status = presence.StatusAway }))
	require.NoError(t, b.Untrack(ctx, "room", "ann", "tab1"), "any node may untrack")
	want := []string{"join ann [tab1]", "update ann [tab1 tab2]", "join bob [tab3]", "update bob [tab3:away]", "update ann [tab2]"}
	assert.Equal(t, want, recA.take())
	assert.Equal(t, want, recB.take())

	m, ok, err := a.Get(ctx, "room", "bob")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "b", m.Metas[0].Node, "the node that tracked it, not the one that updated it")
	assert.Equal(t, "ann [tab2] bob [tab3:away]", list(t, a, "room"))
}

func TestClusterNodeDeath(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	trs, clock := newCluster(t, []string{"a", "b", "c"}, presence.WithHeartbeat(time.Second, 3*time.Second))
	a, b, c := trs[0], trs[1], trs[2]
	rec := record(t, b, "room")
	recOther := record(t, c, "other")

	require.NoError(t, a.Track(ctx, "room", "ann", presence.Meta{ConnID: "a1"}))
	require.NoError(t, b.Track(ctx, "room", "ann", presence.Meta{ConnID: "b1"}))
	require.NoError(t, a.Track(ctx, "room", "bob", presence.Meta{ConnID: "a2"}))
	require.NoError(t, a.Track(ctx, "other", "bob", presence.Meta{ConnID: "a2"}))
	require.NoError(t, c.Track(ctx, "room", "cat", presence.Meta{ConnID: "c1"}))
	rec.take()
	recOther.take()

	clock.Advance(2 * time.Second) // a heartbeats at 1s and 2s
	require.NoError(t, a.Close())  // a crash: nothing untracked
	clock.Advance(3 * time.Second) // a's heartbeat lasts until 5s
	assert.Empty(t, rec.take(), "a is alive until its TTL ends")
	clock.Advance(time.Second)
	assert.Equal(t, []string{"update ann [b1]; leave bob [a2] @2s"}, rec.take(), "one diff for the topic")
	assert.Equal(t, []string{"leave bob [a2] @2s"}, recOther.take())
	assert.Equal(t, "ann [b1] cat [c1]", list(t, b, "room"))
	at, ok, err := c.LastSeen(ctx, "bob")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, t0.Add(2*time.Second), at, "a's last heartbeat")

	clock.Advance(time.Minute)
	assert.Empty(t, rec.take(), "expired once")
	assert.Equal(t, "ann [b1] cat [c1]", list(t, c, "room"))
}

func TestClusterLeaveDelay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	trs, clock := newCluster(t, []string{"a", "b"}, presence.WithLeaveDelay(5*time.Second))
	a, b := trs[0], trs[1]
	rec := record(t, b, "room")

	// A reload that lands on the other node.
	require.NoError(t, a.Track(ctx, "room", "ann", presence.Meta{ConnID: "tab1"}))
	require.NoError(t, a.Untrack(ctx, "room", "ann", "tab1"))
	clock.Advance(time.Second)
	require.NoError(t, b.Track(ctx, "room", "ann", presence.Meta{ConnID: "tab2"}))
	clock.Advance(time.Minute)
	assert.Equal(t, []string{"join ann [tab1]", "update ann [tab2]"}, rec.take())

	// A node dies while holding a user: the user leaves when it expires.
	require.NoError(t, a.Track(ctx, "room", "bob", presence.Meta{ConnID: "tab3"}))
	require.NoError(t, a.Untrack(ctx, "room", "bob", "tab3"))
	require.NoError(t, a.Close())
	clock.Advance(time.Minute)
	assert.Equal(t, []string{"join bob [tab3]", "leave bob [tab3] @1m1s"}, rec.take(), "LastSeen is when the connection left")
	assert.Equal(t, "ann [tab2]", list(t, b, "room"))
}

func TestClusterExpiresStoreNodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := presence.NewFakeClock(t0)
	store := presence.NewMemoryStore()
	require.NoError(t, store.Heartbeat(ctx, "ghost", t0, time.Second))
	require.NoError(t, store.Put(ctx, "room", "ann", presence.Meta{ConnID: "g1", Node: "ghost", Status: "online", JoinedAt: t0}))
	tr := presence.New(presence.WithStore(store), presence.WithClock(clock), presence.WithNode("live"))
	t.Cleanup(func() { _ = tr.Close() })
	n, err := tr.Count(ctx, "room")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	clock.Advance(5 * time.Second)
	n, err = tr.Count(ctx, "room")
	require.NoError(t, err)
	assert.Zero(t, n, "the ghost node's members are gone")

	dead, err := store.ExpireNodes(ctx, t0.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, []string{"live"}, dead, "live stopped heartbeating (its clock stands still)")
}
