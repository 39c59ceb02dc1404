package presence_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/vicinity-go/vicinity/presence"
)

// BenchmarkTrack measures a Track and an Untrack (a user joining a topic
// and leaving it) in a tracker holding 100,000 members over 1,000 topics:
// without subscribers, with a subscriber on every topic, and from parallel
// goroutines.
func BenchmarkTrack(b *testing.B) {
	const members, topics = 100_000, 1_000
	ctx := context.Background()
	tr := presence.New()
	b.Cleanup(func() { _ = tr.Close() })
	names := make([]string, topics)
	for i := range names {
		names[i] = fmt.Sprint("topic-", i)
	}
	for i := range members {
		if err := tr.Track(ctx, names[i%topics], fmt.Sprint("user-", i), presence.Meta{ConnID: fmt.Sprint("conn-", i)}); err != nil {
			b.Fatal(err)
		}
	}
	// The users who come and go, each in a random topic.
	type op struct{ topic, key, conn string }
	ops := make([]op, 1<<14)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range ops {
		ops[i] = op{names[rng.IntN(topics)], fmt.Sprint("visitor-", i), fmt.Sprint("visit-", i)}
	}
	run := func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			o := &ops[i%len(ops)]
			i++
			if err := tr.Track(ctx, o.topic, o.key, presence.Meta{ConnID: o.conn}); err != nil {
				b.Fatal(err)
			}
			if err := tr.Untrack(ctx, o.topic, o.key, o.conn); err != nil {
				b.Fatal(err)
			}
		}
	}
	name := fmt.Sprintf("members=%d/topics=%d", members, topics)
	b.Run(name+"/serial", run)
	b.Run(name+"/parallel", func(b *testing.B) {
		b.ReportAllocs()
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(1)) * 7919
			for pb.Next() {
				o := &ops[i%len(ops)]
				i++
				conn := o.conn + "-p" // distinct per goroutine start, often shared: either is fine
				if err := tr.Track(ctx, o.topic, o.key, presence.Meta{ConnID: conn}); err != nil {
					b.Error(err)
					return
				}
				if err := tr.Untrack(ctx, o.topic, o.key, conn); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	var diffs atomic.Int64
	for _, topic := range names {
		cancel := tr.Subscribe(topic, func(presence.Diff) { diffs.Add(1) })
		b.Cleanup(cancel)
	}
	b.Run(name+"/subscribed", func(b *testing.B) {
		diffs.Store(0)
		run(b)
		if got := diffs.Load(); got != 2*int64(b.N) {
			b.Fatalf("%d diffs for %d ops", got, b.N)
		}
	})
}

// BenchmarkDiffFanout measures a change in a room of 1,000 members reaching
// the room's subscriber (one per topic, as package realtime subscribes): a
// member's status change (Track of a connection again, an update diff) and
// a visitor's join and leave (two diffs).
func BenchmarkDiffFanout(b *testing.B) {
	for _, size := range []int{10, 1_000} {
		ctx := context.Background()
		tr := presence.New()
		b.Cleanup(func() { _ = tr.Close() })
		keys := make([]string, size)
		for i := range keys {
			keys[i] = fmt.Sprint("user-", i)
			if err := tr.Track(ctx, "room", keys[i], presence.Meta{ConnID: keys[i]}); err != nil {
				b.Fatal(err)
			}
		}
		var diffs int // delivered on the benchmark's goroutine
		cancel := tr.Subscribe("room", func(presence.Diff) { diffs++ })
		b.Cleanup(cancel)
		away := make([]bool, size) // each update flips a member's status

		b.Run(fmt.Sprintf("members=%d/update", size), func(b *testing.B) {
			b.ReportAllocs()
			diffs = 0
			i := 0
			for b.Loop() {
				j := i % size
				i++
				away[j] = !away[j]
				status := presence.StatusOnline
				if away[j] {
					status = presence.StatusAway
				}
				if err := tr.Track(ctx, "room", keys[j], presence.Meta{ConnID: keys[j], Status: status}); err != nil {
					b.Fatal(err)
				}
			}
			if diffs != b.N {
				b.Fatalf("%d diffs for %d updates", diffs, b.N)
			}
		})
		b.Run(fmt.Sprintf("members=%d/join-leave", size), func(b *testing.B) {
			b.ReportAllocs()
			diffs = 0
			for b.Loop() {
				if err := tr.Track(ctx, "room", "visitor", presence.Meta{ConnID: "v"}); err != nil {
					b.Fatal(err)
				}
				if err := tr.Untrack(ctx, "room", "visitor", "v"); err != nil {
					b.Fatal(err)
				}
			}
			if diffs != 2*b.N {
				b.Fatalf("%d diffs for %d joins and leaves", diffs, b.N)
			}
		})
	}
}
