package spatial_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/spatial"
)

// TestPlaceShownExact checks that a replica is held exactly where it is
// placed, with or without the index's coarsening, where an ordinary member
// is coarsened.
func TestPlaceShownExact(t *testing.T) {
	t.Parallel()
	pos := spatial.Position{Point: spatial.Point{Lat: 52.5163, Lng: 13.3777}, Accuracy: 7, Time: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	for _, coarsen := range []float64{0, 1000} {
		t.Run(fmt.Sprintf("coarsen=%v", coarsen), func(t *testing.T) {
			t.Parallel()
			x := spatial.New[string](spatial.WithCoarsening(coarsen))
			added, err := x.PlaceShown("r", pos, false)
			require.NoError(t, err)
			assert.True(t, added)
			added, err = x.PlaceShown("r", pos, false)
			require.NoError(t, err)
			assert.False(t, added, "placed again")
			require.NoError(t, x.Set("o", pos))
			assert.True(t, x.Replica("r"))
			assert.False(t, x.Replica("o"))
			assert.False(t, x.Replica("nobody"))

			got, ok := x.Get("r")
			require.True(t, ok)
			assert.Equal(t, pos, got)
			got, ok = x.Placed("r")
			require.True(t, ok)
			assert.Equal(t, pos, got)
			got, ok = x.Shown("r")
			require.True(t, ok)
			assert.Equal(t, pos, got)
			pv, ok := x.Privacy("r")
			require.True(t, ok)
			assert.Equal(t, spatial.Privacy{}, pv)

			hits, err := x.Nearby(pos.Point, 2000, 0)
			require.NoError(t, err)
			require.Len(t, hits, 2)
			for _, h := range hits {
				switch h.ID {
				case "r":
					assert.Equal(t, pos, h.Position, "the replica as placed")
					assert.Zero(t, h.Distance)
				case "o":
					want := pos
					if coarsen > 0 {
						want.Point = spatial.Coarsen(pos.Point, coarsen)
						want.Accuracy = coarsen
					}
					assert.Equal(t, want, h.Position, "the ordinary member as the index shows it")
				}
			}
			near, err := x.Nearest(pos.Point, 2)
			require.NoError(t, err)
			require.Len(t, near, 2)
			assert.Contains(t, ids(near), "r")
			for _, h := range near {
				if h.ID == "r" {
					assert.Equal(t, pos, h.Position)
				}
			}
			hits, err = x.WithinBounds(spatial.Bounds{South: pos.Lat, West: pos.Lng, North: pos.Lat, East: pos.Lng})
			require.NoError(t, err)
			assert.Contains(t, ids(hits), "r")
		})
	}
}

func TestPlaceShownInvalid(t *testing.T) {
	t.Parallel()
	x := spatial.New[string]()
	_, err := x.PlaceShown("r", spatial.Position{Point: spatial.Point{Lat: 91}}, false)
	assert.ErrorIs(t, err, spatial.ErrInvalidPoint)
	_, err = x.PlaceShown("r", spatial.Position{Accuracy: -1}, false)
	assert.ErrorIs(t, err, spatial.ErrInvalidAccuracy)
	assert.Zero(t, x.Len())
}

// TestPlaceShownWatched checks what a watcher sees of a replica, in an
// index that coarsens its own members.
func TestPlaceShownWatched(t *testing.T) {
	t.Parallel()
	x, rec := recorded(spatial.WithCoarsening(1000))
	require.NoError(t, x.Set("w", north(0, 0)))
	require.NoError(t, x.Watch("w", 3000))
	w, _ := x.Placed("w")
	rec.take()

	// place places the replica and returns the events, exactly.
	place := func(pos spatial.Position, hidden bool) []spatial.Event[string] {
		t.Helper()
		_, err := x.PlaceShown("r", pos, hidden)
		require.NoError(t, err)
		return rec.takeAll()
	}
	// seen is the event of kind k of the replica at pos in w's view.
	seen := func(k spatial.EventKind, c spatial.Cause, pos spatial.Position) []spatial.Event[string] {
		return []spatial.Event[string]{{Kind: k, Cause: c, Watcher: "w", Member: "r", Position: pos, Distance: spatial.Distance(w.Point, pos.Point)}}
	}
	r1, r2, r3, r4 := north(1500, 0.001), north(1600, 0.001), north(1700, 0.001), north(1900, 0.001)
	assert.Equal(t, seen(spatial.Enter, 0, r1), place(r1, false))
	assert.Equal(t, seen(spatial.Move, 0, r2), place(r2, false), "a move within a cell is seen: the replica is not coarsened")
	assert.Empty(t, place(r2, false), "the same point: no move")

	// Hidden: a Leave where it was seen, and no query finds it.
	assert.Equal(t, seen(spatial.Leave, spatial.CauseHidden, r2), place(r3, true))
	assert.True(t, x.Hidden("r"))
	assert.True(t, x.Replica("r"), "still a replica")
	hits, err := x.Nearby(r3.Point, 100, 0)
	require.NoError(t, err)
	assert.Empty(t, hits)
	_, ok := x.Shown("r")
	assert.False(t, ok)
	placed, _ := x.Placed("r")
	assert.Equal(t, r3, placed, "hidden, it keeps where it is placed")
	assert.Empty(t, place(north(1800, 0.001), true), "a hidden replica moves unseen")

	// Shown again at a new point: an Enter there.
	assert.Equal(t, seen(spatial.Enter, 0, r4), place(r4, false))

	// Beyond the radius, then removed.
	r5 := north(5000, 0)
	assert.Equal(t, seen(spatial.Leave, spatial.CauseFar, r5), place(r5, false))
	assert.Equal(t, seen(spatial.Enter, 0, r4), place(r4, false))
	require.True(t, x.Remove("r"))
	assert.Equal(t, []spatial.Event[string]{leave("w", "r", spatial.CauseRemoved)}, rec.take())
}

// TestPlaceShownSymmetric gives a replica the symmetric watch of its
// member: the ordinary members inside it see the replica.
func TestPlaceShownSymmetric(t *testing.T) {
	t.Parallel()
	x, rec := recorded(spatial.WithCoarsening(100))
	require.NoError(t, x.Set("o", north(50, 0)))
	require.NoError(t, x.Set("far", north(900, 0)))
	_, err := x.PlaceShown("r", north(0, 0), false)
	require.NoError(t, err)
	require.NoError(t, x.Watch("r", 300, spatial.WithSymmetric()))
	assert.ElementsMatch(t, []spatial.Event[string]{enter("r", "o"), enter("o", "r")}, rec.take())
	assert.Equal(t, []string{"o"}, x.WatchersOf("r"))

	_, err = x.PlaceShown("r", north(800, 0), false)
	require.NoError(t, err)
	assert.ElementsMatch(t, []spatial.Event[string]{
		leave("r", "o", spatial.CauseFar), leave("o", "r", spatial.CauseFar),
		enter("r", "far"), enter("far", "r"),
	}, rec.take(), "the watch moves with the replica")

	_, err = x.PlaceShown("r", north(800, 0), true)
	require.NoError(t, err)
	assert.Equal(t, []spatial.Event[string]{leave("far", "r", spatial.CauseHidden)}, rec.take(), "hidden: not seen through its symmetric watch")
}

// TestPlaceShownFences checks that a replica enters and leaves fences.
func TestPlaceShownFences(t *testing.T) {
	t.Parallel()
	x, rec := recorded(spatial.WithCoarsening(10_000))
	require.NoError(t, x.AddFence("f", spatial.Fence{Circle: &spatial.Circle{Radius: 100}}))
	_, err := x.PlaceShown("r", north(50, 0), false)
	require.NoError(t, err)
	assert.Equal(t, []spatial.Event[string]{fenceEnter("r", "f")}, rec.take())
	assert.Equal(t, []string{"f"}, x.FencesOf("r"))
	_, err = x.PlaceShown("r", north(150, 0), false)
	require.NoError(t, err)
	assert.Equal(t, []spatial.Event[string]{fenceLeave("r", "f")}, rec.take())
}

func TestPlaceShownExpire(t *testing.T) {
	t.Parallel()
	x, rec := recorded(spatial.WithMaxAge(time.Minute))
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	old := north(10, 0)
	old.Time = t0
	require.NoError(t, x.Set("w", north(0, 0)))
	require.NoError(t, x.Watch("w", 100))
	_, err := x.PlaceShown("r", old, false)
	require.NoError(t, err)
	require.NoError(t, x.Set("o", old))
	rec.take()

	assert.Equal(t, 1, x.Expire(t0.Add(time.Hour)))
	assert.Equal(t, []spatial.Event[string]{leave("w", "o", spatial.CauseRemoved), {Kind: spatial.Expired, Member: "o"}}, rec.take())
	_, ok := x.Get("r")
	assert.True(t, ok, "a replica does not expire")

	// Once an ordinary member, it expires.
	require.NoError(t, x.Set("r", old))
	assert.False(t, x.Replica("r"))
	assert.Equal(t, 1, x.Expire(t0.Add(time.Hour)))
	_, ok = x.Get("r")
	assert.False(t, ok)
}

// TestPlaceShownSwitch turns an ordinary member into a replica and back in
// every way, in an index that coarsens.
func TestPlaceShownSwitch(t *testing.T) {
	t.Parallel()
	const cell = 1000
	exact := north(100, 0.001)
	coarse := spatial.Coarsen(exact.Point, cell)
	x, rec := recorded(spatial.WithCoarsening(cell))
	require.NoError(t, x.Set("w", north(0, 0)))
	require.NoError(t, x.Watch("w", 5000))
	shown := func() spatial.Point {
		t.Helper()
		p, ok := x.Placed("m")
		require.True(t, ok)
		return p.Point
	}

	require.NoError(t, x.Set("m", exact))
	assert.Equal(t, coarse, shown())
	_, err := x.PlaceShown("m", exact, false)
	require.NoError(t, err)
	assert.True(t, x.Replica("m"))
	assert.Equal(t, exact.Point, shown(), "a replica now")
	require.NoError(t, x.Set("m", exact))
	assert.False(t, x.Replica("m"))
	assert.Equal(t, coarse, shown(), "Set: ordinary again")

	// Set keeps a hidden replica hidden, as it keeps the flag of any member.
	_, err = x.PlaceShown("m", exact, true)
	require.NoError(t, err)
	require.NoError(t, x.Set("m", exact))
	assert.False(t, x.Replica("m"))
	assert.True(t, x.Hidden("m"))
	assert.Equal(t, coarse, shown())

	// SetHidden keeps a replica one.
	_, err = x.PlaceShown("m", exact, false)
	require.NoError(t, err)
	require.True(t, x.SetHidden("m", true))
	assert.True(t, x.Replica("m"))
	assert.True(t, x.Hidden("m"))
	require.True(t, x.SetHidden("m", false))
	assert.True(t, x.Replica("m"))
	assert.Equal(t, exact.Point, shown())

	// SetPrivacy and Place make it an ordinary member, shown as they say.
	require.NoError(t, x.SetPrivacy("m", spatial.Privacy{}))
	assert.False(t, x.Replica("m"))
	assert.Equal(t, coarse, shown(), "SetPrivacy: the index's coarsening applies")
	_, err = x.PlaceShown("m", exact, false)
	require.NoError(t, err)
	require.NoError(t, x.SetPrivacy("m", spatial.Privacy{Precision: 5000}))
	assert.Equal(t, spatial.Coarsen(exact.Point, 5000), shown())
	_, err = x.PlaceShown("m", exact, false)
	require.NoError(t, err)
	_, err = x.Place("m", exact, spatial.Privacy{})
	require.NoError(t, err)
	assert.False(t, x.Replica("m"))
	assert.Equal(t, coarse, shown(), "Place: ordinary again, though its privacy is the same")
	_, err = x.PlaceShown("m", exact, false)
	require.NoError(t, err)
	_, err = x.Place("m", exact, spatial.Privacy{Hidden: true})
	require.NoError(t, err)
	assert.False(t, x.Replica("m"))
	assert.True(t, x.Hidden("m"))

	// The watcher saw it move between the cell's center and the point,
	// and hide and show, never leave otherwise.
	for _, ev := range rec.takeAll() {
		if ev.Kind == spatial.Leave {
			assert.Equal(t, spatial.CauseHidden, ev.Cause, "%+v", ev)
		}
	}
}

// TestPlaceShownLikeOrdinary replays random scripts on two indexes: in one
// some members are replicas placed with PlaceShown, in the other the same
// members are ordinary ones placed with Place at the same positions, with
// the same Hidden, in an index that shows them exactly. The events must be
// the same: a replica is an ordinary member shown where it is placed.
func TestPlaceShownLikeOrdinary(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(17, 19))
	names := []string{"a", "b", "c", "d", "e", "f"}
	replica := map[string]bool{"a": true, "b": true, "c": true}
	for script := range 200 {
		xa, ra := recorded()
		xb, rb := recorded()
		for step := range 60 {
			id := names[rng.IntN(len(names))]
			var what string
			switch op := rng.IntN(10); {
			case op < 5:
				pos := north(rng.Float64()*400-200, rng.Float64()*0.004-0.002)
				pos.Accuracy = float64(rng.IntN(3))
				hidden := rng.IntN(5) == 0
				what = fmt.Sprintf("place %s at %v hidden %v", id, pos.Point, hidden)
				_, err := xa.Place(id, pos, spatial.Privacy{Hidden: hidden})
				require.NoError(t, err)
				if replica[id] {
					_, err = xb.PlaceShown(id, pos, hidden)
				} else {
					_, err = xb.Place(id, pos, spatial.Privacy{Hidden: hidden})
				}
				require.NoError(t, err)
			case op < 7:
				radius := 50 + rng.Float64()*150
				var opts []spatial.WatchOption
				if rng.IntN(2) == 0 {
					opts = append(opts, spatial.WithSymmetric())
				}
				if rng.IntN(3) == 0 {
					opts = append(opts, spatial.WithMargin(20))
				}
				if rng.IntN(4) == 0 {
					opts = append(opts, spatial.WithCapacity(2))
				}
				what = fmt.Sprintf("watch %s %v %+v", id, radius, spatial.Settings(opts...))
				assert.Equal(t, xa.Watch(id, radius, opts...) == nil, xb.Watch(id, radius, opts...) == nil, what)
			case op < 8:
				hidden := rng.IntN(2) == 0
				what = fmt.Sprintf("set hidden %s %v", id, hidden)
				assert.Equal(t, xa.SetHidden(id, hidden), xb.SetHidden(id, hidden), what)
			case op < 9:
				what = "unwatch " + id
				assert.Equal(t, xa.Unwatch(id), xb.Unwatch(id), what)
			default:
				what = "remove " + id
				assert.Equal(t, xa.Remove(id), xb.Remove(id), what)
			}
			if step == 30 {
				f := spatial.Fence{Circle: &spatial.Circle{Center: spatial.Point{}, Radius: 100}}
				require.NoError(t, xa.AddFence("f", f))
				require.NoError(t, xb.AddFence("f", f))
			}
			want, got := ra.takeAll(), rb.takeAll()
			require.ElementsMatch(t, want, got, "script %d step %d: %s", script, step, what)
		}
	}
}

// BenchmarkPlaceShown moves replicas in an index of 100,000, against the
// same moves of ordinary members with Set.
func BenchmarkPlaceShown(b *testing.B) {
	const n = 100_000
	pts := benchPoints(n, 1)
	m := newBenchMoves(n)
	for _, name := range []string{"PlaceShown", "Set"} {
		b.Run(name, func(b *testing.B) {
			x := spatial.New[int]()
			place := func(id int, p spatial.Point) error {
				if name == "Set" {
					return x.Set(id, spatial.Position{Point: p})
				}
				_, err := x.PlaceShown(id, spatial.Position{Point: p}, false)
				return err
			}
			for i, p := range pts {
				if err := place(i, p); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := place(m.at(i)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
