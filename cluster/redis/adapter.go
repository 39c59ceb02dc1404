package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"
	"github.com/vicinity-go/vicinity/internal/id"
	"github.com/vicinity-go/vicinity/realtime"
)

// ErrUnavailable is wrapped by the errors of operations that could not
// reach Redis: a broadcast then reached this server's sockets only, and a
// request got no answer from the other servers.
var ErrUnavailable = errors.New("redis adapter: Redis is unreachable")

// ErrTimeout is wrapped by the errors of requests that some servers did
// not answer in time; what the others answered is returned with it.
var ErrTimeout = errors.New("redis adapter: servers did not answer in time")

// NewAdapter returns the factory of the cluster adapters of a server's
// namespaces, for [realtime.WithAdapter]. They share client, one
// connection of it held in the subscribed state while any of them is open,
// and speak @socket.io/redis-adapter's protocol (see the package
// documentation).
func NewAdapter(client rueidis.Client, opts ...Option) realtime.AdapterFactory {
	cfg := defaults()
	for _, o := range opts {
		o(&cfg)
	}
	h := &hub{client: client, cfg: cfg, adapters: make(map[*Adapter]struct{})}
	return h.newAdapter
}

// hub is what the adapters made by one factory share.
type hub struct {
	client rueidis.Client
	cfg    config

	mu       sync.Mutex
	sub      *subscriber
	out      *outbox
	adapters map[*Adapter]struct{}

	secretMu sync.Mutex
	secret   []byte // the cluster's key of privacy zones, once read
}

// acquire returns the subscriber and the outbox, started for the first
// adapter.
func (h *hub) acquire(a *Adapter) (*subscriber, *outbox) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sub == nil {
		h.sub = newSubscriber(h.client, h.cfg.logger)
		h.sub.onUp = h.resubscribed
		h.out = newOutbox(h.client, h.cfg.requestTimeout)
	}
	h.adapters[a] = struct{}{}
	return h.sub, h.out
}

// release stops the subscriber and the outbox once the last adapter is
// closed.
func (h *hub) release(a *Adapter) {
	h.mu.Lock()
	delete(h.adapters, a)
	var sub *subscriber
	var out *outbox
	if len(h.adapters) == 0 {
		sub, h.sub = h.sub, nil
		out, h.out = h.out, nil
	}
	h.mu.Unlock()
	if sub != nil {
		out.close()
		sub.close()
	}
}

// resubscribed makes every adapter say hello again after a reconnection,
// so that servers that came or went meanwhile are known again.
func (h *hub) resubscribed() {
	h.mu.Lock()
	as := make([]*Adapter, 0, len(h.adapters))
	for a := range h.adapters {
		as = append(as, a)
	}
	h.mu.Unlock()
	for _, a := range as {
		go a.control(reqHeartbeatHello)
		a.geo.resubscribed()
	}
}

// Adapter is the cluster adapter of one namespace: an in-memory adapter
// for this server's sockets, which also publishes broadcasts and
// server-side operations to the other servers through Redis and applies
// theirs.
type Adapter struct {
	*realtime.MemoryAdapter
	nsp  *realtime.Namespace
	name string
	h    *hub
	sub  *subscriber
	out  *outbox
	log  *slog.Logger
	uid  string

	channel     string // broadcasts: channel, or channel+room+"#" for one room
	reqChannel  string
	respChannel string
	ownResp     string // respChannel+uid+"#"
	vicChannel  string // vicinity's own: heartbeats and Near broadcasts

	mu      sync.Mutex
	pending map[string]*request
	peers   map[string]time.Time // other vicinity servers, by uid: last heard of
	started time.Time
	closed  bool
	stop    chan struct{}
	ready   chan struct{}  // closed once its subscriptions were first tried
	wg      sync.WaitGroup // the heartbeat and session goroutines
	rec     *recovery      // nil unless recovery is on
	// catchMu orders recoverable deliveries with the catch-up of recovered
	// sockets (see catchUp); restoring and exclude are under it.
	catchMu   sync.Mutex
	restoring map[string]restoring
	exclude   map[string]string
	// roomSubs keeps the room channels of the sharded dynamic modes; nil
	// otherwise.
	roomSubs *roomSubs
	// geo shares location with the other servers (see location.go).
	geo *geo
}

var _ realtime.RoomFollower = (*Adapter)(nil)

func (h *hub) newAdapter(nsp *realtime.Namespace) realtime.Adapter {
	name := nsp.Name()
	key := h.cfg.key
	a := &Adapter{
		MemoryAdapter: realtime.NewLocalAdapter(nsp),
		nsp:           nsp,
		name:          name,
		h:             h,
		uid:           id.New()[:16],
		channel:       key + "#" + name + "#",
		reqChannel:    key + "-request#" + name + "#",
		respChannel:   key + "-response#" + name + "#",
		vicChannel:    key + "-vicinity#" + name + "#",
		pending:       make(map[string]*request),
		started:       time.Now(),
		peers:         make(map[string]time.Time),
		stop:          make(chan struct{}),
		ready:         make(chan struct{}),
		restoring:     make(map[string]restoring),
		exclude:       make(map[string]string),
	}
	if w := nsp.RecoveryWindow(); w > 0 {
		if h.cfg.sharded && h.client.Mode() == rueidis.ClientModeCluster {
			// The recovery script publishes to the broadcast's channel,
			// which a Redis Cluster keeps on another slot than the log.
			h.cfg.logger.Error("redis adapter: recovery across servers needs the classic mode or a standalone Redis: clients start afresh on reconnection", "nsp", name)
		} else {
			a.rec = newRecovery(h.cfg, key, name, w)
		}
	}
	a.log = h.cfg.logger.With("nsp", name, "uid", a.uid)
	a.geo = newGeo(a, h.cfg.cellSize)
	a.sub, a.out = h.acquire(a)
	if h.cfg.sharded {
		a.ownResp = a.channel + a.uid + "#"
		if h.cfg.mode != Static {
			a.roomSubs = &roomSubs{pending: make(map[string]struct{}), wake: make(chan struct{}, 1), subscribed: make(map[string]bool)}
		}
	} else {
		a.ownResp = a.respChannel + a.uid + "#"
	}
	a.wg.Add(1)
	go a.heartbeats()
	if a.rec != nil {
		a.wg.Add(1)
		go a.keepSessions()
	}
	if a.roomSubs != nil {
		a.wg.Add(1)
		go a.reconcileRooms()
	}
	a.wg.Add(1)
	go a.keepCells()
	return a
}

// subscribe makes the adapter's fixed subscriptions. It runs on the
// adapter's own goroutine: the factory, which a dynamic namespace's first
// connection runs on its read loop, does not wait for Redis.
func (a *Adapter) subscribe() {
	defer close(a.ready)
	subs := a.subscriptions()
	var err error
	if a.h.cfg.sharded {
		err = a.sub.add(a, a.onShard, subs...)
	} else if err = a.sub.add(a, a.onBroadcast, subs[0]); err == nil {
		err = a.sub.add(a, a.onMessage, subs[1:]...)
	}
	if err != nil {
		a.log.Warn("redis adapter: not subscribed yet: serving this server's sockets, subscribing again when Redis answers", "err", err)
	}
}

// subscriptions are the adapter's fixed subscriptions; in classic mode the
// broadcast pattern comes first.
func (a *Adapter) subscriptions() []subKey {
	if a.h.cfg.sharded {
		return []subKey{{shardSub, a.channel}, {shardSub, a.ownResp}, {shardSub, a.vicChannel}}
	}
	return []subKey{{patternSub, globEscape(a.channel) + "*"},
		{channelSub, a.reqChannel}, {channelSub, a.respChannel}, {channelSub, a.ownResp}, {channelSub, a.vicChannel}}
}

// AddAll implements [realtime.Adapter]; with recovery on, the socket's
// session is written again soon.
//
// In the sharded dynamic modes, a join that makes a room new on this server
// waits (up to a second) until this server listens to the room's channel.
func (a *Adapter) AddAll(id string, rooms []string) {
	fresh := false
	if a.roomSubs != nil {
		for _, r := range rooms {
			if !a.HasRoom(r) && (r != id || a.h.cfg.mode == DynamicPrivate) {
				fresh = true
			}
		}
	}
	if a.rec == nil || !a.catchUp(id, rooms, fresh) {
		a.MemoryAdapter.AddAll(id, rooms)
		if a.roomSubs != nil {
			a.roomsJoined(fresh, rooms)
		}
	}
	if a.rec != nil {
		a.rec.touch(id)
	}
}

// Del implements [realtime.Adapter], as [Adapter.AddAll].
func (a *Adapter) Del(id, room string) {
	a.MemoryAdapter.Del(id, room)
	if a.rec != nil {
		a.rec.touch(id)
	}
	a.roomsChanged(room)
}

// DelAll implements [realtime.Adapter]; with recovery on, the session of
// the socket, gone, is no longer kept fresh.
func (a *Adapter) DelAll(id string) {
	if a.roomSubs != nil {
		defer a.roomsChanged(a.SocketRooms(id)...)
	}
	a.MemoryAdapter.DelAll(id)
	if a.rec != nil {
		a.rec.forget(id)
	}
}

// FollowRooms implements [realtime.RoomFollower]: in the sharded dynamic
// modes, the adapter listens to the channels of rooms an EventStream of
// this server follows, as it does for its sockets' rooms, and waits (up
// to a second) until it does. The other modes get every broadcast of the
// namespace already.
func (a *Adapter) FollowRooms(rooms []string) {
	if a.roomSubs != nil {
		a.roomsJoined(true, rooms)
	}
}

// UnfollowRooms implements [realtime.RoomFollower]: the adapter stops
// listening to the channels of rooms no socket or EventStream of this
// server has any longer.
func (a *Adapter) UnfollowRooms(rooms []string) {
	a.roomsChanged(rooms...)
}

// globEscape escapes the characters PSUBSCRIBE's patterns give a meaning.
func globEscape(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// publish publishes msg on ch, after what was queued before, and waits
// for Redis's answer. It fails at once while the subscription connection
// is down (Redis is then very likely unreachable).
func (a *Adapter) publish(ctx context.Context, ch string, msg []byte) error {
	if !a.sub.up.Load() {
		return fmt.Errorf("%w: reconnecting", ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, a.h.cfg.requestTimeout)
	defer cancel()
	return a.out.do(ctx, a.publishCmd(ch, msg))
}

// publishCmd is the command publishing msg on ch.
func (a *Adapter) publishCmd(ch string, msg []byte) rueidis.Completed {
	c := a.h.client
	if a.h.cfg.sharded {
		return c.B().Spublish().Channel(ch).Message(rueidis.BinaryString(msg)).Build()
	}
	return c.B().Publish().Channel(ch).Message(rueidis.BinaryString(msg)).Build()
}

// Broadcast implements [realtime.Adapter]: it queues p for the other
// servers, unless opts.Local, and delivers it to this server's sockets; it
// does not wait for Redis (an error Redis answers later is logged), only,
// when a burst has queued thousands of commands, for room in the queue.
// While Redis cannot be reached, p still reaches this server's sockets and
// the error wraps [ErrUnavailable].
func (a *Adapter) Broadcast(ctx context.Context, p *realtime.Packet, opts realtime.BroadcastOptions) error {
	if a.rec != nil && p.Offset != "" {
		return a.broadcastLogged(ctx, p, opts)
	}
	var err error
	if !opts.Local {
		err = a.publishBroadcast(ctx, p, opts)
	}
	if lerr := a.MemoryAdapter.Broadcast(ctx, p, opts); lerr != nil {
		return lerr
	}
	return err
}

func (a *Adapter) publishBroadcast(ctx context.Context, p *realtime.Packet, opts realtime.BroadcastOptions) error {
	if opts.Near != nil {
		if cells := a.geo.nearCells(opts.Near); cells != nil {
			msg, err := encodeBroadcast(a.uid, p, opts, "") // vicinity's own channels: the classic form
			if err != nil {
				return err
			}
			if !a.sub.up.Load() {
				return fmt.Errorf("%w: reconnecting", ErrUnavailable)
			}
			return a.publishNear(ctx, cells, msg)
		}
	}
	msg, err := a.encodeBroadcast(p, opts, "")
	if err != nil {
		return err
	}
	if !a.sub.up.Load() {
		return fmt.Errorf("%w: reconnecting", ErrUnavailable)
	}
	return a.out.send(ctx, a.publishCmd(a.broadcastChannel(opts), msg), a.logFailure)
}

// logFailure logs a broadcast Redis refused after it was queued.
func (a *Adapter) logFailure(err error) {
	if err != nil {
		a.log.Warn("redis adapter: broadcast not published: it reached this server's sockets only", "err", err)
	}
}

// encodeBroadcast encodes a broadcast in the adapter's protocol.
func (a *Adapter) encodeBroadcast(p *realtime.Packet, opts realtime.BroadcastOptions, offset string) ([]byte, error) {
	if !a.h.cfg.sharded {
		return encodeBroadcast(a.uid, p, opts, offset)
	}
	pj, err := packetJSON(nil, p)
	if err != nil {
		return nil, err
	}
	wo := encodeOpts(opts)
	if offset != "" {
		if wo.Flags == nil {
			wo.Flags = &wireFlags{}
		}
		wo.Flags.Offset = offset
	}
	return a.encodeCluster(msgBroadcast, clusterData{Packet: pj, Opts: &wo}, p.Attachments())
}

// broadcastChannel is the channel of a broadcast with opts.
func (a *Adapter) broadcastChannel(opts realtime.BroadcastOptions) string {
	if a.h.cfg.sharded {
		return a.shardChannel(opts)
	}
	switch {
	case opts.Near != nil:
		return a.vicChannel // Node servers would take it for a broadcast to every socket of its rooms
	case len(opts.Rooms) == 1:
		return a.channel + opts.Rooms[0] + "#"
	}
	return a.channel
}

// encodeBroadcast encodes a classic broadcast: [uid, packet, opts], in
// msgpack, with offset, unless "", among opts' flags.
func encodeBroadcast(uid string, p *realtime.Packet, opts realtime.BroadcastOptions, offset string) ([]byte, error) {
	js := make([]byte, 0, len(p.Text())+128)
	js = append(js, '[')
	js = appendJSON(js, uid)
	js = append(js, ',')
	js, err := packetJSON(js, p)
	if err != nil {
		return nil, err
	}
	js = append(js, ',')
	wo := encodeOpts(opts)
	if offset != "" {
		if wo.Flags == nil {
			wo.Flags = &wireFlags{}
		}
		wo.Flags.Offset = offset
	}
	js = appendJSON(js, wo)
	js = append(js, ']')
	return encodeMsgpack(js, p.Attachments())
}

func appendJSON(b []byte, v any) []byte {
	raw, _ := json.Marshal(v) // strings, options: cannot fail
	return append(b, raw...)
}

// onBroadcast receives the classic broadcasts of the namespace's channels.
func (a *Adapter) onBroadcast(channel string, msg []byte) {
	if len(channel) > len(a.channel) {
		room := channel[len(a.channel) : len(channel)-1]
		if !a.HasRoom(room) {
			return // a broadcast to one room, which no socket here is in
		}
	}
	a.deliver(msg)
}

// deliver delivers a classic broadcast, [uid, packet, opts], to this
// server's sockets.
func (a *Adapter) deliver(msg []byte) {
	b, err := decodeBroadcast(msg)
	if err != nil {
		a.drop("broadcast", err)
		return
	}
	a.deliverBroadcast(b)
}

// deliverBroadcast delivers a broadcast to this server's sockets: another
// server's, or this one's own recoverable broadcast back from the recovery
// log.
func (a *Adapter) deliverBroadcast(b broadcast) {
	var offset string
	if f := b.opts.Flags; f != nil {
		offset = f.Offset
	}
	if offset != "" && (a.rec == nil || !validStreamID(offset)) {
		offset = "" // recovery is off here, or a foreign offset
	}
	if (b.uid == a.uid && offset == "") || b.nsp != a.name {
		return
	}
	p, err := toPacket(b.packet, b.atts, a.name, 0, false, offset)
	if err != nil {
		a.drop("broadcast", err)
		return
	}
	opts := b.opts.decode()
	if offset != "" {
		a.catchMu.Lock()
		defer a.catchMu.Unlock()
		if ex := a.excluded(offset); len(ex) > 0 {
			opts.Except = append(slices.Clip(opts.Except), ex...)
		}
	}
	if err := a.MemoryAdapter.Broadcast(context.Background(), p, opts); err != nil {
		a.drop("broadcast", err)
	}
}

func (a *Adapter) drop(what string, err error) {
	a.log.Debug("redis adapter: message dropped", "what", what, "err", err)
}

// wireRequest is a request on the request channel, or an answer on a
// response channel, in classic mode.
type wireRequest struct {
	UID         string          `json:"uid,omitempty"`
	RequestID   string          `json:"requestId,omitempty"`
	Type        int             `json:"type"`
	Rooms       rooms           `json:"rooms,omitzero"`
	Opts        *wireOpts       `json:"opts,omitempty"`
	Close       bool            `json:"close,omitempty"`
	Data        json.RawMessage `json:"data,omitempty"`
	Packet      json.RawMessage `json:"packet,omitempty"`
	SID         string          `json:"sid,omitempty"`
	Room        string          `json:"room,omitempty"`
	Sockets     json.RawMessage `json:"sockets,omitempty"`
	ClientCount *int            `json:"clientCount,omitempty"`
}

// onMessage receives the request, response and vicinity channels.
func (a *Adapter) onMessage(channel string, msg []byte) {
	if (channel == a.vicChannel || channel == a.ownResp) && isArray(msg) {
		a.deliver(msg) // a Near broadcast, or this server's own recoverable one
		return
	}
	js, atts, err := decodeAny(msg)
	if err != nil {
		a.drop("request", err)
		return
	}
	var r wireRequest
	if err := json.Unmarshal(js, &r); err != nil {
		a.drop("request", err)
		return
	}
	switch channel {
	case a.reqChannel:
		if r.UID != a.uid {
			a.onRequest(r, atts)
		}
	case a.respChannel, a.ownResp:
		a.onResponse(r, atts)
	case a.vicChannel:
		a.onControl(r)
	}
}

// onRequest applies another server's (or an emitter's) request to this
// server's sockets, answering those that wait for an answer.
func (a *Adapter) onRequest(r wireRequest, atts [][]byte) {
	ctx := context.Background()
	answer := func(w wireRequest) {
		w.RequestID = r.RequestID
		a.sendAsync(r.UID, w, nil)
	}
	switch r.Type {
	case reqSockets, reqRemoteFetch:
		if r.RequestID == "" {
			return
		}
		opts := realtime.BroadcastOptions{Rooms: r.Rooms, Local: true}
		if r.Opts != nil {
			opts = r.Opts.decode()
		}
		infos, _ := a.MemoryAdapter.FetchSockets(ctx, opts)
		var v any = infos
		if r.Type == reqSockets {
			ids := make([]string, len(infos))
			for i, in := range infos {
				ids[i] = in.ID
			}
			v = ids
		} else if infos == nil {
			v = []realtime.SocketInfo{}
		}
		answer(wireRequest{Type: r.Type, Sockets: appendJSON(nil, v)})
	case reqAllRooms:
		if r.RequestID != "" {
			answer(wireRequest{Type: reqAllRooms, Rooms: nonNil(a.Rooms())})
		}
	case reqRemoteJoin, reqRemoteLeave, reqRemoteDisconn:
		if r.Opts != nil {
			opts := r.Opts.decode()
			switch r.Type {
			case reqRemoteJoin:
				_ = a.MemoryAdapter.AddSockets(ctx, opts, r.Rooms)
			case reqRemoteLeave:
				_ = a.MemoryAdapter.DelSockets(ctx, opts, r.Rooms)
			default:
				_ = a.MemoryAdapter.DisconnectSockets(ctx, opts, r.Close)
			}
			return
		}
		s := a.nsp.Socket(r.SID) // the single-socket form of older servers
		if s == nil {
			return
		}
		switch r.Type {
		case reqRemoteJoin:
			s.Join(r.Room)
		case reqRemoteLeave:
			s.Leave(r.Room)
		default:
			s.Disconnect(r.Close)
		}
		answer(wireRequest{Type: r.Type})
	case reqServerSideEmit:
		var data []json.RawMessage
		if err := json.Unmarshal(r.Data, &data); err != nil {
			a.drop("server-side emit", err)
			return
		}
		var ack func(json.RawMessage)
		if r.RequestID != "" {
			ack = func(v json.RawMessage) { answer(wireRequest{Type: reqServerSideEmit, Data: v}) }
		}
		if err := a.nsp.ReceiveServerSideEmit(data, ack); err != nil {
			a.drop("server-side emit", err)
		}
	case reqBroadcast:
		a.onBroadcastWithAck(r, atts)
	}
}

func errUnavailable(err error) error { return fmt.Errorf("%w: %w", ErrUnavailable, err) }

// Close implements [realtime.Adapter]: it tells the other servers, stops
// listening, and closes the in-memory adapter. Requests waiting for
// answers end with their contexts.
func (a *Adapter) Close(ctx context.Context) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	a.mu.Unlock()
	close(a.stop)
	a.wg.Wait()
	a.forgetLocal()
	a.control(reqHeartbeatClose)
	a.sub.remove(a, a.subscriptions()...)
	a.sub.remove(a.geo, a.geo.subscriptions()...)
	a.h.release(a)
	return a.MemoryAdapter.Close(ctx)
}
