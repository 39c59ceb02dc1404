package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/client"
	"github.com/vicinity-go/vicinity/cluster/redis"
	"github.com/vicinity-go/vicinity/realtime"
)

func TestEmitter(t *testing.T) {
	eachMode(t, testEmitter)
}

func testEmitter(t *testing.T, m mode) {
	rs, nodes := clusterOf(t, 2, m)
	s0, in0 := connect(t, nodes[0], "a")
	_, in1 := connect(t, nodes[1], "a", "b")
	_, in2 := connect(t, nodes[1])
	em := redis.NewEmitter(newClient(t, rs.Addr()), m.opts...)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()

	require.NoError(t, em.To("a").Emit(ctx, "to-a", "x", []byte{9}))
	assert.Equal(t, []string{"to-a"}, in0.waitFor(t, 1))
	assert.Equal(t, []string{"to-a"}, in1.waitFor(t, 1))
	var x string
	var bin []byte
	in0.mu.Lock()
	require.NoError(t, in0.args["to-a"][0].Bind(&x, &bin))
	in0.mu.Unlock()
	assert.Equal(t, []byte{9}, bin)

	require.NoError(t, em.Except("b").Emit(ctx, "not-b"))
	assert.Equal(t, []string{"to-a", "not-b"}, in0.waitFor(t, 2))
	assert.Equal(t, []string{"not-b"}, in2.waitFor(t, 1))
	require.NoError(t, em.Volatile().Emit(ctx, "all"))
	in1.waitFor(t, 2)
	assert.Equal(t, []string{"to-a", "all"}, in1.got(), "not-b skipped the socket in b")

	require.NoError(t, em.In("a").SocketsJoin(ctx, "c"))
	joinedEverywhere(t, nodes, "c", 2, m.dynamic)
	require.NoError(t, em.To("c").Emit(ctx, "to-c"))
	assert.Equal(t, "to-c", in0.waitFor(t, 4)[3])
	require.NoError(t, em.In("a").SocketsLeave(ctx, "c"))
	// (on a Redis Cluster the room's channel and the namespace's are not
	// ordered among themselves: wait for the leave)
	joinedEverywhere(t, nodes, "c", 0, m.dynamic)
	require.NoError(t, em.To("c").Emit(ctx, "to-c"))
	require.NoError(t, em.To("a").Emit(ctx, "marker"))
	assert.Equal(t, "marker", in0.waitFor(t, 5)[4], "left c before the second to-c")

	assert.ErrorIs(t, em.Emit(ctx, "connect"), realtime.ErrReservedEvent)

	got := make(chan string, 4)
	for _, n := range nodes {
		n.srv.Of("/").OnServerSideEmit("job", func(e *realtime.ServerEvent) {
			var v string
			_ = e.Bind(&v)
			got <- v
			assert.False(t, e.WantsAck())
		})
	}
	require.NoError(t, em.ServerSideEmit(ctx, "job", "done"))
	assert.Equal(t, "done", <-got)
	assert.Equal(t, "done", <-got)

	gone := make(chan string, 1)
	s0.OnDisconnect(func(_ *client.Socket, reason string) { gone <- reason })
	require.NoError(t, em.In(s0.ID()).DisconnectSockets(ctx, false))
	select {
	case r := <-gone:
		assert.Equal(t, "io server disconnect", r)
	case <-time.After(5 * time.Second):
		t.Fatal("not disconnected")
	}
}

func TestEmitterNamespaces(t *testing.T) {
	rs, nodes := cluster(t, 1)
	nodes[0].srv.Of("/other").OnConnection(func(*realtime.Socket) {})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	s, err := client.Connect(ctx, nodes[0].url+"/other", client.WithTransports("websocket"), client.WithReconnection(false))
	require.NoError(t, err)
	defer func() { _ = s.Manager().Close() }()
	got := make(chan string, 2)
	s.OnAny(func(e *client.Event) { got <- e.Name })
	_, inRoot := connect(t, nodes[0])

	em := redis.NewEmitter(newClient(t, rs.Addr()))
	require.NoError(t, em.Of("other").Emit(ctx, "in-other"))
	require.NoError(t, em.Emit(ctx, "in-root"))
	assert.Equal(t, "in-other", <-got)
	assert.Equal(t, []string{"in-root"}, inRoot.waitFor(t, 1))
	settle()
	assert.Empty(t, got, "each namespace gets its own")
}
