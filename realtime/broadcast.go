package realtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/vicinity-go/vicinity/internal/id"
	"github.com/vicinity-go/vicinity/internal/sio"
)

// BroadcastOperator selects sockets of a namespace by room for a broadcast
// or a server-side operation. Its methods return modified copies, so an
// operator can be kept and reused.
type BroadcastOperator struct {
	nsp  *Namespace
	opts BroadcastOptions
	err  error // what made the operator select nobody: Emit returns it
}

// To adds rooms: the operator reaches sockets in any of its rooms.
func (b BroadcastOperator) To(rooms ...string) BroadcastOperator {
	b.opts.Rooms = append(slices.Clip(b.opts.Rooms), rooms...)
	return b
}

// In is [BroadcastOperator.To].
func (b BroadcastOperator) In(rooms ...string) BroadcastOperator { return b.To(rooms...) }

// Except excludes the sockets in any of rooms.
func (b BroadcastOperator) Except(rooms ...string) BroadcastOperator {
	b.opts.Except = append(slices.Clip(b.opts.Except), rooms...)
	return b
}

// Volatile marks the broadcast volatile: a client whose send queue is full
// misses it rather than being disconnected, and it is not kept for
// connection-state recovery.
func (b BroadcastOperator) Volatile() BroadcastOperator {
	b.opts.Volatile = true
	return b
}

// Local keeps the broadcast or operation to this server's sockets.
func (b BroadcastOperator) Local() BroadcastOperator {
	b.opts.Local = true
	return b
}

// Emit encodes the event once and queues it for every selected socket. It
// does not wait for any client. Arguments are encoded with encoding/json,
// except []byte arguments, which travel as binary attachments.
func (b BroadcastOperator) Emit(event string, args ...any) error {
	if b.err != nil {
		return b.err
	}
	if sio.Reserved(event) {
		return ErrReservedEvent
	}
	var errs []error
	for _, n := range b.nsp.targets() {
		errs = append(errs, n.broadcast(context.Background(), b.opts, event, args))
	}
	return errors.Join(errs...)
}

func (n *Namespace) broadcast(ctx context.Context, opts BroadcastOptions, event string, args []any) error {
	var offset string
	if n.srv.cfg.recovery > 0 && !opts.Volatile && opts.Latest == "" {
		offset = id.New()
		args = append(slices.Clip(args), offset)
	}
	p, err := newPacket(sio.Event, n.name, 0, false, event, args)
	if err != nil {
		return err
	}
	if opts.Latest != "" && len(p.atts) > 0 {
		return errLatestBinary
	}
	p.Offset = offset
	if _, err := p.wire(n.srv.cfg.parser); err != nil {
		return fmt.Errorf("realtime: encode %q: %w", event, err)
	}
	return n.adapter.Broadcast(ctx, p, opts)
}

// EmitWithAck broadcasts an event asking every selected socket for an
// acknowledgement, and waits for all of them, or for ctx to end. It returns
// the answers received, in arrival order, and ctx.Err() if some are missing
// (a socket that disconnects never answers). Give ctx a deadline. With a
// cluster adapter that could reach only this server's sockets (its broker
// is down), it returns their answers with the adapter's error.
func (b BroadcastOperator) EmitWithAck(ctx context.Context, event string, args ...any) ([]Args, error) {
	if b.err != nil {
		return nil, b.err
	}
	if sio.Reserved(event) {
		return nil, ErrReservedEvent
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		answers  []Args
		expected int
		servers  int
	)
	targets := b.nsp.targets()
	done := make(chan struct{})
	check := func() { // called with mu held
		if servers == len(targets) && len(answers) >= expected {
			select {
			case <-done:
			default:
				close(done)
			}
		}
	}
	var adapterErrs []error
	for _, n := range targets {
		ackID := n.nextAckID()
		p, err := newPacket(sio.Event, n.name, ackID, true, event, args)
		if err != nil {
			return nil, err
		}
		if _, err := p.wire(n.srv.cfg.parser); err != nil {
			return nil, fmt.Errorf("realtime: encode %q: %w", event, err)
		}
		counted := false
		err = n.adapter.BroadcastWithAck(ctx, p, ackID, b.opts,
			func(count int) {
				mu.Lock()
				expected += count
				servers++
				counted = true
				check()
				mu.Unlock()
			},
			func(a Args) {
				mu.Lock()
				answers = append(answers, a)
				check()
				mu.Unlock()
			})
		if err != nil {
			mu.Lock()
			reached := counted
			mu.Unlock()
			if !reached {
				return nil, err
			}
			// A cluster adapter that reached this server's sockets only
			// (the broker is down): wait for their answers.
			adapterErrs = append(adapterErrs, err)
		}
	}
	mu.Lock()
	check() // no target at all: nothing to wait for
	mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
	}
	mu.Lock()
	defer mu.Unlock()
	out := slices.Clone(answers)
	if len(out) < expected || servers < len(targets) {
		for _, o := range b.nsp.srv.cfg.observers {
			o.AckTimedOut(b.nsp, event, expected-len(out))
		}
		return out, errors.Join(append(adapterErrs, ctx.Err())...)
	}
	return out, errors.Join(adapterErrs...)
}

// EmitLatest broadcasts an event of which only the newest matters, such as
// a member's position: in each recipient's send queue it replaces the event
// broadcast earlier with the same key, if that one is not written yet, so a
// slow client gets the latest value instead of a backlog. Like a volatile
// event it is dropped rather than disconnecting a client whose queue is
// full, and it is not kept for recovery. It cannot carry binary
// attachments, and keys starting with a NUL byte are the server's own
// (nearby:move uses them): both are refused with [ErrInvalidArgument].
func (b BroadcastOperator) EmitLatest(key, event string, args ...any) error {
	if err := checkLatest(key, args); err != nil {
		return err
	}
	b.opts.Latest = key
	return b.Emit(event, args...)
}

// checkLatest refuses what EmitLatest cannot send: an empty key, one of
// the server's own (starting with a NUL byte), binary attachments.
func checkLatest(key string, args []any) error {
	if key == "" || key[0] == 0 {
		return fmt.Errorf("%w: EmitLatest with an empty or reserved key %q", ErrInvalidArgument, key)
	}
	if slices.ContainsFunc(args, func(a any) bool { _, bin := a.([]byte); return bin }) {
		return errLatestBinary
	}
	return nil
}

// errLatestBinary refuses an EmitLatest with binary data, at any depth.
var errLatestBinary = fmt.Errorf("%w: EmitLatest cannot carry binary attachments", ErrInvalidArgument)

// latestKey is the send-queue key of an EmitLatest key in namespace nsp.
func latestKey(nsp, key string) string { return nsp + "\x00" + key }

// FetchSockets returns the selected sockets. On an error (a cluster
// adapter's, when some servers did not answer) it returns those it found.
func (b BroadcastOperator) FetchSockets(ctx context.Context) ([]*RemoteSocket, error) {
	if b.err != nil {
		return nil, b.err
	}
	var out []*RemoteSocket
	for _, n := range b.nsp.targets() {
		infos, err := n.adapter.FetchSockets(ctx, b.opts)
		for _, in := range infos {
			out = append(out, &RemoteSocket{SocketInfo: in, nsp: n})
		}
		if err != nil {
			return out, err // with what the adapter found, as a cluster adapter that missed some servers
		}
	}
	return out, nil
}

// SocketsJoin makes the selected sockets join rooms.
func (b BroadcastOperator) SocketsJoin(ctx context.Context, rooms ...string) error {
	return b.each(func(n *Namespace) error { return n.adapter.AddSockets(ctx, b.opts, rooms) })
}

// SocketsLeave makes the selected sockets leave rooms.
func (b BroadcastOperator) SocketsLeave(ctx context.Context, rooms ...string) error {
	return b.each(func(n *Namespace) error { return n.adapter.DelSockets(ctx, b.opts, rooms) })
}

// DisconnectSockets disconnects the selected sockets, closing their
// connections too if close is set.
func (b BroadcastOperator) DisconnectSockets(ctx context.Context, close bool) error {
	return b.each(func(n *Namespace) error { return n.adapter.DisconnectSockets(ctx, b.opts, close) })
}

func (b BroadcastOperator) each(fn func(*Namespace) error) error {
	if b.err != nil {
		return b.err
	}
	var errs []error
	for _, n := range b.nsp.targets() {
		errs = append(errs, fn(n))
	}
	return errors.Join(errs...)
}

// RemoteSocket is a socket found by FetchSockets, on this server or, with a
// cluster adapter, another. Its methods act through the adapter.
type RemoteSocket struct {
	SocketInfo
	nsp *Namespace
}

func (r *RemoteSocket) op() BroadcastOperator { return r.nsp.To(r.ID) }

// Emit sends an event to the socket.
func (r *RemoteSocket) Emit(event string, args ...any) error { return r.op().Emit(event, args...) }

// Join makes the socket join rooms.
func (r *RemoteSocket) Join(ctx context.Context, rooms ...string) error {
	return r.op().SocketsJoin(ctx, rooms...)
}

// Leave makes the socket leave rooms.
func (r *RemoteSocket) Leave(ctx context.Context, rooms ...string) error {
	return r.op().SocketsLeave(ctx, rooms...)
}

// Disconnect disconnects the socket, closing its connection if close is
// set.
func (r *RemoteSocket) Disconnect(ctx context.Context, close bool) error {
	return r.op().DisconnectSockets(ctx, close)
}
