package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/presence"
	"github.com/vicinity-go/vicinity/spatial"
	"github.com/vicinity-go/vicinity/transport"
)

// openPolling connects n clients to nsp over polling, in process: no
// network, no goroutine per client. It returns their sockets.
func openPolling(tb testing.TB, srv *Server, n int) []*Socket {
	tb.Helper()
	return openPollingAs(tb, srv, n, func(int) string { return "40" })
}

// openPollingAs is openPolling with connect(i) as the i-th client's CONNECT
// packet.
func openPollingAs(tb testing.TB, srv *Server, n int, connect func(i int) string) []*Socket {
	tb.Helper()
	socks := make([]*Socket, 0, n)
	for i := range n {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/socket.io/?EIO=4&transport=polling", nil))
		var open struct{ SID string }
		if err := json.Unmarshal(rec.Body.Bytes()[1:], &open); err != nil {
			tb.Fatalf("handshake: %v: %q", err, rec.Body.String())
		}
		rec = httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/socket.io/?EIO=4&transport=polling&sid="+open.SID, strings.NewReader(connect(i))))
		if rec.Body.String() != "ok" {
			tb.Fatalf("connect: %q", rec.Body.String())
		}
	}
	nsp := srv.Of("/")
	// the CONNECTs are handled on the sockets' goroutines
	require.Eventually(tb, func() bool { return nsp.Len() == n }, 5*time.Second, time.Millisecond,
		"%d sockets connected, want %d", nsp.Len(), n)
	nsp.mu.RLock()
	for _, s := range nsp.sockets {
		socks = append(socks, s)
	}
	nsp.mu.RUnlock()
	drain(tb, srv, socks)
	return socks
}

// drain empties the sockets' send queues as a polling GET would and returns
// the number of packets taken.
func drain(tb testing.TB, srv *Server, socks []*Socket) int {
	var buf []transport.Packet
	n := 0
	for _, s := range socks {
		var err error
		buf, err = s.client.conn.Next(context.Background(), srv.transports[0], buf[:0])
		if err != nil {
			tb.Fatalf("drain: %v", err)
		}
		n += len(buf)
	}
	return n
}

// BenchmarkBroadcast measures a broadcast to every socket of a room: one
// encoding, then a push of the shared bytes to each send queue, then the
// queues drained as their writers would. Per-recipient cost must not grow
// with the payload.
func BenchmarkBroadcast(b *testing.B) {
	for _, subs := range []int{1000, 10000} {
		// nobody answers the pings of these sessions: they must outlive a
		// long run on a loaded machine
		srv := New(WithTransportOptions(transport.WithPingInterval(time.Hour), transport.WithPingTimeout(time.Hour)))
		socks := openPolling(b, srv, subs)
		for _, s := range socks {
			s.Join("room")
		}
		for _, size := range []int{16, 16 << 10} {
			payload := strings.Repeat("x", size)
			b.Run(fmt.Sprintf("subs=%d/payload=%d", subs, size), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := srv.To("room").Emit("msg", payload); err != nil {
						b.Fatal(err)
					}
					if got := drain(b, srv, socks); got != subs {
						b.Fatalf("drained %d packets, want %d", got, subs)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(subs), "ns/recipient")
			})
		}
		_ = srv.Close()
	}
}

// BenchmarkPresenceDiffFanout measures a status change in a published room
// of 1,000 members: the tracker's diff, encoded once and queued for every
// member, then the queues drained.
func BenchmarkPresenceDiffFanout(b *testing.B) {
	const members = 1000
	tracker := presence.New()
	defer tracker.Close()
	srv := New(
		WithPresence(tracker, func(s *Socket) (string, presence.Meta, error) {
			var auth struct{ User string }
			err := json.Unmarshal(s.Handshake().Auth, &auth)
			return auth.User, presence.Meta{}, err
		}),
		WithPresenceRooms(func(_, room string) bool { return room == "room" }),
	)
	defer srv.Close()
	socks := openPollingAs(b, srv, members, func(i int) string { return fmt.Sprintf(`40{"user":"u%d"}`, i) })
	for _, s := range socks {
		s.Join("room")
	}
	drain(b, srv, socks)
	statuses := []string{"away", "online"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		status := statuses[i%2] // a change every time: the first is "away"
		i++
		if err := socks[0].UpdatePresence(func(m *presence.Meta) { m.Status = status }); err != nil {
			b.Fatal(err)
		}
		if got := drain(b, srv, socks); got != members {
			b.Fatalf("drained %d packets, want %d", got, members)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/members, "ns/recipient")
}

// BenchmarkMoveWatched measures the whole location path of a moving socket:
// the index move, the watch diffs, and the events queued for the watchers
// (nearby:enter/leave, and nearby:move conflated per member). 10,000
// sockets in a 20 km city box each watch 500 m; a move is a random step of
// up to 200 m. The queues are drained every 1,000 moves, so that cost is
// counted too.
func BenchmarkMoveWatched(b *testing.B) {
	const n = 10000
	srv := New(
		WithSpatial(),
		WithLocationLimits(LocationLimits{UpdateRate: 1e12, UpdateBurst: 1 << 30, MaxSpeed: math.Inf(1)}),
		WithTransportOptions(transport.WithSendQueue(1<<20, 1<<30), transport.WithStallTimeout(0)),
	)
	defer srv.Close()
	socks := openPolling(b, srv, n)
	rng := rand.New(rand.NewPCG(1, 2))
	const lat0, lng0, span = 52.42, 13.25, 0.18 // ~20 km
	at := make([]spatial.Point, n)
	for i, s := range socks {
		at[i] = spatial.Point{Lat: lat0 + rng.Float64()*span, Lng: lng0 + rng.Float64()*span}
		if err := s.SetLocation(at[i], 10); err != nil {
			b.Fatal(err)
		}
	}
	for _, s := range socks {
		if err := s.Watch(500); err != nil {
			b.Fatal(err)
		}
	}
	drain(b, srv, socks)
	b.ReportAllocs()
	moves := 0
	for b.Loop() {
		i := rng.IntN(n)
		p := at[i]
		p.Lat = min(lat0+span, max(lat0, p.Lat+(rng.Float64()-0.5)*0.0036))
		p.Lng = min(lng0+span, max(lng0, p.Lng+(rng.Float64()-0.5)*0.0058))
		at[i] = p
		if err := socks[i].SetLocation(p, 10); err != nil {
			b.Fatal(err)
		}
		if moves++; moves%1000 == 0 {
			drainAny(b, srv, socks)
		}
	}
	drainAny(b, srv, socks)
}

// drainAny empties the sockets' queues, skipping the empty ones.
func drainAny(tb testing.TB, srv *Server, socks []*Socket) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Next returns at once for an empty queue
	var buf []transport.Packet
	for _, s := range socks {
		buf, _ = s.client.conn.Next(ctx, srv.transports[0], buf[:0])
	}
}
