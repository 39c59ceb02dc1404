package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// geo: live geometry, on one node and across nodes on Redis (vicinity
// only: the other targets have no spatial index). -geo-clients clients are
// placed at random in a square in Berlin, sized so that each has about
// -geo-neighbours others within -geo-radius; each watches that radius
// (nearby:state, then enter, move and leave events), then walks (a random
// walk at -geo-speed, changing its heading a little each step) with
// -geo-rate acknowledged "location" events a second for -geo-duration. On
// N > 1 nodes (one redis-server), client i is on node i mod N, so a
// client's neighbours are spread evenly over the nodes.
//
// The tool knows where every client is, so it checks what the watchers
// get, as well as timing it:
//
//   - latency: a watcher's nearby:move carrying the exact position a
//     member sent (found by (member, lat, lng)) is timed from that send.
//     Enters are not timed: an enter carries where the member is, which it
//     may have sent long before (the watcher walked up to it).
//   - delivered: every move of member X the server accepted (ack ok),
//     sent at t, is expected by every other client W that sees X
//     throughout: the ground-truth distances between every position of W
//     and every position of X in [t − grace, t + grace] (W's position at
//     t − grace and its accepted moves until t + grace; X's position
//     before the move, the move, and its accepted moves until t + grace)
//     are all within the radius, less 0.5 m for where the index's sphere
//     and the tool's haversine may disagree. The window covers moves of W, or of X, sent
//     before but applied after, or the other way round, so that the server
//     has W seeing X whichever order it applied them in. An expected update
//     is delivered if W received (move, enter or state) that position of
//     X, or a newer one, within grace of t: moves are conflated per member,
//     so a client that fell behind gets only the newest, legitimately.
//     "exact %" is the share delivered with the very position.
//   - the end state: after the last acknowledgement and a pause of grace,
//     each watcher's view (nearby:state replaced it, enter added, leave
//     removed) is compared with the ground truth at the final positions:
//     a member within radius − 0.5 m must be in it, one beyond radius +
//     0.5 m must not (the index's watch margin is 0, so a member at the
//     boundary may be either). "views right %" is the share of watchers
//     with exactly that view, "wrong view entries" the members missing or
//     extra over all views. The same check before the walk starts gives
//     "setup views right %", and repeated for up to 30s more, "views right
//     30s later %": above "views right %" when a node was only behind,
//     equal when the views stay wrong.
//   - "ack p50/p99": a move to its acknowledgement; "server heap MB": the
//     nodes' live heap as the walk ends, which grows with what they have
//     queued; "server CPU cores" and "tool CPU cores": the CPU time the
//     nodes (together) and this process (the clients) used during the
//     walk, over its length: on a 2-core machine, a sum near 2 means the
//     figures are the machine's, not the server's.
//   - the protocol: positions no client sent ("unknown positions"), a
//     member's positions received out of their order, and moves or leaves
//     outside an enter…leave span ("order errors") should all be 0.
func (r *runner) geo(ctx context.Context, target string) ([]result, error) {
	if target != "vicinity" {
		r.log("  %s: no spatial index, skipped", target)
		return nil, nil
	}
	var out []result
	for _, n := range r.cfg.geoNodes {
		res, err := r.geoRun(ctx, target, n)
		if err != nil {
			return out, fmt.Errorf("%s: %w", nodesName(n), err)
		}
		out = append(out, res)
	}
	return out, nil
}

func nodesName(n int) string {
	if n == 1 {
		return "1 node"
	}
	return fmt.Sprintf("%d nodes", n)
}

// validateGeo checks the geo flags.
func (c *config) validateGeo() error {
	switch {
	case c.geoClients < 2:
		return errors.New("-geo-clients: at least 2")
	case !(c.geoRadius > 0), !(c.geoRate > 0), !(c.geoSpeed >= 0), !(c.geoSide >= 0), !(c.geoNeighbours > 0):
		return errors.New("-geo-radius, -geo-rate and -geo-neighbours must be positive, -geo-speed and -geo-side not negative")
	case c.geoDuration <= 0 || c.geoGrace <= 0:
		return errors.New("-geo-duration and -geo-grace must be positive")
	}
	return nil
}

const (
	geoLat0, geoLng0 = 52.52, 13.405 // the square's center: Berlin
	geoAccuracy      = 10            // meters, in every location event
	geoTolerance     = 0.5           // meters around the radius where a pair may be either way
	geoEarthRadius   = 6_371_008.8   // meters: the sphere of package spatial
	geoWatchAck      = 1_000_000_000 // the ack id of a client's watch; its k-th location's is k+1
)

// geoDistance is the haversine distance in meters.
func geoDistance(a, b geoPoint) float64 {
	const rad = math.Pi / 180
	sLat := math.Sin((b.lat - a.lat) * rad / 2)
	sLng := math.Sin((b.lng - a.lng) * rad / 2)
	h := sLat*sLat + math.Cos(a.lat*rad)*math.Cos(b.lat*rad)*sLng*sLng
	return 2 * geoEarthRadius * math.Asin(math.Sqrt(min(h, 1)))
}

type geoPoint struct{ lat, lng float64 }

// geoMove is a location a client sent.
type geoMove struct {
	t, acked int64 // when it was sent and answered, now()
	p        geoPoint
	ack      int8 // 0 unanswered, 1 accepted, -1 refused
}

// geoGot is a nearby event a watcher received.
type geoGot struct {
	t      int64 // when, now()
	member int32 // the client it is about
	k      int32 // the member's location number (0: its first); -1 for a leave or an unknown position
	kind   uint8
}

const (
	gotState uint8 = iota
	gotEnter
	gotMove
	gotLeave
)

// geoClient is one client of the geo scenario: a member that walks, and a
// watcher.
type geoClient struct {
	i       int32
	node    int
	c       *conn
	id      string // its socket id
	started bool   // its read loop runs

	// The walk, touched by one goroutine at a time: x and y are meters
	// from the square's south-west corner.
	x, y, heading float64
	rng           *rand.Rand

	mu    sync.Mutex // guards moves and pos: the mover appends, the read loops look up
	moves []geoMove  // every location sent, by number
	pos   map[geoPoint]int32

	vmu        sync.Mutex // guards what its read loop records
	view       map[int32]bool
	newest     map[int32]int32 // the newest location number received, per member
	got        []geoGot
	unknown    int // events about an unknown id or position
	disorder   int // a member's location older than one received before
	orderError int // moves and leaves outside an enter…leave span, enters inside one
}

// geoRun is one case of the geo scenario.
type geoRun struct {
	cfg        config
	log        func(format string, args ...any)
	refusals   atomic.Int64
	side, step float64
	clients    []*geoClient
	ids        map[string]int32 // socket id to client, read-only once the clients start
	near       [][]int32        // the clients that may come within the radius of each, ever
}

func (g *geoRun) point(x, y float64) geoPoint {
	const deg = 180 / math.Pi
	return geoPoint{
		lat: geoLat0 + (y-g.side/2)/geoEarthRadius*deg,
		lng: geoLng0 + (x-g.side/2)/(geoEarthRadius*math.Cos(geoLat0/deg))*deg,
	}
}

// walk takes c's next step: its heading turns a little at random, and it
// bounces off the square's sides.
func (g *geoRun) walk(c *geoClient) geoPoint {
	c.heading += c.rng.NormFloat64() * 0.3
	c.x += g.step * math.Cos(c.heading)
	c.y += g.step * math.Sin(c.heading)
	// A step is far shorter than the side: one bounce at most.
	if c.x < 0 {
		c.x, c.heading = -c.x, math.Pi-c.heading
	} else if c.x > g.side {
		c.x, c.heading = 2*g.side-c.x, math.Pi-c.heading
	}
	if c.y < 0 {
		c.y, c.heading = -c.y, -c.heading
	} else if c.y > g.side {
		c.y, c.heading = 2*g.side-c.y, -c.heading
	}
	return g.point(c.x, c.y)
}

func (r *runner) geoRun(ctx context.Context, target string, nodes int) (result, error) {
	cfg := r.cfg
	res := result{Target: target, Scenario: "geo", Case: fmt.Sprintf("%s: clients=%d moves=%g/s", nodesName(nodes), cfg.geoClients, cfg.geoRate)}
	o := targetOptions{locationRate: max(5, 4*cfg.geoRate)}
	if nodes > 1 {
		rs, err := startRedis(ctx)
		if err != nil {
			return res, err
		}
		defer rs.stop()
		o.redis = rs.addr
	}
	srvs := make([]*server, 0, nodes)
	defer func() {
		for _, s := range srvs {
			s.stop()
		}
	}()
	for range nodes {
		s, err := r.b.startWith(target, o)
		if err != nil {
			return res, err
		}
		srvs = append(srvs, s)
	}

	g := newGeoRun(cfg)
	g.log = r.log
	defer g.close()
	if err := r.geoConnect(ctx, g, srvs); err != nil {
		return res, err
	}
	setupRight, err := r.geoSetup(ctx, g)
	if err != nil {
		return res, err
	}
	before, _, err := locationTraffic(srvs)
	if err != nil {
		return res, err
	}

	cpu0, err := cpuTimes(srvs)
	if err != nil {
		return res, err
	}
	t0, tEnd, err := g.walkAll(ctx)
	if err != nil {
		return res, err
	}
	cpu1, err := cpuTimes(srvs)
	if err != nil {
		return res, err
	}
	_, heap, err := locationTraffic(srvs) // what the walk left queued, if anything
	if err != nil {
		return res, err
	}
	// Every move answered (or 10s), then the grace for the last updates.
	deadline := time.Now().Add(10 * time.Second)
	for g.unanswered() > 0 && time.Now().Before(deadline) {
		if err := pause(ctx, 20*time.Millisecond); err != nil {
			return res, err
		}
	}
	if err := pause(ctx, cfg.geoGrace); err != nil {
		return res, err
	}
	viewsRight, wrong := g.checkViews()
	// Wrong views may be late (a server behind) or wrong for good: up to
	// 30s more tells which.
	laterRight, laterWrong := viewsRight, wrong
	for deadline := time.Now().Add(30 * time.Second); laterWrong > 0 && time.Now().Before(deadline); {
		if err := pause(ctx, 200*time.Millisecond); err != nil {
			return res, err
		}
		laterRight, laterWrong = g.checkViews()
	}
	after, _, err := locationTraffic(srvs)
	if err != nil {
		return res, err
	}
	unanswered := g.unanswered()
	g.close() // the read loops end: what they recorded is read without locks from here on

	a := g.analyze(t0, tEnd)
	secs := float64(tEnd-t0) / 1e9
	res.add("clients", float64(cfg.geoClients))
	res.add("side m", g.side)
	res.add("neighbours mean", a.neighbours)
	res.add("moves/s", float64(a.accepted)/secs)
	res.add("events/s", float64(a.events)/secs)
	res.add("enter+leave/s", float64(a.enterLeave)/secs)
	addLatency(&res, "", a.lat)
	addLatency(&res, "ack ", a.ackLat)
	res.add("expected", float64(a.expected))
	res.add("delivered %", 100*float64(a.delivered)/float64(max(a.expected, 1)))
	res.add("exact %", 100*float64(a.exact)/float64(max(a.expected, 1)))
	res.add("setup views right %", 100*setupRight)
	res.add("views right %", 100*viewsRight)
	res.add("wrong view entries", float64(wrong))
	res.add("views right 30s later %", 100*laterRight)
	res.add("refused", float64(a.refused))
	res.add("unanswered", float64(unanswered))
	res.add("unknown positions", float64(a.unknown))
	res.add("out of order", float64(a.disorder))
	res.add("order errors", float64(a.orderErrors))
	res.add("server heap MB", float64(heap)/1e6)
	// The walk's from the first move due to the last sent; the CPU from
	// just before to just after: a little more.
	res.add("server CPU cores", (cpu1[0]-cpu0[0]).Seconds()/secs)
	res.add("tool CPU cores", (cpu1[1]-cpu0[1]).Seconds()/secs)
	if before != nil && after != nil {
		d := func(f func(locationStats) uint64) float64 { return float64(f(*after) - f(*before)) }
		res.add("redis published/s", d(func(s locationStats) uint64 { return s.Published })/secs)
		res.add("redis received/s", d(func(s locationStats) uint64 { return s.Received })/secs)
		if sh := d(func(s locationStats) uint64 { return s.Shared }); sh > 0 {
			res.add("redis B/record", d(func(s locationStats) uint64 { return s.PublishedBytes })/sh)
		}
	}
	return res, nil
}

func newGeoRun(cfg config) *geoRun {
	g := &geoRun{cfg: cfg, side: cfg.geoSide, step: cfg.geoSpeed / cfg.geoRate, ids: map[string]int32{}}
	if g.side == 0 {
		g.side = math.Sqrt(float64(cfg.geoClients) * math.Pi * cfg.geoRadius * cfg.geoRadius / cfg.geoNeighbours)
	}
	g.clients = make([]*geoClient, cfg.geoClients)
	for i := range g.clients {
		// A fixed seed: every case and every run has the same walks.
		rng := rand.New(rand.NewPCG(1, uint64(i)))
		g.clients[i] = &geoClient{
			i: int32(i), rng: rng,
			x: rng.Float64() * g.side, y: rng.Float64() * g.side, heading: rng.Float64() * 2 * math.Pi,
			pos: map[geoPoint]int32{}, view: map[int32]bool{}, newest: map[int32]int32{},
		}
	}
	// Who may ever come within the radius of whom: no two clients get
	// closer than they start by more than both walk.
	moves := int(cfg.geoRate * cfg.geoDuration.Seconds())
	reach := cfg.geoRadius + 2*g.step*float64(moves) + 10
	g.near = make([][]int32, len(g.clients))
	ps := make([]geoPoint, len(g.clients))
	for i, c := range g.clients {
		ps[i] = g.point(c.x, c.y)
	}
	for i := range ps {
		for j := i + 1; j < len(ps); j++ {
			if geoDistance(ps[i], ps[j]) <= reach {
				g.near[i] = append(g.near[i], int32(j))
				g.near[j] = append(g.near[j], int32(i))
			}
		}
	}
	return g
}

// geoConnect connects client i to node i mod len(srvs) and starts its
// read loop.
func (r *runner) geoConnect(ctx context.Context, g *geoRun, srvs []*server) error {
	for n, s := range srvs {
		count := (len(g.clients) - n + len(srvs) - 1) / len(srvs)
		conns, err := r.dialMany(ctx, s, count, "", false, 0, nil)
		if err != nil {
			return fmt.Errorf("node %d: %w", n, err)
		}
		for j, c := range conns {
			gc := g.clients[n+j*len(srvs)]
			gc.node, gc.c = n, c
			var sess struct {
				SID string `json:"sid"`
			}
			if err := json.Unmarshal([]byte(c.connected), &sess); err != nil || sess.SID == "" {
				return fmt.Errorf("no sid in the CONNECT answer %q", c.connected)
			}
			gc.id = sess.SID
			g.ids[sess.SID] = gc.i
		}
	}
	for _, gc := range g.clients {
		gc.c.onEvent = func(msg []byte) { g.event(gc, msg) }
		gc.c.onAck = func(id uint64, ok bool, args []byte) { g.ack(gc, id, ok, args) }
		gc.c.start(nil)
		gc.started = true
	}
	return nil
}

// geoSetup places every client, then has each watch, then waits (up to
// 10s and 5ms a client) for the views to be right; it returns the share of
// views right then.
func (r *runner) geoSetup(ctx context.Context, g *geoRun) (float64, error) {
	err := forEach(ctx, len(g.clients), r.cfg.dialConc, func(i int) error {
		gc := g.clients[i]
		if err := g.send(gc, g.point(gc.x, gc.y), nil); err != nil {
			return err
		}
		return awaitAck(gc.c, 1, 30*time.Second)
	})
	if err != nil {
		return 0, fmt.Errorf("placing: %w", err)
	}
	err = forEach(ctx, len(g.clients), r.cfg.dialConc, func(i int) error {
		c := g.clients[i].c
		if err := c.write(fmt.Appendf(nil, `42%d["watch",%g]`, geoWatchAck, g.cfg.geoRadius)); err != nil {
			return err
		}
		return awaitAck(c, geoWatchAck, 30*time.Second)
	})
	if err != nil {
		return 0, fmt.Errorf("watching: %w", err)
	}
	start := time.Now()
	deadline := start.Add(10*time.Second + time.Duration(len(g.clients))*5*time.Millisecond)
	for {
		right, wrong := g.checkViews()
		if wrong == 0 || time.Now().After(deadline) {
			if wrong > 0 {
				r.log("  setup: %d wrong view entries %v after the last watch began", wrong, time.Since(start).Round(time.Millisecond))
			}
			return right, nil
		}
		if err := pause(ctx, 100*time.Millisecond); err != nil {
			return 0, err
		}
	}
}

// forEach runs f(0..n-1) on at most workers goroutines; the first error
// stops it.
func forEach(ctx context.Context, n, workers int, f func(i int) error) error {
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range min(max(workers, 1), n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("client %d: %w", i, err)
					}
					mu.Unlock()
					cancel()
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return firstErr
}

// awaitAck waits for the answer to request id on c's read loop.
func awaitAck(c *conn, id uint64, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case a := <-c.acks:
			if a.id != id {
				continue
			}
			if !a.ok {
				return errRefused
			}
			return nil
		case <-c.done:
			return errClosed
		case <-timer.C:
			return fmt.Errorf("answer %d: %w", id, errTimeout)
		}
	}
}

// send records p as gc's next location and emits it, acknowledged with
// its number + 1. buf is reused for the frame.
func (g *geoRun) send(gc *geoClient, p geoPoint, buf []byte) error {
	gc.mu.Lock()
	k := len(gc.moves)
	gc.moves = append(gc.moves, geoMove{t: now(), p: p})
	gc.pos[p] = int32(k)
	gc.mu.Unlock()
	b := append(buf[:0], "42"...)
	b = strconv.AppendInt(b, int64(k)+1, 10)
	b = append(b, `["location",{"lat":`...)
	b = strconv.AppendFloat(b, p.lat, 'f', -1, 64)
	b = append(b, `,"lng":`...)
	b = strconv.AppendFloat(b, p.lng, 'f', -1, 64)
	b = append(b, `,"accuracy":`...)
	b = strconv.AppendInt(b, geoAccuracy, 10)
	b = append(b, "}]"...)
	return gc.c.write(b)
}

// ack records the answer to a location.
func (g *geoRun) ack(gc *geoClient, id uint64, ok bool, args []byte) {
	if id == geoWatchAck || id == 0 {
		return
	}
	t := now()
	var v int8 = -1
	if ok {
		v = 1
	} else if g.refusals.Add(1) <= 3 {
		g.log("  client %d: location %d refused: %s", gc.i, id-1, args)
	}
	gc.mu.Lock()
	if k := id - 1; k < uint64(len(gc.moves)) {
		gc.moves[k].ack, gc.moves[k].acked = v, t
	}
	gc.mu.Unlock()
}

// walkAll moves every client at the rate for the duration, their moves
// spread evenly over each period; it returns when the first move was due
// and when the last was sent.
func (g *geoRun) walkAll(ctx context.Context) (t0, tEnd int64, err error) {
	const workers = 4
	n := len(g.clients)
	moves := max(int(g.cfg.geoRate*g.cfg.geoDuration.Seconds()), 1)
	t0 = now() + int64(50*time.Millisecond)
	period := float64(time.Second) / g.cfg.geoRate
	var (
		wg    sync.WaitGroup
		errMu sync.Mutex
	)
	for w := range min(workers, n) {
		wg.Go(func() {
			var buf []byte
			for j := range moves {
				for i := w; i < n; i += workers {
					due := t0 + int64((float64(j)+float64(i)/float64(n))*period)
					if d := time.Duration(due - now()); d > 0 {
						if e := pause(ctx, d); e != nil {
							errMu.Lock()
							err = e
							errMu.Unlock()
							return
						}
					}
					gc := g.clients[i]
					if e := g.send(gc, g.walk(gc), buf); e != nil {
						errMu.Lock()
						err = fmt.Errorf("client %d: move: %w", i, e)
						errMu.Unlock()
						return
					}
				}
			}
		})
	}
	wg.Wait()
	return t0, now(), err
}

// unanswered counts the locations not answered yet.
func (g *geoRun) unanswered() int {
	n := 0
	for _, gc := range g.clients {
		gc.mu.Lock()
		for _, m := range gc.moves {
			if m.ack == 0 {
				n++
			}
		}
		gc.mu.Unlock()
	}
	return n
}

// at returns where the server has gc: its last accepted location (and
// false if none).
func (gc *geoClient) at() (geoPoint, bool) {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	for k := len(gc.moves) - 1; k >= 0; k-- {
		if gc.moves[k].ack == 1 {
			return gc.moves[k].p, true
		}
	}
	return geoPoint{}, false
}

// checkViews compares each watcher's view with the ground truth at the
// clients' last accepted locations: the share of views exactly right and
// the entries missing or extra, beyond the tolerance around the radius.
func (g *geoRun) checkViews() (right float64, wrong int) {
	ps := make([]geoPoint, len(g.clients))
	ok := make([]bool, len(g.clients))
	for i, gc := range g.clients {
		ps[i], ok[i] = gc.at()
	}
	R := g.cfg.geoRadius
	good := 0
	for i, gc := range g.clients {
		gc.vmu.Lock()
		view := make(map[int32]bool, len(gc.view))
		for m := range gc.view {
			view[m] = true
		}
		gc.vmu.Unlock()
		bad := 0
		for m := range view { // extra: beyond the radius, or never near
			if !ok[m] || !ok[i] || geoDistance(ps[i], ps[m]) > R+geoTolerance {
				bad++
			}
		}
		for _, m := range g.near[i] { // missing
			if ok[m] && ok[i] && !view[m] && geoDistance(ps[i], ps[m]) <= R-geoTolerance {
				bad++
			}
		}
		if bad == 0 {
			good++
		}
		wrong += bad
	}
	return float64(good) / float64(len(g.clients)), wrong
}

var (
	evMove  = []byte(`42["nearby:move",`)
	evEnter = []byte(`42["nearby:enter",`)
	evLeave = []byte(`42["nearby:leave",`)
	evState = []byte(`42["nearby:state",`)
)

// event records a nearby event w received; it runs on w's read loop.
func (g *geoRun) event(w *geoClient, msg []byte) {
	t := now()
	var kind uint8
	switch {
	case bytes.HasPrefix(msg, evMove):
		kind, msg = gotMove, msg[len(evMove):]
	case bytes.HasPrefix(msg, evEnter):
		kind, msg = gotEnter, msg[len(evEnter):]
	case bytes.HasPrefix(msg, evLeave):
		kind, msg = gotLeave, msg[len(evLeave):]
	case bytes.HasPrefix(msg, evState):
		var st struct {
			Members []struct {
				ID       string  `json:"id"`
				Lat, Lng float64 // encoding/json parses them exactly
			} `json:"members"`
		}
		if json.Unmarshal(bytes.TrimSuffix(msg[len(evState):], []byte("]")), &st) != nil {
			w.vmu.Lock()
			w.unknown++
			w.vmu.Unlock()
			return
		}
		w.vmu.Lock()
		defer w.vmu.Unlock()
		clear(w.view)
		for _, m := range st.Members {
			if x, k, ok := g.lookup(m.ID, geoPoint{m.Lat, m.Lng}); ok {
				w.view[x] = true
				w.saw(t, x, k, gotState)
			} else {
				w.unknown++
			}
		}
		return
	default:
		return
	}
	id := jsonField(msg, `"id":`)
	if kind == gotLeave {
		x, known := g.ids[string(id)]
		w.vmu.Lock()
		defer w.vmu.Unlock()
		if !known {
			w.unknown++
			return
		}
		if !w.view[x] {
			w.orderError++
		}
		delete(w.view, x)
		w.got = append(w.got, geoGot{t: t, member: x, k: -1, kind: gotLeave})
		return
	}
	lat, err1 := strconv.ParseFloat(string(jsonField(msg, `"lat":`)), 64)
	lng, err2 := strconv.ParseFloat(string(jsonField(msg, `"lng":`)), 64)
	x, k, ok := g.lookup(string(id), geoPoint{lat, lng})
	w.vmu.Lock()
	defer w.vmu.Unlock()
	if err1 != nil || err2 != nil || !ok {
		w.unknown++
		return
	}
	if (kind == gotMove) != w.view[x] {
		w.orderError++ // a move of a member not seen, or an enter of one seen
	}
	w.view[x] = true
	w.saw(t, x, k, kind)
}

// saw records a position of member x received; w.vmu is held.
func (w *geoClient) saw(t int64, x, k int32, kind uint8) {
	if last, ok := w.newest[x]; ok && k < last {
		w.disorder++
	} else {
		w.newest[x] = k
	}
	w.got = append(w.got, geoGot{t: t, member: x, k: k, kind: kind})
}

// lookup finds the client of socket id and the number of its location p.
func (g *geoRun) lookup(id string, p geoPoint) (x, k int32, ok bool) {
	x, ok = g.ids[id]
	if !ok {
		return 0, 0, false
	}
	m := g.clients[x]
	m.mu.Lock()
	k, ok = m.pos[p]
	m.mu.Unlock()
	return x, k, ok
}

// jsonField returns the value after key (`"name":`) in a flat JSON
// object: a string's contents, or a number's text.
func jsonField(b []byte, key string) []byte {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return nil
	}
	v := b[i+len(key):]
	if len(v) > 0 && v[0] == '"' {
		if j := bytes.IndexByte(v[1:], '"'); j >= 0 {
			return v[1 : 1+j]
		}
		return nil
	}
	if j := bytes.IndexAny(v, ",}]"); j >= 0 {
		return v[:j]
	}
	return nil
}

// close closes every client and waits for their read loops.
func (g *geoRun) close() {
	var conns []*conn
	for _, gc := range g.clients {
		if gc.c != nil {
			conns = append(conns, gc.c)
		}
	}
	closeAll(conns)
	for _, gc := range g.clients {
		if gc.started {
			<-gc.c.done
			gc.started = false
		}
	}
	for _, gc := range g.clients {
		gc.c = nil
	}
}

// geoAnalysis is what the logs of a geo run say.
type geoAnalysis struct {
	neighbours                 float64 // others within the radius, on average, at the start
	accepted, refused          int     // moves (not the first locations)
	events, enterLeave         int     // nearby events (enter, move, leave) received during the walk
	lat                        []int64 // move to nearby:move, ns
	ackLat                     []int64 // move to its answer, ns
	expected, delivered, exact int
	unknown, disorder          int
	orderErrors                int
}

// analyze reads the logs once the read loops have ended: see geo for what
// is expected and counted.
func (g *geoRun) analyze(t0, tEnd int64) geoAnalysis {
	var a geoAnalysis
	R := g.cfg.geoRadius - geoTolerance
	grace := int64(g.cfg.geoGrace)
	for i, gc := range g.clients {
		for _, m := range g.near[i] {
			if geoDistance(gc.moves[0].p, g.clients[m].moves[0].p) <= g.cfg.geoRadius {
				a.neighbours++
			}
		}
		for _, m := range gc.moves[1:] {
			switch m.ack {
			case 1:
				a.accepted++
			case -1:
				a.refused++
			}
			if m.ack != 0 {
				a.ackLat = append(a.ackLat, m.acked-m.t)
			}
		}
		a.unknown += gc.unknown
		a.disorder += gc.disorder
		a.orderErrors += gc.orderError
	}
	a.neighbours /= float64(len(g.clients))

	// What each watcher received of each member, in order.
	by := make([]map[int32][]geoGot, len(g.clients))
	for i, w := range g.clients {
		by[i] = map[int32][]geoGot{}
		for _, e := range w.got {
			if e.t >= t0 && e.t <= tEnd && e.kind != gotState {
				a.events++
				if e.kind != gotMove {
					a.enterLeave++
				}
			}
			if e.kind == gotLeave {
				continue
			}
			if e.kind == gotMove && e.k > 0 {
				a.lat = append(a.lat, e.t-g.clients[e.member].moves[e.k].t)
			}
			by[i][e.member] = append(by[i][e.member], e)
		}
	}

	var xs, ws []geoPoint
	for xi, x := range g.clients {
		ptr := make([]int, len(g.near[xi])) // into what each near watcher got of x
		prev := -1                          // x's last accepted location before k
		for k, mv := range x.moves {
			if mv.ack != 1 {
				continue
			}
			if prev < 0 || k == 0 {
				prev = k
				continue
			}
			// x's positions from just before the move to grace after it.
			xs = append(xs[:0], x.moves[prev].p, mv.p)
			for _, later := range x.moves[k+1:] {
				if later.t > mv.t+grace {
					break
				}
				if later.ack == 1 {
					xs = append(xs, later.p)
				}
			}
			prev = k
			for wi, wIdx := range g.near[xi] {
				w := g.clients[wIdx]
				ws = w.positions(ws[:0], mv.t-grace, mv.t+grace)
				if !allWithin(ws, xs, R) {
					continue
				}
				a.expected++
				got := by[wIdx][int32(xi)]
				p := ptr[wi]
				for p < len(got) && got[p].k < int32(k) {
					p++
				}
				ptr[wi] = p
				if p < len(got) && got[p].t <= mv.t+grace {
					a.delivered++
					if got[p].k == int32(k) {
						a.exact++
					}
				}
			}
		}
	}
	return a
}

// positions appends where the server may have had w between from and to:
// its last accepted location sent by from, and those sent after, until to.
func (w *geoClient) positions(dst []geoPoint, from, to int64) []geoPoint {
	i, _ := slices.BinarySearchFunc(w.moves, from, func(m geoMove, t int64) int {
		switch {
		case m.t < t:
			return -1
		case m.t > t:
			return 1
		}
		return 0
	})
	for j := min(i, len(w.moves)-1); j >= 0; j-- { // the last accepted by from
		if w.moves[j].t <= from && w.moves[j].ack == 1 {
			dst = append(dst, w.moves[j].p)
			break
		}
	}
	for _, m := range w.moves[i:] {
		if m.t > to {
			break
		}
		if m.ack == 1 && m.t > from {
			dst = append(dst, m.p)
		}
	}
	return dst
}

// allWithin reports whether every point of a is within d of every point of b.
func allWithin(a, b []geoPoint, d float64) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	for _, p := range a {
		for _, q := range b {
			if geoDistance(p, q) > d {
				return false
			}
		}
	}
	return true
}

// cpuTimes returns the CPU time the nodes have used, summed, and this
// process's.
func cpuTimes(srvs []*server) ([2]time.Duration, error) {
	var out [2]time.Duration
	for _, s := range srvs {
		d, err := s.cpu()
		if err != nil {
			return out, err
		}
		out[0] += d
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return out, err
	}
	out[1] = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return out, nil
}

// locationTraffic sums the nodes' location counters (nil without a
// cluster), and their heaps.
func locationTraffic(srvs []*server) (*locationStats, int64, error) {
	var (
		sum  *locationStats
		heap int64
	)
	for _, s := range srvs {
		st, err := s.stats(false)
		if err != nil {
			return nil, 0, err
		}
		heap += st.HeapAlloc
		if st.Location == nil {
			continue
		}
		if sum == nil {
			sum = &locationStats{}
		}
		sum.Shared += st.Location.Shared
		sum.Published += st.Location.Published
		sum.PublishedBytes += st.Location.PublishedBytes
		sum.Received += st.Location.Received
		sum.ReceivedBytes += st.Location.ReceivedBytes
		sum.Cells += st.Location.Cells
		sum.Remote += st.Location.Remote
	}
	return sum, heap, nil
}
