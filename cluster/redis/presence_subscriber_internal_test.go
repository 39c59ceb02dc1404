package redis

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/internal/redistest"
)

// TestSubscriberDropAndAddAtOnce: a subscription's last holder drops it
// while another holder adds it, at once, in either order (a topic's last
// watcher leaving as another comes); Redis ends subscribed, as the
// subscriber believes. On a standalone Redis (SUBSCRIBE on the dedicated
// connection) and on a Redis Cluster (SSUBSCRIBE, a connection per
// shard channel).
func TestSubscriberDropAndAddAtOnce(t *testing.T) {
	for _, tt := range []struct {
		name    string
		cluster bool
		kind    kind
		rounds  int
	}{
		{"channel", false, channelSub, 200},
		{"shard channel", true, shardSub, 50},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rs := redistest.Start(t)
			if tt.cluster {
				rs = redistest.StartCluster(t)
			}
			rc := presenceClient(t, rs.Addr())
			sub := newSubscriber(rc, slog.New(slog.DiscardHandler))
			t.Cleanup(sub.close)
			ctx := context.Background()
			require.True(t, sub.ready(ctx), "subscription connection up")
			var missed []string
			for i := range tt.rounds {
				name := "ch" + strconv.Itoa(i)
				key := subKey{tt.kind, name}
				first, second := new(int), new(int)
				require.NoError(t, sub.add(first, func(string, []byte) {}, key))
				got := make(chan struct{}, 16)
				var wg sync.WaitGroup
				wg.Add(2)
				go func() { defer wg.Done(); sub.remove(first, key) }()
				go func() {
					defer wg.Done()
					assert.NoError(t, sub.add(second, func(string, []byte) { got <- struct{}{} }, key))
				}()
				wg.Wait()
				publish := rc.B().Publish().Channel(name).Message("m").Build()
				if tt.cluster {
					publish = rc.B().Spublish().Channel(name).Message("m").Build()
				}
				require.NoError(t, rc.Do(ctx, publish).Error())
				select {
				case <-got:
				case <-time.After(time.Second):
					missed = append(missed, name)
				}
				sub.remove(second, key)
			}
			assert.Empty(t, missed, "subscriptions lost")
		})
	}
}
