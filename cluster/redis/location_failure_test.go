package redis_test

import (
	"context"
	"encoding/binary"
	"math"
	"strconv"

	"github.com/redis/rueidis"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/cluster/redis"
	"github.com/vicinity-go/vicinity/internal/id"
	"github.com/vicinity-go/vicinity/internal/redistest"
	"github.com/vicinity-go/vicinity/realtime"
)

// cutProxy forwards TCP to a Redis; cut closes every connection and
// refuses new ones (a network partition, Redis keeping its data) until
// restore.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  map[net.Conn]bool
	down   bool
	wg     sync.WaitGroup
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &cutProxy{ln: ln, target: target, conns: make(map[net.Conn]bool)}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) Addr() string { return p.ln.Addr().String() }

func (p *cutProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns[c], p.conns[s] = true, true
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { defer p.wg.Done(); _, _ = io.Copy(s, c); _ = s.Close(); _ = c.Close() }()
		go func() { defer p.wg.Done(); _, _ = io.Copy(c, s); _ = s.Close(); _ = c.Close() }()
	}
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

func (p *cutProxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// A socket that disconnects while its server is cut off from Redis (Redis
// keeps its data, and the cut is shorter than the heartbeat timeout, so
// nobody takes the server for dead) leaves the other servers and the
// cells' hashes once the cut ends: its server keeps the record it could
// not send, and shares it again to the cells the others last heard of it
// in.
func TestLocationGoneDuringPartition(t *testing.T) {
	rs := redistest.Start(t)
	key := "ghost" + id.New()[:8]
	hb := redis.WithHeartbeat(100*time.Millisecond, 5*time.Second)
	na := geoNode(t, rs.Addr(), key, hb)
	px := newCutProxy(t, rs.Addr())
	nb := geoNode(t, px.Addr(), key, hb)
	ann, bob, bobID := meet(t, na, nb)

	px.cut()
	time.Sleep(300 * time.Millisecond) // nb's subscription notices
	require.NoError(t, bob.s.Manager().Close())
	time.Sleep(300 * time.Millisecond) // nb handles the disconnect
	px.restore()

	// A server that comes to the cell afterwards.
	nc := geoNode(t, rs.Addr(), key, hb)
	carl := dialGeo(t, nc)
	carl.moveTo(t, north(100, 0))
	carl.do(t, "watch", map[string]any{"radius": 500})

	time.Sleep(6 * time.Second) // reconnection, re-sharing, re-reading, heartbeats, sweeps
	left := false
	for _, e := range ann.events() {
		if strings.HasPrefix(e, "leave "+bobID) {
			left = true
		}
	}
	assert.True(t, left, "bob disconnected during the cut: ann (other server) still sees him; events %v", ann.events())
	// A server that read the cell before bob's server could say he went
	// may see him for a moment; then he leaves, for good.
	seen := false
	for _, e := range carl.events() {
		switch {
		case e == "enter "+bobID:
			seen = true
		case strings.HasPrefix(e, "leave "+bobID):
			seen = false
		}
	}
	assert.False(t, seen, "a server that came later sees bob, who left during the cut: %v", carl.events())
}

// A server cut off from Redis for longer than the heartbeat timeout is
// taken for dead by the others (its connection closed): they drop its
// sockets and clean its records up. When it comes back, its heartbeat
// makes it alive again and it shares its sockets again: a socket that does
// not move is seen again.
func TestLocationServerBackFromDeath(t *testing.T) {
	rs := redistest.Start(t)
	key := "back" + id.New()[:8]
	na := geoNode(t, rs.Addr(), key) // heartbeat 100 ms, timeout 400 ms
	px := newCutProxy(t, rs.Addr())
	nb := geoNode(t, px.Addr(), key)
	ann, _, bobID := meet(t, na, nb)

	px.cut()
	ann.wait(t, "leave "+bobID+" disconnected") // nb taken for dead
	time.Sleep(500 * time.Millisecond)
	px.restore()
	ann.reset()

	// Both servers are up; bob is connected and has not moved.
	ann.waitWithin(t, "enter "+bobID, 10*time.Second) // bob, on nb, back and connected, is seen again
}

// What a server keeps of the cells it wrote to (in memory, and in Redis
// for the servers that would clean up after it) follows its sockets: once
// a socket that walked across many cells with a large symmetric watch has
// gone, nothing of it is left.
func TestLocationCellsWrittenBounded(t *testing.T) {
	rs := redistest.Start(t)
	key := "wrote" + id.New()[:8]
	nb := geoNode(t, rs.Addr(), key)
	bob := dialGeo(t, nb)
	bob.moveTo(t, berlin)
	bob.do(t, "watch", map[string]any{"radius": 3000, "symmetric": true})
	for i := range 60 {
		bob.moveTo(t, north(float64(i)*1000, 0))
	}
	require.NoError(t, bob.s.Manager().Close())
	time.Sleep(500 * time.Millisecond)

	require.Eventually(t, func() bool {
		keys, err := nb.rc.Do(t.Context(), nb.rc.B().Keys().Pattern(key+"-geo#/#node#*").Build()).AsStrSlice()
		require.NoError(t, err)
		hashes, err := nb.rc.Do(t.Context(), nb.rc.B().Keys().Pattern(key+"-geo#/#*#m").Build()).AsStrSlice()
		require.NoError(t, err)
		return len(keys) == 0 && len(hashes) == 0
	}, 5*time.Second, 20*time.Millisecond, "no socket left: no cell hash, and no cell in the server's node set")
}

// A hidden socket's shout is refused (realtime.ErrHidden): its circle,
// published to the cells it covers, would say where it is; nothing with
// its exact position reaches Redis.
func TestLocationHiddenShout(t *testing.T) {
	rs := redistest.Start(t)
	key := "shout" + id.New()[:8]
	na, nb := geoNode(t, rs.Addr(), key), geoNode(t, rs.Addr(), key)
	ann, bob := dialGeo(t, na), dialGeo(t, nb)
	ann.moveTo(t, berlin)
	ann.do(t, "watch", map[string]any{"radius": 500}) // na subscribes to the cells around berlin

	var mu sync.Mutex
	var got []string
	spy := newClient(t, rs.Addr())
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = spy.Receive(ctx, spy.B().Psubscribe().Pattern(key+"-geo#/#*").Build(), func(m rueidis.PubSubMessage) {
			mu.Lock()
			got = append(got, m.Message)
			mu.Unlock()
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	time.Sleep(200 * time.Millisecond)

	secret := north(333, 0) // bob's exact position, which he hides
	bob.do(t, "hide", true)
	bob.moveTo(t, secret)
	ctx, cancelShout := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancelShout()
	res, err := bob.s.EmitWithAck(ctx, "shout", 1000, "psst")
	require.NoError(t, err)
	var answer struct{ Error string }
	require.NoError(t, res.Bind(&answer))
	assert.Equal(t, realtime.ErrHidden.Error(), answer.Error, "a hidden socket's shout is refused: who got it would say where it is")
	bob.moveTo(t, north(300, 0)) // elsewhere, then shown again: a record
	bob.do(t, "hide", false)
	ann.wait(t, "enter "+bob.s.ID())

	exact := make([]byte, 8)
	binary.BigEndian.PutUint64(exact, math.Float64bits(secret.Lat))
	mu.Lock()
	defer mu.Unlock()
	leaks := 0
	for _, m := range got {
		if strings.Contains(m, string(exact)) || strings.Contains(m, strconv.FormatFloat(secret.Lat, 'f', -1, 64)) {
			leaks++
			if leaks == 1 {
				t.Logf("published to Redis: %q", m)
			}
		}
	}
	assert.Zero(t, leaks, "messages published to Redis with the exact latitude %v of a hidden socket (of %d)", secret.Lat, len(got))
}

// After a Redis restart (empty), the server that reconnects first reads its
// cells before the other has shared its sockets again, and finds none (they
// leave, "disconnected"); once the other shares them again, the same
// records, they are seen again: a socket that does not move included.
func TestLocationAfterRedisRestart(t *testing.T) {
	rs := redistest.Start(t)
	key := "rst" + id.New()[:8]
	hb := redis.WithHeartbeat(100*time.Millisecond, 10*time.Second) // nobody is taken for dead
	na := geoNode(t, rs.Addr(), key, hb)
	px := newCutProxy(t, rs.Addr())
	nb := geoNode(t, px.Addr(), key, hb)
	ann, _, bobID := meet(t, na, nb)

	px.cut()     // nb reconnects a little later than na
	rs.Restart() // empty
	ann.wait(t, "leave "+bobID)
	px.restore()
	ann.reset()

	ann.waitWithin(t, "enter "+bobID, 10*time.Second) // bob, connected to nb and not moving, is seen again
}

// The same, with a check that nb did share bob again: a third server
// that comes to the cell afterwards reads him from Redis and sees him,
// while ann's server, which had him, does not.
func TestLocationAfterRedisRestartThirdServer(t *testing.T) {
	rs := redistest.Start(t)
	key := "rst2" + id.New()[:8]
	hb := redis.WithHeartbeat(100*time.Millisecond, 10*time.Second)
	na := geoNode(t, rs.Addr(), key, hb)
	px := newCutProxy(t, rs.Addr())
	nb := geoNode(t, px.Addr(), key, hb)
	ann, _, bobID := meet(t, na, nb)

	px.cut()
	rs.Restart()
	ann.wait(t, "leave "+bobID)
	px.restore()
	ann.reset()
	time.Sleep(4 * time.Second) // nb reconnects and shares bob again

	nc := geoNode(t, rs.Addr(), key, hb)
	carl := dialGeo(t, nc)
	carl.moveTo(t, berlin)
	carl.do(t, "watch", map[string]any{"radius": 500})
	carl.wait(t, "enter "+bobID) // bob is in Redis again
	assert.Contains(t, ann.events(), "enter "+bobID, "ann's server never applies bob again")
}

// A watcher walks away from a socket of another server and comes back
// after this server swept its replica (out of its interest): reading the
// cell again brings the socket, which did not move, back.
func TestLocationComeBack(t *testing.T) {
	rs := redistest.Start(t)
	key := "back2" + id.New()[:8]
	hb := redis.WithHeartbeat(100*time.Millisecond, 10*time.Second) // owners kept 30 s out of interest
	na, nb := geoNode(t, rs.Addr(), key, hb), geoNode(t, rs.Addr(), key, hb)
	ann, _, bobID := meet(t, na, nb)

	ann.moveTo(t, north(20000, 0)) // away: the cells around bob are of no interest
	ann.wait(t, "leave "+bobID+" far")
	time.Sleep(11 * time.Second) // realtime's sweep (every 5 s) drops bob's replica
	ann.reset()
	ann.moveTo(t, berlin)                            // back
	ann.waitWithin(t, "enter "+bobID, 5*time.Second) // bob, not moving, 300 m away, is seen again
}

// A server dies (here: cut off from Redis for good) while no other server
// is subscribed to the cells of its sockets: a Nearby that reads those
// cells from Redis does not find its sockets once it stopped heartbeating.
func TestLocationNearbySkipsDeadServers(t *testing.T) {
	rs := redistest.Start(t)
	key := "deadnb" + id.New()[:8]
	px := newCutProxy(t, rs.Addr())
	nx := geoNode(t, px.Addr(), key) // heartbeat 100 ms, timeout 400 ms
	ny := geoNode(t, rs.Addr(), key)
	bob, carl := dialGeo(t, nx), dialGeo(t, ny)
	bobID := bob.s.ID()
	bob.moveTo(t, north(5000, 0))
	carl.moveTo(t, berlin)
	var ids []string
	require.Eventually(t, func() bool { // once bob's record reached Redis
		ids = nil
		require.NoError(t, carl.do(t, "nearby", 6000).Bind(&ids))
		return len(ids) == 1 && ids[0] == bobID
	}, 5*time.Second, 20*time.Millisecond, "bob found across servers while his server lives: %v", ids)

	px.cut()                    // nx is gone for the cluster
	time.Sleep(4 * time.Second) // 10 heartbeat timeouts
	ids = nil
	require.NoError(t, carl.do(t, "nearby", 6000).Bind(&ids))
	assert.NotContains(t, ids, bobID, "a socket of a server dead for 10 heartbeat timeouts is still found by Nearby")
}
