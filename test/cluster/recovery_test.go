package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/internal/balancertest"
)

// recoveryLog is the recovery log of the servers of the recovery tests
// whose clients recover: long enough to keep what they miss.
const recoveryLog = 1000

// A client of server A, in room r, comes back through the load balancer
// to server B after A was shut down: socket.recovered, its id, its data,
// its rooms, and every broadcast it missed (sent from B and C) in order,
// binary data included.
func TestRecoveryAfterShutdown(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c := startWith(t, m, 3, recoveryLog)
			c.recoverElsewhere(t, c.a.url, func(string) {
				ctx, cancel := context.WithTimeout(t.Context(), wait)
				defer cancel()
				require.NoError(t, c.a.srv.Shutdown(ctx), "shut A down")
			}, c.b, c.c)
		})
	}
}

// recoverElsewhere runs a recovery scenario: client r1 joins room r
// through a load balancer pointing at the server at first, and gets a
// broadcast ("before"); the balancer then refuses new connections, drop
// (given r1's id) takes r1's connection away, and back and other broadcast
// to r in turn while r1 is away, binary data included (the observer o1,
// another official client in r, on other, sees each one before the next
// is sent, so that the recovery log has them in this order). Then the
// balancer points at back: r1 must have recovered its connection there,
// with what it missed, and get what other broadcasts to r later.
func (c *cluster) recoverElsewhere(t *testing.T, first string, drop func(id string), back, other *vicinity) {
	t.Helper()
	lb := balancertest.Start(t, first)
	id := c.connectVia(t, "r1", lb.URL, first, "r")
	c.connect(t, "o1", other.url, "r")
	require.NoError(t, back.srv.Of("/").To("r").Emit("before", 0, []byte{0}))
	c.node.event(t, "r1", "before")
	c.node.event(t, "o1", "before")

	lb.Refuse()
	drop(id)
	assert.Equal(t, "transport close", c.node.disconnected(t, "r1"))
	const missed = 4
	for i := 1; i <= missed; i++ {
		from := []*vicinity{back, other}[i%2]
		require.NoError(t, from.srv.Of("/").To("elsewhere").Emit("not-for-it"))
		require.NoError(t, from.srv.Of("/").To("r").Emit("missed", i, []byte{byte(i)}))
		c.node.nthEvent(t, "o1", "missed", i)
	}
	lb.Point(t, back.url)
	again := c.node.connected(t, "r1", 2)
	assert.True(t, again.Recovered, "socket.recovered on %s", back.name)
	assert.Equal(t, id, again.SID, "socket.id")
	c.node.nthEvent(t, "r1", "missed", missed)
	// in the modes with room channels, back listens to r's now, first not
	ch := roomChannel("/", "r")
	delete(c.members[ch], first)
	c.members[ch][back.url] = true
	c.waitSubscribed(t, "/", "r", false, len(c.members[ch]))

	require.NoError(t, other.srv.Of("/").To("r").Emit("after", []byte{9}))
	c.node.event(t, "r1", "after")
	got := c.node.eventNotes("r1")
	want := []string{"before"}
	for range missed {
		want = append(want, "missed")
	}
	want = append(want, "after")
	require.Equal(t, want, names(got), "each missed broadcast once, in order, then the live one")
	assert.Equal(t, []any{0.0, buffer(0)}, withOffset(t, got[0].Args))
	for i := 1; i <= missed; i++ {
		assert.Equal(t, []any{float64(i), buffer(byte(i))}, withOffset(t, got[i].Args), "missed broadcast %d", i)
	}
	assert.Equal(t, []any{buffer(9)}, withOffset(t, got[missed+1].Args))

	sockets := fetch(t, other.srv.Of("/").In("r"))
	require.Contains(t, sockets, id, "r1 is in r again")
	assert.Equal(t, map[string]any{"name": "r1"}, sockets[id].Data, "r1's data")
}

// connected waits for the n-th connection of client (1 for the first) and
// returns its note: its socket.id and socket.recovered.
func (p *peer) connected(t *testing.T, client string, n int) message {
	t.Helper()
	return p.nth(t, fmt.Sprintf("connection %d of client %s", n, client), n, func(m message) bool {
		return m.Note == "connect" && m.Client == client
	})
}

// nthEvent waits for the n-th event of that name client got (1 for the
// first), and returns its arguments.
func (p *peer) nthEvent(t *testing.T, client, event string, n int) []any {
	t.Helper()
	return p.nth(t, fmt.Sprintf("%q number %d on client %s", event, n, client), n, func(m message) bool {
		return m.Note == "event" && m.Client == client && m.Event == event
	}).Args
}

// withOffset checks that the last of the arguments of a broadcast a
// recovering client got is its offset, a string, and returns the others.
func withOffset(t *testing.T, args []any) []any {
	t.Helper()
	require.NotEmpty(t, args, "a broadcast's arguments end with its offset")
	_, ok := args[len(args)-1].(string)
	require.True(t, ok, "a broadcast's arguments end with its offset, a string: %v", args)
	return args[:len(args)-1]
}

// waitSession waits until Redis holds the session of socket id (a key
// socket.io-session#/#pid, kept by its server while it is connected),
// with room among its rooms.
func (c *cluster) waitSession(t *testing.T, id, room string) {
	t.Helper()
	p := c.probe
	require.Eventually(t, func() bool {
		keys, err := p.Do(ctx(t), p.B().Keys().Pattern("socket.io-session#/#*").Build()).AsStrSlice()
		if err != nil {
			return false
		}
		for _, key := range keys {
			raw, err := p.Do(ctx(t), p.B().Get().Key(key).Build()).AsBytes()
			var sess struct {
				SID   string   `json:"sid"`
				Rooms []string `json:"rooms"`
			}
			if err == nil && json.Unmarshal(raw, &sess) == nil && sess.SID == id && slices.Contains(sess.Rooms, room) {
				return true
			}
		}
		return false
	}, wait, 20*time.Millisecond, "no session of %s in room %s in Redis", id, room)
}

// A client that comes back after the recovery log (about 5 packets here)
// dropped what it missed starts afresh: not recovered, a new id, nothing
// replayed, not in its rooms.
func TestRecoveryPastTheLog(t *testing.T) {
	c := startWith(t, classic, 3, 5)
	lb := balancertest.Start(t, c.a.url)
	id := c.connectVia(t, "r1", lb.URL, c.a.url, "r")
	o1 := c.connect(t, "o1", c.c.url, "r")
	require.NoError(t, c.b.srv.Of("/").To("r").Emit("before"))
	c.node.event(t, "r1", "before")

	lb.Refuse()
	lb.Cut() // A sees r1 go: it keeps its session
	assert.Equal(t, "transport close", c.node.disconnected(t, "r1"))
	const flood = 500 // Redis trims a stream by whole nodes of 100 entries
	for i := range flood {
		require.NoError(t, c.b.srv.Of("/").To("r").Emit("flood", i))
	}
	c.node.nthEvent(t, "o1", "flood", flood)
	lb.Point(t, c.b.url)
	again := c.node.connected(t, "r1", 2)
	assert.False(t, again.Recovered, "socket.recovered")
	assert.NotEqual(t, id, again.SID, "a new socket.id")

	// anything replayed would have come before
	require.NoError(t, c.c.srv.Of("/").Emit("marker"))
	c.node.event(t, "r1", "marker")
	assert.Equal(t, []string{"before", "marker"}, names(c.node.eventNotes("r1")), "nothing replayed")
	assert.ElementsMatch(t, []string{o1}, mapKeys(fetch(t, c.c.srv.Of("/").In("r"))), "r1 is not in r")
}
