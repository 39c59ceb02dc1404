package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vicinity-go/vicinity/transport"
)

// openPolling connects n clients to nsp over polling, in process: no
// network, no goroutine per client. It returns their sockets.
func openPolling(tb testing.TB, srv *Server, n int) []*Socket {
	tb.Helper()
	socks := make([]*Socket, 0, n)
	for range n {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/socket.io/?EIO=4&transport=polling", nil))
		var open struct{ SID string }
		if err := json.Unmarshal(rec.Body.Bytes()[1:], &open); err != nil {
			tb.Fatalf("handshake: %v: %q", err, rec.Body.String())
		}
		rec = httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/socket.io/?EIO=4&transport=polling&sid="+open.SID, strings.NewReader("40")))
		if rec.Body.String() != "ok" {
			tb.Fatalf("connect: %q", rec.Body.String())
		}
	}
	nsp := srv.Of("/")
	nsp.mu.RLock()
	for _, s := range nsp.sockets {
		socks = append(socks, s)
	}
	nsp.mu.RUnlock()
	if len(socks) != n {
		tb.Fatalf("%d sockets connected, want %d", len(socks), n)
	}
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
		srv := New()
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
