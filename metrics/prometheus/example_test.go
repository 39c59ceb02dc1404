package prometheus_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vicinity-go/vicinity/metrics/prometheus"
	"github.com/vicinity-go/vicinity/realtime"
)

func ExampleNew() {
	m := prometheus.New()
	srv := realtime.New(realtime.WithObserver(m))
	defer srv.Close()
	reg := prom.NewRegistry()
	reg.MustRegister(m)
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for line := range strings.Lines(rec.Body.String()) {
		if strings.HasPrefix(line, "vicinity_namespaces ") || strings.HasPrefix(line, "vicinity_sockets ") {
			fmt.Print(line)
		}
	}
	// Output:
	// vicinity_namespaces 1
	// vicinity_sockets 0
}
