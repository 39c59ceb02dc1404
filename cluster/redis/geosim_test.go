package redis_test

// TestGeoSim checks the cost model of docs/cluster-scale.md against a real
// Redis: three vicinity servers in one process, each with its own client,
// share the location of simulated members by cell, and their adapters'
// LocationStats are compared with the formulas' predictions.
//
// Thousands of real sockets are too many for a test machine, so the
// simulation drives the location layer at its seam, as realtime does for
// each located socket (see (*located).share in realtime/shared.go): on
// each move its server's interest goes to the cells of its position and
// of its watch circle (counted per cell, Interest told of the changes),
// then ShareLocation sends what others may see of it, reaching its own
// cell. Realtime itself places no replica of what the adapters receive:
// its interest is that of its own sockets, and the simulation has none.
//
// By default it runs a small cluster (3 servers, 2,000 members) in a few
// seconds. The full size (20,000 members), whose table is in
// docs/cluster-scale.md, runs with
//
//	VICINITY_GEOSIM=1 go test -count=1 -run GeoSim -v -timeout 30m ./cluster/redis/

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/cluster/redis"
	"github.com/vicinity-go/vicinity/internal/id"
	"github.com/vicinity-go/vicinity/internal/redistest"
	"github.com/vicinity-go/vicinity/realtime"
	"github.com/vicinity-go/vicinity/spatial"
)

// geosimEnv set to 1 runs TestGeoSim at full size.
const geosimEnv = "VICINITY_GEOSIM"

// geoScenario is a simulated cluster: members spread evenly over a square
// area, each moving a step in a random direction once a round.
type geoScenario struct {
	name    string
	members int
	servers int
	side    float64 // meters: the area is side × side
	cell    float64 // meters: redis.WithCellSize
	radius  float64 // meters: a watch's radius plus its margin
	watch   float64 // the fraction of members that watch (not symmetric)
	step    float64 // meters moved each round
	rounds  int
	sharded bool // members go to servers by strip of the area, west to east, not at random
	naive   bool // then again with every server interested in every cell of the area
}

// geoModel holds the formulas of docs/cluster-scale.md.
type geoModel struct{ geoScenario }

func (s geoModel) area() float64    { return s.side * s.side }
func (s geoModel) density() float64 { return float64(s.members) / s.area() }

// cross is the probability that a move of step meters in a random
// direction leaves its cell: 1 − (1 − |dx|/c)(1 − |dy|/c), averaged.
func (s geoModel) cross() float64 {
	d, c := s.step, s.cell
	return (4*d - d*d/c) / (math.Pi * c)
}

// catchment is the area around a cell whose members make a server
// interested in it: the cell itself (its members), and for watchers the
// cell grown by the radius (c² + 4cR + πR²).
func (s geoModel) catchment() float64 {
	c, r := s.cell, s.radius
	return c*c + s.watch*(4*c*r+math.Pi*r*r)
}

// interested is P, the probability that a server is interested in a cell
// of the area when members are given to servers at random.
func (s geoModel) interested() float64 {
	return 1 - math.Pow(1-s.catchment()/s.area(), float64(s.members)/float64(s.servers))
}

// subscribers is D, the expected number of servers subscribed to the cell
// of a member (its own server among them).
func (s geoModel) subscribers() float64 {
	n := float64(s.servers)
	if !s.sharded {
		return 1 + (n-1)*s.interested()
	}
	// Strips of width side/N: a server hears of the cells of its strip,
	// of those that straddle its edge, and of those within R of it where
	// one of its watchers is (Poisson in the watchers of that band).
	c, r, rho, w := s.cell, s.radius, s.density(), s.watch
	slab := func(u float64) float64 { // the part of cell⊕R beyond u of its edge
		q := r*r/2*(math.Pi/2-math.Asin(u/r)) - u/2*math.Sqrt(r*r-u*u)
		return c*(r-u) + 2*q
	}
	const steps = 2000
	var far, straddle float64
	for i := range steps {
		u := (float64(i) + 0.5) * r / steps
		far += (1 - math.Exp(-w*rho*slab(u))) * r / steps
		v := (float64(i) + 0.5) * c / steps
		straddle += (1 - math.Exp(-rho*c*v-w*rho*(slab(0)+2*v*r))) * (1 - v/c) * c / steps
	}
	return 1 + (n-1)*2*(far+straddle)/s.side
}

// missed is the deliveries per move that do not happen because a member
// crossed into a cell its own server had no interest in: realtime asks
// for the cell and shares the record at once, and the subscription comes
// after the record, so the server's own copy of it never comes back.
// When members go to servers by region, their server is interested in
// every cell of its region already.
func (s geoModel) missed() float64 {
	if s.sharded {
		return 0
	}
	return s.cross() * (1 - s.interested())
}

// geoServer is a vicinity server of the simulation.
type geoServer struct {
	a        *redis.Adapter
	interest map[spatial.Cell]int // as realtime counts it
	members  []*geoMember
	rng      *rand.Rand
}

// geoMember is a simulated located socket.
type geoMember struct {
	id    string
	x, y  float64 // meters east and north of the area's south-west corner
	watch bool
	cells []spatial.Cell // sorted: those it makes its server interested in
}

// geoSim is a running scenario.
type geoSim struct {
	geoModel
	grid    spatial.Grid
	origin  spatial.Point // the area's south-west corner
	mPerLng float64       // meters per degree of longitude, mid-area
	servers []*geoServer
	rc      rueidis.Client // for Redis's command counts
}

func (g *geoSim) point(x, y float64) spatial.Point {
	return spatial.Point{Lat: g.origin.Lat + y/111_195, Lng: g.origin.Lng + x/g.mPerLng}
}

// areaCells returns the cells that hold a point of the area.
func (g *geoSim) areaCells(t *testing.T) []spatial.Cell {
	t.Helper()
	sw, ne := g.point(0, 0), g.point(g.side, g.side)
	cells, err := g.grid.CoverFence(spatial.Fence{Polygon: spatial.Polygon{
		sw, {Lat: sw.Lat, Lng: ne.Lng}, ne, {Lat: ne.Lat, Lng: sw.Lng},
	}})
	require.NoError(t, err)
	return cells
}

// interestIn moves a member's interest from the cells old to now (both
// sorted), as realtime's space.interestIn does.
func (s *geoServer) interestIn(old, now []spatial.Cell) {
	var add, remove []spatial.Cell
	for _, c := range now {
		if _, had := slices.BinarySearchFunc(old, c, cmpCells); !had {
			if s.interest[c]++; s.interest[c] == 1 {
				add = append(add, c)
			}
		}
	}
	for _, c := range old {
		if _, has := slices.BinarySearchFunc(now, c, cmpCells); !has {
			if s.interest[c]--; s.interest[c] <= 0 {
				delete(s.interest, c)
				remove = append(remove, c)
			}
		}
	}
	if len(add) > 0 || len(remove) > 0 {
		s.a.Interest(add, remove)
	}
}

func cmpCells(a, b spatial.Cell) int {
	if a.Row != b.Row {
		return int(a.Row) - int(b.Row)
	}
	return int(a.Col) - int(b.Col)
}

// place updates the interest of m's server for m where it is now and
// shares it, as (*located).share does for a socket shown exactly.
func (g *geoSim) place(s *geoServer, m *geoMember) {
	p := g.point(m.x, m.y)
	own := g.grid.Cell(p)
	cells := []spatial.Cell{own}
	if m.watch {
		cells = g.grid.AppendCover(cells, spatial.Circle{Center: p, Radius: g.radius})
	}
	slices.SortFunc(cells, cmpCells)
	cells = slices.Compact(cells)
	s.interestIn(m.cells, cells)
	m.cells = cells
	s.a.ShareLocation(realtime.SharedLocation{
		ID:       m.id,
		Position: spatial.Position{Point: p, Accuracy: 10, Time: time.Now()},
		Reach:    []spatial.Cell{own},
	})
}

// round moves every member one step, each server's on its own goroutine.
func (g *geoSim) round() {
	var wg sync.WaitGroup
	for _, s := range g.servers {
		wg.Go(func() {
			for _, m := range s.members {
				a := s.rng.Float64() * 2 * math.Pi
				m.x = reflect(m.x+g.step*math.Cos(a), g.side)
				m.y = reflect(m.y+g.step*math.Sin(a), g.side)
				g.place(s, m)
			}
		})
	}
	wg.Wait()
}

// reflect keeps v in [0, side], bouncing off its edges.
func reflect(v, side float64) float64 {
	switch {
	case v < 0:
		return -v
	case v > side:
		return 2*side - v
	}
	return v
}

// settle waits until every server is subscribed to the cells it wants and
// the records received stopped growing.
func (g *geoSim) settle(t *testing.T) {
	t.Helper()
	var last uint64
	stable := 0
	require.Eventually(t, func() bool {
		var sum uint64
		ready := true
		for _, s := range g.servers {
			st := s.a.LocationStats()
			sum += st.Received + st.Echoed
			if st.Cells != len(s.interest) {
				ready = false
				// An Interest made before the adapter's subscription
				// connection first came up is not acted on until the
				// next one: poke it.
				s.a.Interest(nil, nil)
			}
		}
		if ready && sum == last {
			stable++
		} else {
			stable = 0
		}
		last = sum
		return stable >= 3
	}, 3*time.Minute, 100*time.Millisecond, "the cluster did not settle")
}

// geoSnapshot is what the servers and Redis counted at one time.
type geoSnapshot struct {
	stats []redis.LocationStats
	redis map[string]uint64 // calls by command: publish, hset, hdel, hgetall
}

func (g *geoSim) snapshot(t *testing.T) geoSnapshot {
	t.Helper()
	var sn geoSnapshot
	for _, s := range g.servers {
		sn.stats = append(sn.stats, s.a.LocationStats())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	info, err := g.rc.Do(ctx, g.rc.B().Info().Section("commandstats").Build()).ToString()
	require.NoError(t, err)
	sn.redis = make(map[string]uint64)
	for line := range strings.Lines(info) {
		stat, ok := strings.CutPrefix(line, "cmdstat_")
		name, rest, ok2 := strings.Cut(stat, ":calls=")
		if !ok || !ok2 {
			continue
		}
		calls, _, _ := strings.Cut(rest, ",")
		sn.redis[name], _ = strconv.ParseUint(calls, 10, 64)
	}
	return sn
}

// geoPhase is what K rounds of a design cost, measured and predicted.
type geoPhase struct {
	scenario, design string
	moves, servers   int

	publishes, deliveries, pubBytes, recvBytes float64 // per move
	recvAvg, recvMax                           float64 // per server, per move
	cells, remote                              float64 // per server, at the end
	redisPublish, hset, hdel, hgetall          float64 // Redis's calls, per move
	record                                     float64 // bytes
	shared                                     uint64

	predPublishes, predSubscribers, predMissed, predRecord float64
	predCells, predRemote                                  float64
}

func (p geoPhase) predDeliveries() float64 { return p.predPublishes*p.predSubscribers - p.predMissed }

// measure runs the rounds of g and returns what they cost; the
// predictions are those of a design where a member's cell has
// predSubscribers servers subscribed to it (missed is geoModel.missed),
// and each server predCells cells.
func (g *geoSim) measure(t *testing.T, design string, predSubscribers, missed, predCells float64) geoPhase {
	t.Helper()
	before := g.snapshot(t)
	for range g.rounds {
		g.round()
		g.settle(t)
	}
	after := g.snapshot(t)
	n := float64(len(g.servers))
	moves := g.members * g.rounds
	p := geoPhase{scenario: g.name, design: design, moves: moves, servers: len(g.servers),
		predPublishes: 1 + g.cross(), predSubscribers: predSubscribers, predMissed: missed, predCells: predCells,
		predRemote: float64(g.members) * (predSubscribers - 1) / n,
	}
	var recvBytes uint64
	for i, a := range after.stats {
		b := before.stats[i]
		p.shared += a.Shared - b.Shared
		p.publishes += float64(a.Published - b.Published)
		p.pubBytes += float64(a.PublishedBytes - b.PublishedBytes)
		recv := float64(a.Received + a.Echoed - b.Received - b.Echoed)
		p.deliveries += recv
		recvBytes += a.ReceivedBytes + a.EchoedBytes - b.ReceivedBytes - b.EchoedBytes
		p.recvMax = max(p.recvMax, recv)
		p.cells += float64(a.Cells) / n
		p.remote += float64(a.Remote) / n
	}
	p.recvBytes = float64(recvBytes)
	p.record = p.pubBytes / p.publishes
	p.predRecord = g.recordSize(after)
	m := float64(moves)
	p.publishes, p.deliveries, p.pubBytes, p.recvBytes = p.publishes/m, p.deliveries/m, p.pubBytes/m, p.recvBytes/m
	p.recvAvg, p.recvMax = p.deliveries/n, p.recvMax/m
	calls := func(cmd string) float64 { return float64(after.redis[cmd]-before.redis[cmd]) / m }
	p.redisPublish, p.hset, p.hdel, p.hgetall = calls("publish"), calls("hset"), calls("hdel"), calls("hgetall")
	return p
}

// recordSize is the size of a record as encodeRecord writes it, for a
// member of the middle of the area shown exactly, with no watch.
func (g *geoSim) recordSize(sn geoSnapshot) float64 {
	uv := func(v uint64) float64 { return float64(len(binary.AppendUvarint(nil, v))) }
	sv := func(v int64) float64 { return float64(len(binary.AppendVarint(nil, v))) }
	c := g.grid.Cell(g.point(g.side/2, g.side/2))
	n := sn.stats[0].Shared // the record counter of server 0, about
	return 1 + (1 + 16) + uv(n) + (1 + 20) + 1 + 3*8 + sv(time.Now().UnixMilli()) + 1 + sv(int64(c.Row)) + sv(int64(c.Col))
}

// startGeoSim starts the servers of sc on the Redis at addr, places its
// members and waits until everything shared reached every server.
func startGeoSim(t *testing.T, addr string, sc geoScenario) *geoSim {
	t.Helper()
	grid, err := spatial.NewGrid(sc.cell)
	require.NoError(t, err)
	g := &geoSim{geoModel: geoModel{sc}, grid: grid, origin: spatial.Point{Lat: 52.45, Lng: 13.2}, rc: newClient(t, addr)}
	g.mPerLng = 111_195 * math.Cos((g.origin.Lat+sc.side/2/111_195)*math.Pi/180)
	key := "geosim" + id.New()[:8]
	// Once the servers closed (the clean-ups run last first), nothing of
	// theirs is left in Redis but the cluster's secret: every record was
	// taken out of its cells' hashes.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		keys, err := g.rc.Do(ctx, g.rc.B().Keys().Pattern(key+"*").Build()).AsStrSlice()
		require.NoError(t, err)
		assert.Equal(t, []string{key + "-geo-secret"}, keys, "the keys left in Redis")
	})
	for i := range sc.servers {
		rc := newClient(t, addr)
		srv := realtime.New(
			realtime.WithAdapter(redis.NewAdapter(rc, redis.WithKey(key), redis.WithCellSize(sc.cell))),
			realtime.WithSpatial(),
		)
		t.Cleanup(func() { _ = srv.Close() })
		a, ok := srv.Of("/").Adapter().(*redis.Adapter)
		require.True(t, ok, "the adapter of / is a *redis.Adapter")
		g.servers = append(g.servers, &geoServer{a: a, interest: make(map[spatial.Cell]int), rng: rand.New(rand.NewPCG(uint64(i), 2))})
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for range sc.members {
		m := &geoMember{id: id.New(), x: rng.Float64() * sc.side, y: rng.Float64() * sc.side, watch: rng.Float64() < sc.watch}
		k := rng.IntN(sc.servers)
		if sc.sharded {
			k = min(int(m.x/(sc.side/float64(sc.servers))), sc.servers-1)
		}
		g.servers[k].members = append(g.servers[k].members, m)
	}
	// The interest first, as sockets that set a location before they
	// share it; then every member shared once.
	for _, s := range g.servers {
		for _, m := range s.members {
			p := g.point(m.x, m.y)
			cells := []spatial.Cell{grid.Cell(p)}
			if m.watch {
				cells = grid.AppendCover(cells, spatial.Circle{Center: p, Radius: sc.radius})
			}
			slices.SortFunc(cells, cmpCells)
			cells = slices.Compact(cells)
			s.interestIn(m.cells, cells)
			m.cells = cells
		}
	}
	g.settle(t)
	var wg sync.WaitGroup
	for _, s := range g.servers {
		wg.Go(func() {
			for _, m := range s.members {
				g.place(s, m)
			}
		})
	}
	wg.Wait()
	g.settle(t)
	return g
}

// pinArea makes every server interested in every cell of the area: the
// naive design, every move to every server.
func (g *geoSim) pinArea(t *testing.T) {
	t.Helper()
	cells := g.areaCells(t)
	for _, s := range g.servers {
		s.interestIn(nil, cells)
	}
	g.settle(t)
}

// TestGeoSim measures what a move costs across three servers in a city
// (members given to servers at random, then every server interested in
// every cell: the naive design), in the same city with members given to
// servers by region, and in a sparse region, and compares it with the
// formulas of docs/cluster-scale.md. See the top of the file.
func TestGeoSim(t *testing.T) {
	full := os.Getenv(geosimEnv) == "1"
	members, rounds := 2_000, 2
	if full {
		members, rounds = 20_000, 3
	}
	city := geoScenario{
		name: "city", members: members, servers: 3, side: 20_000, cell: 2_000, radius: 500, watch: 0.1,
		step: 100, rounds: rounds, naive: true,
	}
	sharded := city
	sharded.name, sharded.sharded = "city, sharded by region", true
	// The region: members so sparse that a server is interested in about
	// half the cells (a catchment of λ = 0.7 of its members per cell).
	region := geoScenario{
		name: "region", members: members, servers: 3, cell: 1_000, radius: 500, watch: 0.25,
		step: 100, rounds: rounds,
	}
	region.side = math.Sqrt(float64(members) / float64(region.servers) * geoModel{region}.catchment() / 0.7)

	rs := redistest.Start(t)
	var phases []geoPhase
	for _, sc := range []geoScenario{city, sharded, region} {
		t.Run(sc.name, func(t *testing.T) {
			g := startGeoSim(t, rs.Addr(), sc)
			area := float64(len(g.areaCells(t)))
			predCells := area * g.interested()
			if sc.sharded {
				predCells = math.NaN()
			}
			t.Logf("%s: ρ = %.1f/km², p_x = %.4f, catchment %.3f km², λ = %.2f, P = %.3f, D = %.3f",
				sc.name, g.density()*1e6, g.cross(), g.catchment()/1e6,
				g.catchment()/g.area()*float64(sc.members)/float64(sc.servers), g.interested(), g.subscribers())
			cells := g.measure(t, "cells", g.subscribers(), g.missed(), predCells)
			phases = append(phases, cells)
			assert.EqualValues(t, cells.moves, cells.shared, "every move is shared")
			assert.InEpsilon(t, cells.predPublishes, cells.publishes, 0.25, "publishes per move")
			assert.InEpsilon(t, cells.predDeliveries(), cells.deliveries, 0.25, "deliveries per move")
			if !sc.naive {
				return
			}
			g.pinArea(t)
			naive := g.measure(t, "naive (emulated)", float64(sc.servers), 0, area)
			phases = append(phases, naive)
			assert.InEpsilon(t, naive.predDeliveries(), naive.deliveries, 0.25, "deliveries per move, naive")
			if sc.sharded {
				assert.Less(t, cells.deliveries, naive.deliveries, "cells deliver fewer than naive when sharded")
				assert.InEpsilon(t, naive.predDeliveries()/cells.predDeliveries(), naive.deliveries/cells.deliveries, 0.25,
					"the saving of cells over naive when sharded")
			}
		})
	}
	t.Logf("%d members, 3 servers, %d rounds; measured (predicted), per member move unless said", members, rounds)
	t.Log("| scenario | design | moves | publishes | deliveries | record bytes | bytes published | bytes delivered | received per server (avg / max) | cells per server | replicas per server | Redis PUBLISH / HSET / HDEL / HGETALL |")
	t.Log("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, p := range phases {
		t.Logf("| %s | %s | %d | %.3f (%.3f) | %.3f (%.3f) | %.1f (%.0f) | %.0f (%.0f) | %.0f (%.0f) | %.3f / %.3f (%.3f) | %.0f (%s) | %.0f (%.0f) | %.3f / %.3f / %.3f / %.4f |",
			p.scenario, p.design, p.moves,
			p.publishes, p.predPublishes, p.deliveries, p.predDeliveries(), p.record, p.predRecord,
			p.pubBytes, p.predPublishes*p.predRecord, p.recvBytes, p.predDeliveries()*p.predRecord,
			p.recvAvg, p.recvMax, p.predDeliveries()/float64(p.servers),
			p.cells, orDash(p.predCells), p.remote, p.predRemote,
			p.redisPublish, p.hset, p.hdel, p.hgetall)
	}
}

func orDash(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.0f", v)
}
