package realtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/vicinity-go/vicinity/internal/sio"
	"github.com/vicinity-go/vicinity/spatial"
)

type spatialConfig struct {
	on     bool
	opts   []spatial.Option
	event  string // the built-in location event; "" when off
	limits LocationLimits
}

// Events sent to clients by location-aware servers: the nearby events to
// a watching socket (see [Socket.Watch]), the area events to a socket
// entering or leaving an area (see [Server.AddArea]).
const (
	NearbyState = "nearby:state" // {"members": [{"id", "lat", "lng", "accuracy", "distance"}…]}: a watch started; all the socket sees, nearest first, replacing what the client knew
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
	LeaveHidden       = "hidden"       // it hid (Socket.SetHidden, or a privacy zone that hides)
	LeaveUnlocated    = "unlocated"    // its location was cleared or expired
	LeaveDisconnected = "disconnected" // it disconnected
	LeaveUnwatched    = "unwatched"    // the watch that showed it ended: this socket's Unwatch, or its symmetric watch's
	LeaveSelf         = "self"         // this socket hid (and saw it only through its symmetric watch), or its own location was cleared or expired
)

// Errors of the location methods; a client's location event is answered
// {"error": err.Error()} with them.
var (
	// ErrNoSpatial is returned by the location methods of a server
	// without [WithSpatial].
	ErrNoSpatial = errors.New("realtime: server has no spatial index (see WithSpatial)")
	// ErrNoLocation is returned by [Socket.Nearby] for a socket that has
	// not set its location.
	ErrNoLocation = errors.New("realtime: socket has no location")
	// ErrRadiusTooLarge refuses a watch, Nearby or Near radius beyond
	// [LocationLimits].MaxRadius.
	ErrRadiusTooLarge = errors.New("realtime: radius too large")
	// ErrTooManyUpdates refuses a location update beyond the user's
	// [LocationLimits].UpdateRate.
	ErrTooManyUpdates = errors.New("realtime: too many location updates")
	// ErrTooManyQueries refuses a Nearby or Near beyond the user's
	// [LocationLimits].QueryRate.
	ErrTooManyQueries = errors.New("realtime: too many location queries")
	// ErrTooFast refuses a location farther from the last one than
	// [LocationLimits].MaxSpeed allows in the time between them.
	ErrTooFast = errors.New("realtime: location too far from the last one for the time between them")
	// ErrTooManyZones refuses privacy zones beyond
	// [LocationLimits].MaxZones, or larger than MaxZoneRadius.
	ErrTooManyZones = errors.New("realtime: too many or too large privacy zones")
	// ErrHidden refuses a shout ([Socket.Near]) of a hidden socket: it is
	// shown nowhere, and who gets the shout would say where it is.
	ErrHidden = errors.New("realtime: socket is hidden")
)

// LocationLimits bound what the clients of a location-aware server can
// make it do; see [WithLocationLimits]. Each refusal is an error of its
// own, changes nothing, and answers the client's location event.
type LocationLimits struct {
	// MaxRadius, in meters, is the largest radius of a watch
	// ([Socket.Watch]), of [Socket.Nearby] and of [Socket.Near].
	// Default 50 km.
	MaxRadius float64
	// MaxResults is the most sockets [Socket.Nearby] returns: a larger
	// limit, or none, is cut to it. Default 100.
	MaxResults int
	// MaxWatch is the most sockets a watch holds (and its nearby:state
	// lists): a watch in a crowd holds the nearest MaxWatch at its start,
	// and others as they come when some leave. Default 256.
	MaxWatch int
	// UpdateRate and UpdateBurst limit the location updates of a user
	// ([Socket.SetLocation], the location event): UpdateRate a second on
	// average, in bursts of up to UpdateBurst, across all the user's
	// sockets. The user is the presence identity (see [WithPresence]),
	// else the socket. Default 1 a second, bursts of 5.
	UpdateRate  float64
	UpdateBurst int
	// QueryRate and QueryBurst limit a user's [Socket.Nearby] and
	// [Socket.Near] likewise. Default 2 a second, bursts of 10.
	QueryRate  float64
	QueryBurst int
	// MaxSpeed, in meters per second, refuses a location farther from the
	// socket's last accepted one than MaxSpeed allows in the time between
	// them, with 250 m of slack for the noise of a device. Default 300
	// km/h; math.Inf(1) turns the check off (for an app whose users
	// place themselves by hand, not by GPS).
	MaxSpeed float64
	// MaxZones and MaxZoneRadius (meters) bound a socket's privacy zones
	// ([Socket.SetPrivacy]). Default 4 zones of up to 5 km.
	MaxZones      int
	MaxZoneRadius float64
}

// speedSlack is how far beyond MaxSpeed a location may be from the last,
// for the noise of a device's fixes.
const speedSlack = 250.0

// defaultLocationLimits are the limits of a server that sets none.
var defaultLocationLimits = LocationLimits{
	MaxRadius:     50_000,
	MaxResults:    100,
	MaxWatch:      256,
	UpdateRate:    1,
	UpdateBurst:   5,
	QueryRate:     2,
	QueryBurst:    10,
	MaxSpeed:      300 / 3.6,
	MaxZones:      4,
	MaxZoneRadius: 5_000,
}

// WithSpatial makes the server location-aware, with a spatial index keyed
// by socket id made with opts (expiry, coarsening, the secret of privacy
// zones…; see package spatial) in each namespace: [Socket.SetLocation]
// places a socket in its namespace's index, a disconnect removes it at
// once, [Socket.Nearby] and the Near broadcast operators query it,
// [Socket.Watch] reports who comes and goes, and [Server.AddArea] makes
// area rooms that sockets join and leave as they move. Namespaces do not
// see each other's sockets. What clients may ask is bounded by
// [WithLocationLimits]; what others learn of a socket by its privacy
// ([Socket.SetPrivacy]).
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
// {"error": "…"}: for a coordinate out of range, and for the limits of
// [WithLocationLimits] (the user's update rate, the speed). It requires
// [WithSpatial]. Default: no such event.
func WithLocationEvent(event string) Option {
	return func(c *config) { c.spatialConfig().event = event }
}

// WithLocationLimits sets the limits of what clients may ask of a
// location-aware server; a zero field keeps its default (see
// [LocationLimits]). It requires [WithSpatial].
func WithLocationLimits(l LocationLimits) Option {
	return func(c *config) {
		sc := c.spatialConfig()
		d := &sc.limits
		set := func(dst *float64, v float64) {
			if v != 0 {
				*dst = v
			}
		}
		setInt := func(dst *int, v int) {
			if v != 0 {
				*dst = v
			}
		}
		set(&d.MaxRadius, l.MaxRadius)
		setInt(&d.MaxResults, l.MaxResults)
		setInt(&d.MaxWatch, l.MaxWatch)
		set(&d.UpdateRate, l.UpdateRate)
		setInt(&d.UpdateBurst, l.UpdateBurst)
		set(&d.QueryRate, l.QueryRate)
		setInt(&d.QueryBurst, l.QueryBurst)
		set(&d.MaxSpeed, l.MaxSpeed)
		setInt(&d.MaxZones, l.MaxZones)
		set(&d.MaxZoneRadius, l.MaxZoneRadius)
	}
}

func (c *config) spatialConfig() *spatialConfig {
	if c.spatial == nil {
		c.spatial = &spatialConfig{limits: defaultLocationLimits}
	}
	return c.spatial
}

func (sc *spatialConfig) validate() {
	if sc == nil {
		return
	}
	if !sc.on {
		panic("realtime: WithLocationEvent or WithLocationLimits without WithSpatial")
	}
	l := sc.limits
	for _, v := range []float64{l.MaxRadius, l.UpdateRate, l.QueryRate, l.MaxZoneRadius} {
		if !(v > 0) || math.IsInf(v, 0) {
			panic(fmt.Sprintf("realtime: WithLocationLimits: %+v: limits must be positive and finite", l))
		}
	}
	if !(l.MaxSpeed > 0) {
		panic(fmt.Sprintf("realtime: WithLocationLimits: MaxSpeed %v must be positive", l.MaxSpeed))
	}
	if l.MaxResults < 0 || l.MaxWatch < 0 || l.UpdateBurst < 0 || l.QueryBurst < 0 || l.MaxZones < 0 {
		panic(fmt.Sprintf("realtime: WithLocationLimits: %+v: limits must be positive", l))
	}
}

// state returns the socket's location state, made if create; see
// locator.located.
func (s *Socket) location(create bool) (*located, error) {
	l := s.nsp.srv.loc
	if l == nil {
		return nil, ErrNoSpatial
	}
	return l.located(s, create)
}

// limits returns the server's location limits.
func (s *Socket) limits() *LocationLimits { return &s.nsp.srv.cfg.spatial.limits }

// SetLocation places the socket at p, with accuracy the radius of
// uncertainty in meters (0 for unknown). Coordinates out of range, NaN or
// infinite, or a negative accuracy, are refused with an error wrapping
// spatial.ErrInvalidPoint or spatial.ErrInvalidAccuracy; an update beyond
// the user's rate with [ErrTooManyUpdates]; a position farther from the
// last than the speed limit allows with [ErrTooFast] (see
// [LocationLimits]). A refused update changes nothing. The sockets that
// see this one get [NearbyMove] with its new position as they may see it
// (see [Socket.SetPrivacy]: a coarsened socket moving within its grid cell
// sends nothing); a slow client gets only the newest.
func (s *Socket) SetLocation(p spatial.Point, accuracy float64) error {
	st, err := s.location(true)
	if err != nil {
		return err
	}
	pos := spatial.Position{Point: p, Accuracy: accuracy, Time: time.Now()}
	if err := pos.Validate(); err != nil {
		return fmt.Errorf("realtime: set location: %w", err)
	}
	lim := s.limits()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.gone {
		return ErrNotConnected
	}
	if !st.user.allowUpdate(lim) {
		return ErrTooManyUpdates
	}
	if !st.lastAt.IsZero() && !math.IsInf(lim.MaxSpeed, 1) {
		dt := time.Since(st.lastAt).Seconds()
		if spatial.Distance(st.last, p) > lim.MaxSpeed*dt+speedSlack {
			return ErrTooFast
		}
	}
	return st.place(pos)
}

// SetHidden hides the socket from the others, or shows it again: while
// hidden it is not found by [Socket.Nearby] and the Near operators, and
// the sockets that saw it get [NearbyLeave] with [LeaveHidden] (and
// [NearbyEnter] when it shows again). It still sees the others through its
// own watch, but no longer the owners of symmetric watches that held it
// ([NearbyLeave] with [LeaveSelf]); it stays in its area rooms, but is not
// published in their presence (its own client still gets the area's
// presence events). The flag holds for the socket's life, across
// [Socket.ClearLocation], the expiry of its location and connection-state
// recovery, and may be set before it has a location. It is the Hidden of
// the socket's [Socket.SetPrivacy].
func (s *Socket) SetHidden(hidden bool) error {
	st, err := s.location(true)
	if err != nil {
		return err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	pv := st.privacy
	if pv.Hidden == hidden {
		return nil
	}
	if !st.user.allowUpdate(s.limits()) { // each change is news to all who see it
		return ErrTooManyUpdates
	}
	pv.Hidden = hidden
	return st.setPrivacy(pv)
}

// SetPrivacy sets what the others may learn of the socket's location (see
// spatial.Privacy): hidden, coarsened to a grid of Precision meters (at
// least the server's spatial.WithCoarsening), and privacy zones inside
// which it is shown at a point that does not move, or not at all. Every
// decision another client can observe (who is in a Nearby answer, in what
// order and at what distance, who enters and leaves a watch, the area
// rooms it is in) is taken on where it is shown. More zones than
// [LocationLimits].MaxZones, or larger than MaxZoneRadius, are refused with
// [ErrTooManyZones]; an invalid value with an error wrapping
// spatial.ErrInvalidPrivacy. It holds for the socket's life and across
// recovery, and may be set before the socket has a location. With a
// presence identity (see [WithPresence]) it is also the user's: the user's
// next sockets start with it, until a socket of the user sets another,
// and for two minutes after the user's last socket went (a phone that
// reconnects with a new socket is hidden from its first moment).
func (s *Socket) SetPrivacy(pv spatial.Privacy) error {
	if err := pv.Validate(); err != nil {
		return fmt.Errorf("realtime: set privacy: %w", err)
	}
	st, err := s.location(true)
	if err != nil {
		return err
	}
	lim := s.limits()
	if len(pv.Zones) > lim.MaxZones {
		return ErrTooManyZones
	}
	for _, z := range pv.Zones {
		if z.Radius > lim.MaxZoneRadius {
			return ErrTooManyZones
		}
	}
	if !st.user.allowUpdate(lim) { // each change is news to all who see it
		return ErrTooManyUpdates
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.setPrivacy(pv)
}

// setPrivacy changes the socket's privacy. st.mu is held.
func (st *located) setPrivacy(pv spatial.Privacy) error {
	if st.gone {
		return ErrNotConnected
	}
	pv.Zones = append([]spatial.Zone(nil), pv.Zones...)
	err := st.sp.idx.SetPrivacy(st.s.id, st.sp.effective(pv))
	if err != nil && !errors.Is(err, spatial.ErrNotFound) {
		return err
	}
	st.privacy = pv
	st.user.remember(pv)
	st.hush()
	st.share("")
	return nil
}

// Privacy returns the socket's privacy; see [Socket.SetPrivacy].
func (s *Socket) Privacy() spatial.Privacy {
	st, _ := s.location(false)
	if st == nil {
		return spatial.Privacy{}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.privacy
}

// Hidden reports whether the socket is hidden; see [Socket.SetHidden].
func (s *Socket) Hidden() bool { return s.Privacy().Hidden }

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

// Watch makes the socket watch the circle of radius meters around where
// it is shown: the client gets [NearbyState] with all it sees, nearest
// first (the sockets inside, and those whose symmetric watch holds it),
// which replaces what it knew (after a recovery, say), then [NearbyEnter]
// for every other socket that comes
// within it, with its position as others may see it (see
// [Socket.SetPrivacy]) and the distance to that position, [NearbyMove] as
// it moves, and [NearbyLeave] when the client stops seeing it, with the
// reason ([LeaveFar] beyond radius plus the margin of spatial.WithMargin or
// after spatial.WithDwell, [LeaveHidden], [LeaveUnlocated],
// [LeaveDisconnected], [LeaveUnwatched] after [Socket.Unwatch], [LeaveSelf]
// when this socket's own location is cleared or expires). About each
// socket the events come in the order enter (or state), move…, leave,
// enter…: never a move outside an enter…leave span. With
// spatial.WithSymmetric the sockets inside see this one too, and get the
// same events about it. Only sockets of the same namespace are seen.
//
// A watch holds at most [LocationLimits].MaxWatch sockets (fewer with
// spatial.WithCapacity): in a crowd, the nearest at its start, then others
// as they come when some have left; and a socket is held by at most
// MaxWatch symmetric watches (spatial.WithSymmetricLimit), so what it sees
// through others' is bounded too. Its events are bounded so: at most that
// many enters and as many leaves when the socket moves into a crowd, and
// one pending move per socket it sees, so a watch never overflows its
// client's queue.
//
// The watch lasts until [Socket.Unwatch] or the disconnect, and survives
// connection-state recovery: a socket without a location (not yet set,
// cleared, or expired) watches from the moment it sets one. Watching again
// replaces the watch. A radius beyond [LocationLimits].MaxRadius is refused
// with [ErrRadiusTooLarge]; an invalid radius or option with an error
// wrapping spatial.ErrInvalidRadius.
func (s *Socket) Watch(radius float64, opts ...spatial.WatchOption) error {
	st, err := s.location(true)
	if err != nil {
		return err
	}
	lim := s.limits()
	ws := spatial.Settings(opts...)
	if radius+max(ws.Margin, 0) > lim.MaxRadius {
		return ErrRadiusTooLarge
	}
	if !st.user.allowQuery(lim) { // a new watch tells as much as a Nearby
		return ErrTooManyQueries
	}
	if ws.Capacity <= 0 || ws.Capacity > lim.MaxWatch {
		ws.Capacity = lim.MaxWatch
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.gone {
		return ErrNotConnected
	}
	// A socket not in the index is refused only after the arguments were
	// checked.
	if err := st.sp.idx.Watch(s.id, radius, ws.Option()); err != nil && !errors.Is(err, spatial.ErrNotFound) {
		return err
	}
	had := st.watch != nil
	st.watch = &watchSpec{Radius: radius, WatchSettings: ws}
	st.share("")
	if !had {
		for _, o := range s.nsp.srv.cfg.observers {
			o.WatchStarted(s)
		}
	}
	return nil
}

// Unwatch ends the socket's watch; the client gets [NearbyLeave] for every
// socket it no longer sees.
func (s *Socket) Unwatch() {
	st, _ := s.location(false)
	if st == nil {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.gone || st.watch == nil {
		return
	}
	st.watch = nil
	st.sp.idx.Unwatch(s.id)
	st.share("")
	for _, o := range s.nsp.srv.cfg.observers {
		o.WatchEnded(s)
	}
}

// Spatial returns the namespace's spatial index (nil without
// [WithSpatial]), keyed by socket id, for queries of its own. Positions it
// returns but for Get are as the sockets are shown. In a cluster that
// shares location (see [LocationAdapter]) it also holds replicas of other
// servers' sockets, in the cells this server is interested in
// (spatial.Index.Replica tells them apart); change only this server's.
func (n *Namespace) Spatial() *spatial.Index[string] {
	if l := n.srv.loc; l != nil {
		if sp := l.space(n); sp != nil {
			return sp.idx
		}
	}
	return nil
}

// areaPrefix starts the name of every area room.
const areaPrefix = "area:"

// AreaRoom returns the name of the room of area name: "area:" + name.
func AreaRoom(name string) string { return areaPrefix + name }

// AddArea defines an area, a named circle or polygon, in every namespace:
// sockets shown inside are in its room, [AreaRoom](name), in their
// namespace, joining and leaving it as they move, and their clients get
// [AreaEnter] and [AreaLeave]. Whether a socket is inside is decided on
// where it is shown (see [Socket.SetPrivacy]): a coarsened socket is in
// the areas of its cell's center, which may be a little outside where it
// is, so that nobody learns more from its area rooms than from its
// position. It is a normal room for broadcasting, presence and
// FetchSockets; a hidden socket is in it but not published in its
// presence. Defining a name again replaces the area.
func (s *Server) AddArea(name string, f spatial.Fence) error {
	l := s.loc
	if l == nil {
		return ErrNoSpatial
	}
	if err := f.Validate(); err != nil {
		return err
	}
	l.mu.Lock()
	l.areas[name] = f
	spaces := make([]*space, 0, len(l.spaces))
	for _, sp := range l.spaces {
		spaces = append(spaces, sp)
	}
	l.mu.Unlock()
	for _, sp := range spaces {
		if err := sp.idx.AddFence(name, f); err != nil {
			return err
		}
	}
	return nil
}

// RemoveArea removes an area; its sockets leave its room.
func (s *Server) RemoveArea(name string) bool {
	l := s.loc
	if l == nil {
		return false
	}
	l.mu.Lock()
	_, ok := l.areas[name]
	delete(l.areas, name)
	spaces := make([]*space, 0, len(l.spaces))
	for _, sp := range l.spaces {
		spaces = append(spaces, sp)
	}
	l.mu.Unlock()
	for _, sp := range spaces {
		sp.idx.RemoveFence(name)
	}
	return ok
}

// Location returns where the socket is, exactly, if it has set a
// location.
func (s *Socket) Location() (spatial.Position, bool) {
	st, _ := s.location(false)
	if st == nil {
		return spatial.Position{}, false
	}
	return st.sp.idx.Get(s.id)
}

// ClearLocation removes the socket from the index: the sockets that saw it
// get [NearbyLeave] with [LeaveUnlocated], its own client gets one with
// [LeaveSelf] for every socket it saw, and it leaves its area rooms. Its
// watch and privacy are kept for when it sets a location again.
func (s *Socket) ClearLocation() {
	st, _ := s.location(false)
	if st == nil {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.sp.idx.Remove(s.id) { // the last place is kept for the speed limit
		for _, o := range s.nsp.srv.cfg.observers {
			o.Unlocated(s)
		}
	}
	st.share(LeaveUnlocated)
}

// NearbySocket is a socket found near a point, with its position as
// others may see it (see [Socket.SetPrivacy]) and the distance in meters
// to that position: values fit to send to clients. The exact position is
// [Socket.Location]. In a cluster that shares location (see
// [LocationAdapter]), it may be a socket of another server: then Socket
// is nil, and ID is its id.
type NearbySocket struct {
	ID       string
	Socket   *Socket // nil for a socket of another server
	Position spatial.Position
	Distance float64
}

// Nearby returns the other sockets of the namespace within radius meters
// of this socket, nearest first, at most limit of them (0 for all), and
// never more than [LocationLimits].MaxResults: those of this server, and
// in a cluster that shares location those of the others too. It returns
// [ErrNoLocation] if the socket has no location, [ErrRadiusTooLarge] for a
// radius beyond MaxRadius and [ErrTooManyQueries] beyond the user's query
// rate.
func (s *Socket) Nearby(radius float64, limit int) ([]NearbySocket, error) {
	st, err := s.location(false)
	if err != nil {
		return nil, err
	}
	lim := s.limits()
	if radius > lim.MaxRadius {
		return nil, ErrRadiusTooLarge
	}
	if st == nil {
		return nil, ErrNoLocation
	}
	pos, ok := st.sp.idx.Get(s.id)
	if !ok {
		return nil, ErrNoLocation
	}
	if !st.user.allowQuery(lim) {
		return nil, ErrTooManyQueries
	}
	if limit <= 0 || limit > lim.MaxResults {
		limit = lim.MaxResults
	}
	return s.nsp.nearby(pos.Point, radius, limit, s.id)
}

// Nearby returns the sockets of the namespace within radius meters of
// center, nearest first, at most limit of them (0 for all): those of this
// server, and in a cluster that shares location those of the others too.
// The server's own query: no limits apply.
func (n *Namespace) Nearby(center spatial.Point, radius float64, limit int) ([]NearbySocket, error) {
	return n.nearby(center, radius, limit, "")
}

func (n *Namespace) nearby(center spatial.Point, radius float64, limit int, except string) ([]NearbySocket, error) {
	var out []NearbySocket
	err := n.eachNear(center, radius, true, func(s *Socket, h spatial.Hit[string]) bool {
		if h.ID == except {
			return true
		}
		out = append(out, NearbySocket{ID: h.ID, Socket: s, Position: h.Position, Distance: h.Distance})
		return limit <= 0 || len(out) < limit
	})
	if err != nil {
		return nil, err
	}
	if sp := n.srv.loc.space(n); sp != nil && sp.shared != nil {
		out = sp.nearbyBeyond(out, center, radius, limit, except)
	}
	return out, nil
}

// eachNear calls fn, nearest first, with each socket of the namespace in
// the index within radius meters of center, until fn returns false: those
// of this server, and with remote the replicas of other servers' (with a
// nil *Socket).
func (n *Namespace) eachNear(center spatial.Point, radius float64, remote bool, fn func(*Socket, spatial.Hit[string]) bool) error {
	l := n.srv.loc
	if l == nil {
		return ErrNoSpatial
	}
	sp := l.space(n)
	if sp == nil {
		return ErrServerClosed
	}
	hits, err := sp.idx.Nearby(center, radius, 0)
	if err != nil {
		return err
	}
	for _, h := range hits {
		s := sp.socket(h.ID)
		if (s != nil || remote) && !fn(s, h) {
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
// center; see [BroadcastOperator.Near]. The server's own: no limits apply.
// In a cluster the circle goes to the other servers (through Redis): a
// center taken from a socket should be where it is shown, not where it is.
func (n *Namespace) Near(center spatial.Point, radius float64) BroadcastOperator {
	return n.op().Near(center, radius)
}

// Near selects the other sockets of the namespace within radius meters of
// where this socket is shown (see [Socket.SetPrivacy]: who gets a shout
// must not say more than the position does): a shout. A socket without a
// location selects nobody; so does a hidden one, which is shown nowhere,
// and Emit returns [ErrHidden]. A radius beyond
// [LocationLimits].MaxRadius, or a shout beyond the user's query rate,
// selects nobody and makes Emit return [ErrRadiusTooLarge] or
// [ErrTooManyQueries].
func (s *Socket) Near(radius float64) BroadcastOperator {
	op := s.Broadcast()
	op.opts.Near = &spatial.Circle{Radius: -1} // matches nothing
	st, err := s.location(false)
	lim := s.limits()
	switch {
	case err != nil:
		op.err = err
	case radius > lim.MaxRadius:
		op.err = ErrRadiusTooLarge
	case st == nil:
	default:
		pos, ok := st.sp.idx.Placed(s.id)
		switch {
		case !ok:
		case st.sp.idx.Hidden(s.id):
			op.err = ErrHidden // its circle would say where it is
		case !st.user.allowQuery(lim):
			op.err = ErrTooManyQueries
		default:
			op = op.Near(pos.Point, radius)
		}
	}
	return op
}

// near returns the local sockets of the adapter's namespace inside c.
func (a *MemoryAdapter) near(c *spatial.Circle) []*Socket {
	var out []*Socket
	_ = a.nsp.eachNear(c.Center, c.Radius, false, func(s *Socket, _ spatial.Hit[string]) bool {
		out = append(out, s)
		return true
	})
	return out
}

// onLocation handles the built-in location event.
func (l *locator) onLocation(e *Event) {
	var loc struct {
		Lat, Lng *float64
		Accuracy float64
	}
	var err error
	if e.Bind(&loc) != nil || loc.Lat == nil || loc.Lng == nil {
		err = errors.New(`expected {"lat": number, "lng": number, "accuracy": meters}`)
	} else {
		err = e.Socket.SetLocation(spatial.Point{Lat: *loc.Lat, Lng: *loc.Lng}, loc.Accuracy)
	}
	_ = e.AckResult(err)
}
