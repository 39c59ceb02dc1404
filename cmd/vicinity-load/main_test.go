package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
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
	out := filepath.Join(t.TempDir(), "results.json")
	var stdout, stderr bytes.Buffer
	err = run([]string{
		"-targets", targets, "-json", out,
		"-idle", "5", "-echo-clients", "3", "-duration", "300ms",
		"-receivers", "3", "-burst", "20", "-rate", "50",
		"-slow-normal", "2", "-slow-clients", "3", "-churn-workers", "2",
		"-settle", "100ms", "-dial-concurrency", "4",
	}, &stdout, &stderr)
	require.NoError(t, err, "stderr:\n%s", stderr.String())
	t.Log("\n" + stdout.String())

	data, err := os.ReadFile(out)
	require.NoError(t, err)
	var results []result
	require.NoError(t, json.Unmarshal(data, &results))

	type want struct{ target, scenario, cas string }
	got := map[want]result{}
	for _, r := range results {
		got[want{r.Target, r.Scenario, r.Case}] = r
	}
	for _, target := range splitList(targets) {
		t.Run(target, func(t *testing.T) {
			metric := func(scenario, cas, name string) float64 {
				t.Helper()
				r, ok := got[want{target, scenario, cas}]
				require.True(t, ok, "no result for %s %s", scenario, cas)
				v, ok := r.get(name)
				require.True(t, ok, "%s %s has no %q: %v", scenario, cas, name, r.Metrics)
				return v
			}

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

func TestParse(t *testing.T) {
	n, rest := parseUint([]byte(`12["x"]`))
	assert.Equal(t, uint64(12), n)
	assert.Equal(t, `["x"]`, string(rest))
	ts, ok := parseT([]byte(`42["msg",{"t":987,"p":"xx"}]`))
	assert.True(t, ok)
	assert.Equal(t, int64(987), ts)
	_, ok = parseT([]byte(`42["msg"]`))
	assert.False(t, ok)
	v, ok := median([]float64{3, 1, 2, 10})
	assert.True(t, ok)
	assert.Equal(t, 2.5, v)
}
