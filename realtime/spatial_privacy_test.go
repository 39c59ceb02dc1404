package realtime_test

import (
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/realtime"
	"github.com/vicinity-go/vicinity/spatial"
)

// peer is a raw client whose events may come before the acknowledgement
// of the call that caused them: they are held for nextNearby.
type peer struct {
	*raw
	held []string
}

func newPeer(t *testing.T, ts *httptest.Server) (*peer, string) {
	r := dialRaw(t, ts)
	return &peer{raw: r}, sid(t, r.connect("/", ""))
}

// ack returns the next acknowledgement, holding the events before it.
func (p *peer) ack() string {
	for {
		m := p.next()
		if strings.HasPrefix(m, "43") {
			return m
		}
		p.held = append(p.held, m)
	}
}

// place sends p's location and waits for the acknowledgement.
func place(t *testing.T, p *peer, at spatial.Point) {
	t.Helper()
	p.send(`420["location",{"lat":` + strconv.FormatFloat(at.Lat, 'g', -1, 64) + `,"lng":` + strconv.FormatFloat(at.Lng, 'g', -1, 64) + `}]`)
	require.Equal(t, `430[{"ok":true}]`, p.ack())
}

// call sends event name with arg (JSON) and returns the acknowledgement.
func call(t *testing.T, p *peer, name, arg string) string {
	t.Helper()
	p.send(`429["` + name + `",` + arg + `]`)
	return p.ack()
}

// expectNearby reads p's next event, which must be event name about
// socket id, and returns its payload.
func expectNearby(t *testing.T, p *peer, name, id string, msg ...any) map[string]any {
	t.Helper()
	got, ev := nextNearby(t, p)
	require.Equal(t, name, got, msg...)
	require.Equal(t, id, ev["id"], msg...)
	return ev
}

// events reads p's next n events and returns each as its name and the id
// or area it is about.
func events(t *testing.T, p *peer, n int) []string {
	t.Helper()
	out := make([]string, n)
	for i := range out {
		name, ev := nextNearby(t, p)
		about, _ := ev["id"].(string)
		if area, ok := ev["area"].(string); ok {
			about = area
		}
		out[i] = name + " " + about
	}
	return out
}

// nextNearby returns p's next event, which must be a nearby event: its
// name and payload.
// A nearby:state is taken as the enter events of its members, nearest
// first.
func nextNearby(t *testing.T, p *peer) (string, map[string]any) {
	t.Helper()
	for {
		var m string
		if len(p.held) > 0 {
			m, p.held = p.held[0], p.held[1:]
		} else {
			m = p.next()
		}
		name, ev := decodeEvent(t, m)
		if name != realtime.NearbyState {
			return name, ev
		}
		var enters []string
		for _, member := range ev["members"].([]any) {
			b, err := json.Marshal(member)
			require.NoError(t, err)
			enters = append(enters, `42["`+realtime.NearbyEnter+`",`+string(b)+`]`)
		}
		p.held = append(enters, p.held...)
	}
}

var (
	berlin = spatial.Point{Lat: 52.5200, Lng: 13.4050}
	north  = func(p spatial.Point, m float64) spatial.Point {
		return spatial.Point{Lat: p.Lat + m/(spatial.EarthRadius*3.141592653589793/180), Lng: p.Lng}
	}
)

// A hidden socket is seen by nobody, hears no shouts, still sees the
// others through its own watch, and stays hidden across a cleared
// location.
func TestHiddenSocket(t *testing.T) {
	t.Parallel()
	srv, idx := spatialServer(t, 100)
	ts := serve(t, srv)
	a, idA := newPeer(t, ts)
	b, idB := newPeer(t, ts)
	place(t, a, berlin)
	require.Equal(t, `439["ok"]`, call(t, a, "watch", "500"))
	place(t, b, north(berlin, 200))
	expectNearby(t, a, realtime.NearbyEnter, idB)

	require.Equal(t, `439[true]`, call(t, b, "hide", "true"))
	ev := expectNearby(t, a, realtime.NearbyLeave, idB, "hiding is a leave for those who saw it")
	assert.Equal(t, realtime.LeaveHidden, ev["reason"])
	assert.Equal(t, `439[[]]`, call(t, a, "nearby", "null"), "Nearby does not find it")
	assert.Equal(t, `439[true]`, call(t, a, "shout", `"anyone?"`))

	// It still sees a through its own watch.
	require.Equal(t, `439["ok"]`, call(t, b, "watch", "500"))
	expectNearby(t, b, realtime.NearbyEnter, idA)

	// Moving, clearing and setting its location again: still hidden, so
	// a hears nothing of it. The next thing a gets is the enter when b
	// shows itself again.
	place(t, b, north(berlin, 100))
	require.Equal(t, `439[true]`, call(t, b, "clear", "null"))
	ev = expectNearby(t, b, realtime.NearbyLeave, idA, "a cleared location ends what b saw")
	assert.Equal(t, realtime.LeaveSelf, ev["reason"])
	place(t, b, north(berlin, 50))
	expectNearby(t, b, realtime.NearbyEnter, idA, "b's watch resumes with its location")
	assert.True(t, idx.Hidden(idB))
	require.Equal(t, `439[true]`, call(t, b, "hide", "false"))
	ev = expectNearby(t, a, realtime.NearbyEnter, idB)
	assert.InDelta(t, 50, ev["distance"], 1)
}

// Every nearby:leave says why, from the watcher's side.
func TestLeaveReasons(t *testing.T) {
	t.Parallel()
	srv, _ := spatialServer(t, 100)
	ts := serve(t, srv)
	a, idA := newPeer(t, ts)
	b, idB := newPeer(t, ts)
	place(t, a, berlin)
	place(t, b, north(berlin, 100))
	reason := func(p *peer, id string) any {
		t.Helper()
		return expectNearby(t, p, realtime.NearbyLeave, id)["reason"]
	}

	// a's own watch ends.
	require.Equal(t, `439["ok"]`, call(t, a, "watch", "500"))
	expectNearby(t, a, realtime.NearbyEnter, idB)
	require.Equal(t, `439[true]`, call(t, a, "unwatch", "null"))
	assert.Equal(t, realtime.LeaveUnwatched, reason(a, idB))

	// b sees a through a's symmetric watch only: b hiding, or a watching
	// without symmetry, ends it.
	require.Equal(t, `439[true]`, call(t, a, "watchsym", "500"))
	assert.ElementsMatch(t, []string{realtime.NearbyEnter + " " + idB}, events(t, a, 1))
	expectNearby(t, b, realtime.NearbyEnter, idA)
	require.Equal(t, `439[true]`, call(t, b, "hide", "true"))
	assert.Equal(t, realtime.LeaveHidden, reason(a, idB))
	assert.Equal(t, realtime.LeaveSelf, reason(b, idA), "b hid")
	require.Equal(t, `439[true]`, call(t, b, "hide", "false"))
	expectNearby(t, a, realtime.NearbyEnter, idB)
	expectNearby(t, b, realtime.NearbyEnter, idA)
	require.Equal(t, `439["ok"]`, call(t, a, "watch", "500"))
	assert.Equal(t, realtime.LeaveUnwatched, reason(b, idA), "no longer symmetric")

	// b clears its location, then comes back and a clears its own.
	require.Equal(t, `439[true]`, call(t, b, "clear", "null"))
	assert.Equal(t, realtime.LeaveUnlocated, reason(a, idB))
	place(t, b, north(berlin, 100))
	expectNearby(t, a, realtime.NearbyEnter, idB)
	require.Equal(t, `439[true]`, call(t, a, "clear", "null"))
	assert.Equal(t, realtime.LeaveSelf, reason(a, idB))

	// Far, then gone.
	place(t, a, berlin)
	expectNearby(t, a, realtime.NearbyEnter, idB)
	place(t, b, north(berlin, 900))
	assert.Equal(t, realtime.LeaveFar, reason(a, idB))
	place(t, b, north(berlin, 100))
	expectNearby(t, a, realtime.NearbyEnter, idB)
	b.send("41")
	assert.Equal(t, realtime.LeaveDisconnected, reason(a, idB))
}

// With coarsening, clients are shown grid cells: positions and distances
// in events and Nearby answers come from the cell, and a move within a
// cell sends nothing.
func TestCoarsenedPositions(t *testing.T) {
	t.Parallel()
	const cell = 1000.0
	srv, idx := spatialServer(t, 100, spatial.WithCoarsening(cell))
	ts := serve(t, srv)
	a, _ := newPeer(t, ts)
	b, idB := newPeer(t, ts)
	place(t, a, berlin)
	require.Equal(t, `439["ok"]`, call(t, a, "watch", "5000"))

	pb := north(berlin, 220)
	place(t, b, pb)
	shown := spatial.Coarsen(pb, cell)
	require.NotEqual(t, pb, shown)
	ev := expectNearby(t, a, realtime.NearbyEnter, idB)
	assert.Equal(t, shown.Lat, ev["lat"])
	assert.Equal(t, shown.Lng, ev["lng"])
	assert.Equal(t, cell, ev["accuracy"], "the accuracy is at least the cell")
	assert.InDelta(t, spatial.Distance(spatial.Coarsen(berlin, cell), shown), ev["distance"], 1e-6, "the distance between the shown points")

	exact, ok := idx.Get(idB)
	require.True(t, ok)
	assert.Equal(t, pb, exact.Point, "the index keeps the exact position")
	near, err := srv.Of("/").Nearby(berlin, 5000, 0)
	require.NoError(t, err)
	require.Len(t, near, 2)
	for _, n := range near {
		assert.Equal(t, spatial.Coarsen(n.Position.Point, cell), n.Position.Point, "Nearby shows cells")
		if n.Socket.ID() == idB {
			assert.InDelta(t, spatial.Distance(berlin, shown), n.Distance, 1e-6)
		}
	}

	// A step within the cell is not news; a step into another cell is.
	var inCell spatial.Point
	for m := 221.0; ; m++ {
		if inCell = north(berlin, m); spatial.Coarsen(inCell, cell) == shown && inCell != pb {
			break
		}
	}
	place(t, b, inCell)
	far := north(berlin, 3000)
	place(t, b, far)
	ev = expectNearby(t, a, realtime.NearbyMove, idB, "the first news is the move to another cell")
	assert.Equal(t, spatial.Coarsen(far, cell).Lat, ev["lat"])
}

// When a location expires, those who saw the socket get nearby:leave, the
// socket leaves its area rooms and gets nearby:leave for those it saw; its
// watch resumes when it sets a location again.
func TestLocationExpiry(t *testing.T) {
	t.Parallel()
	srv, idx := spatialServer(t, 100, spatial.WithMaxAge(time.Minute))
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("rooms", func(e *realtime.Event) { _ = e.Ack(s.Rooms()) })
	})
	// Only b is in the park.
	require.NoError(t, srv.AddArea("park", spatial.Fence{Circle: &spatial.Circle{Center: north(berlin, 100), Radius: 50}}))
	ts := serve(t, srv)
	a, idA := newPeer(t, ts)
	b, idB := newPeer(t, ts)
	place(t, a, berlin)
	require.Equal(t, `439["ok"]`, call(t, a, "watch", "500"))
	require.Equal(t, `439[true]`, call(t, b, "watchsym", "300"))
	place(t, b, north(berlin, 100))
	expectNearby(t, a, realtime.NearbyEnter, idB)
	assert.ElementsMatch(t, []string{"area:enter park", "nearby:enter " + idA}, events(t, b, 2), "b's watch sees a")
	assert.Contains(t, call(t, b, "rooms", "null"), realtime.AreaRoom("park"))

	// Both positions are too old.
	assert.Equal(t, 2, idx.Expire(time.Now().Add(2*time.Minute)))
	// Whichever of the two the index removed first gives the reason.
	ev := expectNearby(t, a, realtime.NearbyLeave, idB)
	assert.Contains(t, []string{realtime.LeaveUnlocated, realtime.LeaveSelf}, ev["reason"])
	assert.ElementsMatch(t, []string{"area:leave park", "nearby:leave " + idA}, events(t, b, 2))
	assert.Equal(t, `439[["`+idB+`"]]`, call(t, b, "rooms", "null"), "out of the area's room")
	assert.Zero(t, idx.Len())

	// New positions: the watches resume.
	place(t, a, berlin)
	place(t, b, north(berlin, 120))
	expectNearby(t, a, realtime.NearbyEnter, idB)
	assert.ElementsMatch(t, []string{"area:enter park", "nearby:enter " + idA}, events(t, b, 2))
}

// A symmetric watch: the sockets inside see the watcher without a watch of
// their own, with its moves.
func TestSymmetricWatch(t *testing.T) {
	t.Parallel()
	srv, _ := spatialServer(t, 100)
	ts := serve(t, srv)
	a, idA := newPeer(t, ts)
	b, idB := newPeer(t, ts)
	place(t, a, berlin)
	require.Equal(t, `439[true]`, call(t, a, "watchsym", "500"))
	place(t, b, north(berlin, 300))
	expectNearby(t, a, realtime.NearbyEnter, idB)
	expectNearby(t, b, realtime.NearbyEnter, idA, "b sees a without watching")

	place(t, a, north(berlin, 10))
	expectNearby(t, b, realtime.NearbyMove, idA)
	place(t, b, north(berlin, 2000))
	ev := expectNearby(t, b, realtime.NearbyLeave, idA)
	assert.Equal(t, realtime.LeaveFar, ev["reason"], "b went far")
	expectNearby(t, a, realtime.NearbyLeave, idB)
}

// Namespaces are isolated: a socket of "/other" right next to a watching
// socket of "/" is not seen by its watch, its Nearby or its shouts; each
// namespace's sockets see each other.
func TestNamespacesIsolated(t *testing.T) {
	t.Parallel()
	srv, _ := spatialServer(t, 100)
	srv.Of("/other").OnConnection(func(s *realtime.Socket) {
		s.On("watch", func(e *realtime.Event) {
			var radius float64
			_ = e.Bind(&radius)
			_ = e.AckResult(s.Watch(radius))
		})
	})
	ts := serve(t, srv)
	a, _ := newPeer(t, ts)
	other := func() (*peer, string, func(spatial.Point)) {
		r := dialRaw(t, ts)
		reply := r.connect("/other", "")
		require.True(t, strings.HasPrefix(reply, "40/other,"), reply)
		var v struct{ SID string }
		require.NoError(t, json.Unmarshal([]byte(strings.TrimPrefix(reply, "40/other,")), &v))
		b := &peer{raw: r}
		return b, v.SID, func(at spatial.Point) {
			b.send(`42/other,0["location",{"lat":` + strconv.FormatFloat(at.Lat, 'g', -1, 64) + `,"lng":` + strconv.FormatFloat(at.Lng, 'g', -1, 64) + `}]`)
			for {
				if m := b.next(); strings.HasPrefix(m, "43/other,0") {
					require.Equal(t, `43/other,0[{"ok":true}]`, m)
					return
				}
			}
		}
	}
	b, _, placeB := other()
	c, idC, placeC := other()
	place(t, a, berlin)
	require.Equal(t, `439["ok"]`, call(t, a, "watch", "500"))
	placeB(north(berlin, 10))
	placeB(north(berlin, 20))
	assert.Equal(t, `439[[]]`, call(t, a, "nearby", "null"), "Nearby sees its namespace only")
	// the next event a gets is about a socket of its own namespace
	d, idD := newPeer(t, ts)
	place(t, d, north(berlin, 30))
	expectNearby(t, a, realtime.NearbyEnter, idD)

	// In "/other", its own sockets see each other.
	b.send(`42/other,1["watch",500]`)
	for m := b.next(); !strings.HasPrefix(m, "43/other,1"); m = b.next() {
		if strings.Contains(m, realtime.NearbyState) {
			assert.Equal(t, `42/other,["nearby:state",{"members":[]}]`, m, "a, d are not in it")
		}
	}
	placeC(north(berlin, 40))
	m := b.next()
	assert.Contains(t, m, `42/other,["nearby:enter",{"id":"`+idC+`"`)
	_ = c
	assert.NotSame(t, srv.Of("/").Spatial(), srv.Of("/other").Spatial())
}

// With connection-state recovery, nearby events take the general path (to
// be logged for replay) and read the same.
func TestNearbyWithRecovery(t *testing.T) {
	t.Parallel()
	srv := realtime.New(realtime.WithSpatial(), realtime.WithLocationEvent("location"), realtime.WithLocationLimits(realtime.LocationLimits{UpdateRate: 100, UpdateBurst: 100}), realtime.WithRecovery(time.Minute, false))
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("watch", func(e *realtime.Event) {
			var radius float64
			_ = e.Bind(&radius)
			_ = e.AckResult(s.Watch(radius))
		})
	})
	ts := serve(t, srv)
	a, _ := newPeer(t, ts)
	b, idB := newPeer(t, ts)
	place(t, a, berlin)
	require.Equal(t, `439[{"ok":true}]`, call(t, a, "watch", "500"))
	place(t, b, north(berlin, 100))
	// name, payload, and the offset recovery appends
	next := func() (string, map[string]any, string) {
		var args []json.RawMessage
		require.NoError(t, json.Unmarshal([]byte(a.next()[2:]), &args))
		require.Len(t, args, 3)
		var name, offset string
		var payload map[string]any
		require.NoError(t, json.Unmarshal(args[0], &name))
		require.NoError(t, json.Unmarshal(args[1], &payload))
		require.NoError(t, json.Unmarshal(args[2], &offset))
		return name, payload, offset
	}
	name, ev, offset := next()
	assert.Equal(t, realtime.NearbyEnter, name)
	assert.Equal(t, idB, ev["id"])
	assert.InDelta(t, 100, ev["distance"], 1)
	assert.Equal(t, berlin.Lng, ev["lng"])
	assert.NotEmpty(t, offset)
	b.send("41")
	name, ev, _ = next()
	assert.Equal(t, realtime.NearbyLeave, name)
	assert.Equal(t, realtime.LeaveDisconnected, ev["reason"])
}

// The namespace's Near operator reaches the sockets within the circle,
// and composes with Except.
func TestNamespaceNear(t *testing.T) {
	t.Parallel()
	srv, _ := spatialServer(t, 100)
	ts := serve(t, srv)
	a, idA := newPeer(t, ts)
	b, _ := newPeer(t, ts)
	c, _ := newPeer(t, ts)
	place(t, a, berlin)
	place(t, b, north(berlin, 300))
	place(t, c, north(berlin, 3000))
	require.NoError(t, srv.Of("/").Near(berlin, 500).Except(idA).Emit("news", 1))
	require.NoError(t, srv.Of("/").Near(berlin, 500).Emit("news", 2))
	assert.Equal(t, `42["news",1]`, b.next())
	assert.Equal(t, `42["news",2]`, b.next())
	assert.Equal(t, `42["news",2]`, a.next(), "a is excepted from the first only")
	require.NoError(t, srv.Of("/").Near(north(berlin, 3000), 10).Emit("news", 3))
	assert.Equal(t, `42["news",3]`, c.next(), "c heard nothing before")
}
