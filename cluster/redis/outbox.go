package redis

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// outbox sends the commands of a hub's adapters (publishes, recoverable
// broadcasts) in the order they were queued, pipelined in batches, so that
// a broadcast does not wait for Redis: one socket's broadcasts go out at
// the pipeline's rate, not one per round trip. Past maxQueued commands,
// queuing waits.
type outbox struct {
	client  rueidis.Client
	timeout time.Duration

	mu      sync.Mutex
	queue   []outCmd
	space   *sync.Cond // signalled as the queue shrinks
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	stopped bool
}

// outCmd is a queued command; done, when set, gets its result.
type outCmd struct {
	cmd  rueidis.Completed
	done func(error)
}

const (
	maxQueued = 8192
	maxBatch  = 512
)

func newOutbox(client rueidis.Client, timeout time.Duration) *outbox {
	o := &outbox{client: client, timeout: timeout, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	o.space = sync.NewCond(&o.mu)
	go o.run()
	return o
}

// send queues cmd; done, if not nil, is called with its result from the
// outbox's goroutine. It waits while the queue is full, until ctx ends.
func (o *outbox) send(ctx context.Context, cmd rueidis.Completed, done func(error)) error {
	o.mu.Lock()
	if len(o.queue) >= maxQueued {
		stop := context.AfterFunc(ctx, func() {
			o.mu.Lock()
			o.space.Broadcast()
			o.mu.Unlock()
		})
		for len(o.queue) >= maxQueued && !o.stopped && ctx.Err() == nil {
			o.space.Wait()
		}
		stop()
	}
	switch {
	case o.stopped:
		o.mu.Unlock()
		return fmt.Errorf("%w: adapter closed", ErrUnavailable)
	case len(o.queue) >= maxQueued:
		o.mu.Unlock()
		return fmt.Errorf("%w: %d commands waiting for Redis", ErrUnavailable, maxQueued)
	}
	o.queue = append(o.queue, outCmd{cmd, done})
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return nil
}

// do queues cmd and waits for its result, or for ctx.
func (o *outbox) do(ctx context.Context, cmd rueidis.Completed) error {
	res := make(chan error, 1)
	if err := o.send(ctx, cmd, func(err error) { res <- err }); err != nil {
		return err
	}
	select {
	case err := <-res:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (o *outbox) run() {
	defer close(o.done)
	for {
		select {
		case <-o.wake:
		case <-o.stop:
			o.flush() // what was queued before the close
			return
		}
		o.flush()
	}
}

// flush sends the queue, in batches.
func (o *outbox) flush() {
	for {
		o.mu.Lock()
		n := min(len(o.queue), maxBatch)
		batch := make([]outCmd, n)
		copy(batch, o.queue)
		o.queue = o.queue[n:]
		if len(o.queue) == 0 {
			o.queue = nil
		}
		o.space.Broadcast()
		o.mu.Unlock()
		if n == 0 {
			return
		}
		cmds := make(rueidis.Commands, n)
		for i, c := range batch {
			cmds[i] = c.cmd
		}
		ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
		res := o.client.DoMulti(ctx, cmds...)
		cancel()
		for i, c := range batch {
			if c.done != nil {
				var err error
				if e := res[i].Error(); e != nil {
					err = errUnavailable(e)
				}
				c.done(err)
			}
		}
	}
}

// close sends what is queued and stops.
func (o *outbox) close() {
	o.mu.Lock()
	o.stopped = true
	o.space.Broadcast()
	o.mu.Unlock()
	close(o.stop)
	<-o.done
}
