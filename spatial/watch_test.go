package spatial_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/spatial"
)

// metersPerDegree is the length of a degree of latitude on the sphere.
const metersPerDegree = spatial.EarthRadius * math.Pi / 180

// north returns the position m meters north of the point (0, lng).
func north(m, lng float64) spatial.Position {
	return at(m/metersPerDegree, lng)
}

// recorder collects an index's events.
type recorder[K comparable] struct {
	mu  sync.Mutex
	evs []spatial.Event[K]
}

// recorded returns an index made with opts whose events rec records.
func recorded(opts ...spatial.Option) (x *spatial.Index[string], rec *recorder[string]) {
	rec = new(recorder[string])
	return spatial.New[string](append(opts, spatial.WithEvents(rec.handle))...), rec
}

func (r *recorder[K]) handle(ev spatial.Event[K]) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, ev)
}

// expanded wraps an event handler to see a State as the Enter events of
// the members its watcher did not see already (a State lists them too).
func expanded[K comparable](fn func(spatial.Event[K])) func(spatial.Event[K]) {
	type pair struct{ w, m K }
	var mu sync.Mutex
	seen := map[pair]bool{}
	return func(ev spatial.Event[K]) {
		for _, e := range ev.Expand() {
			p := pair{e.Watcher, e.Member}
			mu.Lock()
			known := seen[p]
			switch e.Kind {
			case spatial.Enter:
				seen[p] = true
			case spatial.Leave:
				delete(seen, p)
			}
			mu.Unlock()
			if ev.Kind == spatial.State && known {
				continue
			}
			fn(e)
		}
	}
}

// take returns the events recorded since the last take but the moves, as
// kind, cause, watcher and member, ignoring distances and positions.
func (r *recorder[K]) take() []spatial.Event[K] {
	var out []spatial.Event[K]
	for _, st := range r.takeAll() {
		for _, ev := range st.Expand() {
			if ev.Kind != spatial.Move {
				ev.Distance, ev.Position = 0, spatial.Position{}
				out = append(out, ev)
			}
		}
	}
	return out
}

// takeAll returns the events recorded since the last take, as they are.
func (r *recorder[K]) takeAll() []spatial.Event[K] {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.evs
	r.evs = nil
	return out
}

func enter[K comparable](w, m K) spatial.Event[K] {
	return spatial.Event[K]{Kind: spatial.Enter, Watcher: w, Member: m}
}

func leave[K comparable](w, m K, c spatial.Cause) spatial.Event[K] {
	return spatial.Event[K]{Kind: spatial.Leave, Cause: c, Watcher: w, Member: m}
}

func sortedWatching[K comparable](t *testing.T, x *spatial.Index[K], id K, less func(a, b K) int) []K {
	t.Helper()
	in, ok := x.Watching(id)
	require.True(t, ok, "Watching(%v)", id)
	slices.SortFunc(in, less)
	return in
}

func TestWatchEnterLeave(t *testing.T) {
	t.Parallel()
	x, rec := recorded()
	require.NoError(t, x.Set("w", north(0, 0)))
	require.NoError(t, x.Set("near", north(50, 0)))
	require.NoError(t, x.Set("far", north(500, 0)))

	require.NoError(t, x.Watch("w", 100))
	assert.Equal(t, []spatial.Event[string]{enter("w", "near")}, rec.take(), "members inside enter at Watch")

	require.NoError(t, x.Set("far", north(99, 0)))
	assert.Equal(t, []spatial.Event[string]{enter("w", "far")}, rec.take())
	require.NoError(t, x.Set("far", north(-80, 0)))
	assert.Empty(t, rec.take(), "a move inside the circle is silent")
	require.NoError(t, x.Set("near", north(101, 0)))
	assert.Equal(t, []spatial.Event[string]{leave("w", "near", spatial.CauseFar)}, rec.take())
	require.NoError(t, x.Set("new", north(10, 0)))
	assert.Equal(t, []spatial.Event[string]{enter("w", "new")}, rec.take(), "a new member enters")
	assert.Equal(t, []string{"far", "new"}, sortedWatching(t, x, "w", cmpString))

	// The watcher does not see itself, and Remove of a member inside is a
	// Leave.
	assert.True(t, x.Remove("new"))
	assert.Equal(t, []spatial.Event[string]{leave("w", "new", spatial.CauseRemoved)}, rec.take())

	// Unwatch: Leave for everyone inside.
	assert.True(t, x.Unwatch("w"))
	assert.False(t, x.Unwatch("w"))
	assert.Equal(t, []spatial.Event[string]{leave("w", "far", spatial.CauseUnwatched)}, rec.take())
	_, ok := x.Watching("w")
	assert.False(t, ok)
	require.NoError(t, x.Set("near", north(1, 0)))
	assert.Empty(t, rec.take(), "no events after Unwatch")
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestWatchDistance(t *testing.T) {
	t.Parallel()
	x, rec := recorded()
	require.NoError(t, x.Set("w", north(0, 0)))
	require.NoError(t, x.Watch("w", 100))
	assert.Equal(t, []spatial.Event[string]{{Kind: spatial.State, Watcher: "w", Members: []spatial.Hit[string]{}}}, rec.takeAll(), "an empty watch starts")
	require.NoError(t, x.Set("m", north(40, 0)))
	evs := rec.takeAll()
	require.Len(t, evs, 1)
	assert.InDelta(t, 40, evs[0].Distance, 1e-6)
}

// A new watch reports what it holds in one State event, nearest first,
// at most its capacity; others enter as space frees.
func TestWatchStateCapacity(t *testing.T) {
	t.Parallel()
	x, rec := recorded()
	require.NoError(t, x.Set("w", north(0, 0)))
	for i := range 10 {
		require.NoError(t, x.Set(fmt.Sprint(i), north(float64(100-i*10), 0))) // 9 is the nearest
	}
	require.NoError(t, x.Set("far", north(5000, 0)))
	rec.takeAll()
	require.NoError(t, x.Watch("w", 1000, spatial.WithCapacity(4)))
	evs := rec.takeAll()
	require.Len(t, evs, 1)
	assert.Equal(t, spatial.State, evs[0].Kind)
	assert.Equal(t, []string{"9", "8", "7", "6"}, ids(evs[0].Members))
	assert.InDelta(t, 10, evs[0].Members[0].Distance, 1e-6)
	in, _ := x.Watching("w")
	assert.Len(t, in, 4)

	// Full: a member coming near does not enter.
	require.NoError(t, x.Set("far", north(5, 0)))
	assert.Empty(t, rec.take())
	// One leaves: the next to move in enters.
	require.NoError(t, x.Set("9", north(9000, 0)))
	assert.Equal(t, []spatial.Event[string]{leave("w", "9", spatial.CauseFar)}, rec.take())
	require.NoError(t, x.Set("far", north(6, 0)))
	assert.Equal(t, []spatial.Event[string]{enter("w", "far")}, rec.take())

	// Watching again is not a new watch: enters and leaves.
	require.NoError(t, x.Watch("w", 75, spatial.WithCapacity(4)))
	for _, ev := range rec.takeAll() {
		assert.NotEqual(t, spatial.State, ev.Kind)
	}
	require.Error(t, x.Watch("w", 75, spatial.WithCapacity(-1)))
	assert.Equal(t, spatial.WatchSettings{Margin: 2, Capacity: 3, Symmetric: true}, spatial.Settings(spatial.WithMargin(2), spatial.WithSymmetric(), spatial.WithCapacity(3)))
	assert.Equal(t, spatial.WatchSettings{Dwell: 5}, spatial.Settings(spatial.WatchSettings{Margin: 1}.Option(), spatial.WatchSettings{Dwell: 5}.Option()))
}

func TestWatchMargin(t *testing.T) {
	t.Parallel()
	x, rec := recorded()
	require.NoError(t, x.Set("w", north(0, 0)))
	require.NoError(t, x.Watch("w", 100, spatial.WithMargin(20)))
	// Jitter around the radius: one Enter, no Leave.
	for _, m := range []float64{99, 101, 99.5, 110, 119, 98} {
		require.NoError(t, x.Set("m", north(m, 0)))
	}
	assert.Equal(t, []spatial.Event[string]{enter("w", "m")}, rec.take())
	require.NoError(t, x.Set("m", north(121, 0)))
	assert.Equal(t, []spatial.Event[string]{leave("w", "m", spatial.CauseFar)}, rec.take())
	// Between radius and radius+margin, an outsider does not enter.
	require.NoError(t, x.Set("m", north(110, 0)))
	assert.Empty(t, rec.take())

	// The watcher moving keeps the margin too.
	require.NoError(t, x.Set("m", north(50, 0)))
	assert.Equal(t, []spatial.Event[string]{enter("w", "m")}, rec.take())
	require.NoError(t, x.Set("w", north(-60, 0))) // 110 m away
	assert.Empty(t, rec.take())
	require.NoError(t, x.Set("w", north(-75, 0))) // 125 m away
	assert.Equal(t, []spatial.Event[string]{leave("w", "m", spatial.CauseFar)}, rec.take())
}

func TestWatchWatcherMoves(t *testing.T) {
	t.Parallel()
	x, rec := recorded()
	require.NoError(t, x.Set("a", north(0, 0)))
	require.NoError(t, x.Set("b", north(1000, 0)))
	require.NoError(t, x.Set("w", north(-500, 0)))
	require.NoError(t, x.Watch("w", 100))
	assert.Empty(t, rec.take())
	require.NoError(t, x.Set("w", north(50, 0)))
	assert.Equal(t, []spatial.Event[string]{enter("w", "a")}, rec.take())
	require.NoError(t, x.Set("w", north(950, 0)))
	assert.ElementsMatch(t, []spatial.Event[string]{leave("w", "a", spatial.CauseFar), enter("w", "b")}, rec.take())
	assert.Equal(t, []string{"b"}, sortedWatching(t, x, "w", cmpString))

	// Now b moves and is found in w's moved circle.
	require.NoError(t, x.Set("b", north(2000, 0)))
	assert.Equal(t, []spatial.Event[string]{leave("w", "b", spatial.CauseFar)}, rec.take())
}

func TestWatchRemove(t *testing.T) {
	t.Parallel()
	x, rec := recorded()
	for _, id := range []string{"w1", "w2", "w3"} {
		require.NoError(t, x.Set(id, north(0, 0)))
		require.NoError(t, x.Watch(id, 100))
	}
	rec.take() // the watchers see each other
	require.NoError(t, x.Set("m", north(10, 0)))
	assert.ElementsMatch(t, []spatial.Event[string]{enter("w1", "m"), enter("w2", "m"), enter("w3", "m")}, rec.take())
	assert.ElementsMatch(t, []string{"w1", "w2", "w3"}, x.WatchersOf("m"))
	assert.Empty(t, x.WatchersOf("nobody"))
	require.True(t, x.Remove("m"))
	assert.ElementsMatch(t, []spatial.Event[string]{leave("w1", "m", spatial.CauseRemoved), leave("w2", "m", spatial.CauseRemoved), leave("w3", "m", spatial.CauseRemoved)}, rec.take())

	// Removing a watcher: the others see it leave, it sees them leave (its
	// watch ends), and a new Set of the same id has no watch.
	require.True(t, x.Remove("w1"))
	assert.ElementsMatch(t, []spatial.Event[string]{leave("w2", "w1", spatial.CauseRemoved), leave("w3", "w1", spatial.CauseRemoved), leave("w1", "w2", spatial.CauseWatcherRemoved), leave("w1", "w3", spatial.CauseWatcherRemoved)}, rec.take())
	require.NoError(t, x.Set("w1", north(0, 0)))
	assert.ElementsMatch(t, []spatial.Event[string]{enter("w2", "w1"), enter("w3", "w1")}, rec.take())
	_, ok := x.Watching("w1")
	assert.False(t, ok)
}

func TestWatchInvalid(t *testing.T) {
	t.Parallel()
	x := spatial.New[string]()
	require.ErrorIs(t, x.Watch("nobody", 10), spatial.ErrNotFound)
	require.NoError(t, x.Set("w", north(0, 0)))
	for _, r := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		require.ErrorIs(t, x.Watch("w", r), spatial.ErrInvalidRadius, "radius %v", r)
	}
	for _, m := range []float64{-1, math.NaN(), math.Inf(1)} {
		require.ErrorIs(t, x.Watch("w", 10, spatial.WithMargin(m)), spatial.ErrInvalidRadius, "margin %v", m)
	}
	_, ok := x.Watching("w")
	assert.False(t, ok, "a refused watch is not kept")
	assert.Panics(t, func() { spatial.New[string](spatial.WithEvents[int](func(spatial.Event[int]) {})) })
	assert.Panics(t, func() { spatial.New[string](spatial.WithEvents[string](nil)) })
}

func TestWatchRewatch(t *testing.T) {
	t.Parallel()
	x, rec := recorded()
	require.NoError(t, x.Set("w", north(0, 0)))
	require.NoError(t, x.Set("a", north(50, 0)))
	require.NoError(t, x.Set("b", north(150, 0)))
	require.NoError(t, x.Watch("w", 100))
	assert.Equal(t, []spatial.Event[string]{enter("w", "a")}, rec.take())
	require.NoError(t, x.Watch("w", 200))
	assert.Equal(t, []spatial.Event[string]{enter("w", "b")}, rec.take())
	require.NoError(t, x.Watch("w", 10))
	assert.ElementsMatch(t, []spatial.Event[string]{leave("w", "a", spatial.CauseFar), leave("w", "b", spatial.CauseFar)}, rec.take())
}

// TestWatchAntimeridian watches across longitude ±180.
func TestWatchAntimeridian(t *testing.T) {
	t.Parallel()
	x, rec := recorded()
	require.NoError(t, x.Set("w", at(0, 179.9995)))
	require.NoError(t, x.Watch("w", 200))
	require.NoError(t, x.Set("m", at(0, -179.9995))) // about 111 m away
	assert.Equal(t, []spatial.Event[string]{enter("w", "m")}, rec.take())
	require.NoError(t, x.Set("m", at(0, -179.99)))
	assert.Equal(t, []spatial.Event[string]{leave("w", "m", spatial.CauseFar)}, rec.take())
}

// TestWatchHandlerReenters calls the index from the handler: it must not
// deadlock, and events of the nested call come after the current ones.
func TestWatchHandlerReenters(t *testing.T) {
	t.Parallel()
	var x *spatial.Index[string]
	var got []spatial.Event[string]
	x = spatial.New[string](spatial.WithEvents(expanded(func(ev spatial.Event[string]) {
		ev.Distance, ev.Position = 0, spatial.Position{}
		got = append(got, ev)
		_, err := x.Nearby(spatial.Point{}, 10, 0)
		assert.NoError(t, err)
		if ev.Kind == spatial.Enter && ev.Member == "m" {
			assert.NoError(t, x.Set("m", north(500, 0))) // bounce it out
		}
	})))
	require.NoError(t, x.Set("w", north(0, 0)))
	require.NoError(t, x.Watch("w", 100))
	require.NoError(t, x.Set("m", north(5, 0)))
	assert.Equal(t, []spatial.Event[string]{enter("w", "m"), leave("w", "m", spatial.CauseFar)}, got)
}

// TestPropertyWatch moves, adds and removes members at random, some of
// them watchers with random radii and margins, and checks after each step
// that every watch holds what hysteresis allows (exactly the members within
// the radius when the margin is zero) and that replaying the events gives
// the same sets.
func TestPropertyWatch(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		point func(*rand.Rand) spatial.Point
		scale float64
	}{
		{"city", cityPoint, 1},
		{"globe", globePoint, 2000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(propertySeed(11), 11))
			type pair struct{ w, m int }
			replay := map[pair]bool{}
			x := spatial.New[int](spatial.WithEvents(expanded(func(ev spatial.Event[int]) {
				p := pair{ev.Watcher, ev.Member}
				switch ev.Kind {
				case spatial.Enter:
					require.False(t, replay[p], "enter twice %v", p)
					replay[p] = true
				case spatial.Leave:
					require.True(t, replay[p], "leave without enter %v", p)
					delete(replay, p)
				}
			})))
			const n = 300
			pos := map[int]spatial.Point{}
			type wt struct {
				r, m      float64
				symmetric bool
			}
			watches := map[int]wt{}
			hidden := map[int]bool{}
			set := func(id int) {
				p := tt.point(rng)
				if q, ok := pos[id]; ok && rng.IntN(2) == 0 {
					// A small step, so members cross boundaries often.
					p = spatial.Point{Lat: math.Max(-90, math.Min(90, q.Lat+rng.NormFloat64()*0.002*tt.scale)), Lng: wrapLng(q.Lng + rng.NormFloat64()*0.003*tt.scale)}
				}
				require.NoError(t, x.Set(id, spatial.Position{Point: p}))
				pos[id] = p
			}
			for id := range n {
				set(id)
			}
			maxPairs, mirrored := 0, 0
			for step := range 3000 {
				id := rng.IntN(n)
				switch r := rng.IntN(24); {
				case r == 0:
					x.Remove(id)
					delete(pos, id)
					delete(hidden, id)
					if _, ok := watches[id]; ok {
						delete(watches, id)
					}
					for p := range replay {
						require.False(t, p.w == id || p.m == id, "pair %v outlives the removal", p)
					}
				case r <= 2:
					if _, ok := pos[id]; !ok {
						continue
					}
					w := wt{r: (50 + rng.Float64()*1000) * tt.scale, symmetric: rng.IntN(2) == 0}
					if rng.IntN(2) == 0 {
						w.m = rng.Float64() * 200 * tt.scale
					}
					opts := []spatial.WatchOption{spatial.WithMargin(w.m)}
					if w.symmetric {
						opts = append(opts, spatial.WithSymmetric())
					}
					require.NoError(t, x.Watch(id, w.r, opts...))
					watches[id] = w
				case r == 3:
					_, had := watches[id]
					assert.Equal(t, had, x.Unwatch(id))
					delete(watches, id)
				case r == 4:
					if _, ok := pos[id]; !ok {
						continue
					}
					hidden[id] = !hidden[id]
					require.True(t, x.SetHidden(id, hidden[id]))
				default:
					set(id)
				}
				if step%100 != 99 {
					continue
				}
				for vid := range pos {
					in, ok := x.Watching(vid)
					require.True(t, ok || len(watches) > 0 || len(in) == 0)
					seen := map[int]bool{}
					for _, m := range in {
						require.False(t, seen[m], "Watching(%d) lists %d once", vid, m)
						seen[m] = true
						require.True(t, replay[pair{vid, m}], "replayed events agree: %d sees %d", vid, m)
					}
					for mid, p := range pos {
						if mid == vid {
							require.False(t, seen[mid], "a member does not see itself")
							continue
						}
						d := spatial.Distance(pos[vid], p)
						own, hasOwn := watches[vid]
						back, hasBack := watches[mid]
						// A hidden member is in no watch, so it sees others
						// only through its own.
						hasBack = hasBack && back.symmetric && !hidden[vid]
						if hidden[mid] {
							require.False(t, seen[mid], "hidden %d is seen by %d", mid, vid)
							continue
						}
						if (hasOwn && d <= own.r) || (hasBack && d <= back.r) {
							require.True(t, seen[mid], "%d must see %d at %v m (own %+v %v, back %+v %v)", vid, mid, d, own, hasOwn, back, hasBack)
						}
						if (!hasOwn || d > own.r+own.m) && (!hasBack || d > back.r+back.m) {
							require.False(t, seen[mid], "%d must not see %d at %v m", vid, mid, d)
						}
						if seen[mid] && !(hasOwn && d <= own.r+own.m) {
							mirrored++
						}
					}
				}
				watchersOf := map[int][]int{}
				for p := range replay {
					watchersOf[p.m] = append(watchersOf[p.m], p.w)
				}
				for mid := range pos {
					if !assert.ElementsMatch(t, watchersOf[mid], x.WatchersOf(mid), "WatchersOf(%d)", mid) {
						for _, v := range watchersOf[mid] {
							wv, _ := x.Watching(v)
							t.Logf("step %d m=%d v=%d hidden m %v v %v watch v %+v watch m %+v d=%v watching(v)=%v", step, mid, v, hidden[mid], hidden[v], watches[v], watches[mid], spatial.Distance(pos[v], pos[mid]), wv)
						}
						t.FailNow()
					}
				}
				maxPairs = max(maxPairs, len(replay))
			}
			assert.Positive(t, mirrored, "some members are seen only through symmetric watches")
			t.Logf("up to %d pairs inside watches", maxPairs)
			assert.Greater(t, maxPairs, 20, "the watches hold members")
		})
	}
}

func TestWatchConcurrent(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	inside := map[[2]int]bool{}
	var moves, outside int // moves, and moves of a member not inside
	x := spatial.New[int](spatial.WithEvents(expanded(func(ev spatial.Event[int]) {
		mu.Lock()
		defer mu.Unlock()
		p := [2]int{ev.Watcher, ev.Member}
		if ev.Kind == spatial.Move {
			moves++
			if !inside[p] {
				outside++
			}
			return
		}
		inside[p] = ev.Kind == spatial.Enter
	})))
	const n = 200
	for i := range n {
		require.NoError(t, x.Set(i, spatial.Position{Point: cityPoint(rand.New(rand.NewPCG(uint64(i), 1)))}))
		if i%10 == 0 {
			require.NoError(t, x.Watch(i, 2000))
		}
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 2))
			for range 500 {
				id := rng.IntN(n)
				assert.NoError(t, x.Set(id, spatial.Position{Point: cityPoint(rng)}))
				_, err := x.Nearby(cityPoint(rng), 500, 0)
				assert.NoError(t, err)
				_, _ = x.Watching(id - id%10)
			}
		})
	}
	wg.Wait()
	// Events were delivered in order: the last event of each pair agrees
	// with the watches.
	mu.Lock()
	defer mu.Unlock()
	assert.Positive(t, moves)
	assert.Zero(t, outside, "a move comes only between an enter and a leave")
	for w := 0; w < n; w += 10 {
		in, ok := x.Watching(w)
		require.True(t, ok)
		got := map[int]bool{}
		for _, m := range in {
			got[m] = true
		}
		for m := range n {
			assert.Equal(t, got[m], inside[[2]int{w, m}], "watch %d member %d", w, m)
		}
	}
}

// TestWatchHandlerPanics: a panic in the handler reaches the caller, and
// later events are still delivered.
func TestWatchHandlerPanics(t *testing.T) {
	t.Parallel()
	var got []spatial.Event[string]
	x := spatial.New[string](spatial.WithEvents(expanded(func(ev spatial.Event[string]) {
		if ev.Member == "boom" {
			panic("boom")
		}
		ev.Distance, ev.Position = 0, spatial.Position{}
		got = append(got, ev)
	})))
	require.NoError(t, x.Set("w", north(0, 0)))
	require.NoError(t, x.Watch("w", 100))
	assert.Panics(t, func() { _ = x.Set("boom", north(1, 0)) })
	require.NoError(t, x.Set("m", north(2, 0)))
	assert.Equal(t, []spatial.Event[string]{enter("w", "m")}, got)
	in, _ := x.Watching("w")
	assert.ElementsMatch(t, []string{"boom", "m"}, in, "the index changed before the handler ran")
}

// propertySeed returns the seed of a property test: def, or the value of
// VICINITY_SEED to explore others.
func propertySeed(def uint64) uint64 {
	if v, err := strconv.ParseUint(os.Getenv("VICINITY_SEED"), 10, 64); err == nil {
		return v
	}
	return def
}

func TestWatchSymmetric(t *testing.T) {
	t.Parallel()
	x, rec := recorded()
	require.NoError(t, x.Set("a", north(0, 0)))
	require.NoError(t, x.Set("b", north(500, 0)))
	require.NoError(t, x.Watch("a", 1000, spatial.WithSymmetric()))
	assert.Equal(t, []spatial.Event[string]{enter("a", "b"), enter("b", "a")}, rec.take(),
		"b sees a without a watch of its own")
	assert.Equal(t, []string{"b"}, sortedWatching(t, x, "a", cmpString))
	in, own := x.Watching("b")
	assert.Equal(t, []string{"a"}, in)
	assert.False(t, own, "b has no watch of its own")
	assert.Equal(t, []string{"b"}, x.WatchersOf("a"), "b gets a's moves")

	// b's own smaller watch adds nothing b did not see; a farther member
	// entering a's watch sees a too.
	require.NoError(t, x.Watch("b", 800))
	evs := rec.takeAll()
	require.Len(t, evs, 1, "b already sees a: its state lists a")
	assert.Equal(t, spatial.State, evs[0].Kind)
	assert.Equal(t, []string{"a"}, ids(evs[0].Members), "the whole of b's view")
	require.NoError(t, x.Set("c", north(-900, 0)))
	assert.Equal(t, []spatial.Event[string]{enter("a", "c"), enter("c", "a")}, rec.take())

	// b goes beyond a's radius but stays within its own: a stops seeing b,
	// b still sees a through its own watch... but a is beyond b's 800 m.
	require.NoError(t, x.Set("b", north(1200, 0)))
	assert.ElementsMatch(t, []spatial.Event[string]{leave("a", "b", spatial.CauseFar), leave("b", "a", spatial.CauseFar)}, rec.take())
	require.NoError(t, x.Set("b", north(700, 0)))
	assert.ElementsMatch(t, []spatial.Event[string]{enter("a", "b"), enter("b", "a")}, rec.take(),
		"one Enter each, though two watches hold the pair")

	// Turning symmetry off: those who saw a only through it stop seeing it.
	require.NoError(t, x.Watch("a", 1000))
	assert.Equal(t, []spatial.Event[string]{leave("c", "a", spatial.CauseUnwatched)}, rec.take(), "c has no watch; b sees a with its own")
	require.NoError(t, x.Watch("a", 1000, spatial.WithSymmetric()))
	assert.Equal(t, []spatial.Event[string]{enter("c", "a")}, rec.take())

	// Hiding a: nobody sees a, a still sees everyone.
	require.True(t, x.SetHidden("a", true))
	assert.ElementsMatch(t, []spatial.Event[string]{leave("b", "a", spatial.CauseHidden), leave("c", "a", spatial.CauseHidden)}, rec.take())
	assert.Equal(t, []string{"b", "c"}, sortedWatching(t, x, "a", cmpString))
	assert.Empty(t, x.WatchersOf("a"))
	require.True(t, x.SetHidden("a", false))
	assert.ElementsMatch(t, []spatial.Event[string]{enter("b", "a"), enter("c", "a")}, rec.take())

	// Hiding c, which has no watch: c leaves a's watch, so it no longer
	// sees a either.
	require.True(t, x.SetHidden("c", true))
	assert.ElementsMatch(t, []spatial.Event[string]{leave("a", "c", spatial.CauseHidden), leave("c", "a", spatial.CauseWatcherHidden)}, rec.take())
	require.True(t, x.SetHidden("c", false))
	assert.ElementsMatch(t, []spatial.Event[string]{enter("a", "c"), enter("c", "a")}, rec.take())

	// Removing a: Leave both ways.
	assert.True(t, x.Remove("a"))
	assert.ElementsMatch(t, []spatial.Event[string]{leave("b", "a", spatial.CauseRemoved), leave("c", "a", spatial.CauseRemoved), leave("a", "b", spatial.CauseWatcherRemoved), leave("a", "c", spatial.CauseWatcherRemoved)}, rec.take())
	in, _ = x.Watching("c")
	assert.Empty(t, in)

	// Unwatch of a symmetric watch: Leave both ways.
	require.NoError(t, x.Set("a", north(0, 0)))
	assert.Equal(t, []spatial.Event[string]{enter("b", "a")}, rec.take(), "a is within b's own watch")
	require.NoError(t, x.Watch("a", 1000, spatial.WithSymmetric()))
	assert.ElementsMatch(t, []spatial.Event[string]{enter("a", "b"), enter("a", "c"), enter("c", "a")}, rec.take())
	assert.True(t, x.Unwatch("a"))
	assert.ElementsMatch(t, []spatial.Event[string]{leave("a", "b", spatial.CauseUnwatched), leave("a", "c", spatial.CauseUnwatched), leave("c", "a", spatial.CauseUnwatched)}, rec.take(),
		"b keeps seeing a with its own watch")
}

func TestWatchDwell(t *testing.T) {
	t.Parallel()
	x, rec := recorded()
	defer x.Close()
	require.NoError(t, x.Set("w", north(0, 0)))
	require.NoError(t, x.Set("m", north(50, 0)))
	require.NoError(t, x.Watch("w", 100, spatial.WithMargin(20), spatial.WithDwell(time.Hour)))
	assert.Equal(t, []spatial.Event[string]{enter("w", "m")}, rec.take())

	// A jump out and back within the dwell: no events.
	require.NoError(t, x.Set("m", north(5000, 0)))
	require.NoError(t, x.Set("m", north(110, 0)))
	assert.Empty(t, rec.take(), "back within radius+margin before the dwell is up")
	assert.Zero(t, x.Expire(time.Now().Add(2*time.Hour)))
	assert.Empty(t, rec.take(), "the cancelled leave does not fall due")

	// Out for good: the leave falls due after the dwell.
	require.NoError(t, x.Set("m", north(5000, 0)))
	x.Expire(time.Now().Add(30 * time.Minute))
	assert.Empty(t, rec.take(), "not yet")
	assert.Equal(t, []string{"m"}, sortedWatching(t, x, "w", cmpString), "still inside while dwelling")
	x.Expire(time.Now().Add(61 * time.Minute))
	assert.Equal(t, []spatial.Event[string]{leave("w", "m", spatial.CauseFar)}, rec.take())

	// The watcher moving away dwells too.
	require.NoError(t, x.Set("m", north(10, 0)))
	assert.Equal(t, []spatial.Event[string]{enter("w", "m")}, rec.take())
	require.NoError(t, x.Set("w", north(3000, 0)))
	assert.Empty(t, rec.take())
	x.Expire(time.Now().Add(61 * time.Minute))
	assert.Equal(t, []spatial.Event[string]{leave("w", "m", spatial.CauseFar)}, rec.take())

	// Removing a dwelling member is an immediate Leave, and watching again
	// without a dwell ends the dwells at once.
	require.NoError(t, x.Set("m", north(3010, 0)))
	require.NoError(t, x.Set("n", north(3020, 0)))
	assert.ElementsMatch(t, []spatial.Event[string]{enter("w", "m"), enter("w", "n")}, rec.take())
	require.NoError(t, x.Set("m", north(9000, 0)))
	require.NoError(t, x.Set("n", north(9000, 0)))
	assert.Empty(t, rec.take())
	assert.True(t, x.Remove("m"))
	assert.Equal(t, []spatial.Event[string]{leave("w", "m", spatial.CauseRemoved)}, rec.take())
	require.NoError(t, x.Watch("w", 100))
	assert.Equal(t, []spatial.Event[string]{leave("w", "n", spatial.CauseFar)}, rec.take())

	require.ErrorIs(t, x.Watch("w", 100, spatial.WithDwell(-time.Second)), spatial.ErrInvalidRadius)
}

func TestWatchDwellTimer(t *testing.T) {
	t.Parallel()
	x, rec := recorded()
	defer x.Close()
	require.NoError(t, x.Set("w", north(0, 0)))
	require.NoError(t, x.Set("m", north(50, 0)))
	require.NoError(t, x.Watch("w", 100, spatial.WithDwell(20*time.Millisecond)))
	assert.Equal(t, []spatial.Event[string]{enter("w", "m")}, rec.take())
	require.NoError(t, x.Set("m", north(500, 0)))
	// The timer delivers the leave without another call into the index.
	var got []spatial.Event[string]
	require.Eventually(t, func() bool {
		got = append(got, rec.take()...)
		return len(got) > 0
	}, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, []spatial.Event[string]{leave("w", "m", spatial.CauseFar)}, got)

	// After Close, dwells end only through Expire.
	require.NoError(t, x.Set("m", north(50, 0)))
	assert.Equal(t, []spatial.Event[string]{enter("w", "m")}, rec.take())
	require.NoError(t, x.Close())
	require.NoError(t, x.Set("m", north(500, 0)))
	x.Expire(time.Now().Add(time.Second))
	assert.Equal(t, []spatial.Event[string]{leave("w", "m", spatial.CauseFar)}, rec.take())
}

// Showing a hidden member somewhere else never shows it where it hid.
func TestPlaceShowsAfterMoving(t *testing.T) {
	t.Parallel()
	x, rec := recorded()
	defer x.Close()
	require.NoError(t, x.Set("w", north(0, 0)))
	require.NoError(t, x.Watch("w", 100, spatial.WithDwell(time.Hour)))
	_, err := x.Place("m", north(50, 0), spatial.Privacy{Hidden: true})
	require.NoError(t, err)
	assert.Empty(t, rec.take())
	_, err = x.Place("m", north(5000, 0), spatial.Privacy{})
	require.NoError(t, err)
	assert.Empty(t, rec.take(), "no events at the old position")
	in, _ := x.Watching("w")
	assert.Empty(t, in)
}

// Watching again changes what must change and nothing else.
func TestRewatchWithoutFlaps(t *testing.T) {
	t.Parallel()
	x, rec := recorded()
	defer x.Close()
	require.NoError(t, x.Set("w", north(0, 0)))
	require.NoError(t, x.Set("m", north(50, 0)))
	require.NoError(t, x.Watch("w", 100, spatial.WithDwell(time.Hour)))
	assert.Equal(t, []spatial.Event[string]{enter("w", "m")}, rec.take())

	// m dwells beyond 100 m; a wider watch without a dwell keeps it.
	require.NoError(t, x.Set("m", north(150, 0)))
	require.NoError(t, x.Watch("w", 200))
	assert.Empty(t, rec.take(), "m stays inside")

	// Symmetric and smaller: m leaves, and never sees w.
	require.NoError(t, x.Watch("w", 100, spatial.WithSymmetric()))
	assert.Equal(t, []spatial.Event[string]{leave("w", "m", spatial.CauseFar)}, rec.take())

	// A shorter dwell shortens the pending leaves.
	require.NoError(t, x.Watch("w", 100, spatial.WithDwell(time.Hour)))
	require.NoError(t, x.Set("m", north(90, 0)))
	assert.Equal(t, []spatial.Event[string]{enter("w", "m")}, rec.take())
	require.NoError(t, x.Set("m", north(500, 0)))
	require.NoError(t, x.Watch("w", 100, spatial.WithDwell(time.Second)))
	assert.Empty(t, rec.take())
	x.Expire(time.Now().Add(2 * time.Second))
	assert.Equal(t, []spatial.Event[string]{leave("w", "m", spatial.CauseFar)}, rec.take(), "the 1 s dwell is up")
}
