package presence_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/presence"
)

// syncLog records, in delivery order, the diffs of a topic and the Lists
// taken by Sync funcs.
type syncLog struct {
	mu     sync.Mutex
	events []syncEvent
}

type syncEvent struct {
	diff   *presence.Diff
	marker string // the List of a Sync func, rendered
}

// TestSyncOrdersWithDiffs checks the guarantee realtime relies on: the
// List taken in a Sync func is never older than the diffs delivered before
// it. Precisely, for each Sync, with S the state replayed from the diffs
// delivered before its func ran and D1, D2... the diffs after, its List
// equals S with D1..Dk applied, for some k >= 0 (it may include changes
// whose diffs were queued after the marker), so a client that applies the
// List and then the following diffs ends in the right state.
func TestSyncOrdersWithDiffs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr, _ := newTracker(t)
	log := &syncLog{}
	cancel := tr.Subscribe("room", func(d presence.Diff) {
		log.mu.Lock()
		log.events = append(log.events, syncEvent{diff: &d})
		log.mu.Unlock()
	})
	t.Cleanup(cancel)

	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn := fmt.Sprintf("g%d", g)
			for i := range 200 {
				key := fmt.Sprintf("k%d", (i+g)%3)
				if i%3 == 2 {
					assert.NoError(t, tr.Untrack(ctx, "room", key, conn))
				} else {
					assert.NoError(t, tr.Track(ctx, "room", key, presence.Meta{ConnID: conn, Status: fmt.Sprintf("s%d", i%2)}))
				}
			}
		}()
	}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				tr.Sync("room", func() {
					l, err := tr.List(ctx, "room")
					assert.NoError(t, err)
					log.mu.Lock()
					log.events = append(log.events, syncEvent{marker: members(l)})
					log.mu.Unlock()
				})
			}
		}()
	}
	wg.Wait()

	log.mu.Lock()
	events := log.events
	log.mu.Unlock()
	markers := 0
	before := state{}
	for p, e := range events {
		if e.diff != nil {
			require.NoError(t, before.apply(*e.diff), "diff %d", p)
			continue
		}
		markers++
		s := clone(before)
		found := members(s.list()) == e.marker
		for q := p + 1; !found && q < len(events); q++ {
			if events[q].diff == nil {
				continue
			}
			require.NoError(t, s.apply(*events[q].diff), "diff %d after marker %d", q, p)
			found = members(s.list()) == e.marker
		}
		require.True(t, found, "marker %d: List %q is no state reached from the diffs before it", p, e.marker)
	}
	assert.Equal(t, 200, markers)
}

func clone(s state) state {
	c := make(state, len(s))
	for k, ms := range s {
		c[k] = ms
	}
	return c
}

// A Sync func called from a subscriber runs after the diff being delivered
// and before the next one; on a topic nobody watches it runs at once.
func TestSyncFromSubscriber(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr, _ := newTracker(t)

	ran := false
	tr.Sync("nobody", func() { ran = true })
	assert.True(t, ran, "unwatched: at once")

	var mu sync.Mutex
	var got []string
	add := func(s string) { mu.Lock(); got = append(got, s); mu.Unlock() }
	cancel := tr.Subscribe("room", func(d presence.Diff) {
		add(render(d))
		if _, ok := d.Joins["ann"]; ok {
			tr.Sync("room", func() { add("sync " + list(t, tr, "room")) })
			// Queued after the sync marker: delivered after it.
			assert.NoError(t, tr.Track(ctx, "room", "bob", presence.Meta{ConnID: "b"}))
		}
		add("end " + render(d))
	})
	t.Cleanup(cancel)
	require.NoError(t, tr.Track(ctx, "room", "ann", presence.Meta{ConnID: "a"}))
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{
		"join ann [a]", "end join ann [a]",
		"sync ann [a] bob [b]",
		"join bob [b]", "end join bob [b]",
	}, got)
}

// A panic in a Sync func is recovered and does not stop the diffs.
func TestSyncPanic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr, _ := newTracker(t)
	rec := record(t, tr, "room")
	tr.Sync("room", func() { panic("boom") })
	require.NoError(t, tr.Track(ctx, "room", "ann", presence.Meta{ConnID: "a"}))
	assert.Equal(t, []string{"join ann [a]"}, rec.take())
	require.NoError(t, tr.Close())
	ran := false
	tr.Sync("room", func() { ran = true })
	assert.True(t, ran, "closed: at once")
}

// A Sync func runs after the diffs queued before Sync (here, one queued
// while another goroutine is delivering) and before the diffs queued after
// (here, one its own Track makes).
func TestSyncOrderDeterministic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr, _ := newTracker(t)
	var mu sync.Mutex
	var got []string
	add := func(s string) { mu.Lock(); got = append(got, s); mu.Unlock() }
	inSub, release := make(chan struct{}), make(chan struct{})
	cancel := tr.Subscribe("room", func(d presence.Diff) {
		add(render(d))
		if _, ok := d.Joins["ann"]; ok {
			close(inSub)
			<-release
		}
	})
	t.Cleanup(cancel)

	done := make(chan struct{})
	go func() {
		defer close(done)
		assert.NoError(t, tr.Track(ctx, "room", "ann", presence.Meta{ConnID: "a"})) // delivers, blocked
	}()
	<-inSub
	require.NoError(t, tr.Track(ctx, "room", "bob", presence.Meta{ConnID: "b"})) // queued
	tr.Sync("room", func() {
		l := list(t, tr, "room")
		assert.NoError(t, tr.Track(ctx, "room", "cid", presence.Meta{ConnID: "c"})) // queued after
		add("sync " + l)
	})
	close(release)
	<-done
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"join ann [a]", "join bob [b]", "sync ann [a] bob [b]", "join cid [c]"}, got)

	// The queue idle: fn runs at once, still before the diff it causes.
	got = nil
	mu.Unlock()
	tr.Sync("room", func() {
		l := list(t, tr, "room")
		assert.NoError(t, tr.Untrack(ctx, "room", "cid", "c"))
		add("sync " + l)
	})
	mu.Lock()
	assert.Equal(t, []string{"sync ann [a] bob [b] cid [c]", "leave cid [c] @0s"}, got)
}
