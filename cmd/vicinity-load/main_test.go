package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vicinity-go/vicinity/internal/nodetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestScenarios runs every scenario at a tiny scale against the Go targets
// (and Node's when its packages are installed) and checks that the report
// holds what it should. It asserts counts, never timings.
func TestScenarios(t *testing.T) {
	root, err := moduleRoot(".")
	require.NoError(t, err)
	targets := "vicinity,hub"
	if _, err := os.Stat(filepath.Join(root, "cmd/vicinity-load/targets/node/node_modules/socket.io")); err == nil {
		targets += ",node"
	}
	got := runTool(t, "-targets", targets,
		"-idle", "5", "-echo-clients", "3", "-duration", "300ms",
		"-receivers", "3", "-burst", "20", "-rate", "50",
		"-slow-normal", "2", "-slow-clients", "3", "-churn-workers", "2",
		"-settle", "100ms", "-dial-concurrency", "4",
	)
	for _, target := range splitList(targets) {
		t.Run(target, func(t *testing.T) {
			metric := got.metric(t, target)

			assert.Equal(t, 5.0, metric("idle", "n=5", "conns"))
			assert.Equal(t, 5.0, metric("idle", "n=5", "server conns"))
			if target != "node" {
				assert.GreaterOrEqual(t, metric("idle", "n=5", "goroutines/conn"), 1.0, "a connection has its read loop")
				assert.Positive(t, metric("idle", "n=5", "heap/conn KB"))
			}

			assert.Positive(t, metric("echo", "clients=3", "round trips/s"))
			assert.Zero(t, metric("echo", "clients=3", "errors"))
			assert.LessOrEqual(t, metric("echo", "clients=3", "p50 ms"), metric("echo", "clients=3", "p99 ms"))

			for _, cas := range []string{"burst=20 receivers=3", "paced=50/s receivers=3"} {
				assert.Equal(t, 100.0, metric("fanout", cas, "delivered %"), cas)
				assert.Positive(t, metric("fanout", cas, "deliveries/s"), cas)
			}

			slow := "normal=2 slow=3 paced=50/s payload=1000B"
			assert.Equal(t, 100.0, metric("slow", slow, "without: delivered %"))
			assert.Equal(t, 100.0, metric("slow", slow, "with: delivered %"))
			assert.Equal(t, 3.0, metric("slow", slow, "without: server conns"), "2 receivers and the sender")
			assert.Positive(t, metric("slow", slow, "p99 with/without"))

			assert.Positive(t, metric("churn", "workers=2", "cycles"))
			assert.Zero(t, metric("churn", "workers=2", "errors"))
			assert.Zero(t, metric("churn", "workers=2", "server conns after"))
			if target != "node" {
				assert.LessOrEqual(t, metric("churn", "workers=2", "goroutines after"), metric("churn", "workers=2", "goroutines before"))
			}
		})
	}
}

// TestClusterScenarios runs the cluster and recovery scenarios at a tiny
// scale on vicinity (and Node when its Redis adapter is installed), on
// redis-servers of their own. It asserts counts, never timings.
func TestClusterScenarios(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv(nodetest.RequireEnv) == "1" {
			t.Fatal(errNoRedis)
		}
		t.Skip(errNoRedis)
	}
	root, err := moduleRoot(".")
	require.NoError(t, err)
	targets := "vicinity,hub"
	if _, err := os.Stat(filepath.Join(root, "cmd/vicinity-load/targets/node/node_modules/@socket.io/redis-adapter")); err == nil {
		targets += ",node"
	}
	got := runTool(t, "-targets", targets, "-scenarios", "cluster,recovery",
		"-cluster-nodes", "2", "-cluster-receivers", "5", "-cluster-burst", "10", "-cluster-rate", "50",
		"-duration", "200ms", "-recovery-missed", "5", "-recovery-rounds", "1", "-dial-concurrency", "4",
	)
	for _, target := range []string{"vicinity", "node"} {
		if !slices.Contains(splitList(targets), target) {
			continue
		}
		t.Run(target, func(t *testing.T) {
			metric := got.metric(t, target)
			for _, cas := range []string{"burst=10 receivers=5", "paced=50/s receivers=5"} {
				assert.Equal(t, 100.0, metric("cluster", "1 node, no Redis: "+cas, "delivered %"), cas)
				assert.Equal(t, 100.0, metric("cluster", "2 nodes: "+cas, "delivered %"), cas)
				assert.Positive(t, metric("cluster", "2 nodes: "+cas, "rate × single"), cas)
			}
			if target == "vicinity" {
				assert.Equal(t, 100.0, metric("recovery", "missed=5", "recovered %"))
				assert.Positive(t, metric("recovery", "missed=5", "replay p50 ms"))
			}
		})
	}
	for key := range got {
		assert.NotEqual(t, "hub", key.target, "the hub has no cluster mode: %v", key)
	}
}

// TestGeoScenario runs the geo scenario at a tiny scale on one node and on
// two over a redis-server of their own, and checks that what the watchers
// got is right: nearly every expected update delivered (generously: the
// machine may be loaded, and an update later than the grace counts as
// missed), every view right at the end, nothing out of order. It asserts
// counts and shares, never timings.
func TestGeoScenario(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv(nodetest.RequireEnv) == "1" {
			t.Fatal(errNoRedis)
		}
		t.Skip(errNoRedis)
	}
	got := runTool(t, "-targets", "vicinity", "-scenarios", "geo",
		"-geo-nodes", "1,2", "-geo-clients", "100", "-geo-duration", "3s", "-geo-grace", "3s",
		"-dial-concurrency", "20",
	)
	metric := got.metric(t, "vicinity")
	for _, cas := range []string{"1 node: clients=100 moves=1/s", "2 nodes: clients=100 moves=1/s"} {
		t.Run(cas, func(t *testing.T) {
			m := func(name string) float64 { t.Helper(); return metric("geo", cas, name) }
			assert.Equal(t, 100.0, m("clients"))
			assert.Greater(t, m("neighbours mean"), 5.0, "the square is sized for about 20 neighbours, fewer at its edges")
			assert.Positive(t, m("moves/s"))
			assert.Positive(t, m("events/s"))
			assert.Positive(t, m("p50 ms"))
			assert.LessOrEqual(t, m("p50 ms"), m("p99 ms"))
			assert.Positive(t, m("ack p99 ms"))
			assert.Greater(t, m("expected"), 1000.0, "100 clients, 3 moves each, ~15 watchers of each")
			assert.GreaterOrEqual(t, m("delivered %"), 95.0)
			assert.LessOrEqual(t, m("exact %"), m("delivered %"))
			assert.Equal(t, 100.0, m("setup views right %"))
			assert.Equal(t, 100.0, m("views right %"))
			assert.Zero(t, m("wrong view entries"))
			assert.Zero(t, m("refused"), "the target allows 5 moves a second")
			assert.Zero(t, m("unanswered"))
			assert.Zero(t, m("unknown positions"), "every position received was one a client sent, exactly")
			assert.Zero(t, m("out of order"))
			assert.Zero(t, m("order errors"))
			assert.Positive(t, m("server CPU cores"))
			assert.Positive(t, m("tool CPU cores"))
		})
	}
	assert.Positive(t, metric("geo", "2 nodes: clients=100 moves=1/s", "redis published/s"))
	assert.Positive(t, metric("geo", "2 nodes: clients=100 moves=1/s", "redis received/s"))
}

// results are the tool's results by target, scenario and case.
type results map[resultKey]result

type resultKey struct{ target, scenario, cas string }

// runTool runs the tool with args and the results it wrote as JSON.
func runTool(t *testing.T, args ...string) results {
	t.Helper()
	out := filepath.Join(t.TempDir(), "results.json")
	var stdout, stderr bytes.Buffer
	err := run(append(args, "-json", out), &stdout, &stderr)
	require.NoError(t, err, "stderr:\n%s", stderr.String())
	t.Log("\n" + stdout.String())
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	var list []result
	require.NoError(t, json.Unmarshal(data, &list))
	got := results{}
	for _, r := range list {
		got[resultKey{r.Target, r.Scenario, r.Case}] = r
	}
	return got
}

// metric returns a function that looks up target's metrics, failing t if
// one is missing.
func (rs results) metric(t *testing.T, target string) func(scenario, cas, name string) float64 {
	return func(scenario, cas, name string) float64 {
		t.Helper()
		r, ok := rs[resultKey{target, scenario, cas}]
		require.True(t, ok, "no result for %s %s", scenario, cas)
		v, ok := r.get(name)
		require.True(t, ok, "%s %s has no %q: %v", scenario, cas, name, r.Metrics)
		return v
	}
}

func TestParse(t *testing.T) {
	n, rest := parseUint([]byte(`12["x"]`))
	assert.Equal(t, uint64(12), n)
	assert.Equal(t, `["x"]`, string(rest))
	ts, ok := parseT([]byte(`42["msg",{"t":987,"p":"xx"}]`))
	assert.True(t, ok)
	assert.Equal(t, int64(987), ts)
	_, ok = parseT([]byte(`42["msg"]`))
	assert.False(t, ok)
	move := []byte(`{"id":"a-b_c","lat":52.5,"lng":-13.25,"accuracy":10}`)
	assert.Equal(t, "a-b_c", string(jsonField(move, `"id":`)))
	assert.Equal(t, "52.5", string(jsonField(move, `"lat":`)))
	assert.Equal(t, "-13.25", string(jsonField(move, `"lng":`)))
	assert.Equal(t, "10", string(jsonField(move, `"accuracy":`)))
	assert.Nil(t, jsonField(move, `"distance":`))
	v, ok := median([]float64{3, 1, 2, 10})
	assert.True(t, ok)
	assert.Equal(t, 2.5, v)
}

// TestGeoAnalyze checks what the geo scenario counts on made-up logs: W
// sees X throughout and misses one of its moves to conflation and one
// altogether; Z stays on the boundary of W's watch; Y is far away.
func TestGeoAnalyze(t *testing.T) {
	const s = int64(time.Second)
	north := func(m float64) geoPoint { return geoPoint{lat: geoLat0 + m/(geoEarthRadius*math.Pi/180), lng: geoLng0} }
	client := func(i int32, moves ...geoMove) *geoClient {
		return &geoClient{i: i, moves: moves, view: map[int32]bool{}}
	}
	mv := func(t int64, p geoPoint, ack int8) geoMove { return geoMove{t: t, acked: t + s/1000, p: p, ack: ack} }
	w := client(0, mv(0, north(0), 1))
	x := client(1, mv(0, north(100), 1), mv(1*s, north(101), 1), mv(2*s, north(102), 1), mv(3*s, north(103), 1),
		mv(4*s, north(104), 1), mv(5*s, north(105), -1))
	y := client(2, mv(0, north(5000), 1))
	z := client(3, mv(0, north(499.8), 1), mv(1*s, north(499.9), 1))
	w.got = []geoGot{
		{t: 0, member: 1, k: 0, kind: gotState},
		{t: 1*s + s/1000, member: 1, k: 1, kind: gotMove},
		{t: 3*s + s/2, member: 1, k: 3, kind: gotMove}, // k=2 conflated into k=3, within the grace
	} // k=4 never comes
	g := &geoRun{
		cfg:     config{geoRadius: 500, geoGrace: 2 * time.Second},
		clients: []*geoClient{w, x, y, z},
		near:    [][]int32{{1, 3}, {0}, {}, {0}}, // Z is not near X, for the test's sake
	}
	a := g.analyze(0, 6*s)
	assert.Equal(t, 5, a.accepted, "the first locations are not moves")
	assert.Equal(t, 1, a.refused)
	assert.Equal(t, 4, a.expected, "W expects X's moves 1 to 4; nobody expects Z's, on the boundary, or the refused move")
	assert.Equal(t, 3, a.delivered)
	assert.Equal(t, 2, a.exact)
	assert.Equal(t, 2, a.events)
	assert.Equal(t, []int64{s / 1000, s / 2}, a.lat)
	assert.InDelta(t, 1.0, a.neighbours, 1e-9, "W sees X and Z, X and Z see W")

	w.view = map[int32]bool{1: true, 2: true}
	x.view = map[int32]bool{0: true}
	right, wrong := g.checkViews()
	assert.Equal(t, 1, wrong, "Y in W's view; Z, on W's boundary, may be in it or not, W in Z's likewise")
	assert.Equal(t, 0.75, right)
	w.view = map[int32]bool{3: true}
	right, wrong = g.checkViews()
	assert.Equal(t, 1, wrong, "X missing from W's view")
	assert.Equal(t, 0.75, right)
}
