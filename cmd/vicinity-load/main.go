// Command vicinity-load measures vicinity against its peers (Node
// socket.io 4.8, Centrifuge, a plain gorilla/websocket hub) with the same
// lean raw client, on this machine, in one run. Each target is a separate
// process on 127.0.0.1, started afresh for every scenario, so its RSS can
// be read from /proc.
//
// Scenarios:
//
//	idle    N WebSocket connections (handshake, namespace CONNECT, one room):
//	        server RSS growth per connection; Go heap, stacks and goroutines
//	        per connection for Go targets (from the target's /debug/stats)
//	echo    C clients doing request/answer round trips (an event with an ack
//	        id; an RPC for Centrifuge), one in flight each, for -duration:
//	        round trips/s, latency p50/p99
//	fanout  R receivers in a room, a sender broadcasting a burst, then at a
//	        paced rate: deliveries/s, latency p50/p99 (timestamp in payload)
//	slow    the paced fan-out to -slow-normal receivers, without and with
//	        -slow-clients non-reading clients in the room: p50/p99 compared
//	        (the kernel's send buffers, autotuned up to tcp_wmem's 4 MiB, take
//	        megabytes per non-reading client before a server's own queue
//	        fills; with 1,000 of them TCP memory pressure is part of the test)
//	churn   connect/join/disconnect loops: cycles/s, then the server's RSS,
//	        heap and goroutines back at baseline
//
// The cluster scenarios run only when named; each starts its own
// redis-server on a free loopback port (geo only for more than one node):
//
//	cluster   the fan-out across nodes: -cluster-nodes N target processes on
//	          one Redis (vicinity with cluster/redis, Node with
//	          @socket.io/redis-adapter, Centrifuge with its Redis broker),
//	          -cluster-receivers spread evenly over them in one room, the
//	          sender on node 0, a burst then a paced rate: deliveries/s,
//	          p50/p99, delivered %; and first the same receivers on one node
//	          without Redis, the cluster's figures as ratios to it (× single)
//	recovery  vicinity only: a client in a room goes from node A; K packets
//	          reach the room; it comes back on node B with its session:
//	          from the reconnection's dial to the CONNECT answer and to the
//	          K-th missed packet received
//	geo       vicinity only (live geometry): -geo-clients clients placed at
//	          random in a square in Berlin (about -geo-neighbours others
//	          within -geo-radius each), each watching that radius and
//	          walking (-geo-rate acknowledged "location" events a second,
//	          at -geo-speed) for -geo-duration; on each of -geo-nodes (1:
//	          one process; 2: two on one Redis, the clients alternating
//	          between them, so half of one's neighbours are on the other
//	          node): nearby events/s, move-to-nearby:move latency p50/p99,
//	          the share of expected neighbour updates delivered (that
//	          position or a newer one within -geo-grace), and each watcher's
//	          view at the end against the ground truth (see geo.go)
//
// Usage:
//
//	go run ./cmd/vicinity-load                                  # quick, vicinity only
//	go run ./cmd/vicinity-load -targets all -repeat 3           # every target
//	go run ./cmd/vicinity-load -targets all -scenarios idle -idle 10000,19000
//	go run ./cmd/vicinity-load -targets all -large -repeat 3 -max-load 1.5
//	go run ./cmd/vicinity-load -targets vicinity,node -scenarios cluster,recovery -repeat 3
//	go run ./cmd/vicinity-load -scenarios geo -repeat 2            # 2,000 walkers, 1 and 2 nodes
//	go run ./cmd/vicinity-load -scenarios geo -geo-nodes 2 -geo-clients 500 -geo-duration 10s
//	go run ./cmd/vicinity-load -scenarios idle -idle 10000 -profile /tmp/prof -memprofilerate 1
//	go tool pprof -top -base /tmp/prof/vicinity-idle-10000-before.pprof /tmp/prof/vicinity-idle-10000-after.pprof
//
// The report has one row per scenario case and metric and one column per
// target: the median over -repeat runs, [min–max], and the ratio to Node's
// median. Runs are interleaved (each repeat runs every target) so that other
// load on the machine spreads over all targets; -max-load waits for a quiet
// machine before each run.
//
// The Node target needs `scripts/deps.sh` (npm ci); the Centrifuge target is
// built from its own module and downloads Centrifuge the first time.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "vicinity-load:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vicinity-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		targets = fs.String("targets", "vicinity", "comma-separated targets: vicinity, node, centrifuge, hub, or all")
		scens   = fs.String("scenarios", strings.Join(scenarioNames, ","), "comma-separated scenarios: "+strings.Join(slices.Concat(scenarioNames, clusterScenarioNames), ", ")+" (the last three run only when named and need redis-server; geo's 1-node case does not)")
		repeat  = fs.Int("repeat", 1, "run everything this many times; report medians with [min–max]")
		idle    = fs.String("idle", "1000", "idle: comma-separated connection counts (e.g. 10000,19000)")
		cnodes  = fs.String("cluster-nodes", "2,3", "cluster: comma-separated node counts, each above 1 (one node without Redis is always measured too)")
		missed  = fs.String("recovery-missed", "100,1000", "recovery: comma-separated counts of packets missed while away")
		gnodes  = fs.String("geo-nodes", "1,2", "geo: comma-separated node counts, one case each (above 1: on a redis-server)")
		jsonOut = fs.String("json", "", "also write every result as JSON to this file")
		root    = fs.String("root", "", "the repository's root (default: found from the working directory)")
		large   = fs.Bool("large", false, "the issue's sizes: -idle 10000,19000 -slow-clients 1000 -duration 10s -cluster-receivers 10000 -cluster-burst 20 -cluster-rate 10")
		maxLoad = fs.Float64("max-load", 0, "before each run, wait (up to 3 minutes) until the 1-minute load average is at most this; 0 does not wait")
		cfg     config
	)
	fs.IntVar(&cfg.echoClients, "echo-clients", 100, "echo: clients, one round trip in flight each")
	fs.DurationVar(&cfg.duration, "duration", 3*time.Second, "echo, paced fan-out (fanout, cluster), slow and churn: how long")
	fs.IntVar(&cfg.receivers, "receivers", 100, "fanout: receivers in the room")
	fs.IntVar(&cfg.burst, "burst", 200, "fanout: messages sent back to back (vicinity refuses a socket's events beyond 256 waiting for its handler; the hub target drops beyond 256 queued)")
	fs.Float64Var(&cfg.rate, "rate", 200, "fanout and slow: paced broadcasts per second")
	fs.IntVar(&cfg.slowNormal, "slow-normal", 50, "slow: reading receivers")
	fs.IntVar(&cfg.slowClients, "slow-clients", 200, "slow: non-reading clients (SO_RCVBUF 4 KiB)")
	fs.IntVar(&cfg.slowPayload, "slow-payload", 1000, "slow: payload padding in bytes")
	fs.IntVar(&cfg.churnWorkers, "churn-workers", 10, "churn: parallel connect/disconnect loops")
	fs.IntVar(&cfg.payload, "payload", 16, "echo, fanout, cluster and recovery: payload padding in bytes")
	fs.IntVar(&cfg.dialConc, "dial-concurrency", 100, "connections dialled in parallel")
	fs.IntVar(&cfg.clusterReceivers, "cluster-receivers", 1000, "cluster: receivers, spread evenly over the nodes")
	fs.IntVar(&cfg.clusterBurst, "cluster-burst", 100, "cluster: messages sent back to back")
	fs.Float64Var(&cfg.clusterRate, "cluster-rate", 50, "cluster: paced broadcasts per second")
	fs.IntVar(&cfg.recoveryRounds, "recovery-rounds", 5, "recovery: reconnections timed per missed count")
	fs.IntVar(&cfg.geoClients, "geo-clients", 2000, "geo: clients, each watching -geo-radius and walking, spread evenly over the nodes")
	fs.Float64Var(&cfg.geoSide, "geo-side", 0, "geo: the side of the square the clients walk in, meters (0: sized so that a client has -geo-neighbours others within -geo-radius on average, the edges aside)")
	fs.Float64Var(&cfg.geoNeighbours, "geo-neighbours", 20, "geo: others within the radius on average, when -geo-side is 0")
	fs.Float64Var(&cfg.geoRadius, "geo-radius", 500, "geo: each client's watch radius, meters")
	fs.Float64Var(&cfg.geoRate, "geo-rate", 1, "geo: moves a second per client (the target allows 4 times as many, at least 5)")
	fs.Float64Var(&cfg.geoSpeed, "geo-speed", 1.5, "geo: walking speed, m/s (each move is -geo-speed / -geo-rate meters)")
	fs.DurationVar(&cfg.geoDuration, "geo-duration", 20*time.Second, "geo: how long the clients move")
	fs.DurationVar(&cfg.geoGrace, "geo-grace", 2*time.Second, "geo: how late an expected update may arrive and still count as delivered; also the settle pause before the end-state check")
	fs.DurationVar(&cfg.settle, "settle", 2*time.Second, "idle and churn: wait before reading memory")
	fs.StringVar(&cfg.profileDir, "profile", "", "idle: save Go targets' heap profiles (before/after) in this directory")
	memProfileRate := fs.Int("memprofilerate", 0, "the Go targets' runtime.MemProfileRate (1: every allocation, for an exact -profile; slows the targets)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *large {
		*idle = "10000,19000"
		cfg.slowClients = 1000
		cfg.duration = 10 * time.Second
		cfg.clusterReceivers = 10000
		cfg.clusterBurst = 20
		cfg.clusterRate = 10
	}
	var err error
	if cfg.idle, err = parseCounts("idle", *idle, 1); err != nil {
		return err
	}
	if cfg.clusterNodes, err = parseCounts("cluster-nodes", *cnodes, 2); err != nil {
		return err
	}
	if cfg.recoveryMissed, err = parseCounts("recovery-missed", *missed, 1); err != nil {
		return err
	}
	if cfg.geoNodes, err = parseCounts("geo-nodes", *gnodes, 1); err != nil {
		return err
	}
	if err := cfg.validateGeo(); err != nil {
		return err
	}
	names := splitList(*targets)
	if slices.Equal(names, []string{"all"}) {
		names = targetNames
	}
	for _, n := range names {
		if !slices.Contains(targetNames, n) {
			return fmt.Errorf("-targets: unknown target %q", n)
		}
	}
	sc := splitList(*scens)
	for _, n := range sc {
		if scenarios[n] == nil {
			return fmt.Errorf("-scenarios: unknown scenario %q", n)
		}
	}
	if *root == "" {
		var wd string
		wd, err = os.Getwd()
		if err != nil {
			return err
		}
		if *root, err = moduleRoot(wd); err != nil {
			return err
		}
	}
	if cfg.profileDir != "" {
		if err := os.MkdirAll(cfg.profileDir, 0o755); err != nil {
			return err
		}
	}
	nofile := raiseNofile()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b, err := newBuilder(*root)
	if err != nil {
		return err
	}
	defer b.cleanup()
	b.memProfileRate = *memProfileRate
	var logMu sync.Mutex // geo logs from its clients' read loops
	logf := func(format string, args ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		fmt.Fprintf(stderr, format+"\n", args...)
	}
	r := &runner{b: b, cfg: cfg, log: logf}

	header := fmt.Sprintf("vicinity-load %s\n%s, %s/%s, %d CPUs, GOMAXPROCS %d, open files limit %d\nload average at start: %s",
		strings.Join(args, " "), runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), nofile, loadavg())
	logf("%s", header)
	var (
		results []result
		failed  []string
	)
	for i := range *repeat {
		for _, scen := range sc {
			for _, t := range names {
				if *maxLoad > 0 {
					if err := waitLoad(ctx, *maxLoad, 3*time.Minute, logf); err != nil {
						return err
					}
				}
				logf("run %d/%d: %s on %s (load %s)", i+1, *repeat, scen, t, loadavg())
				res, err := scenarios[scen](r, ctx, t)
				for _, x := range res {
					logf("  %s %s: %s", t, x.Case, summary(x))
				}
				results = append(results, res...)
				if err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					logf("  %s %s: FAILED: %v", t, scen, err)
					failed = append(failed, fmt.Sprintf("%s on %s: %v", scen, t, err))
				}
			}
		}
	}
	fmt.Fprintf(stdout, "%s; at the end: %s\n\n", header, loadavg())
	report(stdout, results, names, sc, *repeat)
	if *jsonOut != "" {
		data, err := json.MarshalIndent(results, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonOut, data, 0o644); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d runs failed:\n  %s", len(failed), strings.Join(failed, "\n  "))
	}
	return nil
}

// parseCounts parses flag name's comma-separated counts, none below least.
func parseCounts(name, s string, least int) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < least {
			return nil, fmt.Errorf("-%s: bad count %q", name, f)
		}
		out = append(out, n)
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// raiseNofile raises the soft limit on open files to the hard limit (the
// targets inherit it) and returns it.
func raiseNofile() uint64 {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) != nil {
		return 0
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	return lim.Cur
}

// waitLoad waits until the 1-minute load average is at most max, or for
// at most d.
func waitLoad(ctx context.Context, max float64, d time.Duration, logf func(string, ...any)) error {
	deadline := time.Now().Add(d)
	for {
		f := strings.Fields(loadavg())
		l, err := strconv.ParseFloat(f[0], 64)
		if err != nil || l <= max {
			return nil
		}
		if time.Now().After(deadline) {
			logf("load %s still above %g: running anyway", loadavg(), max)
			return nil
		}
		if err := pause(ctx, 5*time.Second); err != nil {
			return err
		}
	}
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func summary(r result) string {
	var parts []string
	for _, m := range r.Metrics {
		parts = append(parts, fmt.Sprintf("%s %s", m.Name, num(m.Value)))
	}
	return strings.Join(parts, ", ")
}

func num(v float64) string {
	switch a := max(v, -v); {
	case a == 0:
		return "0"
	case a >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// report prints one row per scenario case and metric, one column per
// target: the median over the repeats with [min–max], and the ratio of the
// median to Node's.
func report(w io.Writer, results []result, targets, scens []string, repeat int) {
	type key struct{ scen, cas, metric, target string }
	values := map[key][]float64{}
	type row struct{ scen, cas, metric string }
	var rows []row
	seen := map[row]bool{}
	for _, scen := range scens {
		for _, r := range results {
			if r.Scenario != scen {
				continue
			}
			for _, m := range r.Metrics {
				rw := row{r.Scenario, r.Case, m.Name}
				if !seen[rw] {
					seen[rw] = true
					rows = append(rows, rw)
				}
				k := key{r.Scenario, r.Case, m.Name, r.Target}
				values[k] = append(values[k], m.Value)
			}
		}
	}
	// Keep each case's rows together, whichever target reported a metric first.
	caseOrder := map[[2]string]int{}
	for _, rw := range rows {
		if _, ok := caseOrder[[2]string{rw.scen, rw.cas}]; !ok {
			caseOrder[[2]string{rw.scen, rw.cas}] = len(caseOrder)
		}
	}
	slices.SortStableFunc(rows, func(a, b row) int {
		return caseOrder[[2]string{a.scen, a.cas}] - caseOrder[[2]string{b.scen, b.cas}]
	})
	hasNode := slices.Contains(targets, "node")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "scenario\tcase\tmetric")
	for _, t := range targets {
		fmt.Fprintf(tw, "\t%s", t)
	}
	fmt.Fprintln(tw)
	for _, rw := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s", rw.scen, rw.cas, rw.metric)
		nodeMed, nodeOK := median(values[key{rw.scen, rw.cas, rw.metric, "node"}])
		for _, t := range targets {
			vs := values[key{rw.scen, rw.cas, rw.metric, t}]
			med, ok := median(vs)
			if !ok {
				fmt.Fprint(tw, "\t-")
				continue
			}
			cell := num(med)
			if repeat > 1 || len(vs) > 1 {
				cell += fmt.Sprintf(" [%s–%s]", num(slices.Min(vs)), num(slices.Max(vs)))
			}
			if hasNode && t != "node" && nodeOK && nodeMed != 0 && comparable(rw.metric) {
				cell += fmt.Sprintf(" (%s× node)", num(med/nodeMed))
			}
			fmt.Fprintf(tw, "\t%s", cell)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

// comparable reports whether a metric is a rate, a latency or a size,
// worth a ratio to Node's.
func comparable(metric string) bool {
	for _, s := range []string{"/s", " ms", "KB", "MB", "/conn", "with/without"} {
		if strings.Contains(metric, s) {
			return true
		}
	}
	return false
}

func median(vs []float64) (float64, bool) {
	if len(vs) == 0 {
		return 0, false
	}
	s := slices.Sorted(slices.Values(vs))
	if len(s)%2 == 1 {
		return s[len(s)/2], true
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2, true
}
