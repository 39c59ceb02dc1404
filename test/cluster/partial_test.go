package cluster

// Tests of bugs the interoperability tests found: a count of 0 sockets
// that Node's emitWithAck could not add up, and partial FetchSockets
// results that were dropped.

import (
	"context"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/cluster/redis"
	"github.com/vicinity-go/vicinity/realtime"
)

// A vicinity server that reaches no socket of a Node server's broadcast
// with acknowledgements says so with "clientCount": 0 (without it, Node's
// BroadcastOperator.emit adds undefined to its expected count, and
// emitWithAck times out though every client answered).
func TestEmitWithAckZeroOnAServer(t *testing.T) { eachMode(t, testEmitWithAckZeroOnAServer) }

func testEmitWithAckZeroOnAServer(t *testing.T, c *cluster) {
	c.connect(t, "a1", c.a.url, "q")
	c.connect(t, "b2", c.b.url)
	c.connect(t, "n2", c.node.url)

	var got []string
	// A reaches none of these sockets
	c.node.call(t, &got, "emitWithAck", map[string]any{"except": []string{"q"}, "timeout": 2000, "event": "ask-not-q"})
	assert.ElementsMatch(t, []string{"ack:b2", "ack:n2"}, got)
	// B reaches none of these
	c.node.call(t, &got, "emitWithAck", map[string]any{"rooms": []string{"q"}, "timeout": 2000, "event": "ask-q"})
	assert.ElementsMatch(t, []string{"ack:a1"}, got)
	// nobody anywhere
	c.node.call(t, &got, "emitWithAck", map[string]any{"rooms": []string{"nobody"}, "timeout": 2000, "event": "ask-nobody"})
	assert.Empty(t, got)
}

// While Redis is unreachable, FetchSockets returns this server's part with
// its error.
func TestFetchSocketsPartWhileRedisDown(t *testing.T) {
	c := start(t, classic)
	a1 := c.connect(t, "a1", c.a.url, "k")
	c.connect(t, "b1", c.b.url, "k")
	c.redis.Kill()
	nsp := c.a.srv.Of("/")
	require.Eventually(t, func() bool { return nsp.To("k").Emit("probe-down") != nil }, startTimeout, 10*time.Millisecond)
	sockets, err := nsp.In("k").FetchSockets(ctx(t))
	assert.ErrorIs(t, err, redis.ErrUnavailable)
	require.Len(t, sockets, 1, "this server's part")
	assert.Equal(t, a1, sockets[0].ID)
}

// Past its deadline, FetchSockets returns the answers that came: a frozen
// Node-protocol server is counted (it is subscribed to the request
// channel) and never answers.
func TestFetchSocketsAnswersBeforeTimeout(t *testing.T) {
	c := start(t, classic)
	a1 := c.connect(t, "a1", c.a.url, "r")
	b1 := c.connect(t, "b1", c.b.url, "r")
	n1 := c.connect(t, "n1", c.node.url, "r")
	frozen := newFrozen(t, c.redis.Addr())
	defer frozen()
	rctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	sockets, err := c.a.srv.Of("/").In("r").FetchSockets(rctx)
	assert.ErrorIs(t, err, redis.ErrTimeout)
	assert.ElementsMatch(t, []string{a1, b1, n1}, ids(sockets), "the answers that came")
}

// newFrozen subscribes a connection to the request channel of / (so that
// every server counts it as a Node server) that never answers; the
// returned function closes it.
func newFrozen(t *testing.T, addr string) func() {
	t.Helper()
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	require.NoError(t, err)
	dc, release := rc.Dedicate()
	dc.SetPubSubHooks(rueidis.PubSubHooks{OnMessage: func(rueidis.PubSubMessage) {}})
	require.NoError(t, dc.Do(ctx(t), dc.B().Subscribe().Channel("socket.io-request#/#").Build()).Error())
	return func() { release(); rc.Close() }
}

func ids(sockets []*realtime.RemoteSocket) []string {
	out := make([]string, len(sockets))
	for i, s := range sockets {
		out[i] = s.ID
	}
	return out
}
