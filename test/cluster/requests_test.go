package cluster

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/realtime"
)

// nodeSocket is a socket as peer.mjs reports what Node's fetchSockets
// found.
type nodeSocket struct {
	ID        string         `json:"id"`
	Rooms     []string       `json:"rooms"`
	Handshake nodeHandshake  `json:"handshake"`
	Data      map[string]any `json:"data"`
}

// nodeHandshake is a part of Node's socket.handshake.
type nodeHandshake struct {
	Address string            `json:"address"`
	Time    string            `json:"time"`
	Issued  float64           `json:"issued"`
	URL     string            `json:"url"`
	Query   map[string]string `json:"query"`
	Headers map[string]any    `json:"headers"`
	Auth    map[string]any    `json:"auth"`
}

// nodeFetch returns what the Node server's io.in(rooms).fetchSockets()
// finds, by id.
func (c *cluster) nodeFetch(t *testing.T, rooms ...string) map[string]nodeSocket {
	t.Helper()
	var got []nodeSocket
	c.node.call(t, &got, "fetchSockets", map[string]any{"rooms": rooms})
	byID := make(map[string]nodeSocket, len(got))
	for _, s := range got {
		byID[s.ID] = s
	}
	require.Len(t, byID, len(got), "a socket listed twice: %v", got)
	return byID
}

// fetcher is a namespace or a broadcast operator of a vicinity server.
type fetcher interface {
	FetchSockets(ctx context.Context) ([]*realtime.RemoteSocket, error)
}

// fetch returns what a vicinity server's FetchSockets finds, by id.
func fetch(t *testing.T, op fetcher) map[string]*realtime.RemoteSocket {
	t.Helper()
	got, err := op.FetchSockets(ctx(t))
	require.NoError(t, err)
	byID := make(map[string]*realtime.RemoteSocket, len(got))
	for _, s := range got {
		byID[s.ID] = s
	}
	require.Len(t, byID, len(got), "a socket listed twice")
	return byID
}

func TestFetchSockets(t *testing.T) { eachMode(t, testFetchSockets) }

func testFetchSockets(t *testing.T, c *cluster) {
	ids := map[string]string{ // by client name
		"a1": c.connect(t, "a1", c.a.url, "r"),
		"b1": c.connect(t, "b1", c.b.url, "r", "s"),
		"n1": c.connect(t, "n1", c.node.url, "r"),
		"n2": c.connect(t, "n2", c.node.url),
	}

	t.Run("node lists vicinity's", func(t *testing.T) {
		got := c.nodeFetch(t, "r")
		require.Len(t, got, 3)
		for _, name := range []string{"a1", "b1", "n1"} {
			s, ok := got[ids[name]]
			require.True(t, ok, "socket %s (%s) not found in %v", name, ids[name], got)
			assert.Contains(t, s.Rooms, "r", name)
			assert.Contains(t, s.Rooms, s.ID, name)
			assert.Equal(t, map[string]any{"name": name}, s.Data, name)
			hs := s.Handshake
			assert.Equal(t, "127.0.0.1", hs.Address, name)
			assert.Equal(t, map[string]any{"data": map[string]any{"name": name}}, hs.Auth, name)
			assert.Equal(t, "4", hs.Query["EIO"], name)
			assert.Equal(t, "websocket", hs.Query["transport"], name)
			assert.True(t, strings.HasPrefix(hs.URL, "/socket.io/?"), "%s: url %q", name, hs.URL)
			assert.NotEmpty(t, hs.Headers["host"], name)
			assert.Positive(t, hs.Issued, name)
			_, err := time.Parse("Mon Jan 02 2006 15:04:05 GMT-0700", hs.Time[:min(len(hs.Time), 33)])
			assert.NoError(t, err, "%s: time %q, as Date.toString", name, hs.Time)
		}
		assert.ElementsMatch(t, []string{ids["b1"], "r", "s"}, got[ids["b1"]].Rooms)
		assert.Len(t, c.nodeFetch(t), 4, "every socket of every server")

		// Node's RemoteSocket.emit reaches a vicinity socket
		var reached []string
		c.node.call(t, &reached, "fetchAndEmit", map[string]any{"rooms": []string{"s"}, "event": "direct", "args": []any{bin(5)}})
		assert.Equal(t, []string{ids["b1"]}, reached)
		assert.Equal(t, []any{buffer(5)}, c.node.event(t, "b1", "direct"))
	})

	t.Run("vicinity lists node's", func(t *testing.T) {
		got := fetch(t, c.a.srv.Of("/").In("r"))
		require.Len(t, got, 3)
		for _, name := range []string{"a1", "b1", "n1"} {
			s, ok := got[ids[name]]
			require.True(t, ok, "socket %s (%s) not found", name, ids[name])
			assert.Contains(t, s.Rooms, "r", name)
			assert.Contains(t, s.Rooms, s.ID, name)
			assert.Equal(t, "127.0.0.1", s.Handshake.Address, name)
			assert.Equal(t, map[string]any{"name": name}, s.Data, name)
			assert.JSONEq(t, `{"data":{"name":"`+name+`"}}`, string(s.Handshake.Auth), name)
		}
		n1 := got[ids["n1"]]
		assert.ElementsMatch(t, []string{ids["n1"], "r"}, n1.Rooms)
		assert.Equal(t, "/socket.io/", n1.Handshake.URL[:len("/socket.io/")], "the handshake of a Node socket: %+v", n1.Handshake)
		assert.Equal(t, "websocket", n1.Handshake.Query.Get("transport"))
		assert.False(t, n1.Handshake.Time.IsZero())

		notR := fetch(t, c.b.srv.Of("/").Except("r"))
		assert.Equal(t, []string{ids["n2"]}, mapKeys(notR))
		assert.Len(t, fetch(t, c.b.srv.Of("/").In("s")), 1)
	})
}

func mapKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// A vicinity server's SocketsJoin, SocketsLeave and DisconnectSockets act
// on the Node server's sockets.
func TestOperationsFromVicinity(t *testing.T) { eachMode(t, testOperationsFromVicinity) }

func testOperationsFromVicinity(t *testing.T, c *cluster) {
	a1 := c.connect(t, "a1", c.a.url, "r")
	b1 := c.connect(t, "b1", c.b.url, "r")
	n1 := c.connect(t, "n1", c.node.url, "r")
	n2 := c.connect(t, "n2", c.node.url, "other")
	nsp := c.a.srv.Of("/")

	// each server applies the join before it answers the fetch published
	// after it
	require.NoError(t, nsp.In("r").SocketsJoin(ctx(t), "joined"))
	assert.ElementsMatch(t, []string{a1, b1, n1}, mapKeys(fetch(t, nsp.In("joined"))))
	assert.Contains(t, c.nodeFetch(t, "joined"), n1)
	require.NoError(t, nsp.Except("joined").SocketsJoin(ctx(t), "not-joined"))
	assert.Equal(t, []string{n2}, mapKeys(fetch(t, nsp.In("not-joined"))))

	require.NoError(t, nsp.In("r").Except(a1).SocketsLeave(ctx(t), "joined"))
	assert.Equal(t, []string{a1}, mapKeys(fetch(t, nsp.In("joined"))))
	assert.Equal(t, []string{a1}, mapKeys(c.nodeFetch(t, "joined")))

	// a remote socket found by FetchSockets is told things through Node
	remote := fetch(t, nsp.In("other"))[n2]
	require.NotNil(t, remote)
	require.NoError(t, remote.Emit("direct", []byte{7}))
	assert.Equal(t, []any{buffer(7)}, c.node.event(t, "n2", "direct"))
	require.NoError(t, remote.Join(ctx(t), "direct-room"))
	assert.Equal(t, []string{n2}, mapKeys(fetch(t, nsp.In("direct-room"))))

	require.NoError(t, nsp.In("r").Except(a1).DisconnectSockets(ctx(t), false))
	assert.Equal(t, "io server disconnect", c.node.disconnected(t, "n1"))
	assert.Equal(t, "io server disconnect", c.node.disconnected(t, "b1"))
	assert.ElementsMatch(t, []string{a1, n2}, mapKeys(fetch(t, nsp)))
	assert.ElementsMatch(t, []string{a1, n2}, mapKeys(c.nodeFetch(t)))

	require.NoError(t, nsp.In("other").DisconnectSockets(ctx(t), true))
	assert.Equal(t, "io server disconnect", c.node.disconnected(t, "n2"))
	assert.Equal(t, []string{a1}, mapKeys(fetch(t, nsp)))
}

// The Node server's socketsJoin, socketsLeave and disconnectSockets act
// on vicinity servers' sockets. Node's adapter applies them to its own
// sockets only when its request comes back from Redis, so the checks
// leave its sockets out; what the vicinity servers did is checked with the
// Node server's fetchSockets, which each applies after the request
// published before it.
func TestOperationsFromNode(t *testing.T) { eachMode(t, testOperationsFromNode) }

func testOperationsFromNode(t *testing.T, c *cluster) {
	a1 := c.connect(t, "a1", c.a.url, "r")
	b1 := c.connect(t, "b1", c.b.url, "r")
	b2 := c.connect(t, "b2", c.b.url, "other")
	n1 := c.connect(t, "n1", c.node.url, "node-only")

	c.node.call(t, nil, "socketsJoin", map[string]any{"rooms": []string{"r"}, "join": []string{"joined", "also"}})
	assert.ElementsMatch(t, []string{a1, b1}, mapKeys(c.nodeFetch(t, "joined")))
	assert.ElementsMatch(t, []string{a1, b1}, mapKeys(c.nodeFetch(t, "also")))
	c.node.call(t, nil, "socketsJoin", map[string]any{"rooms": []string{"r", "other"}, "except": []string{"joined"}, "join": "not-joined"})
	assert.Equal(t, []string{b2}, mapKeys(c.nodeFetch(t, "not-joined")))

	c.node.call(t, nil, "socketsLeave", map[string]any{"rooms": []string{"r"}, "except": []string{b1}, "leave": "joined"})
	assert.Equal(t, []string{b1}, mapKeys(c.nodeFetch(t, "joined")))
	// in the dynamic modes A, with no socket left in the room, stops
	// listening to its channel
	c.waitSubscribed(t, "/", "joined", false, 1)
	// a broadcast to the room follows the join, once A and B listen to the
	// room's channel in the dynamic modes
	c.waitSubscribed(t, "/", "also", false, 2)
	c.node.call(t, nil, "emit", map[string]any{"rooms": []string{"also"}, "event": "in-also"})
	c.node.event(t, "a1", "in-also")
	c.node.event(t, "b1", "in-also")

	c.node.call(t, nil, "disconnectSockets", map[string]any{"rooms": []string{"r"}, "except": []string{b1}})
	assert.Equal(t, "io server disconnect", c.node.disconnected(t, "a1"))
	assert.ElementsMatch(t, []string{b1, b2, n1}, mapKeys(c.nodeFetch(t)))
	c.node.call(t, nil, "disconnectSockets", map[string]any{"rooms": []string{"r", "other"}, "close": true})
	assert.Equal(t, "io server disconnect", c.node.disconnected(t, "b1"))
	assert.Equal(t, "io server disconnect", c.node.disconnected(t, "b2"))
	assert.Equal(t, []string{n1}, mapKeys(c.nodeFetch(t)))
	assert.Equal(t, []string{"in-also"}, c.node.events("b1"))
}

// Server-side emits both ways, with and without acknowledgements.
func TestServerSideEmit(t *testing.T) { eachMode(t, testServerSideEmit) }

func testServerSideEmit(t *testing.T, c *cluster) {
	answers, err := c.a.srv.Of("/").ServerSideEmitWithAck(ctx(t), "hello", "from-A", 2)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{`{"from":"B"}`, `{"from":"node"}`}, rawStrings(answers))
	assert.Equal(t, []any{"from-A", float64(2)}, c.node.serverSideEmit(t, "from-A"))
	assert.Equal(t, "from-A", c.b.helloFrom(t))

	var got []map[string]string
	c.node.call(t, &got, "serverSideEmitWithAck", map[string]any{"event": "hello", "args": []any{"from-node"}})
	assert.ElementsMatch(t, []map[string]string{{"from": "A"}, {"from": "B"}}, got)
	assert.Equal(t, "from-node", c.a.helloFrom(t))
	assert.Equal(t, "from-node", c.b.helloFrom(t))

	require.NoError(t, c.b.srv.Of("/").ServerSideEmit(ctx(t), "hello", "plain-B"))
	assert.Equal(t, []any{"plain-B"}, c.node.serverSideEmit(t, "plain-B"))
	assert.Equal(t, "plain-B", c.a.helloFrom(t))
	select {
	case arg := <-c.b.sse:
		t.Errorf("B got its own server-side event %q", arg)
	default:
	}
}

func rawStrings(raws []json.RawMessage) []string {
	out := make([]string, len(raws))
	for i, r := range raws {
		out[i] = string(r)
	}
	return out
}

// Broadcasts with acknowledgements both ways: every client of every server
// answers. (Not yet: a Node broadcast that reaches no socket of a
// vicinity server, whose count of 0 omits clientCount.)
func TestEmitWithAck(t *testing.T) { eachMode(t, testEmitWithAck) }

func testEmitWithAck(t *testing.T, c *cluster) {
	c.connect(t, "a1", c.a.url, "q")
	c.connect(t, "b1", c.b.url, "q")
	c.connect(t, "b2", c.b.url)
	c.connect(t, "n1", c.node.url, "q")
	c.connect(t, "n2", c.node.url)

	var got []string
	c.node.call(t, &got, "emitWithAck", map[string]any{"rooms": []string{"q"}, "timeout": 2000, "event": "ask", "args": []any{"?", bin(1)}})
	assert.ElementsMatch(t, []string{"ack:a1", "ack:b1", "ack:n1"}, got)
	assert.Equal(t, []any{"?", buffer(1)}, c.node.event(t, "a1", "ask"))

	c.node.call(t, &got, "emitWithAck", map[string]any{"timeout": 2000, "event": "ask-all"})
	assert.ElementsMatch(t, []string{"ack:a1", "ack:b1", "ack:b2", "ack:n1", "ack:n2"}, got)

	answers, err := c.b.srv.Of("/").To("q").EmitWithAck(ctx(t), "ask-go", "?", []byte{2})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"ack:a1", "ack:b1", "ack:n1"}, bindStrings(t, answers))
	assert.Equal(t, []any{"?", buffer(2)}, c.node.event(t, "n1", "ask-go"))

	answers, err = c.a.srv.Of("/").EmitWithAck(ctx(t), "ask-all-go")
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"ack:a1", "ack:b1", "ack:b2", "ack:n1", "ack:n2"}, bindStrings(t, answers))

	answers, err = c.a.srv.Of("/").To("nobody").EmitWithAck(ctx(t), "ask-nobody")
	require.NoError(t, err, "every server says 0 at once")
	assert.Empty(t, answers)
}

func bindStrings(t *testing.T, answers []realtime.Args) []string {
	t.Helper()
	out := make([]string, len(answers))
	for i, a := range answers {
		require.NoError(t, a.Bind(&out[i]), "answer %d", i)
	}
	return out
}
