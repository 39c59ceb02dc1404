package presence_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/presence"
)

// TestSystemClock runs the timers on the system clock, with short
// durations: a leave delay ends, and a closed node expires.
func TestSystemClock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := presence.NewMemoryStore()
	opts := []presence.Option{
		presence.WithStore(store),
		presence.WithLeaveDelay(time.Millisecond),
		presence.WithHeartbeat(time.Millisecond, 5*time.Millisecond),
	}
	a := presence.New(append(opts, presence.WithNode("a"))...)
	b := presence.New(append(opts, presence.WithNode("b"))...)
	t.Cleanup(func() { _ = b.Close() })
	rec := record(t, b, "room")

	require.NoError(t, b.Track(ctx, "room", "ann", presence.Meta{ConnID: "tab1"}))
	require.NoError(t, b.Untrack(ctx, "room", "ann", "tab1"))
	require.Eventually(t, func() bool { return len(rec.all()) == 2 }, 5*time.Second, time.Millisecond, "the leave after the delay")
	_, ok, err := b.LastSeen(ctx, "ann")
	require.NoError(t, err)
	assert.True(t, ok)

	require.NoError(t, a.Track(ctx, "room", "bob", presence.Meta{ConnID: "tab2"}))
	require.NoError(t, a.Close())
	require.Eventually(t, func() bool { return len(rec.all()) == 4 }, 5*time.Second, time.Millisecond, "a's members leave when it expires")
	d := rec.all()
	assert.Contains(t, d[2].Joins, "bob")
	assert.Contains(t, d[3].Leaves, "bob")
}
