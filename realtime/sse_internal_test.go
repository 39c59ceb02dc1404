package realtime

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEventStreamEncodesOnce checks that a broadcast is encoded once for
// every client of every EventStream it reaches, which all share its bytes.
func TestEventStreamEncodesOnce(t *testing.T) {
	srv := New(WithRecovery(60e9, true))
	defer srv.Close()
	a := srv.Of("/").EventStream([]string{"r"}, StreamOptions{})
	b := srv.Of("/").EventStream([]string{"r", "s"}, StreamOptions{})
	var clients []*streamClient
	for _, es := range []*EventStream{a, a, a, b, b} {
		c := &streamClient{wake: make(chan struct{}, 1)}
		es.mu.Lock()
		es.clients[c] = struct{}{}
		es.mu.Unlock()
		clients = append(clients, c)
	}
	const n = 10
	for i := range n {
		require.NoError(t, srv.To("r").Emit("tick", i))
	}
	require.NoError(t, srv.To("elsewhere").Emit("tick", -1)) // reaches no stream: not encoded
	assert.Equal(t, uint64(n), srv.streams.encoded.Load(), "encodings")
	first, _ := clients[0].take()
	require.Len(t, first, n)
	for i, c := range clients[1:] {
		q, slow := c.take()
		require.Len(t, q, n, "client %d", i+1)
		assert.False(t, slow)
		for j := range q {
			assert.Same(t, &first[j][0], &q[j][0], "client %d, event %d: the same bytes", i+1, j)
		}
	}
	assert.Equal(t, "event: tick\ndata: 0\nid: "+a.kept[0].id+"\n\n", string(first[0]))
}

// BenchmarkEventStreamBroadcast measures a broadcast to a room followed by
// an EventStream with 1000 clients: one encoding, a queue push per client.
func BenchmarkEventStreamBroadcast(b *testing.B) {
	srv := New()
	defer srv.Close()
	es := srv.Of("/").EventStream([]string{"r"}, StreamOptions{Buffer: 1 << 30})
	var clients []*streamClient
	for range 1000 {
		c := &streamClient{wake: make(chan struct{}, 1)}
		es.clients[c] = struct{}{}
		clients = append(clients, c)
	}
	msg := map[string]any{"name": "ada", "text": "hello"}
	b.ReportAllocs()
	for b.Loop() {
		_ = srv.To("r").Emit("chat", msg)
		for _, c := range clients {
			c.take()
		}
	}
}
