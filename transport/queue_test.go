package transport

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A queue longer than several chunks hands out its packets in order, lets
// one in a later chunk be replaced in place, and is empty afterwards; the
// chunks it gives back hold no packet. (Not parallel: nothing else may
// take those chunks from the pool meanwhile.)
func TestPacketQueue(t *testing.T) {
	for _, n := range []int{1, inlineLen, inlineLen + 1, inlineLen + chunkLen, inlineLen + chunkLen + 1, 3*chunkLen + 5} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			var q packetQueue
			for i := range n {
				q.push(Message([]byte(fmt.Sprint(i)), false))
			}
			require.Equal(t, n, q.len())
			*q.at(n - 1) = Message([]byte("last"), true)
			chunks := append([]*queueChunk(nil), q.chunks...)
			assert.Len(t, chunks, (max(0, n-inlineLen)+chunkLen-1)/chunkLen, "the first %d inline", inlineLen)

			got := q.appendTo([]Packet{Message([]byte("before"), false)})
			require.Len(t, got, n+1)
			assert.Equal(t, "before", string(got[0].Data))
			for i := range n - 1 {
				assert.Equal(t, fmt.Sprint(i), string(got[i+1].Data), "packet %d of %d", i, n)
			}
			assert.Equal(t, Message([]byte("last"), true), got[n])
			assert.Zero(t, q.len())
			assert.Empty(t, q.chunks)
			assert.Equal(t, [inlineLen]Packet{}, q.head, "cleared")
			for i, ch := range chunks {
				assert.Equal(t, queueChunk{}, *ch, "chunk %d given back", i)
			}

			q.push(Message([]byte("again"), false)) // usable after draining
			assert.Equal(t, []Packet{Message([]byte("again"), false)}, q.appendTo(nil))
		})
	}
}

// reset forgets what is queued and clears the chunks it gives back (not
// parallel, as TestPacketQueue).
func TestPacketQueueReset(t *testing.T) {
	var q packetQueue
	for range inlineLen + chunkLen + 2 {
		q.push(Message([]byte("x"), false))
	}
	chunks := append([]*queueChunk(nil), q.chunks...)
	q.reset()
	assert.Zero(t, q.len())
	assert.Empty(t, q.appendTo(nil))
	for i, ch := range chunks {
		assert.Equal(t, queueChunk{}, *ch, "chunk %d", i)
	}
}
