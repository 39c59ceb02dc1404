// Package presencetest checks that a [presence.Store] keeps the contract
// its documentation states, for the memory store and for stores on a
// broker alike: run [TestStore] from a test of your store.
//
// It expects diffs to arrive in order but not at once (a store on a
// broker delivers them when its messages come back), and waits for them
// up to a few seconds.
package presencetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vicinity-go/vicinity/presence"
)

// t0 is the time the tests' clocks start at.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)

// wait is how long a test waits for a diff it expects.
const wait = 5 * time.Second

// TestStore runs the contract's tests, each on a store newStore returns
// for it: an empty store, or one whose topics, keys and nodes no other
// test of the run uses (the tests use fixed names).
func TestStore(t *testing.T, newStore func(t *testing.T) presence.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, presence.Store)
	}{
		{"PutGetList", testPutGetList},
		{"Diffs", testDiffs},
		{"Hold", testHold},
		{"Update", testUpdate},
		{"LastSeen", testLastSeen},
		{"Nodes", testNodes},
		{"Watchers", testWatchers},
		{"Sync", testSync},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

func meta(conn, node string) presence.Meta {
	return presence.Meta{ConnID: conn, Status: presence.StatusOnline, JoinedAt: t0, Node: node}
}

// must fails the test at once on err.
func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// equal fails the test when got and want differ.
func equal[T comparable](t *testing.T, got, want T, what string) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

// recorder keeps the diffs a watcher got, rendered.
type recorder struct {
	mu    sync.Mutex
	diffs []string
	more  chan struct{}
}

func watch(t *testing.T, s presence.Store, topic string) (*recorder, func()) {
	t.Helper()
	r := &recorder{more: make(chan struct{}, 1)}
	cancel, err := s.Watch(context.Background(), topic, func(d presence.Diff) {
		if d.Topic != topic {
			t.Errorf("diff of %q delivered to a watcher of %q", d.Topic, topic)
		}
		r.mu.Lock()
		r.diffs = append(r.diffs, render(d))
		r.mu.Unlock()
		select {
		case r.more <- struct{}{}:
		default:
		}
	})
	must(t, err, "watch "+topic)
	t.Cleanup(cancel)
	return r, cancel
}

// take waits for n diffs and returns them, forgetting them.
func (r *recorder) take(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.After(wait)
	for {
		r.mu.Lock()
		if len(r.diffs) >= n {
			got := r.diffs[:n:n]
			r.diffs = r.diffs[n:]
			r.mu.Unlock()
			return got
		}
		have := slices.Clone(r.diffs)
		r.mu.Unlock()
		select {
		case <-r.more:
		case <-deadline:
			t.Fatalf("got %d diffs, want %d: %q", len(have), n, have)
		}
	}
}

// settle puts a marker key in topic and waits for its join: every diff of
// a change made before it has then arrived. It returns the diffs before
// the marker's, forgetting them all, and removes the marker (whose leave
// is forgotten too).
func (r *recorder) settle(t *testing.T, s presence.Store, topic string) []string {
	t.Helper()
	ctx := context.Background()
	must(t, s.Put(ctx, topic, "~marker", meta("m", "marker-node")), "put marker")
	var got []string
	for {
		d := r.take(t, 1)[0]
		if strings.HasPrefix(d, "join ~marker") {
			break
		}
		got = append(got, d)
	}
	_, err := s.Remove(ctx, topic, "~marker", "m", t0, false)
	must(t, err, "remove marker")
	if d := r.take(t, 1)[0]; !strings.HasPrefix(d, "leave ~marker") {
		t.Fatalf("after the marker: %q", d)
	}
	return got
}

// through is settle for another watcher of the topic: it returns the
// diffs before the marker's join that settle made, forgetting them all.
func (r *recorder) through(t *testing.T) []string {
	t.Helper()
	var got []string
	for {
		d := r.take(t, 1)[0]
		if strings.HasPrefix(d, "join ~marker") {
			break
		}
		got = append(got, d)
	}
	if d := r.take(t, 1)[0]; !strings.HasPrefix(d, "leave ~marker") {
		t.Fatalf("after the marker: %q", d)
	}
	return got
}

// render writes d as "join ann [tab1]; leave bob [tab2] @1s", keys in
// order; times are offsets from t0.
func render(d presence.Diff) string {
	var parts []string
	for k, ms := range d.Joins {
		parts = append(parts, "join "+k+" "+metas(ms))
	}
	for k, ms := range d.Updates {
		parts = append(parts, "update "+k+" "+metas(ms))
	}
	for k, l := range d.Leaves {
		parts = append(parts, fmt.Sprintf("leave %s %s @%v", k, metas(l.Metas), l.LastSeen.Sub(t0)))
	}
	slices.SortFunc(parts, func(a, b string) int {
		return strings.Compare(strings.Fields(a)[1], strings.Fields(b)[1])
	})
	return strings.Join(parts, "; ")
}

// metas writes ms as "[tab1 tab2:away]": the ConnIDs, with the status
// unless online.
func metas(ms []presence.Meta) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = m.ConnID
		if m.Status != presence.StatusOnline {
			s[i] += ":" + m.Status
		}
	}
	return "[" + strings.Join(s, " ") + "]"
}

func testPutGetList(t *testing.T, s presence.Store) {
	ctx := context.Background()
	ann := meta("tab1", "n1")
	ann.Device, ann.Fields = "ios", []byte(`{"name":"Ann","n":12345678901234567890}`)
	must(t, s.Put(ctx, "room", "ann", ann), "put")
	ann2 := meta("tab2", "n1")
	ann2.JoinedAt = t0.Add(time.Second)
	must(t, s.Put(ctx, "room", "ann", ann2), "put")
	must(t, s.Put(ctx, "room", "bob", meta("tab3", "n2")), "put")
	must(t, s.Put(ctx, "hall", "ann", meta("tab1", "n1")), "put")

	got, err := s.Get(ctx, "room", "ann")
	must(t, err, "get")
	equal(t, metas(got), "[tab1 tab2]", "metas, oldest first")
	if len(got) == 2 {
		g := got[0]
		equal(t, g.Device, "ios", "device")
		equal(t, string(g.Fields), string(ann.Fields), "fields, byte for byte")
		equal(t, g.Node, "n1", "node")
		if !g.JoinedAt.Equal(t0) || !got[1].JoinedAt.Equal(t0.Add(time.Second)) {
			t.Errorf("joined at %v, %v", g.JoinedAt, got[1].JoinedAt)
		}
	}
	none, err := s.Get(ctx, "room", "nobody")
	must(t, err, "get")
	equal(t, len(none), 0, "metas of an absent key")

	list, err := s.List(ctx, "room")
	must(t, err, "list")
	var keys []string
	for _, m := range list {
		keys = append(keys, m.Key+metas(m.Metas))
	}
	equal(t, strings.Join(keys, " "), "ann[tab1 tab2] bob[tab3]", "list, by key")
	n, err := s.Count(ctx, "room")
	must(t, err, "count")
	equal(t, n, 2, "count")
	o, err := s.Occupancy(ctx, "room")
	must(t, err, "occupancy")
	equal(t, o, presence.Occupancy{Users: 2, Conns: 3}, "occupancy")
	o, err = s.Occupancy(ctx, "empty")
	must(t, err, "occupancy")
	equal(t, o, presence.Occupancy{}, "occupancy of an empty topic")
	topics, err := s.Topics(ctx, "ann")
	must(t, err, "topics")
	equal(t, strings.Join(topics, ","), "hall,room", "topics, sorted")

	// Again with other values: replaced in place, its JoinedAt kept.
	again := meta("tab1", "n1")
	again.Status, again.JoinedAt = presence.StatusAway, t0.Add(time.Hour)
	must(t, s.Put(ctx, "room", "ann", again), "put again")
	got, err = s.Get(ctx, "room", "ann")
	must(t, err, "get")
	equal(t, metas(got), "[tab1:away tab2]", "replaced in place")
	if len(got) > 0 && !got[0].JoinedAt.Equal(t0) {
		t.Errorf("JoinedAt %v, want the first, %v", got[0].JoinedAt, t0)
	}
	o, err = s.Occupancy(ctx, "room")
	must(t, err, "occupancy")
	equal(t, o, presence.Occupancy{Users: 2, Conns: 3}, "occupancy after a replacement")
}

func testDiffs(t *testing.T, s presence.Store) {
	ctx := context.Background()
	r, _ := watch(t, s, "room")
	at := t0.Add(3 * time.Second)
	must(t, s.Put(ctx, "room", "ann", meta("tab1", "n1")), "put")
	must(t, s.Put(ctx, "room", "ann", meta("tab1", "n1")), "put the same")
	must(t, s.Put(ctx, "room", "ann", meta("tab2", "n2")), "put a second")
	away := meta("tab1", "n1")
	away.Status = presence.StatusAway
	must(t, s.Update(ctx, "room", "ann", away), "update")
	must(t, s.Update(ctx, "room", "ann", away), "update the same")
	must(t, s.Put(ctx, "other", "ann", meta("tab1", "n1")), "put in another topic")
	_, err := s.Remove(ctx, "room", "ann", "tab2", at, false)
	must(t, err, "remove")
	_, err = s.Remove(ctx, "room", "ann", "tab2", at, false)
	must(t, err, "remove again")
	_, err = s.Remove(ctx, "room", "ann", "tab1", at, false)
	must(t, err, "remove the last")
	got := r.settle(t, s, "room")
	want := []string{
		"join ann [tab1]",
		"update ann [tab1 tab2]",
		"update ann [tab1:away tab2]",
		"update ann [tab1:away]",
		"leave ann [tab1:away] @3s",
	}
	equal(t, strings.Join(got, " | "), strings.Join(want, " | "), "diffs, in order, none for what changed nothing")
}

func testHold(t *testing.T, s presence.Store) {
	ctx := context.Background()
	r, _ := watch(t, s, "room")
	left := t0.Add(time.Second)
	must(t, s.Put(ctx, "room", "ann", meta("tab1", "n1")), "put")
	held, err := s.Remove(ctx, "room", "ann", "tab1", left, true)
	must(t, err, "remove")
	equal(t, held, true, "held")
	got, err := s.Get(ctx, "room", "ann")
	must(t, err, "get")
	equal(t, metas(got), "[tab1]", "a held meta is listed")
	o, err := s.Occupancy(ctx, "room")
	must(t, err, "occupancy")
	equal(t, o, presence.Occupancy{Users: 1, Conns: 1}, "a held meta is counted")
	held, err = s.Remove(ctx, "room", "ann", "tab1", left.Add(time.Second), true)
	must(t, err, "remove again")
	equal(t, held, false, "held already")
	if err := s.Update(ctx, "room", "ann", meta("tab1", "n1")); !errors.Is(err, presence.ErrNotTracked) {
		t.Errorf("update of a held meta: %v, want ErrNotTracked", err)
	}
	must(t, s.Release(ctx, "room", "ann", "tab1", left.Add(time.Second)), "release of another time")
	must(t, s.Release(ctx, "room", "ann", "tab2", left), "release of another connection")
	n, err := s.Count(ctx, "room")
	must(t, err, "count")
	equal(t, n, 1, "still held")
	must(t, s.Release(ctx, "room", "ann", "tab1", left), "release")
	equal(t, strings.Join(r.settle(t, s, "room"), " | "), "join ann [tab1] | leave ann [tab1] @1s", "diffs")
	seen, ok, err := s.LastSeen(ctx, "ann")
	must(t, err, "last seen")
	if !ok || !seen.Equal(left) {
		t.Errorf("last seen %v %v, want %v", seen, ok, left)
	}

	// A Put, from any node, drops the held meta: an update.
	must(t, s.Put(ctx, "room", "bob", meta("tab1", "n1")), "put")
	_, err = s.Remove(ctx, "room", "bob", "tab1", left, true)
	must(t, err, "remove")
	must(t, s.Put(ctx, "room", "bob", meta("tab2", "n2")), "put on another node")
	must(t, s.Release(ctx, "room", "bob", "tab1", left), "release after the put")
	equal(t, strings.Join(r.settle(t, s, "room"), " | "), "join bob [tab1] | update bob [tab2]", "diffs")
	_, ok, err = s.LastSeen(ctx, "bob")
	must(t, err, "last seen")
	equal(t, ok, false, "bob is present")
	o, err = s.Occupancy(ctx, "room")
	must(t, err, "occupancy")
	equal(t, o, presence.Occupancy{Users: 1, Conns: 1}, "occupancy")
}

func testUpdate(t *testing.T, s presence.Store) {
	ctx := context.Background()
	if err := s.Update(ctx, "room", "ann", meta("tab1", "n1")); !errors.Is(err, presence.ErrNotTracked) {
		t.Errorf("update of an absent key: %v", err)
	}
	must(t, s.Put(ctx, "room", "ann", meta("tab1", "n1")), "put")
	if err := s.Update(ctx, "room", "ann", meta("tab9", "n1")); !errors.Is(err, presence.ErrNotTracked) {
		t.Errorf("update of an absent connection: %v", err)
	}
	m := meta("tab1", "other-node")
	m.JoinedAt, m.Fields = t0.Add(time.Hour), []byte(`{"a":1}`)
	must(t, s.Update(ctx, "room", "ann", m), "update")
	got, err := s.Get(ctx, "room", "ann")
	must(t, err, "get")
	if len(got) != 1 || got[0].Node != "n1" || !got[0].JoinedAt.Equal(t0) || string(got[0].Fields) != `{"a":1}` {
		t.Errorf("after update: %+v; want node and JoinedAt kept, fields replaced", got)
	}
}

func testLastSeen(t *testing.T, s presence.Store) {
	ctx := context.Background()
	_, ok, err := s.LastSeen(ctx, "ann")
	must(t, err, "last seen")
	equal(t, ok, false, "never seen")
	must(t, s.Put(ctx, "a", "ann", meta("tab1", "n1")), "put")
	must(t, s.Put(ctx, "b", "ann", meta("tab1", "n1")), "put")
	at1, at2 := t0.Add(time.Second), t0.Add(2*time.Second)
	_, err = s.Remove(ctx, "a", "ann", "tab1", at1, false)
	must(t, err, "remove")
	_, ok, err = s.LastSeen(ctx, "ann")
	must(t, err, "last seen")
	equal(t, ok, false, "still present in b")
	_, err = s.Remove(ctx, "b", "ann", "tab1", at2, false)
	must(t, err, "remove")
	seen, ok, err := s.LastSeen(ctx, "ann")
	must(t, err, "last seen")
	if !ok || !seen.Equal(at2) {
		t.Errorf("last seen %v %v, want %v", seen, ok, at2)
	}
	topics, err := s.Topics(ctx, "ann")
	must(t, err, "topics")
	equal(t, len(topics), 0, "topics of a key gone")
	must(t, s.ForgetLastSeen(ctx, at2), "forget before at2")
	_, ok, err = s.LastSeen(ctx, "ann")
	must(t, err, "last seen")
	equal(t, ok, true, "kept: not older than before")
	must(t, s.ForgetLastSeen(ctx, at2.Add(time.Second)), "forget")
	_, ok, err = s.LastSeen(ctx, "ann")
	must(t, err, "last seen")
	equal(t, ok, false, "forgotten")
}

func testNodes(t *testing.T, s presence.Store) {
	ctx := context.Background()
	r, _ := watch(t, s, "room")
	must(t, s.Heartbeat(ctx, "n1", t0, 10*time.Second), "heartbeat")
	must(t, s.Heartbeat(ctx, "n2", t0, time.Hour), "heartbeat")
	must(t, s.Put(ctx, "room", "ann", meta("tab1", "n1")), "put")
	must(t, s.Put(ctx, "room", "bob", meta("tab2", "n1")), "put")
	must(t, s.Put(ctx, "room", "bob", meta("tab3", "n2")), "put")
	must(t, s.Put(ctx, "room", "cat", meta("tab4", "n1")), "put")
	left := t0.Add(2 * time.Second)
	_, err := s.Remove(ctx, "room", "cat", "tab4", left, true)
	must(t, err, "hold")
	equal(t, len(r.settle(t, s, "room")), 4, "diffs before")

	dead, err := s.ExpireNodes(ctx, t0.Add(5*time.Second))
	must(t, err, "expire")
	equal(t, len(dead), 0, "none expired yet")
	dead, err = s.ExpireNodes(ctx, t0.Add(11*time.Second))
	must(t, err, "expire")
	equal(t, strings.Join(dead, ","), "n1", "expired")
	dead, err = s.ExpireNodes(ctx, t0.Add(12*time.Second))
	must(t, err, "expire")
	equal(t, len(dead), 0, "expired once")

	// The expired node's metas left, in one diff or more.
	got := strings.Join(r.settle(t, s, "room"), "; ")
	for _, want := range []string{"leave ann [tab1] @0s", "update bob [tab3]", "leave cat [tab4] @2s"} {
		if !strings.Contains(got, want) {
			t.Errorf("diffs of the expiry %q lack %q", got, want)
		}
	}
	seen, ok, err := s.LastSeen(ctx, "ann")
	must(t, err, "last seen")
	if !ok || !seen.Equal(t0) {
		t.Errorf("last seen of a member of an expired node: %v %v, want its last heartbeat %v", seen, ok, t0)
	}
	o, err := s.Occupancy(ctx, "room")
	must(t, err, "occupancy")
	equal(t, o, presence.Occupancy{Users: 1, Conns: 1}, "occupancy")

	if err := s.Put(ctx, "room", "ann", meta("tab5", "n1")); !errors.Is(err, presence.ErrNodeExpired) {
		t.Errorf("put of an expired node: %v", err)
	}
	if err := s.Heartbeat(ctx, "n1", t0.Add(13*time.Second), 10*time.Second); !errors.Is(err, presence.ErrNodeExpired) {
		t.Errorf("first heartbeat of an expired node: %v", err)
	}
	must(t, s.Put(ctx, "room", "ann", meta("tab5", "n1")), "put after the heartbeat")
	must(t, s.Heartbeat(ctx, "n1", t0.Add(14*time.Second), 10*time.Second), "heartbeat again")
	got2, err := s.Get(ctx, "room", "ann")
	must(t, err, "get")
	equal(t, metas(got2), "[tab5]", "the node's metas came back only as put again")
}

func testWatchers(t *testing.T, s presence.Store) {
	ctx := context.Background()
	r1, _ := watch(t, s, "room")
	r2, cancel2 := watch(t, s, "room")
	for i := range 20 {
		key := fmt.Sprintf("u%02d", i%5)
		if i%3 == 2 {
			_, err := s.Remove(ctx, "room", key, "c", t0, false)
			must(t, err, "remove")
			continue
		}
		m := meta("c", "n1")
		if i%2 == 1 {
			m.Status = presence.StatusBusy
		}
		must(t, s.Put(ctx, "room", key, m), "put")
	}
	got1 := r1.settle(t, s, "room")
	got2 := r2.through(t)
	equal(t, strings.Join(got2, " | "), strings.Join(got1, " | "), "two watchers, one order")

	cancel2()
	cancel2() // twice is fine
	must(t, s.Put(ctx, "room", "late", meta("c", "n1")), "put")
	r1.settle(t, s, "room")
	r2.mu.Lock()
	after := slices.Clone(r2.diffs)
	r2.mu.Unlock()
	equal(t, len(after), 0, "diffs after cancel")

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if stop, err := s.Watch(cctx, "fresh", func(presence.Diff) {}); err == nil {
		stop()
		t.Errorf("watch with a done context: no error")
	}
}

func testSync(t *testing.T, s presence.Store) {
	ctx := context.Background()
	done := make(chan struct{})
	must(t, s.Sync(ctx, "nobody-watches", func() { close(done) }), "sync")
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("sync fn of an unwatched topic never ran")
	}

	var mu sync.Mutex
	var order []string
	cancel, err := s.Watch(ctx, "room", func(d presence.Diff) {
		mu.Lock()
		order = append(order, render(d))
		mu.Unlock()
	})
	must(t, err, "watch")
	defer cancel()
	must(t, s.Put(ctx, "room", "ann", meta("tab1", "n1")), "put")
	// Once ann's join was delivered, a Sync comes after it.
	deadline := time.Now().Add(wait)
	for {
		mu.Lock()
		n := len(order)
		mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no diff")
		}
		time.Sleep(5 * time.Millisecond)
	}
	ran := make(chan struct{})
	must(t, s.Sync(ctx, "room", func() {
		mu.Lock()
		order = append(order, "sync")
		mu.Unlock()
		close(ran)
	}), "sync")
	select {
	case <-ran:
	case <-time.After(wait):
		t.Fatal("sync fn never ran")
	}
	mu.Lock()
	defer mu.Unlock()
	equal(t, strings.Join(order, " | "), "join ann [tab1] | sync", "order")
}
