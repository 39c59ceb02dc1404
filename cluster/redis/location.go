package redis

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/vicinity-go/vicinity/realtime"
	"github.com/vicinity-go/vicinity/spatial"
)

// Location across servers: the adapter is a [realtime.LocationAdapter].
// For namespace N and key K, cell c (spatial.Cell's text, "row.col"):
//
//   - K-geo#N#c# is the cell's channel: what the servers share of their
//     sockets whose reach holds c (see realtime.SharedLocation), and the
//     Near broadcasts whose circle covers c;
//   - K-geo#N#c#m is the cell's hash: field uid:id, the last record the
//     server uid shared of its socket id, for the servers that come to
//     the cell (deleted when the socket leaves the cell, hides or goes);
//   - K-geo#N#node#uid is the set of the cells where server uid wrote
//     records, for the servers that clean up after it died.
//
// A record is binary (see encodeRecord): the owner's uid and a number that
// grows with each of its records, so that a server applies a socket's
// records in order, whatever mix of channel and hash it reads them from.

// DefaultCellSize is the size of the cells by which servers share
// location, in meters: see [WithCellSize].
const DefaultCellSize = 2000

// WithCellSize sets the size, in meters, of the cells by which the servers
// of a cluster share location (with realtime.WithSpatial): a server hears
// of the moves in the cells its watches cover and its sockets are in, no
// others. Every server of a cluster uses the same. Smaller cells send a
// move to fewer servers but make a watch cover more of them (a watch of
// radius r covers about π(r/size+1)² cells). Default 2,000 m. It panics
// for a size spatial.NewGrid refuses (under 1 m, over 1,000 km).
func WithCellSize(meters float64) Option {
	if _, err := spatial.NewGrid(meters); err != nil {
		panic("redis: WithCellSize: " + err.Error())
	}
	return func(c *config) { c.cellSize = meters }
}

// maxNearCells bounds the cells a Near broadcast is published to; a larger
// circle goes to every vicinity server, on the namespace's vicinity
// channel.
const maxNearCells = 64

// geo is an adapter's part in sharing location.
type geo struct {
	a      *Adapter
	grid   spatial.Grid
	prefix string // K-geo#N#
	kind   kind   // of the cell subscriptions

	mu      sync.Mutex
	counter uint64
	local   map[string]localShare // this server's sockets, by id
	wrote   map[spatial.Cell]int  // cells whose hash has records of this server: how many
	want    map[spatial.Cell]bool // the interest realtime asked for
	have    map[spatial.Cell]bool // subscribed to and read
	owners  map[string]owner      // the other servers' sockets applied, by id
	heard   map[string]time.Time  // other servers' uids, by when first heard of in a record
	dead    map[string]time.Time  // uids found dead, until forgotten
	resync  bool                  // read every cell again, and share again
	wake    chan struct{}

	// sendMu orders the records of this server in the outbox as they
	// were made (a share again and a move at once).
	sendMu sync.Mutex
	// applyMu makes each check of a record's order and its application
	// one step: records come from the subscriber's worker and from cell
	// reads on keepCells.
	applyMu sync.Mutex

	shared, published, publishedBytes, received, receivedBytes, echoed, echoedBytes atomic.Uint64

	// The ids of the Near broadcasts delivered last, under mu.
	near     map[uint64]struct{}
	nearRing [nearSeen]uint64
	nearNext int
}

// LocationStats counts an adapter's share of location traffic since it
// started, for metrics and for checking the cost of a move.
type LocationStats struct {
	Shared         uint64 // records of this server's sockets shared: moves, hides, leaves
	Published      uint64 // messages they made and Redis took: one per cell of a record's reach and of the last one's
	PublishedBytes uint64
	Received       uint64 // other servers' records received on cell channels (not those read from the cells' hashes)
	ReceivedBytes  uint64
	Echoed         uint64 // this server's own records back from Redis (it listens to its sockets' cells): Received+Echoed is what Redis delivered here
	EchoedBytes    uint64
	Cells          int // cells subscribed to now
	Remote         int // other servers' sockets known now
}

// LocationStats returns the adapter's location counters.
func (a *Adapter) LocationStats() LocationStats {
	g := a.geo
	st := LocationStats{
		Shared: g.shared.Load(), Published: g.published.Load(), PublishedBytes: g.publishedBytes.Load(),
		Received: g.received.Load(), ReceivedBytes: g.receivedBytes.Load(),
		Echoed: g.echoed.Load(), EchoedBytes: g.echoedBytes.Load(),
	}
	g.mu.Lock()
	st.Cells = len(g.have)
	for _, o := range g.owners {
		if !o.gone {
			st.Remote++
		}
	}
	g.mu.Unlock()
	return st
}

// localShare is the last record of a socket of this server, and the
// cells the other servers last heard of it in.
type localShare struct {
	msg    []byte
	reach  []spatial.Cell // of msg
	hidden bool           // msg says hidden
	gone   bool           // msg says gone: the entry goes once it is sent
	heard  []spatial.Cell // the cells whose servers have its last record sent
}

// owner is who shared a socket last, and what.
type owner struct {
	uid   string
	n     uint64
	reach []spatial.Cell
	gone  bool
	at    time.Time
}

func newGeo(a *Adapter, size float64) *geo {
	grid, _ := spatial.NewGrid(size) // checked by WithCellSize
	g := &geo{
		a: a, grid: grid, prefix: a.h.cfg.key + "-geo#" + a.name + "#", kind: channelSub,
		local: make(map[string]localShare), wrote: make(map[spatial.Cell]int),
		want: make(map[spatial.Cell]bool), have: make(map[spatial.Cell]bool),
		owners: make(map[string]owner), heard: make(map[string]time.Time), dead: make(map[string]time.Time),
		wake: make(chan struct{}, 1), near: make(map[uint64]struct{}, nearSeen),
	}
	if a.h.cfg.sharded {
		g.kind = shardSub
	}
	return g
}

func (g *geo) channel(c spatial.Cell) string { return g.prefix + c.String() + "#" }
func (g *geo) hash(c spatial.Cell) string    { return g.prefix + c.String() + "#m" }
func (g *geo) nodeKey(uid string) string     { return g.prefix + "node#" + uid }

// cellOf returns the cell of a channel of g, and whether it is one.
func (g *geo) cellOf(channel string) (spatial.Cell, bool) {
	s, ok := strings.CutPrefix(channel, g.prefix)
	if !ok || !strings.HasSuffix(s, "#") {
		return spatial.Cell{}, false
	}
	c, err := spatial.ParseCell(s[:len(s)-1])
	return c, err == nil && g.grid.Contains(c)
}

// Secret implements [realtime.LocationAdapter]: the cluster's key of
// privacy zones, K-geo-secret in Redis, set by the first server that asks
// (SET NX) and read by the others. The first call reads it, within the
// request timeout; nil if Redis could not be reached (a later call tries
// again).
func (a *Adapter) Secret() []byte {
	h := a.h
	h.secretMu.Lock()
	defer h.secretMu.Unlock()
	if h.secret != nil {
		return h.secret
	}
	key := h.cfg.key + "-geo-secret"
	fresh := make([]byte, 32)
	_, _ = rand.Read(fresh)
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.requestTimeout)
	defer cancel()
	c := h.client
	err := doRetry(ctx, c, c.B().Set().Key(key).Value(hex.EncodeToString(fresh)).Nx().Build()).Error()
	if err != nil && !rueidis.IsRedisNil(err) {
		return nil
	}
	v, err := doRetry(ctx, c, c.B().Get().Key(key).Build()).ToString()
	if err != nil || v == "" {
		return nil
	}
	h.secret = []byte(v)
	return h.secret
}

// Grid implements [realtime.LocationAdapter].
func (a *Adapter) Grid() spatial.Grid { return a.geo.grid }

// ShareLocation implements [realtime.LocationAdapter]: the record goes to
// the channels of the cells of its reach and of the cells the other
// servers last heard of it in, and into the hashes of the cells of its
// reach (out of the others'). It never waits for Redis: while Redis is
// down, or the outbox is full, the record is kept, and every socket is
// shared again as soon as it can be, to the cells the others last heard of
// it in (so that none stays visible where it left, or after it went).
func (a *Adapter) ShareLocation(m realtime.SharedLocation) {
	g := a.geo
	g.sendMu.Lock()
	defer g.sendMu.Unlock()
	g.mu.Lock()
	g.counter++
	ls := g.local[m.ID]
	ls.msg, ls.reach, ls.gone = encodeRecord(a.uid, g.counter, m), m.Reach, m.Gone != ""
	ls.hidden = m.Hidden
	g.local[m.ID] = ls
	g.mu.Unlock()
	g.shared.Add(1)
	if !a.sub.up.Load() {
		g.shareLater() // once Redis is there
		return
	}
	a.sendLocal(m.ID, nil)
}

// sendLocal queues the commands that share the last record of the local
// socket id, to the cells of its reach and those the others last heard of
// it in (and those of also), and notes what they now know. g.sendMu is
// held: the records of the server reach the outbox in the order they were
// made.
func (a *Adapter) sendLocal(id string, also []spatial.Cell) {
	g, c := a.geo, a.h.client
	g.mu.Lock()
	ls, ok := g.local[id]
	if !ok {
		g.mu.Unlock()
		return
	}
	msg, reach := ls.msg, ls.reach
	prev := ls.heard
	for _, c := range also {
		if !slices.Contains(prev, c) {
			prev = append(slices.Clip(prev), c)
		}
	}
	// What the others will know: where it is; while hidden, the cells
	// that hold its hidden replica; nothing once gone.
	heard := reach
	switch {
	case ls.gone:
		heard = nil
	case ls.hidden:
		heard = prev
	}
	fresh, stale := g.wroteIn(ls.heard, heard)
	if ls.gone {
		delete(g.local, id)
	} else {
		ls.heard = heard
		g.local[id] = ls
	}
	g.mu.Unlock()
	field := a.uid + ":" + id
	// Never waits (the caller may hold the socket's location lock): what
	// does not fit in the outbox, or fails, is shared again soon, also to
	// the cells the others heard of it in before.
	var once sync.Once
	failed := func(err error) {
		if err != nil {
			a.logShareFailure(err)
			once.Do(func() { g.unsent(id, msg, prev) })
		}
	}
	send := func(cmd rueidis.Completed, done func(error)) {
		if err := a.out.send(doneContext, cmd, done); err != nil {
			failed(err)
		}
	}
	if len(fresh) > 0 {
		send(c.B().Sadd().Key(g.nodeKey(a.uid)).Member(cellNames(fresh)...).Build(), failed)
	}
	published := func(err error) {
		if err == nil {
			g.published.Add(1)
			g.publishedBytes.Add(uint64(len(msg)))
		}
		failed(err)
	}
	for _, cell := range reach {
		send(c.B().Hset().Key(g.hash(cell)).FieldValue().FieldValue(field, rueidis.BinaryString(msg)).Build(), failed)
		send(a.publishCmd(g.channel(cell), msg), published)
	}
	for _, cell := range prev {
		if !slices.Contains(reach, cell) {
			send(c.B().Hdel().Key(g.hash(cell)).Field(field).Build(), failed)
			send(a.publishCmd(g.channel(cell), msg), published)
		}
	}
	if len(stale) > 0 {
		send(c.B().Srem().Key(g.nodeKey(a.uid)).Member(cellNames(stale)...).Build(), failed)
	}
}

// unsent notes that msg, a record of the local socket id sent to the
// cells of its reach and of prev, may not have reached them all: the
// others may still know it in prev, so the socket is shared again soon to
// those cells too (its latest record; a gone socket's, if it went).
func (g *geo) unsent(id string, msg []byte, prev []spatial.Cell) {
	g.mu.Lock()
	ls, ok := g.local[id]
	if !ok { // it went, and its leaving may be what was lost
		ls = localShare{msg: msg, gone: true}
	}
	heard := ls.heard
	for _, c := range prev {
		if !slices.Contains(heard, c) {
			heard = append(slices.Clip(heard), c)
		}
	}
	_, _ = g.wroteIn(ls.heard, heard)
	ls.heard = heard
	g.local[id] = ls
	g.resync = true
	g.mu.Unlock()
	g.poke()
}

// wroteIn counts a local socket's cells moving from old to now, and
// returns the cells where this server now has its first record and those
// where it has none left: its node set (for the servers that clean up
// after it) holds exactly the cells with records of its. g.mu is held.
func (g *geo) wroteIn(old, now []spatial.Cell) (fresh, stale []spatial.Cell) {
	for _, c := range now {
		if !slices.Contains(old, c) {
			if g.wrote[c]++; g.wrote[c] == 1 {
				fresh = append(fresh, c)
			}
		}
	}
	for _, c := range old {
		if !slices.Contains(now, c) {
			if g.wrote[c]--; g.wrote[c] <= 0 {
				delete(g.wrote, c)
				stale = append(stale, c)
			}
		}
	}
	return fresh, stale
}

func cellNames(cells []spatial.Cell) []string {
	names := make([]string, len(cells))
	for i, c := range cells {
		names[i] = c.String()
	}
	return names
}

func (a *Adapter) logShareFailure(err error) {
	if err != nil {
		a.log.Debug("redis adapter: location not shared", "err", err)
	}
}

// Interest implements [realtime.LocationAdapter]: the adapter's goroutine
// subscribes to the new cells and reads them, and leaves the others.
func (a *Adapter) Interest(add, remove []spatial.Cell) {
	g := a.geo
	g.mu.Lock()
	for _, c := range add {
		g.want[c] = true
	}
	for _, c := range remove {
		delete(g.want, c)
	}
	g.mu.Unlock()
	g.poke()
}

func (g *geo) poke() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// FetchCells implements [realtime.LocationAdapter]: it reads the cells'
// hashes.
func (a *Adapter) FetchCells(ctx context.Context, cells []spatial.Cell) ([]realtime.SharedLocation, error) {
	recs, err := a.geo.read(ctx, cells)
	// Only the servers heard of within the heartbeat timeout (in this
	// server's first timeout, any but those known dead): records of one
	// that died may be there until a server that noticed cleans up.
	now := time.Now()
	cut := now.Add(-a.h.cfg.heartbeatTimeout)
	a.mu.Lock()
	early := now.Sub(a.started) < a.h.cfg.heartbeatTimeout
	out := make([]realtime.SharedLocation, 0, len(recs))
	for _, r := range recs {
		at, ok := a.peers[r.uid]
		if r.uid != a.uid && ((ok && at.After(cut)) || (early && !ok)) {
			out = append(out, r.m)
		}
	}
	a.mu.Unlock()
	return out, err
}

// read reads the records of cells, skipping those of dead servers.
func (g *geo) read(ctx context.Context, cells []spatial.Cell) ([]record, error) {
	if len(cells) == 0 {
		return nil, nil
	}
	c := g.a.h.client
	cmds := make(rueidis.Commands, len(cells))
	for i, cell := range cells {
		cmds[i] = c.B().Hgetall().Key(g.hash(cell)).Build()
	}
	var out []record
	var errs []error
	g.mu.Lock()
	dead := make(map[string]bool, len(g.dead))
	for uid := range g.dead {
		dead[uid] = true
	}
	g.mu.Unlock()
	for _, res := range c.DoMulti(ctx, cmds...) {
		m, err := res.AsStrMap()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, v := range m {
			r, err := decodeRecord([]byte(v))
			if err != nil || dead[r.uid] {
				continue
			}
			out = append(out, r)
		}
	}
	if len(errs) > 0 {
		return out, errUnavailable(errors.Join(errs...))
	}
	return out, nil
}

// retryCells is how soon keepCells tries again when it could not
// subscribe.
const retryCells = 100 * time.Millisecond

// keepCells is the adapter's goroutine that keeps the cell subscriptions
// in step with the interest, reads the cells it comes to, and after a
// reconnection shares this server's sockets again and reads every cell
// again, until the adapter closes.
func (a *Adapter) keepCells() {
	defer a.wg.Done()
	g := a.geo
	for {
		select {
		case <-a.stop:
			return
		case <-g.wake:
		}
		if !a.sub.up.Load() {
			// Not connected yet (a server's first moments) or any more:
			// try again shortly (a reconnection pokes too).
			time.AfterFunc(retryCells, g.poke)
			continue
		}
		g.mu.Lock()
		var add, remove []spatial.Cell
		for c := range g.want {
			if !g.have[c] {
				add = append(add, c)
			}
		}
		for c := range g.have {
			if !g.want[c] {
				remove = append(remove, c)
			}
		}
		resync := g.resync
		g.resync = false
		g.mu.Unlock()
		if resync {
			a.shareAgain()
		}
		if len(remove) > 0 {
			keys := make([]subKey, len(remove))
			for i, c := range remove {
				keys[i] = subKey{g.kind, g.channel(c)}
			}
			a.sub.remove(g, keys...)
			g.mu.Lock()
			for _, c := range remove {
				delete(g.have, c)
			}
			g.mu.Unlock()
		}
		if len(add) > 0 {
			keys := make([]subKey, len(add))
			for i, c := range add {
				keys[i] = subKey{g.kind, g.channel(c)}
			}
			if err := a.sub.add(g, a.onCell, keys...); err != nil {
				a.log.Warn("redis adapter: cells not subscribed", "err", err)
				a.sub.remove(g, keys...)
				time.AfterFunc(retryCells, g.poke)
				continue
			}
			g.mu.Lock()
			for _, c := range add {
				g.have[c] = true
			}
			g.mu.Unlock()
		}
		var reread []spatial.Cell
		if resync {
			g.mu.Lock()
			for c := range g.have {
				reread = append(reread, c)
			}
			g.mu.Unlock()
		} else {
			reread = add
		}
		a.readCells(reread, resync)
	}
}

// readCells reads cells and applies their records; with all (after a
// reconnection, cells being every cell subscribed to), the replicas
// absent from every cell are gone.
func (a *Adapter) readCells(cells []spatial.Cell, all bool) {
	if len(cells) == 0 {
		return
	}
	g := a.geo
	ctx, cancel := context.WithTimeout(context.Background(), a.h.cfg.requestTimeout)
	defer cancel()
	recs, err := g.read(ctx, cells)
	if err != nil {
		a.log.Warn("redis adapter: cells not read", "err", err)
		g.mu.Lock()
		g.resync = true // every cell read again, shortly
		g.mu.Unlock()
		time.AfterFunc(retryCells, g.poke)
	}
	seen := make(map[string]bool, len(recs))
	for _, r := range recs {
		seen[r.m.ID] = true
		a.receive(r)
	}
	if !all || err != nil {
		return
	}
	g.applyMu.Lock()
	defer g.applyMu.Unlock()
	g.mu.Lock()
	var gone []string
	for id, o := range g.owners {
		if !o.gone && !seen[id] {
			o.gone, o.at = true, time.Now()
			g.owners[id] = o
			gone = append(gone, id)
		}
	}
	g.mu.Unlock()
	for _, id := range gone {
		a.nsp.ApplySharedLocation(realtime.SharedLocation{ID: id, Gone: realtime.LeaveDisconnected})
	}
}

// shareAgain shares every socket of this server again, its last record,
// to its cells and to those the others last heard of it in: Redis may have
// lost them, or a record may not have been sent.
func (a *Adapter) shareAgain() {
	g := a.geo
	g.sendMu.Lock()
	defer g.sendMu.Unlock()
	g.mu.Lock()
	type again struct {
		id   string
		also []spatial.Cell
	}
	all := make([]again, 0, len(g.local))
	for id, ls := range g.local {
		// Sent afresh: Redis may have lost the node set and the hashes.
		all = append(all, again{id, ls.heard})
		_, _ = g.wroteIn(ls.heard, nil)
		ls.heard = nil
		g.local[id] = ls
	}
	g.mu.Unlock()
	for _, x := range all {
		a.sendLocal(x.id, x.also)
	}
}

// subscriptions returns the cell channels subscribed to.
func (g *geo) subscriptions() []subKey {
	g.mu.Lock()
	defer g.mu.Unlock()
	keys := make([]subKey, 0, len(g.have))
	for c := range g.have {
		keys = append(keys, subKey{g.kind, g.channel(c)})
	}
	return keys
}

// doneContext is a context already done: an outbox send with it never
// waits for room in the queue.
var doneContext = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// shareLater has keepCells share every socket of this server again (and
// read every cell again) as soon as it can: something shared was lost.
func (g *geo) shareLater() {
	g.mu.Lock()
	g.resync = true
	g.mu.Unlock()
	g.poke()
}

// alive notes a heartbeat of server uid, and reports whether it was taken
// for dead: it is alive, and must share its sockets again (its records
// were removed).
func (g *geo) alive(uid string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, wasDead := g.dead[uid]
	delete(g.dead, uid)
	return wasDead
}

// resubscribed is called after the subscription connection came back.
func (g *geo) resubscribed() { g.shareLater() }

// onCell receives a cell's channel, on the subscriber's worker.
func (a *Adapter) onCell(channel string, msg []byte) {
	g := a.geo
	if _, ok := g.cellOf(channel); !ok || len(msg) == 0 {
		return
	}
	if msg[0] == nearTag {
		a.onNear(msg)
		return
	}
	r, err := decodeRecord(msg)
	if err != nil {
		a.drop("shared location", err)
		return
	}
	if r.uid != a.uid {
		g.received.Add(1)
		g.receivedBytes.Add(uint64(len(msg)))
	} else { // this server's own, back from Redis
		g.echoed.Add(1)
		g.echoedBytes.Add(uint64(len(msg)))
	}
	a.receive(r)
}

// receive applies r unless it is this server's, older than what was
// applied of its socket, or a removal by a server that no longer owns it.
func (a *Adapter) receive(r record) {
	g := a.geo
	if r.uid == a.uid {
		return
	}
	g.applyMu.Lock()
	defer g.applyMu.Unlock()
	now := time.Now()
	g.mu.Lock()
	if _, dead := g.dead[r.uid]; dead {
		g.mu.Unlock()
		return
	}
	o, ok := g.owners[r.m.ID]
	switch {
	case ok && o.uid == r.uid && r.n < o.n:
		// Old news. The same record again is applied again: a share
		// again after Redis lost it, or a cell read again, may find a
		// socket this server dropped (taken for gone, or swept here).
		g.mu.Unlock()
		return
	case ok && o.uid != r.uid && (r.m.Gone != "" || r.m.Hidden):
		g.mu.Unlock()
		return // from a server it left (it recovered on another)
	case !ok && r.m.Gone != "":
		g.mu.Unlock()
		return
	}
	if _, known := g.heard[r.uid]; !known {
		g.heard[r.uid] = now
	}
	g.owners[r.m.ID] = owner{uid: r.uid, n: r.n, reach: r.m.Reach, gone: r.m.Gone != "", at: now}
	g.mu.Unlock()
	a.nsp.ApplySharedLocation(r.m)
}

// checkOwners runs with each heartbeat: the sockets of the servers that
// died are gone, and the records nobody needs are forgotten. A server is
// dead when it was not heard of within the heartbeat timeout and Redis no
// longer holds its subscriptions (its connection closed): one that is
// merely slow (its heartbeats late behind a backlog) keeps its sockets.
func (a *Adapter) checkOwners() {
	g := a.geo
	now := time.Now()
	cut := now.Add(-a.h.cfg.heartbeatTimeout)
	a.mu.Lock()
	alive := make(map[string]bool, len(a.peers))
	for uid, at := range a.peers {
		if at.After(cut) {
			alive[uid] = true
		}
	}
	a.mu.Unlock()
	var silent []string
	g.mu.Lock()
	for uid, first := range g.heard {
		if !alive[uid] && first.Before(cut) {
			silent = append(silent, uid)
		}
	}
	g.mu.Unlock()
	var died []string
	if len(silent) > 0 {
		subscribed, err := a.subscribed(silent)
		if err == nil {
			for _, uid := range silent {
				if !subscribed[uid] {
					died = append(died, uid)
				}
			}
		}
	}
	var gone []string
	g.applyMu.Lock()
	defer g.applyMu.Unlock()
	g.mu.Lock()
	for _, uid := range died {
		delete(g.heard, uid)
		g.dead[uid] = now
	}
	for uid, at := range g.dead {
		if now.Sub(at) > 6*a.h.cfg.heartbeatTimeout {
			delete(g.dead, uid)
		}
	}
	for id, o := range g.owners {
		_, dead := g.dead[o.uid]
		switch {
		case o.gone && now.Sub(o.at) > a.h.cfg.heartbeatTimeout:
			delete(g.owners, id)
		case dead && !o.gone:
			o.gone, o.at = true, now
			g.owners[id] = o
			gone = append(gone, id)
		case !o.gone && now.Sub(o.at) > 3*a.h.cfg.heartbeatTimeout && !g.wanted(o.reach):
			delete(g.owners, id) // out of this server's cells: realtime drops it too
		}
	}
	g.mu.Unlock()
	for _, id := range gone {
		a.nsp.ApplySharedLocation(realtime.SharedLocation{ID: id, Gone: realtime.LeaveDisconnected})
	}
	for _, uid := range died {
		a.log.Info("redis adapter: a server stopped: its sockets left", "server", uid)
		a.wg.Add(1) // on the heartbeat goroutine, itself counted: Close waits
		go func() {
			defer a.wg.Done()
			a.cleanUp(uid)
		}()
	}
}

// subscribed reports which of the servers uids Redis still holds the
// subscription of (their own response channel).
func (a *Adapter) subscribed(uids []string) (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), a.h.cfg.requestTimeout)
	defer cancel()
	c := a.h.client
	out := make(map[string]bool, len(uids))
	for _, uid := range uids {
		ch := a.respChannel + uid + "#"
		cmd := c.B().PubsubNumsub().Channel(ch).Build()
		if a.h.cfg.sharded { // one by one: on a Redis Cluster, each on its shard
			ch = a.channel + uid + "#"
			cmd = c.B().PubsubShardnumsub().Channel(ch).Build()
		}
		n, err := doRetry(ctx, c, cmd).AsIntMap()
		if err != nil {
			return nil, err
		}
		out[uid] = n[ch] > 0
	}
	return out, nil
}

// silent notes servers no longer heard of, for checkOwners to tell whether
// they died (and clean up after them), even if this server never got a
// record of theirs: their records may be read from the cells later.
func (g *geo) silent(uids []string) {
	if len(uids) == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, uid := range uids {
		if _, ok := g.heard[uid]; !ok {
			g.heard[uid] = time.Time{} // long ago: checked at once
		}
	}
}

// wanted reports whether one of cells is of interest. g.mu is held.
func (g *geo) wanted(cells []spatial.Cell) bool {
	for _, c := range cells {
		if g.want[c] {
			return true
		}
	}
	return false
}

// cleanUp removes the records of server uid, which died, from the cells
// it wrote to. Every server that noticed does it; it is idempotent.
func (a *Adapter) cleanUp(uid string) {
	g, c := a.geo, a.h.client
	ctx, cancel := context.WithTimeout(context.Background(), a.h.cfg.requestTimeout)
	defer cancel()
	cells, err := c.Do(ctx, c.B().Smembers().Key(g.nodeKey(uid)).Build()).AsStrSlice()
	if err != nil {
		return
	}
	prefix := uid + ":"
	for _, name := range cells {
		cell, err := spatial.ParseCell(name)
		if err != nil {
			continue
		}
		fields, err := c.Do(ctx, c.B().Hkeys().Key(g.hash(cell)).Build()).AsStrSlice()
		if err != nil {
			return
		}
		var theirs []string
		for _, f := range fields {
			if strings.HasPrefix(f, prefix) {
				theirs = append(theirs, f)
			}
		}
		if len(theirs) > 0 {
			_ = c.Do(ctx, c.B().Hdel().Key(g.hash(cell)).Field(theirs...).Build()).Error()
		}
	}
	_ = c.Do(ctx, c.B().Del().Key(g.nodeKey(uid)).Build()).Error()
}

// forgetLocal removes this server's records from Redis when its adapter
// closes: its sockets are gone.
func (a *Adapter) forgetLocal() {
	g := a.geo
	g.mu.Lock()
	var ids []string
	for id, ls := range g.local {
		if len(ls.reach) > 0 {
			ids = append(ids, id)
		}
	}
	g.mu.Unlock()
	for _, id := range ids {
		a.ShareLocation(realtime.SharedLocation{ID: id, Gone: realtime.LeaveDisconnected})
	}
	a.cleanUp(a.uid)
}

// Near broadcasts by cell: a message of a cell's channel that starts with
// nearTag is a broadcast, [nearTag, id (8 bytes), classic broadcast],
// published to each cell its circle covers; a server delivers the first
// copy it gets, and knows the others by their id.
const nearTag = 0xfe

// nearSeen is how many Near broadcasts' ids a server remembers, to deliver
// each once: far more than can be in flight on the cells of one circle.
const nearSeen = 1024

// nearCells returns the cells of a Near broadcast's circle, or nil if it
// covers more than maxNearCells (it then goes to every server).
func (g *geo) nearCells(c *spatial.Circle) []spatial.Cell {
	cells := g.grid.Cover(*c)
	if len(cells) > maxNearCells {
		return nil
	}
	return cells
}

// publishNear publishes a Near broadcast to the channels of cells.
func (a *Adapter) publishNear(ctx context.Context, cells []spatial.Cell, msg []byte) error {
	b := make([]byte, 9, 9+len(msg))
	b[0] = nearTag
	_, _ = rand.Read(b[1:9])
	b = append(b, msg...)
	var first error
	for _, c := range cells {
		if err := a.out.send(ctx, a.publishCmd(a.geo.channel(c), b), a.logFailure); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// onNear delivers a Near broadcast received on a cell's channel, unless a
// copy of it came on another cell's.
func (a *Adapter) onNear(msg []byte) {
	if len(msg) < 10 {
		a.drop("near broadcast", errBadRecord)
		return
	}
	id := binary.BigEndian.Uint64(msg[1:9])
	g := a.geo
	g.mu.Lock()
	_, dup := g.near[id]
	if !dup {
		if old := g.nearRing[g.nearNext]; old != 0 {
			delete(g.near, old)
		}
		g.nearRing[g.nearNext] = id
		g.nearNext = (g.nearNext + 1) % nearSeen
		g.near[id] = struct{}{}
	}
	g.mu.Unlock()
	if !dup {
		a.deliver(msg[9:])
	}
}

// A record, as published and kept in a cell's hash:
//
//	'L', uvarint len(uid), uid, uvarint n, uvarint len(id), id, flags,
//	[lat, lng, accuracy as float64 bits, time as Unix ms varint],
//	[radius, margin as float64 bits, dwell ms uvarint, capacity uvarint],
//	uvarint len(reach), each cell as varint row, varint col
//
// flags: 1 hidden, 2 gone unlocated, 4 gone disconnected, 8 a position
// follows, 16 a watch follows.
const recordTag = 'L'

type record struct {
	uid string
	n   uint64
	m   realtime.SharedLocation
}

func encodeRecord(uid string, n uint64, m realtime.SharedLocation) []byte {
	b := make([]byte, 0, 64+len(uid)+len(m.ID)+8*len(m.Reach))
	b = append(b, recordTag)
	b = binary.AppendUvarint(b, uint64(len(uid)))
	b = append(b, uid...)
	b = binary.AppendUvarint(b, n)
	b = binary.AppendUvarint(b, uint64(len(m.ID)))
	b = append(b, m.ID...)
	var flags byte
	switch {
	case m.Gone == realtime.LeaveUnlocated:
		flags |= 2
	case m.Gone != "":
		flags |= 4
	case m.Hidden:
		flags |= 1
	default:
		flags |= 8
		if m.Watch != nil {
			flags |= 16
		}
	}
	b = append(b, flags)
	if flags&8 != 0 {
		p := m.Position
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(p.Lat))
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(p.Lng))
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(p.Accuracy))
		var ms int64
		if !p.Time.IsZero() {
			ms = p.Time.UnixMilli()
		}
		b = binary.AppendVarint(b, ms)
	}
	if flags&16 != 0 {
		w := m.Watch
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(w.Radius))
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(w.Margin))
		b = binary.AppendUvarint(b, uint64(w.Dwell.Milliseconds()))
		b = binary.AppendUvarint(b, uint64(w.Capacity))
	}
	b = binary.AppendUvarint(b, uint64(len(m.Reach)))
	for _, c := range m.Reach {
		b = binary.AppendVarint(b, int64(c.Row))
		b = binary.AppendVarint(b, int64(c.Col))
	}
	return b
}

// maxReach bounds the cells of a record's reach: a symmetric watch of the
// largest radius covers fewer on any sensible grid.
const maxReach = 1 << 14

// decodeRecord decodes a record; it checks the form, not the values
// (realtime checks the position and the watch).
func decodeRecord(b []byte) (record, error) {
	var r record
	if len(b) == 0 || b[0] != recordTag {
		return r, errBadRecord
	}
	b = b[1:]
	str := func() (string, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) || n > 1024 {
			return "", false
		}
		s := string(b[k : k+int(n)])
		b = b[k+int(n):]
		return s, true
	}
	uvarint := func() (uint64, bool) {
		v, k := binary.Uvarint(b)
		if k <= 0 {
			return 0, false
		}
		b = b[k:]
		return v, true
	}
	varint := func() (int64, bool) {
		v, k := binary.Varint(b)
		if k <= 0 {
			return 0, false
		}
		b = b[k:]
		return v, true
	}
	float := func() (float64, bool) {
		if len(b) < 8 {
			return 0, false
		}
		v := math.Float64frombits(binary.BigEndian.Uint64(b))
		b = b[8:]
		return v, true
	}
	var ok bool
	if r.uid, ok = str(); !ok {
		return r, errBadRecord
	}
	if r.n, ok = uvarint(); !ok {
		return r, errBadRecord
	}
	if r.m.ID, ok = str(); !ok || len(b) == 0 {
		return r, errBadRecord
	}
	flags := b[0]
	b = b[1:]
	switch {
	case flags&2 != 0:
		r.m.Gone = realtime.LeaveUnlocated
	case flags&4 != 0:
		r.m.Gone = realtime.LeaveDisconnected
	case flags&1 != 0:
		r.m.Hidden = true
	}
	if flags&8 != 0 {
		lat, ok1 := float()
		lng, ok2 := float()
		acc, ok3 := float()
		ms, ok4 := varint()
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return r, errBadRecord
		}
		r.m.Position = spatial.Position{Point: spatial.Point{Lat: lat, Lng: lng}, Accuracy: acc}
		if ms != 0 {
			r.m.Position.Time = time.UnixMilli(ms)
		}
	}
	if flags&16 != 0 {
		radius, ok1 := float()
		margin, ok2 := float()
		dwell, ok3 := uvarint()
		capacity, ok4 := uvarint()
		if !ok1 || !ok2 || !ok3 || !ok4 || dwell > math.MaxInt64/uint64(time.Millisecond) || capacity > math.MaxInt32 {
			return r, errBadRecord
		}
		r.m.Watch = &realtime.SharedWatch{Radius: radius}
		r.m.Watch.Margin, r.m.Watch.Dwell, r.m.Watch.Symmetric, r.m.Watch.Capacity = margin, time.Duration(dwell)*time.Millisecond, true, int(capacity)
	}
	n, ok := uvarint()
	if !ok || n > maxReach || n > uint64(len(b)) {
		return r, errBadRecord
	}
	r.m.Reach = make([]spatial.Cell, 0, n)
	for range n {
		row, ok1 := varint()
		col, ok2 := varint()
		if !ok1 || !ok2 || row != int64(int32(row)) || col != int64(int32(col)) {
			return r, errBadRecord
		}
		r.m.Reach = append(r.m.Reach, spatial.Cell{Row: int32(row), Col: int32(col)})
	}
	if len(b) != 0 {
		return r, errBadRecord
	}
	return r, nil
}

var _ realtime.LocationAdapter = (*Adapter)(nil)
