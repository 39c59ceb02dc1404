package redis_test

import (
	"context"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/client"
	"github.com/vicinity-go/vicinity/cluster/redis"
	"github.com/vicinity-go/vicinity/internal/id"
	"github.com/vicinity-go/vicinity/internal/redistest"
	"github.com/vicinity-go/vicinity/realtime"
	"github.com/vicinity-go/vicinity/spatial"
)

// berlin is where the location tests happen.
var berlin = spatial.Point{Lat: 52.52, Lng: 13.405}

// north returns the point m meters north and e meters east of berlin.
func north(m, e float64) spatial.Point {
	return spatial.Point{
		Lat: berlin.Lat + m/111_195,
		Lng: berlin.Lng + e/(111_195*math.Cos(berlin.Lat*math.Pi/180)),
	}
}

// geoNode starts a location-aware vicinity server on the Redis at addr,
// in the cluster of key: its clients set their location with "location",
// watch with "watch" ({radius, symmetric}), hide with "hide", coarsen with
// "coarsen" (meters), shout with "shout" (radius, text) and ask "nearby"
// (radius).
func geoNode(t *testing.T, addr, key string, opts ...redis.Option) *node {
	t.Helper()
	rc := newClient(t, addr)
	srv := realtime.New(
		realtime.WithAdapter(redis.NewAdapter(rc, append([]redis.Option{redis.WithKey(key), redis.WithHeartbeat(100*time.Millisecond, 400*time.Millisecond), redis.WithCellSize(1000)}, opts...)...)),
		realtime.WithSpatial(),
		realtime.WithLocationEvent("location"),
		realtime.WithLocationLimits(realtime.LocationLimits{UpdateRate: 100, UpdateBurst: 100, QueryRate: 100, QueryBurst: 100, MaxSpeed: math.Inf(1)}),
	)
	srv.Of("/").OnConnection(func(s *realtime.Socket) {
		s.On("watch", func(e *realtime.Event) {
			var w struct {
				Radius    float64
				Symmetric bool
			}
			_ = e.Bind(&w)
			var opts []spatial.WatchOption
			if w.Symmetric {
				opts = append(opts, spatial.WithSymmetric())
			}
			_ = e.AckResult(s.Watch(w.Radius, opts...))
		})
		s.On("hide", func(e *realtime.Event) {
			var h bool
			_ = e.Bind(&h)
			_ = e.AckResult(s.SetHidden(h))
		})
		s.On("coarsen", func(e *realtime.Event) {
			var m float64
			_ = e.Bind(&m)
			_ = e.AckResult(s.SetPrivacy(spatial.Privacy{Precision: m}))
		})
		s.On("shout", func(e *realtime.Event) {
			var radius float64
			var text string
			_ = e.Bind(&radius, &text)
			_ = e.AckResult(s.Near(radius).Emit("shout", text))
		})
		s.On("nearby", func(e *realtime.Event) {
			var radius float64
			_ = e.Bind(&radius)
			near, err := s.Nearby(radius, 0)
			if err != nil {
				_ = e.AckResult(err)
				return
			}
			ids := make([]string, len(near))
			for i, n := range near {
				ids[i] = n.ID
			}
			_ = e.Ack(ids)
		})
	})
	return &node{srv: srv, url: serveHTTP(t, srv), rc: rc}
}

// geoClient is a client of a geo node that records its nearby events.
type geoClient struct {
	s  *client.Socket
	mu sync.Mutex
	ev []string // "enter id", "move id", "leave id reason", "shout text"
	at map[string]spatial.Point
}

func dialGeo(t *testing.T, n *node) *geoClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	s, err := client.Connect(ctx, n.url, client.WithTransports("websocket"), client.WithReconnection(false))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Manager().Close() })
	c := &geoClient{s: s, at: make(map[string]spatial.Point)}
	s.OnAny(func(e *client.Event) {
		var m struct {
			ID       string
			Lat, Lng float64
			Reason   string
			Members  []struct {
				ID       string
				Lat, Lng float64
			}
		}
		var text string
		c.mu.Lock()
		defer c.mu.Unlock()
		switch e.Name {
		case realtime.NearbyEnter, realtime.NearbyMove:
			_ = e.Args.Bind(&m)
			c.ev = append(c.ev, strings.TrimPrefix(e.Name, "nearby:")+" "+m.ID)
			c.at[m.ID] = spatial.Point{Lat: m.Lat, Lng: m.Lng}
		case realtime.NearbyLeave:
			_ = e.Args.Bind(&m)
			c.ev = append(c.ev, "leave "+m.ID+" "+m.Reason)
		case realtime.NearbyState:
			_ = e.Args.Bind(&m)
			for _, x := range m.Members {
				c.ev = append(c.ev, "enter "+x.ID)
				c.at[x.ID] = spatial.Point{Lat: x.Lat, Lng: x.Lng}
			}
		case "shout":
			_ = e.Args.Bind(&text)
			c.ev = append(c.ev, "shout "+text)
		}
	})
	return c
}

func (c *geoClient) do(t *testing.T, event string, args ...any) client.Args {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	res, err := c.s.EmitWithAck(ctx, event, args...)
	require.NoError(t, err, event)
	var r struct{ Error string }
	if res.Bind(&r) == nil {
		require.Empty(t, r.Error, event)
	}
	return res
}

func (c *geoClient) moveTo(t *testing.T, p spatial.Point) {
	t.Helper()
	c.do(t, "location", map[string]float64{"lat": p.Lat, "lng": p.Lng})
}

// wait waits until the client got an event with the prefix want.
func (c *geoClient) wait(t *testing.T, want string) {
	t.Helper()
	c.waitWithin(t, want, 5*time.Second)
}

// waitWithin is wait for up to d.
func (c *geoClient) waitWithin(t *testing.T, want string, d time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, e := range c.ev {
			if strings.HasPrefix(e, want) {
				return true
			}
		}
		return false
	}, d, 5*time.Millisecond, "waiting for %q", want)
}

// meet connects ann to na and bob to nb: ann at berlin watching 500 m,
// bob 300 m north of her, seen by her.
func meet(t *testing.T, na, nb *node) (ann, bob *geoClient, bobID string) {
	t.Helper()
	ann, bob = dialGeo(t, na), dialGeo(t, nb)
	ann.moveTo(t, berlin)
	ann.do(t, "watch", map[string]any{"radius": 500})
	bobID = bob.s.ID()
	bob.moveTo(t, north(300, 0))
	ann.wait(t, "enter "+bobID)
	return ann, bob, bobID
}

func (c *geoClient) events() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.ev...)
}

func (c *geoClient) reset() {
	c.mu.Lock()
	c.ev = nil
	c.mu.Unlock()
}

// TestLocationAcrossServers: a watch on one server sees the sockets of
// another enter, move and leave as they cross cells, hide, and disconnect;
// a coarsened socket is seen coarsened; Near and Nearby reach across.
func TestLocationAcrossServers(t *testing.T) {
	rs := redistest.Start(t)
	key := "geo" + id.New()[:8]
	na, nb := geoNode(t, rs.Addr(), key), geoNode(t, rs.Addr(), key)
	ann, bob := dialGeo(t, na), dialGeo(t, nb)
	ann.moveTo(t, berlin)
	ann.do(t, "watch", map[string]any{"radius": 500})
	bobID := bob.s.ID()

	// bob, on the other server, walks in from 3 km away, across cells.
	bob.moveTo(t, north(3000, 0))
	time.Sleep(100 * time.Millisecond)
	assert.Empty(t, ann.events(), "bob is far")
	bob.moveTo(t, north(400, 0))
	ann.wait(t, "enter "+bobID)
	bob.moveTo(t, north(300, 50))
	ann.wait(t, "move "+bobID)
	ann.mu.Lock()
	assert.InDelta(t, north(300, 50).Lat, ann.at[bobID].Lat, 1e-9, "shown exactly: bob is not coarsened")
	ann.mu.Unlock()

	// Nearby and Near, from either side.
	res := bob.do(t, "nearby", 1000)
	var ids []string
	require.NoError(t, res.Bind(&ids))
	assert.Equal(t, []string{ann.s.ID()}, ids, "bob finds ann on the other server")
	bob.do(t, "shout", 1000, "hello")
	ann.wait(t, "shout hello")
	ann.do(t, "shout", 100, "too far")
	time.Sleep(150 * time.Millisecond)
	assert.NotContains(t, bob.events(), "shout too far")

	// bob hides, shows again, coarsens.
	bob.do(t, "hide", true)
	ann.wait(t, "leave "+bobID+" hidden")
	ann.reset()
	bob.do(t, "hide", false)
	ann.wait(t, "enter "+bobID)
	bob.do(t, "coarsen", 1000.0)
	ann.reset()
	bob.moveTo(t, north(310, 60))
	require.Eventually(t, func() bool {
		ann.mu.Lock()
		defer ann.mu.Unlock()
		p := ann.at[bobID]
		return p == spatial.Coarsen(north(310, 60), 1000) || p == spatial.Coarsen(north(300, 50), 1000)
	}, 5*time.Second, 5*time.Millisecond, "bob shown at his cell's center")

	// bob walks away, then disconnects.
	bob.do(t, "coarsen", 0.0)
	ann.reset()
	bob.moveTo(t, north(2500, 0))
	ann.wait(t, "leave "+bobID+" far")
	bob.moveTo(t, north(200, 0))
	ann.wait(t, "enter "+bobID)
	require.NoError(t, bob.s.Manager().Close())
	ann.wait(t, "leave "+bobID+" disconnected")
}

// TestLocationSymmetricAcrossServers: a symmetric watch on one server makes
// the sockets it holds on another server see its owner, who never watches
// them otherwise.
func TestLocationSymmetricAcrossServers(t *testing.T) {
	rs := redistest.Start(t)
	key := "sym" + id.New()[:8]
	na, nb := geoNode(t, rs.Addr(), key), geoNode(t, rs.Addr(), key)
	ann, bob := dialGeo(t, na), dialGeo(t, nb)
	bob.moveTo(t, north(1500, 0))
	ann.moveTo(t, berlin)
	ann.do(t, "watch", map[string]any{"radius": 1000, "symmetric": true})
	bob.moveTo(t, north(800, 0)) // into ann's watch, 2 cells away
	ann.wait(t, "enter "+bob.s.ID())
	bob.wait(t, "enter "+ann.s.ID()) // bob has no watch: he sees ann through hers
	ann.moveTo(t, north(100, 0))
	bob.wait(t, "move "+ann.s.ID())
	bob.moveTo(t, north(1500, 0))
	bob.wait(t, "leave "+ann.s.ID()+" far")
}

// TestLocationRedisOutage: while Redis is down, location works on each
// server for its own sockets; once it is back (empty), the servers share
// again and read again, and no socket that went away meanwhile stays
// visible on the other.
func TestLocationRedisOutage(t *testing.T) {
	rs := redistest.Start(t)
	key := "out" + id.New()[:8]
	na, nb := geoNode(t, rs.Addr(), key), geoNode(t, rs.Addr(), key)
	ann, carl := dialGeo(t, na), dialGeo(t, na)
	bob, dave := dialGeo(t, nb), dialGeo(t, nb)
	ann.moveTo(t, berlin)
	ann.do(t, "watch", map[string]any{"radius": 500})
	bob.moveTo(t, north(300, 0))
	ann.wait(t, "enter "+bob.s.ID())

	rs.Kill()
	carl.moveTo(t, north(-200, 0)) // on ann's server: seen at once
	ann.wait(t, "enter "+carl.s.ID())
	bob.moveTo(t, north(5000, 0)) // unheard of while Redis is down
	dave.moveTo(t, north(2000, 0))
	rs.Restart()

	// bob's replica goes (read again and missing, or far once re-shared);
	// dave, who comes near after the outage, is seen.
	ann.wait(t, "leave "+bob.s.ID())
	require.Eventually(t, func() bool {
		dave.do(t, "location", map[string]float64{"lat": north(200, 0).Lat, "lng": north(200, 0).Lng})
		for _, e := range ann.events() {
			if e == "enter "+dave.s.ID() {
				return true
			}
		}
		return false
	}, 10*time.Second, 200*time.Millisecond, "a socket of the other server seen again after the outage")
	seen := map[string]bool{}
	for _, e := range ann.events() {
		f := strings.Fields(e)
		switch f[0] {
		case "enter":
			seen[f[1]] = true
		case "leave":
			delete(seen, f[1])
		}
	}
	assert.False(t, seen[bob.s.ID()], "bob, far since the outage, is not seen")
	assert.True(t, seen[carl.s.ID()])
}

// locationAdapter starts a location-aware server on the Redis at addr and
// returns its adapter, to drive the location seam directly.
func locationAdapter(t *testing.T, addr string, opts ...redis.Option) *redis.Adapter {
	t.Helper()
	srv := realtime.New(realtime.WithAdapter(redis.NewAdapter(newClient(t, addr), opts...)), realtime.WithSpatial())
	t.Cleanup(func() { _ = srv.Close() })
	return srv.Of("/").Adapter().(*redis.Adapter)
}

// A server whose heartbeats are late (Redis stalled 1.5 s, longer than the
// heartbeat timeout) but whose connection stays is not taken for dead: the
// others keep its sockets, and its records stay in the cells.
func TestLocationSlowServerNotDead(t *testing.T) {
	rs := redistest.Start(t)
	key := redis.WithKey("slow" + id.New()[:8])
	hb := redis.WithHeartbeat(100*time.Millisecond, 400*time.Millisecond)
	a, b := locationAdapter(t, rs.Addr(), key, hb), locationAdapter(t, rs.Addr(), key, hb)
	cell := a.Grid().Cell(berlin)
	a.Interest([]spatial.Cell{cell}, nil)
	b.Interest([]spatial.Cell{cell}, nil)
	require.Eventually(t, func() bool { return a.LocationStats().Cells == 1 && b.LocationStats().Cells == 1 }, 5*time.Second, 10*time.Millisecond)
	time.Sleep(500 * time.Millisecond) // they know each other by heartbeat
	b.ShareLocation(realtime.SharedLocation{ID: "bob", Position: spatial.Position{Point: berlin}, Reach: []spatial.Cell{cell}})
	require.Eventually(t, func() bool { return a.LocationStats().Remote == 1 }, 5*time.Second, 10*time.Millisecond)

	rc := newClient(t, rs.Addr())
	require.NoError(t, rc.Do(t.Context(), rc.B().ClientPause().Timeout(1500).All().Build()).Error())
	time.Sleep(2500 * time.Millisecond)
	assert.Equal(t, 1, a.LocationStats().Remote, "bob's server was slow, not dead")
}

// Interest and shares from a server's first moments, before its
// subscription connection is up (or while Redis is not there yet), are
// acted on once it is.
func TestLocationBeforeConnected(t *testing.T) {
	rs := redistest.Start(t)
	rc := newClient(t, rs.Addr())
	rs.Kill()
	srv := realtime.New(realtime.WithAdapter(redis.NewAdapter(rc, redis.WithKey("early"+id.New()[:8]))), realtime.WithSpatial())
	t.Cleanup(func() { _ = srv.Close() })
	a := srv.Of("/").Adapter().(*redis.Adapter)
	cell := a.Grid().Cell(berlin)
	a.Interest([]spatial.Cell{cell}, nil)
	a.ShareLocation(realtime.SharedLocation{ID: "x", Position: spatial.Position{Point: berlin}, Reach: []spatial.Cell{cell}})
	time.Sleep(200 * time.Millisecond)
	rs.Restart()
	require.Eventually(t, func() bool {
		st := a.LocationStats()
		return st.Cells == 1 && st.Published >= 1
	}, 10*time.Second, 20*time.Millisecond, "%+v", a.LocationStats())
}
