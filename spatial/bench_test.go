package spatial_test

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/rtree"

	"github.com/vicinity-go/vicinity/spatial"
)

// Every benchmark runs at each of these sizes, as sub-benchmarks n=100000
// and n=1000000, members spread uniformly over a 20 km city box
// (cityPoint). Each Index* benchmark has a Raw* baseline on a bare
// tidwall/rtree with the same points, the same moves and the same search
// boxes, to be compared within one run:
//
//	BenchmarkIndexSet        / BenchmarkRawRTreeMove
//	BenchmarkIndexNearby     / BenchmarkRawRTreeSearch (box only)
//	                         / BenchmarkRawRTreeSearchExact (box, exact filter, sort)
//	BenchmarkIndexNearest    / BenchmarkRawRTreeNearest
//	BenchmarkIndexSetWatched / BenchmarkRawRTreeMoveWatched
var benchSizes = []int{100_000, 1_000_000}

const (
	benchRadius   = 500.0  // meters, for radius queries and watches
	benchK        = 20     // for nearest queries
	benchWatchers = 10_000 // watches in the *Watched benchmarks, at every size
)

// benchPoints returns n fixed-seed points in a 20 km box around Berlin.
func benchPoints(n int, seed uint64) []spatial.Point {
	rng := rand.New(rand.NewPCG(seed, 99))
	pts := make([]spatial.Point, n)
	for i := range pts {
		pts[i] = cityPoint(rng)
	}
	return pts
}

// benchMoves is the sequence of moves every move benchmark replays; see
// at. len(ids) and len(to) are movesLen.
type benchMoves struct {
	ids []int
	to  []spatial.Point
}

const movesLen = 1 << 16

// at returns move i: a member and where it goes. Every pass over the
// tables pairs the members with other destinations, so that a member is
// never moved to where an earlier pass left it (a move to the same place
// would be a no-op for the Index).
func (m benchMoves) at(i int) (int, spatial.Point) {
	j, pass := i&(movesLen-1), i/movesLen
	return m.ids[j], m.to[(j+pass*40503)&(movesLen-1)]
}

// moveCursor keeps, per sub-benchmark, how far it got in its sequence of
// moves, so that a -count repetition goes on with new moves instead of
// replaying those already made on the cached index.
var moveCursor = map[string]int{}

func newBenchMoves(n int) benchMoves {
	to := benchPoints(movesLen, 2)
	rng := rand.New(rand.NewPCG(3, 3))
	ids := make([]int, len(to))
	for i := range ids {
		ids[i] = rng.IntN(n)
	}
	return benchMoves{ids, to}
}

// benchCenters are the centers of the query benchmarks, 1024 of them.
var benchCenters = benchPoints(1024, 4)

// Built indexes and trees are cached per size for the whole process, since
// a million-member build takes seconds and -count repeats every
// sub-benchmark. The move benchmarks move members of the cached ones; the
// points stay uniform over the city box, so later queries see the same
// density.
var (
	indexCache   = map[int]*spatial.Index[int]{}
	rawCache     = map[int]*rawTree{}
	watchedCache = map[int]*watchedIndex{}
	rawWCache    = map[int]*rawWatchedTree{}
	movesCache   = map[int]benchMoves{}
)

func cachedMoves(n int) benchMoves {
	m, ok := movesCache[n]
	if !ok {
		m = newBenchMoves(n)
		movesCache[n] = m
	}
	return m
}

// benchIndex returns the cached index of n members, without watches or an
// event handler.
func benchIndex(b *testing.B, n int) *spatial.Index[int] {
	b.Helper()
	if x, ok := indexCache[n]; ok {
		return x
	}
	x := spatial.New[int]()
	for i, p := range benchPoints(n, 1) {
		if err := x.Set(i, spatial.Position{Point: p}); err != nil {
			b.Fatal(err)
		}
	}
	indexCache[n] = x
	return x
}

// rawItem is the payload of the raw R-tree baselines: a pointer, as the
// Index uses, so Delete compares without allocating.
type rawItem struct{ id int }

// rawTree is the baseline: the same n points in a bare rtree.RTreeG, with
// no map, validation or lock.
type rawTree struct {
	tr    rtree.RTreeG[*rawItem]
	items []*rawItem
	at    [][2]float64 // where each item is, x=lng, y=lat
}

func newRawTree(n int) *rawTree {
	t := &rawTree{items: make([]*rawItem, n), at: make([][2]float64, n)}
	for i, p := range benchPoints(n, 1) {
		t.items[i] = &rawItem{i}
		t.at[i] = [2]float64{p.Lng, p.Lat}
		t.tr.Insert(t.at[i], t.at[i], t.items[i])
	}
	return t
}

func benchRaw(n int) *rawTree {
	t, ok := rawCache[n]
	if !ok {
		t = newRawTree(n)
		rawCache[n] = t
	}
	return t
}

func (t *rawTree) move(id int, p spatial.Point) {
	to := [2]float64{p.Lng, p.Lat}
	t.tr.Replace(t.at[id], t.at[id], t.items[id], to, to, t.items[id])
	t.at[id] = to
}

// radiusBox is the bounding box, in degrees, of the circle of radius
// meters around c, as the Index computes it (away from the poles and the
// antimeridian).
func radiusBox(c spatial.Point, radius float64) (lo, hi [2]float64) {
	delta := radius / spatial.EarthRadius
	dLat := delta * 180 / math.Pi
	dLng := math.Asin(math.Sin(delta)/math.Cos(c.Lat*math.Pi/180)) * 180 / math.Pi
	return [2]float64{c.Lng - dLng, c.Lat - dLat}, [2]float64{c.Lng + dLng, c.Lat + dLat}
}

func forSizes(b *testing.B, f func(b *testing.B, n int)) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) { f(b, n) })
	}
}

// BenchmarkIndexSet moves random members to random places.
func BenchmarkIndexSet(b *testing.B) {
	forSizes(b, func(b *testing.B, n int) {
		x := benchIndex(b, n)
		m := cachedMoves(n)
		b.ReportAllocs()
		i := moveCursor[b.Name()]
		for b.Loop() {
			id, p := m.at(i)
			if err := x.Set(id, spatial.Position{Point: p}); err != nil {
				b.Fatal(err)
			}
			i++
		}
		moveCursor[b.Name()] = i
	})
}

// BenchmarkRawRTreeMove is the floor for BenchmarkIndexSet: the same moves
// on a bare rtree.RTreeG, with no map, validation or lock.
func BenchmarkRawRTreeMove(b *testing.B) {
	forSizes(b, func(b *testing.B, n int) {
		t := benchRaw(n)
		m := cachedMoves(n)
		b.ReportAllocs()
		i := moveCursor[b.Name()]
		for b.Loop() {
			t.move(m.at(i))
			i++
		}
		moveCursor[b.Name()] = i
	})
}

// BenchmarkMoveVsRaw makes the moves of BenchmarkIndexSet and of
// BenchmarkRawRTreeMove in alternating blocks of moveBlock, timing each
// block, so that both see the same machine: a noisy neighbour or a change
// of clock speed lands on both sides alike. It reports index-ns/move,
// raw-ns/move and their ratio raw/index (x-raw, 1 is as fast as the raw
// tree); ns/op is per pair of blocks.
func BenchmarkMoveVsRaw(b *testing.B) {
	const moveBlock = 4096
	forSizes(b, func(b *testing.B, n int) {
		x, t, m := benchIndex(b, n), benchRaw(n), cachedMoves(n)
		b.ReportAllocs()
		i := moveCursor[b.Name()]
		var inIndex, inRaw time.Duration
		for b.Loop() {
			start := time.Now()
			for k := range moveBlock {
				id, p := m.at(i + k)
				if err := x.Set(id, spatial.Position{Point: p}); err != nil {
					b.Fatal(err)
				}
			}
			mid := time.Now()
			for k := range moveBlock {
				t.move(m.at(i + k))
			}
			inIndex, inRaw = inIndex+mid.Sub(start), inRaw+time.Since(mid)
			i += moveBlock
		}
		moveCursor[b.Name()] = i
		moves := float64(b.N) * moveBlock
		b.ReportMetric(float64(inIndex.Nanoseconds())/moves, "index-ns/move")
		b.ReportMetric(float64(inRaw.Nanoseconds())/moves, "raw-ns/move")
		b.ReportMetric(float64(inRaw)/float64(inIndex), "x-raw")
	})
}

// BenchmarkIndexNearby is a 500 m radius query: exact great-circle
// distances, sorted, copied out.
func BenchmarkIndexNearby(b *testing.B) {
	forSizes(b, func(b *testing.B, n int) {
		x := benchIndex(b, n)
		b.ReportAllocs()
		i, found := 0, 0
		for b.Loop() {
			hits, err := x.Nearby(benchCenters[i&1023], benchRadius, 0)
			if err != nil {
				b.Fatal(err)
			}
			found += len(hits)
			i++
		}
		b.ReportMetric(float64(found)/float64(i), "hits/op")
	})
}

// BenchmarkRawRTreeSearch is the floor for BenchmarkIndexNearby: a bare
// box search of the circle's bounding box in degrees, with no exact filter,
// copying or sorting. hits/op counts the box's members, more than the
// circle's.
func BenchmarkRawRTreeSearch(b *testing.B) {
	forSizes(b, func(b *testing.B, n int) {
		t := benchRaw(n)
		b.ReportAllocs()
		i, found := 0, 0
		for b.Loop() {
			lo, hi := radiusBox(benchCenters[i&1023], benchRadius)
			t.tr.Search(lo, hi, func(_, _ [2]float64, _ *rawItem) bool {
				found++
				return true
			})
			i++
		}
		b.ReportMetric(float64(found)/float64(i), "hits/op")
	})
}

// rawHit is a hit of the raw exact search: the id, the haversine term
// (which orders as the distance does) and the distance in meters.
type rawHit struct {
	id   int
	h, d float64
}

// BenchmarkRawRTreeSearchExact is the fair baseline for
// BenchmarkIndexNearby: the same box search, then an exact great-circle
// (haversine) filter and a sort by distance, into a reused slice. It does
// not copy positions out or allocate a result.
func BenchmarkRawRTreeSearchExact(b *testing.B) {
	forSizes(b, func(b *testing.B, n int) {
		t := benchRaw(n)
		const rad = math.Pi / 180
		s := math.Sin(benchRadius / spatial.EarthRadius / 2)
		limit := s * s // haversine term of the radius
		var hits []rawHit
		b.ReportAllocs()
		i, found := 0, 0
		for b.Loop() {
			c := benchCenters[i&1023]
			lat, lng, cosLat := c.Lat*rad, c.Lng*rad, math.Cos(c.Lat*rad)
			hits = hits[:0]
			lo, hi := radiusBox(c, benchRadius)
			t.tr.Search(lo, hi, func(p, _ [2]float64, it *rawItem) bool {
				pLat := p[1] * rad
				sLat := math.Sin((pLat - lat) / 2)
				sLng := math.Sin((p[0]*rad - lng) / 2)
				h := sLat*sLat + cosLat*math.Cos(pLat)*sLng*sLng
				if h <= limit {
					hits = append(hits, rawHit{id: it.id, h: h})
				}
				return true
			})
			for k := range hits {
				hits[k].d = 2 * spatial.EarthRadius * math.Asin(math.Sqrt(hits[k].h))
			}
			slices.SortFunc(hits, func(a, b rawHit) int { return cmp.Compare(a.h, b.h) })
			found += len(hits)
			i++
		}
		b.ReportMetric(float64(found)/float64(i), "hits/op")
	})
}

// BenchmarkIndexNearest is a k=20 nearest query: exact great-circle
// distances, nearest first.
func BenchmarkIndexNearest(b *testing.B) {
	forSizes(b, func(b *testing.B, n int) {
		x := benchIndex(b, n)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			hits, err := x.Nearest(benchCenters[i&1023], benchK)
			if err != nil {
				b.Fatal(err)
			}
			if len(hits) != benchK {
				b.Fatalf("%d hits", len(hits))
			}
			i++
		}
	})
}

// BenchmarkRawRTreeNearest is the baseline for BenchmarkIndexNearest: the
// tree's own best-first Nearby with a flat (equirectangular) squared
// distance in degrees, longitudes scaled by the cosine of the center's
// latitude, stopping at the 20th item; nothing is copied out.
func BenchmarkRawRTreeNearest(b *testing.B) {
	forSizes(b, func(b *testing.B, n int) {
		t := benchRaw(n)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			c := benchCenters[i&1023]
			kx := math.Cos(c.Lat * math.Pi / 180)
			got := 0
			t.tr.Nearby(
				func(lo, hi [2]float64, _ *rawItem, _ bool) float64 {
					dx := max(lo[0]-c.Lng, c.Lng-hi[0], 0) * kx
					dy := max(lo[1]-c.Lat, c.Lat-hi[1], 0)
					return dx*dx + dy*dy
				},
				func(_, _ [2]float64, _ *rawItem, _ float64) bool {
					got++
					return got < benchK
				},
			)
			if got != benchK {
				b.Fatalf("%d hits", got)
			}
			i++
		}
	})
}

// BenchmarkIndexParallel mixes one move (from the moves of
// BenchmarkIndexSet) for every nine 500 m queries across all procs, to show
// lock contention.
func BenchmarkIndexParallel(b *testing.B) {
	forSizes(b, func(b *testing.B, n int) {
		x := benchIndex(b, n)
		m := cachedMoves(n)
		var next atomic.Int64 // the next move, shared by the goroutines
		next.Store(int64(moveCursor[b.Name()]))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if i%10 == 0 {
					id, p := m.at(int(next.Add(1) - 1))
					_ = x.Set(id, spatial.Position{Point: p})
				} else {
					_, _ = x.Nearby(benchCenters[i&1023], benchRadius, 0)
				}
				i++
			}
		})
		moveCursor[b.Name()] = int(next.Load())
	})
}

// watcherID returns the member that holds the i-th of the benchWatchers
// watches in an index of n members: they are spread evenly over the ids,
// so over the city.
func watcherID(i, n int) int { return i * (n / benchWatchers) }

// watchedIndex is an index of n members, benchWatchers of which watch
// benchRadius around themselves, whose event handler appends to a queue
// that the benchmark drains after every move.
type watchedIndex struct {
	x     *spatial.Index[int]
	queue []spatial.Event[int]
}

func benchWatched(b *testing.B, n int) *watchedIndex {
	b.Helper()
	if w, ok := watchedCache[n]; ok {
		return w
	}
	w := new(watchedIndex)
	w.x = spatial.New[int](spatial.WithEvents(func(ev spatial.Event[int]) { w.queue = append(w.queue, ev) }))
	for i, p := range benchPoints(n, 1) {
		if err := w.x.Set(i, spatial.Position{Point: p}); err != nil {
			b.Fatal(err)
		}
	}
	for i := range benchWatchers {
		if err := w.x.Watch(watcherID(i, n), benchRadius); err != nil {
			b.Fatal(err)
		}
	}
	w.queue = w.queue[:0]
	watchedCache[n] = w
	return w
}

// BenchmarkIndexSetWatched moves random members, as BenchmarkIndexSet
// does, while 10,000 of them (at every size) watch 500 m around
// themselves: the full path of a move, the watch diffs and the events
// queued. A move of a watcher also recomputes its watch. events/op counts
// the Enter and Leave events queued.
func BenchmarkIndexSetWatched(b *testing.B) {
	forSizes(b, func(b *testing.B, n int) {
		w := benchWatched(b, n)
		m := cachedMoves(n)
		b.ReportAllocs()
		start := moveCursor[b.Name()]
		i, events := start, 0
		for b.Loop() {
			id, p := m.at(i)
			if err := w.x.Set(id, spatial.Position{Point: p}); err != nil {
				b.Fatal(err)
			}
			events += len(w.queue)
			w.queue = w.queue[:0]
			i++
		}
		moveCursor[b.Name()] = i
		b.ReportMetric(float64(events)/float64(i-start), "events/op")
	})
}

// rawWatchedTree is the floor for BenchmarkIndexSetWatched: the raw point
// tree plus a second bare tree of the watch circles' bounding boxes.
type rawWatchedTree struct {
	*rawTree
	wtree   rtree.RTreeG[*rawItem]
	watcher []bool // by member id
	wbox    [][2][2]float64
}

func benchRawWatched(n int) *rawWatchedTree {
	if t, ok := rawWCache[n]; ok {
		return t
	}
	t := &rawWatchedTree{rawTree: newRawTree(n), watcher: make([]bool, n), wbox: make([][2][2]float64, n)}
	for i := range benchWatchers {
		id := watcherID(i, n)
		t.watcher[id] = true
		lo, hi := radiusBox(spatial.Point{Lat: t.at[id][1], Lng: t.at[id][0]}, benchRadius)
		t.wbox[id] = [2][2]float64{lo, hi}
		t.wtree.Insert(lo, hi, t.items[id])
	}
	rawWCache[n] = t
	return t
}

// BenchmarkRawRTreeMoveWatched is the tree work of a watched move, with no
// distances, sets or events: the move in the point tree, a point search
// of the watch-box tree at the old position (the Index instead walks the
// watches that hold the member, which it keeps) and at the new one, and,
// when the member is a watcher, the move of its box and a box search
// around it.
// candidates/op counts what the searches found.
func BenchmarkRawRTreeMoveWatched(b *testing.B) {
	forSizes(b, func(b *testing.B, n int) {
		t := benchRawWatched(n)
		m := cachedMoves(n)
		b.ReportAllocs()
		start := moveCursor[b.Name()]
		i, found := start, 0
		count := func(_, _ [2]float64, _ *rawItem) bool {
			found++
			return true
		}
		for b.Loop() {
			id, p := m.at(i)
			from := t.at[id]
			t.move(id, p)
			t.wtree.Search(from, from, count)
			t.wtree.Search(t.at[id], t.at[id], count)
			if t.watcher[id] {
				lo, hi := radiusBox(p, benchRadius)
				old := t.wbox[id]
				t.wtree.Replace(old[0], old[1], t.items[id], lo, hi, t.items[id])
				t.wbox[id] = [2][2]float64{lo, hi}
				t.tr.Search(lo, hi, count)
			}
			i++
		}
		moveCursor[b.Name()] = i
		b.ReportMetric(float64(found)/float64(i-start), "candidates/op")
	})
}
