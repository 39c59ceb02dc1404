package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
	"unicode"

	"github.com/vicinity-go/vicinity/presence"
)

// Identify maps a connecting socket to the user it belongs to: the key that
// makes two tabs of one user one member, and the first meta of this
// connection (its ConnID is set to the socket id). It runs after the
// middleware, on every connection, recovered ones included. A non-nil error
// refuses the connection as middleware does (see [ConnectError]).
type Identify func(s *Socket) (key string, meta presence.Meta, err error)

// Default presence event names. See [WithPresence] for their payloads.
const (
	DefaultPresenceState  = "presence:state"
	DefaultPresenceDiff   = "presence:diff"
	DefaultPresenceUpdate = "presence:update"
)

// presenceTimeout bounds each call to the tracker, whose store may be remote.
const presenceTimeout = 5 * time.Second

// maxPresenceUpdate bounds a client's presence update payload, in bytes.
const maxPresenceUpdate = 2048

// presenceUpdateEvery is the interval over which a socket's presence
// updates from its client are coalesced: the first is applied at once, the
// later ones of the interval together at its end, the latest value of each
// field winning. So a client sending updates at the full event rate makes
// its rooms hear at most one diff per interval.
const presenceUpdateEvery = 100 * time.Millisecond

type presenceConfig struct {
	tracker      *presence.Tracker
	identify     Identify
	rooms        func(nsp, room string) bool
	state        string
	diff         string
	update       string
	clientFields bool
}

// WithPresence tracks who is connected with t, per user: identify names the
// user of each socket. Every socket is tracked in its namespace's topic (the
// namespace name, e.g. "/") and in each room it joins (topic "/#room"; a
// socket's own room is not tracked); leaving a room or disconnecting
// untracks it at once. Presence is published only in the topics
// [WithPresenceRooms] opts in, so a room of 50,000 does not hear every join
// unless asked:
//
//   - a socket that joins a published room (or connects to a published
//     namespace) receives the state event, "presence:state", with
//     {"room": room, "members": [{"key", "metas": [meta…]}…]} ("" is the
//     namespace itself);
//   - the sockets in it receive the diff event, "presence:diff", with
//     {"room", "joins": {key: [meta…]}, "updates": {key: [meta…]},
//     "leaves": {key: {"metas", "lastSeen"}}} as users come, change and go;
//   - a client updates its own status by emitting the update event,
//     "presence:update", with {"status": "away"} (printable, up to 32
//     bytes) and an acknowledgement callback, answered {"ok": true} or
//     {"error": "…"}; with [WithPresenceClientFields] it may also replace
//     its meta's fields, {"fields": {…}} (a JSON object; 2 KiB in all).
//     A socket's updates are coalesced over 100 ms: the first is applied
//     at once, those that follow within the interval together at its end
//     (the latest value of each field wins), so that a client cannot make
//     its rooms hear a diff per event at the full event rate.
//
// The key Identify returns is at most [presence.MaxKeyLen] (256) bytes: a
// longer one (taken from a client's auth, say) refuses the connection with
// connect_error "presence key too long".
//
// A meta is {"connId", "status", "device", "fields", "joinedAt"}. Event
// names can be changed with [WithPresenceEvents]. The meta Identify returns
// must respect the presence package's limits (status, device, fields), or
// the connection is refused.
func WithPresence(t *presence.Tracker, identify Identify) Option {
	return func(c *config) {
		if t == nil || identify == nil {
			panic("realtime: WithPresence: nil tracker or identify")
		}
		p := c.presenceConfig()
		p.tracker, p.identify = t, identify
	}
}

// WithPresenceRooms sets which topics publish presence to their members:
// publish(nsp, room) for a room of namespace nsp, publish(nsp, "") for the
// namespace as a whole. Default: none (presence is tracked and queryable
// with the tracker, but nobody is sent state or diffs).
func WithPresenceRooms(publish func(nsp, room string) bool) Option {
	return func(c *config) { c.presenceConfig().rooms = publish }
}

// WithPresenceEvents renames the presence events: the state sent to a
// joining socket, the diffs sent to a room, and the client's status update.
func WithPresenceEvents(state, diff, update string) Option {
	return func(c *config) {
		p := c.presenceConfig()
		p.state, p.diff, p.update = state, diff, update
	}
}

// WithPresenceClientFields lets clients replace their meta's fields with the
// update event. Default false: fields are the server's (set by Identify and
// [Socket.UpdatePresence]), so a client cannot claim another name or role
// to the room.
func WithPresenceClientFields(allow bool) Option {
	return func(c *config) { c.presenceConfig().clientFields = allow }
}

func (c *config) presenceConfig() *presenceConfig {
	if c.presence == nil {
		c.presence = &presenceConfig{
			rooms:  func(string, string) bool { return false },
			state:  DefaultPresenceState,
			diff:   DefaultPresenceDiff,
			update: DefaultPresenceUpdate,
		}
	}
	return c.presence
}

func (p *presenceConfig) validate() {
	if p == nil {
		return
	}
	if p.tracker == nil {
		panic("realtime: WithPresenceRooms or WithPresenceEvents without WithPresence")
	}
	if p.rooms == nil {
		panic("realtime: WithPresenceRooms: nil func")
	}
	for _, e := range []string{p.state, p.diff, p.update} {
		if e == "" {
			panic("realtime: WithPresenceEvents: empty event name")
		}
	}
}

// topicOf names the presence topic of a room of nsp ("" for the namespace).
func topicOf(nsp, room string) string {
	if room == "" {
		return nsp
	}
	return nsp + "#" + room
}

// presenceState is the payload of the state event.
type presenceState struct {
	Room    string       `json:"room"`
	Members []wireMember `json:"members"`
}

// presenceDiff is the payload of the diff event.
type presenceDiff struct {
	Room    string                `json:"room"`
	Joins   map[string][]wireMeta `json:"joins,omitempty"`
	Updates map[string][]wireMeta `json:"updates,omitempty"`
	Leaves  map[string]wireLeave  `json:"leaves,omitempty"`
}

// wireMeta is a meta as clients see it: without the node that tracks it.
type wireMeta struct {
	ConnID   string          `json:"connId"`
	Status   string          `json:"status"`
	Device   string          `json:"device,omitempty"`
	Fields   json.RawMessage `json:"fields,omitempty"`
	JoinedAt time.Time       `json:"joinedAt"`
}

type wireMember struct {
	Key   string     `json:"key"`
	Metas []wireMeta `json:"metas"`
}

type wireLeave struct {
	Metas    []wireMeta `json:"metas"`
	LastSeen time.Time  `json:"lastSeen"`
}

func toWire(metas []presence.Meta) []wireMeta {
	out := make([]wireMeta, len(metas))
	for i, m := range metas {
		out[i] = wireMeta{ConnID: m.ConnID, Status: m.Status, Device: m.Device, Fields: m.Fields, JoinedAt: m.JoinedAt}
	}
	return out
}

func wireMetaMap(in map[string][]presence.Meta) map[string][]wireMeta {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string][]wireMeta, len(in))
	for k, metas := range in {
		out[k] = toWire(metas)
	}
	return out
}

func wireDiff(room string, d presence.Diff) presenceDiff {
	w := presenceDiff{Room: room, Joins: wireMetaMap(d.Joins), Updates: wireMetaMap(d.Updates)}
	if len(d.Leaves) > 0 {
		w.Leaves = make(map[string]wireLeave, len(d.Leaves))
		for k, l := range d.Leaves {
			w.Leaves[k] = wireLeave{Metas: toWire(l.Metas), LastSeen: l.LastSeen}
		}
	}
	return w
}

func wireState(room string, members []presence.Member) presenceState {
	w := presenceState{Room: room, Members: make([]wireMember, len(members))}
	for i, m := range members {
		w.Members[i] = wireMember{Key: m.Key, Metas: toWire(m.Metas)}
	}
	return w
}

// publisher relays a topic's diffs to this server's sockets in its room,
// while any of them is there.
type publisher struct {
	cancel func()
	refs   int
}

// presenceHub is the server's presence state: each socket's, and the
// topics it publishes.
//
// Lock order: a socket's socketPresence.mu, then h.mu. A shard's mu is
// taken alone: nothing is locked, and nothing waits, while it is held.
type presenceHub struct {
	srv   *Server
	cfg   *presenceConfig
	socks [shardCount]presenceShard // each socket's state, in its id's shard
	mu    sync.Mutex
	pubs  map[string]*publisher // by topic

	stopExpired func() // ends the tracker's OnExpired call of retrackAll
}

// presenceShard holds the state of the sockets whose id falls in it. It is
// keyed by the socket, not by its id: an id is unique only in its namespace,
// and a recovered socket takes the id of the one it restores.
type presenceShard struct {
	mu    sync.RWMutex
	socks map[*Socket]*socketPresence // nil until the first
}

// state returns s's presence state, or nil: s was not identified, was
// refused, or has disconnected and run its disconnect handlers.
func (h *presenceHub) state(s *Socket) *socketPresence {
	sh := &h.socks[shardOf(s.id)]
	sh.mu.RLock()
	p := sh.socks[s]
	sh.mu.RUnlock()
	return p
}

// keep stores p as s's presence state.
func (h *presenceHub) keep(s *Socket, p *socketPresence) {
	sh := &h.socks[shardOf(s.id)]
	sh.mu.Lock()
	if sh.socks == nil {
		sh.socks = make(map[*Socket]*socketPresence)
	}
	sh.socks[s] = p
	sh.mu.Unlock()
}

// forget drops s's presence state.
func (h *presenceHub) forget(s *Socket) {
	sh := &h.socks[shardOf(s.id)]
	sh.mu.Lock()
	delete(sh.socks, s)
	sh.mu.Unlock()
}

func ctxPresence() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), presenceTimeout)
}

// identify runs the Identify hook for s.
func (h *presenceHub) identify(s *Socket) error {
	key, meta, err := h.cfg.identify(s)
	if err != nil {
		return err
	}
	if key == "" {
		return &ConnectError{Message: "no presence key"}
	}
	if len(key) > presence.MaxKeyLen {
		s.logger().Warn("presence: Identify returned a key too long, connection refused", "bytes", len(key), "max", presence.MaxKeyLen)
		return &ConnectError{Message: "presence key too long"}
	}
	if err := checkMeta(&meta); err != nil {
		s.logger().Error("presence: Identify returned an invalid meta", "err", err)
		return &ConnectError{Message: "invalid presence"}
	}
	meta.ConnID = s.id
	h.keep(s, &socketPresence{key: key, meta: meta})
	return nil
}

// checkMeta checks a meta from Identify: what a Tracker would refuse (see
// [presence.Meta.Validate]), and a status clients could not display.
func checkMeta(m *presence.Meta) error {
	if err := checkStatus(m.Status); err != nil {
		return err
	}
	return m.Validate()
}

// checkStatus checks a status sent to clients: printable, and short enough
// for the tracker.
func checkStatus(status string) error {
	if len(status) > presence.MaxStatusLen || !printable(status) {
		return fmt.Errorf("status: printable, at most %d bytes", presence.MaxStatusLen)
	}
	return nil
}

func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// admit implements feature: Identify says who the socket is, and its
// state is kept, or refuses it.
func (h *presenceHub) admit(s *Socket, _ *Session) error { return h.identify(s) }

// refused implements feature: an identified socket that did not connect
// was tracked nowhere; its state is dropped.
func (h *presenceHub) refused(s *Socket) { h.forget(s) }

// connected implements feature: the socket is tracked in its namespace
// and its rooms.
func (h *presenceHub) connected(s *Socket) {
	p := h.state(s)
	if p == nil {
		return
	}
	s.On(h.cfg.update, h.onUpdate)
	h.trackState(s, p, "", false)
	for _, r := range s.Rooms() {
		h.joinedState(s, p, r)
	}
}

// joined implements feature: the socket is tracked in room, unless it is
// an area room and the socket is hidden. The store's work is queued on
// the socket's inbox, in order with its other presence changes: a join may
// come from the index's events or another server's SocketsJoin, which
// must not wait for a remote store.
func (h *presenceHub) joined(s *Socket, room string) {
	if !s.Connected() {
		return
	}
	s.inbox.enqueue(func() {
		if p := h.state(s); p != nil && s.Connected() {
			h.joinedState(s, p, room)
		}
	})
}

// joinedState is joined for a connected socket whose state is p.
func (h *presenceHub) joinedState(s *Socket, p *socketPresence, room string) {
	quiet := false
	if l := h.srv.loc; l != nil {
		quiet = l.quietIn(s, room) // hidden: it sees the area's presence, but is not in it
	}
	h.trackState(s, p, room, quiet)
}

// left implements feature, on the socket's inbox as joined.
func (h *presenceHub) left(s *Socket, room string) {
	s.inbox.enqueue(func() { h.untrack(s, room, false) })
}

// disconnected implements feature: the socket is untracked everywhere at
// once. Its state, which has its key, is dropped once its disconnect
// handlers, which may ask for [Socket.PresenceKey], have run: they run on
// the socket's inbox after this, and so does the drop.
// persisting implements feature: presence keeps nothing in a session.
func (h *presenceHub) persisting(*Socket, *Session) {}

func (h *presenceHub) disconnected(s *Socket, _ string, _ *Session) {
	p := h.state(s)
	if p == nil {
		return
	}
	obs := h.srv.cfg.observers
	var rooms []string
	if obs != nil {
		rooms = s.Rooms()
	}
	h.disconnect(s, p)
	for _, o := range obs {
		o.PresenceUntracked(s, "")
		for _, r := range rooms {
			if r != s.id {
				o.PresenceUntracked(s, r)
			}
		}
	}
	s.inbox.enqueue(func() { h.forget(s) })
}

// dropped implements feature: the topics of a dropped namespace went with
// its sockets.
func (h *presenceHub) dropped(*Namespace) {}

// track adds s to the topic of room ("" for the namespace) and, if the
// topic is published, subscribes this server to it and sends s the state.
func (h *presenceHub) track(s *Socket, room string) {
	if p := h.state(s); p != nil {
		h.trackState(s, p, room, false)
	}
}

// trackState is track for a socket whose state is p; quiet, it is not
// tracked, but subscribed and sent the state all the same (a hidden
// socket in an area room).
func (h *presenceHub) trackState(s *Socket, p *socketPresence, room string, quiet bool) {
	if room == s.id {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gone {
		return // a join that raced the disconnect
	}
	nsp, topic := s.nsp.name, topicOf(s.nsp.name, room)
	publish := h.cfg.rooms(nsp, room)
	if publish && p.holdTopic(topic) {
		if err := h.subscribe(s.nsp, room, topic); err != nil {
			if !errors.Is(err, presence.ErrClosed) { // Track says so below
				s.logger().Error("presence: subscribe", "room", room, "err", err)
			}
			p.releaseTopic(topic) // not held: the next join tries again
		}
	}
	if !quiet {
		ctx, cancel := ctxPresence()
		defer cancel()
		if err := h.cfg.tracker.Track(ctx, topic, p.key, p.meta); err != nil {
			s.logger().Error("presence: track", "room", room, "err", err)
			return
		}
		for _, o := range s.nsp.srv.cfg.observers {
			o.PresenceTracked(s, room)
		}
	}
	if !publish {
		return
	}
	// The state goes out in order with the topic's diffs: the socket is in
	// the room already, and a diff it got before must not be older than
	// the state that follows it.
	h.cfg.tracker.Sync(topic, func() {
		ctx, cancel := ctxPresence()
		defer cancel()
		members, err := h.cfg.tracker.List(ctx, topic)
		if err != nil {
			s.logger().Error("presence: list", "room", room, "err", err)
			return
		}
		if err := s.Emit(h.cfg.state, wireState(room, members)); err != nil {
			s.logger().Debug("presence: state", "room", room, "err", err)
		}
	})
}

// retrackAll tracks every connected socket again, in its namespace and
// its rooms, each on its inbox: the tracker's node was expired (it could
// not reach its store for longer than the heartbeat TTL, or the store lost
// its data), so the store forgot them. A Track of a socket still tracked
// only replaces its meta.
func (h *presenceHub) retrackAll() {
	for i := range h.socks {
		sh := &h.socks[i]
		sh.mu.RLock()
		socks := make([]*Socket, 0, len(sh.socks))
		for s := range sh.socks {
			socks = append(socks, s)
		}
		sh.mu.RUnlock()
		for _, s := range socks {
			s.inbox.enqueue(func() { h.retrack(s) })
		}
	}
}

// retrack tracks s again where it is, on its inbox.
func (h *presenceHub) retrack(s *Socket) {
	p := h.state(s)
	if p == nil || !s.Connected() {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gone {
		return
	}
	for _, room := range append([]string{""}, s.Rooms()...) {
		if room == s.id || (room != "" && h.srv.loc != nil && h.srv.loc.quietIn(s, room)) {
			continue
		}
		ctx, cancel := ctxPresence()
		err := h.cfg.tracker.Track(ctx, topicOf(s.nsp.name, room), p.key, p.meta)
		cancel()
		if err != nil {
			s.logger().Error("presence: track again", "room", room, "err", err)
		}
	}
}

// untrack removes s from the topic of room; with keep, s keeps the topic
// subscribed, and still hears the room's presence (it hid).
func (h *presenceHub) untrack(s *Socket, room string, keep bool) {
	if room == s.id {
		return
	}
	p := h.state(s)
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ctx, cancel := ctxPresence()
	defer cancel()
	topic := topicOf(s.nsp.name, room)
	if err := h.cfg.tracker.Untrack(ctx, topic, p.key, s.id); err != nil {
		s.logger().Error("presence: untrack", "room", room, "err", err)
	}
	for _, o := range s.nsp.srv.cfg.observers {
		o.PresenceUntracked(s, room)
	}
	if !keep && p.releaseTopic(topic) {
		h.unsubscribe(topic)
	}
}

// disconnect untracks s, whose state is p, everywhere at once and releases
// the topics it held.
func (h *presenceHub) disconnect(s *Socket, p *socketPresence) {
	if p.timer != nil { // on the inbox, as the coalescing
		p.timer.Stop()
		p.next = nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gone = true
	ctx, cancel := ctxPresence()
	defer cancel()
	if err := h.cfg.tracker.UntrackConn(ctx, p.key, s.id); err != nil {
		s.logger().Error("presence: untrack", "err", err)
	}
	topics := p.topics
	p.topics = nil
	for topic := range topics {
		h.unsubscribe(topic)
	}
}

// holdTopic records that the socket keeps this server subscribed to a
// published topic; false if it already did. Each socket holds a topic at
// most once, so subscriptions are released exactly as often as they were
// taken. p.mu is held.
func (p *socketPresence) holdTopic(topic string) bool {
	if p.topics[topic] {
		return false
	}
	if p.topics == nil {
		p.topics = make(map[string]bool)
	}
	p.topics[topic] = true
	return true
}

// releaseTopic undoes holdTopic; false if the socket did not hold the
// topic. p.mu is held.
func (p *socketPresence) releaseTopic(topic string) bool {
	if !p.topics[topic] {
		return false
	}
	delete(p.topics, topic)
	return true
}

// subscribe makes this server relay the topic's diffs to its room, taking
// one reference to the topic's publisher. On error it takes none, and the
// next subscribe tries again. The store's Watch runs without h.mu held, so
// a slow store delays only the sockets joining this topic.
func (h *presenceHub) subscribe(n *Namespace, room, topic string) error {
	if h.ref(topic) {
		return nil
	}
	op := n.op().Local()
	if room != "" {
		op = op.To(room)
	}
	event := h.cfg.diff
	ctx, cancel := ctxPresence()
	defer cancel()
	stop, err := h.cfg.tracker.SubscribeContext(ctx, topic, func(d presence.Diff) {
		_ = op.Emit(event, wireDiff(room, d))
	})
	if err != nil {
		return err
	}
	h.mu.Lock()
	p := h.pubs[topic]
	if p == nil {
		h.pubs[topic] = &publisher{cancel: stop, refs: 1}
	} else { // another socket subscribed meanwhile: share its subscription
		p.refs++
	}
	h.mu.Unlock()
	if p != nil {
		stop()
	}
	return nil
}

// ref takes a reference to the topic's publisher; false if there is none.
func (h *presenceHub) ref(topic string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.pubs[topic]
	if p != nil {
		p.refs++
	}
	return p != nil
}

func (h *presenceHub) unsubscribe(topic string) {
	h.mu.Lock()
	p := h.pubs[topic]
	if p != nil {
		p.refs--
		if p.refs > 0 {
			p = nil
		} else {
			delete(h.pubs, topic)
		}
	}
	h.mu.Unlock()
	if p != nil {
		p.cancel()
	}
}

func (h *presenceHub) close() {
	h.stopExpired()
	h.mu.Lock()
	pubs := h.pubs
	h.pubs = make(map[string]*publisher)
	h.mu.Unlock()
	for _, p := range pubs {
		p.cancel()
	}
}

// onUpdate handles a client's presence update event, on the socket's
// inbox.
func (h *presenceHub) onUpdate(e *Event) {
	fn, err := h.clientUpdate(e)
	if err == nil {
		err = h.coalesce(e.Socket, fn)
	}
	_ = e.AckResult(err)
}

// coalesce applies fn, a client's update, at once if no interval of
// presenceUpdateEvery lasts, and starts one; otherwise it keeps it, after
// those kept already, for the interval's end. On the socket's inbox.
func (h *presenceHub) coalesce(s *Socket, fn func(*presence.Meta)) error {
	p := h.state(s)
	if p == nil {
		return ErrNoPresence
	}
	if p.busy {
		if prev := p.next; prev != nil {
			p.next = func(m *presence.Meta) { prev(m); fn(m) }
		} else {
			p.next = fn
		}
		return nil
	}
	err := h.update(s, p, fn)
	h.startInterval(s, p)
	return err
}

// startInterval starts an interval of presenceUpdateEvery for s, whose
// state is p, at whose end the updates kept meanwhile are applied. On the
// socket's inbox.
func (h *presenceHub) startInterval(s *Socket, p *socketPresence) {
	p.busy = true
	if p.timer == nil {
		p.timer = time.AfterFunc(presenceUpdateEvery, func() {
			s.inbox.enqueue(func() { h.endInterval(s) })
		})
		return
	}
	p.timer.Reset(presenceUpdateEvery)
}

// endInterval applies the updates kept during the interval that ended, and
// starts another if there were any. On the socket's inbox.
func (h *presenceHub) endInterval(s *Socket) {
	p := h.state(s)
	if p == nil {
		return
	}
	fn := p.next
	p.next, p.busy = nil, false
	if fn == nil || !s.Connected() {
		return
	}
	if err := h.update(s, p, fn); err != nil {
		s.logger().Debug("presence: coalesced update", "err", err)
	}
	h.startInterval(s, p)
}

// clientUpdate checks a client's presence update event and returns the
// change it asks for, or says why not.
func (h *presenceHub) clientUpdate(e *Event) (func(*presence.Meta), error) {
	if e.Args.a.Size() > maxPresenceUpdate {
		return nil, fmt.Errorf("update larger than %d bytes", maxPresenceUpdate)
	}
	var u struct {
		Status *string         `json:"status"`
		Fields json.RawMessage `json:"fields"`
	}
	if e.Bind(&u) != nil {
		return nil, errors.New(`expected {"status": string, "fields": object}`)
	}
	if u.Status != nil {
		if err := checkStatus(*u.Status); err != nil {
			return nil, err
		}
	}
	fields := len(u.Fields) > 0 && string(u.Fields) != "null"
	if fields && !h.cfg.clientFields {
		return nil, errors.New("fields are set by the server")
	}
	if fields {
		u.Fields = slices.Clone(u.Fields) // kept past the event, if coalesced
		if err := (presence.Meta{Fields: u.Fields}).Validate(); err != nil {
			return nil, err
		}
	}
	return func(m *presence.Meta) {
		if u.Status != nil {
			m.Status = *u.Status
		}
		if fields {
			m.Fields = u.Fields
		}
	}, nil
}

// PresenceKey returns the user key [WithPresence]'s Identify gave the
// socket, or "" without presence. The socket's disconnect handlers still
// get it; once they have run, it is "".
func (s *Socket) PresenceKey() string {
	h := s.nsp.srv.presence
	if h == nil {
		return ""
	}
	p := h.state(s)
	if p == nil {
		return ""
	}
	return p.key
}

// socketPresence is a socket's presence state, made by Identify before the
// socket is shared and kept by the presence hub (see presenceHub.state):
// a socket without presence has none.
type socketPresence struct {
	key string // the user key from Identify

	// mu serializes the socket's presence changes (track, untrack,
	// disconnect, UpdatePresence) and guards the fields below it; before
	// the socket's mu and the presence hub's mu.
	mu     sync.Mutex
	meta   presence.Meta   // set by Identify before the socket is shared, then under mu
	topics map[string]bool // published topics this socket keeps subscribed; under mu
	gone   bool            // untracked for good: the socket disconnected; under mu

	// coalescing of the client's presence updates; on the inbox only
	next  func(*presence.Meta) // the latest updates, not applied yet
	timer *time.Timer          // runs while an interval of presenceUpdateEvery lasts
	busy  bool                 // an interval lasts
}

// UpdatePresence changes the socket's presence meta (its status, device or
// fields) in every topic it is tracked in; the published rooms get an
// update diff. fn edits a copy; a change the tracker refuses (too long, not
// a JSON object) is returned as an error wrapping presence.ErrInvalidMeta
// and changes nothing. Without presence, and once the socket has
// disconnected and its disconnect handlers have run, it returns
// [ErrNoPresence].
func (s *Socket) UpdatePresence(fn func(*presence.Meta)) error {
	h := s.nsp.srv.presence
	if h == nil {
		return ErrNoPresence
	}
	p := h.state(s)
	if p == nil {
		return ErrNoPresence
	}
	return h.update(s, p, fn)
}

// update is [Socket.UpdatePresence] for a socket whose state is p.
func (h *presenceHub) update(s *Socket, p *socketPresence, fn func(*presence.Meta)) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	meta := p.meta
	fn(&meta)
	meta.ConnID = s.id
	ctx, cancel := ctxPresence()
	defer cancel()
	err := h.cfg.tracker.UpdateConn(ctx, p.key, s.id, func(m *presence.Meta) {
		m.Status, m.Device, m.Fields = meta.Status, meta.Device, meta.Fields
	})
	if err != nil {
		return fmt.Errorf("realtime: update presence: %w", err)
	}
	p.meta.Status, p.meta.Device, p.meta.Fields = meta.Status, meta.Device, meta.Fields
	return nil
}
