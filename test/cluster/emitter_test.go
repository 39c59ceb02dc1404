package cluster

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/cluster/redis"
)

// @socket.io/redis-emitter, from npm (classic mode only: it has no
// sharded one), emits into vicinity rooms and
// namespaces and acts on vicinity sockets. What one emitter publishes
// arrives in order, requests and broadcasts alike (one connection of its
// own to Redis, one of each server's), so each check follows the
// operation it checks without waiting for it.
func TestEmitter(t *testing.T) {
	c := start(t, classic)
	a1 := c.connect(t, "a1", c.a.url, "e")
	b1 := c.connect(t, "b1", c.b.url, "e")
	b2 := c.connect(t, "b2", c.b.url)
	c.connect(t, "ao", c.a.url+"/other", "e")
	c.connect(t, "no", c.node.url+"/other", "e")
	emit := func(params map[string]any) { c.node.call(t, nil, "emitterEmit", params) }

	emit(map[string]any{"rooms": []string{"e"}, "event": "to-e", "args": []any{"x", bin(9, 8)}})
	assert.Equal(t, []any{"x", buffer(9, 8)}, c.node.event(t, "a1", "to-e"))
	assert.Equal(t, []any{"x", buffer(9, 8)}, c.node.event(t, "b1", "to-e"))
	emit(map[string]any{"except": []string{"e"}, "event": "not-e", "args": []any{map[string]any{"bin": bin(7)}}})
	assert.Equal(t, []any{map[string]any{"bin": buffer(7)}}, c.node.event(t, "b2", "not-e"))
	emit(map[string]any{"nsp": "/other", "rooms": []string{"e"}, "event": "other-e", "args": []any{bin(6)}})
	assert.Equal(t, []any{buffer(6)}, c.node.event(t, "ao", "other-e"))
	assert.Equal(t, []any{buffer(6)}, c.node.event(t, "no", "other-e"), "the Node server too")
	emit(map[string]any{"rooms": []string{"e"}, "volatile": true, "event": "volatile-e"})
	c.node.event(t, "b1", "volatile-e")

	c.node.call(t, nil, "emitterSocketsJoin", map[string]any{"rooms": []string{"e"}, "except": []string{a1}, "join": "joined"})
	emit(map[string]any{"rooms": []string{"joined"}, "event": "in-joined"})
	c.node.event(t, "b1", "in-joined")
	c.node.call(t, nil, "emitterSocketsLeave", map[string]any{"rooms": []string{"joined"}, "leave": []string{"joined", "e"}})
	emit(map[string]any{"rooms": []string{"joined"}, "event": "in-joined-after-leave"})
	emit(map[string]any{"rooms": []string{"e"}, "event": "in-e-after-leave"})

	emit(map[string]any{"event": "end"})
	for _, cl := range []string{"a1", "b1", "b2"} {
		c.node.event(t, cl, "end")
	}
	assert.Equal(t, []string{"to-e", "volatile-e", "in-e-after-leave", "end"}, c.node.events("a1"))
	assert.Equal(t, []string{"to-e", "volatile-e", "in-joined", "end"}, c.node.events("b1"), "b1 left joined and e")
	assert.Equal(t, []string{"not-e", "end"}, c.node.events("b2"))
	assert.Equal(t, []string{"other-e"}, c.node.events("ao"), "another namespace")

	c.node.call(t, nil, "emitterServerSideEmit", map[string]any{"event": "hello", "args": []any{"from-emitter"}})
	assert.Equal(t, "from-emitter", c.a.helloFrom(t))
	assert.Equal(t, "from-emitter", c.b.helloFrom(t))
	assert.Equal(t, []any{"from-emitter"}, c.node.serverSideEmit(t, "from-emitter"))

	c.node.call(t, nil, "emitterDisconnectSockets", map[string]any{"rooms": []string{"e"}})
	assert.Equal(t, "io server disconnect", c.node.disconnected(t, "a1"))
	c.node.call(t, nil, "emitterDisconnectSockets", map[string]any{"nsp": "/other", "close": true})
	assert.Equal(t, "io server disconnect", c.node.disconnected(t, "ao"))
	// a1's disconnection shows that Redis had sent the request to B too
	assert.ElementsMatch(t, []string{b1, b2}, mapKeys(fetch(t, c.a.srv.Of("/"))))
}

// vicinity's Emitter, in the cluster's mode, emits into the rooms and
// namespaces of the Node server and of the vicinity servers, and acts on
// their sockets. As with the npm emitter, what it publishes arrives in
// order, so each check follows the operation it checks without waiting
// for it; but in the dynamic modes a remote join has the joining server
// subscribe to the room's channel only later (waitSubscribed).
func TestGoEmitter(t *testing.T) { eachMode(t, testGoEmitter) }

func testGoEmitter(t *testing.T, c *cluster) {
	n1 := c.connect(t, "n1", c.node.url, "e")
	a1 := c.connect(t, "a1", c.a.url, "e")
	n2 := c.connect(t, "n2", c.node.url)
	c.connect(t, "no", c.node.url+"/other", "e")
	c.connect(t, "bo", c.b.url+"/other", "e")
	em := redis.NewEmitter(c.probe, c.mode.options()...)

	require.NoError(t, em.To("e").Emit(ctx(t), "to-e", "x", []byte{9, 8}))
	assert.Equal(t, []any{"x", buffer(9, 8)}, c.node.event(t, "n1", "to-e"))
	assert.Equal(t, []any{"x", buffer(9, 8)}, c.node.event(t, "a1", "to-e"))
	require.NoError(t, em.Except("e").Emit(ctx(t), "not-e", map[string]any{"bin": []byte{7}}))
	assert.Equal(t, []any{map[string]any{"bin": buffer(7)}}, c.node.event(t, "n2", "not-e"))
	require.NoError(t, em.Of("/other").To("e").Emit(ctx(t), "other-e", []byte{6}))
	assert.Equal(t, []any{buffer(6)}, c.node.event(t, "no", "other-e"))
	assert.Equal(t, []any{buffer(6)}, c.node.event(t, "bo", "other-e"))
	// a socket's own room: a channel of its own in dynamic-private mode
	require.NoError(t, em.To(n2).Emit(ctx(t), "direct", []byte{5}))
	assert.Equal(t, []any{buffer(5)}, c.node.event(t, "n2", "direct"))
	require.NoError(t, em.Volatile().To("e").Emit(ctx(t), "volatile-e"))
	c.node.event(t, "n1", "volatile-e")

	require.NoError(t, em.To("e").Except(a1).SocketsJoin(ctx(t), "joined"))
	c.waitSubscribed(t, "/", "joined", false, 1) // the Node server, for n1
	require.NoError(t, em.To("joined").Emit(ctx(t), "in-joined"))
	c.node.event(t, "n1", "in-joined")
	require.NoError(t, em.In("joined").SocketsLeave(ctx(t), "joined", "e"))
	require.NoError(t, em.To("joined").Emit(ctx(t), "in-joined-after-leave"))
	require.NoError(t, em.To("e").Emit(ctx(t), "in-e-after-leave"))

	require.NoError(t, em.Emit(ctx(t), "end"))
	for _, cl := range []string{"n1", "a1", "n2"} {
		c.node.event(t, cl, "end")
	}
	assert.Equal(t, []string{"to-e", "volatile-e", "in-joined", "end"}, c.node.events("n1"), "n1 left joined and e")
	assert.Equal(t, []string{"to-e", "volatile-e", "in-e-after-leave", "end"}, c.node.events("a1"))
	assert.Equal(t, []string{"not-e", "direct", "end"}, c.node.events("n2"))

	require.NoError(t, em.ServerSideEmit(ctx(t), "hello", "from-go-emitter"))
	assert.Equal(t, "from-go-emitter", c.a.helloFrom(t))
	assert.Equal(t, "from-go-emitter", c.b.helloFrom(t))
	assert.Equal(t, []any{"from-go-emitter"}, c.node.serverSideEmit(t, "from-go-emitter"))

	require.NoError(t, em.To("e").DisconnectSockets(ctx(t), false))
	assert.Equal(t, "io server disconnect", c.node.disconnected(t, "a1"))
	require.NoError(t, em.To(n2).DisconnectSockets(ctx(t), false))
	assert.Equal(t, "io server disconnect", c.node.disconnected(t, "n2"))
	require.NoError(t, em.Of("/other").DisconnectSockets(ctx(t), true))
	assert.Equal(t, "io server disconnect", c.node.disconnected(t, "no"))
	assert.Equal(t, "io server disconnect", c.node.disconnected(t, "bo"))
	assert.Equal(t, []string{n1}, mapKeys(fetch(t, c.b.srv.Of("/"))))
}
