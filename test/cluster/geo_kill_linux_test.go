//go:build linux

package cluster

import (
	"context"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/realtime"
)

// geoChildEnv, set with childEnv, makes the child that startChild starts
// the geo server C (with the short heartbeats) rather than a plain
// vicinity server.
const geoChildEnv = "VICINITY_CLUSTER_CHILD_GEO"

// init runs the geo server of a child, before TestMain would run the plain
// one.
func init() {
	if addr := os.Getenv(childEnv); addr != "" && os.Getenv(geoChildEnv) != "" {
		os.Exit(runGeoChild(addr))
	}
}

// runGeoChild runs the geo server C on the Redis at addr, printing its
// URL, until its stdin closes.
func runGeoChild(addr string) int {
	v, err := newGeoServer(addr, "C", short)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(v.url)
	_, _ = io.Copy(io.Discard, os.Stdin)
	v.close()
	return 0
}

// startGeoChild starts the geo server C in a process of its own on the
// Redis at addr; it is killed when the test ends.
func startGeoChild(t *testing.T, addr string) *child {
	t.Helper()
	t.Setenv(geoChildEnv, "1") // for the child startChild starts
	return startChild(t, addr, classic, 0)
}

// deadTimeout bounds the waits for what follows the death of a server:
// its sockets leave the others' maps after the adapter's heartbeat
// timeout (1 s), its users their presence after the tracker's TTL (600
// ms); both within a few seconds.
const deadTimeout = 10 * time.Second

// TestGeoServerKilled: server C, killed with SIGKILL, says nothing to
// anyone; its client's replicas leave everywhere, the watchers on A and B
// getting nearby:leave with reason disconnected, its user leaves the
// lobby's presence as the clients of A and B see it, and its records
// leave the cell hashes of Redis.
func TestGeoServerKilled(t *testing.T) {
	g := startGeo(t, 2, short)
	a, b := g.servers[0], g.servers[1]
	ch := startGeoChild(t, g.redis.Addr())
	g.waitReady(t, 3, a, b)
	ann := g.dial(t, "ann", a.url, byAuth)
	bob := g.dial(t, "bob", b.url, byQuery)
	carl := g.dial(t, "carl", ch.url, byAuth)
	ann.moveTo(t, at(0, 0))
	ann.do(t, "watch", 500)
	bob.moveTo(t, at(100, 0))
	bob.do(t, "watch", 500)
	from := ann.mark()
	for _, u := range []*geoClient{ann, bob, carl} {
		u.join(t, "lobby")
	}
	carl.moveTo(t, at(200, 50))
	for _, u := range []*geoClient{ann, bob} {
		u.sees(t, from, carl, "enter", at(200, 50))
	}
	for _, u := range []*geoClient{ann, bob, carl} {
		u.waitPresence(t, wait, "lobby", nil, ann, bob, carl)
	}
	g.waitRecords(t, wait, "Redis holds carl's record", func(recs map[string][]byte) bool { return len(recs) > 0 }, carl.id)

	from = ann.mark()
	require.NoError(t, ch.cmd.Process.Kill())
	killed := time.Now()
	assert.Equal(t, "transport close", ann.p.disconnected(t, "carl"))
	for _, u := range []*geoClient{ann, bob} {
		u.leaves(t, from, deadTimeout, carl, realtime.LeaveDisconnected)
		t.Logf("%s saw carl leave within %v of the kill", u.name, time.Since(killed).Round(time.Millisecond))
	}
	for _, u := range []*geoClient{ann, bob} {
		u.waitPresence(t, deadTimeout, "lobby", nil, ann, bob)
		t.Logf("carl was out of the lobby's presence on %s within %v of the kill", u.name, time.Since(killed).Round(time.Millisecond))
	}
	g.waitRecords(t, deadTimeout, "Redis holds no record of carl", none, carl.id)
	ctx, cancel := context.WithTimeout(t.Context(), requestTimeout)
	defer cancel()
	for _, v := range g.servers {
		members, err := v.tracker.List(ctx, "/#lobby")
		require.NoError(t, err)
		for _, m := range members {
			for _, mt := range m.Metas {
				assert.NotEqual(t, "C", mt.Node, "%s's lobby: a meta of C's", v.name)
			}
		}
	}
}
