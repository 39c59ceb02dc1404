package client

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/vicinity-go/vicinity/internal/eio"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	c := newConfig(nil)
	tests := []struct {
		name string
		n    int
		r    float64
		want time.Duration
	}{
		{name: "first, jitter down", n: 0, r: 0, want: time.Second},
		{name: "first, r=0.1 goes up", n: 0, r: 0.1, want: 1050 * time.Millisecond},
		{name: "first, r=0.25 goes down", n: 0, r: 0.25, want: 875 * time.Millisecond},
		{name: "second", n: 1, r: 0, want: 2 * time.Second},
		{name: "third, r=0.2 down", n: 2, r: 0.2, want: 3600 * time.Millisecond},
		{name: "capped", n: 3, r: 0, want: 5 * time.Second},
		{name: "capped after jitter up", n: 2, r: 0.9, want: 5 * time.Second},
		{name: "huge attempt count", n: 1 << 20, r: 0.5, want: 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, c.backoff(tt.n, tt.r))
		})
	}
	off := newConfig([]Option{WithRandomization(0), WithReconnectionDelay(10*time.Millisecond, time.Second)})
	assert.Equal(t, 40*time.Millisecond, off.backoff(2, 0.9))
}

func TestTakeRespectsMaxPayload(t *testing.T) {
	t.Parallel()
	msg := func(n int) eio.Packet { return eio.Packet{Type: eio.Message, Data: make([]byte, n)} }
	tests := []struct {
		name       string
		transport  string
		maxPayload int
		sizes      []int // data sizes; each packet encodes to 1+size bytes
		want       []int // packets per batch
	}{
		{name: "all fit", transport: Polling, maxPayload: 100, sizes: []int{10, 10, 10}, want: []int{3}},
		{name: "exact fit", transport: Polling, maxPayload: 23, sizes: []int{10, 10, 10}, want: []int{2, 1}}, // 11+1+11 = 23
		{name: "one over", transport: Polling, maxPayload: 22, sizes: []int{10, 10, 10}, want: []int{1, 1, 1}},
		{name: "oversized packet goes alone", transport: Polling, maxPayload: 5, sizes: []int{10, 1, 1}, want: []int{1, 2}},
		{name: "no limit", transport: Polling, maxPayload: 0, sizes: []int{10, 10}, want: []int{2}},
		{name: "websocket takes all", transport: WebSocket, maxPayload: 5, sizes: []int{10, 10}, want: []int{2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := &engine{transport: tt.transport, maxPayload: tt.maxPayload}
			for _, n := range tt.sizes {
				e.queue = append(e.queue, msg(n))
			}
			var got []int
			for len(e.queue) > 0 {
				got = append(got, len(e.take(nil)))
			}
			assert.Equal(t, tt.want, got)
		})
	}
	bin := eio.Packet{Type: eio.Message, Data: []byte{1, 2, 3}, Binary: true} // "bAQID": 5 bytes
	e := &engine{transport: Polling, maxPayload: 11, queue: []eio.Packet{bin, bin, bin}}
	assert.Len(t, e.take(nil), 2, "binary counts as base64")
}
