package redis_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/realtime"
)

// TestEventStreamOtherServers: an EventStream following a room that no
// socket of its server is in gets the other servers' broadcasts to it, in
// every mode; in the sharded dynamic modes the adapter listens to the
// room's channel from the stream's making (realtime.RoomFollower) until
// it is closed.
func TestEventStreamOtherServers(t *testing.T) {
	eachMode(t, func(t *testing.T, m mode) {
		rs := startRedis(t, m)
		a := startNode(t, rs.Addr(), m.opts...)
		b := startNode(t, rs.Addr(), m.opts...)
		waitPeers(t, []*node{a, b})
		const channel = "socket.io#/#screen#" // the room's channel in the dynamic modes
		subscribers := func() int64 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res, err := a.rc.Do(ctx, a.rc.B().PubsubShardnumsub().Channel(channel).Build()).ToArray()
			require.NoError(t, err)
			require.Len(t, res, 2)
			n, err := res[1].AsInt64()
			require.NoError(t, err)
			return n
		}
		if m.dynamic {
			require.Zero(t, subscribers(), "no server has the room yet")
		}

		es := a.srv.Of("/").EventStream([]string{"screen"}, realtime.StreamOptions{})
		if m.dynamic {
			assert.Eventually(t, func() bool { return subscribers() == 1 }, 5*time.Second, 10*time.Millisecond,
				"server a listens to the room once the stream is made")
		}
		hs := httptest.NewServer(es)
		t.Cleanup(hs.Close)
		resp, err := http.Get(hs.URL)
		require.NoError(t, err)
		t.Cleanup(func() { _ = resp.Body.Close() })
		lines := make(chan string, 64)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		got := false
		for i := 0; i < 50 && !got; i++ { // a publication may race the subscription: again until one arrives
			require.NoError(t, b.srv.To("screen").Emit("from-b", i))
			wait := time.After(100 * time.Millisecond)
			for waiting := true; waiting && !got; {
				select {
				case l, ok := <-lines:
					require.True(t, ok, "the stream ended")
					got = strings.HasPrefix(l, "event: from-b")
				case <-wait:
					waiting = false
				}
			}
		}
		require.True(t, got, "%s: the stream on server a never got server b's broadcasts to its room", m.name)

		es.Close()
		if m.dynamic {
			assert.Eventually(t, func() bool { return subscribers() == 0 }, 5*time.Second, 10*time.Millisecond,
				"server a stops listening to the room once the stream is closed")
		}
	})
}
