package spatial

import (
	"fmt"
	"sync"
	"time"
)

// WithMaxAge sets how old a position may get: [Index.Expire] removes the
// members whose [Position.Time] is more than d before the time it is
// given, with the events [Index.Remove] produces. Members whose Time is
// zero (unknown) never expire, nor do replicas ([Index.PlaceShown]), which
// go when their owner says. Zero, the default, means positions never
// expire. New panics if d is negative.
func WithMaxAge(d time.Duration) Option {
	return func(c *config) {
		if d < 0 {
			panic(fmt.Sprintf("spatial: WithMaxAge: negative age %v", d))
		}
		c.maxAge = d
	}
}

// WithExpiryInterval makes the index call [Index.Expire] with the current
// time every d, from a timer (time.AfterFunc) that [Index.Close] stops.
// Zero, the default, means no timer: call Expire yourself. New panics if d
// is negative, or positive without [WithMaxAge].
func WithExpiryInterval(d time.Duration) Option {
	return func(c *config) {
		if d < 0 {
			panic(fmt.Sprintf("spatial: WithExpiryInterval: negative interval %v", d))
		}
		c.expiryInterval = d
	}
}

// expiry is the timer of [WithExpiryInterval].
type expiry struct {
	mu     sync.Mutex
	timer  *time.Timer
	closed bool
}

func (x *Index[K]) startExpiry(interval time.Duration) {
	x.expiry.mu.Lock() // the callback may run before the assignment
	defer x.expiry.mu.Unlock()
	x.expiry.timer = time.AfterFunc(interval, func() {
		x.Expire(time.Now())
		x.expiry.mu.Lock()
		defer x.expiry.mu.Unlock()
		if !x.expiry.closed {
			x.expiry.timer.Reset(interval)
		}
	})
}

// Close stops the timers of the index: the expiry timer of
// [WithExpiryInterval] and the timer that ends dwells ([WithDwell]); an
// expiry that is running finishes. The index stays usable: only the timers
// stop, and a dwell then ends only through [Index.Expire], or when the
// member comes back, is removed or hidden, or the watch ends or is watched
// again without a dwell. Close is idempotent and always returns nil.
func (x *Index[K]) Close() error {
	x.expiry.mu.Lock()
	if !x.expiry.closed {
		x.expiry.closed = true
		if x.expiry.timer != nil {
			x.expiry.timer.Stop()
		}
	}
	x.expiry.mu.Unlock()
	x.mu.Lock()
	x.dwell.stop()
	x.mu.Unlock()
	return nil
}

// Expire removes every member whose position was observed more than the
// maximum age ([WithMaxAge]) before now, but replicas
// ([Index.PlaceShown]), and returns how many it removed.
// Each removal produces the events of [Index.Remove]: [Leave] both ways
// between it and the members it saw or that saw it, [FenceLeave] for its
// fences; members removed in one call go in no particular order, so
// between two of them either may be the one removed first. It also ends
// the dwells
// ([WithDwell]) that are up by now, with their Leave events. It scans all
// members, under the write lock, when there is a maximum age.
func (x *Index[K]) Expire(now time.Time) int {
	var evs []Event[K]
	n := 0
	x.mu.Lock()
	if x.maxAge > 0 {
		cut := now.Add(-x.maxAge)
		for _, e := range x.members {
			if e.pos.Time.IsZero() || !e.pos.Time.Before(cut) || e.replica() {
				continue
			}
			x.drop(e, &evs)
			if x.events.fn != nil {
				evs = append(evs, Event[K]{Kind: Expired, Member: e.id})
			}
			n++
		}
	}
	x.expireDwells(now, &evs)
	x.unlockAndDeliver(evs)
	return n
}
