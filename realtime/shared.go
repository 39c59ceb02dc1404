package realtime

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/vicinity-go/vicinity/spatial"
)

// LocationAdapter is implemented by a cluster [Adapter] that shares
// location with the other servers, so that watches, Nearby, Near and area
// rooms see the sockets of every server (cluster/redis's adapter does,
// by cells of its WithCellSize). The world is divided into the cells of
// Grid: this server shares what others may see of its located sockets
// (never their exact positions) with the servers interested in their
// cells, and keeps replicas of the other servers' sockets in the cells it
// is interested in: those its watches cover, and those its sockets are in
// (a symmetric watch of another server reaches them).
//
// None of its methods may wait for the network: the server calls them
// while a socket's location lock is held.
type LocationAdapter interface {
	Adapter
	// Grid returns the cells location is shared by, the same on every
	// server.
	Grid() spatial.Grid
	// ShareLocation sends m, what others may see of a socket of this
	// server now, to the servers interested in the cells of m.Reach and
	// in those of the socket's previous Reach.
	ShareLocation(m SharedLocation)
	// Interest changes the cells this server wants the sockets of: add
	// and remove are changes to the set. For each new cell the adapter
	// gives the server the sockets already there, then their changes, by
	// [Namespace.ApplySharedLocation].
	Interest(add, remove []spatial.Cell)
	// FetchCells returns what the other servers share of their sockets in
	// cells, for a Nearby beyond this server's interest.
	FetchCells(ctx context.Context, cells []spatial.Cell) ([]SharedLocation, error)
	// Secret returns the key of the cluster's privacy zones (see
	// spatial.WithSecret; at least 16 bytes), so that a zone shows one
	// center on every server; nil if it cannot be had (the server then
	// uses its own, and logs it, as for a shorter key). The first call
	// may wait for the network, briefly.
	Secret() []byte
}

// SharedLocation is what the other servers may know of a located socket:
// where it is shown (see [Socket.SetPrivacy]), whether it is hidden, its
// symmetric watch (the others' sockets inside it see it), or that it left
// the index. Its exact position never leaves its server.
type SharedLocation struct {
	ID       string           `json:"id"`
	Position spatial.Position `json:"position"` // as shown; zero when Hidden or Gone
	Hidden   bool             `json:"hidden,omitempty"`
	Watch    *SharedWatch     `json:"watch,omitempty"` // its symmetric watch, if any
	// Gone is LeaveUnlocated or LeaveDisconnected when the socket left
	// the index; "" while it is in it.
	Gone string `json:"gone,omitempty"`
	// Reach is the cells whose servers need it: its own, and those its
	// symmetric watch covers. Empty when Hidden or Gone.
	Reach []spatial.Cell `json:"reach,omitempty"`
}

// SharedWatch is a symmetric watch, as [Socket.Watch] made it.
type SharedWatch struct {
	Radius float64 `json:"radius"`
	spatial.WatchSettings
}

// equal reports whether m and o say the same.
func (m *SharedLocation) equal(o *SharedLocation) bool {
	return m.ID == o.ID && m.Position == o.Position && m.Hidden == o.Hidden && m.Gone == o.Gone &&
		((m.Watch == nil) == (o.Watch == nil) && (m.Watch == nil || *m.Watch == *o.Watch)) &&
		slices.Equal(m.Reach, o.Reach)
}

// sharing is a space's part in a cluster that shares location: its
// interest and its replicas of the other servers' sockets.
type sharing struct {
	la   LocationAdapter
	grid spatial.Grid

	imu      sync.Mutex
	interest map[spatial.Cell]int // cell → the local sockets that need it

	rmu    sync.Mutex
	remote map[string]*replica // by socket id
	sweep  *time.Timer         // under rmu; nil once the space closed
}

// replica is a socket of another server in this server's index.
type replica struct {
	pos    spatial.Position // where it was last shown
	hidden bool
	watch  *SharedWatch
	reach  []spatial.Cell
	gone   string    // why it left; kept until sweepAfter passed, for the leave reasons
	goneAt time.Time // when it left
}

// maxSharedReach bounds the cells a socket's record goes to: a symmetric
// watch covering more (a radius of more than about 4.5 cells) goes to its
// own cell only, so a move never costs hundreds of messages; the servers
// interested in that cell see it, and through its watch their sockets
// inside it, but those of a server interested only in other cells of the
// circle do not see its owner.
const maxSharedReach = 64

// sweepEvery is how often a space forgets the replicas nobody here needs
// any more: gone for sweepAfter, or out of this server's interest and
// seen by no local socket.
const (
	sweepEvery = 5 * time.Second
	sweepAfter = 10 * time.Second
)

// share starts sp's part in the cluster if its adapter shares location.
func (sp *space) share() {
	la, ok := sp.nsp.adapter.(LocationAdapter)
	if !ok {
		return
	}
	sh := &sharing{la: la, grid: la.Grid(), interest: make(map[spatial.Cell]int), remote: make(map[string]*replica)}
	sh.sweep = time.AfterFunc(sweepEvery, func() { sp.sweep() })
	sp.shared = sh
}

// stopSharing stops the sweeps of sp.
func (sp *space) stopSharing() {
	if sh := sp.shared; sh != nil {
		sh.rmu.Lock()
		if sh.sweep != nil {
			sh.sweep.Stop()
			sh.sweep = nil
		}
		sh.rmu.Unlock()
	}
}

// share tells the other servers what they may see of st's socket now,
// unless they know it already, and updates this server's interest in the
// cells of its position and watch. gone is set when the socket left the
// index (LeaveUnlocated, LeaveDisconnected). st.mu is held.
func (st *located) share(gone string) {
	sh := st.sp.shared
	if sh == nil {
		return
	}
	idx, id := st.sp.idx, st.s.id
	m := SharedLocation{ID: id, Gone: gone}
	var cells []spatial.Cell
	if pos, ok := idx.Placed(id); ok && gone == "" {
		cells = append(cells, sh.grid.Cell(pos.Point))
		var cover []spatial.Cell // of its watch's circle, sorted
		if w := st.watch; w != nil {
			cells = sh.grid.AppendCover(cells, spatial.Circle{Center: pos.Point, Radius: w.Radius + max(w.Margin, 0)})
			cover = cells[1:]
		}
		if idx.Hidden(id) {
			m.Hidden = true
		} else {
			m.Position = pos
			m.Reach = []spatial.Cell{cells[0]}
			if w := st.watch; w != nil && w.Symmetric {
				m.Watch = &SharedWatch{Radius: w.Radius, WatchSettings: w.WatchSettings}
				if len(cover) <= maxSharedReach {
					m.Reach = slices.Clone(cover)
				} // else its own cell: see maxSharedReach
			}
		}
	} else if m.Gone == "" {
		m.Gone = LeaveUnlocated
	}
	if gone == "" && st.sharedLast == nil {
		sh.rmu.Lock()
		delete(sh.remote, id) // a replica of it, from before it came here
		sh.rmu.Unlock()
	}
	slices.SortFunc(cells, compareCells)
	cells = slices.Compact(cells)
	st.sp.interestIn(st.cells, cells)
	st.cells = cells
	last := st.sharedLast
	if last != nil && last.Position.Point == m.Position.Point && last.Position.Accuracy == m.Position.Accuracy {
		m.Position.Time = last.Position.Time // shown as it was: not news
	}
	switch {
	case last != nil && last.equal(&m):
		return // a coarsened socket moving in its cell says nothing
	case last == nil && m.Gone != "":
		return // never shared
	}
	sh.la.ShareLocation(m)
	if m.Gone != "" {
		st.sharedLast = nil
	} else {
		st.sharedLast = &m
	}
}

func compareCells(a, b spatial.Cell) int {
	if a.Row != b.Row {
		return int(a.Row) - int(b.Row)
	}
	return int(a.Col) - int(b.Col)
}

// interestIn moves one local socket's interest from the cells old to the
// cells now (both sorted), telling the adapter about the cells that
// became or ceased to be of interest.
func (sp *space) interestIn(old, now []spatial.Cell) {
	sh := sp.shared
	var add, remove []spatial.Cell
	sh.imu.Lock()
	for _, c := range now {
		if _, had := slices.BinarySearchFunc(old, c, compareCells); !had {
			if sh.interest[c]++; sh.interest[c] == 1 {
				add = append(add, c)
			}
		}
	}
	for _, c := range old {
		if _, has := slices.BinarySearchFunc(now, c, compareCells); !has {
			if sh.interest[c]--; sh.interest[c] <= 0 {
				delete(sh.interest, c)
				remove = append(remove, c)
			}
		}
	}
	sh.imu.Unlock()
	if len(add) > 0 || len(remove) > 0 {
		sh.la.Interest(add, remove)
	}
}

// interested reports whether this server is interested in one of cells.
func (sh *sharing) interested(cells []spatial.Cell) bool {
	sh.imu.Lock()
	defer sh.imu.Unlock()
	for _, c := range cells {
		if sh.interest[c] > 0 {
			return true
		}
	}
	return false
}

// ApplySharedLocation applies what another server shares of one of its
// sockets (see [LocationAdapter]) to this server's replica of it: placed
// where it is shown, hidden, watching symmetrically, or removed. The
// local sockets that see it get the same events as for a socket of this
// server. A cluster adapter calls it, one call at a time, in the order
// the owning server shared. It does nothing without [WithSpatial] or for
// an id of a socket of this server.
func (n *Namespace) ApplySharedLocation(m SharedLocation) {
	l := n.srv.loc
	if l == nil {
		return
	}
	sp := l.space(n)
	if sp == nil || sp.shared == nil || sp.socket(m.ID) != nil {
		return
	}
	sp.apply(m)
}

// apply is ApplySharedLocation for sp.
func (sp *space) apply(m SharedLocation) {
	sh := sp.shared
	idx := sp.idx
	sh.rmu.Lock()
	r := sh.remote[m.ID]
	switch {
	case m.Gone != "":
		if r == nil || r.gone != "" {
			sh.rmu.Unlock()
			return
		}
		r.gone, r.goneAt = m.Gone, time.Now()
		sh.rmu.Unlock()
		idx.Remove(m.ID) // the leave reasons read r.gone
	case m.Hidden:
		if r == nil || r.gone != "" || r.hidden {
			sh.rmu.Unlock()
			return
		}
		r.hidden = true
		pos := r.pos
		sh.rmu.Unlock()
		_, _ = idx.PlaceShown(m.ID, pos, true)
	default:
		if m.Position.Validate() != nil || !validWatch(m.Watch) {
			sh.rmu.Unlock()
			sp.nsp.srv.cfg.logger.Warn("shared location dropped: invalid", "nsp", sp.nsp.name, "id", m.ID)
			return
		}
		if r == nil {
			if !sh.interested(m.Reach) {
				sh.rmu.Unlock()
				return // not for this server
			}
			r = &replica{}
			sh.remote[m.ID] = r
		}
		oldWatch := r.watch
		r.pos, r.hidden, r.gone, r.reach, r.watch = m.Position, false, "", m.Reach, m.Watch
		sh.rmu.Unlock()
		if _, err := idx.PlaceShown(m.ID, m.Position, false); err != nil {
			return
		}
		switch {
		case m.Watch != nil && (oldWatch == nil || *oldWatch != *m.Watch):
			_ = idx.Watch(m.ID, m.Watch.Radius, m.Watch.Option())
		case m.Watch == nil && oldWatch != nil:
			idx.Unwatch(m.ID)
		}
	}
}

// validWatch reports whether a shared watch can be watched.
func validWatch(w *SharedWatch) bool {
	return w == nil || (w.Radius >= 0 && w.Radius < 1e7 && w.Margin >= 0 && w.Margin < 1e7 && w.Dwell >= 0 && w.Capacity >= 0)
}

// goneReason returns why the replica id left, LeaveDisconnected if it is
// not known.
func (sp *space) goneReason(id string) string {
	if sh := sp.shared; sh != nil {
		sh.rmu.Lock()
		defer sh.rmu.Unlock()
		if r := sh.remote[id]; r != nil && r.gone != "" {
			return r.gone
		}
	}
	return LeaveDisconnected
}

// sweep forgets the replicas gone for sweepAfter, and removes those out of
// this server's interest that no local socket sees (their moves no longer
// come here), then runs again after sweepEvery.
func (sp *space) sweep() {
	sh := sp.shared
	now := time.Now()
	var stray []string
	sh.rmu.Lock()
	for id, r := range sh.remote {
		switch {
		case r.gone != "":
			if now.Sub(r.goneAt) > sweepAfter {
				delete(sh.remote, id)
			}
		case !sh.interested(r.reach) && !sp.seenHere(id):
			stray = append(stray, id)
			delete(sh.remote, id)
		}
	}
	sh.rmu.Unlock()
	for _, id := range stray {
		if sp.socket(id) == nil { // not a socket that came here since
			sp.idx.Remove(id) // no local socket sees it: no event is sent
		}
	}
	sh.rmu.Lock()
	if sh.sweep != nil {
		sh.sweep.Reset(sweepEvery)
	}
	sh.rmu.Unlock()
}

// seenHere reports whether a local socket sees the replica id, or it sees
// one (through its symmetric watch).
func (sp *space) seenHere(id string) bool {
	for _, w := range sp.idx.WatchersOf(id) {
		if sp.socket(w) != nil {
			return true
		}
	}
	if ids, ok := sp.idx.Watching(id); ok {
		for _, m := range ids {
			if sp.socket(m) != nil {
				return true
			}
		}
	}
	return false
}

// maxFetchCells bounds the cells beyond this server's interest a Nearby
// asks the other servers' sockets of (the nearest first): past it, those
// farther are answered from the replicas here only.
const maxFetchCells = 256

// fetchTimeout bounds that question.
const fetchTimeout = 2 * time.Second

// nearbyBeyond adds to out, the answer of a Nearby from this server's
// index, the other servers' sockets within radius of center in the cells
// this server has no interest in (it has no replicas there), and returns
// the nearest limit (0: all) of them all, nearest first.
func (sp *space) nearbyBeyond(out []NearbySocket, center spatial.Point, radius float64, limit int, except string) []NearbySocket {
	sh := sp.shared
	cover := sh.grid.Cover(spatial.Circle{Center: center, Radius: radius})
	sh.imu.Lock()
	missing := slices.DeleteFunc(cover, func(c spatial.Cell) bool { return sh.interest[c] > 0 })
	sh.imu.Unlock()
	if len(missing) == 0 {
		return out
	}
	if len(missing) > maxFetchCells {
		slices.SortFunc(missing, func(a, b spatial.Cell) int {
			da, db := spatial.Distance(center, sh.grid.Center(a)), spatial.Distance(center, sh.grid.Center(b))
			switch {
			case da < db:
				return -1
			case da > db:
				return 1
			}
			return 0
		})
		missing = missing[:maxFetchCells]
	}
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	found, err := sh.la.FetchCells(ctx, missing)
	if err != nil {
		sp.nsp.srv.cfg.logger.Warn("nearby: the other servers' sockets beyond this server's cells not fetched", "nsp", sp.nsp.name, "err", err)
	}
	if len(found) == 0 {
		return out
	}
	seen := make(map[string]bool, len(out))
	for _, ns := range out {
		seen[ns.ID] = true
	}
	for _, m := range found {
		if m.Gone != "" || m.Hidden || m.ID == except || seen[m.ID] || sp.socket(m.ID) != nil || m.Position.Validate() != nil {
			continue
		}
		if d := spatial.Distance(center, m.Position.Point); d <= radius {
			seen[m.ID] = true
			out = append(out, NearbySocket{ID: m.ID, Position: m.Position, Distance: d})
		}
	}
	slices.SortStableFunc(out, func(a, b NearbySocket) int {
		switch {
		case a.Distance < b.Distance:
			return -1
		case a.Distance > b.Distance:
			return 1
		}
		return 0
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}
