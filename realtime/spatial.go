package realtime

import (
	"errors"
	"fmt"
	"time"

	"github.com/vicinity-go/vicinity/spatial"
)

// Circle is an area of the sphere: a center and a radius in meters.
type Circle struct {
	Center spatial.Point `json:"center"`
	Radius float64       `json:"radius"`
}

type spatialConfig struct {
	index *spatial.Index[string]
	event string // the built-in location event; "" when off
	rate  float64
	burst int
}

// WithSpatial makes the server location-aware with idx, an index keyed by
// socket id that the server owns from then on: [Socket.SetLocation] places
// a socket in it, a disconnect removes it at once, [Socket.Nearby] and the
// Near broadcast operators query it. One index serves every namespace.
func WithSpatial(idx *spatial.Index[string]) Option {
	return func(c *config) {
		if idx == nil {
			panic("realtime: WithSpatial: nil index")
		}
		c.spatialConfig().index = idx
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
	if sc.index == nil {
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
	return idx.Set(s.id, spatial.Position{Point: p, Accuracy: accuracy, Time: time.Now()})
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
	b.opts.Near = &Circle{Center: center, Radius: radius}
	return b
}

// Near selects the other sockets of the namespace within radius meters of
// this socket: a shout. A socket without a location selects nobody.
func (s *Socket) Near(radius float64) BroadcastOperator {
	op := s.Broadcast()
	pos, ok := s.Location()
	if !ok {
		op.opts.Near = &Circle{Radius: -1} // matches nothing
		return op
	}
	return op.Near(pos.Point, radius)
}

// near returns the local sockets of the adapter's namespace inside c.
func (a *MemoryAdapter) near(c *Circle) []*Socket {
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
	if !e.WantsAck() {
		return
	}
	if err != nil {
		_ = e.Ack(map[string]string{"error": err.Error()})
		return
	}
	_ = e.Ack(map[string]bool{"ok": true})
}
