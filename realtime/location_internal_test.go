package realtime

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/spatial"
	"github.com/vicinity-go/vicinity/transport"
)

// A recovered socket whose session has no location state that can be read
// is hidden: when in doubt, fail closed.
func TestRecoveredWithoutStateIsHidden(t *testing.T) {
	t.Parallel()
	srv := New(WithSpatial())
	defer srv.Close()
	s := openPolling(t, srv, 1)[0]
	for _, sess := range []*Session{
		{SID: s.id},
		{SID: s.id, State: map[string]json.RawMessage{stateKey: json.RawMessage(`{"privacy":`)}},
		{SID: s.id, State: map[string]json.RawMessage{stateKey: json.RawMessage(`{"privacy":{"precision":-1}}`)}},
	} {
		require.NoError(t, srv.loc.admit(s, sess))
		st, err := srv.loc.located(s, false)
		require.NoError(t, err)
		require.NotNil(t, st)
		assert.True(t, st.privacy.Hidden, "%s", sess.State)
		srv.loc.refused(s)
		st, _ = srv.loc.located(s, false)
		assert.Nil(t, st, "refused: forgotten")
	}
	require.NoError(t, srv.loc.admit(s, &Session{SID: s.id, State: map[string]json.RawMessage{stateKey: json.RawMessage(`{"privacy":{}}`)}}))
	assert.False(t, s.Hidden(), "a state that says shown")
}

// nearbyEvent is a nearby event a client got: its name and the id it is
// about, or for a state the ids it lists; for a leave, its reason.
type nearbyEvent struct {
	name   string
	ids    []string
	reason string
}

// collect drains s's send queue until ctx is done, keeping its nearby
// events in order.
func collect(ctx context.Context, srv *Server, s *Socket) []nearbyEvent {
	var out []nearbyEvent
	var buf []transport.Packet
	for {
		var err error
		buf, err = s.client.conn.Next(ctx, srv.transports[0], buf[:0])
		if err != nil {
			return out
		}
		for _, p := range buf {
			data := string(p.Data)
			if !strings.HasPrefix(data, `2["nearby:`) {
				continue
			}
			var args []json.RawMessage
			if json.Unmarshal(p.Data[1:], &args) != nil || len(args) < 2 {
				continue
			}
			var ev nearbyEvent
			_ = json.Unmarshal(args[0], &ev.name)
			var payload struct {
				ID      string
				Reason  string
				Members []struct{ ID string }
			}
			_ = json.Unmarshal(args[1], &payload)
			ev.reason = payload.Reason
			if ev.name == NearbyState {
				for _, m := range payload.Members {
					ev.ids = append(ev.ids, m.ID)
				}
			} else {
				ev.ids = []string{payload.ID}
			}
			out = append(out, ev)
		}
	}
}

// Under concurrent moves, hides and clears of many sockets, every client
// gets, about each other socket, enter, move…, leave, enter…: never a move
// outside an enter…leave span, never two enters or two leaves in a row; and
// what it ends up seeing is what its watch holds.
func TestLocationEventOrder(t *testing.T) {
	t.Parallel()
	// The clients drain as fast as they can, but a loaded machine may
	// starve them for seconds: no slow-client closes here.
	srv := New(WithSpatial(), WithLocationLimits(LocationLimits{UpdateRate: 1e9, UpdateBurst: 1 << 30, MaxSpeed: 1e12}),
		WithTransportOptions(transport.WithPingInterval(time.Hour), transport.WithPingTimeout(time.Hour),
			transport.WithStallTimeout(0), transport.WithSendQueue(1<<16, 1<<30)))
	defer srv.Close()
	const n = 40
	socks := openPolling(t, srv, n)
	rng := rand.New(rand.NewPCG(7, 7))
	point := func(rng *rand.Rand) spatial.Point {
		return spatial.Point{Lat: 52.50 + rng.Float64()*0.02, Lng: 13.40 + rng.Float64()*0.03}
	}
	for i, s := range socks {
		require.NoError(t, s.SetLocation(point(rng), 0))
		var opts []spatial.WatchOption
		if i%3 == 0 {
			opts = append(opts, spatial.WithSymmetric())
		}
		require.NoError(t, s.Watch(800, opts...))
	}
	ctx, cancel := context.WithCancel(context.Background())
	got := make([][]nearbyEvent, n)
	var drains sync.WaitGroup
	for i, s := range socks {
		drains.Go(func() { got[i] = collect(ctx, srv, s) })
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for range 600 {
				s := socks[rng.IntN(n)]
				switch r := rng.IntN(20); {
				case r == 0:
					_ = s.SetHidden(!s.Hidden())
				case r == 1:
					s.ClearLocation()
				default:
					_ = s.SetLocation(point(rng), 0)
				}
			}
		})
	}
	wg.Wait()
	for _, s := range socks { // everyone shown and placed, for the final check
		_ = s.SetHidden(false)
		_ = s.SetLocation(point(rng), 0)
	}
	time.Sleep(200 * time.Millisecond) // the last events are queued
	cancel()
	drains.Wait()

	moves := 0
	for i, s := range socks {
		in := map[string]bool{}
		for _, ev := range got[i] {
			switch ev.name {
			case NearbyState: // the whole view
				clear(in)
				for _, id := range ev.ids {
					in[id] = true
				}
			case NearbyEnter:
				require.False(t, in[ev.ids[0]], "%s: enter of %s, already seen", s.id, ev.ids[0])
				in[ev.ids[0]] = true
			case NearbyMove:
				moves++
				require.True(t, in[ev.ids[0]], "%s: move of %s, not seen", s.id, ev.ids[0])
			case NearbyLeave:
				require.True(t, in[ev.ids[0]], "%s: leave of %s, not seen", s.id, ev.ids[0])
				delete(in, ev.ids[0])
			}
		}
		want, _ := s.nsp.Spatial().Watching(s.id)
		var seen []string
		for id := range in {
			seen = append(seen, id)
		}
		assert.ElementsMatch(t, want, seen, "%s ends up seeing what its watch holds", s.id)
	}
	assert.Positive(t, moves)
	for _, s := range socks {
		assert.True(t, s.Connected(), "nobody was disconnected")
	}
}

// A watch started among 5,000 sockets, or moving into them, gets its
// snapshot (the nearest MaxWatch) and enters without overflowing its
// client's queue.
func TestDenseWatch(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 sockets")
	}
	t.Parallel()
	srv := New(WithSpatial(), WithTransportOptions(transport.WithPingInterval(time.Hour), transport.WithPingTimeout(time.Hour),
		transport.WithStallTimeout(0)))
	defer shutdown(srv) // thousands of sockets leave the index: wait for them
	const crowd = 5000
	socks := openPolling(t, srv, crowd+2)
	rng := rand.New(rand.NewPCG(5, 5))
	center := spatial.Point{Lat: 52.52, Lng: 13.405}
	for _, s := range socks[2:] {
		require.NoError(t, s.SetLocation(spatial.Point{Lat: center.Lat + (rng.Float64()-0.5)*0.01, Lng: center.Lng + (rng.Float64()-0.5)*0.015}, 0))
	}
	w, mover := socks[0], socks[1]
	require.NoError(t, w.SetLocation(center, 0))
	require.NoError(t, w.Watch(2000))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	evs := collect(ctx, srv, w)
	cancel()
	require.Len(t, evs, 1, "one snapshot")
	assert.Equal(t, NearbyState, evs[0].name)
	assert.Len(t, evs[0].ids, defaultLocationLimits.MaxWatch)
	assert.True(t, w.Connected())
	// nearest first
	first, _ := socks[0].nsp.Spatial().Nearby(center, 2000, 2)
	assert.Equal(t, first[1].ID, evs[0].ids[0], "the nearest comes first (first[0] is w)")

	// Walking into the crowd from 20 km away.
	far := spatial.Point{Lat: center.Lat + 0.18, Lng: center.Lng}
	require.NoError(t, mover.SetLocation(far, 0))
	require.NoError(t, mover.Watch(2000))
	mover.nsp.srv.loc.mu.Lock()
	for _, b := range mover.nsp.srv.loc.users {
		b.updates = tokenBucket{}
	}
	mover.nsp.srv.loc.mu.Unlock()
	st, _ := mover.location(false)
	st.mu.Lock()
	st.lastAt = time.Time{} // not a speed test
	st.mu.Unlock()
	require.NoError(t, mover.SetLocation(center, 0))
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	evs = collect(ctx, srv, mover)
	cancel()
	enters := 0
	for _, ev := range evs {
		if ev.name == NearbyEnter {
			enters++
		}
	}
	assert.Equal(t, defaultLocationLimits.MaxWatch, enters)
	assert.True(t, mover.Connected())
}

// An observer that moves freely and queries through the server (its
// Nearby, its watch) learns of a coarsened socket its cell, and of a socket
// in a privacy zone the zone's shown center: the answers are the same
// wherever in the cell, or the zone, the socket is.
func TestLocationAdversary(t *testing.T) {
	t.Parallel()
	srv := New(WithSpatial(spatial.WithSecret([]byte("0123456789abcdef"))),
		WithLocationLimits(LocationLimits{UpdateRate: 1e9, UpdateBurst: 1 << 30, QueryRate: 1e9, QueryBurst: 1 << 30, MaxSpeed: 1e12}),
		WithTransportOptions(transport.WithPingInterval(time.Hour), transport.WithPingTimeout(time.Hour)))
	defer srv.Close()
	socks := openPolling(t, srv, 2)
	m, o := socks[0], socks[1]
	require.NoError(t, o.Watch(1000))
	home := spatial.Point{Lat: 52.52, Lng: 13.405}
	north := func(p spatial.Point, meters float64) spatial.Point {
		return spatial.Point{Lat: p.Lat + meters/(spatial.EarthRadius*3.141592653589793/180), Lng: p.Lng}
	}
	// transcript is what the observer learns: the radius at which Nearby
	// first finds m from three places, and how far it walks north before
	// m enters its watch.
	transcript := func() []float64 {
		var out []float64
		for _, from := range []spatial.Point{{Lat: 52.51, Lng: 13.40}, {Lat: 52.53, Lng: 13.39}, {Lat: 52.52, Lng: 13.42}} {
			require.NoError(t, o.SetLocation(from, 0))
			lo, hi := 0.0, 5000.0
			for range 50 {
				mid := (lo + hi) / 2
				near, err := o.Nearby(mid, 0)
				require.NoError(t, err)
				if len(near) > 0 {
					hi = mid
				} else {
					lo = mid
				}
			}
			out = append(out, hi)
		}
		start := spatial.Point{Lat: 52.50, Lng: home.Lng}
		lo, hi := 0.0, 2400.0
		for range 50 {
			mid := (lo + hi) / 2
			require.NoError(t, o.SetLocation(north(start, mid), 0))
			in, _ := o.nsp.Spatial().Watching(o.id)
			if len(in) > 0 {
				hi = mid
			} else {
				lo = mid
			}
		}
		return append(out, hi)
	}
	for _, tc := range []struct {
		name string
		pv   spatial.Privacy
		at   []float64 // meters north of home
	}{
		{"coarsened", spatial.Privacy{Precision: 500}, []float64{-100, -40, 0, 60, 110}},
		{"zone", spatial.Privacy{Zones: []spatial.Zone{{Center: home, Radius: 300}}}, []float64{-150, -60, 0, 80, 190}},
	} {
		require.NoError(t, m.SetPrivacy(tc.pv))
		var first []float64
		compared := 0
		for _, d := range tc.at {
			p := north(home, d)
			if tc.pv.Precision > 0 && spatial.Coarsen(p, tc.pv.Precision) != spatial.Coarsen(home, tc.pv.Precision) {
				continue // another cell
			}
			st, _ := m.location(false)
			if st != nil {
				st.mu.Lock()
				st.lastAt = time.Time{}
				st.mu.Unlock()
			}
			m.ClearLocation() // a fresh cell: no hysteresis from where it was
			require.NoError(t, m.SetLocation(p, 0))
			got := transcript()
			if first == nil {
				first = got
				continue
			}
			assert.Equal(t, first, got, "%s: the same answers %v m from home", tc.name, d)
			compared++
		}
		assert.GreaterOrEqual(t, compared, 2, tc.name)
	}
}

// A socket stepping into a crowd of symmetric watchers (five groups of 255,
// out of each other's reach) is held by at most MaxWatch of them: it gets
// that many enters, not 1,275, and stays connected.
func TestSymmetricCrowd(t *testing.T) {
	if testing.Short() {
		t.Skip("1,276 sockets")
	}
	t.Parallel()
	// The crowd does not read what its own watches send it: no slow-client
	// closes while it is set up.
	srv := New(WithSpatial(), WithTransportOptions(transport.WithPingInterval(time.Hour), transport.WithPingTimeout(time.Hour),
		transport.WithStallTimeout(0)))
	defer shutdown(srv) // thousands of sockets leave the index: wait for them
	const groups, per = 5, 255
	socks := openPolling(t, srv, groups*per+1)
	w := socks[0]
	center := spatial.Point{Lat: 52.52, Lng: 13.405}
	for g := range groups {
		bearing := 2 * math.Pi * float64(g) / groups
		for i := range per {
			d := 990.0 + float64(i%10)*0.5
			p := spatial.Point{
				Lat: center.Lat + d*math.Cos(bearing)/111195,
				Lng: center.Lng + d*math.Sin(bearing)/(111195*math.Cos(center.Lat*math.Pi/180)),
			}
			require.NoError(t, socks[1+g*per+i].SetLocation(p, 0))
		}
	}
	for _, s := range socks[1:] {
		require.NoError(t, s.Watch(1000, spatial.WithSymmetric()))
	}
	drain(t, srv, socks[1:])
	require.NoError(t, w.SetLocation(center, 0))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	evs := collect(ctx, srv, w)
	cancel()
	assert.Len(t, evs, defaultLocationLimits.MaxWatch, "one enter for each watch that holds it")
	assert.True(t, w.Connected())
}

// shutdown shuts srv down and waits for its sockets' disconnections, which
// a large test leaves many of.
func shutdown(srv *Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
}
