package realtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vicinity-go/vicinity/internal/sio"
	"github.com/vicinity-go/vicinity/spatial"
	"github.com/vicinity-go/vicinity/transport"
)

type spatialConfig struct {
	on    bool
	opts  []spatial.Option
	index *spatial.Index[string] // made by New
	event string                 // the built-in location event; "" when off
	rate  float64
	burst int
}

// Events sent to clients by location-aware servers: the nearby events to
// a watching socket (see [Socket.Watch]), the area events to a socket
// entering or leaving an area (see [Server.AddArea]).
const (
	NearbyEnter = "nearby:enter" // {"id", "lat", "lng", "accuracy", "distance"}: a socket came within the watch radius
	NearbyLeave = "nearby:leave" // {"id", "reason"}: it is no longer seen; reason is one of the Leave… constants
	NearbyMove  = "nearby:move"  // {"id", "lat", "lng", "accuracy"}: a socket inside moved; conflated per socket
	AreaEnter   = "area:enter"   // {"area", "room"}: the socket came inside an area and joined its room
	AreaLeave   = "area:leave"   // {"area", "room"}: the socket left the area and its room
)

// Reasons of [NearbyLeave]: why the watching socket no longer sees the
// other, from the index's [spatial.Cause].
const (
	LeaveFar          = "far"          // out of range: either moved, the watch shrank, or a dwell ran out
	LeaveHidden       = "hidden"       // it hid (Socket.SetHidden)
	LeaveUnlocated    = "unlocated"    // its location was cleared or expired
	LeaveDisconnected = "disconnected" // it disconnected
	LeaveUnwatched    = "unwatched"    // the watch that showed it ended: this socket's Unwatch, or its symmetric watch's
	LeaveSelf         = "self"         // this socket hid (and saw it only through its symmetric watch), or its own location was cleared or expired
)

// WithSpatial makes the server location-aware, with a spatial index keyed
// by socket id made with opts (expiry, coarsening…; see package spatial):
// [Socket.SetLocation] places a socket in it, a disconnect removes it at
// once, [Socket.Nearby] and the Near broadcast operators query it,
// [Socket.Watch] reports who comes and goes, and [Server.AddArea] makes
// area rooms that sockets join and leave as they move. One index serves
// every namespace; [Server.Spatial] returns it.
func WithSpatial(opts ...spatial.Option) Option {
	return func(c *config) {
		sc := c.spatialConfig()
		sc.on = true
		sc.opts = append(sc.opts, opts...)
	}
}

// WithLocationEvent lets clients report their position by emitting event
// with {"lat": 52.52, "lng": 13.40, "accuracy": 20} (accuracy in meters,
// optional) and an acknowledgement callback, answered {"ok": true} or
// {"error": "…"} (for a coordinate out of range, say). Each socket may do so
// rate times a second on average, in bursts of up to burst; faster updates
// are answered {"error": "too many location updates"} and ignored. It
// requires [WithSpatial]. Default: no such event.
func WithLocationEvent(event string, rate float64, burst int) Option {
	return func(c *config) {
		sc := c.spatialConfig()
		sc.event, sc.rate, sc.burst = event, rate, burst
	}
}

func (c *config) spatialConfig() *spatialConfig {
	if c.spatial == nil {
		c.spatial = &spatialConfig{}
	}
	return c.spatial
}

func (sc *spatialConfig) validate() {
	if sc == nil {
		return
	}
	if !sc.on {
		panic("realtime: WithLocationEvent without WithSpatial")
	}
	if sc.event != "" && (sc.rate <= 0 || sc.burst < 1) {
		panic(fmt.Sprintf("realtime: WithLocationEvent: rate %v and burst %d must be positive", sc.rate, sc.burst))
	}
}

// ErrNoSpatial is returned by the location methods of a server without
// [WithSpatial].
var ErrNoSpatial = errors.New("realtime: server has no spatial index (see WithSpatial)")

// ErrNoLocation is returned by [Socket.Nearby] for a socket that has not
// set its location.
var ErrNoLocation = errors.New("realtime: socket has no location")

func (s *Socket) index() *spatial.Index[string] { return s.nsp.srv.Spatial() }

// SetLocation places the socket at p, with accuracy the radius of
// uncertainty in meters (0 for unknown). Coordinates out of range, NaN or
// infinite, or a negative accuracy, are refused with an error wrapping
// spatial.ErrInvalidPoint or spatial.ErrInvalidAccuracy, and change
// nothing. The sockets that see this one get [NearbyMove] with its new
// position as they may see it (coarsened with spatial.WithCoarsening: a
// move within the same grid cell, with the same shown accuracy, sends
// nothing); a slow client gets only the newest.
func (s *Socket) SetLocation(p spatial.Point, accuracy float64) error {
	idx := s.index()
	if idx == nil {
		return ErrNoSpatial
	}
	if !s.Connected() {
		return ErrNotConnected
	}
	s.locMu.Lock()
	defer s.locMu.Unlock()
	before := idx.WatchersOf(s.id)
	var shownBefore spatial.Position
	if len(before) > 0 {
		shownBefore, _ = idx.Shown(s.id)
	}
	pos := spatial.Position{Point: p, Accuracy: accuracy, Time: time.Now()}
	added, err := idx.Place(s.id, pos, spatial.Privacy{Hidden: s.hidden})
	if err != nil {
		return err
	}
	if !s.Connected() { // the disconnect removed the socket before we placed it
		if cur := s.nsp.srv.socketByID(s.id); cur == nil || cur == s { // not recovered under the same id
			idx.Remove(s.id)
		}
		return ErrNotConnected
	}
	if added && s.watch != nil { // a location cleared or expired: the watch resumes
		_ = idx.Watch(s.id, s.watch.radius, s.watch.opts...)
	}
	for _, o := range s.nsp.srv.cfg.observers {
		o.Located(s, added)
	}
	// Those who saw the socket and still do get its new position (those
	// it entered got it with the enter event).
	if len(before) == 0 {
		return nil
	}
	// Not hidden, or nobody would have seen it; placed by this goroutine
	// alone (locMu).
	shown, _ := idx.Shown(s.id)
	if shown.Point == shownBefore.Point && shown.Accuracy == shownBefore.Accuracy {
		return nil
	}
	after := make(map[string]bool, len(before))
	for _, w := range idx.WatchersOf(s.id) {
		after[w] = true
	}
	still := slices.DeleteFunc(before, func(w string) bool { return !after[w] })
	s.nsp.srv.sendMove(still, s.id, shown)
	return nil
}

// sendMove sends [NearbyMove] about member, shown at pos, to the sockets
// ids, in whichever namespace each is. The packet is built once per
// namespace and queued straight to each client, keeping only the newest
// move of member (as [BroadcastOperator.EmitLatest] would): the watchers
// are this server's own sockets, found by the index.
func (s *Server) sendMove(ids []string, member string, pos spatial.Position) {
	targets := make([]*Socket, 0, len(ids))
	s.mu.RLock() // lock order: the server's, then a namespace's
	for _, id := range ids {
		for _, n := range s.nsps {
			if w := n.socket(id); w != nil {
				targets = append(targets, w)
				break
			}
		}
	}
	s.mu.RUnlock()
	payload := appendNearby(make([]byte, 0, len(member)+nearbySize), member, pos, -1)
	var last *Namespace
	var p transport.Packet
	var key string
	for _, w := range targets {
		if w.nsp != last { // nearly always one namespace
			b, _ := w.eventHead(NearbyMove, len(payload)+1)
			frames, err := s.cfg.parser.frames(append(append(b, payload...), ']'), nil)
			if err != nil {
				continue // numbers the index wrote: not reached
			}
			p = frames[0]
			last, key = w.nsp, latestKey(w.nsp.name, "\x00move:"+member) // a key EmitLatest refuses
		}
		w.client.sendLatest(key, p)
	}
	for _, o := range s.cfg.observers {
		o.SpatialEvents(NearbyMove, len(targets))
	}
}

// SetHidden hides the socket from the others, or shows it again: while
// hidden it is not found by [Socket.Nearby] and the Near operators, and
// the sockets that saw it get [NearbyLeave] with [LeaveHidden] (and
// [NearbyEnter] when it shows again). It still sees the others through its
// own watch, but no longer the owners of symmetric watches that held it
// ([NearbyLeave] with [LeaveSelf]), and stays
// in its area rooms. The flag holds for the socket's life, across
// [Socket.ClearLocation] and the expiry of its location, and may be set
// before it has a location.
func (s *Socket) SetHidden(hidden bool) error {
	idx := s.index()
	if idx == nil {
		return ErrNoSpatial
	}
	s.locMu.Lock()
	defer s.locMu.Unlock()
	s.hidden = hidden
	idx.SetHidden(s.id, hidden)
	return nil
}

// Hidden reports whether the socket is hidden; see [Socket.SetHidden].
func (s *Socket) Hidden() bool {
	s.locMu.Lock()
	defer s.locMu.Unlock()
	return s.hidden
}

// The nearby:enter and nearby:leave events, one per watcher and change,
// are the bulk of a location-aware server's traffic: they are written
// straight into the packet, with no reflection and one allocation.

// eventHead starts the text of an event packet for the socket's client,
// `2["event",` (with the namespace for one other than "/"; the transport
// adds Engine.IO's 4), with room for size more bytes; at is where the
// argument starts.
func (s *Socket) eventHead(event string, size int) (b []byte, at int) {
	nsp := s.nsp.name
	b = sio.AppendEventHead(make([]byte, 0, 8+len(nsp)+len(event)+size), nsp, event)
	return b, len(b)
}

// emitBuilt closes and sends a packet begun with eventHead, whose one
// argument, JSON, starts at at. A socket kept for recovery takes the
// general path, which logs the event for replay.
func (s *Socket) emitBuilt(event string, b []byte, at int) error {
	if s.pid != "" {
		return s.Emit(event, json.RawMessage(b[at:]))
	}
	if !s.Connected() {
		return ErrNotConnected
	}
	frames, err := s.nsp.srv.cfg.parser.frames(append(b, ']'), nil)
	if err != nil {
		return err
	}
	s.client.send(false, frames)
	return nil
}

// nearbySize is room enough for appendNearby's payload but the id: four
// numbers of up to 24 bytes and the names.
const nearbySize = 144

// appendNearby appends the payload of nearby:enter and nearby:move,
// {"id", "lat", "lng", "accuracy", "distance"}; a negative distance is left
// out. The numbers are finite: the index holds only valid positions.
func appendNearby(b []byte, id string, pos spatial.Position, distance float64) []byte {
	b = sio.AppendString(append(b, `{"id":`...), id)
	b, _ = sio.AppendFloat(append(b, `,"lat":`...), pos.Lat, 64)
	b, _ = sio.AppendFloat(append(b, `,"lng":`...), pos.Lng, 64)
	b, _ = sio.AppendFloat(append(b, `,"accuracy":`...), pos.Accuracy, 64)
	if distance >= 0 {
		b, _ = sio.AppendFloat(append(b, `,"distance":`...), distance, 64)
	}
	return append(b, '}')
}

// watchSpec is a socket's watch, to start it again when the socket gets a
// location back.
type watchSpec struct {
	radius float64
	opts   []spatial.WatchOption
}

// Watch makes the socket watch the circle of radius meters around itself:
// the client gets [NearbyEnter] for every other socket that comes within
// it, with its position as others may see it (coarsened with
// spatial.WithCoarsening) and the distance to that position, [NearbyMove]
// as it moves, and [NearbyLeave] when the client stops seeing it, with the
// reason ([LeaveFar] beyond radius plus the margin of spatial.WithMargin or
// after spatial.WithDwell, [LeaveHidden], [LeaveUnlocated],
// [LeaveDisconnected], [LeaveUnwatched] after [Socket.Unwatch], [LeaveSelf]
// when this socket's own location is cleared or expires). Every
// NearbyLeave follows a NearbyEnter about the same socket. With
// spatial.WithSymmetric the sockets inside see this one too, and get the
// same events about it.
//
// The watch lasts until [Socket.Unwatch] or the disconnect: a socket
// without a location (not yet set, cleared, or expired) watches from the
// moment it sets one. Watching again replaces the watch. An invalid radius
// or option is refused with an error wrapping spatial.ErrInvalidRadius.
func (s *Socket) Watch(radius float64, opts ...spatial.WatchOption) error {
	idx := s.index()
	if idx == nil {
		return ErrNoSpatial
	}
	s.locMu.Lock()
	defer s.locMu.Unlock()
	// A socket not in the index is refused only after the arguments were
	// checked.
	if err := idx.Watch(s.id, radius, opts...); err != nil && !errors.Is(err, spatial.ErrNotFound) {
		return err
	}
	had := s.watch != nil
	s.watch = &watchSpec{radius: radius, opts: slices.Clone(opts)}
	if !had && s.Connected() { // else closed reports no WatchEnded
		for _, o := range s.nsp.srv.cfg.observers {
			o.WatchStarted(s)
		}
	}
	return nil
}

// Unwatch ends the socket's watch; the client gets [NearbyLeave] for every
// socket it no longer sees.
func (s *Socket) Unwatch() {
	idx := s.index()
	if idx == nil {
		return
	}
	s.locMu.Lock()
	defer s.locMu.Unlock()
	had := s.watch != nil
	s.watch = nil
	idx.Unwatch(s.id)
	if had && s.Connected() { // else closed reported it
		for _, o := range s.nsp.srv.cfg.observers {
			o.WatchEnded(s)
		}
	}
}

// Spatial returns the server's spatial index (nil without [WithSpatial]),
// keyed by socket id, for queries of its own.
func (s *Server) Spatial() *spatial.Index[string] {
	if sc := s.cfg.spatial; sc != nil {
		return sc.index
	}
	return nil
}

// AreaRoom returns the name of the room of area name: "area:" + name.
func AreaRoom(name string) string { return "area:" + name }

// AddArea defines an area, a named circle or polygon: sockets whose
// location is inside are in its room, [AreaRoom](name), in their namespace,
// joining and leaving it as they move, and their clients get [AreaEnter]
// and [AreaLeave]. It is a normal room for broadcasting, presence and
// FetchSockets. Defining a name again replaces the area.
func (s *Server) AddArea(name string, f spatial.Fence) error {
	idx := s.Spatial()
	if idx == nil {
		return ErrNoSpatial
	}
	return idx.AddFence(name, f)
}

// RemoveArea removes an area; its sockets leave its room.
func (s *Server) RemoveArea(name string) bool {
	idx := s.Spatial()
	return idx != nil && idx.RemoveFence(name)
}

// socketByID finds a socket of this server in any namespace.
func (s *Server) socketByID(id string) *Socket {
	s.mu.RLock() // lock order: the server's, then a namespace's
	defer s.mu.RUnlock()
	for _, n := range s.nsps {
		if sock := n.socket(id); sock != nil {
			return sock
		}
	}
	return nil
}

// onSpatial turns the index's events into client events and area rooms.
func (s *Server) onSpatial(ev spatial.Event[string]) {
	defer func() {
		if v := recover(); v != nil {
			s.cfg.logger.Error("spatial event handler panicked", "panic", fmt.Sprint(v))
		}
	}()
	switch ev.Kind {
	case spatial.State:
		for _, e := range ev.Expand() {
			s.onSpatial(e)
		}
	case spatial.Enter:
		if w := s.socketByID(ev.Watcher); w != nil {
			pos, d := ev.Position, ev.Distance
			b, at := w.eventHead(NearbyEnter, len(ev.Member)+nearbySize)
			b = appendNearby(b, ev.Member, pos, d)
			if w.emitBuilt(NearbyEnter, b, at) == nil {
				s.spatialEvent(NearbyEnter)
			}
		}
	case spatial.Leave:
		if w := s.socketByID(ev.Watcher); w != nil {
			b, at := w.eventHead(NearbyLeave, len(ev.Member)+40)
			b = sio.AppendString(append(b, `{"id":`...), ev.Member)
			b = sio.AppendString(append(b, `,"reason":`...), s.leaveReason(ev))
			if w.emitBuilt(NearbyLeave, append(b, '}'), at) == nil {
				s.spatialEvent(NearbyLeave)
			}
		}
	case spatial.FenceEnter, spatial.FenceLeave:
		m := s.socketByID(ev.Member)
		if m == nil {
			return
		}
		room, name := AreaRoom(ev.Fence), AreaEnter
		if ev.Kind == spatial.FenceEnter {
			m.join(room)
			if !m.Connected() { // it left all its rooms meanwhile
				m.Leave(room)
				return
			}
		} else {
			m.Leave(room)
			name = AreaLeave
		}
		if m.Connected() {
			err := m.Emit(name, struct {
				Area string `json:"area"`
				Room string `json:"room"`
			}{ev.Fence, room})
			if err == nil {
				s.spatialEvent(name)
			}
		}
	}
}

// spatialEvent tells the observers about one spatial event sent.
func (s *Server) spatialEvent(event string) {
	for _, o := range s.cfg.observers {
		o.SpatialEvents(event, 1)
	}
}

// leaveReason says why the Leave ev happened, as one of the Leave…
// constants.
func (s *Server) leaveReason(ev spatial.Event[string]) string {
	switch ev.Cause {
	case spatial.CauseHidden:
		return LeaveHidden
	case spatial.CauseRemoved:
		if m := s.socketByID(ev.Member); m == nil || !m.Connected() {
			return LeaveDisconnected
		}
		return LeaveUnlocated
	case spatial.CauseUnwatched:
		return LeaveUnwatched
	case spatial.CauseWatcherHidden, spatial.CauseWatcherRemoved:
		return LeaveSelf
	default:
		return LeaveFar
	}
}

// Location returns where the socket is, if it has set a location.
func (s *Socket) Location() (spatial.Position, bool) {
	idx := s.index()
	if idx == nil {
		return spatial.Position{}, false
	}
	return idx.Get(s.id)
}

// ClearLocation removes the socket from the index: the sockets that saw it
// get [NearbyLeave] with [LeaveUnlocated], its own client gets one with
// [LeaveSelf] for every socket it saw, and it leaves its area rooms. Its
// watch and hidden flag are kept for when it sets a location again.
func (s *Socket) ClearLocation() {
	idx := s.index()
	if idx == nil {
		return
	}
	s.locMu.Lock()
	defer s.locMu.Unlock()
	if idx.Remove(s.id) {
		for _, o := range s.nsp.srv.cfg.observers {
			o.Unlocated(s)
		}
	}
}

// NearbySocket is a socket found near a point, with its position as
// others may see it (coarsened with spatial.WithCoarsening) and the
// distance in meters to that position: values fit to send to clients.
// The exact position is [Socket.Location].
type NearbySocket struct {
	Socket   *Socket
	Position spatial.Position
	Distance float64
}

// Nearby returns the other sockets of the namespace on this server within
// radius meters of this socket, nearest first, at most limit of them (0
// for all). It returns [ErrNoLocation] if the socket has no location.
func (s *Socket) Nearby(radius float64, limit int) ([]NearbySocket, error) {
	pos, ok := s.Location()
	if !ok {
		if s.index() == nil {
			return nil, ErrNoSpatial
		}
		return nil, ErrNoLocation
	}
	out, err := s.nsp.nearby(pos.Point, radius, limit, s.id)
	return out, err
}

// Nearby returns the sockets of the namespace on this server within radius
// meters of center, nearest first, at most limit of them (0 for all).
func (n *Namespace) Nearby(center spatial.Point, radius float64, limit int) ([]NearbySocket, error) {
	return n.nearby(center, radius, limit, "")
}

func (n *Namespace) nearby(center spatial.Point, radius float64, limit int, except string) ([]NearbySocket, error) {
	var out []NearbySocket
	err := n.eachNear(center, radius, func(s *Socket, h spatial.Hit[string]) bool {
		if h.ID == except {
			return true
		}
		out = append(out, NearbySocket{Socket: s, Position: h.Position, Distance: h.Distance})
		return limit <= 0 || len(out) < limit
	})
	return out, err
}

// eachNear calls fn, nearest first, with each socket of the namespace on
// this server within radius meters of center, until fn returns false.
func (n *Namespace) eachNear(center spatial.Point, radius float64, fn func(*Socket, spatial.Hit[string]) bool) error {
	idx := n.srv.Spatial()
	if idx == nil {
		return ErrNoSpatial
	}
	hits, err := idx.Nearby(center, radius, 0)
	if err != nil {
		return err
	}
	for _, h := range hits {
		if s := n.socket(h.ID); s != nil && !fn(s, h) {
			break
		}
	}
	return nil
}

// Near keeps to the sockets within radius meters of center (as well as in
// the operator's rooms and not in its exceptions). It composes with
// [BroadcastOperator.Except] and [BroadcastOperator.Volatile]. A bad
// center or radius selects nobody.
func (b BroadcastOperator) Near(center spatial.Point, radius float64) BroadcastOperator {
	b.opts.Near = &spatial.Circle{Center: center, Radius: radius}
	return b
}

// Near selects the sockets of the namespace within radius meters of
// center; see [BroadcastOperator.Near].
func (n *Namespace) Near(center spatial.Point, radius float64) BroadcastOperator {
	return n.op().Near(center, radius)
}

// Near selects the other sockets of the namespace within radius meters of
// this socket: a shout. A socket without a location selects nobody.
func (s *Socket) Near(radius float64) BroadcastOperator {
	op := s.Broadcast()
	pos, ok := s.Location()
	if !ok {
		op.opts.Near = &spatial.Circle{Radius: -1} // matches nothing
		return op
	}
	return op.Near(pos.Point, radius)
}

// near returns the local sockets of the adapter's namespace inside c.
func (a *MemoryAdapter) near(c *spatial.Circle) []*Socket {
	var out []*Socket
	_ = a.nsp.eachNear(c.Center, c.Radius, func(s *Socket, _ spatial.Hit[string]) bool {
		out = append(out, s)
		return true
	})
	return out
}

// onLocation handles the built-in location event.
func (sc *spatialConfig) onLocation(e *Event) {
	s := e.Socket
	var loc struct {
		Lat, Lng *float64
		Accuracy float64
	}
	var err error
	switch {
	case !s.locationBucket.allow(time.Now(), sc.rate, sc.burst):
		err = errors.New("too many location updates")
	case e.Bind(&loc) != nil || loc.Lat == nil || loc.Lng == nil:
		err = errors.New(`expected {"lat": number, "lng": number, "accuracy": meters}`)
	default:
		err = s.SetLocation(spatial.Point{Lat: *loc.Lat, Lng: *loc.Lng}, loc.Accuracy)
	}
	_ = e.AckResult(err)
}
