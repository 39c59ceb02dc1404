package redis

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/internal/id"
	"github.com/vicinity-go/vicinity/internal/redistest"
	"github.com/vicinity-go/vicinity/presence"
)

// presenceClient returns a Redis client of addr, closed when the test
// ends.
func presenceClient(t *testing.T, addr string) rueidis.Client {
	t.Helper()
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	require.NoError(t, err)
	t.Cleanup(rc.Close)
	return rc
}

// presenceStore returns a presence store on rc with keys of its own,
// closed when the test ends.
func presenceStore(t *testing.T, rc rueidis.Client) *PresenceStore {
	t.Helper()
	s := NewPresenceStore(rc, WithKey("p"+id.New()[:8]))
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func online(conn, node string, at time.Time) presence.Meta {
	return presence.Meta{ConnID: conn, Node: node, JoinedAt: at, Status: presence.StatusOnline}
}

// TestPresenceRevivedNodeKeepsNewMembers: a node claimed as expired whose
// members were not all removed yet (the server that claimed it died or
// timed out midway) heartbeats again. It is told ErrNodeExpired, and
// tracks its connections again: those must stay, whoever expires nodes
// next, even a server that read the nodes being reaped before.
func TestPresenceRevivedNodeKeepsNewMembers(t *testing.T) {
	rs := redistest.Start(t)
	s := presenceStore(t, presenceClient(t, rs.Addr()))
	ctx := context.Background()
	t0 := time.Now()
	m := online("c1", "x", t0)
	require.NoError(t, s.Heartbeat(ctx, "x", t0, time.Second))
	require.NoError(t, s.Put(ctx, "room", "ann", m))
	require.NoError(t, s.Put(ctx, "hall", "ann", m))

	// Another server claims x, whose heartbeat ended, and stops before
	// removing its members.
	t1 := t0.Add(5 * time.Second)
	claimed, err := s.exec(ctx, luaExpire, millis(t1), id.New()).AsStrSlice()
	require.NoError(t, err)
	require.Equal(t, []string{"x"}, claimed)
	require.ErrorIs(t, s.Put(ctx, "room", "bob", online("c2", "x", t1)), presence.ErrNodeExpired, "x is expired: no new member")

	// x heartbeats: its old members go first (last seen at its last
	// heartbeat), then it is told, and tracks its connections again, and
	// a new one.
	require.ErrorIs(t, s.Heartbeat(ctx, "x", t1, time.Minute), presence.ErrNodeExpired)
	seen, ok, err := s.LastSeen(ctx, "ann")
	require.NoError(t, err)
	require.True(t, ok, "ann's members were removed before x was told")
	assert.True(t, seen.Equal(time.Unix(0, t0.UnixNano())), "ann last seen %v, at x's last heartbeat %v", seen, t0)
	require.NoError(t, s.Put(ctx, "room", "ann", m))
	require.NoError(t, s.Put(ctx, "room", "bob", online("c2", "x", t1)))

	// A server that read the nodes being reaped before x was done reaps
	// it now; the next one expires nobody (x is alive until t1+1m).
	require.NoError(t, s.reap(ctx, "x"))
	dead, err := s.ExpireNodes(ctx, t1.Add(time.Second))
	require.NoError(t, err)
	require.Empty(t, dead)
	members, err := s.List(ctx, "room")
	require.NoError(t, err)
	assert.Len(t, members, 2, "x's members, put after it heartbeated again: %v", members)
	require.NoError(t, s.Heartbeat(ctx, "x", t1.Add(time.Second), time.Minute), "x is alive")
	checkPresenceKeys(t, s, []string{"room", "hall"}, []string{"x"}, "after x came back")
}

// TestPresenceWatchRacingLastUnwatch: the last watcher of a topic cancels
// while another Watch of the topic starts; the new watcher gets the
// topic's diffs, whichever of unsubscribing and subscribing came first.
func TestPresenceWatchRacingLastUnwatch(t *testing.T) {
	rs := redistest.Start(t)
	s := presenceStore(t, presenceClient(t, rs.Addr()))
	ctx := context.Background()
	now := time.Now()
	var missed []string
	for i := range 200 {
		topic := "room" + strconv.Itoa(i)
		cancel1, err := s.Watch(ctx, topic, func(presence.Diff) {})
		require.NoError(t, err, "watch %s", topic)
		got := make(chan struct{}, 16)
		var cancel2 func()
		var err2 error
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); cancel1() }()
		go func() {
			defer wg.Done()
			cancel2, err2 = s.Watch(ctx, topic, func(presence.Diff) { got <- struct{}{} })
		}()
		wg.Wait()
		require.NoError(t, err2, "watch %s again", topic)
		require.NoError(t, s.Put(ctx, topic, "ann", online("c"+strconv.Itoa(i), "n", now)))
		select {
		case <-got:
		case <-time.After(time.Second):
			n, err := s.client.Do(ctx, s.client.B().PubsubNumsub().Channel(s.chanPrefix+topic).Build()).AsIntMap()
			require.NoError(t, err)
			missed = append(missed, topic+" (subscribers in Redis: "+strconv.FormatInt(n[s.chanPrefix+topic], 10)+")")
		}
		cancel2()
	}
	assert.Empty(t, missed, "watchers that never got their topic's diff")
}

// TestPresenceTopicsForgotten: nothing is kept of a topic nobody is in
// (the memory store forgets them too): only the change counter and the
// last-seen times stay.
func TestPresenceTopicsForgotten(t *testing.T) {
	rs := redistest.Start(t)
	s := presenceStore(t, presenceClient(t, rs.Addr()))
	ctx := context.Background()
	now := time.Now()
	for i := range 1000 {
		topic := "chat:" + strconv.Itoa(i)
		require.NoError(t, s.Put(ctx, topic, "ann", online("c", "n", now)), "put %s", topic)
		_, err := s.Remove(ctx, topic, "ann", "c", now, false)
		require.NoError(t, err, "remove %s", topic)
	}
	keys, err := s.client.Do(ctx, s.client.B().Keys().Pattern(s.prefix+"*").Build()).AsStrSlice()
	require.NoError(t, err)
	for i, k := range keys {
		keys[i] = strings.TrimPrefix(k, s.prefix)
	}
	slices.Sort(keys)
	assert.Equal(t, []string{"clock", "seen", "seenz"}, keys, "keys left of 1,000 topics nobody is in")
}

// TestPresenceChangeNumbers: the changes of a topic, as Redis publishes
// them, carry the number of the topic's change before them (0 when the
// topic was empty); a watcher applies each that follows what it has
// (reading nothing, even when the topic was emptied and used again),
// drops each it has, and reads the topic again when it missed one, so it
// never loses nor replays a change.
func TestPresenceChangeNumbers(t *testing.T) {
	rs := redistest.Start(t)
	s := presenceStore(t, presenceClient(t, rs.Addr()))
	ctx := context.Background()
	const topic = "room"
	var mu sync.Mutex
	var msgs []topicChange
	key := subKey{channelSub, s.chanPrefix + topic}
	owner := new(int)
	require.True(t, s.sub.ready(ctx), "subscription connection up")
	require.NoError(t, s.sub.add(owner, func(_ string, b []byte) {
		c, err := decodeTopicChange(b)
		assert.NoError(t, err, "decode %q", b)
		mu.Lock()
		msgs = append(msgs, c)
		mu.Unlock()
	}, key))
	t.Cleanup(func() { s.sub.remove(owner, key) })

	start, err := s.snapshot(ctx, topic)
	require.NoError(t, err)
	t0 := time.Unix(1_700_000_000, 0)
	left := t0.Add(time.Second) // the Removes' time: a leave read from Redis is at the read's
	remove := func(key, conn string) {
		_, err := s.Remove(ctx, topic, key, conn, left, false)
		require.NoError(t, err, "remove %s", key)
	}
	require.NoError(t, s.Put(ctx, topic, "ann", online("a1", "n", t0))) // 1 join ann
	remove("ann", "a1")                                                 // 2 leave ann: empty
	require.NoError(t, s.Put(ctx, topic, "bob", online("b1", "n", t0))) // 3 join bob
	require.NoError(t, s.Put(ctx, topic, "cat", online("c1", "n", t0))) // 4 join cat
	remove("bob", "b1")                                                 // 5 leave bob
	remove("cat", "c1")                                                 // 6 leave cat: empty
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(msgs) == 6 }, 5*time.Second, 5*time.Millisecond)
	end, err := s.snapshot(ctx, topic)
	require.NoError(t, err)

	mu.Lock()
	all := slices.Clone(msgs)
	mu.Unlock()
	for i, prev := range []int{0, 1, 0, 3, 4, 5} { // each change's previous, 0 for none
		want := int64(0)
		if prev > 0 {
			want = all[prev-1].seq
		}
		assert.Equal(t, want, all[i].prev, "change %d's previous", i+1)
		if i > 0 {
			assert.Greater(t, all[i].seq, all[i-1].seq, "change %d's number", i+1)
		}
	}
	assert.GreaterOrEqual(t, end.seq, all[5].seq, "a read of an empty topic is after every change")
	n, err := s.client.Do(ctx, s.client.B().Hlen().Key(s.prefix+"last").Build()).AsInt64()
	require.NoError(t, err)
	assert.Zero(t, n, "no number kept of an empty topic")

	tests := []struct {
		name string
		from snapshot // the watcher's first read
		feed []int    // the changes it receives, 1-based
		want []string
	}{
		{"in order", start, []int{1, 2, 3, 4, 5, 6},
			[]string{"join ann", "leave ann @left", "join bob", "join cat", "leave bob @left", "leave cat @left"}},
		{"each twice", start, []int{1, 1, 2, 2, 3, 3, 4, 4, 5, 6, 6},
			[]string{"join ann", "leave ann @left", "join bob", "join cat", "leave bob @left", "leave cat @left"}},
		{"a leave missed", start, []int{1, 3, 4, 5, 6},
			[]string{"join ann", "leave ann @read"}}, // read at 3: empty, as after 6
		{"an empty topic's changes missed", start, []int{3, 4, 5, 6},
			[]string{"join bob", "join cat", "leave bob @left", "leave cat @left"}},
		{"a join missed", start, []int{1, 2, 4, 5, 6},
			[]string{"join ann", "leave ann @left"}}, // read at 4: empty, as after 6
		{"read after them all", end, []int{1, 2, 3, 4, 5, 6}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			w := &watched{topic: topic, synced: true, seq: tt.from.seq, mirror: maps.Clone(tt.from.members)}
			w.ws = []*storeWatcher{{fn: func(d presence.Diff) { got = append(got, renderDiff(d, left)) }}}
			for _, i := range tt.feed {
				s.apply(w, all[i-1])
			}
			assert.Equal(t, tt.want, got, "diffs of changes %v", tt.feed)
			assert.Empty(t, w.mirror, "the watcher's copy, at the end")
		})
	}
}

// renderDiff renders d as "join ann; leave bob @left": a leave at left
// came from its change, one at another time from a read.
func renderDiff(d presence.Diff, left time.Time) string {
	var parts []string
	for k := range d.Joins {
		parts = append(parts, "join "+k)
	}
	for k := range d.Updates {
		parts = append(parts, "update "+k)
	}
	for k, l := range d.Leaves {
		at := "@read"
		if l.LastSeen.Equal(left) {
			at = "@left"
		}
		parts = append(parts, "leave "+k+" "+at)
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

// checkPresenceKeys checks the store's own records against its members
// in topics: P conns (a topic's metas), P last (kept for a topic with
// members only) and P n:<node> (each node's members).
func checkPresenceKeys(t *testing.T, s *PresenceStore, topics, nodes []string, msg string) {
	t.Helper()
	ctx := context.Background()
	want := map[string][]string{}
	for _, tp := range topics {
		m, err := s.client.Do(ctx, s.client.B().Hgetall().Key(s.prefix+"t:"+tp).Build()).AsStrMap()
		require.NoError(t, err)
		conns := 0
		for key, raw := range m {
			metas, _, err := decodeMember([]byte(raw))
			require.NoError(t, err, "member %s of %s", key, tp)
			conns += len(metas)
			for _, x := range metas {
				p := strconv.Itoa(len(tp)) + ":" + tp + key
				if !slices.Contains(want[x.Node], p) {
					want[x.Node] = append(want[x.Node], p)
				}
			}
		}
		n, err := s.client.Do(ctx, s.client.B().Hget().Key(s.prefix+"conns").Field(tp).Build()).AsInt64()
		if rueidis.IsRedisNil(err) {
			err = nil
		}
		require.NoError(t, err)
		require.Equal(t, int64(conns), n, "P conns of %s: %s", tp, msg)
		has, err := s.client.Do(ctx, s.client.B().Hexists().Key(s.prefix+"last").Field(tp).Build()).AsBool()
		require.NoError(t, err)
		require.Equal(t, len(m) > 0, has, "P last of %s: %s", tp, msg)
	}
	for _, n := range nodes {
		got, err := s.client.Do(ctx, s.client.B().Smembers().Key(s.prefix+"n:"+n).Build()).AsStrSlice()
		require.NoError(t, err)
		require.ElementsMatch(t, want[n], got, "P n:%s: %s", n, msg)
	}
}
