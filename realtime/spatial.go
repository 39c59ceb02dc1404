package realtime

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vicinity-go/vicinity/spatial"
)

type spatialConfig struct {
	on    bool
	opts  []spatial.Option
	index *spatial.Index[string] // made by New
	event string                 // the built-in location event; "" when off
	rate  float64
	burst int
}

// Events sent to clients by location-aware servers (see [Socket.Watch]).
const (
	NearbyEnter = "nearby:enter" // {"id", "lat", "lng", "accuracy", "distance"}: a socket came within the watch radius
	NearbyLeave = "nearby:leave" // {"id"}: it went beyond the radius (plus margin), hid, or disconnected
	NearbyMove  = "nearby:move"  // {"id", "lat", "lng", "accuracy"}: a socket inside moved; conflated per socket
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

func (s *Socket) index() *spatial.Index[string] {
	if sc := s.nsp.srv.cfg.spatial; sc != nil {
		return sc.index
	}
	return nil
}

// SetLocation places the socket at p, with accuracy the radius of
// uncertainty in meters (0 for unknown). Coordinates out of range, NaN or
// infinite, or a negative accuracy, are refused with an error wrapping
// spatial.ErrInvalidPoint or spatial.ErrInvalidAccuracy, and change
// nothing.
func (s *Socket) SetLocation(p spatial.Point, accuracy float64) error {
	idx := s.index()
	if idx == nil {
		return ErrNoSpatial
	}
	if !s.Connected() {
		return ErrNotConnected
	}
	before := idx.WatchersOf(s.id)
	if err := idx.Set(s.id, spatial.Position{Point: p, Accuracy: accuracy, Time: time.Now()}); err != nil {
		return err
	}
	// Those who watched the socket and still do get its new position (those
	// it entered got it with the enter event); a slow client gets only the
	// newest one.
	if len(before) == 0 {
		return nil
	}
	after := idx.WatchersOf(s.id)
	still := slices.DeleteFunc(before, func(w string) bool { return !slices.Contains(after, w) })
	if shown, ok := idx.Shown(s.id); ok && len(still) > 0 {
		_ = s.nsp.To(still...).EmitLatest("move:"+s.id, NearbyMove, nearbyPayload(s.id, shown, -1))
	}
	return nil
}

// nearbyEvent is the payload of the nearby events.
type nearbyEvent struct {
	ID       string   `json:"id"`
	Lat      float64  `json:"lat"`
	Lng      float64  `json:"lng"`
	Accuracy float64  `json:"accuracy"`
	Distance *float64 `json:"distance,omitempty"`
}

// nearbyPayload is the payload of the nearby events; a negative distance
// is left out.
func nearbyPayload(id string, pos spatial.Position, distance float64) nearbyEvent {
	e := nearbyEvent{ID: id, Lat: pos.Lat, Lng: pos.Lng, Accuracy: pos.Accuracy}
	if distance >= 0 {
		e.Distance = &distance
	}
	return e
}

// Watch makes the socket watch the circle of radius meters around itself
// (it must have a location): the client gets [NearbyEnter] for every other
// socket that comes within it, with its position as others may see it
// (coarsened with spatial.WithCoarsening), [NearbyMove] as it moves, and
// [NearbyLeave] when it goes beyond radius plus the margin
// (spatial.WithMargin), hides, or disconnects. Watching again replaces the
// watch; it ends with [Socket.Unwatch], a [Socket.ClearLocation] or the
// disconnect.
func (s *Socket) Watch(radius float64, opts ...spatial.WatchOption) error {
	idx := s.index()
	if idx == nil {
		return ErrNoSpatial
	}
	if _, ok := idx.Get(s.id); !ok {
		return ErrNoLocation
	}
	return idx.Watch(s.id, radius, opts...)
}

// Unwatch ends the socket's watch; the client gets [NearbyLeave] for every
// socket inside.
func (s *Socket) Unwatch() {
	if idx := s.index(); idx != nil {
		idx.Unwatch(s.id)
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
// joining and leaving it as they move. It is a normal room for
// broadcasting, presence and FetchSockets. Defining a name again replaces
// the area.
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
	case spatial.Enter:
		if w := s.socketByID(ev.Watcher); w != nil {
			if pos, ok := s.Spatial().Shown(ev.Member); ok {
				_ = w.Emit(NearbyEnter, nearbyPayload(ev.Member, pos, ev.Distance))
			}
		}
	case spatial.Leave:
		if w := s.socketByID(ev.Watcher); w != nil {
			_ = w.Emit(NearbyLeave, struct {
				ID string `json:"id"`
			}{ev.Member})
		}
	case spatial.FenceEnter:
		if m := s.socketByID(ev.Member); m != nil {
			m.Join(AreaRoom(ev.Fence))
		}
	case spatial.FenceLeave:
		if m := s.socketByID(ev.Member); m != nil {
			m.Leave(AreaRoom(ev.Fence))
		}
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

// ClearLocation removes the socket from the index.
func (s *Socket) ClearLocation() {
	if idx := s.index(); idx != nil {
		idx.Remove(s.id)
	}
}

// NearbySocket is a socket found near a point, with its position and its
// distance in meters.
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
	sc := n.srv.cfg.spatial
	if sc == nil {
		return nil, ErrNoSpatial
	}
	hits, err := sc.index.Nearby(center, radius, 0)
	if err != nil {
		return nil, err
	}
	var out []NearbySocket
	for _, h := range hits {
		if h.ID == except {
			continue
		}
		if s := n.socket(h.ID); s != nil {
			out = append(out, NearbySocket{Socket: s, Position: h.Position, Distance: h.Distance})
			if limit > 0 && len(out) == limit {
				break
			}
		}
	}
	return out, nil
}

// Near keeps to the sockets within radius meters of center (as well as in
// the operator's rooms and not in its exceptions). It composes with
// [BroadcastOperator.Except] and [BroadcastOperator.Volatile]. A bad
// center or radius selects nobody.
func (b BroadcastOperator) Near(center spatial.Point, radius float64) BroadcastOperator {
	b.opts.Near = &spatial.Circle{Center: center, Radius: radius}
	return b
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
	sc := a.nsp.srv.cfg.spatial
	if sc == nil {
		return nil
	}
	hits, err := sc.index.Nearby(c.Center, c.Radius, 0)
	if err != nil {
		return nil
	}
	out := make([]*Socket, 0, len(hits))
	for _, h := range hits {
		if s := a.nsp.socket(h.ID); s != nil {
			out = append(out, s)
		}
	}
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
	case !s.locationBucket.allow(time.Now()):
		err = errors.New("too many location updates")
	case e.Bind(&loc) != nil || loc.Lat == nil || loc.Lng == nil:
		err = errors.New(`expected {"lat": number, "lng": number, "accuracy": meters}`)
	default:
		err = s.SetLocation(spatial.Point{Lat: *loc.Lat, Lng: *loc.Lng}, loc.Accuracy)
	}
	e.ackResult(err)
}
