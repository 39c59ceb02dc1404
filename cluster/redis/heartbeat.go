package redis

import (
	"context"
	"fmt"
	"time"
)

// control publishes a heartbeat message of type typ on the vicinity
// channel.
func (a *Adapter) control(typ int) { a.publishControl(wireRequest{UID: a.uid, Type: typ}) }

// publishControl publishes w on the vicinity channel.
func (a *Adapter) publishControl(w wireRequest) {
	ctx, cancel := context.WithTimeout(context.Background(), a.h.cfg.requestTimeout)
	defer cancel()
	if err := a.publish(ctx, a.vicChannel, appendJSON(nil, w)); err != nil {
		a.log.Debug("redis adapter: heartbeat not published", "err", err)
	}
}

// heartbeats subscribes, says hello, then says it is alive every interval
// and forgets the servers not heard of for the timeout, until the adapter
// closes.
func (a *Adapter) heartbeats() {
	defer a.wg.Done()
	a.subscribe()
	a.control(reqHeartbeatHello)
	t := time.NewTicker(a.h.cfg.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
		}
		a.control(reqHeartbeat)
		cut := time.Now().Add(-a.h.cfg.heartbeatTimeout)
		a.mu.Lock()
		var silent []string
		for uid, at := range a.peers {
			if at.Before(cut) {
				delete(a.peers, uid)
				silent = append(silent, uid)
			}
		}
		a.mu.Unlock()
		a.geo.silent(silent) // dead, unless Redis still holds them
		a.checkOwners()
	}
}

// onControl takes another vicinity server's heartbeat message.
func (a *Adapter) onControl(w wireRequest) {
	if w.UID == "" || w.UID == a.uid {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	_, known := a.peers[w.UID]
	if !known && len(a.peers) >= maxPeers && w.Type != reqHeartbeatClose {
		return // a flood of made-up servers: the real ones are known already
	}
	if (w.Type == reqHeartbeat || w.Type == reqHeartbeatHello) && a.geo.alive(w.UID) {
		a.log.Warn("redis adapter: a server taken for dead is alive: it shares its sockets again", "server", w.UID)
		a.wg.Add(1) // a.mu is held and the adapter not closed: Close waits
		go func() {
			defer a.wg.Done()
			a.publishControl(wireRequest{UID: a.uid, Type: reqShareAgain, Room: w.UID})
		}()
	}
	switch w.Type {
	case reqShareAgain:
		if w.Room == a.uid {
			a.geo.resubscribed()
		}
	case reqHeartbeat:
		a.peers[w.UID] = time.Now()
	case reqHeartbeatHello:
		a.peers[w.UID] = time.Now()
		if !known {
			go a.control(reqHeartbeat) // so that it knows this server at once
		}
	case reqHeartbeatClose:
		delete(a.peers, w.UID)
	}
}

// maxPeers bounds the vicinity servers an adapter keeps track of.
const maxPeers = 4096

// serverCount returns how many other servers answer requests: the Node
// servers subscribed to the request channel (the namespace's channel in
// sharded mode), and the vicinity servers
// heard of within the heartbeat timeout (a vicinity server that stopped
// answering but keeps its connection is not waited for); in its first
// heartbeat timeout, before it can have heard of them all, every vicinity
// server subscribed.
func (a *Adapter) serverCount(ctx context.Context) (int, error) {
	select { // the answers come on channels this adapter subscribes to
	case <-a.ready:
	case <-ctx.Done():
		return 0, fmt.Errorf("%w: not subscribed yet", ErrUnavailable)
	}
	if !a.sub.up.Load() {
		return 0, ErrUnavailable
	}
	c := a.h.client
	all := a.reqChannel
	if a.h.cfg.sharded {
		all = a.channel
	}
	var counts [2]int
	for i, ch := range []string{all, a.vicChannel} { // one by one: on a Redis Cluster, each on its shard
		cmd := c.B().PubsubNumsub().Channel(ch).Build()
		if a.h.cfg.sharded {
			cmd = c.B().PubsubShardnumsub().Channel(ch).Build()
		}
		n, err := doRetry(ctx, c, cmd).AsIntMap()
		if err != nil {
			return 0, errUnavailable(err)
		}
		counts[i] = int(n[ch])
	}
	subscribed, vicinity := counts[0], counts[1]
	cut := time.Now().Add(-a.h.cfg.heartbeatTimeout)
	alive := 0
	a.mu.Lock()
	for _, at := range a.peers {
		if at.After(cut) {
			alive++
		}
	}
	a.mu.Unlock()
	node, others := max(0, subscribed-vicinity), max(0, vicinity-1)
	if time.Since(a.started) < a.h.cfg.heartbeatTimeout {
		return node + others, nil // too early to have heard of every server
	}
	return node + min(alive, others), nil
}
