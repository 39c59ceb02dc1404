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
	wrote   map[spatial.Cell]bool // cells whose hash has records of this server
	want    map[spatial.Cell]bool // the interest realtime asked for
	have    map[spatial.Cell]bool // subscribed to and read
	owners  map[string]owner      // the other servers' sockets applied, by id
	heard   map[string]time.Time  // other servers' uids, by when first heard of in a record
	dead    map[string]time.Time  // uids found dead, until forgotten
	resync  bool                  // read every cell again, and share again
	wake    chan struct{}

	// applyMu makes each check of a record's order and its application
	// one step: records come from the subscriber's worker and from cell
	// reads on keepCells.
	applyMu sync.Mutex

	shared, published, publishedBytes, received, receivedBytes atomic.Uint64
}

// LocationStats counts an adapter's share of location traffic since it
// started, for metrics and for checking the cost of a move.
type LocationStats struct {
	Shared         uint64 // records of this server's sockets shared: moves, hides, leaves
	Published      uint64 // messages they made and Redis took: one per cell of a record's reach and of the last one's
	PublishedBytes uint64
	Received       uint64 // other servers' records received on cell channels (not those read from the cells' hashes)
	ReceivedBytes  uint64
	Cells          int // cells subscribed to now
	Remote         int // other servers' sockets known now
}

// LocationStats returns the adapter's location counters.
func (a *Adapter) LocationStats() LocationStats {
	g := a.geo
	st := LocationStats{
		Shared: g.shared.Load(), Published: g.published.Load(), PublishedBytes: g.publishedBytes.Load(),
		Received: g.received.Load(), ReceivedBytes: g.receivedBytes.Load(),
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

// localShare is the last thing shared of a socket of this server.
type localShare struct {
	reach []spatial.Cell
	msg   []byte
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
		local: make(map[string]localShare), wrote: make(map[spatial.Cell]bool),
		want: make(map[spatial.Cell]bool), have: make(map[spatial.Cell]bool),
		owners: make(map[string]owner), heard: make(map[string]time.Time), dead: make(map[string]time.Time),
		wake: make(chan struct{}, 1),
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
// the channels of the cells of its reach and of its previous reach, and
// into the hashes of the cells of its reach (out of the others'). It does
// not wait for Redis; while Redis is down nothing is sent, and every
// socket is shared again once it is back.
func (a *Adapter) ShareLocation(m realtime.SharedLocation) {
	g := a.geo
	g.mu.Lock()
	g.counter++
	msg := encodeRecord(a.uid, g.counter, m)
	prev := g.local[m.ID].reach
	reach := m.Reach
	switch {
	case m.Gone != "":
		delete(g.local, m.ID)
	case m.Hidden:
		// Those who had it hide it; the cells it was in keep it as
		// their reach, for its next record to tell them it left.
		g.local[m.ID] = localShare{reach: prev, msg: msg}
	default:
		g.local[m.ID] = localShare{reach: reach, msg: msg}
	}
	var fresh []spatial.Cell
	for _, c := range reach {
		if !g.wrote[c] {
			g.wrote[c] = true
			fresh = append(fresh, c)
		}
	}
	g.mu.Unlock()
	g.shared.Add(1)
	if !a.sub.up.Load() {
		g.shareLater() // every socket again, once Redis is there
		return
	}
	a.sendRecord(m.ID, msg, prev, reach, fresh)
}

// sendRecord queues the commands that share msg, a record of socket id
// whose reach went from prev to reach; fresh are the cells this server
// writes to for the first time.
func (a *Adapter) sendRecord(id string, msg []byte, prev, reach, fresh []spatial.Cell) {
	g, c := a.geo, a.h.client
	field := a.uid + ":" + id
	// Never waits (the caller holds the socket's location lock): when the
	// outbox is full, what does not fit is shared again later, all of it.
	send := func(cmd rueidis.Completed, done func(error)) {
		if err := a.out.send(doneContext, cmd, done); err != nil {
			g.shareLater()
		}
	}
	if len(fresh) > 0 {
		names := make([]string, len(fresh))
		for i, cell := range fresh {
			names[i] = cell.String()
		}
		send(c.B().Sadd().Key(g.nodeKey(a.uid)).Member(names...).Build(), a.logShareFailure)
	}
	published := func(err error) {
		if err == nil {
			g.published.Add(1)
			g.publishedBytes.Add(uint64(len(msg)))
		}
		a.logShareFailure(err)
	}
	for _, cell := range reach {
		send(c.B().Hset().Key(g.hash(cell)).FieldValue().FieldValue(field, rueidis.BinaryString(msg)).Build(), a.logShareFailure)
		send(a.publishCmd(g.channel(cell), msg), published)
	}
	for _, cell := range prev {
		if !slices.Contains(reach, cell) {
			send(c.B().Hdel().Key(g.hash(cell)).Field(field).Build(), a.logShareFailure)
			send(a.publishCmd(g.channel(cell), msg), published)
		}
	}
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
	out := make([]realtime.SharedLocation, 0, len(recs))
	for _, r := range recs {
		if r.uid != a.uid {
			out = append(out, r.m)
		}
	}
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

// shareAgain shares every socket of this server again, as last shared:
// Redis may have lost them.
func (a *Adapter) shareAgain() {
	g := a.geo
	g.mu.Lock()
	type share struct {
		id string
		ls localShare
	}
	all := make([]share, 0, len(g.local))
	for id, ls := range g.local {
		all = append(all, share{id, ls})
	}
	clear(g.wrote)
	var fresh []spatial.Cell
	for _, s := range all {
		for _, c := range s.ls.reach {
			if !g.wrote[c] {
				g.wrote[c] = true
				fresh = append(fresh, c)
			}
		}
	}
	g.mu.Unlock()
	for i, s := range all {
		if i > 0 {
			fresh = nil
		}
		a.sendRecord(s.id, s.ls.msg, nil, s.ls.reach, fresh)
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
	cell, ok := g.cellOf(channel)
	if !ok || len(msg) == 0 {
		return
	}
	if msg[0] == nearTag {
		a.onNear(cell, msg)
		return
	}
	r, err := decodeRecord(msg)
	if err != nil {
		a.drop("shared location", err)
		return
	}
	if r.uid != a.uid { // not this server's own, back from Redis
		g.received.Add(1)
		g.receivedBytes.Add(uint64(len(msg)))
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
	case ok && o.uid == r.uid && r.n <= o.n:
		g.mu.Unlock()
		return // old news
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
// nearTag is a broadcast, [nearTag, cells…, classic broadcast], published
// to each cell its circle covers; a server delivers it from the first of
// those cells it is subscribed to, once.
const nearTag = 0xfe

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
	b := make([]byte, 0, 1+binary.MaxVarintLen32*(1+2*len(cells))+len(msg))
	b = append(b, nearTag)
	b = binary.AppendUvarint(b, uint64(len(cells)))
	for _, c := range cells {
		b = binary.AppendVarint(b, int64(c.Row))
		b = binary.AppendVarint(b, int64(c.Col))
	}
	b = append(b, msg...)
	var first error
	for _, c := range cells {
		if err := a.out.send(ctx, a.publishCmd(a.geo.channel(c), b), a.logFailure); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// onNear delivers a Near broadcast received on cell's channel, if cell is
// the first of its cells this server is subscribed to.
func (a *Adapter) onNear(cell spatial.Cell, msg []byte) {
	b := msg[1:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > maxNearCells {
		a.drop("near broadcast", errBadRecord)
		return
	}
	b = b[k:]
	g := a.geo
	var firstHere *spatial.Cell
	g.mu.Lock()
	for range n {
		row, k1 := binary.Varint(b)
		if k1 <= 0 {
			break
		}
		col, k2 := binary.Varint(b[k1:])
		if k2 <= 0 {
			break
		}
		b = b[k1+k2:]
		c := spatial.Cell{Row: int32(row), Col: int32(col)}
		if firstHere == nil && g.have[c] {
			firstHere = &c
		}
	}
	g.mu.Unlock()
	if firstHere == nil || *firstHere != cell || len(b) == 0 {
		return
	}
	a.deliver(b)
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
