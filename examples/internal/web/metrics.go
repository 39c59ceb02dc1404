package web

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vicinity-go/vicinity/realtime"
	"github.com/vicinity-go/vicinity/transport"
)

// Metrics is a realtime.Observer serving a few of the server's metrics in
// Prometheus's text format, for the examples' -metrics flag. The examples
// live in the main module, which does not depend on client_golang; a
// program of yours would use the metrics/prometheus module instead, which
// exposes every hook (see its documentation for the metric names).
type Metrics struct {
	realtime.NopObserver

	sockets, namespaces, memberships, located, watches, tracked atomic.Int64
	refused, panics, ackTimeouts, slowCloses                    atomic.Int64
	packetsIn, packetsOut                                       [len(realtime.PacketTypes)]atomic.Int64

	mu     sync.Mutex
	series map[string]*atomic.Int64 // labelled counters and gauges, by "name{labels}"
}

// NewMetrics returns metrics at zero.
func NewMetrics() *Metrics { return &Metrics{series: make(map[string]*atomic.Int64)} }

// MetricsIf returns new metrics if on (an example's -metrics flag), nil
// otherwise. Nil metrics observe nothing and serve nothing.
func MetricsIf(on bool) *Metrics {
	if !on {
		return nil
	}
	return NewMetrics()
}

// Options returns the option that makes a server report to m; none if m is
// nil.
func (m *Metrics) Options() []realtime.Option {
	if m == nil {
		return nil
	}
	return []realtime.Option{realtime.WithObserver(m)}
}

// Mount serves m at GET /metrics on mux, unless m is nil.
func (m *Metrics) Mount(mux *http.ServeMux) {
	if m != nil {
		mux.Handle("GET /metrics", m)
	}
}

// MetricsUsage is the help of the examples' -metrics flag.
const MetricsUsage = "serve the server's metrics at /metrics, in Prometheus's text format"

// add adds n to the labelled series key.
func (m *Metrics) add(key string, n int64) {
	m.mu.Lock()
	v := m.series[key]
	if v == nil {
		v = new(atomic.Int64)
		m.series[key] = v
	}
	m.mu.Unlock()
	v.Add(n)
}

func (m *Metrics) ConnOpened(c *realtime.Conn) {
	m.add(`vicinity_connections{transport="`+c.Transport()+`"}`, 1)
}

func (m *Metrics) ConnUpgraded(_ *realtime.Conn, t string) {
	m.add(`vicinity_connections{transport="polling"}`, -1)
	m.add(`vicinity_connections{transport="`+t+`"}`, 1)
}

func (m *Metrics) ConnClosed(c *realtime.Conn, reason string) {
	m.add(`vicinity_connections{transport="`+c.Transport()+`"}`, -1)
	if reason == transport.ReasonSlowClient {
		m.slowCloses.Add(1)
	}
}

func (m *Metrics) BytesIn(t string, n int) {
	m.add(`vicinity_bytes_total{direction="in",transport="`+t+`"}`, int64(n))
}

func (m *Metrics) BytesOut(t string, n int) {
	m.add(`vicinity_bytes_total{direction="out",transport="`+t+`"}`, int64(n))
}

func (m *Metrics) PacketsDropped(t string, n int) {
	m.add(`vicinity_dropped_packets_total{transport="`+t+`"}`, int64(n))
}

func (m *Metrics) NamespaceCreated(*realtime.Namespace)        { m.namespaces.Add(1) }
func (m *Metrics) NamespaceDropped(*realtime.Namespace)        { m.namespaces.Add(-1) }
func (m *Metrics) SocketConnected(*realtime.Socket)            { m.sockets.Add(1) }
func (m *Metrics) SocketDisconnected(*realtime.Socket, string) { m.sockets.Add(-1) }

func (m *Metrics) RoomJoined(s *realtime.Socket, room string) {
	if room != s.ID() {
		m.memberships.Add(1)
	}
}

func (m *Metrics) RoomLeft(s *realtime.Socket, room string) {
	if room != s.ID() {
		m.memberships.Add(-1)
	}
}

func (m *Metrics) PacketIn(t realtime.PacketType) {
	if int(t) < len(m.packetsIn) {
		m.packetsIn[t].Add(1)
	}
}

func (m *Metrics) PacketsOut(t realtime.PacketType, n int) {
	if int(t) < len(m.packetsOut) {
		m.packetsOut[t].Add(int64(n))
	}
}

func (m *Metrics) EventRefused(*realtime.Socket, string, string) { m.refused.Add(1) }
func (m *Metrics) AckTimedOut(_ *realtime.Namespace, _ string, n int) {
	m.ackTimeouts.Add(int64(n))
}
func (m *Metrics) HandlerPanicked(*realtime.Socket, string)   { m.panics.Add(1) }
func (m *Metrics) PresenceTracked(*realtime.Socket, string)   { m.tracked.Add(1) }
func (m *Metrics) PresenceUntracked(*realtime.Socket, string) { m.tracked.Add(-1) }
func (m *Metrics) Unlocated(*realtime.Socket)                 { m.located.Add(-1) }
func (m *Metrics) WatchStarted(*realtime.Socket)              { m.watches.Add(1) }
func (m *Metrics) WatchEnded(*realtime.Socket)                { m.watches.Add(-1) }

func (m *Metrics) Located(_ *realtime.Socket, added bool) {
	if added {
		m.located.Add(1)
	}
}

func (m *Metrics) SpatialEvents(event string, n int) {
	m.add(`vicinity_spatial_events_total{event="`+event+`"}`, int64(n))
}

// ServeHTTP writes the metrics in Prometheus's text exposition format.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	var b strings.Builder
	plain := []struct {
		name, typ string
		v         *atomic.Int64
	}{
		{"vicinity_namespaces", "gauge", &m.namespaces},
		{"vicinity_sockets", "gauge", &m.sockets},
		{"vicinity_room_memberships", "gauge", &m.memberships},
		{"vicinity_presence_tracked", "gauge", &m.tracked},
		{"vicinity_spatial_members", "gauge", &m.located},
		{"vicinity_spatial_watches", "gauge", &m.watches},
		{"vicinity_events_refused_total", "counter", &m.refused},
		{"vicinity_handler_panics_total", "counter", &m.panics},
		{"vicinity_ack_timeouts_total", "counter", &m.ackTimeouts},
		{"vicinity_slow_client_closes_total", "counter", &m.slowCloses},
	}
	for _, p := range plain {
		fmt.Fprintf(&b, "# TYPE %s %s\n%s %d\n", p.name, p.typ, p.name, p.v.Load())
	}
	b.WriteString("# TYPE vicinity_packets_total counter\n")
	for _, t := range realtime.PacketTypes {
		fmt.Fprintf(&b, "vicinity_packets_total{direction=\"in\",type=%q} %d\n", t.String(), m.packetsIn[t].Load())
		fmt.Fprintf(&b, "vicinity_packets_total{direction=\"out\",type=%q} %d\n", t.String(), m.packetsOut[t].Load())
	}
	m.mu.Lock()
	keys := make([]string, 0, len(m.series))
	for k := range m.series {
		keys = append(keys, k)
	}
	m.mu.Unlock()
	sort.Strings(keys)
	typed := map[string]bool{}
	for _, k := range keys {
		name := k[:strings.IndexByte(k, '{')]
		if !typed[name] {
			typed[name] = true
			typ := "counter"
			if !strings.HasSuffix(name, "_total") {
				typ = "gauge"
			}
			fmt.Fprintf(&b, "# TYPE %s %s\n", name, typ)
		}
		m.mu.Lock()
		v := m.series[k].Load()
		m.mu.Unlock()
		fmt.Fprintf(&b, "%s %d\n", k, v)
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}
