package realtime_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/presence"
	"github.com/vicinity-go/vicinity/realtime"
	"github.com/vicinity-go/vicinity/spatial"
)

// locationHandlers are the events of the location tests: "watch" (a
// radius), "privacy" (a spatial.Privacy), "nearby" (a radius: the ids
// found, nearest first, or the error), "shout" ({"radius", "text"}) and
// "whoami" (the socket's hidden flag, zones and whether it is located).
func locationHandlers(s *realtime.Socket) {
	s.On("watch", func(e *realtime.Event) {
		var radius float64
		_ = e.Bind(&radius)
		_ = e.AckResult(s.Watch(radius))
	})
	s.On("watchmargin", func(e *realtime.Event) {
		var w struct{ Radius, Margin float64 }
		_ = e.Bind(&w)
		_ = e.AckResult(s.Watch(w.Radius, spatial.WithMargin(w.Margin)))
	})
	s.On("privacy", func(e *realtime.Event) {
		var pv spatial.Privacy
		if err := e.Bind(&pv); err != nil {
			_ = e.AckResult(err)
			return
		}
		_ = e.AckResult(s.SetPrivacy(pv))
	})
	s.On("nearby", func(e *realtime.Event) {
		var radius float64
		_ = e.Bind(&radius)
		near, err := s.Nearby(radius, 0)
		if err != nil {
			_ = e.AckResult(err)
			return
		}
		out := []string{}
		for _, n := range near {
			out = append(out, n.Socket.ID())
		}
		_ = e.Ack(out)
	})
	s.On("shout", func(e *realtime.Event) {
		var shout struct {
			Radius float64
			Text   string
		}
		_ = e.Bind(&shout)
		_ = e.AckResult(s.Near(shout.Radius).Emit("shout", shout.Text))
	})
	s.On("whoami", func(e *realtime.Event) {
		_, located := s.Location()
		pv := s.Privacy()
		_ = e.Ack(map[string]any{"hidden": s.Hidden(), "zones": len(pv.Zones), "located": located})
	})
}

func locationServer(t *testing.T, opts ...realtime.Option) *realtime.Server {
	t.Helper()
	srv := realtime.New(append([]realtime.Option{realtime.WithSpatial(), realtime.WithLocationEvent("location")}, opts...)...)
	srv.OnConnection(locationHandlers)
	return srv
}

// until takes the first packet held or read that matches re, holding the
// others.
func (p *peer) until(t *testing.T, re string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	for i, m := range p.held {
		if rx.MatchString(m) {
			p.held = append(p.held[:i:i], p.held[i+1:]...)
			return m
		}
	}
	for {
		m := p.next()
		if rx.MatchString(m) {
			return m
		}
		p.held = append(p.held, m)
	}
}

// A socket that drops and recovers its session keeps its privacy (hidden,
// zones), its watch and its location: nobody learns of it on the way back,
// and its own client sees the others again.
func TestLocationSurvivesRecovery(t *testing.T) {
	t.Parallel()
	srv := locationServer(t, realtime.WithRecovery(time.Minute, false),
		realtime.WithLocationLimits(realtime.LocationLimits{MaxSpeed: 1e12}))
	ts := serve(t, srv)
	sidPid := regexp.MustCompile(`^40\{"pid":"([^"]+)","sid":"([^"]+)"\}$`)

	r := dialRaw(t, ts)
	m := sidPid.FindStringSubmatch(r.connect("/", ""))
	require.Len(t, m, 3)
	pid, sidA := m[1], m[2]
	a := &peer{raw: r}
	place(t, a, berlin)
	zone := fmt.Sprintf(`{"hidden":true,"zones":[{"center":{"lat":%v,"lng":%v},"radius":200}]}`, berlin.Lat, berlin.Lng)
	require.Equal(t, `439[{"ok":true}]`, call(t, a, "privacy", zone))
	require.Equal(t, `439[{"ok":true}]`, call(t, a, "watch", "1000"))

	b, idB := newPeer(t, ts)
	place(t, b, north(berlin, 100))
	require.Equal(t, `439[{"ok":true}]`, call(t, b, "watch", "1000"))
	assert.Equal(t, `42["nearby:state",{"members":[]},`, b.until(t, `^42\["nearby:state"`)[:33], "b does not see a: hidden")
	// a sees b; the event carries a recovery offset
	enter := a.until(t, `^42\["nearby:enter",\{"id":"`+idB)
	var args []json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(enter[2:]), &args))
	require.Len(t, args, 3)
	var offset string
	require.NoError(t, json.Unmarshal(args[2], &offset))

	_ = r.ws.Close()
	require.Eventually(t, func() bool { return srv.Of("/").Spatial().Len() == 1 }, wait, 5*time.Millisecond, "a left the index")

	r2 := dialRaw(t, ts)
	m = sidPid.FindStringSubmatch(r2.connect("/", `{"pid":"`+pid+`","offset":"`+offset+`"}`))
	require.Len(t, m, 3)
	require.Equal(t, sidA, m[2], "recovered")
	a2 := &peer{raw: r2}
	reset := a2.until(t, `^42\["nearby:state"`)
	assert.True(t, strings.HasPrefix(reset, `42["nearby:state",{"members":[]}`), "first, what it saw is dropped: %s", reset)
	state := a2.until(t, `^42\["nearby:state"`)
	assert.Contains(t, state, `"id":"`+idB+`"`, "the watch is back, with the location")
	assert.Equal(t, `439[{"hidden":true,"located":true,"zones":1}]`, call(t, a2, "whoami", "null"))

	// b learnt nothing: its next event is about c.
	c, idC := newPeer(t, ts)
	place(t, c, north(berlin, 300))
	next := b.until(t, `^42\["nearby:`)
	assert.True(t, strings.HasPrefix(next, `42["nearby:enter",{"id":"`+idC+`"`), "b's next event is about c, not a: %s", next)
}

// The limits of what a client may ask, each refused with its error,
// changing nothing.
func TestLocationLimits(t *testing.T) {
	t.Parallel()
	srv := locationServer(t, realtime.WithLocationLimits(realtime.LocationLimits{
		MaxRadius: 1000, MaxResults: 2, UpdateRate: 0.001, UpdateBurst: 3, QueryRate: 0.001, QueryBurst: 4, MaxZones: 1, MaxZoneRadius: 500,
	}))
	ts := serve(t, srv)
	a, _ := newPeer(t, ts)
	for i := range 3 {
		b, _ := newPeer(t, ts)
		place(t, b, north(berlin, float64(10+i)))
	}
	place(t, a, berlin)

	assert.Equal(t, `439[{"error":"realtime: radius too large"}]`, call(t, a, "watch", "1001"))
	assert.Equal(t, `439[{"error":"realtime: radius too large"}]`, call(t, a, "nearby", "5000"))
	assert.Equal(t, `439[{"error":"realtime: radius too large"}]`, call(t, a, "shout", `{"radius":1e300,"text":"hi"}`))
	got := call(t, a, "nearby", "1000")
	var ids [][]string
	require.NoError(t, json.Unmarshal([]byte(got[3:]), &ids), got)
	assert.Len(t, ids[0], 2, "at most MaxResults")

	// Speed: a kilometer away a moment later is too far; the position stays.
	a.send(`420["location",{"lat":52.53,"lng":13.405}]`)
	assert.Equal(t, `430[{"error":"realtime: location too far from the last one for the time between them"}]`, a.ack())
	a.send(`420["location",{"lat":52.5201,"lng":13.405}]`)
	assert.Equal(t, `430[{"ok":true}]`, a.ack())
	a.send(`420["location",{"lat":52.5202,"lng":13.405}]`)
	assert.Equal(t, `430[{"error":"realtime: too many location updates"}]`, a.ack(), "the burst of 3 is spent, a refusal for speed included")

	// Queries: 4 in a burst (1 above; refusals for the radius took none).
	assert.Contains(t, call(t, a, "nearby", "500"), `439[[`)
	assert.Contains(t, call(t, a, "shout", `{"radius":500,"text":"hi"}`), `{"ok":true}`)
	assert.Contains(t, call(t, a, "nearby", "500"), `439[[`)
	assert.Equal(t, `439[{"error":"realtime: too many location queries"}]`, call(t, a, "nearby", "500"))
	assert.Equal(t, `439[{"error":"realtime: too many location queries"}]`, call(t, a, "shout", `{"radius":500,"text":"hi"}`))

	// Zones.
	z := func(n int, r float64) string {
		var zs []string
		for range n {
			zs = append(zs, fmt.Sprintf(`{"center":{"lat":52.52,"lng":13.4},"radius":%v}`, r))
		}
		return `{"zones":[` + strings.Join(zs, ",") + `]}`
	}
	assert.Equal(t, `439[{"error":"realtime: too many or too large privacy zones"}]`, call(t, a, "privacy", z(2, 100)))
	assert.Equal(t, `439[{"error":"realtime: too many or too large privacy zones"}]`, call(t, a, "privacy", z(1, 501)))
	assert.Regexp(t, `^439\[\{"error":".*invalid privacy.*"\}\]$`, call(t, a, "privacy", z(1, -1)))
	assert.Equal(t, `439[{"hidden":false,"located":true,"zones":0}]`, call(t, a, "whoami", "null"))
	assert.Equal(t, `439[{"error":"realtime: too many location updates"}]`, call(t, a, "privacy", z(1, 500)), "a change of privacy is an update")
	assert.Equal(t, `439[{"error":"realtime: too many location queries"}]`, call(t, a, "watch", "500"), "a new watch is a query")
	assert.Equal(t, `439[{"error":"realtime: radius too large"}]`, call(t, a, "watchmargin", `{"radius":500,"margin":501}`), "radius and margin")

	assert.Panics(t, func() { realtime.New(realtime.WithLocationLimits(realtime.LocationLimits{MaxRadius: 1})) }, "without WithSpatial")
	assert.Panics(t, func() {
		realtime.New(realtime.WithSpatial(), realtime.WithLocationLimits(realtime.LocationLimits{MaxRadius: -1}))
	})
}

// A user's sockets share its rates: ten sockets of one user query no
// faster than one.
func TestLocationLimitsPerUser(t *testing.T) {
	t.Parallel()
	srv := presenceServer(t, realtime.WithSpatial(), realtime.WithLocationEvent("location"),
		realtime.WithLocationLimits(realtime.LocationLimits{QueryRate: 0.001, QueryBurst: 5, UpdateRate: 0.001, UpdateBurst: 10}))
	srv.OnConnection(locationHandlers)
	ts := serve(t, srv)
	var mallory []*peer
	for range 10 {
		r := dialRaw(t, ts)
		r.connect("/", `{"user":"mallory"}`)
		p := &peer{raw: r}
		place(t, p, berlin)
		mallory = append(mallory, p)
	}
	ok, refused := 0, 0
	for _, p := range mallory {
		if reply := call(t, p, "nearby", "500"); strings.Contains(reply, "too many location queries") {
			refused++
		} else {
			ok++
		}
	}
	assert.Equal(t, 5, ok, "the user's burst, across its sockets")
	assert.Equal(t, 5, refused)

	// Another user has a budget of its own.
	r := dialRaw(t, ts)
	r.connect("/", `{"user":"alice"}`)
	alice := &peer{raw: r}
	place(t, alice, berlin)
	assert.Contains(t, call(t, alice, "nearby", "500"), `439[[`)

	// Updates too: mallory's 10 sockets each placed once; the 11th is refused.
	mallory[0].send(`420["location",{"lat":52.52,"lng":13.405}]`)
	assert.Equal(t, `430[{"error":"realtime: too many location updates"}]`, mallory[0].ack())
}

// A hidden socket stays in its area rooms but is not published in their
// presence: the others in the area see it leave when it hides, and come
// back when it shows again.
func TestHiddenNotInAreaPresence(t *testing.T) {
	t.Parallel()
	tracker := presence.New()
	srv := presenceServerWith(t, tracker, realtime.WithSpatial(), realtime.WithLocationEvent("location"),
		realtime.WithPresenceRooms(func(_, room string) bool { return strings.HasPrefix(room, "area:") }),
		realtime.WithLocationLimits(realtime.LocationLimits{MaxSpeed: 1e12}))
	srv.OnConnection(locationHandlers)
	park := spatial.Point{Lat: 52.5145, Lng: 13.3501}
	require.NoError(t, srv.AddArea("park", spatial.Fence{Circle: &spatial.Circle{Center: park, Radius: 300}}))
	ts := serve(t, srv)
	connect := func(user string) *peer {
		r := dialRaw(t, ts)
		r.connect("/", `{"user":"`+user+`"}`)
		return &peer{raw: r}
	}
	members := func() []string {
		ms, err := tracker.List(t.Context(), "/#area:park")
		require.NoError(t, err)
		var out []string
		for _, m := range ms {
			out = append(out, m.Key)
		}
		return out
	}
	ann, bob := connect("ann"), connect("bob")
	place(t, ann, park)
	require.Equal(t, `439[{"ok":true}]`, call(t, bob, "privacy", `{"hidden":true}`))
	place(t, bob, north(park, 10))
	// Area presence follows the location's acknowledgement shortly: it is
	// tracked on the socket's own queue, never on the index's.
	require.Eventually(t, func() bool { return slices.Contains(members(), "ann") }, wait, 5*time.Millisecond)
	// bob's own client still gets the area's presence state
	bob.until(t, `^42\["presence:state",\{"room":"area:park"`)
	assert.Equal(t, []string{"ann"}, members(), "bob, hidden, is not in the area's presence")

	require.Equal(t, `439[{"ok":true}]`, call(t, bob, "privacy", `{}`))
	require.Eventually(t, func() bool { return len(members()) == 2 }, wait, 5*time.Millisecond, "shown again: published")
	require.Equal(t, `439[{"ok":true}]`, call(t, bob, "privacy", `{"hidden":true}`))
	require.Eventually(t, func() bool { return len(members()) == 1 }, wait, 5*time.Millisecond, "hidden: unpublished")
	// A zone that hides hides from presence too.
	require.Equal(t, `439[{"ok":true}]`, call(t, bob, "privacy", fmt.Sprintf(`{"zones":[{"center":{"lat":%v,"lng":%v},"radius":100,"hide":true}]}`, park.Lat, park.Lng)))
	assert.Equal(t, []string{"ann"}, members())
}

// A user's privacy outlives its socket: a new connection of the same
// presence identity starts hidden (a phone back on a new socket is not
// shown for a moment), and the user's rates are not reset by reconnecting.
func TestPrivacyRememberedForTheUser(t *testing.T) {
	t.Parallel()
	srv := presenceServer(t, realtime.WithSpatial(), realtime.WithLocationEvent("location"),
		realtime.WithLocationLimits(realtime.LocationLimits{MaxSpeed: 1e12, QueryRate: 0.001, QueryBurst: 3}))
	srv.OnConnection(locationHandlers)
	ts := serve(t, srv)
	connect := func(user string) (*peer, string) {
		r := dialRaw(t, ts)
		return &peer{raw: r}, sid(t, r.connect("/", `{"user":"`+user+`"}`))
	}
	bob, _ := connect("bob")
	place(t, bob, berlin)
	require.Equal(t, `439[{"ok":true}]`, call(t, bob, "watch", "1000"))

	ann, _ := connect("ann")
	require.Equal(t, `439[{"ok":true}]`, call(t, ann, "privacy", `{"hidden":true}`))
	place(t, ann, north(berlin, 10))
	for range 3 {
		assert.Contains(t, call(t, ann, "nearby", "500"), `439[[`)
	}
	_ = ann.ws.Close()

	ann2, idAnn2 := connect("ann")
	assert.Equal(t, `439[{"hidden":true,"located":false,"zones":0}]`, call(t, ann2, "whoami", "null"), "hidden from its first moment")
	place(t, ann2, north(berlin, 20))
	assert.Equal(t, `439[{"error":"realtime: too many location queries"}]`, call(t, ann2, "nearby", "500"), "the rates were not reset")

	carl, idCarl := connect("carl")
	assert.Equal(t, `439[{"hidden":false,"located":false,"zones":0}]`, call(t, carl, "whoami", "null"), "another user is not")
	place(t, carl, north(berlin, 30))
	next := bob.until(t, `^42\["nearby:(enter|move)"`)
	assert.Contains(t, next, idCarl, "bob's next news is carl, never ann")
	assert.NotContains(t, next, idAnn2)
}

// Namespaces are tenants: one presence key in two namespaces is two users,
// with rates and remembered privacy of their own.
func TestUserPerNamespace(t *testing.T) {
	t.Parallel()
	srv := presenceServer(t, realtime.WithSpatial(), realtime.WithLocationEvent("location"),
		realtime.WithLocationLimits(realtime.LocationLimits{MaxSpeed: 1e12, QueryRate: 0.001, QueryBurst: 1}))
	srv.OnConnection(locationHandlers)
	srv.Of("/b").OnConnection(locationHandlers)
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	r.connect("/", `{"user":"42"}`)
	a := &peer{raw: r}
	require.Equal(t, `439[{"ok":true}]`, call(t, a, "privacy", `{"hidden":true}`))
	place(t, a, berlin)
	assert.Contains(t, call(t, a, "nearby", "500"), `439[[`)

	r2 := dialRaw(t, ts)
	reply := r2.connect("/b", `{"user":"42"}`)
	require.True(t, strings.HasPrefix(reply, "40/b,"), reply)
	r2.send(`42/b,9["whoami",null]`)
	assert.Equal(t, `43/b,9[{"hidden":false,"located":false,"zones":0}]`, r2.reply(), "not /'s user 42")
	r2.send(`42/b,8["location",{"lat":52.52,"lng":13.405}]`)
	assert.Equal(t, `43/b,8[{"ok":true}]`, r2.reply())
	r2.send(`42/b,7["nearby",500]`)
	assert.Equal(t, `43/b,7[[]]`, r2.reply(), "its own query budget, and / is not seen")
}
