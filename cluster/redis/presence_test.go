package redis_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/client"
	"github.com/vicinity-go/vicinity/cluster/redis"
	"github.com/vicinity-go/vicinity/internal/id"
	"github.com/vicinity-go/vicinity/internal/redistest"
	"github.com/vicinity-go/vicinity/presence"
	"github.com/vicinity-go/vicinity/presence/presencetest"
	"github.com/vicinity-go/vicinity/realtime"
)

// newStore returns a presence store on rc, closed when the test ends.
func newStore(t *testing.T, rc rueidis.Client, opts ...redis.Option) *redis.PresenceStore {
	t.Helper()
	s := redis.NewPresenceStore(rc, opts...)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestPresenceStoreContract runs the presence.Store contract on the Redis
// store, on a standalone Redis and on a Redis Cluster; each test has keys
// of its own.
func TestPresenceStoreContract(t *testing.T) {
	for _, cluster := range []bool{false, true} {
		name := "standalone"
		if cluster {
			name = "redis-cluster"
		}
		t.Run(name, func(t *testing.T) {
			rs := redistest.Start(t)
			if cluster {
				rs = redistest.StartCluster(t)
			}
			var rc rueidis.Client
			if cluster {
				c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{rs.Addr()}, DisableCache: true})
				require.NoError(t, err)
				t.Cleanup(c.Close)
				rc = c
			} else {
				rc = newClient(t, rs.Addr())
			}
			presencetest.TestStore(t, func(t *testing.T) presence.Store {
				return newStore(t, rc, redis.WithKey("t"+id.New()[:8]))
			})
		})
	}
}

// diffLog records the diffs of a topic, rendered as "join ann [c1]".
type diffLog struct {
	mu  sync.Mutex
	got []string
}

func (l *diffLog) add(d presence.Diff) {
	var parts []string
	for k, ms := range d.Joins {
		parts = append(parts, "join "+k+" "+connIDs(ms))
	}
	for k, ms := range d.Updates {
		parts = append(parts, "update "+k+" "+connIDs(ms))
	}
	for k, lv := range d.Leaves {
		parts = append(parts, "leave "+k+" "+connIDs(lv.Metas))
	}
	l.mu.Lock()
	l.got = append(l.got, strings.Join(parts, "; "))
	l.mu.Unlock()
}

func (l *diffLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.got...)
}

func connIDs(ms []presence.Meta) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = m.ConnID
		if m.Status != presence.StatusOnline {
			s[i] += ":" + m.Status
		}
	}
	return "[" + strings.Join(s, " ") + "]"
}

// TestPresenceTwoServers: trackers of two servers, each with its own store
// on one Redis, see one presence: the diffs of a topic in one order on
// both, a reload onto the other server within the leave delay is an update,
// and the members of a server whose tracker stops heartbeating leave.
func TestPresenceTwoServers(t *testing.T) {
	rs := redistest.Start(t)
	key := redis.WithKey("two" + id.New()[:8])
	sa, sb := newStore(t, newClient(t, rs.Addr()), key), newStore(t, newClient(t, rs.Addr()), key)
	hb := presence.WithHeartbeat(50*time.Millisecond, 300*time.Millisecond)
	a := presence.New(presence.WithStore(sa), presence.WithNode("a"), presence.WithLeaveDelay(500*time.Millisecond), hb)
	b := presence.New(presence.WithStore(sb), presence.WithNode("b"), presence.WithLeaveDelay(500*time.Millisecond), hb)
	t.Cleanup(func() { _ = b.Close() })
	var la, lb diffLog
	stopA := a.Subscribe("room", la.add)
	defer stopA()
	stopB := b.Subscribe("room", lb.add)
	defer stopB()
	ctx := context.Background()

	// Changes from both servers, at once.
	var wg sync.WaitGroup
	for i, tr := range []*presence.Tracker{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 20 {
				user := []string{"ann", "bob", "cat"}[j%3]
				conn := user + string(rune('0'+i))
				if j%4 == 3 {
					assert.NoError(t, tr.Untrack(ctx, "room", user, conn))
				} else {
					assert.NoError(t, tr.Track(ctx, "room", user, presence.Meta{ConnID: conn, Status: []string{"online", "away"}[j%2]}))
				}
			}
		}()
	}
	wg.Wait()
	require.NoError(t, a.Track(ctx, "room", "zed", presence.Meta{ConnID: "z"}))
	last := func(l *diffLog) bool {
		got := l.all()
		return len(got) > 0 && got[len(got)-1] == "join zed [z]"
	}
	require.Eventually(t, func() bool { return last(&la) && last(&lb) }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, la.all(), lb.all(), "one order on both servers")
	listA, err := a.List(ctx, "room")
	require.NoError(t, err)
	listB, err := b.List(ctx, "room")
	require.NoError(t, err)
	assert.Equal(t, listA, listB)

	// A reload: the tab on a goes, the same user comes back on b.
	la.mu.Lock()
	la.got = nil
	la.mu.Unlock()
	require.NoError(t, a.Track(ctx, "hall", "eve", presence.Meta{ConnID: "e1"}))
	var hall diffLog
	stopHall := b.Subscribe("hall", hall.add)
	defer stopHall()
	require.NoError(t, a.Untrack(ctx, "hall", "eve", "e1"))
	require.NoError(t, b.Track(ctx, "hall", "eve", presence.Meta{ConnID: "e2"}))
	require.Eventually(t, func() bool { return len(hall.all()) == 1 }, 5*time.Second, 5*time.Millisecond)
	time.Sleep(700 * time.Millisecond) // past the leave delay
	assert.Equal(t, []string{"update eve [e2]"}, hall.all(), "a reload onto another server is an update")

	// a stops heartbeating (as if killed): its members leave on b.
	require.NoError(t, a.Close())
	require.Eventually(t, func() bool {
		l, err := b.List(ctx, "room")
		if err != nil {
			return false
		}
		for _, m := range l {
			for _, mt := range m.Metas {
				if mt.Node == "a" {
					return false
				}
			}
		}
		return true
	}, 5*time.Second, 20*time.Millisecond, "a's members leave once its heartbeat lapsed")
	seen, ok, err := b.LastSeen(ctx, "zed")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.WithinDuration(t, time.Now(), seen, 2*time.Second)
}

// TestPresenceRedisRestart: a Redis that restarts empty loses presence;
// the watchers on each server read their topics again and hear the
// members leave, and a tracker that finds its node forgotten calls its
// OnExpired functions, whose re-tracking brings its members back.
func TestPresenceRedisRestart(t *testing.T) {
	rs := redistest.Start(t)
	s := newStore(t, newClient(t, rs.Addr()))
	tr := presence.New(presence.WithStore(s), presence.WithNode("a"), presence.WithHeartbeat(50*time.Millisecond, 500*time.Millisecond))
	t.Cleanup(func() { _ = tr.Close() })
	retracked := make(chan struct{}, 1)
	ctx := context.Background()
	stop := tr.OnExpired(func() {
		assert.NoError(t, tr.Track(ctx, "room", "ann", presence.Meta{ConnID: "c1"}))
		select {
		case retracked <- struct{}{}:
		default:
		}
	})
	defer stop()
	var log diffLog
	stopSub := tr.Subscribe("room", log.add)
	defer stopSub()
	require.NoError(t, tr.Track(ctx, "room", "ann", presence.Meta{ConnID: "c1"}))
	require.Eventually(t, func() bool { return len(log.all()) == 1 }, 5*time.Second, 5*time.Millisecond)

	rs.Restart()
	select {
	case <-retracked:
	case <-time.After(10 * time.Second):
		t.Fatal("OnExpired not called after Redis lost the node")
	}
	// The watcher hears ann leave (read again) and come back, or, when the
	// re-tracking came first, an update: either way it ends present.
	require.Eventually(t, func() bool {
		got := log.all()
		return len(got) >= 2 && strings.HasSuffix(got[len(got)-1], "ann [c1]") && !strings.HasPrefix(got[len(got)-1], "leave")
	}, 10*time.Second, 10*time.Millisecond, "diffs %q", log.all())
	o, err := tr.Occupancy(ctx, "room")
	require.NoError(t, err)
	assert.Equal(t, presence.Occupancy{Users: 1, Conns: 1}, o)
}

// TestPresenceStoreDown: while Redis is down, the store's methods fail
// with ErrUnavailable rather than wait.
func TestPresenceStoreDown(t *testing.T) {
	rs := redistest.Start(t)
	s := newStore(t, newClient(t, rs.Addr()))
	rs.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err := s.Put(ctx, "room", "ann", presence.Meta{ConnID: "c", Node: "n", Status: "online"})
	require.ErrorIs(t, err, redis.ErrUnavailable)
	_, err = s.Watch(ctx, "room", func(presence.Diff) {})
	require.Error(t, err)
}

// presenceNode starts a vicinity server on the Redis at addr with presence
// in a Redis store: a socket's user is its query's "user", and the
// namespace's and rooms' presence is published.
func presenceNode(t *testing.T, addr, name, key string) (*node, *presence.Tracker) {
	t.Helper()
	rc := newClient(t, addr)
	store := newStore(t, rc, redis.WithKey(key))
	tr := presence.New(presence.WithStore(store), presence.WithNode(name), presence.WithHeartbeat(50*time.Millisecond, 400*time.Millisecond))
	t.Cleanup(func() { _ = tr.Close() })
	identify := func(s *realtime.Socket) (string, presence.Meta, error) {
		return s.Handshake().Query.Get("user"), presence.Meta{}, nil
	}
	srv := newNodeServer(rc, []realtime.Option{
		realtime.WithPresence(tr, identify),
		realtime.WithPresenceRooms(func(string, string) bool { return true }),
	}, redis.WithKey(key), redis.WithHeartbeat(100*time.Millisecond, 400*time.Millisecond))
	return &node{srv: srv, url: serveHTTP(t, srv), rc: rc}, tr
}

// TestPresenceAcrossServers: clients on two servers see one presence in
// a room: joins, status changes and leaves from either server, and the
// last-seen time of a user who left, asked on the other.
func TestPresenceAcrossServers(t *testing.T) {
	rs := redistest.Start(t)
	key := "pa" + id.New()[:8]
	na, _ := presenceNode(t, rs.Addr(), "a", key)
	nb, trB := presenceNode(t, rs.Addr(), "b", key)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	dial := func(n *node, user string) (*client.Socket, *received) {
		s, err := client.Connect(ctx, n.url+"?user="+user, client.WithTransports("websocket"), client.WithReconnection(false))
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Manager().Close() })
		r := &received{args: make(map[string][]client.Args)}
		s.OnAny(func(e *client.Event) {
			r.mu.Lock()
			r.events = append(r.events, e.Name)
			r.args[e.Name] = append(r.args[e.Name], e.Args)
			r.mu.Unlock()
		})
		_, err = s.EmitWithAck(ctx, "join", []string{"lobby"})
		require.NoError(t, err)
		return s, r
	}
	ann, annGot := dial(na, "ann")
	bob, _ := dial(nb, "bob")

	// ann, on a, hears bob join the lobby on b, change status, and leave.
	lobby := func() []map[string]any {
		annGot.mu.Lock()
		defer annGot.mu.Unlock()
		var out []map[string]any
		for _, a := range annGot.args[realtime.DefaultPresenceDiff] {
			var d map[string]any
			if a.Bind(&d) == nil && d["room"] == "lobby" {
				out = append(out, d)
			}
		}
		return out
	}
	has := func(kind, user string) bool {
		for _, d := range lobby() {
			if m, ok := d[kind].(map[string]any); ok && m[user] != nil {
				return true
			}
		}
		return false
	}
	require.Eventually(t, func() bool { return has("joins", "bob") }, 5*time.Second, 5*time.Millisecond, "bob's join on the other server")
	_, err := bob.EmitWithAck(ctx, realtime.DefaultPresenceUpdate, map[string]string{"status": "away"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		for _, d := range lobby() {
			if u, ok := d["updates"].(map[string]any); ok {
				if metas, ok := u["bob"].([]any); ok && len(metas) == 1 && metas[0].(map[string]any)["status"] == "away" {
					return true
				}
			}
		}
		return false
	}, 5*time.Second, 5*time.Millisecond, "bob's status change")
	list, err := trB.List(ctx, "/#lobby")
	require.NoError(t, err)
	assert.Len(t, list, 2, "both users, from either server")
	require.NoError(t, bob.Manager().Close())
	require.Eventually(t, func() bool { return has("leaves", "bob") }, 5*time.Second, 5*time.Millisecond, "bob's leave")
	seen, ok, err := trB.LastSeen(ctx, "bob")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.WithinDuration(t, time.Now(), seen, 3*time.Second)
	_ = ann
}
