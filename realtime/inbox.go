package realtime

import "sync"

// maxInbox bounds the handler calls one socket may have waiting while one
// of its handlers runs. A connection that sends more stops being read until
// there is room: TCP pushes back on the client, and memory stays bounded.
const maxInbox = 256

// inbox runs one socket's handler calls (its connection handlers, its events
// and its disconnect handlers) one at a time, in the order they were queued,
// on a goroutine that exists only while there is something to run. So a
// handler may block, on EmitWithAck or a database, without holding up the
// connection's read loop, which goes on resolving acknowledgements.
type inbox struct {
	srv *Server // counts running inboxes, for Shutdown

	mu      sync.Mutex
	jobs    []func()
	running bool          // a goroutine is draining jobs
	room    chan struct{} // made on first use, capacity 1: a job was taken
}

// push queues job, starting the inbox's goroutine if it is idle. With the
// inbox full it waits for room, or until done is closed (the connection
// closed: the job is dropped and push returns false).
func (q *inbox) push(job func(), done <-chan struct{}) bool {
	for {
		q.mu.Lock()
		if len(q.jobs) < maxInbox {
			q.jobs = append(q.jobs, job)
			start := !q.running
			q.running = true
			q.mu.Unlock()
			if start {
				q.srv.running.Add(1)
				go q.run()
			}
			return true
		}
		if q.room == nil {
			q.room = make(chan struct{}, 1)
		}
		room := q.room
		q.mu.Unlock()
		select {
		case <-room:
		case <-done:
			return false
		}
	}
}

// runNow runs job at once on the calling goroutine if the inbox is idle,
// and otherwise queues it after what is waiting (without a limit: it is the
// server's own job, not the client's). It reports whether job has run.
func (q *inbox) runNow(job func()) bool {
	q.mu.Lock()
	if !q.running {
		q.running = true
		q.mu.Unlock()
		job()
		q.mu.Lock()
		if len(q.jobs) == 0 {
			q.running = false
			q.mu.Unlock()
			return true
		}
		q.mu.Unlock()
		q.srv.running.Add(1)
		go q.run() // jobs queued while job ran
		return true
	}
	q.jobs = append(q.jobs, job)
	q.mu.Unlock()
	return false
}

// run drains the inbox.
func (q *inbox) run() {
	defer q.srv.running.Done()
	for {
		q.mu.Lock()
		if len(q.jobs) == 0 {
			q.running = false
			q.jobs = nil // an idle socket keeps no backlog array
			q.mu.Unlock()
			return
		}
		job := q.jobs[0]
		q.jobs[0] = nil
		q.jobs = q.jobs[1:]
		room := q.room
		q.mu.Unlock()
		if room != nil {
			select {
			case room <- struct{}{}:
			default: // a wake-up is pending already
			}
		}
		job()
	}
}
