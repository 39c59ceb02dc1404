package realtime

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
)

// Bounds of the events one socket may have waiting while one of its
// handlers runs. An event beyond them is refused, as one over the rate
// limit is: the read loop never waits for a handler, so that it goes on
// taking acknowledgements and pings.
const (
	maxInbox      = 256
	maxInboxBytes = 4 << 20
)

// inbox runs one socket's handler calls (its middleware and connection
// handlers, its events, its disconnect handlers) one at a time, in the
// order they were queued, on a goroutine that exists only while there is
// something to run. So a handler may block, on EmitWithAck or a database,
// without holding up the connection's read loop.
type inbox struct {
	srv *Server // counts running inboxes, for Shutdown

	mu      sync.Mutex
	jobs    []job
	bytes   int  // the sizes of the queued events
	running bool // a goroutine is draining jobs
}

// job is one queued call; size counts against maxInboxBytes.
type job struct {
	run  func()
	size int
}

// push queues an event's handling, of size bytes, unless the inbox is full:
// false means refused. An event alone in the inbox is taken whatever its
// size (the transport bounds it).
func (q *inbox) push(run func(), size int) bool {
	q.mu.Lock()
	if len(q.jobs) > 0 && (len(q.jobs) >= maxInbox || q.bytes+size > maxInboxBytes) {
		q.mu.Unlock()
		return false
	}
	q.add(job{run: run, size: size})
	return true
}

// enqueue queues one of the server's own calls (a connect, a disconnect),
// which no limit refuses.
func (q *inbox) enqueue(run func()) {
	q.mu.Lock()
	q.add(job{run: run})
}

// add appends j and starts the goroutine if the inbox was idle. q.mu is
// held, and released.
func (q *inbox) add(j job) {
	q.jobs = append(q.jobs, j)
	q.bytes += j.size
	start := !q.running
	q.running = true
	q.mu.Unlock()
	if start {
		q.srv.active.add()
		go q.drain()
	}
}

// drain runs the queued jobs until there are none.
func (q *inbox) drain() {
	defer q.srv.active.done()
	for {
		q.mu.Lock()
		if len(q.jobs) == 0 {
			q.running = false
			q.jobs = nil // an idle socket keeps no backlog array
			q.mu.Unlock()
			return
		}
		j := q.jobs[0]
		q.jobs[0] = job{}
		q.jobs = q.jobs[1:]
		q.bytes -= j.size
		q.mu.Unlock()
		q.call(j.run)
	}
}

// call runs one job. User handlers recover their own panics; one here is
// the server's or a plug-in's (an adapter, a presence store): it is logged
// and the inbox goes on.
func (q *inbox) call(run func()) {
	defer func() {
		if v := recover(); v != nil {
			q.srv.cfg.logger.Error("panic in a socket's goroutine", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	run()
}

// activity counts the inboxes running, so that Shutdown can wait for them
// to be idle. The zero value is ready.
type activity struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to zero; nil while none waits
}

func (a *activity) add() {
	a.mu.Lock()
	a.n++
	a.mu.Unlock()
}

func (a *activity) done() {
	a.mu.Lock()
	a.n--
	if a.n == 0 && a.idle != nil {
		close(a.idle)
		a.idle = nil
	}
	a.mu.Unlock()
}

// wait returns when no inbox runs, or ctx.Err() when ctx ends first.
func (a *activity) wait(ctx context.Context) error {
	a.mu.Lock()
	if a.n == 0 {
		a.mu.Unlock()
		return nil
	}
	if a.idle == nil {
		a.idle = make(chan struct{})
	}
	idle := a.idle
	a.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
