package prometheus_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/client"
	"github.com/vicinity-go/vicinity/metrics/prometheus"
	"github.com/vicinity-go/vicinity/realtime"
)

const wait = 5 * time.Second

// TestScrape runs a session with the Go client over WebSocket (connect,
// join a room, an event, a binary event, an event whose handler panics,
// an event over the rate limit, disconnect) and checks the registry.
func TestScrape(t *testing.T) {
	m := prometheus.New()
	reg := prom.NewPedanticRegistry()
	require.NoError(t, m.Register(reg))

	srv := realtime.New(realtime.WithObserver(m), realtime.WithEventRate(0.001, 3))
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("join", func(e *realtime.Event) {
			var room string
			if e.Bind(&room) == nil && s.Join(room) == nil {
				_ = e.Ack("joined")
			}
		})
		s.On("echo", func(e *realtime.Event) {
			var b []byte
			_ = e.Bind(&b)
			_ = e.Ack(b)
		})
		s.On("boom", func(*realtime.Event) { panic("boom") })
	})
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		_ = srv.Close()
		ts.Close()
	})

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := client.Connect(ctx, ts.URL, client.WithTransports(client.WebSocket), client.WithReconnection(false))
	require.NoError(t, err)
	_, err = c.EmitWithAck(ctx, "join", "lobby")
	require.NoError(t, err)
	answer, err := c.EmitWithAck(ctx, "echo", []byte{1, 2, 3})
	require.NoError(t, err)
	var b []byte
	require.NoError(t, answer.Bind(&b))
	assert.Equal(t, []byte{1, 2, 3}, b)
	_, err = c.EmitWithAck(ctx, "boom") // answered {"error":"internal error"}
	require.NoError(t, err)
	_, err = c.EmitWithAck(ctx, "over") // the fourth event: {"error":"rate limited"}
	require.NoError(t, err)

	mid := `
# HELP vicinity_connections Open Engine.IO connections, by their current transport.
# TYPE vicinity_connections gauge
vicinity_connections{transport="polling"} 0
vicinity_connections{transport="websocket"} 1
# HELP vicinity_handler_panics_total Handlers that panicked; the panics were recovered.
# TYPE vicinity_handler_panics_total counter
vicinity_handler_panics_total 1
# HELP vicinity_namespaces Namespaces, dynamic ones included.
# TYPE vicinity_namespaces gauge
vicinity_namespaces 1
# HELP vicinity_room_memberships Room memberships of sockets, without the room of each socket's own id.
# TYPE vicinity_room_memberships gauge
vicinity_room_memberships 1
# HELP vicinity_sockets Connected sockets, in all namespaces.
# TYPE vicinity_sockets gauge
vicinity_sockets 1
# HELP vicinity_events_refused_total Events from clients not handled, by reason.
# TYPE vicinity_events_refused_total counter
vicinity_events_refused_total{reason="rate limited"} 1
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(mid),
		"vicinity_connections", "vicinity_handler_panics_total", "vicinity_namespaces",
		"vicinity_room_memberships", "vicinity_sockets", "vicinity_events_refused_total"))

	c.Manager().Close()
	after := `
# HELP vicinity_connections Open Engine.IO connections, by their current transport.
# TYPE vicinity_connections gauge
vicinity_connections{transport="polling"} 0
vicinity_connections{transport="websocket"} 0
# HELP vicinity_connections_opened_total Engine.IO connections opened, by transport and Engine.IO protocol.
# TYPE vicinity_connections_opened_total counter
vicinity_connections_opened_total{protocol="4",transport="websocket"} 1
# HELP vicinity_room_joins_total Rooms joined by sockets, without their own.
# TYPE vicinity_room_joins_total counter
vicinity_room_joins_total 1
# HELP vicinity_room_leaves_total Rooms left by sockets, without their own.
# TYPE vicinity_room_leaves_total counter
vicinity_room_leaves_total 1
# HELP vicinity_room_memberships Room memberships of sockets, without the room of each socket's own id.
# TYPE vicinity_room_memberships gauge
vicinity_room_memberships 0
# HELP vicinity_sockets Connected sockets, in all namespaces.
# TYPE vicinity_sockets gauge
vicinity_sockets 0
# HELP vicinity_socket_connects_total Sockets connected to a namespace.
# TYPE vicinity_socket_connects_total counter
vicinity_socket_connects_total 1
`
	names := []string{"vicinity_connections", "vicinity_connections_opened_total",
		"vicinity_room_joins_total", "vicinity_room_leaves_total", "vicinity_room_memberships",
		"vicinity_sockets", "vicinity_socket_connects_total"}
	if !assert.Eventually(t, func() bool {
		return testutil.GatherAndCompare(reg, strings.NewReader(after), names...) == nil
	}, wait, time.Millisecond) {
		require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(after), names...))
	}

	packets := map[[2]string]float64{ // what the client sends at the end races its close
		{"in", "connect"}: 1, {"in", "event"}: 3, {"in", "binary_event"}: 1, {"in", "ack"}: 0,
		{"out", "connect"}: 1, {"out", "ack"}: 3, {"out", "binary_ack"}: 1, {"out", "event"}: 0, {"out", "disconnect"}: 0,
	}
	for k, want := range packets {
		assert.Equal(t, want, value(t, reg, "vicinity_packets_total", "direction", k[0], "type", k[1]), "packets %s %s", k[0], k[1])
	}
	for _, dir := range []string{"in", "out"} {
		assert.Positive(t, value(t, reg, "vicinity_bytes_total", "direction", dir, "transport", "websocket"), "bytes %s", dir)
	}
	assert.Equal(t, 1.0, value(t, reg, "vicinity_socket_disconnects_total"), "one socket disconnected")
}

// value returns the sum of the samples of metric name whose labels match
// the pairs given.
func value(t *testing.T, reg prom.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || lp.GetName() == labels[i] && lp.GetValue() == labels[i+1]
				}
				if !found {
					continue metrics
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}
