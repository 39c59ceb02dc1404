package transport

// Observer is told about a [Server]'s traffic, for metrics: the packets
// and bytes each session reads and writes, and what its send queue drops.
// Install it with [WithObserver]. Its methods are called on the sessions'
// own goroutines (a read loop, a writer, a polling request, a sender), so
// they must be safe for concurrent use, return quickly and never block;
// they are called with no lock of the session held.
//
// Bytes are those of Engine.IO packets: the type byte and the data, binary
// data counted raw, without HTTP, WebSocket or polling payload framing.
type Observer interface {
	// Received is called for each packet read from a client, with the
	// name of the transport that read it and its size.
	Received(c *Conn, transport string, bytes int)
	// Sent is called when transport takes packets from the send queue to
	// write them, with their count and size.
	Sent(c *Conn, transport string, packets, bytes int)
	// Dropped is called when packets sent with [Conn.Send] (volatile) or
	// [Conn.SendLatest] are not queued because the queue is full. A full
	// queue that closes the session instead (a send that is not volatile)
	// shows as its close, with [ReasonSlowClient].
	Dropped(c *Conn, transport string, packets, bytes int)
}

// packetBytes is the size of pkts as [Observer] counts it.
func packetBytes(pkts []Packet) int {
	n := 0
	for _, p := range pkts {
		n += len(p.Data)
		if !p.Binary {
			n++
		}
	}
	return n
}

// observeReceived tells the observers about packet p read by c.
func (c *Conn) observeReceived(p Packet) {
	obs := c.srv.cfg.observers
	name := c.Transport()
	n := len(p.Data)
	if !p.Binary {
		n++
	}
	for _, o := range obs {
		o.Received(c, name, n)
	}
}
