package main

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/internal/redistest"
	"github.com/vicinity-go/vicinity/realtime"
	"github.com/vicinity-go/vicinity/spatial"
)

// serveNode runs the app as a node of the cluster on the Redis at addr,
// with a database of its own.
func serveNode(t *testing.T, addr string) *httptest.Server {
	t.Helper()
	return serveNodeIn(t, addr, "")
}

// serveNodeIn is serveNode with the database in dir: nodes given one
// share it, as nodes on one machine do.
func serveNodeIn(t *testing.T, addr, dir string) *httptest.Server {
	t.Helper()
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	require.NoError(t, err)
	t.Cleanup(rc.Close) // after the server's shutdown: cleanups run last first
	o := testOptions()
	o.Data = dir
	return serveCluster(t, o, rc)
}

// Two nodes on one Redis (main's -redis): people on the other node are on
// the map and in the list (nearby events, presence), and a shout, a DM and
// an area chat reach them.
func TestTwoNodes(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	dir := t.TempDir() // one database, as two nodes on one machine share it
	a, b := serveNodeIn(t, rs.Addr(), dir), serveNodeIn(t, rs.Addr(), dir)
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{rs.Addr()}, DisableCache: true})
	require.NoError(t, err)
	defer rc.Close()
	require.Eventually(t, func() bool { // both nodes listen (they subscribe in the background)
		n, err := rc.Do(t.Context(), rc.B().PubsubNumsub().Channel("socket.io-request#/#").Build()).AsIntMap()
		return err == nil && n["socket.io-request#/#"] == 2
	}, wait, 5*time.Millisecond)
	alice, bob := join(t, a, "alice"), join(t, b, "bob")
	// bob, on the other node, is online in alice's presence, and comes
	// onto her map.
	alice.next(realtime.DefaultPresenceDiff, func(v map[string]any) bool {
		joins, _ := v["joins"].(map[string]any)
		return joins["bob"] != nil
	})
	alice.moveTo(berlin)
	bob.moveTo(offset(berlin, 300, 0))
	alice.next(realtime.NearbyEnter, about(bob.s.ID()))

	require.Empty(t, alice.call("shout", "hello from node A"))
	assert.Equal(t, "hello from node A", bob.next("shout", about(alice.s.ID()))["text"])

	require.Empty(t, bob.call("dm", map[string]string{"to": "alice", "text": "hi from node B"}))
	assert.Equal(t, "hi from node B", alice.next("dm", about(bob.s.ID()))["text"])
	assert.Equal(t, "no such person", bob.call("dm", map[string]string{"to": "nobody", "text": "hi"}))

	museum := areas[len(areas)-1]
	inside := spatial.Point{Lat: 52.5180, Lng: 13.4020}
	alice.moveTo(inside)
	bob.moveTo(inside)
	assert.Equal(t, museum.Name, alice.next(realtime.AreaEnter, nil)["area"])
	assert.Equal(t, museum.Name, bob.next(realtime.AreaEnter, nil)["area"])
	require.Empty(t, alice.call("area-chat", map[string]string{"area": museum.Name, "text": "on the island"}))
	assert.Equal(t, "on the island", bob.next("area-chat", nil)["text"])
}
