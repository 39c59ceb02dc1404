package realtime

import (
	"context"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/spatial"
)

// fakeLocation is a LocationAdapter that records what the server shares
// and the interest it asks for.
type fakeLocation struct {
	*MemoryAdapter
	grid spatial.Grid

	mu       sync.Mutex
	shared   []SharedLocation
	interest map[spatial.Cell]bool
}

func (f *fakeLocation) Grid() spatial.Grid { return f.grid }
func (f *fakeLocation) Secret() []byte     { return []byte("cluster secret") }
func (f *fakeLocation) ShareLocation(m SharedLocation) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shared = append(f.shared, m)
}

func (f *fakeLocation) Interest(add, remove []spatial.Cell) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range add {
		require.False(nil, f.interest[c], "added twice")
		f.interest[c] = true
	}
	for _, c := range remove {
		delete(f.interest, c)
	}
}

func (f *fakeLocation) FetchCells(context.Context, []spatial.Cell) ([]SharedLocation, error) {
	return nil, nil
}

func (f *fakeLocation) take() []SharedLocation {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.shared
	f.shared = nil
	return out
}

func (f *fakeLocation) cells() []spatial.Cell {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []spatial.Cell
	for c := range f.interest {
		out = append(out, c)
	}
	slices.SortFunc(out, compareCells)
	return out
}

func newSharingServer(t *testing.T) (*Server, *fakeLocation) {
	t.Helper()
	grid, err := spatial.NewGrid(1000)
	require.NoError(t, err)
	var fake *fakeLocation
	srv := New(WithSpatial(), WithLocationLimits(LocationLimits{UpdateRate: 1000, UpdateBurst: 1000, QueryRate: 1000, QueryBurst: 1000, MaxSpeed: math.Inf(1)}),
		WithAdapter(func(n *Namespace) Adapter {
			fake = &fakeLocation{MemoryAdapter: NewLocalAdapter(n), grid: grid, interest: make(map[spatial.Cell]bool)}
			return fake
		}))
	t.Cleanup(func() { _ = srv.Close() })
	srv.Of("/")
	return srv, fake
}

var home = spatial.Point{Lat: 52.52, Lng: 13.405}

// What a server shares never says more than the socket shows: a coarsened
// socket's cell center, nothing while hidden, nothing when a move stays in
// its cell; its interest follows its cell and its watch, and goes with it.
func TestSharedIsShown(t *testing.T) {
	t.Parallel()
	srv, fake := newSharingServer(t)
	s := openPolling(t, srv, 1)[0]
	grid := fake.grid

	require.NoError(t, s.SetLocation(home, 5))
	got := fake.take()
	require.Len(t, got, 1)
	assert.Equal(t, home, got[0].Position.Point, "shown exactly")
	assert.Equal(t, []spatial.Cell{grid.Cell(home)}, got[0].Reach)
	assert.Equal(t, []spatial.Cell{grid.Cell(home)}, fake.cells(), "interested in its own cell")

	require.NoError(t, s.SetPrivacy(spatial.Privacy{Precision: 500}))
	got = fake.take()
	require.Len(t, got, 1)
	cell := spatial.Coarsen(home, 500)
	assert.Equal(t, cell, got[0].Position.Point, "coarsened")
	assert.NotEqual(t, home, got[0].Position.Point)
	require.NoError(t, s.SetLocation(spatial.Point{Lat: home.Lat + 0.00001, Lng: home.Lng}, 5))
	assert.Empty(t, fake.take(), "a move within its grid cell is not news")

	require.NoError(t, s.SetHidden(true))
	got = fake.take()
	require.Len(t, got, 1)
	assert.True(t, got[0].Hidden)
	assert.Zero(t, got[0].Position, "nothing of where it is")
	assert.Empty(t, got[0].Reach)
	require.NoError(t, s.SetLocation(spatial.Point{Lat: home.Lat + 0.02, Lng: home.Lng}, 5))
	for _, m := range fake.take() {
		assert.True(t, m.Hidden, "a hidden move says nothing of where")
		assert.Zero(t, m.Position)
	}

	require.NoError(t, s.SetPrivacy(spatial.Privacy{}))
	require.NoError(t, s.Watch(1500, spatial.WithSymmetric()))
	got = fake.take()
	require.NotEmpty(t, got)
	last := got[len(got)-1]
	require.NotNil(t, last.Watch)
	assert.Equal(t, 1500.0, last.Watch.Radius)
	cover := grid.Cover(spatial.Circle{Center: last.Position.Point, Radius: 1500})
	assert.Equal(t, cover, last.Reach, "a symmetric watch reaches the cells it covers")
	assert.Equal(t, cover, fake.cells(), "and the server is interested in them")

	s.Unwatch()
	assert.Equal(t, []spatial.Cell{grid.Cell(last.Position.Point)}, fake.cells())
	s.ClearLocation()
	got = fake.take()
	require.NotEmpty(t, got)
	assert.Equal(t, LeaveUnlocated, got[len(got)-1].Gone)
	assert.Empty(t, fake.cells(), "no interest left")
}

// Replicas: a local watcher sees another server's socket enter, move,
// hide and leave with the reason its server gave; one outside this
// server's interest is not placed, and one that leaves it is swept once
// nobody here sees it.
func TestReplicas(t *testing.T) {
	t.Parallel()
	srv, fake := newSharingServer(t)
	w := openPolling(t, srv, 1)[0]
	require.NoError(t, w.SetLocation(home, 0))
	require.NoError(t, w.Watch(500))
	nsp := srv.Of("/")
	near := spatial.Position{Point: spatial.Point{Lat: home.Lat + 0.002, Lng: home.Lng}}
	far := spatial.Position{Point: spatial.Point{Lat: home.Lat + 0.5, Lng: home.Lng}}
	reach := func(p spatial.Position) []spatial.Cell { return []spatial.Cell{fake.grid.Cell(p.Point)} }

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	nsp.ApplySharedLocation(SharedLocation{ID: "far1", Position: far, Reach: reach(far)})
	nsp.ApplySharedLocation(SharedLocation{ID: "r1", Position: near, Reach: reach(near)})
	nsp.ApplySharedLocation(SharedLocation{ID: "r1", Hidden: true})
	nsp.ApplySharedLocation(SharedLocation{ID: "r1", Position: near, Reach: reach(near)})
	nsp.ApplySharedLocation(SharedLocation{ID: "r1", Gone: LeaveUnlocated})
	nsp.ApplySharedLocation(SharedLocation{ID: "r2", Position: near, Reach: reach(near)})
	nsp.ApplySharedLocation(SharedLocation{ID: "r2", Gone: LeaveDisconnected})
	nsp.ApplySharedLocation(SharedLocation{ID: w.id, Position: far, Reach: reach(far)}) // a local id: ignored
	evs := collect(ctx, srv, w)
	var names []string
	for _, e := range evs {
		if e.name != NearbyState {
			names = append(names, strings.TrimSpace(e.name+" "+strings.Join(e.ids, ",")+" "+e.reason))
		}
	}
	assert.Equal(t, []string{
		NearbyEnter + " r1", NearbyLeave + " r1 " + LeaveHidden, NearbyEnter + " r1", NearbyLeave + " r1 " + LeaveUnlocated,
		NearbyEnter + " r2", NearbyLeave + " r2 " + LeaveDisconnected,
	}, names, "the reasons the other server gave")
	_, ok := nsp.Spatial().Get("far1")
	assert.False(t, ok, "outside this server's interest: not placed")
	pos, ok := w.Location()
	require.True(t, ok)
	assert.Equal(t, home, pos.Point, "a local id is never replaced by a record")

	// A replica that walks out of this server's interest is swept once
	// no local socket sees it.
	nsp.ApplySharedLocation(SharedLocation{ID: "r3", Position: near, Reach: reach(near)})
	require.True(t, nsp.Spatial().Replica("r3"))
	nsp.ApplySharedLocation(SharedLocation{ID: "r3", Position: far, Reach: reach(far)})
	sp := srv.loc.space(nsp)
	sp.sweep()
	_, ok = nsp.Spatial().Get("r3")
	assert.False(t, ok, "swept")
}
