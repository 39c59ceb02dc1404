package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/client"
	"github.com/vicinity-go/vicinity/examples/nearby/internal/store"
	"github.com/vicinity-go/vicinity/realtime"
	"github.com/vicinity-go/vicinity/spatial"
)

// wait bounds every wait for the server; nothing should come near it.
const wait = 5 * time.Second

// serve runs the app with options o on 127.0.0.1 until the test ends.
func serve(t *testing.T, o options) *httptest.Server {
	t.Helper()
	return serveCluster(t, o, nil)
}

// serveCluster is serve for a node of the cluster on rc (nil: none).
// The database is in o.Data (nodes given one directory share it), or in a
// new temporary directory.
func serveCluster(t *testing.T, o options, rc rueidis.Client) *httptest.Server {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError}))
	rt, handler, closePresence := newServer(logger, o, rc, openDB(t, o.Data))
	ts := httptest.NewServer(handler)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		assert.NoError(t, rt.Shutdown(ctx))
		ts.Close()
		closePresence()
	})
	return ts
}

// openDB opens the database in dir (a new temporary directory if "")
// until the test ends.
func openDB(t *testing.T, dir string) *store.DB {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	db, err := store.Open(context.Background(), filepath.Join(dir, "nearby.db"))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, db.Close()) })
	return db
}

func testOptions() options {
	o := defaultOptions()
	o.Bots, o.LeaveDelay, o.Data = 0, 0, ""
	o.botSecret = "bots-of-the-test"
	return o
}

// person is a Go client of the app that records every event it gets.
type person struct {
	t       *testing.T
	s       *client.Socket
	events  chan *client.Event
	welcome map[string]any // {id, name, token when claimed}
}

// join claims name, a new user.
func join(t *testing.T, ts *httptest.Server, name string) *person {
	t.Helper()
	return signIn(t, ts, map[string]string{"name": name})
}

// signIn connects with auth ({name} or {token}) and waits for welcome.
func signIn(t *testing.T, ts *httptest.Server, auth any) *person {
	t.Helper()
	m := client.New(ts.URL)
	t.Cleanup(func() { _ = m.Close() })
	p := &person{t: t, s: m.Socket("/", client.WithAuth(auth)), events: make(chan *client.Event, 1024)}
	p.s.OnAny(func(e *client.Event) { p.events <- e })
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, p.s.Connect(ctx))
	p.welcome = p.next("welcome", nil)
	return p
}

// next returns the next event called name for which match (if not nil)
// is true, skipping others.
func (p *person) next(name string, match func(map[string]any) bool) map[string]any {
	p.t.Helper()
	deadline := time.After(wait)
	var skipped []string
	for {
		select {
		case e := <-p.events:
			var v map[string]any
			if e.Name == name && (e.Len() == 0 || e.Bind(&v) == nil) && (match == nil || match(v)) {
				return v
			}
			skipped = append(skipped, e.Name)
		case <-deadline:
			p.t.Fatalf("no %s event; skipped %v", name, skipped)
		}
	}
}

// about matches events about socket id.
func about(id string) func(map[string]any) bool {
	return func(v map[string]any) bool { return v["id"] == id || v["from"] == id }
}

// call emits name with arg and returns the acknowledgement's error, if any.
func (p *person) call(name string, arg any) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ack, err := p.s.EmitWithAck(ctx, name, arg)
	require.NoError(p.t, err)
	var res struct{ Error string }
	require.NoError(p.t, ack.Bind(&res))
	return res.Error
}

func (p *person) moveTo(at spatial.Point) {
	p.t.Helper()
	require.Empty(p.t, p.call("location", map[string]float64{"lat": at.Lat, "lng": at.Lng}))
}

func TestRefusedNames(t *testing.T) {
	t.Parallel()
	ts := serve(t, testOptions())
	for _, tt := range []struct {
		auth any
		want string
	}{
		{map[string]string{"name": "   "}, "name is empty"},
		{nil, "name is empty"},
		{map[string]string{"name": strings.Repeat("x", 25)}, "name is longer than 24 characters"},
		{map[string]string{"name": "a\nb"}, "name must not contain control characters"},
		{map[string]int{"name": 5}, "auth must be {name: string} or {token: string}"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		opts := []client.Option{}
		if tt.auth != nil {
			opts = append(opts, client.WithSocketOptions(client.WithAuth(tt.auth)))
		}
		s, err := client.Connect(ctx, ts.URL, opts...)
		cancel()
		var ce *client.ConnectError
		require.True(t, errors.As(err, &ce), "%v: %v", tt.auth, err)
		assert.Equal(t, tt.want, ce.Message)
		if s != nil {
			_ = s.Manager().Close()
		}
	}
}

// Two people meet, talk, walk into an area, hide and leave, as the page
// would do it.
func TestNearbyFlow(t *testing.T) {
	t.Parallel()
	ts := serve(t, testOptions())
	alice, bob, carol := join(t, ts, "alice"), join(t, ts, "bob"), join(t, ts, "carol")
	alice.moveTo(berlin)
	bob.moveTo(offset(berlin, 300, 0))
	enter := alice.next(realtime.NearbyEnter, about(bob.s.ID()))
	assert.InDelta(t, 300, enter["distance"], 60, "coarsened to 50 m")
	carol.moveTo(offset(berlin, 0, 3000)) // beyond everyone's kilometer

	// A shout reaches the shouter's radius; carol's does not reach alice.
	require.Empty(t, alice.call("shout", "hello, neighbours"))
	got := bob.next("shout", about(alice.s.ID()))
	assert.Equal(t, "hello, neighbours", got["text"])
	assert.Equal(t, "alice", got["name"])
	require.Empty(t, carol.call("shout", "anyone?"))
	require.Empty(t, alice.call("shout", "marker"))
	assert.Equal(t, "marker", bob.next("shout", nil)["text"], "carol's shout never came")
	assert.Equal(t, "text is empty", alice.call("shout", " "))

	// A direct message, and one to nobody.
	require.Empty(t, bob.call("dm", map[string]string{"to": "alice", "text": "hi alice"}))
	assert.Equal(t, "hi alice", alice.next("dm", about(bob.s.ID()))["text"])
	assert.Equal(t, "no such person", bob.call("dm", map[string]string{"to": "nobody", "text": "hi"}))

	// The area chat is for those inside.
	museum := areas[len(areas)-1]
	assert.Equal(t, "you are not in Museum Island", alice.call("area-chat", map[string]string{"area": museum.Name, "text": "hi"}))
	inside := spatial.Point{Lat: 52.5180, Lng: 13.4020}
	require.True(t, museum.Polygon.Contains(inside))
	alice.moveTo(inside)
	assert.Equal(t, museum.Name, alice.next(realtime.AreaEnter, nil)["area"])
	require.Empty(t, alice.call("area-chat", map[string]string{"area": museum.Name, "text": "lovely here"}))
	assert.Equal(t, "lovely here", alice.next("area-chat", nil)["text"], "the sender hears it too")

	// Radius changes; hiding takes bob out of alice's list.
	assert.Equal(t, "radius must be one of [250 500 1000 2000]", alice.call("radius", 300))
	require.Empty(t, alice.call("radius", 2000))
	require.Empty(t, bob.call("hide", true))
	assert.Equal(t, realtime.LeaveHidden, alice.next(realtime.NearbyLeave, about(bob.s.ID()))["reason"])
	require.Empty(t, bob.call("hide", false))
	alice.next(realtime.NearbyEnter, about(bob.s.ID()))

	// Bob blurs his home: alice sees him jump to one point near it, and
	// nothing of his walk about the house; she sees him again as he goes.
	require.Empty(t, bob.call("home", true))
	home := alice.next(realtime.NearbyMove, about(bob.s.ID()))
	assert.Equal(t, 300.0, home["accuracy"], "the zone's radius")
	bob.moveTo(offset(berlin, 350, 20))
	bob.moveTo(offset(berlin, 250, -20))
	bob.moveTo(offset(berlin, 1200, 0)) // out
	out := alice.next(realtime.NearbyMove, about(bob.s.ID()))
	want := spatial.Coarsen(offset(berlin, 1200, 0), 50)
	assert.Equal(t, want.Lat, out["lat"], "the next move is the way out")
	require.Empty(t, bob.call("home", false))
	assert.Equal(t, "home must be true or false", bob.call("home", "yes"))

	// Bob closes the app: he leaves alice's list as disconnected, and
	// presence says when he was last seen.
	bobID := bob.s.ID()
	require.NoError(t, bob.s.Manager().Close())
	assert.Equal(t, realtime.LeaveDisconnected, alice.next(realtime.NearbyLeave, about(bobID))["reason"])
	diff := alice.next(realtime.DefaultPresenceDiff, func(v map[string]any) bool {
		leaves, _ := v["leaves"].(map[string]any)
		return leaves["bob"] != nil
	})
	assert.NotEmpty(t, diff["leaves"].(map[string]any)["bob"].(map[string]any)["lastSeen"])
}

// The page and the map it draws.
func TestPageAndWorld(t *testing.T) {
	t.Parallel()
	ts := serve(t, testOptions())
	res, err := http.Get(ts.URL + "/world.json")
	require.NoError(t, err)
	defer res.Body.Close()
	var w struct {
		Center spatial.Point
		Radius float64
		Radii  []float64
		Areas  []area
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&w))
	assert.Equal(t, berlin, w.Center)
	assert.Contains(t, w.Radii, w.Radius)
	require.Len(t, w.Areas, len(areas))
	for _, a := range w.Areas {
		require.NoError(t, spatial.Fence{Circle: a.Circle, Polygon: a.Polygon}.Validate(), a.Name)
	}
	res, err = http.Get(ts.URL + "/")
	require.NoError(t, err)
	defer res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
}

// Bots wait for the first person to place themselves, anywhere on Earth,
// then walk in around them through the Go client and are seen like anyone
// else; they stop with their context.
func TestBots(t *testing.T) {
	t.Parallel()
	o := testOptions()
	o.Bots, o.BotStep, o.BotSpeed = 3, 10*time.Millisecond, 2000 // 20 m a step: moves show on the 50 m grid
	home := newHerd(&o)
	ts := serve(t, o)
	stop := walkBots(t, ts, o, home)

	watcher := join(t, ts, "watcher")
	require.Empty(t, watcher.call("radius", 2000))
	tokyo := spatial.Point{Lat: 35.6762, Lng: 139.6503}
	watcher.moveTo(tokyo)
	state := watcher.next(realtime.DefaultPresenceDiff, func(v map[string]any) bool {
		joins, _ := v["joins"].(map[string]any)
		return joins["Ada (bot)"] != nil
	})
	assert.NotNil(t, state)
	// Some bot comes within 2 km of Tokyo and moves there.
	enter := watcher.next(realtime.NearbyEnter, nil)
	watcher.next(realtime.NearbyMove, about(enter["id"].(string)))
	// Someone alone in Paris gets company too.
	paris := join(t, ts, "paris")
	require.Empty(t, paris.call("radius", 2000))
	paris.moveTo(spatial.Point{Lat: 48.8566, Lng: 2.3522})
	paris.next(realtime.NearbyEnter, nil)
	stop()
	watcher.next(realtime.NearbyLeave, func(v map[string]any) bool { return v["reason"] == realtime.LeaveDisconnected })
}

// walkBots starts o.Bots bots walking on ts around home; stop (also
// called when the test ends) stops them and waits until they have gone.
func walkBots(t *testing.T, ts *httptest.Server, o options, home *herd) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := startBots(ctx, ts.URL, o, home, slog.New(slog.DiscardHandler))
	stop = sync.OnceFunc(func() { cancel(); done() })
	t.Cleanup(stop)
	return stop
}

// With -center the bots walk there at once, nobody placed, and stay.
func TestHerdCenter(t *testing.T) {
	o := testOptions()
	o.Bots = 4
	o.Center, o.CenterSet = spatial.Point{Lat: -33.8688, Lng: 151.2093}, true
	h := newHerd(&o)
	assert.True(t, h.wait(t.Context()))
	assert.Equal(t, o.Center, h.home(3))
	assert.Nil(t, o.onPlaced, "nobody moves them")
}

// Without -center the bots wait for the first person placed; someone
// placed far from every place the bots walk gets some of them; at most
// one place a bot.
func TestHerdFollowsPeople(t *testing.T) {
	o := testOptions()
	o.Bots = 4
	h := newHerd(&o)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	assert.False(t, h.wait(ctx), "nobody placed yet")
	tokyo, paris, lima := spatial.Point{Lat: 35.68, Lng: 139.65}, spatial.Point{Lat: 48.86, Lng: 2.35}, spatial.Point{Lat: -12.05, Lng: -77.04}
	o.onPlaced(tokyo)
	require.True(t, h.wait(t.Context()))
	for i := range 4 {
		assert.Equal(t, tokyo, h.home(i))
	}
	o.onPlaced(offset(tokyo, 5000, 0)) // near enough: company already
	o.onPlaced(paris)
	assert.Equal(t, []spatial.Point{tokyo, paris, tokyo, paris}, []spatial.Point{h.home(0), h.home(1), h.home(2), h.home(3)})
	o.onPlaced(berlin)
	o.onPlaced(lima)
	o.onPlaced(offset(berlin, 0, 20_000)) // a fifth place: the oldest, Tokyo, goes
	assert.Equal(t, []spatial.Point{paris, berlin, lima, offset(berlin, 0, 20_000)}, []spatial.Point{h.home(0), h.home(1), h.home(2), h.home(3)})
}

// A bot walks at its speed along a smooth path (it turns at most maxTurn a
// step), stops now and then, and stays around home.
func TestBotWalk(t *testing.T) {
	t.Parallel()
	o := testOptions()
	b := newBot(1, berlin, o)
	require.InDelta(t, botSpeed, b.stride, botSpeed/5+1e-9, "meters a 1 s step")
	stopped, steps := 0, 10_000
	for range steps {
		from, heading := b.at, b.heading
		if !b.step() {
			stopped++
			assert.Equal(t, from, b.at)
			continue
		}
		assert.InDelta(t, b.stride, spatial.Distance(from, b.at), 0.01)
		assert.LessOrEqual(t, math.Abs(math.Remainder(b.heading-heading, 2*math.Pi)), maxTurn+1e-9)
		require.LessOrEqual(t, spatial.Distance(berlin, b.at), botRange+100.0)
	}
	assert.Greater(t, stopped, steps/100, "it stops sometimes")
	assert.Less(t, stopped, steps/2, "it mostly walks")
}

// The library's refusals reach the page in its own words: a shout before
// being placed, too many shouts at once, a shout while hidden.
func TestRefusalsInPlainWords(t *testing.T) {
	t.Parallel()
	ts := serve(t, testOptions())
	ana := join(t, ts, "ana")
	assert.Equal(t, "place yourself on the map first", ana.call("shout", "hello?"))
	ana.moveTo(berlin)
	var answers []string
	for range 20 {
		answers = append(answers, ana.call("shout", "hello"))
	}
	assert.Contains(t, answers, "slow down: try again in a moment")
	for _, a := range answers {
		assert.NotContains(t, a, "realtime:")
	}
	require.Empty(t, ana.call("hide", true))
	require.Eventually(t, func() bool { return ana.call("shout", "hi") == "you are hidden: nobody would hear you" }, wait, 100*time.Millisecond)
}

// The herd learns where people are shown, never where they are: nothing
// of a hidden person, the coarsened cell of one shown; and a herd of one
// bot following two cities does not break.
func TestHerdSeesOnlyWhatIsShown(t *testing.T) {
	t.Parallel()
	o := testOptions()
	o.Bots = 1
	h := newHerd(&o)
	ts := serve(t, o)
	alice := join(t, ts, "alice")
	require.Empty(t, alice.call("hide", true))
	exact := spatial.Point{Lat: 35.67621, Lng: 139.65034}
	alice.moveTo(exact)
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	assert.False(t, h.wait(ctx), "a hidden person brings no bot")

	require.Empty(t, alice.call("hide", false))
	alice.moveTo(offset(exact, 1, 0))
	require.True(t, h.wait(t.Context()))
	home := h.home(0)
	assert.NotEqual(t, offset(exact, 1, 0), home, "not the exact position")
	assert.Less(t, spatial.Distance(home, exact), o.Precision)

	bob := join(t, ts, "bob")
	bob.moveTo(berlin)
	require.Eventually(t, func() bool { return spatial.Distance(h.home(0), berlin) < o.Precision }, wait, 50*time.Millisecond, "the one bot goes to bob")
	alice.moveTo(offset(exact, 2, 0))
	require.Eventually(t, func() bool { return spatial.Distance(h.home(0), exact) < o.Precision }, wait, 50*time.Millisecond, "and back")
}
