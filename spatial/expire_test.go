package spatial_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/spatial"
)

func TestExpire(t *testing.T) {
	t.Parallel()
	x, rec := recorded(spatial.WithMaxAge(time.Minute))
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	set := func(id string, m float64, when time.Time) {
		t.Helper()
		pos := north(m, 0)
		pos.Time = when
		require.NoError(t, x.Set(id, pos))
	}
	set("w", 0, t0.Add(time.Hour)) // fresh
	require.NoError(t, x.Watch("w", 100))
	require.NoError(t, x.AddFence("f", spatial.Fence{Circle: &spatial.Circle{Radius: 1000}}))
	set("old", 10, t0)
	set("newer", 20, t0.Add(30*time.Second))
	require.NoError(t, x.Set("timeless", north(30, 0))) // zero Time: never expires
	rec.take()

	assert.Zero(t, x.Expire(t0.Add(time.Minute)), "exactly the maximum age is not too old")
	assert.Equal(t, 1, x.Expire(t0.Add(time.Minute+time.Nanosecond)))
	evs := rec.take()
	require.NotEmpty(t, evs)
	assert.Equal(t, spatial.Event[string]{Kind: spatial.Expired, Member: "old"}, evs[len(evs)-1], "the expiry comes last")
	assert.ElementsMatch(t, []spatial.Event[string]{leave("w", "old", spatial.CauseRemoved), fenceLeave("old", "f")}, evs[:len(evs)-1])
	_, ok := x.Get("old")
	assert.False(t, ok)

	// A refreshed position does not expire.
	set("newer", 20, t0.Add(2*time.Minute))
	assert.Zero(t, x.Expire(t0.Add(2*time.Minute)))
	assert.Equal(t, 1, x.Expire(t0.Add(time.Hour)), "newer")
	assert.ElementsMatch(t, []spatial.Event[string]{leave("w", "newer", spatial.CauseRemoved), fenceLeave("newer", "f"), {Kind: spatial.Expired, Member: "newer"}}, rec.take())

	// The watcher itself expires: its watch ends, with a Leave for each
	// member inside.
	assert.Equal(t, 1, x.Expire(t0.Add(2*time.Hour)))
	assert.Equal(t, []spatial.Event[string]{leave("w", "timeless", spatial.CauseWatcherRemoved), fenceLeave("w", "f"), {Kind: spatial.Expired, Member: "w"}}, rec.take())
	assert.Equal(t, 1, x.Len(), "timeless stays")
	require.NoError(t, x.Close())
}

func TestExpireWithoutMaxAge(t *testing.T) {
	t.Parallel()
	x := spatial.New[string]()
	require.NoError(t, x.Set("a", spatial.Position{Time: time.Unix(0, 1)}))
	assert.Zero(t, x.Expire(time.Now()))
	assert.Equal(t, 1, x.Len())
	require.NoError(t, x.Close())
	require.NoError(t, x.Close(), "idempotent")
}

func TestExpiryTimer(t *testing.T) {
	t.Parallel()
	x := spatial.New[string](spatial.WithMaxAge(time.Nanosecond), spatial.WithExpiryInterval(time.Millisecond))
	t.Cleanup(func() { _ = x.Close() })
	require.NoError(t, x.Set("a", spatial.Position{Time: time.Unix(1, 0)}))
	require.Eventually(t, func() bool { return x.Len() == 0 }, 10*time.Second, time.Millisecond)
	require.NoError(t, x.Close())
}

func TestExpiryOptionsPanic(t *testing.T) {
	t.Parallel()
	assert.Panics(t, func() { spatial.New[string](spatial.WithMaxAge(-1)) })
	assert.Panics(t, func() { spatial.New[string](spatial.WithExpiryInterval(-1)) })
	assert.Panics(t, func() { spatial.New[string](spatial.WithExpiryInterval(time.Second)) }, "no max age")
}
