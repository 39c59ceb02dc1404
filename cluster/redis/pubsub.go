package redis

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/redis/rueidis"
)

// handler receives the messages of a subscription, in the order Redis
// sent them, on the subscriber's worker goroutine: it may wait briefly
// (for a subscription), not for long.
type handler func(channel string, msg []byte)

// holder is an owner's handler of a subscription.
type holder struct {
	owner any
	h     handler
}

// received is a message waiting for its handler.
type received struct {
	h       handler
	channel string
	msg     []byte
}

// queueLen bounds the messages received and not yet handled; past it the
// connection's reader waits.
const queueLen = 4096

// kind is how a subscription is made.
type kind uint8

const (
	channelSub kind = iota // SUBSCRIBE
	patternSub             // PSUBSCRIBE
	shardSub               // SSUBSCRIBE (Redis 7)
)

type subKey struct {
	kind kind
	name string
}

// subscriber holds one dedicated connection in the subscribed state and
// its subscriptions, made again after every reconnection.
//
// Lock order: cmdMu, then mu. mu guards the state and is never held
// during I/O (dispatch, on the connection's reader, needs it); cmdMu is
// held from a change of subs through the (UN)SUBSCRIBE it makes, so that
// the commands reach Redis in the order subs changed: a subscription
// dropped and made again at once (a topic's last watcher leaving as
// another comes) ends subscribed, as subs says.
type subscriber struct {
	client rueidis.Client
	log    *slog.Logger
	up     atomic.Bool // subscribed on a live connection
	// onUp is called each time the subscriptions are made again after the
	// connection was lost (not the first time).
	onUp func()
	// tried is closed once the first connection was tried, made or not.
	tried chan struct{}

	queue   chan received // to the worker, in order
	workers sync.WaitGroup
	// cluster is set for a Redis Cluster client: each shard channel is
	// then subscribed to on its own (rueidis's Receive, on its shard's
	// node), not on the dedicated connection.
	cluster bool
	shards  map[string]*shard // by channel, under mu
	// leaving holds, by channel, the shard subscription removed last
	// until it has left: one made again waits for it (under mu).
	leaving map[string]*shard

	cmdMu sync.Mutex

	mu sync.Mutex
	// subs holds each subscription's holders, oldest first: two adapters
	// of one namespace name (a dynamic namespace dropped and made again)
	// share its channels, and the newest gets the messages.
	subs map[subKey][]holder
	dc   rueidis.DedicatedClient // nil while (re)connecting
	stop chan struct{}
	done chan struct{}
}

func newSubscriber(client rueidis.Client, log *slog.Logger) *subscriber {
	s := &subscriber{
		client: client, log: log,
		subs:    make(map[subKey][]holder),
		cluster: client.Mode() == rueidis.ClientModeCluster,
		shards:  make(map[string]*shard),
		leaving: make(map[string]*shard),
		queue:   make(chan received, queueLen),
		tried:   make(chan struct{}),
		stop:    make(chan struct{}), done: make(chan struct{}),
	}
	s.workers.Add(1)
	go s.run()
	go s.work()
	return s
}

// work hands the messages received to their handlers, in order, until the
// subscriber is closed.
func (s *subscriber) work() {
	defer s.workers.Done()
	for {
		select {
		case r := <-s.queue:
			r.h(r.channel, r.msg)
		case <-s.stop:
			return
		}
	}
}

// run keeps the connection: it subscribes to everything, waits for the
// connection to break, and starts again after a pause.
func (s *subscriber) run() {
	defer close(s.done)
	const minPause, maxPause = 50 * time.Millisecond, 2 * time.Second
	pause := minPause
	first := true
	for {
		dc, cancel := s.client.Dedicate()
		wait := dc.SetPubSubHooks(rueidis.PubSubHooks{OnMessage: s.dispatch})
		s.cmdMu.Lock()
		s.mu.Lock()
		s.dc = dc
		keys := make([]subKey, 0, len(s.subs))
		for k := range s.subs {
			if !(s.cluster && k.kind == shardSub) {
				keys = append(keys, k)
			}
		}
		s.mu.Unlock()
		err := subscribe(dc, keys...)
		s.cmdMu.Unlock()
		if err == nil {
			s.up.Store(true) // before markTried: ready reports it
		}
		if first {
			s.markTried()
		}
		if err == nil {
			if !first && s.onUp != nil {
				s.onUp()
			}
			first, pause = false, minPause
			select {
			case err = <-wait:
			case <-s.stop:
			}
		}
		s.up.Store(false)
		s.mu.Lock()
		s.dc = nil
		s.mu.Unlock()
		cancel()
		select {
		case <-s.stop:
			return
		default:
		}
		s.log.Warn("redis adapter: subscription connection lost, reconnecting", "err", err, "pause", pause)
		select {
		case <-time.After(pause):
		case <-s.stop:
			return
		}
		pause = min(2*pause, maxPause)
	}
}

// markTried closes tried once.
func (s *subscriber) markTried() {
	select {
	case <-s.tried:
	default:
		close(s.tried)
	}
}

// ready waits until the first connection was tried, and reports whether
// the subscriptions are live.
func (s *subscriber) ready(ctx context.Context) bool {
	select {
	case <-s.tried:
	case <-ctx.Done():
	}
	return s.up.Load()
}

// subscribe makes the subscriptions keys on dc.
func subscribe(dc rueidis.DedicatedClient, keys ...subKey) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var chans, pats []string
	var cmds rueidis.Commands
	for _, k := range keys {
		switch k.kind {
		case channelSub:
			chans = append(chans, k.name)
		case patternSub:
			pats = append(pats, k.name)
		case shardSub: // one command per channel: a cluster may hold them on different shards
			cmds = append(cmds, dc.B().Ssubscribe().Channel(k.name).Build())
		}
	}
	if len(chans) > 0 {
		cmds = append(cmds, dc.B().Subscribe().Channel(chans...).Build())
	}
	if len(pats) > 0 {
		cmds = append(cmds, dc.B().Psubscribe().Pattern(pats...).Build())
	}
	for _, r := range dc.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return err
		}
	}
	return nil
}

func (s *subscriber) dispatch(m rueidis.PubSubMessage) {
	k := subKey{channelSub, m.Channel}
	if m.Pattern != "" {
		k = subKey{patternSub, m.Pattern}
	}
	s.mu.Lock()
	hs := s.subs[k]
	if hs == nil && m.Pattern == "" {
		hs = s.subs[subKey{shardSub, m.Channel}]
	}
	var h handler
	if len(hs) > 0 {
		h = hs[len(hs)-1].h
	}
	s.mu.Unlock()
	if h != nil {
		// The message is never written to: its bytes may back the packets
		// made of it.
		select {
		case s.queue <- received{h, m.Channel, unsafe.Slice(unsafe.StringData(m.Message), len(m.Message))}:
		case <-s.stop:
		}
	}
}

// add subscribes owner's h to the subscriptions keys, on the live
// connection if there is one (else at the next connection). If that fails,
// the connection is closed, so that every subscription is made again on
// the next.
func (s *subscriber) add(owner any, h handler, keys ...subKey) error {
	s.cmdMu.Lock()
	s.mu.Lock()
	for _, k := range keys {
		s.subs[k] = append(s.subs[k], holder{owner, h})
	}
	var ready []chan struct{}
	if s.cluster {
		var rest []subKey
		for _, k := range keys {
			if k.kind != shardSub {
				rest = append(rest, k)
			} else if s.shards[k.name] == nil {
				r := make(chan struct{})
				ready = append(ready, r)
				s.startShard(k.name, r)
			}
		}
		keys = rest
	}
	dc := s.dc
	s.mu.Unlock()
	var err error
	if dc != nil && len(keys) > 0 {
		if err = subscribe(dc, keys...); err != nil {
			dc.Close()
		}
	}
	s.cmdMu.Unlock()
	// Shard channels are subscribed to on connections of their own, each
	// after its previous subscription left (see startShard): no need to
	// hold cmdMu while they are made.
	for _, r := range ready {
		t := time.NewTimer(5 * time.Second)
		select {
		case <-r:
		case <-t.C:
		}
		t.Stop()
	}
	return err
}

// shard is a shard channel's subscription on a connection of its own.
type shard struct {
	cancel context.CancelFunc
	left   chan struct{} // closed once it has left the channel
}

// startShard subscribes to shard channel name on its own until it is
// removed or the subscriber closed, closing ready once subscribed. The
// caller holds mu. If name's previous subscription is still leaving (its
// SUNSUBSCRIBE not sent yet), this one waits for it: so Redis ends
// subscribed, as subs says.
func (s *subscriber) startShard(name string, ready chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	sh := &shard{cancel: cancel, left: make(chan struct{})}
	s.shards[name] = sh
	prev := s.leaving[name]
	s.workers.Add(1)
	go func() {
		defer s.workers.Done()
		defer func() {
			s.mu.Lock()
			if s.leaving[name] == sh {
				delete(s.leaving, name)
			}
			s.mu.Unlock()
			close(sh.left)
		}()
		if prev != nil {
			<-prev.left // soon: it was canceled
		}
		if ctx.Err() != nil { // removed already
			return
		}
		var once sync.Once
		rctx := rueidis.WithOnSubscriptionHook(ctx, func(ps rueidis.PubSubSubscription) {
			if ps.Kind == "ssubscribe" {
				once.Do(func() { close(ready) })
			}
		})
		rctx = rueidis.WithOnReceiveReturnHook(rctx, func(_ error, c rueidis.CommandClient) error {
			if ctx.Err() != nil { // removed: leave the channel
				uctx, ucancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer ucancel()
				_ = c.Do(uctx, c.B().Sunsubscribe().Channel(name).Build()).Error()
			}
			return nil
		})
		pause := 50 * time.Millisecond
		for {
			err := s.client.Receive(rctx, s.client.B().Ssubscribe().Channel(name).Build(), s.dispatch)
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("redis adapter: shard subscription lost, subscribing again", "channel", name, "err", err, "pause", pause)
			select {
			case <-time.After(pause):
			case <-ctx.Done():
				return
			}
			pause = min(2*pause, 2*time.Second)
		}
	}()
}

// remove drops owner's holds on keys, and unsubscribes from those no one
// else holds.
func (s *subscriber) remove(owner any, keys ...subKey) {
	s.cmdMu.Lock()
	defer s.cmdMu.Unlock()
	s.mu.Lock()
	var gone []subKey
	for _, k := range keys {
		hs := slices.DeleteFunc(s.subs[k], func(x holder) bool { return x.owner == owner })
		if len(hs) > 0 {
			s.subs[k] = hs
			continue
		}
		delete(s.subs, k)
		gone = append(gone, k)
	}
	keys = gone
	if s.cluster {
		var rest []subKey
		for _, k := range keys {
			if k.kind != shardSub {
				rest = append(rest, k)
			} else if sh := s.shards[k.name]; sh != nil {
				delete(s.shards, k.name)
				s.leaving[k.name] = sh
				sh.cancel()
			}
		}
		keys = rest
	}
	dc := s.dc
	s.mu.Unlock()
	if dc == nil || len(keys) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var cmds rueidis.Commands
	for _, k := range keys {
		switch k.kind {
		case channelSub:
			cmds = append(cmds, dc.B().Unsubscribe().Channel(k.name).Build())
		case patternSub:
			cmds = append(cmds, dc.B().Punsubscribe().Pattern(k.name).Build())
		case shardSub:
			cmds = append(cmds, dc.B().Sunsubscribe().Channel(k.name).Build())
		}
	}
	dc.DoMulti(ctx, cmds...) // a failure breaks the connection, which subscribes afresh
}

func (s *subscriber) close() {
	close(s.stop)
	s.mu.Lock()
	for name, sh := range s.shards {
		delete(s.shards, name)
		sh.cancel()
	}
	s.mu.Unlock()
	<-s.done
	s.workers.Wait()
}
