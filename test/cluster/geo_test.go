package cluster

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/cluster/redis"
	"github.com/vicinity-go/vicinity/internal/nodetest"
	"github.com/vicinity-go/vicinity/internal/redistest"
	"github.com/vicinity-go/vicinity/presence"
	"github.com/vicinity-go/vicinity/realtime"
	"github.com/vicinity-go/vicinity/spatial"
)

// The geo tests: official socket.io-client clients on two or three
// vicinity servers see one presence and one map. Each test starts a
// redis-server (internal/redistest), geo servers (see geoServer) that share
// presence through redis.NewPresenceStore and location through the Redis
// adapter's cells, and geo.mjs: the clients alone, no Node server, driven
// as peer.mjs is (the same peer type, the same protocol). Each checks what
// the clients get, and TestGeoLocation what Redis holds. TestGeoServerKilled
// (Linux) runs server C in a process of its own (this test binary, re-run
// as a geo server: see geoChildEnv) and kills it.
//
// They need node and test/cluster's npm packages (socket.io-client), and
// skip without them unless VICINITY_REQUIRE_NODE=1, like the others.

const (
	// geoKey is the Redis key of the geo servers' adapter and presence
	// store.
	geoKey = "vic"
	// geoCellSize is the size of the cells the servers share location by,
	// in meters: small, so that a walk of a few kilometers crosses many.
	geoCellSize = 500
	// coarsening is the precision of a coarsened client, in meters.
	coarsening = 1000
	// leaveDelay is the presence leave delay of the geo servers.
	leaveDelay = 200 * time.Millisecond
)

// heartbeats are the geo servers' heartbeats: the adapter's (how soon the
// sockets of a server that died leave the others' maps) and the presence
// tracker's (how soon its users leave the others' presence).
type heartbeats struct {
	adapter, adapterTimeout time.Duration
	presence, presenceTTL   time.Duration
}

var (
	// relaxed are the heartbeats of the tests that kill no server: a
	// loaded machine does not make a server that is alive look dead.
	relaxed = heartbeats{500 * time.Millisecond, 5 * time.Second, 250 * time.Millisecond, 3 * time.Second}
	// short are those of TestGeoServerKilled, which waits for a dead
	// server's sockets and users to leave.
	short = heartbeats{200 * time.Millisecond, time.Second, 100 * time.Millisecond, 600 * time.Millisecond}
)

// berlin is near where the geo tests happen.
var berlin = spatial.Point{Lat: 52.52, Lng: 13.405}

// origin is where they happen: the center of a cell of the coarsening
// grid, so that every point within 400 m of it is shown there when
// coarsened.
var origin = spatial.Coarsen(berlin, coarsening)

// at returns the point n meters north and e meters east of origin.
func at(n, e float64) spatial.Point {
	return spatial.Point{
		Lat: origin.Lat + n/111_195,
		Lng: origin.Lng + e/(111_195*math.Cos(origin.Lat*math.Pi/180)),
	}
}

// plaza is the area every geo server defines: a circle of 300 m, 2 km
// north of origin.
const plaza = "plaza"

var plazaFence = spatial.Fence{Circle: &spatial.Circle{Center: at(2000, 0), Radius: 300}}

// geoServer is a vicinity server of a geo test. Its clients are the
// presence user named by their auth's "user" or, without one, by their
// query's "user"; presence is published in room "lobby" and in the area
// rooms. They set their location with "location" and join rooms with
// "join" (a list), watch with "watch" (radius), hide with "hide" (bool),
// coarsen with "coarsen" (meters, 0 for exact), shout with "shout"
// (radius, text: "shout" with the text to the others within radius), ask
// "nearby" (radius: the ids within it, nearest first) and "lastSeen" (a
// user: {"seen", "at"}, the tracker's LastSeen). Each is acknowledged,
// {"ok": true} or {"error": …} but for nearby and lastSeen. It defines
// the area plaza, and answers the server-side event "ready".
type geoServer struct {
	name    string
	srv     *realtime.Server
	tracker *presence.Tracker
	store   *redis.PresenceStore
	rc      rueidis.Client
	http    *httptest.Server
	url     string
}

// newGeoServer starts the geo server name on the Redis at addr.
func newGeoServer(addr, name string, hb heartbeats) (*geoServer, error) {
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		return nil, err
	}
	v := &geoServer{name: name, rc: rc}
	v.store = redis.NewPresenceStore(rc, redis.WithKey(geoKey))
	v.tracker = presence.New(presence.WithStore(v.store), presence.WithNode(name),
		presence.WithHeartbeat(hb.presence, hb.presenceTTL), presence.WithLeaveDelay(leaveDelay))
	identify := func(s *realtime.Socket) (string, presence.Meta, error) {
		var auth struct {
			User string `json:"user"`
		}
		_ = json.Unmarshal(s.Handshake().Auth, &auth)
		user := cmp.Or(auth.User, s.Handshake().Query.Get("user"))
		if user == "" {
			return "", presence.Meta{}, errors.New("no user in the auth or the query")
		}
		return user, presence.Meta{}, nil
	}
	v.srv = realtime.New(
		realtime.WithAdapter(redis.NewAdapter(rc,
			redis.WithKey(geoKey),
			redis.WithRequestTimeout(requestTimeout),
			redis.WithHeartbeat(hb.adapter, hb.adapterTimeout),
			redis.WithCellSize(geoCellSize),
			redis.WithLogger(slog.New(slog.DiscardHandler)),
		)),
		realtime.WithPresence(v.tracker, identify),
		realtime.WithPresenceRooms(func(_, room string) bool {
			return room == "lobby" || strings.HasPrefix(room, realtime.AreaRoom(""))
		}),
		realtime.WithSpatial(),
		realtime.WithLocationEvent("location"),
		realtime.WithLocationLimits(realtime.LocationLimits{
			UpdateRate: 100, UpdateBurst: 100, QueryRate: 100, QueryBurst: 100, MaxSpeed: math.Inf(1),
		}),
	)
	if err := v.srv.AddArea(plaza, plazaFence); err != nil {
		v.close()
		return nil, err
	}
	nsp := v.srv.Of("/")
	nsp.OnServerSideEmit("ready", func(e *realtime.ServerEvent) { _ = e.Ack(name) })
	nsp.OnConnection(func(s *realtime.Socket) {
		s.On("join", func(e *realtime.Event) {
			var rooms []string
			_ = e.Bind(&rooms)
			_ = e.AckResult(s.Join(rooms...))
		})
		s.On("watch", func(e *realtime.Event) {
			var radius float64
			if err := e.Bind(&radius); err != nil {
				_ = e.AckResult(err)
				return
			}
			_ = e.AckResult(s.Watch(radius))
		})
		s.On("hide", func(e *realtime.Event) {
			var hide bool
			if err := e.Bind(&hide); err != nil {
				_ = e.AckResult(err)
				return
			}
			_ = e.AckResult(s.SetHidden(hide))
		})
		s.On("coarsen", func(e *realtime.Event) {
			var m float64
			if err := e.Bind(&m); err != nil {
				_ = e.AckResult(err)
				return
			}
			_ = e.AckResult(s.SetPrivacy(spatial.Privacy{Precision: m}))
		})
		s.On("shout", func(e *realtime.Event) {
			var radius float64
			var text string
			if err := e.Bind(&radius, &text); err != nil {
				_ = e.AckResult(err)
				return
			}
			_ = e.AckResult(s.Near(radius).Emit("shout", text))
		})
		s.On("nearby", func(e *realtime.Event) {
			var radius float64
			if err := e.Bind(&radius); err != nil {
				_ = e.AckResult(err)
				return
			}
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
		s.On("lastSeen", func(e *realtime.Event) {
			var user string
			if err := e.Bind(&user); err != nil {
				_ = e.AckResult(err)
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
			defer cancel()
			seen, ok, err := v.tracker.LastSeen(ctx, user)
			if err != nil {
				_ = e.AckResult(err)
				return
			}
			_ = e.Ack(lastSeen{Seen: ok, At: seen})
		})
	})
	v.http = httptest.NewServer(v.srv) // 127.0.0.1
	v.url = v.http.URL
	return v, nil
}

// lastSeen is the answer to "lastSeen".
type lastSeen struct {
	Seen bool      `json:"seen"`
	At   time.Time `json:"at"`
}

// close shuts the server down, then its tracker, its store and its Redis
// client.
func (v *geoServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_ = v.srv.Shutdown(ctx)
	if v.http != nil {
		v.http.Close()
	}
	_ = v.tracker.Close()
	_ = v.store.Close()
	v.rc.Close()
}

// geoCluster is what a geo test runs on: a Redis, its geo servers, a Redis
// client of the test's own, and geo.mjs's official clients.
type geoCluster struct {
	redis   *redistest.Server
	probe   rueidis.Client
	servers []*geoServer
	clients *peer
}

// startGeo starts a geo cluster of n servers (A, B, C…), and waits until
// each hears the others.
func startGeo(t *testing.T, n int, hb heartbeats) *geoCluster {
	t.Helper()
	node := nodetest.Require(t, ".", "socket.io-client")
	rs := redistest.Start(t)
	probe, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{rs.Addr()}, DisableCache: true})
	require.NoError(t, err)
	t.Cleanup(probe.Close)
	g := &geoCluster{redis: rs, probe: probe}
	for i := range n {
		v, err := newGeoServer(rs.Addr(), string(rune('A'+i)), hb)
		require.NoError(t, err)
		t.Cleanup(v.close)
		g.servers = append(g.servers, v)
	}
	g.clients = startClients(t, node)
	g.waitReady(t, n, g.servers...)
	return g
}

// waitReady waits until the server-side emits of each of vs are answered
// by the n-1 other servers of the cluster.
func (g *geoCluster) waitReady(t *testing.T, n int, vs ...*geoServer) {
	t.Helper()
	for _, v := range vs {
		require.Eventually(t, func() bool {
			ctx, cancel := context.WithTimeout(t.Context(), requestTimeout)
			defer cancel()
			got, err := v.srv.Of("/").ServerSideEmitWithAck(ctx, "ready")
			return err == nil && len(got) == n-1
		}, startTimeout, 20*time.Millisecond, "geo server %s does not hear every server", v.name)
	}
}

// startClients starts geo.mjs, stopped when the test ends.
func startClients(t *testing.T, node string) *peer {
	t.Helper()
	p, _ := startScript(t, node, "geo.mjs")
	return p
}

// until waits, up to timeout, until ok accepts the notes so far (all of
// them, in order; ok must not keep or change them).
func (p *peer) until(t *testing.T, timeout time.Duration, what string, ok func(notes []message) bool) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		p.mu.Lock()
		notes, changed := p.notes, p.changed
		p.mu.Unlock()
		if ok(notes) {
			return
		}
		select {
		case <-changed:
		case <-p.done:
			t.Fatalf("node exited while waiting for %s", what)
		case <-deadline:
			t.Fatalf("no %s within %v; the clients' last notes:\n%s", what, timeout, lastNotes(notes, 30))
		}
	}
}

// snapshot returns the notes so far.
func (p *peer) snapshot() []message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.notes
}

// lastNotes renders the last n of notes, one a line.
func lastNotes(notes []message, n int) string {
	var b strings.Builder
	for _, m := range notes[max(0, len(notes)-n):] {
		args, _ := json.Marshal(m.Args)
		fmt.Fprintf(&b, "  %s %s %s %s %s\n", m.Client, m.Note, m.Event, m.Reason, args)
	}
	return b.String()
}

// geoClient is an official client of a geo server, driven through
// geo.mjs.
type geoClient struct {
	p    *peer
	name string // its user, and its name in geo.mjs
	id   string // its socket's
}

// identity says how a client names its user: in its auth or its query.
type identity int

const (
	byAuth identity = iota
	byQuery
)

// dial connects the client of user name to the server at url, naming the
// user as by says.
func (g *geoCluster) dial(t *testing.T, name, url string, by identity) *geoClient {
	t.Helper()
	params := map[string]any{"name": name, "url": url}
	user := map[string]string{"user": name}
	if by == byAuth {
		params["auth"] = user
	} else {
		params["query"] = user
	}
	var got struct {
		ID string `json:"id"`
	}
	g.clients.call(t, &got, "connect", params)
	require.NotEmpty(t, got.ID, "socket of %s", name)
	return &geoClient{p: g.clients, name: name, id: got.ID}
}

// ask emits event with args and returns the acknowledgement's argument.
func (c *geoClient) ask(t *testing.T, event string, args ...any) json.RawMessage {
	t.Helper()
	if args == nil {
		args = []any{}
	}
	var raw json.RawMessage
	c.p.call(t, &raw, "emit", map[string]any{"client": c.name, "event": event, "args": args})
	return raw
}

// do emits event with args and requires it acknowledged {"ok": true}.
func (c *geoClient) do(t *testing.T, event string, args ...any) {
	t.Helper()
	raw := c.ask(t, event, args...)
	var res struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	require.NoError(t, json.Unmarshal(raw, &res), "%s of %s: %s", event, c.name, raw)
	require.True(t, res.OK, "%s%v of %s: %s", event, args, c.name, raw)
}

func (c *geoClient) moveTo(t *testing.T, p spatial.Point) {
	t.Helper()
	c.do(t, "location", map[string]float64{"lat": p.Lat, "lng": p.Lng})
}

func (c *geoClient) join(t *testing.T, rooms ...string) {
	t.Helper()
	c.do(t, "join", rooms)
}

// close disconnects the client.
func (c *geoClient) close(t *testing.T) {
	t.Helper()
	c.p.call(t, nil, "close", map[string]any{"client": c.name})
}

// mark returns the number of notes so far, for the waits and checks of
// what comes after.
func (c *geoClient) mark() int { return len(c.p.snapshot()) }

// got returns the events of name the client got among notes (all if name
// is "").
func (c *geoClient) got(notes []message, name string) []message {
	var out []message
	for _, m := range notes {
		if m.Note == "event" && m.Client == c.name && (name == "" || m.Event == name) {
			out = append(out, m)
		}
	}
	return out
}

// wait waits until the client got an event after the note from (see
// mark) that match accepts, and returns the first.
func (c *geoClient) wait(t *testing.T, from int, timeout time.Duration, what string, match func(message) bool) message {
	t.Helper()
	var found message
	c.p.until(t, timeout, what+" on "+c.name, func(notes []message) bool {
		for _, m := range c.got(notes[min(from, len(notes)):], "") {
			if match(m) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

// waitEvent waits for an event of that name after the note from, whose
// first argument is want if want is not nil.
func (c *geoClient) waitEvent(t *testing.T, from int, name string, want any) message {
	t.Helper()
	return c.wait(t, from, wait, fmt.Sprintf("%s %v", name, want), func(m message) bool {
		return m.Event == name && (want == nil || len(m.Args) > 0 && fmt.Sprint(m.Args[0]) == fmt.Sprint(want))
	})
}

// bind decodes the i-th argument of an event.
func bind(m message, i int, out any) error {
	if i >= len(m.Args) {
		return fmt.Errorf("%s has %d arguments", m.Event, len(m.Args))
	}
	b, err := json.Marshal(m.Args[i])
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// sighting is a nearby event about one socket: enter (from nearby:enter
// or nearby:state), move, or leave.
type sighting struct {
	Kind     string
	ID       string
	At       spatial.Point
	Accuracy float64
	Reason   string
}

func (s sighting) String() string {
	if s.Kind == "leave" {
		return "leave " + s.Reason
	}
	return fmt.Sprintf("%s %.7f,%.7f", s.Kind, s.At.Lat, s.At.Lng)
}

// sightings returns what the client saw of socket id among notes, in
// order.
func (c *geoClient) sightings(notes []message, id string) []sighting {
	type nearby struct {
		ID       string  `json:"id"`
		Lat      float64 `json:"lat"`
		Lng      float64 `json:"lng"`
		Accuracy float64 `json:"accuracy"`
		Reason   string  `json:"reason"`
	}
	var out []sighting
	add := func(kind string, n nearby) {
		if n.ID == id {
			out = append(out, sighting{kind, n.ID, spatial.Point{Lat: n.Lat, Lng: n.Lng}, n.Accuracy, n.Reason})
		}
	}
	for _, m := range c.got(notes, "") {
		var n nearby
		switch m.Event {
		case realtime.NearbyState:
			var st struct{ Members []nearby }
			if bind(m, 0, &st) == nil {
				for _, n := range st.Members {
					add("enter", n)
				}
			}
		case realtime.NearbyEnter:
			if bind(m, 0, &n) == nil {
				add("enter", n)
			}
		case realtime.NearbyMove:
			if bind(m, 0, &n) == nil {
				add("move", n)
			}
		case realtime.NearbyLeave:
			if bind(m, 0, &n) == nil {
				add("leave", n)
			}
		}
	}
	return out
}

// waitSighting waits for the first sighting of o after the note from that
// match accepts.
func (c *geoClient) waitSighting(t *testing.T, from int, timeout time.Duration, o *geoClient, what string, match func(sighting) bool) sighting {
	t.Helper()
	var found sighting
	c.p.until(t, timeout, fmt.Sprintf("%s of %s on %s", what, o.name, c.name), func(notes []message) bool {
		for _, s := range c.sightings(notes[min(from, len(notes)):], o.id) {
			if match(s) {
				found = s
				return true
			}
		}
		return false
	})
	return found
}

// sees waits for o to enter or move to p, exactly, in what c sees.
func (c *geoClient) sees(t *testing.T, from int, o *geoClient, kind string, p spatial.Point) {
	t.Helper()
	c.waitSighting(t, from, wait, o, fmt.Sprintf("%s at %v", kind, p), func(s sighting) bool {
		return s.Kind == kind && samePoint(s.At, p)
	})
}

// leaves waits for the first leave of o after the note from, and requires
// its reason to be reason.
func (c *geoClient) leaves(t *testing.T, from int, timeout time.Duration, o *geoClient, reason string) {
	t.Helper()
	s := c.waitSighting(t, from, timeout, o, "leave", func(s sighting) bool { return s.Kind == "leave" })
	require.Equal(t, reason, s.Reason, "why %s left the sight of %s", o.name, c.name)
}

// samePoint reports whether a point a client got is p (to about 0.1 mm,
// for the text of the numbers).
func samePoint(a, p spatial.Point) bool {
	return math.Abs(a.Lat-p.Lat) < 1e-9 && math.Abs(a.Lng-p.Lng) < 1e-9
}

// meta is a presence meta as a client gets it.
type meta struct {
	ConnID string `json:"connId"`
	Status string `json:"status"`
}

// presenceEvent is presence:state or presence:diff.
type presenceEvent struct {
	Room    string `json:"room"`
	Members []struct {
		Key   string `json:"key"`
		Metas []meta `json:"metas"`
	} `json:"members"`
	Joins   map[string][]meta `json:"joins"`
	Updates map[string][]meta `json:"updates"`
	Leaves  map[string]struct {
		Metas    []meta    `json:"metas"`
		LastSeen time.Time `json:"lastSeen"`
	} `json:"leaves"`
}

// presenceEvents returns the client's presence events of room among
// notes, in order.
func (c *geoClient) presenceEvents(notes []message, room string) []presenceEvent {
	var out []presenceEvent
	for _, m := range c.got(notes, "") {
		if m.Event != realtime.DefaultPresenceState && m.Event != realtime.DefaultPresenceDiff {
			continue
		}
		var e presenceEvent
		if bind(m, 0, &e) == nil && e.Room == room {
			out = append(out, e)
		}
	}
	return out
}

// presence returns the presence of room as the client knows it among
// notes: its last state with the diffs since applied.
func (c *geoClient) presence(notes []message, room string) map[string][]meta {
	view := map[string][]meta{}
	for _, e := range c.presenceEvents(notes, room) {
		if e.Members != nil {
			view = map[string][]meta{}
			for _, m := range e.Members {
				view[m.Key] = m.Metas
			}
		}
		for k, ms := range e.Joins {
			view[k] = ms
		}
		for k, ms := range e.Updates {
			view[k] = ms
		}
		for k := range e.Leaves {
			delete(view, k)
		}
	}
	return view
}

// waitPresence waits, up to timeout, until the presence of room the
// client knows is that of users (each with one meta, its socket's,
// online unless status names another).
func (c *geoClient) waitPresence(t *testing.T, timeout time.Duration, room string, status map[string]string, users ...*geoClient) {
	t.Helper()
	want := map[string][]meta{}
	for _, u := range users {
		want[u.name] = []meta{{ConnID: u.id, Status: cmp.Or(status[u.name], presence.StatusOnline)}}
	}
	c.p.until(t, timeout, fmt.Sprintf("presence %v of %s on %s", want, room, c.name), func(notes []message) bool {
		got := c.presence(notes, room)
		if len(got) != len(want) {
			return false
		}
		for k, ms := range want {
			if !slices.Equal(got[k], ms) {
				return false
			}
		}
		return true
	})
}

// records returns the location records in the cell hashes of Redis, by
// key and field (server uid:socket id), of the sockets whose id is in ids.
func (g *geoCluster) records(ids ...string) (map[string][]byte, error) {
	c := g.probe
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	out := map[string][]byte{}
	var cursor uint64
	for {
		e, err := c.Do(ctx, c.B().Scan().Cursor(cursor).Match(geoKey+"-geo#/#*#m").Count(1000).Build()).AsScanEntry()
		if err != nil {
			return nil, fmt.Errorf("SCAN: %w", err)
		}
		for _, key := range e.Elements {
			fields, err := c.Do(ctx, c.B().Hgetall().Key(key).Build()).AsStrMap()
			if err != nil {
				return nil, fmt.Errorf("HGETALL %s: %w", key, err)
			}
			for f, v := range fields {
				_, id, _ := strings.Cut(f, ":")
				if slices.Contains(ids, id) {
					out[key+" "+f] = []byte(v)
				}
			}
		}
		if cursor = e.Cursor; cursor == 0 {
			return out, nil
		}
	}
}

// mustRecords is records for the checks that follow a wait.
func (g *geoCluster) mustRecords(t *testing.T, ids ...string) map[string][]byte {
	t.Helper()
	recs, err := g.records(ids...)
	require.NoError(t, err)
	return recs
}

// waitRecords waits until ok accepts the records of ids in Redis.
func (g *geoCluster) waitRecords(t *testing.T, timeout time.Duration, what string, ok func(map[string][]byte) bool, ids ...string) {
	t.Helper()
	var last map[string][]byte
	require.Eventually(t, func() bool {
		recs, err := g.records(ids...)
		if err != nil {
			return false
		}
		last = recs
		return ok(recs)
	}, timeout, 10*time.Millisecond, "%s; last read: %d records", what, len(last))
}

// none accepts no records.
func none(recs map[string][]byte) bool { return len(recs) == 0 }

// holds reports whether a record holds the latitude or the longitude of
// p, as the float64 it is.
func holds(rec []byte, p spatial.Point) bool {
	for _, f := range []float64{p.Lat, p.Lng} {
		if bytes.Contains(rec, binary.BigEndian.AppendUint64(nil, math.Float64bits(f))) {
			return true
		}
	}
	return false
}

// holdsExactly reports whether a record holds both coordinates of p.
func holdsExactly(rec []byte, p spatial.Point) bool {
	return bytes.Contains(rec, binary.BigEndian.AppendUint64(nil, math.Float64bits(p.Lat))) &&
		bytes.Contains(rec, binary.BigEndian.AppendUint64(nil, math.Float64bits(p.Lng)))
}

// TestGeoPresence: official clients on three servers see one presence in
// the published room lobby: each one's state on joining lists those of
// the other servers; joins, a status change (presence:update) and a leave
// reach the others; the last-seen time of a user who left is the same
// when asked on the other servers.
func TestGeoPresence(t *testing.T) {
	g := startGeo(t, 3, relaxed)
	a, b, c := g.servers[0], g.servers[1], g.servers[2]
	ann := g.dial(t, "ann", a.url, byAuth)
	ann.join(t, "lobby")
	ann.waitPresence(t, wait, "lobby", nil, ann)

	from := ann.mark()
	bob := g.dial(t, "bob", b.url, byQuery)
	bob.join(t, "lobby")
	bobState := bob.waitEvent(t, from, realtime.DefaultPresenceState, nil)
	var st presenceEvent
	require.NoError(t, bind(bobState, 0, &st))
	assert.Equal(t, "lobby", st.Room)
	var keys []string
	for _, m := range st.Members {
		keys = append(keys, m.Key)
	}
	assert.Contains(t, keys, "ann", "bob's state on B lists ann, on A")
	carl := g.dial(t, "carl", c.url, byAuth)
	carl.join(t, "lobby")
	for _, u := range []*geoClient{ann, bob, carl} {
		u.waitPresence(t, wait, "lobby", nil, ann, bob, carl)
	}
	assert.NotEmpty(t, slices.DeleteFunc(ann.presenceEvents(ann.p.snapshot(), "lobby"), func(e presenceEvent) bool {
		return e.Joins["bob"] == nil
	}), "ann heard bob join")

	// bob, on B, is away: ann (A) and carl (C) hear it as an update.
	from = ann.mark()
	var res struct {
		OK bool `json:"ok"`
	}
	require.NoError(t, json.Unmarshal(bob.ask(t, realtime.DefaultPresenceUpdate, map[string]string{"status": "away"}), &res))
	require.True(t, res.OK, "presence:update acknowledged")
	away := map[string]string{"bob": "away"}
	for _, u := range []*geoClient{ann, bob, carl} {
		u.waitPresence(t, wait, "lobby", away, ann, bob, carl)
	}
	var update []meta
	for _, e := range ann.presenceEvents(ann.p.snapshot()[from:], "lobby") {
		if e.Updates["bob"] != nil {
			update = e.Updates["bob"]
		}
	}
	assert.Equal(t, []meta{{ConnID: bob.id, Status: "away"}}, update, "bob's status, an update")

	var seen lastSeen
	require.NoError(t, json.Unmarshal(ann.ask(t, "lastSeen", "bob"), &seen))
	assert.False(t, seen.Seen, "bob is present: not last seen yet")

	// bob leaves; ann and carl hear it, with when he was last seen, and
	// so say A and C.
	from = ann.mark()
	bob.close(t)
	for _, u := range []*geoClient{ann, carl} {
		u.waitPresence(t, wait, "lobby", nil, ann, carl)
	}
	var left time.Time
	for _, e := range ann.presenceEvents(ann.p.snapshot()[from:], "lobby") {
		if l, ok := e.Leaves["bob"]; ok {
			left = l.LastSeen
			assert.Equal(t, []meta{{ConnID: bob.id, Status: "away"}}, l.Metas, "bob's last metas")
		}
	}
	require.False(t, left.IsZero(), "bob's leave has his last-seen time")
	for _, u := range []*geoClient{ann, carl} {
		require.NoError(t, json.Unmarshal(u.ask(t, "lastSeen", "bob"), &seen))
		assert.True(t, seen.Seen, "bob last seen, asked %s", u.name)
		assert.WithinDuration(t, left, seen.At, time.Second, "bob's last-seen time, asked %s", u.name)
	}
	assert.WithinDuration(t, time.Now(), left, 10*time.Second)
}

// TestGeoLocation: a client on A watching 500 m sees a client of B walk
// in from 3 km across the cells of 500 m (enter, moves, all exact), out
// (leave far), hide (leave hidden, nothing while hidden), show again, and
// coarsen (shown only at its cell's center); what Redis holds of it says
// no more: no record while it is hidden, and none with its exact
// coordinates while it is coarsened.
func TestGeoLocation(t *testing.T) {
	g := startGeo(t, 2, relaxed)
	a, b := g.servers[0], g.servers[1]
	ann := g.dial(t, "ann", a.url, byAuth)
	bob := g.dial(t, "bob", b.url, byQuery)
	dave := g.dial(t, "dave", b.url, byAuth)
	ann.moveTo(t, at(0, 0))
	ann.do(t, "watch", 500)
	// barrier moves dave, on bob's server, to p within ann's sight and
	// waits until she sees it: she has seen what B shared of bob before.
	barrier := func(p spatial.Point) {
		t.Helper()
		from := ann.mark()
		dave.moveTo(t, p)
		ann.waitSighting(t, from, wait, dave, fmt.Sprintf("at %v", p), func(s sighting) bool { return samePoint(s.At, p) })
	}
	seen := func(s []sighting) []string {
		out := make([]string, len(s))
		for i, x := range s {
			out[i] = x.String()
		}
		return out
	}

	// bob walks south through ann's watch.
	walk := []struct {
		n, e   float64
		inside bool
	}{
		{3000, 30, false}, {2500, 30, false}, {2000, 30, false}, {1500, 30, false}, {1000, 30, false}, {600, 30, false},
		{450, 30, true}, {300, 60, true}, {100, 60, true}, {-100, 40, true}, {-300, 40, true},
		{-700, 40, false}, {-1300, 40, false}, {-2000, 40, false},
	}
	from := ann.mark()
	var want []string
	for _, w := range walk {
		p := at(w.n, w.e)
		require.Equal(t, w.inside, spatial.Distance(at(0, 0), p) <= 500, "step %v", w)
		bob.moveTo(t, p)
		switch {
		case w.inside && len(want) == 0:
			want = append(want, sighting{Kind: "enter", At: p}.String())
			ann.sees(t, from, bob, "enter", p)
		case w.inside:
			want = append(want, sighting{Kind: "move", At: p}.String())
			ann.sees(t, from, bob, "move", p)
		case len(want) > 0 && !strings.HasPrefix(want[len(want)-1], "leave"):
			want = append(want, "leave "+realtime.LeaveFar)
			ann.leaves(t, from, wait, bob, realtime.LeaveFar)
		}
	}
	grid, err := spatial.NewGrid(geoCellSize)
	require.NoError(t, err)
	cells := map[spatial.Cell]bool{}
	for _, w := range walk {
		cells[grid.Cell(at(w.n, w.e))] = true
	}
	require.Greater(t, len(cells), 8, "the cells bob crossed")
	// one enter, the moves, one leave: nothing before he came within 500
	// m, nothing after he left, nothing twice
	barrier(at(350, -50))
	assert.Equal(t, want, seen(ann.sightings(ann.p.snapshot()[from:], bob.id)), "what ann saw of bob's walk")

	// bob comes back, then hides: ann sees him leave, hidden, and Redis
	// holds no record of him, even as he moves while hidden.
	from = ann.mark()
	bob.moveTo(t, at(200, 60))
	ann.sees(t, from, bob, "enter", at(200, 60))
	g.waitRecords(t, wait, "Redis holds bob's record, exact while he is not coarsened", func(recs map[string][]byte) bool {
		for _, rec := range recs {
			if holdsExactly(rec, at(200, 60)) {
				return true
			}
		}
		return false
	}, bob.id)
	from = ann.mark()
	bob.do(t, "hide", true)
	ann.leaves(t, from, wait, bob, realtime.LeaveHidden)
	g.waitRecords(t, wait, "Redis holds no record of bob while he is hidden", none, bob.id)
	bob.moveTo(t, at(150, 70))
	bob.moveTo(t, at(250, 80))
	barrier(at(340, -50))
	assert.Equal(t, []string{"leave " + realtime.LeaveHidden}, seen(ann.sightings(ann.p.snapshot()[from:], bob.id)),
		"nothing of bob while he is hidden")
	assert.Empty(t, g.mustRecords(t, bob.id), "Redis holds no record of bob while he is hidden")

	// bob shows again, exactly, then coarsens: ann sees him at his cell's
	// center only, and so do Redis's records.
	from = ann.mark()
	bob.do(t, "hide", false)
	ann.sees(t, from, bob, "enter", at(250, 80))
	from = ann.mark()
	bob.do(t, "coarsen", coarsening)
	exact := []spatial.Point{at(250, 80), at(150, 90), at(100, 120), at(-200, -150)}
	center := spatial.Coarsen(exact[0], coarsening)
	for _, p := range exact {
		require.Equal(t, center, spatial.Coarsen(p, coarsening), "%v in the coarsening cell of origin", p)
		require.False(t, samePoint(center, p))
	}
	bob.moveTo(t, exact[1])
	ann.waitSighting(t, from, wait, bob, "the coarsened position", func(s sighting) bool { return samePoint(s.At, center) })
	bob.moveTo(t, exact[2])
	bob.moveTo(t, exact[3])
	barrier(at(360, -40))
	shown := ann.sightings(ann.p.snapshot()[from:], bob.id)
	require.NotEmpty(t, shown)
	for _, s := range shown {
		assert.True(t, s.Kind != "leave" && samePoint(s.At, center), "bob, coarsened, seen as %v: want %v only", s, center)
		assert.GreaterOrEqual(t, s.Accuracy, float64(coarsening), "the accuracy of a coarsened position")
	}
	recs := g.mustRecords(t, bob.id)
	require.NotEmpty(t, recs, "Redis holds bob's record while he is coarsened")
	for field, rec := range recs {
		assert.True(t, holdsExactly(rec, center), "record %s holds bob's cell's center", field)
		for _, p := range exact {
			assert.False(t, holds(rec, p), "record %s holds a coordinate of bob's exact position %v", field, p)
		}
	}

	// bob goes: ann sees him leave, disconnected, and Redis forgets him.
	from = ann.mark()
	bob.close(t)
	ann.leaves(t, from, wait, bob, realtime.LeaveDisconnected)
	g.waitRecords(t, wait, "Redis holds no record of bob once he left", none, bob.id)
}

// TestGeoAreas: the area plaza, defined on both servers: clients of A and
// of B walking into it get area:enter and are in its room, listed by
// FetchSockets on either server; a broadcast to the room from either
// server reaches both, and nobody outside; both are in the room's
// presence, published, as both clients see it; one walking out leaves the
// room and its presence.
func TestGeoAreas(t *testing.T) {
	g := startGeo(t, 2, relaxed)
	a, b := g.servers[0], g.servers[1]
	room := realtime.AreaRoom(plaza)
	ann := g.dial(t, "ann", a.url, byAuth)
	bob := g.dial(t, "bob", b.url, byQuery)
	carl := g.dial(t, "carl", b.url, byAuth) // stays out
	from := ann.mark()
	for _, p := range []float64{0, 1000, 1500} {
		ann.moveTo(t, at(p, -50))
		bob.moveTo(t, at(p, 50))
		carl.moveTo(t, at(p, 400))
	}
	ann.moveTo(t, at(1850, -50))
	bob.moveTo(t, at(1900, 50))
	carl.moveTo(t, at(1900, 400)) // 412 m from the plaza's center
	area := map[string]any{"area": plaza, "room": room}
	ann.waitEvent(t, from, realtime.AreaEnter, area)
	bob.waitEvent(t, from, realtime.AreaEnter, area)
	for _, u := range []*geoClient{ann, bob} {
		u.waitPresence(t, wait, room, nil, ann, bob)
	}
	for _, v := range g.servers {
		assert.ElementsMatch(t, []string{ann.id, bob.id}, mapKeys(fetch(t, v.srv.To(room))), "the plaza's room, as %s finds it", v.name)
	}

	// A broadcast to the plaza's room, from either server, reaches both,
	// and not carl: he gets the broadcast to all that follows it.
	from = ann.mark()
	require.NoError(t, a.srv.To(room).Emit("plaza:news", "from A"))
	require.NoError(t, b.srv.To(room).Emit("plaza:news", "from B"))
	require.NoError(t, a.srv.Emit("all", "after"))
	for _, u := range []*geoClient{ann, bob} {
		u.waitEvent(t, from, "plaza:news", "from A")
		u.waitEvent(t, from, "plaza:news", "from B")
	}
	carl.waitEvent(t, from, "all", "after")
	assert.Empty(t, carl.got(carl.p.snapshot()[from:], "plaza:news"), "carl is not in the plaza")
	assert.Empty(t, carl.got(carl.p.snapshot(), realtime.AreaEnter))

	// bob walks out: he leaves the room and its presence.
	from = ann.mark()
	bob.moveTo(t, at(1000, 50))
	bob.waitEvent(t, from, realtime.AreaLeave, area)
	ann.waitPresence(t, wait, room, nil, ann)
	for _, v := range g.servers {
		assert.Equal(t, []string{ann.id}, mapKeys(fetch(t, v.srv.To(room))), "the plaza's room, as %s finds it", v.name)
	}
}

// TestGeoNear: a shout (Socket.Near) from a client of A reaches the
// clients within its radius on B, and not those outside, on B and on C;
// and the other way round. Nearby finds the clients of every server.
func TestGeoNear(t *testing.T) {
	g := startGeo(t, 3, relaxed)
	a, b, c := g.servers[0], g.servers[1], g.servers[2]
	ann := g.dial(t, "ann", a.url, byAuth)
	bob := g.dial(t, "bob", b.url, byQuery)
	dave := g.dial(t, "dave", b.url, byAuth)
	carl := g.dial(t, "carl", c.url, byQuery)
	ann.moveTo(t, at(0, 0))
	bob.moveTo(t, at(300, 0))
	dave.moveTo(t, at(1200, 0))
	carl.moveTo(t, at(-1500, 0))

	from := ann.mark()
	ann.do(t, "shout", 600, "near")
	bob.waitEvent(t, from, "shout", "near")
	ann.do(t, "shout", 2000, "wide") // after "near": those it reaches did not get "near"
	for _, u := range []*geoClient{bob, dave, carl} {
		u.waitEvent(t, from, "shout", "wide")
	}
	for _, u := range []*geoClient{dave, carl} {
		assert.Equal(t, []any{"wide"}, shouts(u, from), "%s, out of the first shout's radius", u.name)
	}
	assert.Empty(t, shouts(ann, from), "ann does not hear herself")

	from = ann.mark()
	bob.do(t, "shout", 600, "back")
	ann.waitEvent(t, from, "shout", "back")
	bob.do(t, "shout", 3000, "all")
	for _, u := range []*geoClient{ann, dave, carl} {
		u.waitEvent(t, from, "shout", "all")
	}
	for _, u := range []*geoClient{dave, carl} {
		assert.Equal(t, []any{"all"}, shouts(u, from), "%s, 900 m or more from bob", u.name)
	}

	var ids []string
	require.NoError(t, json.Unmarshal(ann.ask(t, "nearby", 1000), &ids))
	assert.Equal(t, []string{bob.id}, ids, "nearby within 1 km of ann")
	require.NoError(t, json.Unmarshal(ann.ask(t, "nearby", 2000), &ids))
	assert.Equal(t, []string{bob.id, dave.id, carl.id}, ids, "nearby within 2 km of ann, nearest first")
}

// shouts returns the texts of the shouts u got after the note from.
func shouts(u *geoClient, from int) []any {
	var out []any
	for _, m := range u.got(u.p.snapshot()[from:], "shout") {
		out = append(out, m.Args...)
	}
	return out
}
