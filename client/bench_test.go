package client_test

import (
	"context"
	"testing"

	"github.com/vicinity-go/vicinity/client"
	"github.com/vicinity-go/vicinity/realtime"
)

// BenchmarkEmitWithAck measures a round trip, event and acknowledgement,
// over WebSocket to a local server.
func BenchmarkEmitWithAck(b *testing.B) {
	srv, ts := serve(b, realtime.WithEventRate(0, 0))
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("echo", func(e *realtime.Event) { _ = e.Ack(e.JSON(0)) })
	})
	m := client.New(ts.URL, client.WithTransports(client.WebSocket))
	b.Cleanup(func() { _ = m.Close() })
	s := m.Socket("/")
	ctx := context.Background()
	if err := s.Connect(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.EmitWithAck(ctx, "echo", "hello"); err != nil {
			b.Fatal(err)
		}
	}
}
