// Package prometheus exposes the metrics of a vicinity server
// (package realtime) to Prometheus, with
// github.com/prometheus/client_golang. It is a module of its own, so that
// programs that do not import it do not depend on client_golang.
//
//	m := prometheus.New()
//	srv := realtime.New(realtime.WithObserver(m))
//	reg := prom.NewRegistry() // client_golang's prometheus package
//	reg.MustRegister(m)
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// # Metrics
//
// Engine.IO connections (transport is "polling" or "websocket"):
//
//	vicinity_connections{transport}                        gauge    open connections, by their transport now
//	vicinity_connections_opened_total{transport,protocol}  counter  opened (protocol "4", or "3" for Socket.IO 2 clients)
//	vicinity_connections_closed_total{transport,reason}    counter  closed, by reason ("transport close", "ping timeout", "slow client", …)
//	vicinity_upgrades_total{transport}                     counter  polling → websocket upgrades
//	vicinity_bytes_total{direction,transport}              counter  Engine.IO packet bytes in and out, framing excluded
//	vicinity_dropped_packets_total{transport}              counter  volatile packets dropped from full send queues
//	vicinity_slow_client_closes_total                      counter  connections closed because their send queue overflowed
//
// Socket.IO (type is "connect", "disconnect", "event", "ack",
// "connect_error", "binary_event" or "binary_ack"; direction "in" or
// "out"):
//
//	vicinity_namespaces                         gauge    namespaces, dynamic ones included
//	vicinity_sockets                            gauge    connected sockets, all namespaces
//	vicinity_socket_connects_total              counter  sockets connected
//	vicinity_socket_disconnects_total{reason}   counter  sockets disconnected, by reason
//	vicinity_connect_refusals_total             counter  CONNECTs answered with connect_error
//	vicinity_room_memberships                   gauge    (socket, room) pairs, without each socket's own room
//	vicinity_room_joins_total                   counter  rooms joined, likewise
//	vicinity_room_leaves_total                  counter  rooms left, likewise
//	vicinity_packets_total{direction,type}      counter  packets decoded from clients and queued for them (a broadcast counts one per recipient)
//	vicinity_events_refused_total{reason}       counter  events not handled: "rate limited", "overloaded"
//	vicinity_ack_timeouts_total                 counter  acknowledgements EmitWithAck stopped waiting for
//	vicinity_handler_panics_total               counter  handlers that panicked (recovered)
//
// Presence and location (with realtime.WithPresence and WithSpatial):
//
//	vicinity_presence_tracked                   gauge    sockets tracked, counted once per room and once for the namespace
//	vicinity_spatial_members                    gauge    located sockets (positions expired by the index are not subtracted)
//	vicinity_spatial_updates_total              counter  locations set
//	vicinity_spatial_watches                    gauge    sockets watching
//	vicinity_spatial_events_total{event}        counter  nearby:state, nearby:enter, nearby:move, nearby:leave, area:enter, area:leave sent
//
// No metric has a namespace or room label: clients can name dynamic
// namespaces and rooms, and so would choose the series.
package prometheus

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vicinity-go/vicinity/realtime"
	"github.com/vicinity-go/vicinity/transport"
)

// Metrics is a [realtime.Observer] that keeps the server's metrics, and a
// [prometheus.Collector] that exposes them. Install it with
// realtime.WithObserver and register it on a registry. One Metrics should
// observe one server. It is safe for concurrent use.
type Metrics struct {
	realtime.NopObserver

	connections    *prometheus.GaugeVec
	opened         *prometheus.CounterVec
	closed         *prometheus.CounterVec
	upgrades       *prometheus.CounterVec
	bytes          *prometheus.CounterVec
	dropped        *prometheus.CounterVec
	slowCloses     prometheus.Counter
	namespaces     prometheus.Gauge
	sockets        prometheus.Gauge
	connects       prometheus.Counter
	disconnects    *prometheus.CounterVec
	refusals       prometheus.Counter
	memberships    prometheus.Gauge
	joins          prometheus.Counter
	leaves         prometheus.Counter
	packets        *prometheus.CounterVec
	refused        *prometheus.CounterVec
	ackTimeouts    prometheus.Counter
	panics         prometheus.Counter
	tracked        prometheus.Gauge
	located        prometheus.Gauge
	locationSets   prometheus.Counter
	watches        prometheus.Gauge
	spatialEvents  *prometheus.CounterVec
	all            []prometheus.Collector
	packetsIn      [len(realtime.PacketTypes)]prometheus.Counter
	packetsOut     [len(realtime.PacketTypes)]prometheus.Counter
	byTransport    [2]transportMetrics // polling, websocket
	otherTransport transportMetrics    // any other name: looked up
}

// transportMetrics are the hot counters of one transport, resolved once.
type transportMetrics struct {
	bytesIn, bytesOut, dropped prometheus.Counter
}

var _ realtime.Observer = (*Metrics)(nil)
var _ prometheus.Collector = (*Metrics)(nil)

// New returns the metrics, all zero.
func New() *Metrics {
	m := &Metrics{}
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
		m.all = append(m.all, c)
		return c
	}
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
		m.all = append(m.all, g)
		return g
	}
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		m.all = append(m.all, c)
		return c
	}
	m.connections = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vicinity_connections", Help: "Open Engine.IO connections, by their current transport."}, []string{"transport"})
	m.all = append(m.all, m.connections)
	m.opened = counterVec("vicinity_connections_opened_total", "Engine.IO connections opened, by transport and Engine.IO protocol.", "transport", "protocol")
	m.closed = counterVec("vicinity_connections_closed_total", "Engine.IO connections closed, by transport and reason.", "transport", "reason")
	m.upgrades = counterVec("vicinity_upgrades_total", "Connections upgraded from polling, by the new transport.", "transport")
	m.bytes = counterVec("vicinity_bytes_total", "Bytes of Engine.IO packets read (in) and written (out), without HTTP or WebSocket framing.", "direction", "transport")
	m.dropped = counterVec("vicinity_dropped_packets_total", "Volatile packets dropped because a client's send queue was full.", "transport")
	m.slowCloses = counter("vicinity_slow_client_closes_total", "Connections closed because their send queue overflowed.")
	m.namespaces = gauge("vicinity_namespaces", "Namespaces, dynamic ones included.")
	m.sockets = gauge("vicinity_sockets", "Connected sockets, in all namespaces.")
	m.connects = counter("vicinity_socket_connects_total", "Sockets connected to a namespace.")
	m.disconnects = counterVec("vicinity_socket_disconnects_total", "Sockets disconnected, by reason.", "reason")
	m.refusals = counter("vicinity_connect_refusals_total", "CONNECT packets answered with connect_error.")
	m.memberships = gauge("vicinity_room_memberships", "Room memberships of sockets, without the room of each socket's own id.")
	m.joins = counter("vicinity_room_joins_total", "Rooms joined by sockets, without their own.")
	m.leaves = counter("vicinity_room_leaves_total", "Rooms left by sockets, without their own.")
	m.packets = counterVec("vicinity_packets_total", "Socket.IO packets decoded from clients (in) and queued for them (out), by type.", "direction", "type")
	m.refused = counterVec("vicinity_events_refused_total", "Events from clients not handled, by reason.", "reason")
	m.ackTimeouts = counter("vicinity_ack_timeouts_total", "Acknowledgements that EmitWithAck stopped waiting for when its context ended.")
	m.panics = counter("vicinity_handler_panics_total", "Handlers that panicked; the panics were recovered.")
	m.tracked = gauge("vicinity_presence_tracked", "Sockets tracked by presence, once per room and once for their namespace.")
	m.located = gauge("vicinity_spatial_members", "Sockets with a location.")
	m.locationSets = counter("vicinity_spatial_updates_total", "Locations set by sockets.")
	m.watches = gauge("vicinity_spatial_watches", "Sockets watching who is near them.")
	m.spatialEvents = counterVec("vicinity_spatial_events_total", "Spatial events sent to clients, by event name.", "event")

	for _, t := range realtime.PacketTypes {
		m.packetsIn[t] = m.packets.WithLabelValues("in", t.String())
		m.packetsOut[t] = m.packets.WithLabelValues("out", t.String())
	}
	for i, name := range []string{"polling", "websocket"} {
		m.byTransport[i] = m.transportMetrics(name)
		m.connections.WithLabelValues(name) // present from the start, at 0
	}
	return m
}

func (m *Metrics) transportMetrics(name string) transportMetrics {
	return transportMetrics{
		bytesIn:  m.bytes.WithLabelValues("in", name),
		bytesOut: m.bytes.WithLabelValues("out", name),
		dropped:  m.dropped.WithLabelValues(name),
	}
}

// of returns the counters of transport name without a map lookup for the
// two transports there are.
func (m *Metrics) of(name string) transportMetrics {
	switch name {
	case "polling":
		return m.byTransport[0]
	case "websocket":
		return m.byTransport[1]
	}
	return m.transportMetrics(name)
}

// Register registers the metrics on reg.
func (m *Metrics) Register(reg prometheus.Registerer) error { return reg.Register(m) }

// Describe implements [prometheus.Collector].
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.all {
		c.Describe(ch)
	}
}

// Collect implements [prometheus.Collector].
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.all {
		c.Collect(ch)
	}
}

// ConnOpened implements [realtime.Observer].
func (m *Metrics) ConnOpened(c *realtime.Conn) {
	t := c.Transport()
	m.connections.WithLabelValues(t).Inc()
	m.opened.WithLabelValues(t, strconv.Itoa(c.Protocol())).Inc()
}

// ConnUpgraded implements [realtime.Observer].
func (m *Metrics) ConnUpgraded(_ *realtime.Conn, t string) {
	m.connections.WithLabelValues("polling").Dec()
	m.connections.WithLabelValues(t).Inc()
	m.upgrades.WithLabelValues(t).Inc()
}

// ConnClosed implements [realtime.Observer].
func (m *Metrics) ConnClosed(c *realtime.Conn, reason string) {
	t := c.Transport()
	m.connections.WithLabelValues(t).Dec()
	m.closed.WithLabelValues(t, reason).Inc()
	if reason == transport.ReasonSlowClient {
		m.slowCloses.Inc()
	}
}

// BytesIn implements [realtime.Observer].
func (m *Metrics) BytesIn(t string, n int) { m.of(t).bytesIn.Add(float64(n)) }

// BytesOut implements [realtime.Observer].
func (m *Metrics) BytesOut(t string, n int) { m.of(t).bytesOut.Add(float64(n)) }

// PacketsDropped implements [realtime.Observer].
func (m *Metrics) PacketsDropped(t string, n int) { m.of(t).dropped.Add(float64(n)) }

// NamespaceCreated implements [realtime.Observer].
func (m *Metrics) NamespaceCreated(*realtime.Namespace) { m.namespaces.Inc() }

// NamespaceDropped implements [realtime.Observer].
func (m *Metrics) NamespaceDropped(*realtime.Namespace) { m.namespaces.Dec() }

// SocketConnected implements [realtime.Observer].
func (m *Metrics) SocketConnected(*realtime.Socket) {
	m.sockets.Inc()
	m.connects.Inc()
}

// SocketDisconnected implements [realtime.Observer].
func (m *Metrics) SocketDisconnected(_ *realtime.Socket, reason string) {
	m.sockets.Dec()
	m.disconnects.WithLabelValues(reason).Inc()
}

// ConnectRefused implements [realtime.Observer].
func (m *Metrics) ConnectRefused(*realtime.Conn, string, error) { m.refusals.Inc() }

// RoomJoined implements [realtime.Observer].
func (m *Metrics) RoomJoined(s *realtime.Socket, room string) {
	if room != s.ID() {
		m.memberships.Inc()
		m.joins.Inc()
	}
}

// RoomLeft implements [realtime.Observer].
func (m *Metrics) RoomLeft(s *realtime.Socket, room string) {
	if room != s.ID() {
		m.memberships.Dec()
		m.leaves.Inc()
	}
}

// PacketIn implements [realtime.Observer].
func (m *Metrics) PacketIn(t realtime.PacketType) {
	if int(t) < len(m.packetsIn) {
		m.packetsIn[t].Inc()
	}
}

// PacketsOut implements [realtime.Observer].
func (m *Metrics) PacketsOut(t realtime.PacketType, n int) {
	if int(t) < len(m.packetsOut) {
		m.packetsOut[t].Add(float64(n))
	}
}

// EventRefused implements [realtime.Observer].
func (m *Metrics) EventRefused(_ *realtime.Socket, _, reason string) {
	m.refused.WithLabelValues(reason).Inc()
}

// AckTimedOut implements [realtime.Observer].
func (m *Metrics) AckTimedOut(_ *realtime.Namespace, _ string, missing int) {
	m.ackTimeouts.Add(float64(missing))
}

// HandlerPanicked implements [realtime.Observer].
func (m *Metrics) HandlerPanicked(*realtime.Socket, string) { m.panics.Inc() }

// PresenceTracked implements [realtime.Observer].
func (m *Metrics) PresenceTracked(*realtime.Socket, string) { m.tracked.Inc() }

// PresenceUntracked implements [realtime.Observer].
func (m *Metrics) PresenceUntracked(*realtime.Socket, string) { m.tracked.Dec() }

// Located implements [realtime.Observer].
func (m *Metrics) Located(_ *realtime.Socket, added bool) {
	m.locationSets.Inc()
	if added {
		m.located.Inc()
	}
}

// Unlocated implements [realtime.Observer].
func (m *Metrics) Unlocated(*realtime.Socket) { m.located.Dec() }

// WatchStarted implements [realtime.Observer].
func (m *Metrics) WatchStarted(*realtime.Socket) { m.watches.Inc() }

// WatchEnded implements [realtime.Observer].
func (m *Metrics) WatchEnded(*realtime.Socket) { m.watches.Dec() }

// SpatialEvents implements [realtime.Observer].
func (m *Metrics) SpatialEvents(event string, n int) {
	m.spatialEvents.WithLabelValues(event).Add(float64(n))
}
