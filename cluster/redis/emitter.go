package redis

import (
	"context"
	"fmt"
	"slices"

	"github.com/redis/rueidis"
	"github.com/vicinity-go/vicinity/internal/sio"
	"github.com/vicinity-go/vicinity/realtime"
)

// Emitter emits events and server-side operations into a cluster from a
// program that serves no client (a worker, a cron job, an HTTP API), as
// Node's @socket.io/redis-emitter does, and in its wire format: vicinity
// servers and Node servers with @socket.io/redis-adapter receive it
// alike. It needs no server; it publishes and waits for no answer.
//
// Its methods return modified copies, so an Emitter can be kept and
// reused; it is safe for concurrent use. Broadcasts it emits are not kept
// for connection-state recovery.
type Emitter struct {
	client rueidis.Client
	cfg    config

	nsp      string
	rooms    []string
	except   []string
	volatile bool
}

// NewEmitter returns an emitter into the namespace "/" of the cluster on
// client. Of the options, [WithKey] and [WithSharded] apply: they must be
// those of the cluster's servers.
func NewEmitter(client rueidis.Client, opts ...Option) *Emitter {
	cfg := defaults()
	for _, o := range opts {
		o(&cfg)
	}
	return &Emitter{client: client, cfg: cfg, nsp: "/"}
}

// Of returns an emitter into namespace nsp ("/" added in front if
// missing), without rooms or flags.
func (e *Emitter) Of(nsp string) *Emitter {
	if len(nsp) == 0 || nsp[0] != '/' {
		nsp = "/" + nsp
	}
	return &Emitter{client: e.client, cfg: e.cfg, nsp: nsp}
}

// To adds rooms: the emitter reaches the sockets in any of its rooms (every
// socket of the namespace when it has none).
func (e *Emitter) To(rooms ...string) *Emitter {
	c := *e
	c.rooms = append(slices.Clip(e.rooms), rooms...)
	return &c
}

// In is [Emitter.To].
func (e *Emitter) In(rooms ...string) *Emitter { return e.To(rooms...) }

// Except excludes the sockets in any of rooms.
func (e *Emitter) Except(rooms ...string) *Emitter {
	c := *e
	c.except = append(slices.Clip(e.except), rooms...)
	return &c
}

// Volatile marks the broadcasts volatile: a client whose send queue is
// full misses them instead of being disconnected.
func (e *Emitter) Volatile() *Emitter {
	c := *e
	c.volatile = true
	return &c
}

func (e *Emitter) opts() realtime.BroadcastOptions {
	return realtime.BroadcastOptions{Rooms: e.rooms, Except: e.except, Volatile: e.volatile}
}

// Emit broadcasts an event to the selected sockets on every server. Its
// arguments are encoded as [realtime.BroadcastOperator.Emit] encodes
// them ([]byte as binary). Reserved event names are refused with
// [realtime.ErrReservedEvent].
func (e *Emitter) Emit(ctx context.Context, event string, args ...any) error {
	if sio.Reserved(event) {
		return realtime.ErrReservedEvent
	}
	text, atts, err := sio.AppendPacket(nil, sio.Packet{Type: sio.Event, Namespace: e.nsp}, event, args)
	if err != nil {
		return fmt.Errorf("redis emitter: encode %q: %w", event, err)
	}
	p := realtime.NewPacket(text, atts, "")
	ch := e.cfg.key + "#" + e.nsp + "#"
	if e.cfg.sharded {
		pj, err := packetJSON(nil, p)
		if err != nil {
			return err
		}
		msg, err := encodeCluster(emitterUID, e.nsp, msgBroadcast, clusterData{Packet: pj, Opts: ptr(encodeOpts(e.opts()))}, atts)
		if err != nil {
			return err
		}
		return e.publish(ctx, shardChannel(ch, e.cfg.mode, e.rooms), msg)
	}
	msg, err := encodeBroadcast(emitterUID, p, e.opts(), "")
	if err != nil {
		return err
	}
	if len(e.rooms) == 1 {
		ch += e.rooms[0] + "#"
	}
	return e.publish(ctx, ch, msg)
}

// SocketsJoin makes the selected sockets join rooms, on every server.
func (e *Emitter) SocketsJoin(ctx context.Context, rooms ...string) error {
	return e.request(ctx, wireRequest{Type: reqRemoteJoin, Opts: ptr(encodeOpts(e.opts())), Rooms: nonNil(rooms)})
}

// SocketsLeave makes the selected sockets leave rooms, on every server.
func (e *Emitter) SocketsLeave(ctx context.Context, rooms ...string) error {
	return e.request(ctx, wireRequest{Type: reqRemoteLeave, Opts: ptr(encodeOpts(e.opts())), Rooms: nonNil(rooms)})
}

// DisconnectSockets disconnects the selected sockets, on every server,
// closing their connections too if close is set.
func (e *Emitter) DisconnectSockets(ctx context.Context, close bool) error {
	return e.request(ctx, wireRequest{Type: reqRemoteDisconn, Opts: ptr(encodeOpts(e.opts())), Close: close})
}

// ServerSideEmit sends a server-side event to every server's namespace
// (see [realtime.Namespace.OnServerSideEmit]); arguments are JSON, as
// there. No answer can be waited for.
func (e *Emitter) ServerSideEmit(ctx context.Context, event string, args ...any) error {
	data, err := realtime.ServerSideData(event, args)
	if err != nil {
		return err
	}
	return e.request(ctx, wireRequest{UID: emitterUID, Type: reqServerSideEmit, Data: appendJSON(nil, data)})
}

func (e *Emitter) request(ctx context.Context, r wireRequest) error {
	if !e.cfg.sharded {
		return e.publish(ctx, e.cfg.key+"-request#"+e.nsp+"#", appendJSON(nil, r))
	}
	d := clusterData{Opts: r.Opts, Rooms: r.Rooms, Close: r.Close}
	if r.Type == reqServerSideEmit {
		d.Packet = r.Data
	}
	msg, err := encodeCluster(emitterUID, e.nsp, clusterTypes[r.Type][0], d, nil)
	if err != nil {
		return err
	}
	return e.publish(ctx, e.cfg.key+"#"+e.nsp+"#", msg)
}

func (e *Emitter) publish(ctx context.Context, ch string, msg []byte) error {
	c := e.client
	cmd := c.B().Publish().Channel(ch).Message(rueidis.BinaryString(msg)).Build()
	if e.cfg.sharded {
		cmd = c.B().Spublish().Channel(ch).Message(rueidis.BinaryString(msg)).Build()
	}
	if err := c.Do(ctx, cmd).Error(); err != nil {
		return errUnavailable(err)
	}
	return nil
}
