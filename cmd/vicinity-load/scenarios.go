package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// config holds the sizes of every scenario.
type config struct {
	idle         []int         // idle: connection counts
	echoClients  int           // echo: clients, one request in flight each
	duration     time.Duration // echo, paced fan-out, slow, churn
	receivers    int           // fanout: receivers in the room
	burst        int           // fanout: messages sent back to back
	rate         float64       // fanout and slow: paced messages per second
	slowNormal   int           // slow: reading receivers
	slowClients  int           // slow: non-reading clients in the room
	slowPayload  int           // slow: payload padding in bytes
	churnWorkers int           // churn: parallel connect/disconnect loops
	payload      int           // echo and fanout: payload padding in bytes
	dialConc     int           // connections dialled in parallel
	settle       time.Duration // wait before measuring memory
	profileDir   string        // idle: save Go heap profiles here

	clusterNodes     []int   // cluster: node counts (besides the single node)
	clusterReceivers int     // cluster: receivers, spread over the nodes
	clusterBurst     int     // cluster: messages sent back to back
	clusterRate      float64 // cluster: paced messages per second
	recoveryMissed   []int   // recovery: packets missed while away
	recoveryRounds   int     // recovery: reconnections timed per count

	geoNodes      []int         // geo: node counts, one case each
	geoClients    int           // geo: clients, spread over the nodes
	geoSide       float64       // geo: the square's side in meters; 0: sized for geoNeighbours
	geoNeighbours float64       // geo: others within the radius on average, for the side
	geoRadius     float64       // geo: each client's watch radius in meters
	geoRate       float64       // geo: moves a second per client
	geoSpeed      float64       // geo: walking speed in m/s
	geoDuration   time.Duration // geo: how long the clients move
	geoGrace      time.Duration // geo: how late an update may come and still count
}

// result is one scenario case on one target.
type result struct {
	Target   string   `json:"target"`
	Scenario string   `json:"scenario"`
	Case     string   `json:"case"`
	Metrics  []metric `json:"metrics"`
}

type metric struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
}

func (r *result) add(name string, v float64) { r.Metrics = append(r.Metrics, metric{name, v}) }

func (r *result) get(name string) (float64, bool) {
	for _, m := range r.Metrics {
		if m.Name == name {
			return m.Value, true
		}
	}
	return 0, false
}

// runner runs scenarios on fresh target processes.
type runner struct {
	b   *builder
	cfg config
	log func(format string, args ...any)
}

type scenario func(r *runner, ctx context.Context, target string) ([]result, error)

// scenarioNames are the scenarios run by default; the cluster scenarios,
// which need redis-server, run when asked for.
var scenarioNames = []string{"idle", "echo", "fanout", "slow", "churn"}

var clusterScenarioNames = []string{"cluster", "recovery", "geo"}

var scenarios = map[string]scenario{
	"idle":     (*runner).idle,
	"echo":     (*runner).echo,
	"fanout":   (*runner).fanout,
	"slow":     (*runner).slow,
	"churn":    (*runner).churn,
	"cluster":  (*runner).cluster,
	"recovery": (*runner).recovery,
	"geo":      (*runner).geo,
}

// dialMany connects n clients to s, joined to room, cfg.dialConc at a
// time. Reading clients get a read loop; the others never read (after
// the handshake).
func (r *runner) dialMany(ctx context.Context, s *server, n int, room string, reading bool, rcvBuf int, rec *atomic.Bool) ([]*conn, error) {
	conns := make([]*conn, n)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		next     atomic.Int64
	)
	workers := min(max(r.cfg.dialConc, 1), n)
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				c, err := dial(ctx, dialOptions{addr: s.addr, proto: s.proto, room: room, rcvBuf: rcvBuf})
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("connection %d of %d: %w", i+1, n, err)
					}
					mu.Unlock()
					cancel()
					return
				}
				if reading {
					c.start(rec)
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err() // interrupted: some were not dialled
	}
	if firstErr != nil {
		closeAll(conns)
		return nil, firstErr
	}
	return conns, nil
}

func closeAll(conns []*conn) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256)
	for _, c := range conns {
		if c == nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			c.close()
			<-sem
		})
	}
	wg.Wait()
}

// warm connects and closes one client so that what the server sets up on
// its first connection is not counted per connection.
func (r *runner) warm(ctx context.Context, s *server, room string) error {
	c, err := dial(ctx, dialOptions{addr: s.addr, proto: s.proto, room: room})
	if err != nil {
		return fmt.Errorf("warm-up connection: %w", err)
	}
	c.close()
	return nil
}

func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// idle: N connections, each with a handshake, a namespace CONNECT and one
// room joined; the server's RSS growth per connection, and for Go targets
// the live heap, stacks and goroutines per connection.
func (r *runner) idle(ctx context.Context, target string) ([]result, error) {
	var out []result
	for _, n := range r.cfg.idle {
		res, err := r.idleN(ctx, target, n)
		if err != nil {
			return out, err
		}
		out = append(out, res)
	}
	return out, nil
}

func (r *runner) idleN(ctx context.Context, target string, n int) (result, error) {
	res := result{Target: target, Scenario: "idle", Case: fmt.Sprintf("n=%d", n)}
	s, err := r.b.start(target)
	if err != nil {
		return res, err
	}
	defer s.stop()
	if err := r.warm(ctx, s, "idle"); err != nil {
		return res, err
	}
	if err := pause(ctx, 500*time.Millisecond); err != nil {
		return res, err
	}
	before, err := s.stats(true)
	if err != nil {
		return res, err
	}
	profile := func(when string) {
		if r.cfg.profileDir == "" || !s.isGo() {
			return
		}
		path := filepath.Join(r.cfg.profileDir, fmt.Sprintf("%s-idle-%d-%s.pprof", target, n, when))
		if err := s.saveHeapProfile(ctx, path); err != nil {
			r.log("heap profile: %v", err)
		}
	}
	profile("before")
	rssBefore, err := s.rss()
	if err != nil {
		return res, err
	}
	start := time.Now()
	conns, err := r.dialMany(ctx, s, n, "idle", true, 0, nil)
	if err != nil {
		return res, err
	}
	defer closeAll(conns)
	connectTime := time.Since(start)
	if err := pause(ctx, r.cfg.settle); err != nil {
		return res, err
	}
	rssAfter, err := s.rss()
	if err != nil {
		return res, err
	}
	after, err := s.stats(true)
	if err != nil {
		return res, err
	}
	profile("after")
	for _, c := range conns {
		select {
		case <-c.done:
			return res, fmt.Errorf("a connection closed while idle")
		default:
		}
	}
	fn := float64(n)
	res.add("conns", fn)
	res.add("connect/s", fn/connectTime.Seconds())
	res.add("RSS/conn KB", float64(rssAfter-rssBefore)/fn/1000)
	if s.isGo() {
		res.add("heap/conn KB", float64(after.HeapAlloc-before.HeapAlloc)/fn/1000)
		res.add("stacks/conn KB", float64(after.StackInuse-before.StackInuse)/fn/1000)
		res.add("goroutines/conn", float64(after.Goroutines-before.Goroutines)/fn)
	} else {
		res.add("JS heap/conn KB", float64(after.HeapUsed-before.HeapUsed)/fn/1000)
	}
	res.add("server conns", float64(after.Conns))
	return res, nil
}

func padding(n int) string { return strings.Repeat("x", n) }

// echo: C clients each doing request/answer round trips, one in flight.
func (r *runner) echo(ctx context.Context, target string) ([]result, error) {
	res := result{Target: target, Scenario: "echo", Case: fmt.Sprintf("clients=%d", r.cfg.echoClients)}
	s, err := r.b.start(target)
	if err != nil {
		return nil, err
	}
	defer s.stop()
	conns, err := r.dialMany(ctx, s, r.cfg.echoClients, "", true, 0, nil)
	if err != nil {
		return nil, err
	}
	defer closeAll(conns)
	payload := `"` + padding(r.cfg.payload) + `"`
	var (
		wg      sync.WaitGroup
		errs    atomic.Int64
		refused atomic.Int64 // answered with an error (vicinity's event rate limit)
		lats    = make([][]int64, len(conns))
		start   = time.Now()
		finish  = start.Add(r.cfg.duration)
	)
	for i, c := range conns {
		wg.Go(func() {
			lat := make([]int64, 0, 1024)
			for time.Now().Before(finish) && ctx.Err() == nil {
				d, err := c.echo(payload, 10*time.Second)
				if errors.Is(err, errRefused) {
					refused.Add(1)
					continue
				}
				if err != nil {
					errs.Add(1)
					if errors.Is(err, errClosed) {
						return
					}
					continue
				}
				lat = append(lat, int64(d))
			}
			lats[i] = lat
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(lats...)
	res.add("round trips/s", float64(len(all))/elapsed.Seconds())
	addLatency(&res, "", all)
	res.add("refused", float64(refused.Load()))
	res.add("errors", float64(errs.Load()))
	return []result{res}, nil
}

// addLatency adds p50 and p99 in milliseconds.
func addLatency(res *result, prefix string, ns []int64) {
	slices.Sort(ns)
	res.add(prefix+"p50 ms", percentile(ns, 0.50)/1e6)
	res.add(prefix+"p99 ms", percentile(ns, 0.99)/1e6)
}

func percentile(sorted []int64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return float64(sorted[min(int(q*float64(len(sorted))), len(sorted)-1)])
}

// fanout: R receivers in a room, a sender broadcasting a burst, then at a
// paced rate.
func (r *runner) fanout(ctx context.Context, target string) ([]result, error) {
	s, err := r.b.start(target)
	if err != nil {
		return nil, err
	}
	defer s.stop()
	return r.fanoutRoom(ctx, fanoutSpec{target: target, scenario: "fanout", nodes: []*server{s},
		receivers: r.cfg.receivers, burst: r.cfg.burst, rate: r.cfg.rate})
}

// fanoutSpec says where and how much fanoutRoom broadcasts.
type fanoutSpec struct {
	target, scenario string
	casePrefix       string    // put before each case's name
	nodes            []*server // receivers spread evenly over them; the sender on nodes[0]
	receivers, burst int
	rate             float64 // paced broadcasts per second, for the duration
	warm             bool    // first broadcast until every receiver got one
}

// fanoutRoom spreads the receivers over the nodes in one room, connects a
// sender to the first node, and measures a burst of broadcasts, then the
// paced rate: two results.
func (r *runner) fanoutRoom(ctx context.Context, f fanoutSpec) ([]result, error) {
	var (
		rec  atomic.Bool
		recv []*conn
	)
	defer func() { closeAll(recv) }()
	for i, s := range f.nodes {
		n := f.receivers / len(f.nodes)
		if i < f.receivers%len(f.nodes) {
			n++
		}
		conns, err := r.dialMany(ctx, s, n, "fan", true, 0, &rec)
		if err != nil {
			return nil, fmt.Errorf("node %d: %w", i, err)
		}
		recv = append(recv, conns...)
	}
	s := f.nodes[0]
	sender, err := dial(ctx, dialOptions{addr: s.addr, proto: s.proto})
	if err != nil {
		return nil, err
	}
	sender.start(nil)
	defer sender.close()
	pad := padding(r.cfg.payload)
	if f.warm {
		if err := warmRoom(ctx, sender, "fan", recv, &rec, pad); err != nil {
			return nil, err
		}
	}

	burst := result{Target: f.target, Scenario: f.scenario, Case: fmt.Sprintf("%sburst=%d receivers=%d", f.casePrefix, f.burst, f.receivers)}
	if err := r.deliver(ctx, &burst, sender, recv, &rec, pad, f.burst, 0); err != nil {
		return nil, err
	}
	paced := result{Target: f.target, Scenario: f.scenario, Case: fmt.Sprintf("%spaced=%g/s receivers=%d", f.casePrefix, f.rate, f.receivers)}
	if err := r.deliver(ctx, &paced, sender, recv, &rec, pad, int(f.rate*r.cfg.duration.Seconds()), f.rate); err != nil {
		return nil, err
	}
	return []result{burst, paced}, nil
}

// warmRoom broadcasts to room, every 100ms for at most 10s, until every
// receiver got a broadcast: every node has joined the cluster and the
// room. What was received is then forgotten.
func warmRoom(ctx context.Context, sender *conn, room string, recv []*conn, rec *atomic.Bool, pad string) error {
	rec.Store(true)
	defer func() {
		rec.Store(false)
		for _, c := range recv {
			c.take()
		}
	}()
	for range 100 {
		if err := sender.broadcast(room, pad); err != nil {
			return fmt.Errorf("warm-up broadcast: %w", err)
		}
		if err := pause(ctx, 100*time.Millisecond); err != nil {
			return err
		}
		if !slices.ContainsFunc(recv, func(c *conn) bool { return received(c) == 0 }) {
			return nil
		}
	}
	return errors.New("warm-up: some receivers got no broadcast within 10s")
}

// received is how many broadcasts c got while recording since its last take.
func received(c *conn) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.got
}

// paceUntil waits until the i-th of messages sent at rate per second from
// t0 (now()) is due.
func paceUntil(ctx context.Context, t0 int64, i int, rate float64) error {
	if d := time.Duration(t0 + int64(float64(i)*float64(time.Second)/rate) - now()); d > 0 {
		return pause(ctx, d)
	}
	return nil
}

// deliver sends count broadcasts (back to back if rate is 0), waits for
// the receivers to get them (up to 10s after the last one), and adds
// deliveries/s, latency and the share delivered.
func (r *runner) deliver(ctx context.Context, res *result, sender *conn, recv []*conn, rec *atomic.Bool, pad string, count int, rate float64) error {
	for _, c := range recv {
		c.take()
	}
	rec.Store(true)
	defer rec.Store(false)
	t0 := now()
	for i := range count {
		if rate > 0 {
			if err := paceUntil(ctx, t0, i, rate); err != nil {
				return err
			}
		}
		if err := sender.broadcast("fan", pad); err != nil {
			return fmt.Errorf("broadcast: %w", err)
		}
	}
	want := int64(count) * int64(len(recv))
	total := func() (n int64) {
		for _, c := range recv {
			n += received(c)
		}
		return n
	}
	deadline := time.Now().Add(10 * time.Second)
	for total() < want && time.Now().Before(deadline) {
		if err := pause(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
	rec.Store(false)
	var (
		lats []int64
		got  int64
		last int64
	)
	for _, c := range recv {
		l, g, t := c.take()
		lats = append(lats, l...)
		got += g
		last = max(last, t)
	}
	elapsed := float64(last-t0) / 1e9
	if rate > 0 {
		elapsed = max(elapsed, float64(count)/rate)
	}
	if elapsed > 0 {
		res.add("deliveries/s", float64(got)/elapsed)
	} else {
		res.add("deliveries/s", 0)
	}
	addLatency(res, "", lats)
	res.add("delivered %", 100*float64(got)/float64(max(want, 1)))
	return nil
}

// slow: the paced fan-out to N normal receivers, without and then with S
// non-reading clients (small receive buffers) in the room.
func (r *runner) slow(ctx context.Context, target string) ([]result, error) {
	res := result{Target: target, Scenario: "slow", Case: fmt.Sprintf("normal=%d slow=%d paced=%g/s payload=%dB", r.cfg.slowNormal, r.cfg.slowClients, r.cfg.rate, r.cfg.slowPayload)}
	var without, with result
	for _, slowN := range []int{0, r.cfg.slowClients} {
		part := &without
		if slowN > 0 {
			part = &with
		}
		err := func() error {
			s, err := r.b.start(target)
			if err != nil {
				return err
			}
			defer s.stop()
			slowConns, err := r.dialMany(ctx, s, slowN, "fan", false, 4096, nil)
			if err != nil {
				return err
			}
			defer closeAll(slowConns)
			var rec atomic.Bool
			recv, err := r.dialMany(ctx, s, r.cfg.slowNormal, "fan", true, 0, &rec)
			if err != nil {
				return err
			}
			defer closeAll(recv)
			sender, err := dial(ctx, dialOptions{addr: s.addr, proto: s.proto})
			if err != nil {
				return err
			}
			sender.start(nil)
			defer sender.close()
			if err := r.deliver(ctx, part, sender, recv, &rec, padding(r.cfg.slowPayload), int(r.cfg.rate*r.cfg.duration.Seconds()), r.cfg.rate); err != nil {
				return err
			}
			st, err := s.stats(false)
			if err != nil {
				return err
			}
			part.add("server conns", float64(st.Conns))
			return nil
		}()
		if err != nil {
			return nil, err
		}
	}
	p99a, _ := without.get("p99 ms")
	p99b, _ := with.get("p99 ms")
	for _, m := range without.Metrics {
		res.add("without: "+m.Name, m.Value)
	}
	for _, m := range with.Metrics {
		res.add("with: "+m.Name, m.Value)
	}
	if p99a > 0 {
		res.add("p99 with/without", p99b/p99a)
	}
	return []result{res}, nil
}

// churn: connect (handshake, CONNECT, join) and disconnect in a loop for
// the duration; the rate, then the server's RSS and goroutines back at
// baseline.
func (r *runner) churn(ctx context.Context, target string) ([]result, error) {
	res := result{Target: target, Scenario: "churn", Case: fmt.Sprintf("workers=%d", r.cfg.churnWorkers)}
	s, err := r.b.start(target)
	if err != nil {
		return nil, err
	}
	defer s.stop()
	if err := r.warm(ctx, s, "churn"); err != nil {
		return nil, err
	}
	if err := pause(ctx, 500*time.Millisecond); err != nil {
		return nil, err
	}
	before, err := s.stats(true)
	if err != nil {
		return nil, err
	}
	rssBefore, err := s.rss()
	if err != nil {
		return nil, err
	}
	var (
		wg     sync.WaitGroup
		cycles atomic.Int64
		errs   atomic.Int64
		start  = time.Now()
		finish = start.Add(r.cfg.duration)
	)
	for range r.cfg.churnWorkers {
		wg.Go(func() {
			for time.Now().Before(finish) && ctx.Err() == nil {
				c, err := dial(ctx, dialOptions{addr: s.addr, proto: s.proto, room: "churn", timeout: 10 * time.Second})
				if err != nil {
					errs.Add(1)
					continue
				}
				c.close()
				cycles.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	// Wait for the server to notice every close.
	var after stats
	deadline := time.Now().Add(15 * time.Second)
	for {
		after, err = s.stats(false)
		if err != nil {
			return nil, err
		}
		back := after.Conns == 0 && (!s.isGo() || after.Goroutines <= before.Goroutines)
		if back || time.Now().After(deadline) {
			break
		}
		if err := pause(ctx, 100*time.Millisecond); err != nil {
			return nil, err
		}
	}
	if err := pause(ctx, r.cfg.settle); err != nil {
		return nil, err
	}
	if after, err = s.stats(true); err != nil {
		return nil, err
	}
	rssAfter, err := s.rss()
	if err != nil {
		return nil, err
	}
	res.add("cycles/s", float64(cycles.Load())/elapsed.Seconds())
	res.add("cycles", float64(cycles.Load()))
	res.add("errors", float64(errs.Load()))
	res.add("RSS before MB", float64(rssBefore)/1e6)
	res.add("RSS after MB", float64(rssAfter)/1e6)
	if s.isGo() {
		res.add("heap before KB", float64(before.HeapAlloc)/1e3)
		res.add("heap after KB", float64(after.HeapAlloc)/1e3)
		res.add("goroutines before", float64(before.Goroutines))
		res.add("goroutines after", float64(after.Goroutines))
	} else {
		res.add("JS heap before KB", float64(before.HeapUsed)/1e3)
		res.add("JS heap after KB", float64(after.HeapUsed)/1e3)
	}
	res.add("server conns after", float64(after.Conns))
	return []result{res}, nil
}
