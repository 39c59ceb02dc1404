package transport

import (
	"sync"
	"time"

	"github.com/vicinity-go/vicinity/internal/eio"
)

// chunkLen is how many packets a queue chunk holds (1,280 bytes).
const chunkLen = 32

type queueChunk [chunkLen]Packet

// chunkPool holds empty queue chunks between uses.
var chunkPool = sync.Pool{New: func() any { return new(queueChunk) }}

// packetQueue is a connection's send queue: packets in fixed-size chunks
// from a pool, so that a queue grows without copying what it holds and
// gives its memory back when it is drained. Clients that stop reading at
// the same time and get the same broadcasts grow their queues in step: as
// slices, a thousand of them reallocated and copied their whole backlogs
// in the same broadcast at every doubling, a burst of garbage and page
// faults that delayed every other recipient by tens of milliseconds.
//
// The first inlineLen packets stay in the queue itself: most sends queue one
// or two packets that the writer takes at once, and a chunk from the pool
// for each, drawn and given back by ten thousand connections in one
// broadcast, touched a new cache line and page for every recipient (about
// 1.5x the time per recipient of a broadcast to 10,000 sockets).
type packetQueue struct {
	head   [inlineLen]Packet
	chunks []*queueChunk // the packets past head
	n      int           // packets queued
	half   time.Time     // when the queue reached StallBacklog/2 packets, if it has
}

// inlineLen is how many packets a queue holds without a chunk.
const inlineLen = 2

// len returns how many packets are queued.
func (q *packetQueue) len() int { return q.n }

// push appends p. The clock is read once per backlog, not per packet: when
// the queue reaches half of StallBacklog (see WithStallTimeout).
func (q *packetQueue) push(p Packet) {
	if q.n == StallBacklog/2 {
		q.half = time.Now()
	}
	if q.n < inlineLen {
		q.head[q.n] = p
		q.n++
		return
	}
	i := (q.n - inlineLen) % chunkLen
	if i == 0 {
		q.chunks = append(q.chunks, chunkPool.Get().(*queueChunk))
	}
	q.chunks[len(q.chunks)-1][i] = p
	q.n++
}

// at returns the i-th queued packet, for replacing it in place.
func (q *packetQueue) at(i int) *Packet {
	if i < inlineLen {
		return &q.head[i]
	}
	i -= inlineLen
	return &q.chunks[i/chunkLen][i%chunkLen]
}

// dropped marks a packet taken back from the queue (Conn.DropLatest):
// appendTo leaves it out.
const dropped eio.Type = 0xff

// appendTo appends what is queued to dst, in order, and empties the queue.
func (q *packetQueue) appendTo(dst []Packet) []Packet {
	for _, p := range q.head[:min(inlineLen, q.n)] {
		if p.Type != dropped {
			dst = append(dst, p)
		}
	}
	rest := q.n - inlineLen
	for i, ch := range q.chunks {
		for _, p := range ch[:min(chunkLen, rest-i*chunkLen)] {
			if p.Type != dropped {
				dst = append(dst, p)
			}
		}
	}
	q.reset()
	return dst
}

// reset empties the queue; its chunks go back to the pool cleared, so that
// the pool keeps no packet's data alive.
func (q *packetQueue) reset() {
	clear(q.head[:min(inlineLen, q.n)])
	rest := q.n - inlineLen
	for i, ch := range q.chunks {
		clear(ch[:min(chunkLen, rest-i*chunkLen)])
		chunkPool.Put(ch)
	}
	clear(q.chunks)
	q.chunks, q.n, q.half = q.chunks[:0], 0, time.Time{}
}

// stalled reports whether StallBacklog packets or more wait and half of
// them have waited longer than d.
func (q *packetQueue) stalled(d time.Duration) bool {
	return q.n >= StallBacklog && time.Since(q.half) > d
}
