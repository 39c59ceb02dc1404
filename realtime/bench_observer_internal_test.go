package realtime

import (
	"sync/atomic"
	"testing"
)

// countingObserver counts packets and bytes with atomics, as a metrics
// exporter would.
type countingObserver struct {
	NopObserver
	in, out, bytes atomic.Int64
}

func (o *countingObserver) PacketIn(PacketType)            { o.in.Add(1) }
func (o *countingObserver) PacketsOut(_ PacketType, n int) { o.out.Add(int64(n)) }
func (o *countingObserver) BytesIn(_ string, n int)        { o.bytes.Add(int64(n)) }
func (o *countingObserver) BytesOut(_ string, n int)       { o.bytes.Add(int64(n)) }

// observerCases are the servers BenchmarkObserver compares: none, one that
// does nothing, one that counts.
var observerCases = []struct {
	name string
	opts func() []Option
}{
	{"none", func() []Option { return nil }},
	{"nop", func() []Option { return []Option{WithObserver(NopObserver{})} }},
	{"counting", func() []Option { return []Option{WithObserver(&countingObserver{})} }},
}

// BenchmarkObserver measures what an observer costs on the hot paths: a
// broadcast to 1,000 sockets of a room (queues drained), and an event
// handled and acknowledged (decoded on the read loop, run on the socket's
// goroutine, its ack queued and drained).
func BenchmarkObserver(b *testing.B) {
	for _, oc := range observerCases {
		b.Run("broadcast/subs=1000/observer="+oc.name, func(b *testing.B) {
			const subs = 1000
			srv := New(oc.opts()...)
			defer srv.Close()
			socks := openPolling(b, srv, subs)
			for _, s := range socks {
				s.Join("room")
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := srv.To("room").Emit("msg", "hello"); err != nil {
					b.Fatal(err)
				}
				if got := drain(b, srv, socks); got != subs {
					b.Fatalf("drained %d packets, want %d", got, subs)
				}
			}
		})
	}
	for _, oc := range observerCases {
		b.Run("event/observer="+oc.name, func(b *testing.B) {
			srv := New(append(oc.opts(), WithEventRate(0, 0))...)
			defer srv.Close()
			done := make(chan struct{}, 1)
			srv.OnConnection(func(s *Socket) {
				s.On("e", func(e *Event) {
					_ = e.Ack(1)
					done <- struct{}{}
				})
			})
			socks := openPolling(b, srv, 1)
			s := socks[0]
			msg := []byte(`21["e",1]`) // EVENT with ack id 1
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				s.client.OnMessage(msg, false)
				<-done
				if got := drain(b, srv, socks); got != 1 {
					b.Fatalf("drained %d packets, want %d", got, 1)
				}
			}
		})
	}
}
