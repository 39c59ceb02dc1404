package spatial

import "time"

// dwellTimer delivers the delayed leaves of [WithDwell]. It is guarded by
// the index's lock.
type dwellTimer[K comparable] struct {
	watches map[*watch[K]]struct{} // watches with members leaving
	timer   *time.Timer
	next    time.Time // when the timer fires; zero when it is not set
	closed  bool      // see Index.Close
}

// add notes that a member of w leaves at at, and sets the timer to fire
// by then.
func (d *dwellTimer[K]) add(x *Index[K], w *watch[K], at time.Time) {
	if d.watches == nil {
		d.watches = make(map[*watch[K]]struct{})
	}
	d.watches[w] = struct{}{}
	if !d.next.IsZero() && !at.Before(d.next) {
		return
	}
	d.schedule(x, at)
}

// schedule sets the timer to fire at at, unless the index is closed.
func (d *dwellTimer[K]) schedule(x *Index[K], at time.Time) {
	if d.closed {
		return
	}
	d.next = at
	wait := time.Until(at)
	if d.timer == nil {
		d.timer = time.AfterFunc(wait, x.dwellFired)
	} else {
		d.timer.Reset(wait)
	}
}

// dwellFired delivers the leaves that are due and sets the timer for the
// next.
func (x *Index[K]) dwellFired() {
	x.mu.Lock()
	x.dwell.next = time.Time{}
	var evs []Event[K]
	x.expireDwells(time.Now(), &evs)
	x.unlockAndDeliver(evs)
}

// expireDwells ends, with their Leave events, the dwells that are up by
// now, and sets the timer for the earliest left. x.mu is held.
func (x *Index[K]) expireDwells(now time.Time, evs *[]Event[K]) {
	d := &x.dwell
	var next time.Time
	for w := range d.watches {
		if w.owner.watch != w { // the watch ended
			delete(d.watches, w)
			continue
		}
		for m, at := range w.leaving {
			if !at.After(now) {
				x.unlink(w, m, CauseFar, evs)
			} else if next.IsZero() || at.Before(next) {
				next = at
			}
		}
		if len(w.leaving) == 0 {
			delete(d.watches, w)
		}
	}
	if !next.IsZero() && (d.next.IsZero() || next.Before(d.next)) {
		d.schedule(x, next)
	}
}

// stop stops the timer for good.
func (d *dwellTimer[K]) stop() {
	d.closed = true
	if d.timer != nil {
		d.timer.Stop()
	}
}
