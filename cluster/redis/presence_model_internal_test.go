package redis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/internal/redistest"
	"github.com/vicinity-go/vicinity/presence"
)

// TestPresenceStoreModel makes random Puts, Updates, Removes, Releases,
// Heartbeats and ExpireNodes on the Redis store and on a MemoryStore, and
// compares them after each step (members, metas, occupancy, topics, last
// seen), and checks the Redis store's own records (P conns, P last,
// P n:<node>) against its members.
func TestPresenceStoreModel(t *testing.T) {
	rs := redistest.Start(t)
	rc := presenceClient(t, rs.Addr())
	for seed := range uint64(10) {
		t.Run("seed="+strconv.FormatUint(seed, 10), func(t *testing.T) {
			runPresenceModel(t, presenceStore(t, rc), rand.New(rand.NewPCG(seed, 7)))
		})
	}
}

func runPresenceModel(t *testing.T, s *PresenceStore, r *rand.Rand) {
	mem := presence.NewMemoryStore()
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	topics, keys, conns, nodes := []string{"a", "b"}, []string{"k1", "k2"}, []string{"c1", "c2", "c3"}, []string{"n1", "n2"}
	held := map[string]time.Time{} // topic/key/conn → leftAt, for Release
	for _, n := range nodes {
		require.NoError(t, s.Heartbeat(ctx, n, now, 10*time.Second))
		require.NoError(t, mem.Heartbeat(ctx, n, now, 10*time.Second))
	}
	var log []string
	// A key removed from two topics by one ExpireNodes has either
	// heartbeat as its last seen time, by the order of removal: not
	// compared until it is present again.
	anySeen := map[string]bool{}
	status := func() string { return []string{presence.StatusOnline, presence.StatusAway}[r.IntN(2)] }
	for step := range 300 {
		now = now.Add(time.Duration(r.IntN(3000)) * time.Millisecond)
		tp, k, c, n := topics[r.IntN(2)], keys[r.IntN(2)], conns[r.IntN(3)], nodes[r.IntN(2)]
		var op string
		var e1, e2 error
		switch r.IntN(7) {
		case 0, 1:
			m := presence.Meta{ConnID: c, Node: n, JoinedAt: now, Status: status()}
			op = fmt.Sprintf("put %s %s %s %s %s", tp, k, c, n, m.Status)
			e1, e2 = s.Put(ctx, tp, k, m), mem.Put(ctx, tp, k, m)
			if e1 == nil {
				delete(anySeen, k)
			}
		case 2:
			m := presence.Meta{ConnID: c, Status: status()}
			op = fmt.Sprintf("update %s %s %s %s", tp, k, c, m.Status)
			e1, e2 = s.Update(ctx, tp, k, m), mem.Update(ctx, tp, k, m)
		case 3:
			hold := r.IntN(2) == 0
			op = fmt.Sprintf("remove %s %s %s hold=%v at %s", tp, k, c, hold, now.Format("15:04:05.000"))
			h1, err1 := s.Remove(ctx, tp, k, c, now, hold)
			h2, err2 := mem.Remove(ctx, tp, k, c, now, hold)
			e1, e2 = err1, err2
			require.Equal(t, h2, h1, "step %d %s: held; log:\n%s", step, op, strings.Join(log, "\n"))
			if h1 {
				held[tp+"/"+k+"/"+c] = now
			}
		case 4:
			at, ok := held[tp+"/"+k+"/"+c]
			if !ok {
				continue
			}
			op = fmt.Sprintf("release %s %s %s", tp, k, c)
			e1, e2 = s.Release(ctx, tp, k, c, at), mem.Release(ctx, tp, k, c, at)
		case 5:
			op = "heartbeat " + n + " at " + now.Format("15:04:05.000")
			e1, e2 = s.Heartbeat(ctx, n, now, 10*time.Second), mem.Heartbeat(ctx, n, now, 10*time.Second)
		case 6:
			op = "expire at " + now.Format("15:04:05.000")
			d1, err1 := s.ExpireNodes(ctx, now)
			d2, err2 := mem.ExpireNodes(ctx, now)
			e1, e2 = err1, err2
			require.Equal(t, fmt.Sprint(d2), fmt.Sprint(d1), "step %d: expired; log:\n%s", step, strings.Join(log, "\n"))
			if len(d1) > 0 {
				for _, k := range keys {
					anySeen[k] = true
				}
			}
		}
		log = append(log, op)
		msg := fmt.Sprintf("step %d %s; log:\n%s", step, op, strings.Join(log, "\n"))
		require.Equal(t, e2 == nil, e1 == nil, "errors %v / %v: %s", e1, e2, msg)
		for _, tp := range topics {
			l1, err := s.List(ctx, tp)
			require.NoError(t, err)
			l2, _ := mem.List(ctx, tp)
			require.Equal(t, renderMembers(l2), renderMembers(l1), "list %s: %s", tp, msg)
			o1, err := s.Occupancy(ctx, tp)
			require.NoError(t, err)
			o2, _ := mem.Occupancy(ctx, tp)
			require.Equal(t, o2, o1, "occupancy %s: %s", tp, msg)
		}
		for _, k := range keys {
			t1, err := s.Topics(ctx, k)
			require.NoError(t, err)
			t2, _ := mem.Topics(ctx, k)
			require.Equal(t, fmt.Sprint(t2), fmt.Sprint(t1), "topics of %s: %s", k, msg)
			ls1, ok1, err := s.LastSeen(ctx, k)
			require.NoError(t, err)
			ls2, ok2, _ := mem.LastSeen(ctx, k)
			require.Equal(t, ok2, ok1, "last seen of %s: %s", k, msg)
			require.True(t, anySeen[k] || ls1.Equal(ls2), "last seen of %s %v (redis) / %v (memory): %s", k, ls1, ls2, msg)
		}
		checkPresenceKeys(t, s, topics, nodes, msg)
	}
}

// renderMembers renders members as "key=conn:node:status:joinedAt,…".
func renderMembers(ms []presence.Member) []string {
	var out []string
	for _, m := range ms {
		var parts []string
		for _, x := range m.Metas {
			parts = append(parts, x.ConnID+":"+x.Node+":"+x.Status+":"+strconv.FormatInt(x.JoinedAt.UnixNano(), 10))
		}
		out = append(out, m.Key+"="+strings.Join(parts, ","))
	}
	return out
}
