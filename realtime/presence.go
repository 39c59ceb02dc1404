package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

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

type presenceConfig struct {
	tracker  *presence.Tracker
	identify Identify
	rooms    func(nsp, room string) bool
	state    string
	diff     string
	update   string
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
//     "presence:update", with {"status": "away", "fields": {…}} (either
//     may be left out; status up to 32 bytes, fields a JSON object, 2 KiB
//     in all) and an acknowledgement callback, answered {"ok": true} or
//     {"error": "…"}.
//
// A meta is {"connId", "status", "device", "fields", "joinedAt"}. Event
// names can be changed with [WithPresenceEvents].
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
	Room    string            `json:"room"`
	Members []presence.Member `json:"members"`
}

// presenceDiff is the payload of the diff event.
type presenceDiff struct {
	Room    string                     `json:"room"`
	Joins   map[string][]presence.Meta `json:"joins,omitempty"`
	Updates map[string][]presence.Meta `json:"updates,omitempty"`
	Leaves  map[string]presence.Leave  `json:"leaves,omitempty"`
}

// publisher relays a topic's diffs to this server's sockets in its room,
// while any of them is there.
type publisher struct {
	cancel func()
	refs   int
}

// presenceHub is the server's presence state: the topics it publishes.
type presenceHub struct {
	cfg  *presenceConfig
	mu   sync.Mutex
	pubs map[string]*publisher // by topic
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
	meta.ConnID = s.id
	s.presenceKey, s.presenceMeta = key, meta
	return nil
}

// track adds s to the topic of room ("" for the namespace) and, if the
// topic is published, subscribes this server to it and sends s the state.
func (h *presenceHub) track(s *Socket, room string) {
	if s.presenceKey == "" || room == s.id {
		return
	}
	nsp, topic := s.nsp.name, topicOf(s.nsp.name, room)
	publish := h.cfg.rooms(nsp, room)
	if publish && s.holdTopic(topic) {
		h.subscribe(s.nsp, room, topic)
	}
	ctx, cancel := ctxPresence()
	defer cancel()
	s.mu.Lock()
	meta := s.presenceMeta
	s.mu.Unlock()
	if err := h.cfg.tracker.Track(ctx, topic, s.presenceKey, meta); err != nil {
		s.log.Error("presence: track", "room", room, "err", err)
		return
	}
	if !publish {
		return
	}
	members, err := h.cfg.tracker.List(ctx, topic)
	if err != nil {
		s.log.Error("presence: list", "room", room, "err", err)
		return
	}
	if err := s.Emit(h.cfg.state, presenceState{Room: room, Members: members}); err != nil {
		s.log.Debug("presence: state", "room", room, "err", err)
	}
}

// untrack removes s from the topic of room.
func (h *presenceHub) untrack(s *Socket, room string) {
	if s.presenceKey == "" || room == s.id {
		return
	}
	ctx, cancel := ctxPresence()
	defer cancel()
	topic := topicOf(s.nsp.name, room)
	if err := h.cfg.tracker.Untrack(ctx, topic, s.presenceKey, s.id); err != nil {
		s.log.Error("presence: untrack", "room", room, "err", err)
	}
	if s.releaseTopic(topic) {
		h.unsubscribe(topic)
	}
}

// disconnect untracks s everywhere at once and releases the topics it held.
func (h *presenceHub) disconnect(s *Socket) {
	if s.presenceKey == "" {
		return
	}
	ctx, cancel := ctxPresence()
	defer cancel()
	if err := h.cfg.tracker.UntrackConn(ctx, s.presenceKey, s.id); err != nil {
		s.log.Error("presence: untrack", "err", err)
	}
	s.mu.Lock()
	topics := s.presenceTopics
	s.presenceTopics = nil
	s.mu.Unlock()
	for topic := range topics {
		h.unsubscribe(topic)
	}
}

// holdTopic records that s keeps this server subscribed to a published
// topic; false if it already did. Each socket holds a topic at most once,
// so subscriptions are released exactly as often as they were taken.
func (s *Socket) holdTopic(topic string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.presenceTopics[topic] {
		return false
	}
	if s.presenceTopics == nil {
		s.presenceTopics = make(map[string]bool)
	}
	s.presenceTopics[topic] = true
	return true
}

// releaseTopic undoes holdTopic; false if s did not hold the topic.
func (s *Socket) releaseTopic(topic string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.presenceTopics[topic] {
		return false
	}
	delete(s.presenceTopics, topic)
	return true
}

// subscribe makes this server relay the topic's diffs to its room.
func (h *presenceHub) subscribe(n *Namespace, room, topic string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if p := h.pubs[topic]; p != nil {
		p.refs++
		return
	}
	op := n.op().Local()
	if room != "" {
		op = op.To(room)
	}
	event := h.cfg.diff
	cancel := h.cfg.tracker.Subscribe(topic, func(d presence.Diff) {
		_ = op.Emit(event, presenceDiff{Room: room, Joins: d.Joins, Updates: d.Updates, Leaves: d.Leaves})
	})
	h.pubs[topic] = &publisher{cancel: cancel, refs: 1}
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
	h.mu.Lock()
	pubs := h.pubs
	h.pubs = make(map[string]*publisher)
	h.mu.Unlock()
	for _, p := range pubs {
		p.cancel()
	}
}

// onUpdate handles a client's presence update event.
func (h *presenceHub) onUpdate(e *Event) {
	s := e.Socket
	var u struct {
		Status *string         `json:"status"`
		Fields json.RawMessage `json:"fields"`
	}
	size := 0
	for _, a := range e.Args {
		size += len(a)
	}
	var err error
	switch {
	case size > maxPresenceUpdate:
		err = fmt.Errorf("update larger than %d bytes", maxPresenceUpdate)
	case e.Bind(&u) != nil:
		err = fmt.Errorf(`expected {"status": string, "fields": object}`)
	default:
		err = s.UpdatePresence(func(m *presence.Meta) {
			if u.Status != nil {
				m.Status = *u.Status
			}
			if len(u.Fields) > 0 && string(u.Fields) != "null" {
				m.Fields = u.Fields
			}
		})
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

// PresenceKey returns the user key [WithPresence]'s Identify gave the
// socket, or "" without presence.
func (s *Socket) PresenceKey() string { return s.presenceKey }

// UpdatePresence changes the socket's presence meta (its status, device or
// fields) in every topic it is tracked in; the published rooms get an
// update diff. fn edits a copy; a change the tracker refuses (too long, not
// a JSON object) is returned as an error wrapping presence.ErrInvalidMeta
// and changes nothing.
func (s *Socket) UpdatePresence(fn func(*presence.Meta)) error {
	h := s.nsp.srv.presence
	if h == nil || s.presenceKey == "" {
		return ErrNoPresence
	}
	s.mu.Lock()
	meta := s.presenceMeta
	s.mu.Unlock()
	fn(&meta)
	meta.ConnID = s.id
	ctx, cancel := ctxPresence()
	defer cancel()
	err := h.cfg.tracker.UpdateConn(ctx, s.presenceKey, s.id, func(m *presence.Meta) {
		m.Status, m.Device, m.Fields = meta.Status, meta.Device, meta.Fields
	})
	if err != nil {
		return fmt.Errorf("realtime: update presence: %w", err)
	}
	s.mu.Lock()
	s.presenceMeta.Status, s.presenceMeta.Device, s.presenceMeta.Fields = meta.Status, meta.Device, meta.Fields
	s.mu.Unlock()
	return nil
}
