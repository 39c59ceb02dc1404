package redis

import (
	"context"
	"errors"
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
	o.queue = append(o.queue, outCmd{cmd.Pin(), done}) // pinned: it may be sent twice
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

// flush sends the queue, in batches. Once the outbox is closing, what is
// left after the request timeout fails instead.
func (o *outbox) flush() {
	var deadline time.Time
	for {
		o.mu.Lock()
		if o.stopped && deadline.IsZero() {
			deadline = time.Now().Add(o.timeout)
		}
		if o.stopped && time.Now().After(deadline) {
			left := o.queue
			o.queue = nil
			o.mu.Unlock()
			for _, c := range left {
				if c.done != nil {
					c.done(fmt.Errorf("%w: adapter closed", ErrUnavailable))
				}
			}
			return
		}
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
		errs := o.sendBatch(batch)
		for i, c := range batch {
			if c.done != nil {
				c.done(errs[i])
			}
		}
	}
}

// sendBatch sends batch in one pipeline and returns each command's error.
// The commands that failed on a broken connection, without an answer from
// Redis (one left idle while Redis restarted fails so, once), are sent
// again once, in order, on another.
func (o *outbox) sendBatch(batch []outCmd) []error {
	errs := make([]error, len(batch))
	var again []int
	cmds := make(rueidis.Commands, 0, len(batch))
	for _, c := range batch {
		cmds = append(cmds, c.cmd)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	for i, r := range o.client.DoMulti(ctx, cmds...) {
		errs[i] = r.Error()
		if connError(errs[i]) {
			again = append(again, i)
		}
	}
	if len(again) > 0 {
		cmds = cmds[:0]
		for _, i := range again {
			cmds = append(cmds, batch[i].cmd)
		}
		for j, r := range o.client.DoMulti(ctx, cmds...) {
			errs[again[j]] = r.Error()
		}
	}
	for i, err := range errs {
		if err != nil {
			errs[i] = errUnavailable(err)
		}
	}
	return errs
}

// connError reports whether err is a broken connection's, not an answer
// of Redis nor the end of a context: the command never ran.
func connError(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	_, answered := rueidis.IsRedisErr(err)
	return !answered && !rueidis.IsRedisNil(err)
}

// doRetry runs one command, again once if it failed on a broken
// connection.
func doRetry(ctx context.Context, c rueidis.Client, cmd rueidis.Completed) rueidis.RedisResult {
	cmd = cmd.Pin()
	res := c.Do(ctx, cmd)
	if connError(res.Error()) {
		res = c.Do(ctx, cmd)
	}
	return res
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
