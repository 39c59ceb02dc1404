package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/vicinity-go/vicinity/internal/id"
	"github.com/vicinity-go/vicinity/realtime"
)

// request is a request of this server waiting for the other servers'
// answers.
type request struct {
	typ      int
	mu       sync.Mutex
	expected int // answers awaited
	got      int
	done     chan struct{} // closed when got == expected
	sockets  []realtime.SocketInfo
	answers  []json.RawMessage
	// a broadcast with acknowledgements
	clients int // sockets reached, on every server so far
	onCount func(int)
	onAck   func(realtime.Args)
}

// answered counts one answer; the caller holds r.mu.
func (r *request) answered() {
	r.got++
	if r.got == r.expected {
		close(r.done)
	}
}

// register adds a request of type typ expecting n answers.
func (a *Adapter) register(typ, n int) (string, *request) {
	r := &request{typ: typ, expected: n, done: make(chan struct{})}
	rid := id.New()[:12]
	a.mu.Lock()
	a.pending[rid] = r
	a.mu.Unlock()
	return rid, r
}

func (a *Adapter) unregister(rid string) {
	a.mu.Lock()
	delete(a.pending, rid)
	a.mu.Unlock()
}

// requestContext bounds ctx by the request timeout.
func (a *Adapter) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.h.cfg.requestTimeout)
}

// wait waits for r's answers or for ctx, and says which is missing.
func (a *Adapter) wait(ctx context.Context, what string, r *request) error {
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.got >= r.expected {
		return nil
	}
	return fmt.Errorf("%w: %s: %d of %d servers answered", ErrTimeout, what, r.got, r.expected)
}

// onResponse takes another server's answer to one of this server's
// requests.
func (a *Adapter) onResponse(w wireRequest, atts [][]byte) {
	a.mu.Lock()
	r := a.pending[w.RequestID]
	a.mu.Unlock()
	if r == nil {
		return // answered already, timed out, or another server's
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch r.typ {
	case reqRemoteFetch:
		var infos []realtime.SocketInfo
		if err := json.Unmarshal(w.Sockets, &infos); err != nil {
			a.drop("fetch answer", err)
			return
		}
		if r.got < r.expected {
			r.sockets = append(r.sockets, infos...)
			r.answered()
		}
	case reqServerSideEmit:
		if r.got < r.expected {
			data := w.Data
			if data == nil {
				data = json.RawMessage("null")
			}
			r.answers = append(r.answers, data)
			r.answered()
		}
	case reqBroadcast:
		switch w.Type {
		case reqBroadcastCount:
			if r.got < r.expected && w.ClientCount != nil {
				r.clients += *w.ClientCount
				r.answered()
				if r.got == r.expected {
					r.onCount(r.clients)
				}
			}
		case reqBroadcastAck:
			arg := w.Packet
			if arg == nil {
				arg = json.RawMessage("null")
			}
			r.onAck(realtime.NewArgs([]json.RawMessage{arg}, atts))
		}
	}
}

// FetchSockets implements [realtime.Adapter]: this server's sockets, then
// every other server's. Past the deadline it returns what it has with an
// error wrapping [ErrTimeout].
func (a *Adapter) FetchSockets(ctx context.Context, opts realtime.BroadcastOptions) ([]realtime.SocketInfo, error) {
	local, err := a.MemoryAdapter.FetchSockets(ctx, opts)
	if err != nil || opts.Local {
		return local, err
	}
	ctx, cancel := a.requestContext(ctx)
	defer cancel()
	n, err := a.serverCount(ctx)
	if err != nil || n == 0 {
		return local, err
	}
	rid, r := a.register(reqRemoteFetch, n)
	defer a.unregister(rid)
	req := wireRequest{RequestID: rid, Type: reqRemoteFetch, Opts: ptr(encodeOpts(opts))}
	if err := a.send(ctx, false, "", req, nil); err != nil {
		return local, err
	}
	err = a.wait(ctx, "fetch sockets", r)
	r.mu.Lock()
	defer r.mu.Unlock()
	return append(local, r.sockets...), err
}

func ptr[T any](v T) *T { return &v }

// AddSockets implements [realtime.Adapter]. Like Node's adapter it waits
// for no answer: the error is Redis's.
func (a *Adapter) AddSockets(ctx context.Context, opts realtime.BroadcastOptions, rooms []string) error {
	return a.operation(ctx, reqRemoteJoin, opts, rooms, false)
}

// DelSockets implements [realtime.Adapter], as [Adapter.AddSockets].
func (a *Adapter) DelSockets(ctx context.Context, opts realtime.BroadcastOptions, rooms []string) error {
	return a.operation(ctx, reqRemoteLeave, opts, rooms, false)
}

// DisconnectSockets implements [realtime.Adapter], as [Adapter.AddSockets].
func (a *Adapter) DisconnectSockets(ctx context.Context, opts realtime.BroadcastOptions, close bool) error {
	return a.operation(ctx, reqRemoteDisconn, opts, nil, close)
}

func (a *Adapter) operation(ctx context.Context, typ int, opts realtime.BroadcastOptions, rooms []string, close bool) error {
	var err error
	if !opts.Local {
		req := wireRequest{Type: typ, Opts: ptr(encodeOpts(opts)), Rooms: rooms, Close: close}
		if typ != reqRemoteDisconn {
			req.Rooms = nonNil(rooms)
		}
		err = a.send(ctx, false, "", req, nil)
	}
	var lerr error
	switch typ {
	case reqRemoteJoin:
		lerr = a.MemoryAdapter.AddSockets(ctx, opts, rooms)
	case reqRemoteLeave:
		lerr = a.MemoryAdapter.DelSockets(ctx, opts, rooms)
	default:
		lerr = a.MemoryAdapter.DisconnectSockets(ctx, opts, close)
	}
	if lerr != nil {
		return lerr
	}
	return err
}

// ServerSideEmit implements [realtime.Adapter].
func (a *Adapter) ServerSideEmit(ctx context.Context, data []json.RawMessage, withAck bool) ([]json.RawMessage, error) {
	raw, _ := json.Marshal(data)
	req := wireRequest{Type: reqServerSideEmit, Data: raw}
	if !withAck {
		return nil, a.send(ctx, false, "", req, nil)
	}
	ctx, cancel := a.requestContext(ctx)
	defer cancel()
	n, err := a.serverCount(ctx)
	if err != nil || n == 0 {
		return nil, err
	}
	rid, r := a.register(reqServerSideEmit, n)
	defer a.unregister(rid)
	req.RequestID = rid
	if err := a.send(ctx, false, "", req, nil); err != nil {
		return nil, err
	}
	err = a.wait(ctx, "server-side emit", r)
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]json.RawMessage(nil), r.answers...), err
}

// BroadcastWithAck implements [realtime.Adapter]: onClients gets the
// number of sockets reached on every server once all have told theirs;
// a server that does not tell before ctx ends leaves it uncalled.
func (a *Adapter) BroadcastWithAck(ctx context.Context, p *realtime.Packet, ackID uint64, opts realtime.BroadcastOptions, onClients func(int), onAck func(realtime.Args)) error {
	if opts.Local {
		return a.MemoryAdapter.BroadcastWithAck(ctx, p, ackID, opts, onClients, onAck)
	}
	cctx, cancel := a.requestContext(ctx)
	n, err := a.serverCount(cctx)
	cancel()
	if err != nil || n == 0 {
		if lerr := a.MemoryAdapter.BroadcastWithAck(ctx, p, ackID, opts, onClients, onAck); lerr != nil {
			return lerr
		}
		return err
	}
	rid, r := a.register(reqBroadcast, n)
	r.onAck = onAck
	var local int
	r.onCount = func(remote int) { onClients(local + remote) }
	context.AfterFunc(ctx, func() { a.unregister(rid) })

	pj, err := packetJSON(nil, p)
	if err != nil {
		a.unregister(rid)
		return err
	}
	wo := encodeOpts(opts)
	if wo.Flags == nil {
		wo.Flags = &wireFlags{}
	}
	wo.Flags.Timeout = float64(a.h.cfg.requestTimeout.Milliseconds())
	if d, ok := ctx.Deadline(); ok {
		wo.Flags.Timeout = math.Max(1, float64(time.Until(d).Milliseconds()))
	}
	req := wireRequest{RequestID: rid, Type: reqBroadcast, Packet: pj, Opts: &wo}
	// The local count is known before any remote one can be counted.
	r.mu.Lock()
	lerr := a.MemoryAdapter.BroadcastWithAck(ctx, p, ackID, opts, func(c int) { local = c }, onAck)
	r.mu.Unlock()
	if lerr != nil {
		a.unregister(rid)
		return lerr
	}
	return a.send(ctx, false, "", req, p.Attachments())
}

// maxAckWait bounds how long this server waits for its sockets' answers to
// another server's broadcast (Node's timeout flag; the request timeout
// without one).
const maxAckWait = 2 * time.Minute

// onBroadcastWithAck delivers another server's broadcast asking for
// acknowledgements, and tells it how many sockets it reached here and
// each one's answer (its first argument, as Node's servers pass it on).
func (a *Adapter) onBroadcastWithAck(w wireRequest, atts [][]byte) {
	if w.RequestID == "" || w.Opts == nil {
		return
	}
	var wp wirePacket
	if err := json.Unmarshal(w.Packet, &wp); err != nil {
		a.drop("broadcast with acks", err)
		return
	}
	ackID := a.nsp.NextAckID()
	p, err := toPacket(wp, atts, a.name, ackID, true, "")
	if err != nil {
		a.drop("broadcast with acks", err)
		return
	}
	timeout := a.h.cfg.requestTimeout
	if f := w.Opts.Flags; f != nil && f.Timeout > 0 {
		timeout = time.Duration(math.Min(f.Timeout, float64(maxAckWait/time.Millisecond))) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	err = a.MemoryAdapter.BroadcastWithAck(ctx, p, ackID, w.Opts.decode(),
		func(n int) {
			a.sendAsync(w.UID, wireRequest{Type: reqBroadcastCount, RequestID: w.RequestID, ClientCount: &n}, nil)
			if n == 0 {
				cancel()
			}
		},
		func(args realtime.Args) {
			arg := json.RawMessage("null")
			if args.Len() > 0 {
				arg = args.Raw(0)
			}
			a.sendAsync(w.UID, wireRequest{Type: reqBroadcastAck, RequestID: w.RequestID, Packet: arg}, args.Attachments())
		})
	if err != nil {
		cancel()
		a.drop("broadcast with acks", err)
	}
}
