package realtime_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vicinity-go/vicinity/realtime"
	"github.com/vicinity-go/vicinity/spatial"
)

// spatialServer accepts locations with the "location" event, shouts with
// "shout" (to everyone within 500 m), answers "nearby" with the ids of the
// sockets within 1 km, watches with "watch" (a radius) and "watchsym" (a
// symmetric watch), ends it with "unwatch", hides with "hide" (a bool) and
// forgets the location with "clear".
func spatialServer(t *testing.T, burst int, opts ...spatial.Option) (*realtime.Server, *spatial.Index[string]) {
	t.Helper()
	srv := realtime.New(realtime.WithSpatial(opts...), realtime.WithLocationEvent("location"),
		realtime.WithLocationLimits(realtime.LocationLimits{UpdateRate: 0.001, UpdateBurst: burst, QueryRate: 1000, QueryBurst: 1000, MaxSpeed: 1e12}))
	idx := srv.Of("/").Spatial()
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("shout", func(e *realtime.Event) {
			var text string
			_ = e.Bind(&text)
			_ = e.Ack(s.Near(500).Emit("shout", text) == nil)
		})
		s.On("watch", func(e *realtime.Event) {
			var radius float64
			_ = e.Bind(&radius)
			if err := s.Watch(radius); err != nil {
				_ = e.Ack(err.Error())
				return
			}
			_ = e.Ack("ok")
		})
		s.On("watchsym", func(e *realtime.Event) {
			var radius float64
			_ = e.Bind(&radius)
			_ = e.Ack(s.Watch(radius, spatial.WithSymmetric()) == nil)
		})
		s.On("unwatch", func(e *realtime.Event) {
			s.Unwatch()
			_ = e.Ack(true)
		})
		s.On("hide", func(e *realtime.Event) {
			var hide bool
			_ = e.Bind(&hide)
			_ = e.Ack(s.SetHidden(hide) == nil && s.Hidden() == hide)
		})
		s.On("clear", func(e *realtime.Event) {
			s.ClearLocation()
			_ = e.Ack(true)
		})
		s.On("nearby", func(e *realtime.Event) {
			near, err := s.Nearby(1000, 0)
			if err != nil {
				_ = e.Ack(err.Error())
				return
			}
			out := make([]string, len(near))
			for i, n := range near {
				out[i] = n.Socket.ID()
			}
			_ = e.Ack(out)
		})
	})
	return srv, idx
}

func sid(t *testing.T, reply string) string {
	t.Helper()
	var v struct{ SID string }
	require.NoError(t, json.Unmarshal([]byte(reply[2:]), &v), "%q", reply)
	return v.SID
}

func TestLocationEvent(t *testing.T) {
	t.Parallel()
	srv, idx := spatialServer(t, 4)
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	id := sid(t, r.connect("/", ""))

	tests := []struct{ send, want string }{
		{`421["location",{"lat":52.52,"lng":13.405,"accuracy":15}]`, `^431\[\{"ok":true\}\]$`},
		{`422["location",{"lat":100,"lng":13.405}]`, `^432\[\{"error":".*invalid coordinate.*"\}\]$`},
		{`423["location",{"lat":52.52}]`, `^433\[\{"error":"expected .*"\}\]$`},
		{`424["location","here"]`, `^434\[\{"error":"expected .*"\}\]$`},
	}
	for _, tt := range tests {
		r.send(tt.send)
		assert.Regexp(t, tt.want, r.next(), tt.send)
	}
	pos, ok := idx.Get(id)
	require.True(t, ok)
	assert.Equal(t, spatial.Point{Lat: 52.52, Lng: 13.405}, pos.Point, "a refused update changes nothing")
	assert.Equal(t, 15.0, pos.Accuracy)

	for i := range 3 { // a refused update takes no token: the burst of 4 is spent
		r.send(fmt.Sprintf(`42%d["location",{"lat":52.53,"lng":13.4}]`, 5+i))
		assert.Equal(t, fmt.Sprintf(`43%d[{"ok":true}]`, 5+i), r.next())
	}
	r.send(`428["location",{"lat":52.53,"lng":13.4}]`)
	assert.Equal(t, `438[{"error":"realtime: too many location updates"}]`, r.next())

	r.send("41")
	require.Eventually(t, func() bool { _, ok := idx.Get(id); return !ok }, wait, 5*time.Millisecond, "a disconnect removes the socket from the index")
}

func TestShoutAndNearby(t *testing.T) {
	t.Parallel()
	srv, _ := spatialServer(t, 100)
	ts := serve(t, srv)
	place := func(r *raw, lat, lng string) {
		r.send(`420["location",{"lat":` + lat + `,"lng":` + lng + `}]`)
		require.Equal(t, `430[{"ok":true}]`, r.next())
	}
	a, b, c, d := dialRaw(t, ts), dialRaw(t, ts), dialRaw(t, ts), dialRaw(t, ts)
	a.connect("/", "")
	idB := sid(t, b.connect("/", ""))
	c.connect("/", "")
	d.connect("/", "") // d never says where it is
	place(a, "52.5200", "13.4050")
	place(b, "52.5220", "13.4050") // ~220 m north of a
	place(c, "52.5400", "13.4050") // ~2.2 km north of a

	a.send(`421["shout","hello neighbours"]`)
	assert.Equal(t, `431[true]`, a.next())
	assert.Equal(t, `42["shout","hello neighbours"]`, b.next())

	a.send(`422["nearby"]`)
	assert.Equal(t, `432[["`+idB+`"]]`, a.next())
	d.send(`423["nearby"]`)
	assert.Equal(t, `433["realtime: socket has no location"]`, d.next())

	d.send(`424["shout","anyone?"]`) // no location: nobody
	assert.Equal(t, `434[true]`, d.next())
	c.send(`425["shout","far away"]`)
	assert.Equal(t, `435[true]`, c.next())
	a.closedOrQuiet() // a heard neither c (too far) nor d, nor its own shout
}

// EmitLatest keeps one event per key in a client's queue: a client that
// does not read gets the newest position, not the backlog.
func TestEmitLatest(t *testing.T) {
	t.Parallel()
	srv := realtime.New()
	ready := make(chan *realtime.Socket, 1)
	srv.OnConnection(func(s *realtime.Socket) { ready <- s })
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	r.connect("/", "")
	s := recv(t, ready)
	// The writer may take the first packet at once; whatever it has not
	// taken is replaced. The client sees an increasing sequence ending
	// with the last position, bob's and ann's, and the chat message.
	for i := range 100 {
		require.NoError(t, s.EmitLatest("bob", "move", "bob", i))
	}
	require.NoError(t, s.EmitLatest("ann", "move", "ann", 7))
	require.NoError(t, s.Emit("chat", "done"))
	last := map[string]float64{}
	n := 0
	for {
		p := r.next()
		if p == `42["chat","done"]` {
			break
		}
		var ev []any
		require.NoError(t, json.Unmarshal([]byte(p[2:]), &ev))
		who, at := ev[1].(string), ev[2].(float64)
		assert.Greater(t, at, last[who]-1, "never an older position after a newer one")
		last[who] = at
		n++
	}
	assert.Equal(t, 99.0, last["bob"])
	assert.Equal(t, 7.0, last["ann"])
	assert.LessOrEqual(t, n, 101)
	assert.ErrorIs(t, s.EmitLatest("bin", "move", []byte{1}), realtime.ErrInvalidArgument)
	assert.ErrorIs(t, s.EmitLatest("\x00move:"+s.ID(), "move", 1), realtime.ErrInvalidArgument, "the server's own keys")
	assert.ErrorIs(t, srv.To(s.ID()).EmitLatest("", "move", 1), realtime.ErrInvalidArgument)
	assert.ErrorIs(t, s.EmitLatest("k", "connect", 1), realtime.ErrReservedEvent)
}

// decodeEvent splits an event packet into its name and its one object
// argument.
func decodeEvent(t *testing.T, p string) (string, map[string]any) {
	t.Helper()
	var ev []json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(p[2:]), &ev), "%q", p)
	require.Len(t, ev, 2, "%q", p)
	var name string
	var arg map[string]any
	require.NoError(t, json.Unmarshal(ev[0], &name))
	require.NoError(t, json.Unmarshal(ev[1], &arg))
	return name, arg
}

// Two sockets move towards each other: the watcher gets enter, moves, then
// leave as the other goes away and when it disconnects.
func TestWatch(t *testing.T) {
	t.Parallel()
	srv, _ := spatialServer(t, 100)
	ts := serve(t, srv)
	place := func(r *raw, lat, lng string) {
		t.Helper()
		r.send(`420["location",{"lat":` + lat + `,"lng":` + lng + `}]`)
		require.Equal(t, `430[{"ok":true}]`, r.reply())
	}
	a, b := dialRaw(t, ts), dialRaw(t, ts)
	a.connect("/", "")
	idB := sid(t, b.connect("/", ""))
	a.send(`421["watch",-5]`)
	assert.Regexp(t, `^431\["spatial: watch: radius -5: .*"\]$`, a.next())
	// A socket may watch before it has a location: the watch starts when
	// it sets one.
	a.send(`422["watch",500]`)
	assert.Equal(t, `432["ok"]`, a.next())
	a.send(`420["location",{"lat":52.5200,"lng":13.4050}]`)
	assert.Equal(t, `42["nearby:state",{"members":[]}]`, a.next(), "the watch starts, empty")
	require.Equal(t, `430[{"ok":true}]`, a.next())
	place(b, "52.5400", "13.4050") // 2.2 km away

	place(b, "52.5220", "13.4050") // 220 m: in
	name, arg := decodeEvent(t, a.next())
	assert.Equal(t, realtime.NearbyEnter, name)
	assert.Equal(t, idB, arg["id"])
	assert.InDelta(t, 222, arg["distance"], 5)

	place(b, "52.5210", "13.4050") // moves inside
	name, arg = decodeEvent(t, a.next())
	assert.Equal(t, realtime.NearbyMove, name)
	assert.Equal(t, 52.521, arg["lat"])

	place(b, "52.5400", "13.4050") // out
	name, arg = decodeEvent(t, a.next())
	assert.Equal(t, realtime.NearbyLeave, name)
	assert.Equal(t, idB, arg["id"])

	place(b, "52.5201", "13.4050") // in again, then gone
	name, _ = decodeEvent(t, a.next())
	assert.Equal(t, realtime.NearbyEnter, name)
	_ = b.ws.Close()
	name, arg = decodeEvent(t, a.next())
	assert.Equal(t, realtime.NearbyLeave, name, "a disconnect is a leave at once")
	assert.Equal(t, realtime.LeaveDisconnected, arg["reason"])
	assert.Equal(t, idB, arg["id"])
}

// A socket that moves into an area joins its room and is told so, and
// leaves it as it moves out.
func TestAreaRooms(t *testing.T) {
	t.Parallel()
	srv, _ := spatialServer(t, 100)
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("rooms", func(e *realtime.Event) { _ = e.Ack(s.Rooms()) })
	})
	park := spatial.Point{Lat: 52.5145, Lng: 13.3501}
	require.NoError(t, srv.AddArea("park", spatial.Fence{Circle: &spatial.Circle{Center: park, Radius: 300}}))
	ts := serve(t, srv)
	p, id := newPeer(t, ts)
	place(t, p, spatial.Point{Lat: 52.5145, Lng: 13.3510})
	assert.Equal(t, `42["area:enter",{"area":"park","room":"area:park"}]`, p.held[0])
	p.held = nil
	assert.Contains(t, call(t, p, "rooms", "null"), realtime.AreaRoom("park"))
	require.NoError(t, srv.In(realtime.AreaRoom("park")).Emit("park news", 1))
	assert.Equal(t, `42["park news",1]`, p.next())

	place(t, p, spatial.Point{Lat: 52.5300, Lng: 13.3510})
	assert.Equal(t, []string{`42["area:leave",{"area":"park","room":"area:park"}]`}, p.held)
	p.held = nil
	assert.Equal(t, `439[["`+id+`"]]`, call(t, p, "rooms", "null"), "left the area's room")

	// Removing the area takes its members out.
	place(t, p, park)
	p.held = nil
	assert.True(t, srv.RemoveArea("park"))
	assert.Equal(t, `42["area:leave",{"area":"park","room":"area:park"}]`, p.next())
}
