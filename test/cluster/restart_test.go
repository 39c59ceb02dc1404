package cluster

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/cluster/redis"
)

// While Redis is down a vicinity broadcast still reaches the server's own
// clients and says Redis is unavailable; once Redis is back (empty, on the
// same port) the vicinity servers and the Node server (node-redis
// reconnects by itself) broadcast to each other again, in every mode. The
// sharded modes found that a command sent on a pipelined connection left
// idle while Redis restarted failed once with EOF and was dropped; the
// adapter now sends such commands again once.
func TestRedisRestart(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { testRedisRestart(t, start(t, m)) })
	}
}

func testRedisRestart(t *testing.T, c *cluster) {
	a1 := c.connect(t, "a1", c.a.url, "k")
	b1 := c.connect(t, "b1", c.b.url, "k")
	n1 := c.connect(t, "n1", c.node.url, "k")
	nsp := c.a.srv.Of("/")
	require.NoError(t, nsp.To("k").Emit("before"))
	c.node.event(t, "b1", "before")
	c.node.event(t, "n1", "before")

	c.redis.Kill()
	var err error
	require.Eventually(t, func() bool {
		err = nsp.To("k").Emit("probe-down")
		return err != nil
	}, startTimeout, 10*time.Millisecond, "a broadcast while Redis is down")
	assert.ErrorIs(t, err, redis.ErrUnavailable)
	err = nsp.To("k").Emit("while-down", []byte{1})
	require.ErrorIs(t, err, redis.ErrUnavailable)
	assert.Equal(t, []any{buffer(1)}, c.node.event(t, "a1", "while-down"), "the server's own clients still get it")
	_, err = nsp.FetchSockets(ctx(t))
	assert.ErrorIs(t, err, redis.ErrUnavailable) // with this server's part: see partial_test.go

	c.redis.Restart()
	// each side is back when a broadcast of its reaches a client of another
	backFrom := func(who string, emit func(event string)) {
		t.Helper()
		n := 0
		require.Eventually(t, func() bool {
			n++
			emit(fmt.Sprintf("back-%s-%d", who, n))
			return hasPrefix(c.node.events("b1"), "back-"+who) && hasPrefix(c.node.events("n1"), "back-"+who)
		}, startTimeout, 50*time.Millisecond, "%s's broadcasts do not come through after Redis restarted", who)
	}
	backFrom("A", func(event string) { _ = nsp.To("k").Emit(event) })
	backFrom("node", func(event string) {
		c.node.call(t, nil, "emit", map[string]any{"rooms": []string{"k"}, "event": event})
	})
	c.waitReady(t, 2, c.a, c.b)
	// each server subscribes again to every channel, in no given order
	c.waitSubscribed(t, "/", "k", false, 3)

	require.NoError(t, c.b.srv.Of("/").To("k").Emit("after", []byte{2}))
	assert.Equal(t, []any{buffer(2)}, c.node.event(t, "a1", "after"))
	assert.Equal(t, []any{buffer(2)}, c.node.event(t, "n1", "after"))
	c.node.call(t, nil, "emit", map[string]any{"rooms": []string{"k"}, "event": "after-node", "args": []any{bin(3)}})
	assert.Equal(t, []any{buffer(3)}, c.node.event(t, "a1", "after-node"))
	assert.Equal(t, []any{buffer(3)}, c.node.event(t, "b1", "after-node"))
	all := fetch(t, nsp.In("k"))
	assert.ElementsMatch(t, []string{a1, b1, n1}, mapKeys(all))
	assert.NotContains(t, c.node.events("b1"), "while-down", "published while Redis was down: lost")
	assert.NotContains(t, c.node.events("n1"), "while-down")
}

func hasPrefix(events []string, prefix string) bool {
	return slices.ContainsFunc(events, func(e string) bool { return strings.HasPrefix(e, prefix) })
}
