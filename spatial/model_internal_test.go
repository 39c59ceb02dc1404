package spatial

// A model test of the watches: random mixes of every operation (Set,
// Place, Remove, Watch with any margin, dwell and symmetry, Unwatch,
// SetHidden, Expire with members and dwells falling due), checking after
// each one that replaying the events gives exactly the relation the index
// reports, that its internal sets agree, that the geometry holds, and that
// no pair gets two events from one call, and that every Leave has the cause
// the operation calls for and every Enter the member's position.
// VICINITY_SEEDS sets the number of
// runs (40), VICINITY_GLOBE=1 runs them around the antimeridian and the
// north pole.

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

type modelPair struct{ w, m int }

type model struct {
	t      *testing.T
	x      *Index[int]
	replay map[modelPair]bool
	log    []string
	errs   []string
	opEvs  map[modelPair]int
	// causes, set before each operation, returns the causes a Leave from
	// it may have.
	causes func(ev Event[int]) []Cause
	// leaveAt, likewise, returns where a Leave's member must be said to
	// be.
	leaveAt func(ev Event[int]) Point
}

func (z *model) handle(ev Event[int]) {
	if ev.Kind == Expired { // the removal's events came before it
		return
	}
	p := modelPair{ev.Watcher, ev.Member}
	switch ev.Kind {
	case Enter:
		if z.replay[p] {
			z.errs = append(z.errs, fmt.Sprintf("enter twice %v", p))
		}
		z.replay[p] = true
		if at, ok := z.x.Get(ev.Member); !ok || at.Point != ev.Position.Point {
			z.errs = append(z.errs, fmt.Sprintf("enter %v at %v, member at %v", p, ev.Position.Point, at.Point))
		}
	case Leave:
		if !z.replay[p] {
			z.errs = append(z.errs, fmt.Sprintf("leave without enter %v", p))
		}
		delete(z.replay, p)
		if want := z.leaveAt(ev); ev.Position.Point != want {
			z.errs = append(z.errs, fmt.Sprintf("leave %v at %v, want %v", p, ev.Position.Point, want))
		}
		if want := z.causes(ev); !slices.Contains(want, ev.Cause) {
			z.errs = append(z.errs, fmt.Sprintf("leave %v of cause %v, want one of %v", p, ev.Cause, want))
		}
	}
	z.log = append(z.log, fmt.Sprintf("  ev %v %d->%d %v", ev.Kind, ev.Watcher, ev.Member, ev.Cause))
	z.opEvs[p]++
}

func (z *model) fail(msg string, args ...any) {
	z.t.Helper()
	tail := z.log
	if len(tail) > 60 {
		tail = tail[len(tail)-60:]
	}
	for _, l := range tail {
		z.t.Log(l)
	}
	z.t.Fatalf(msg, args...)
}

// check verifies the replay invariant and internal consistency.
func (z *model) check(now time.Time) {
	z.t.Helper()
	if len(z.errs) > 0 {
		z.fail("event errors: %v", z.errs)
	}
	x := z.x
	x.mu.RLock()
	defer x.mu.RUnlock()
	rel := map[modelPair]bool{}
	nw := 0
	for id, e := range x.members {
		if e.id != id {
			z.fail("id mismatch")
		}
		for _, m := range x.seen(e) {
			p := modelPair{id, m.id}
			if rel[p] {
				z.fail("seen lists twice %v", p)
			}
			rel[p] = true
			if !sees(e, m) {
				z.fail("seen vs sees disagree %v", p)
			}
		}
		for _, v := range x.viewers(e) {
			if !sees(v, e) {
				z.fail("viewers vs sees %d %d", v.id, id)
			}
		}
		if e.hidden && len(e.watchers) > 0 {
			z.fail("hidden %d has watchers", id)
		}
		for w := range e.watchers {
			if _, ok := w.inside[e]; !ok {
				z.fail("watchers/inside mismatch")
			}
			if w.owner.watch != w {
				z.fail("stale watch in watchers of %d", id)
			}
		}
		if w := e.watch; w != nil {
			nw++
			if w.owner != e {
				z.fail("owner")
			}
			for m := range w.inside {
				if x.members[m.id] != m {
					z.fail("removed member %d inside watch of %d", m.id, id)
				}
				if _, ok := m.watchers[w]; !ok {
					z.fail("inside/watchers mismatch")
				}
				if m.hidden {
					z.fail("hidden inside")
				}
				d := chord2ToMeters(chord2(e.v, m.v))
				_, leaving := w.leaving[m]
				if !leaving && d > (w.radius+w.margin)*(1+1e-6)+1e-6 {
					z.fail("%d inside watch of %d at %v > r+m %v and not leaving (dwell %v)", m.id, id, d, w.radius+w.margin, w.dwell)
				}
				if leaving && d < (w.radius+w.margin)*(1-1e-6) {
					z.fail("%d leaving watch of %d at %v < r+m %v", m.id, id, d, w.radius+w.margin)
				}
			}
			for m, at := range w.leaving {
				if _, ok := w.inside[m]; !ok {
					z.fail("leaving not inside")
				}
				if w.dwell == 0 {
					z.fail("leaving entry with dwell 0")
				}
				if !at.After(now) {
					// due: should have been expired if Expire(now) was the last op; tolerated
					_ = at
				}
				if _, ok := x.dwell.watches[w]; !ok {
					z.fail("watch with leaving not in dwell.watches")
				}
				if !x.dwell.closed && (x.dwell.next.IsZero() || x.dwell.next.After(at)) {
					z.fail("timer next %v after leave at %v", x.dwell.next, at)
				}
			}
			// every non-hidden member within radius must be inside
			for _, m := range x.members {
				if m == e || m.hidden {
					continue
				}
				d := chord2ToMeters(chord2(e.v, m.v))
				if d < w.radius*(1-1e-9) {
					if _, ok := w.inside[m]; !ok {
						z.fail("%d within radius %v of %d (d=%v) but not inside", m.id, w.radius, id, d)
					}
				}
			}
		}
	}
	if (nw == 0) != (x.wtree.Len() == 0) {
		z.fail("%d watches, %d boxes in the watch tree", nw, x.wtree.Len())
	}
	for p := range rel {
		if !z.replay[p] {
			z.fail("relation has %v, replay does not", p)
		}
	}
	for p := range z.replay {
		if !rel[p] {
			z.fail("replay has %v, relation does not", p)
		}
	}
	// public API agreement
	for id := range x.members {
		_ = id
	}
}

func TestModelWatches(t *testing.T) {
	seeds := 40
	if s, err := strconv.Atoi(os.Getenv("VICINITY_SEEDS")); err == nil {
		seeds = s
	}
	for seed := range seeds {
		t.Run(strconv.Itoa(seed), func(t *testing.T) {
			runModel(t, uint64(seed), 1500)
		})
	}
}

func runModel(t *testing.T, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, 99))
	z := &model{t: t, replay: map[modelPair]bool{}, opEvs: map[modelPair]int{}}
	x := New[int](WithEvents(func(ev Event[int]) {
		for _, e := range ev.Expand() {
			if ev.Kind == State && z.replay[modelPair{e.Watcher, e.Member}] {
				continue // a State lists those seen already too
			}
			z.handle(e)
		}
	}), WithMaxAge(10*time.Hour))
	defer x.Close()
	z.x = x
	const n = 10
	base := time.Now()
	clock := base // virtual time for Position.Time
	pos := map[int]Point{}
	scale := 1.0
	if os.Getenv("VICINITY_GLOBE") != "" {
		scale = 4000
	}
	pt := func(id int) Point {
		var p Point
		if q, ok := pos[id]; ok && rng.IntN(3) != 0 {
			p = Point{Lat: q.Lat + rng.NormFloat64()*0.0005*scale, Lng: q.Lng + rng.NormFloat64()*0.0005*scale}
		} else if scale > 1 {
			// around the antimeridian and the north pole
			p = Point{Lat: 60 + rng.Float64()*30, Lng: 170 + rng.Float64()*20}
		} else {
			p = Point{Lat: rng.Float64() * 0.005, Lng: rng.Float64() * 0.005}
		}
		p.Lat = max(-90, min(90, p.Lat))
		for p.Lng > 180 {
			p.Lng -= 360
		}
		for p.Lng < -180 {
			p.Lng += 360
		}
		return p
	}
	for step := range steps {
		id := rng.IntN(n)
		var desc string
		z.leaveAt = stays(pos) // unless the operation moves id
		switch r := rng.IntN(20); {
		case r < 6:
			p := pt(id)
			desc = fmt.Sprintf("Set(%d, %v)", id, p)
			z.log = append(z.log, desc)
			z.causes, z.leaveAt = only(CauseFar), movesTo(id, p, pos)
			if err := x.Set(id, Position{Point: p, Time: clock}); err != nil {
				t.Fatal(err)
			}
			pos[id] = p
		case r < 9:
			p := pt(id)
			h := rng.IntN(2) == 0
			desc = fmt.Sprintf("Place(%d, %v, %v)", id, p, h)
			z.log = append(z.log, desc)
			z.causes, z.leaveAt = only(CauseFar), movesTo(id, p, pos)
			if _, in := x.Get(id); in && h && !x.Hidden(id) {
				// Hiding and moving: e loses its own watch's members
				// to the move, and is lost where it was.
				z.causes, z.leaveAt = func(ev Event[int]) []Cause {
					if ev.Member == id {
						return []Cause{CauseHidden}
					}
					return []Cause{CauseWatcherHidden, CauseFar}
				}, stays(pos)
			}
			if _, err := x.Place(id, Position{Point: p, Time: clock}, Privacy{Hidden: h}); err != nil {
				t.Fatal(err)
			}
			pos[id] = p
		case r < 10:
			desc = fmt.Sprintf("Remove(%d)", id)
			z.log = append(z.log, desc)
			z.causes = removes(x)
			x.Remove(id)
			delete(pos, id)
		case r < 14:
			radius := (50 + rng.Float64()*400) * scale
			var opts []WatchOption
			margin := 0.0
			if rng.IntN(2) == 0 {
				margin = rng.Float64() * 150 * scale
				opts = append(opts, WithMargin(margin))
			}
			var dwell time.Duration
			switch rng.IntN(3) {
			case 1:
				dwell = time.Hour
			case 2:
				dwell = 2 * time.Hour
			}
			if dwell > 0 {
				opts = append(opts, WithDwell(dwell))
			}
			sym := rng.IntN(2) == 0
			if sym {
				opts = append(opts, WithSymmetric())
			}
			desc = fmt.Sprintf("Watch(%d, r=%.0f m=%.0f dwell=%v sym=%v)", id, radius, margin, dwell, sym)
			z.log = append(z.log, desc)
			// The watcher's view shrinks; the others may also lose
			// the symmetry.
			z.causes = func(ev Event[int]) []Cause {
				if ev.Member == id {
					return []Cause{CauseFar, CauseUnwatched}
				}
				return []Cause{CauseFar}
			}
			_ = x.Watch(id, radius, opts...)
		case r < 15:
			desc = fmt.Sprintf("Unwatch(%d)", id)
			z.log = append(z.log, desc)
			z.causes = only(CauseUnwatched)
			x.Unwatch(id)
		case r < 17:
			h := rng.IntN(2) == 0
			desc = fmt.Sprintf("SetHidden(%d, %v)", id, h)
			z.log = append(z.log, desc)
			z.causes = hides(id)
			x.SetHidden(id, h)
		default:
			adv := time.Duration(rng.IntN(180)) * time.Minute
			now := time.Now().Add(adv)
			if rng.IntN(3) == 0 {
				clock = base.Add(-time.Duration(rng.IntN(12)) * time.Hour)
			} else {
				clock = base
			}
			desc = fmt.Sprintf("Expire(+%v)", adv)
			z.log = append(z.log, desc)
			z.causes = func(ev Event[int]) []Cause { // a dwell, or a removal
				if c := removes(x)(ev); c != nil {
					return c
				}
				return []Cause{CauseFar}
			}
			x.Expire(now)
			for id := range pos {
				if _, ok := x.Get(id); !ok {
					delete(pos, id)
				}
			}
		}
		_ = step
		z.check(time.Now())
		for p, c := range z.opEvs {
			if c > 1 {
				z.fail("%s: pair %v got %d events in one call", desc, p, c)
			}
		}
		z.opEvs = map[modelPair]int{}
	}
}

// only allows cause c.
func only(c Cause) func(Event[int]) []Cause {
	return func(Event[int]) []Cause { return []Cause{c} }
}

// hides gives the causes of member id hiding.
func hides(id int) func(Event[int]) []Cause {
	return func(ev Event[int]) []Cause {
		if ev.Member == id {
			return []Cause{CauseHidden}
		}
		return []Cause{CauseWatcherHidden}
	}
}

// removes gives the causes of a removal, once done: the member removed or
// the watcher removed (either, when both are); nil when neither is.
func removes(x *Index[int]) func(Event[int]) []Cause {
	return func(ev Event[int]) []Cause {
		var c []Cause
		if _, in := x.Get(ev.Member); !in {
			c = append(c, CauseRemoved)
		}
		if _, in := x.Get(ev.Watcher); !in {
			c = append(c, CauseWatcherRemoved)
		}
		return c
	}
}

// stays says a Leave's member is where the model last put it.
func stays(pos map[int]Point) func(Event[int]) Point {
	return func(ev Event[int]) Point { return pos[ev.Member] }
}

// movesTo says member id is at p and the others where they were.
func movesTo(id int, p Point, pos map[int]Point) func(Event[int]) Point {
	return func(ev Event[int]) Point {
		if ev.Member == id {
			return p
		}
		return pos[ev.Member]
	}
}
