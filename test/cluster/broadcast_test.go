package cluster

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A vicinity server's broadcasts reach the clients of the Node server (and
// of the other vicinity server), binary data as Buffers.
func TestBroadcastFromVicinity(t *testing.T) { eachMode(t, testBroadcastFromVicinity) }

func testBroadcastFromVicinity(t *testing.T, c *cluster) {
	c.connect(t, "n-a", c.node.url, "a")
	c.connect(t, "n-b", c.node.url, "b")
	c.connect(t, "n-ab", c.node.url, "a", "b")
	c.connect(t, "b-a", c.b.url, "a")
	all := []string{"n-a", "n-b", "n-ab", "b-a"}
	nsp := c.a.srv.Of("/")

	require.NoError(t, nsp.To("a").Emit("to-a", "hi", []byte{1, 2, 3}))
	for _, cl := range []string{"n-a", "n-ab", "b-a"} {
		assert.Equal(t, []any{"hi", buffer(1, 2, 3)}, c.node.event(t, cl, "to-a"), "client %s", cl)
	}
	require.NoError(t, nsp.Except("a").Emit("not-a", map[string]any{"deep": []any{[]byte{4}}}))
	assert.Equal(t, []any{map[string]any{"deep": []any{buffer(4)}}}, c.node.event(t, "n-b", "not-a"))
	require.NoError(t, nsp.To("a", "b").Emit("a-or-b", 1))
	// Node drops a volatile packet for a socket whose transport is still
	// writing the one before: wait until that one has arrived
	c.node.event(t, "n-b", "a-or-b")
	c.node.event(t, "n-ab", "a-or-b")
	require.NoError(t, nsp.Volatile().To("b").Emit("volatile-b", true))
	assert.Equal(t, []any{true}, c.node.event(t, "n-ab", "volatile-b"))
	assert.Equal(t, []any{true}, c.node.event(t, "n-b", "volatile-b"))

	// everything A published before "end" has arrived when "end" has
	require.NoError(t, nsp.Emit("end"))
	for _, cl := range all {
		c.node.event(t, cl, "end")
	}
	assert.Equal(t, []string{"to-a", "a-or-b", "end"}, c.node.events("n-a"))
	assert.Equal(t, []string{"not-a", "a-or-b", "volatile-b", "end"}, c.node.events("n-b"))
	assert.Equal(t, []string{"to-a", "a-or-b", "volatile-b", "end"}, c.node.events("n-ab"), "once, though in both rooms")
	assert.Equal(t, []string{"to-a", "a-or-b", "end"}, c.node.events("b-a"))

	// another namespace: its own channels
	c.connect(t, "n-other", c.node.url+"/other", "a")
	require.NoError(t, c.b.srv.Of("/other").To("a").Emit("other-a", []byte{5}))
	assert.Equal(t, []any{buffer(5)}, c.node.event(t, "n-other", "other-a"))
}

// The Node server's broadcasts (io.to, except, volatile) reach the
// official clients of vicinity servers, Buffers as Buffers.
func TestBroadcastFromNode(t *testing.T) { eachMode(t, testBroadcastFromNode) }

func testBroadcastFromNode(t *testing.T, c *cluster) {
	c.connect(t, "a-x", c.a.url, "x")
	c.connect(t, "b-x", c.b.url, "x")
	c.connect(t, "b-y", c.b.url, "y")
	c.connect(t, "a-xy", c.a.url, "x", "y")
	c.connect(t, "n-x", c.node.url, "x")
	all := []string{"a-x", "b-x", "b-y", "a-xy", "n-x"}

	c.node.call(t, nil, "emit", map[string]any{"rooms": []string{"x"}, "event": "to-x", "args": []any{"hi", bin(1, 2, 3)}})
	for _, cl := range []string{"a-x", "b-x", "a-xy", "n-x"} {
		assert.Equal(t, []any{"hi", buffer(1, 2, 3)}, c.node.event(t, cl, "to-x"), "client %s", cl)
	}
	c.node.call(t, nil, "emit", map[string]any{"except": []string{"x"}, "event": "not-x", "args": []any{map[string]any{"deep": []any{bin(4)}}}})
	assert.Equal(t, []any{map[string]any{"deep": []any{buffer(4)}}}, c.node.event(t, "b-y", "not-x"))
	c.node.call(t, nil, "emit", map[string]any{"rooms": []string{"x", "y"}, "event": "x-or-y", "args": []any{1}})
	c.node.call(t, nil, "emit", map[string]any{"rooms": []string{"y"}, "volatile": true, "event": "volatile-y", "args": []any{true}})
	assert.Equal(t, []any{true}, c.node.event(t, "b-y", "volatile-y"))
	assert.Equal(t, []any{true}, c.node.event(t, "a-xy", "volatile-y"))

	c.node.call(t, nil, "emit", map[string]any{"event": "end"})
	for _, cl := range all {
		c.node.event(t, cl, "end")
	}
	assert.Equal(t, []string{"to-x", "x-or-y", "end"}, c.node.events("a-x"))
	assert.Equal(t, []string{"to-x", "x-or-y", "end"}, c.node.events("b-x"))
	assert.Equal(t, []string{"not-x", "x-or-y", "volatile-y", "end"}, c.node.events("b-y"))
	assert.Equal(t, []string{"to-x", "x-or-y", "volatile-y", "end"}, c.node.events("a-xy"), "once, though in both rooms")
	assert.Equal(t, []string{"to-x", "x-or-y", "end"}, c.node.events("n-x"))

	// another namespace: its own channels
	c.connect(t, "b-other", c.b.url+"/other", "x")
	c.node.call(t, nil, "emit", map[string]any{"nsp": "/other", "rooms": []string{"x"}, "event": "other-x", "args": []any{bin(5)}})
	assert.Equal(t, []any{buffer(5)}, c.node.event(t, "b-other", "other-x"))
}
