package spatial_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tidwall/rtree"

	"github.com/vicinity-go/vicinity/spatial"
)

const benchN = 100_000

// benchPoints returns n fixed-seed points in a 20 km box around Berlin.
func benchPoints(n int, seed uint64) []spatial.Point {
	rng := rand.New(rand.NewPCG(seed, 99))
	pts := make([]spatial.Point, n)
	for i := range pts {
		pts[i] = cityPoint(rng)
	}
	return pts
}

func benchIndex(b *testing.B, n int) *spatial.Index[int] {
	b.Helper()
	x := spatial.New[int]()
	for i, p := range benchPoints(n, 1) {
		if err := x.Set(i, spatial.Position{Point: p}); err != nil {
			b.Fatal(err)
		}
	}
	return x
}

func BenchmarkIndexSet(b *testing.B) {
	b.Run(fmt.Sprintf("n=%d", benchN), func(b *testing.B) {
		x := benchIndex(b, benchN)
		moves := benchPoints(1<<16, 2)
		rng := rand.New(rand.NewPCG(3, 3))
		ids := make([]int, len(moves))
		for i := range ids {
			ids[i] = rng.IntN(benchN)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			j := i & (len(moves) - 1)
			if err := x.Set(ids[j], spatial.Position{Point: moves[j]}); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

func BenchmarkIndexNearby(b *testing.B) {
	b.Run(fmt.Sprintf("n=%d/r=500m", benchN), func(b *testing.B) {
		x := benchIndex(b, benchN)
		centers := benchPoints(1024, 4)
		b.ReportAllocs()
		i, found := 0, 0
		for b.Loop() {
			hits, err := x.Nearby(centers[i&1023], 500, 0)
			if err != nil {
				b.Fatal(err)
			}
			found += len(hits)
			i++
		}
		b.ReportMetric(float64(found)/float64(i), "hits/op")
	})
}

func BenchmarkIndexNearest(b *testing.B) {
	b.Run(fmt.Sprintf("n=%d/k=20", benchN), func(b *testing.B) {
		x := benchIndex(b, benchN)
		centers := benchPoints(1024, 4)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := x.Nearest(centers[i&1023], 20); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkIndexParallel mixes one move for every nine queries across all
// procs, to show lock contention.
func BenchmarkIndexParallel(b *testing.B) {
	b.Run(fmt.Sprintf("n=%d/r=500m", benchN), func(b *testing.B) {
		x := benchIndex(b, benchN)
		pts := benchPoints(1024, 5)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				p := pts[i&1023]
				if i%10 == 0 {
					_ = x.Set(i%benchN, spatial.Position{Point: p})
				} else {
					_, _ = x.Nearby(p, 500, 0)
				}
				i++
			}
		})
	})
}

// rawItem is the payload of the raw R-tree baseline: a pointer, as the
// Index uses, so Delete compares without allocating.
type rawItem struct{ id int }

// BenchmarkRawRTreeMove is the floor for BenchmarkIndexSet: the same moves
// on a bare rtree.RTreeG, with no map, validation or lock.
func BenchmarkRawRTreeMove(b *testing.B) {
	b.Run(fmt.Sprintf("n=%d", benchN), func(b *testing.B) {
		var tr rtree.RTreeG[*rawItem]
		items := make([]*rawItem, benchN)
		at := make([][2]float64, benchN)
		for i, p := range benchPoints(benchN, 1) {
			items[i] = &rawItem{i}
			at[i] = [2]float64{p.Lng, p.Lat}
			tr.Insert(at[i], at[i], items[i])
		}
		moves := benchPoints(1<<16, 2)
		rng := rand.New(rand.NewPCG(3, 3))
		ids := make([]int, len(moves))
		for i := range ids {
			ids[i] = rng.IntN(benchN)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			j := i & (len(moves) - 1)
			id, to := ids[j], [2]float64{moves[j].Lng, moves[j].Lat}
			tr.Replace(at[id], at[id], items[id], to, to, items[id])
			at[id] = to
			i++
		}
	})
}

// BenchmarkRawRTreeSearch is the floor for BenchmarkIndexNearby: a bare
// box search of the circle's bounding box in degrees, with no exact filter,
// copying or sorting.
func BenchmarkRawRTreeSearch(b *testing.B) {
	b.Run(fmt.Sprintf("n=%d/r=500m", benchN), func(b *testing.B) {
		var tr rtree.RTreeG[*rawItem]
		for i, p := range benchPoints(benchN, 1) {
			pt := [2]float64{p.Lng, p.Lat}
			tr.Insert(pt, pt, &rawItem{i})
		}
		centers := benchPoints(1024, 4)
		const dLat = 500 / spatial.EarthRadius * 180 / math.Pi
		b.ReportAllocs()
		i, found := 0, 0
		for b.Loop() {
			c := centers[i&1023]
			dLng := dLat / math.Cos(c.Lat*math.Pi/180)
			tr.Search([2]float64{c.Lng - dLng, c.Lat - dLat}, [2]float64{c.Lng + dLng, c.Lat + dLat},
				func(_, _ [2]float64, _ *rawItem) bool {
					found++
					return true
				})
			i++
		}
		b.ReportMetric(float64(found)/float64(i), "hits/op")
	})
}

// BenchmarkIndexSetWatched moves random members, as BenchmarkIndexSet
// does, while a tenth of them watch 500 m around themselves; a move of a
// watcher (one in ten) also recomputes its watch. events/op counts the
// Enter and Leave events delivered.
func BenchmarkIndexSetWatched(b *testing.B) {
	const watchers = benchN / 10
	b.Run(fmt.Sprintf("n=%d/watchers=%d/r=500m", benchN, watchers), func(b *testing.B) {
		var events int
		x := spatial.New[int](spatial.WithEvents(func(spatial.Event[int]) { events++ }))
		for i, p := range benchPoints(benchN, 1) {
			if err := x.Set(i, spatial.Position{Point: p}); err != nil {
				b.Fatal(err)
			}
		}
		for i := range watchers {
			if err := x.Watch(i*10, 500); err != nil {
				b.Fatal(err)
			}
		}
		moves := benchPoints(1<<16, 2)
		rng := rand.New(rand.NewPCG(3, 3))
		ids := make([]int, len(moves))
		for i := range ids {
			ids[i] = rng.IntN(benchN)
		}
		events = 0
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			j := i & (len(moves) - 1)
			if err := x.Set(ids[j], spatial.Position{Point: moves[j]}); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.ReportMetric(float64(events)/float64(b.N), "events/op")
	})
}
