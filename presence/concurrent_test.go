package presence_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/presence"
)

// TestConcurrentTrackUntrack runs workers that track, untrack and update
// their own connections of shared users in shared topics, while readers
// list, and checks at the end that every subscriber saw a consistent
// sequence of diffs (replaying them gives the final List) and that the
// final state is what the workers left.
func TestConcurrentTrackUntrack(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		delay time.Duration
		nodes int
	}{
		{name: "immediate leaves", nodes: 1},
		{name: "leave delay", delay: 50 * time.Millisecond, nodes: 1},
		{name: "two nodes", nodes: 2},
		{name: "two nodes with leave delay", delay: 50 * time.Millisecond, nodes: 2},
	}
	const (
		workers = 16
		ops     = 400
		conns   = 4 // per worker
	)
	topics := []string{"t0", "t1", "t2", "t3"}
	keys := []string{"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			clock := presence.NewFakeClock(t0)
			store := presence.NewMemoryStore()
			var trackers []*presence.Tracker
			for i := range tt.nodes {
				tr := presence.New(presence.WithStore(store), presence.WithClock(clock),
					presence.WithNode(fmt.Sprint("n", i)), presence.WithLeaveDelay(tt.delay))
				t.Cleanup(func() { _ = tr.Close() })
				trackers = append(trackers, tr)
			}
			// Every tracker subscribes to every topic.
			var recs [][]*recorder // [node][topic]
			for _, tr := range trackers {
				var rs []*recorder
				for _, topic := range topics {
					rs = append(rs, record(t, tr, topic))
				}
				recs = append(recs, rs)
			}

			type conn struct{ key, status string }
			final := make([]map[string]map[string]conn, workers) // worker → topic → connID → conn
			var wg sync.WaitGroup
			var stop atomic.Bool
			for w := range workers {
				final[w] = map[string]map[string]conn{}
				for _, topic := range topics {
					final[w][topic] = map[string]conn{}
				}
				tr := trackers[w%len(trackers)]
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(w), 1))
					mine := final[w]
					for range ops {
						topic := topics[rng.IntN(len(topics))]
						c := rng.IntN(conns)
						id, key := fmt.Sprintf("w%d-c%d", w, c), keys[(w+c)%len(keys)]
						_, tracked := mine[topic][id]
						var err error
						switch r := rng.IntN(10); {
						case r == 0:
							err = tr.UntrackConn(ctx, key, id)
							for _, m := range mine {
								delete(m, id)
							}
						case !tracked:
							err = tr.Track(ctx, topic, key, presence.Meta{ConnID: id})
							mine[topic][id] = conn{key, presence.StatusOnline}
						case r < 4:
							status := []string{presence.StatusAway, presence.StatusBusy}[r%2]
							err = tr.Update(ctx, topic, key, id, func(m *presence.Meta) { m.Status = status })
							mine[topic][id] = conn{key, status}
						default:
							err = tr.Untrack(ctx, topic, key, id)
							delete(mine[topic], id)
						}
						if !assert.NoError(t, err) {
							return
						}
					}
				})
			}
			// Readers, and time passing for the leave delays.
			var readers sync.WaitGroup
			readers.Go(func() {
				for !stop.Load() {
					for _, topic := range topics {
						l, err := trackers[0].List(ctx, topic)
						assert.NoError(t, err)
						n, err := trackers[0].Count(ctx, topic)
						assert.NoError(t, err)
						_ = l
						_ = n
					}
					runtime.Gosched()
				}
			})
			readers.Go(func() {
				for !stop.Load() {
					clock.Advance(time.Millisecond)
					runtime.Gosched()
				}
			})
			wg.Wait()
			stop.Store(true)
			readers.Wait()
			clock.Advance(tt.delay) // the last leave delays end

			for _, topic := range topics {
				want := map[string][]string{}
				for w := range workers {
					for id, c := range final[w][topic] {
						want[c.key] = append(want[c.key], id+":"+c.status)
					}
				}
				l, err := trackers[0].List(ctx, topic)
				require.NoError(t, err)
				got := map[string][]string{}
				for _, m := range l {
					for _, meta := range m.Metas {
						got[m.Key] = append(got[m.Key], meta.ConnID+":"+meta.Status)
					}
					slices.Sort(got[m.Key])
				}
				for _, ids := range want {
					slices.Sort(ids)
				}
				assert.Equal(t, want, got, "final members of %s", topic)
				n, err := trackers[0].Count(ctx, topic)
				require.NoError(t, err)
				assert.Equal(t, len(want), n, "count of %s", topic)

				for node := range trackers {
					s := state{}
					for i, d := range recs[node][slices.Index(topics, topic)].all() {
						require.Equal(t, topic, d.Topic)
						require.NoError(t, s.apply(d), "node %d, topic %s, diff %d: %s", node, topic, i, render(d))
					}
					assert.Equal(t, members(l), members(s.list()), "node %d: replayed diffs of %s", node, topic)
				}
			}
		})
	}
}
