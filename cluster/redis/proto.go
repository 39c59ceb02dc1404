package redis

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/vicinity-go/vicinity/realtime"
)

// send publishes a request to every server, or, with resp, an answer to
// server to (its uid; "" for a request that named none). w.Type is a
// classic request type; w's packet or data refer to atts for their binary
// values.
func (a *Adapter) send(ctx context.Context, resp bool, to string, w wireRequest, atts [][]byte) error {
	if a.h.cfg.sharded {
		return a.sendShard(ctx, resp, to, w, atts)
	}
	w.UID = a.uid
	ch := a.reqChannel
	if resp {
		ch = a.respChannel
		if to != "" && to != emitterUID {
			ch += to + "#"
		}
	}
	msg := appendJSON(nil, w)
	if len(atts) > 0 || w.Type == reqBroadcast || w.Type == reqBroadcastAck {
		var err error
		if msg, err = encodeMsgpack(msg, atts); err != nil {
			return err
		}
	}
	return a.publish(ctx, ch, msg)
}

// sendAsync sends from the subscriber's goroutine, which must not wait:
// the answers to other servers' requests.
func (a *Adapter) sendAsync(to string, w wireRequest, atts [][]byte) {
	go func() {
		if err := a.send(context.Background(), true, to, w, atts); err != nil {
			a.log.Debug("redis adapter: answer not published", "err", err)
		}
	}()
}

// clusterMessage is a message of socket.io-adapter's ClusterAdapter, which
// the sharded mode speaks: every kind on the namespace's channel (or a
// room's), answers on the requester's.
type clusterMessage struct {
	UID  string          `json:"uid"`
	Nsp  string          `json:"nsp"`
	Type int             `json:"type"`
	Data json.RawMessage `json:"data,omitempty"`
}

// clusterData is a ClusterAdapter message's data. Opts comes last, and the
// offset last in it: a recoverable broadcast's offset is spliced in at the
// last occurrence of its placeholder, after everything a client sent.
type clusterData struct {
	RequestID   string          `json:"requestId,omitempty"`
	Rooms       rooms           `json:"rooms,omitzero"`
	Close       bool            `json:"close,omitempty"`
	Packet      json.RawMessage `json:"packet,omitempty"`
	Sockets     json.RawMessage `json:"sockets,omitempty"`
	ClientCount *int            `json:"clientCount,omitempty"`
	Opts        *wireOpts       `json:"opts,omitempty"`
}

// clusterTypes maps classic request types to ClusterAdapter message types,
// as requests and as answers.
var clusterTypes = map[int][2]int{
	reqRemoteJoin:     {msgSocketsJoin, 0},
	reqRemoteLeave:    {msgSocketsLeave, 0},
	reqRemoteDisconn:  {msgDisconnect, 0},
	reqRemoteFetch:    {msgFetchSockets, msgFetchResponse},
	reqServerSideEmit: {msgServerSideEmit, msgServerSideResp},
	reqBroadcast:      {msgBroadcast, 0},
	reqBroadcastCount: {0, msgBroadcastCount},
	reqBroadcastAck:   {0, msgBroadcastAck},
}

func (a *Adapter) sendShard(ctx context.Context, resp bool, to string, w wireRequest, atts [][]byte) error {
	types, i := clusterTypes[w.Type], 0
	if resp {
		i = 1
	}
	if types[i] == 0 {
		return nil // no such message in this protocol (Node's allSockets, allRooms)
	}
	d := clusterData{RequestID: w.RequestID, Opts: w.Opts, Rooms: w.Rooms, Close: w.Close,
		Packet: w.Packet, Sockets: w.Sockets, ClientCount: w.ClientCount}
	if w.Type == reqServerSideEmit {
		d.Packet = w.Data
	}
	ch := a.channel
	if resp {
		ch += to + "#"
	}
	msg, err := a.encodeCluster(types[i], d, atts)
	if err != nil {
		return err
	}
	return a.publish(ctx, ch, msg)
}

// encodeCluster encodes a ClusterAdapter message, in msgpack (which Node
// reads whatever the content).
func (a *Adapter) encodeCluster(typ int, d clusterData, atts [][]byte) ([]byte, error) {
	return encodeCluster(a.uid, a.name, typ, d, atts)
}

func encodeCluster(uid, nsp string, typ int, d clusterData, atts [][]byte) ([]byte, error) {
	return encodeMsgpack(appendJSON(nil, clusterMessage{UID: uid, Nsp: nsp, Type: typ, Data: appendJSON(nil, d)}), atts)
}

// onShard receives every channel of the sharded mode.
func (a *Adapter) onShard(channel string, msg []byte) {
	if channel == a.vicChannel && len(msg) > 0 && msg[0] == '{' {
		var w wireRequest
		if json.Unmarshal(msg, &w) == nil {
			a.onControl(w)
		}
		return
	}
	js, atts, err := decodeAny(msg)
	if err != nil {
		a.drop("message", err)
		return
	}
	var m clusterMessage
	var d clusterData
	if err := json.Unmarshal(js, &m); err != nil || (m.Data != nil && json.Unmarshal(m.Data, &d) != nil) {
		a.drop("message", errMalformed)
		return
	}
	if m.Nsp == "" {
		m.Nsp = "/"
	}
	if m.Nsp != a.name {
		return
	}
	own := m.UID == a.uid
	req := wireRequest{UID: m.UID, RequestID: d.RequestID, Opts: d.Opts, Rooms: d.Rooms, Close: d.Close,
		Packet: d.Packet, Sockets: d.Sockets, ClientCount: d.ClientCount}
	switch m.Type {
	case msgBroadcast:
		if d.RequestID == "" {
			var b broadcast
			if d.Opts == nil || json.Unmarshal(d.Packet, &b.packet) != nil {
				a.drop("broadcast", errMalformed)
				return
			}
			b.uid, b.nsp, b.atts, b.opts = m.UID, m.Nsp, atts, *d.Opts
			a.deliverBroadcast(b)
		} else if !own {
			req.Type = reqBroadcast
			a.onBroadcastWithAck(req, atts)
		}
	case msgSocketsJoin, msgSocketsLeave, msgDisconnect, msgFetchSockets, msgServerSideEmit:
		if own {
			return
		}
		req.Type = map[int]int{msgSocketsJoin: reqRemoteJoin, msgSocketsLeave: reqRemoteLeave,
			msgDisconnect: reqRemoteDisconn, msgFetchSockets: reqRemoteFetch, msgServerSideEmit: reqServerSideEmit}[m.Type]
		if m.Type == msgServerSideEmit {
			req.Data = d.Packet
		}
		if m.Type != msgServerSideEmit && req.Opts == nil {
			return
		}
		a.onRequest(req, atts)
	case msgFetchResponse, msgServerSideResp, msgBroadcastCount, msgBroadcastAck:
		req.Type = map[int]int{msgFetchResponse: reqRemoteFetch, msgServerSideResp: reqServerSideEmit,
			msgBroadcastCount: reqBroadcastCount, msgBroadcastAck: reqBroadcastAck}[m.Type]
		if m.Type == msgServerSideResp {
			req.Data = d.Packet
		}
		a.onResponse(req, atts)
	}
}

// SubscriptionMode is how the sharded mode subscribes to rooms, as
// createShardedAdapter's subscriptionMode.
type SubscriptionMode int

const (
	// Dynamic gives each room but the sockets' own a channel, subscribed
	// to by the servers that have sockets in it: a broadcast to one room
	// reaches only those servers. Node's default.
	Dynamic SubscriptionMode = iota
	// Static has one channel per namespace: every broadcast reaches every
	// server.
	Static
	// DynamicPrivate gives the sockets' own rooms a channel too.
	DynamicPrivate
)

// WithSharded makes the adapter speak the protocol of Node's
// createShardedAdapter (@socket.io/redis-adapter 8.3): Redis 7's sharded
// pub/sub (SSUBSCRIBE, SPUBLISH), with a channel per room in the dynamic
// modes, so that a broadcast to a room reaches only the servers with
// sockets in it. Every server of the cluster must use the same mode;
// @socket.io/redis-emitter does not speak it ([Emitter] does, made with the
// same option). With a Redis Cluster client each shard channel is
// subscribed to on its shard's node: messages on different channels are
// then not ordered among themselves, and recovery across servers needs the
// classic mode.
func WithSharded(mode SubscriptionMode) Option {
	if mode < Dynamic || mode > DynamicPrivate {
		panic("redis: WithSharded: unknown mode")
	}
	return func(c *config) { c.sharded, c.mode = true, mode }
}

// looksLikeSocketID is Node's guess at whether a room is a socket's own:
// its ids are 20 characters long, as vicinity's.
func looksLikeSocketID(room string) bool { return len(room) == 20 }

// shardChannel returns the channel of a sharded broadcast (without
// acknowledgements) with opts.
func (a *Adapter) shardChannel(opts realtime.BroadcastOptions) string {
	if opts.Near != nil {
		return a.vicChannel
	}
	return shardChannel(a.channel, a.h.cfg.mode, opts.Rooms)
}

// shardChannel returns the channel of a sharded broadcast to rooms: its
// room's in the dynamic modes when there is one, as Node chooses it.
func shardChannel(channel string, mode SubscriptionMode, rooms []string) string {
	if len(rooms) == 1 {
		room := rooms[0]
		switch mode {
		case Dynamic:
			if !looksLikeSocketID(room) {
				return channel + room + "#"
			}
		case DynamicPrivate:
			return channel + room + "#"
		}
	}
	return channel
}

// roomSubs keeps, in the dynamic modes, a subscription to the channel of
// each room this server's sockets are in: membership changes mark rooms,
// and one goroutine subscribes and unsubscribes to match.
type roomSubs struct {
	mu         sync.Mutex
	pending    map[string]struct{}
	waiters    []chan struct{} // closed after the next pass
	wake       chan struct{}
	subscribed map[string]bool // by the reconciling goroutine only
}

// roomsChanged marks rooms to be looked at.
func (a *Adapter) roomsChanged(rooms ...string) {
	a.markRooms(nil, rooms)
}

// joinWait bounds how long a join waits for its room's subscription.
const joinWait = time.Second

// roomsJoined marks rooms a socket joined and, if one of them is new on
// this server, waits (up to joinWait) until its channel is subscribed to:
// so a broadcast published after the join, such as one its
// acknowledgement prompted, reaches it.
func (a *Adapter) roomsJoined(fresh bool, rooms []string) {
	if !fresh || len(a.sub.queue) > queueLen/2 {
		// (With the queue half full, the Redis connection's reader may be
		// waiting for the worker, which may be what calls this: no wait.)
		a.markRooms(nil, rooms)
		return
	}
	done := make(chan struct{})
	a.markRooms(done, rooms)
	t := time.NewTimer(joinWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-a.stop:
	}
}

func (a *Adapter) markRooms(done chan struct{}, rooms []string) {
	rs := a.roomSubs
	if rs == nil {
		return
	}
	rs.mu.Lock()
	for _, r := range rooms {
		rs.pending[r] = struct{}{}
	}
	if done != nil {
		rs.waiters = append(rs.waiters, done)
	}
	rs.mu.Unlock()
	select {
	case rs.wake <- struct{}{}:
	default:
	}
}

// needsChannel reports whether room has a channel of its own in the
// adapter's mode.
func (a *Adapter) needsChannel(room string) bool {
	return a.h.cfg.mode == DynamicPrivate || a.nsp.Socket(room) == nil
}

// reconcileRooms subscribes to the channels of the rooms this server's
// sockets are in and unsubscribes from the others, until the adapter
// closes.
func (a *Adapter) reconcileRooms() {
	defer a.wg.Done()
	rs := a.roomSubs
	for {
		select {
		case <-a.stop:
			var keys []subKey
			for r := range rs.subscribed {
				keys = append(keys, subKey{shardSub, a.channel + r + "#"})
			}
			if len(keys) > 0 {
				a.sub.remove(a, keys...)
			}
			return
		case <-rs.wake:
		}
		rs.mu.Lock()
		pending, waiters := rs.pending, rs.waiters
		rs.pending, rs.waiters = make(map[string]struct{}), nil
		rs.mu.Unlock()
		var add, del []subKey
		for r := range pending {
			want := a.HasRoom(r) && a.needsChannel(r)
			if want == rs.subscribed[r] {
				continue
			}
			k := subKey{shardSub, a.channel + r + "#"}
			if want {
				rs.subscribed[r] = true
				add = append(add, k)
			} else {
				delete(rs.subscribed, r)
				del = append(del, k)
			}
		}
		if len(add) > 0 {
			if err := a.sub.add(a, a.onShard, add...); err != nil {
				a.log.Debug("redis adapter: room subscriptions", "err", err)
			}
		}
		if len(del) > 0 {
			a.sub.remove(a, del...)
		}
		for _, w := range waiters {
			close(w)
		}
	}
}
