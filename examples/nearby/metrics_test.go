package main

import (
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

// With -metrics, /metrics serves the server's metrics in Prometheus's
// text format; without it there is no such page.
func TestMetricsFlag(t *testing.T) {
	t.Parallel()
	code, _ := get(t, serve(t, testOptions()).URL+"/metrics")
	assert.Equal(t, http.StatusNotFound, code, "off by default")

	o := testOptions()
	o.Metrics = true
	ts := serve(t, o)
	join(t, ts, "Ana").moveTo(berlin) // answered once located
	code, body := get(t, ts.URL+"/metrics")
	assert.Equal(t, http.StatusOK, code)
	for _, line := range []string{
		"vicinity_sockets 1\n",
		"vicinity_spatial_members 1\n",
		`vicinity_packets_total{direction="in",type="connect"} 1` + "\n",
		"# TYPE vicinity_bytes_total counter\n",
	} {
		assert.Contains(t, body, line)
	}
}
