package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/vicinity-go/vicinity/internal/sio"
)

// ServerEvent is an event another server of the cluster sent to this
// namespace with [Namespace.ServerSideEmit] (or Node's
// io.serverSideEmit), received by a handler added with
// [Namespace.OnServerSideEmit].
type ServerEvent struct {
	Name string
	Args
	ack   func(json.RawMessage)
	acked atomic.Bool
}

// WantsAck reports whether the sender waits for an answer
// ([Namespace.ServerSideEmitWithAck]).
func (e *ServerEvent) WantsAck() bool { return e.ack != nil }

// Ack answers the event with v, encoded with encoding/json; a server
// answers once (later calls return [ErrAlreadyAcked]), and a sender that
// asked for no answer gets none (nil is returned).
func (e *ServerEvent) Ack(v any) error {
	if e.ack == nil {
		return nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidArgument, err)
	}
	if e.acked.Swap(true) {
		return ErrAlreadyAcked
	}
	e.ack(raw)
	return nil
}

// serverHandlers are a namespace's handlers of server-side events.
type serverHandlers struct {
	mu sync.RWMutex
	on map[string][]func(*ServerEvent)
}

// OnServerSideEmit adds a handler for the server-side event named event,
// sent by the other servers of the cluster. Each event runs its handlers
// on a goroutine of its own, in the order added.
func (n *Namespace) OnServerSideEmit(event string, fn func(*ServerEvent)) {
	if fn == nil {
		panic("realtime: OnServerSideEmit: nil handler")
	}
	h := &n.serverOn
	h.mu.Lock()
	if h.on == nil {
		h.on = make(map[string][]func(*ServerEvent))
	}
	h.on[event] = append(h.on[event], fn)
	h.mu.Unlock()
}

// ServerSideEmit sends an event to the other servers of the cluster, to
// this namespace's handlers added with [Namespace.OnServerSideEmit] (or
// Node's io.on). It does not reach this server, and with the in-memory
// adapter it reaches nobody. Arguments are encoded with encoding/json (a
// []byte as base64, as the Node adapter's JSON carries a Buffer as an
// object): server-side events carry no binary attachments.
func (n *Namespace) ServerSideEmit(ctx context.Context, event string, args ...any) error {
	data, err := ServerSideData(event, args)
	if err != nil {
		return err
	}
	_, err = n.adapter.ServerSideEmit(ctx, data, false)
	return err
}

// ServerSideEmitWithAck sends an event as [Namespace.ServerSideEmit] does
// and waits for every other server's answer, or for ctx to end. It returns
// the answers, one per server that answered, and an error when some are
// missing. Give ctx a deadline; the adapter bounds the wait too.
func (n *Namespace) ServerSideEmitWithAck(ctx context.Context, event string, args ...any) ([]json.RawMessage, error) {
	data, err := ServerSideData(event, args)
	if err != nil {
		return nil, err
	}
	return n.adapter.ServerSideEmit(ctx, data, true)
}

// ServerSideData encodes a server-side event as it crosses a cluster: the
// event's name, then its arguments, as JSON. It refuses reserved names
// ([ErrReservedEvent]) and arguments encoding/json cannot encode
// ([ErrInvalidArgument]). For emitters and cluster adapters.
func ServerSideData(event string, args []any) ([]json.RawMessage, error) {
	if event == "" || sio.Reserved(event) || serverReserved[event] {
		return nil, fmt.Errorf("%w: server-side event %q", ErrReservedEvent, event)
	}
	data := make([]json.RawMessage, 0, 1+len(args))
	name, _ := json.Marshal(event)
	data = append(data, name)
	for _, a := range args {
		raw, err := json.Marshal(a)
		if err != nil {
			return nil, fmt.Errorf("%w: server-side event %q: %v", ErrInvalidArgument, event, err)
		}
		data = append(data, raw)
	}
	return data, nil
}

// serverReserved are the names Node's namespaces emit on their own and so
// never deliver as server-side events.
var serverReserved = map[string]bool{"connect": true, "connection": true, "new_namespace": true}

// ReceiveServerSideEmit runs the handlers of a server-side event another
// server sent: data is the event's name then its arguments, as JSON. ack,
// when not nil, sends the answer back; it is called at most once. It is
// for cluster adapters; it does not block, and refuses (returning an error
// wrapping [ErrInvalidArgument]) data that is not an event.
func (n *Namespace) ReceiveServerSideEmit(data []json.RawMessage, ack func(json.RawMessage)) error {
	var name string
	if len(data) == 0 || json.Unmarshal(data[0], &name) != nil || name == "" {
		return fmt.Errorf("%w: a server-side event without a name", ErrInvalidArgument)
	}
	if serverReserved[name] {
		return fmt.Errorf("%w: server-side event %q", ErrReservedEvent, name)
	}
	h := &n.serverOn
	h.mu.RLock()
	fns := h.on[name]
	h.mu.RUnlock()
	if len(fns) == 0 {
		return nil // like Node, an event nobody listens to is dropped; the sender's wait for an answer times out
	}
	e := &ServerEvent{Name: name, Args: Args{sio.NewArgs(data[1:], nil)}, ack: ack}
	log := func() *slog.Logger { return n.srv.cfg.logger.With("nsp", n.name) }
	go func() {
		for _, fn := range fns {
			call(log, "server-side "+name, func() { fn(e) })
		}
	}()
	return nil
}
