package realtime

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vicinity-go/vicinity/internal/id"
	"github.com/vicinity-go/vicinity/internal/sio"
)

// Defaults of [StreamOptions].
const (
	DefaultStreamHeartbeat  = 15 * time.Second
	DefaultStreamBuffer     = 256
	DefaultStreamMaxClients = 1000
)

// EventStreamReset is the event a stream sends a client whose
// Last-Event-ID it cannot resume from (unknown, too old, or recovery is
// off): the client missed events it will not get, and the stream goes on
// live. Its data is a JSON string saying why.
const EventStreamReset = "stream:reset"

// streamRetry is the reconnection delay a stream suggests to its clients
// (the SSE "retry" field).
const streamRetry = 2 * time.Second

// maxLastEventID bounds the Last-Event-ID a client may send; a longer one
// is unknown.
const maxLastEventID = 256

// StreamOptions configure an [EventStream]. The zero value streams every
// event with the defaults.
type StreamOptions struct {
	// Events, if not empty, are the only events streamed (with those of
	// State); by default every event is.
	Events []string
	// State names events that carry a state rather than news, such as a
	// count: the stream keeps the last broadcast of each, and every new
	// request gets them first, without an id, in the order they were
	// broadcast (a page reloaded with its last event id has lost its
	// state too); a resumed one then gets what it missed, but for the
	// older values of them (their ids only), so that it ends with the
	// newest, even when that was sent without an id (volatile, or
	// [BroadcastOperator.EmitLatest]).
	State []string
	// Heartbeat is how often the stream writes a comment line (": ping"),
	// so that proxies and the client see it alive. Zero means
	// DefaultStreamHeartbeat (15s).
	Heartbeat time.Duration
	// Buffer is the number of events queued for one client: a client that
	// falls further behind is disconnected (volatile events are dropped
	// for it instead), and resumes with its Last-Event-ID. It also bounds
	// the events kept for resuming. Zero means DefaultStreamBuffer (256).
	Buffer int
	// MaxClients bounds the clients streaming at once; one more gets HTTP
	// 503. Zero means DefaultStreamMaxClients (1000).
	MaxClients int
}

// EventStream is an [http.Handler] that streams what a namespace
// broadcasts to some rooms, on this server, to Server-Sent Events clients
// (a browser's EventSource): a one-way, read-only view of a room that
// needs no Socket.IO client. Make one with [Namespace.EventStream], once,
// and mount it at a path of your choice.
//
// A client receives what a socket in the rooms would receive from
// broadcasts ([BroadcastOperator.Emit], [Namespace.Emit], including those
// of other servers that a cluster adapter delivers here, which it is told
// of as a [RoomFollower]): one SSE event
// per broadcast, in order, with
//
//	event: <the event name>
//	data: <the single argument as JSON, or the JSON array of the arguments when there are none or several>
//	id: <the broadcast's recovery offset, with WithRecovery>
//
// Each broadcast is encoded once, and the bytes are shared by every
// client and every EventStream. Not streamed: broadcasts with binary
// attachments (EventSource carries text only; send a URL or base64 text
// instead), broadcasts with [Socket.Near] (a stream has no location),
// those asking for acknowledgements, events whose name holds a line break,
// and events left out by [StreamOptions.Events]. Volatile events and those
// of [BroadcastOperator.EmitLatest] are dropped for a client that is
// behind.
//
// # Resuming
//
// With [WithRecovery], events carry ids and the stream keeps those of the
// recovery window (at most [StreamOptions.Buffer] of them). A new client
// gets its position at once, as an id without an event: the newest
// event's id, or, before the stream's first event, an id of the stream's
// start (so that a client that drops before any event resumes from there
// too, rather than coming back as new and missing what was sent while it
// was away). A client that reconnects with the Last-Event-ID header (EventSource sends it by
// itself), or the lastEventId query parameter, gets the events it missed,
// then the live ones, with neither gap nor duplicate. When its id is not
// kept (too old, unknown, from another server that saw other events, or
// more missed than half the buffer), it gets the State events,
// [EventStreamReset], then the live ones. Without recovery, events have no
// id and every reconnection starts afresh.
//
// # Limits and lifetime
//
// Only GET is served (and OPTIONS, for a CORS preflight); other methods get
// 405. A browser's request follows the server's origin policy (see
// [WithTransportOptions] and package transport, Origin policy): an origin
// the Socket.IO endpoint refuses gets 403. Past [StreamOptions.MaxClients]
// clients, or once the server or the EventStream is closed, 503. Each
// write has the transport's write timeout. A stream ends when its client
// goes, when it falls behind, and on [Server.Shutdown] or [Server.Close]
// (which end every EventStream; Shutdown waits for their handlers, after
// writing what is queued) or [EventStream.Close]. A client costs the
// handler's goroutine while it streams and its queue; nothing once it has
// gone.
type EventStream struct {
	nsp       *Namespace
	rooms     map[string]struct{}
	events    map[string]struct{} // nil: every event
	state     map[string]struct{}
	heartbeat time.Duration
	buffer    int
	max       int
	window    time.Duration // recovery window; 0: events have no id

	mu      sync.Mutex
	clients map[*streamClient]struct{}
	kept    []*sseFrame // recent events with an id, oldest first
	head    string      // id of the newest event streamed, kept or not; origin before the first
	origin  string      // the id of the stream's start, which nothing precedes
	trimmed bool        // kept has lost events: resuming from origin is no longer possible
	last    []*sseFrame // the last of each State event, oldest first
	closed  bool
	done    chan struct{}
	release sync.Once // of the namespace, by Close
}

// sseFrame is one encoded SSE event, shared by every client.
type sseFrame struct {
	name string
	id   string
	b    []byte // the whole event, id included
	body int    // length of b without the id line and the final blank line
	at   time.Time
}

// noID returns the frame without its id line.
func (f *sseFrame) noID() []byte { return append(f.b[:f.body:f.body], '\n') }

// EventStream returns an [EventStream] of the broadcasts that reach any of
// rooms of n on this server. It stays registered with the namespace until
// [EventStream.Close] or the server closes: make one per set of rooms, not
// one per request. It panics if rooms is empty, if n is the parent of
// dynamic namespaces, or if a number in opts is negative.
//
// On a dynamic child namespace, the stream keeps the namespace (its
// adapter, and in a cluster its subscriptions) until it is closed, even
// when no socket is left in it; then the namespace goes once it has no
// socket either. A child already dropped (its last socket gone) is made
// again, as a client connecting to it would: the stream follows the
// namespace of that name that the server holds.
func (n *Namespace) EventStream(rooms []string, opts StreamOptions) *EventStream {
	if len(rooms) == 0 {
		panic("realtime: EventStream: no rooms")
	}
	if n.match != nil {
		panic("realtime: EventStream: on the parent of dynamic namespaces")
	}
	if opts.Heartbeat < 0 || opts.Buffer < 0 || opts.MaxClients < 0 {
		panic("realtime: EventStream: negative Heartbeat, Buffer or MaxClients")
	}
	n = n.keep()
	es := &EventStream{
		nsp:       n,
		rooms:     make(map[string]struct{}, len(rooms)),
		state:     make(map[string]struct{}, len(opts.State)),
		heartbeat: cmp.Or(opts.Heartbeat, DefaultStreamHeartbeat),
		buffer:    cmp.Or(opts.Buffer, DefaultStreamBuffer),
		max:       cmp.Or(opts.MaxClients, DefaultStreamMaxClients),
		window:    n.srv.cfg.recovery,
		clients:   make(map[*streamClient]struct{}),
		done:      make(chan struct{}),
		origin:    id.New(),
	}
	es.head = es.origin
	for _, r := range rooms {
		es.rooms[r] = struct{}{}
	}
	followed := slices.Sorted(maps.Keys(es.rooms))
	for _, e := range opts.State {
		es.state[e] = struct{}{}
	}
	if len(opts.Events) > 0 {
		es.events = make(map[string]struct{}, len(opts.Events)+len(opts.State))
		for _, e := range slices.Concat(opts.Events, opts.State) {
			es.events[e] = struct{}{}
		}
	}
	if n.srv.streams.add(es) {
		if f, ok := n.adapter.(RoomFollower); ok {
			f.FollowRooms(followed) // once HasRoom reports them
		}
	}
	return es
}

// Close ends the stream's clients and unregisters it; later requests get
// 503. It may be called more than once.
func (es *EventStream) Close() {
	es.release.Do(func() {
		if es.nsp.srv.streams.remove(es) {
			if f, ok := es.nsp.adapter.(RoomFollower); ok {
				f.UnfollowRooms(slices.Sorted(maps.Keys(es.rooms))) // once HasRoom no longer reports them
			}
		}
		es.nsp.unkeep()
	})
	es.close()
}

// keep returns the namespace of n's name that the server holds, n itself
// unless n is a dynamic child dropped meanwhile (made again then), kept
// for one more EventStream if it is a dynamic child.
func (n *Namespace) keep() *Namespace {
	if n.parent == nil {
		return n
	}
	srv := n.srv
	srv.mu.Lock()
	cur := srv.nsps[n.name]
	if cur == nil && srv.closed.Load() {
		cur = n // closed, the server makes no namespace: the stream is closed at once
	}
	if cur != nil {
		cur.mu.Lock()
		cur.streams++ // under srv.mu: a namespace it holds is not dropped
		cur.mu.Unlock()
	}
	srv.mu.Unlock()
	if cur != nil {
		return cur
	}
	return srv.child(n.parent, n.name, 1)
}

// unkeep undoes keep, when an EventStream of n closes: n, a dynamic child
// with no socket left, goes (unless the server is closed, which closes
// its namespaces).
func (n *Namespace) unkeep() {
	if n.parent == nil {
		return
	}
	n.mu.Lock()
	n.streams--
	n.mu.Unlock()
	if !n.srv.closed.Load() {
		n.dropIfEmpty()
	}
}

func (es *EventStream) close() {
	es.mu.Lock()
	defer es.mu.Unlock()
	if !es.closed {
		es.closed = true
		close(es.done)
		es.kept, es.last = nil, nil
	}
}

// Len returns the number of clients streaming.
func (es *EventStream) Len() int {
	es.mu.Lock()
	defer es.mu.Unlock()
	return len(es.clients)
}

// reaches reports whether a broadcast with opts reaches the stream's rooms.
func (es *EventStream) reaches(opts BroadcastOptions) bool { return reaches(opts, es.rooms) }

// publish queues f for every client, and keeps it for resuming.
func (es *EventStream) publish(f *sseFrame, volatile bool) {
	es.mu.Lock()
	defer es.mu.Unlock()
	if es.closed {
		return
	}
	if es.events != nil {
		if _, ok := es.events[f.name]; !ok {
			return
		}
	}
	if f.id != "" {
		es.prune(f.at)
		if len(es.kept) >= es.buffer {
			es.drop(len(es.kept) - es.buffer + 1)
		}
		es.kept = append(es.kept, f)
		es.head = f.id
	}
	if _, ok := es.state[f.name]; ok {
		es.last = slices.DeleteFunc(es.last, func(g *sseFrame) bool { return g.name == f.name })
		es.last = append(es.last, f)
	}
	for c := range es.clients {
		c.push(f.b, volatile, es.buffer)
	}
}

// prune drops the kept events older than the recovery window. The caller
// holds mu.
func (es *EventStream) prune(now time.Time) {
	n := 0
	for n < len(es.kept) && now.Sub(es.kept[n].at) > es.window {
		n++
	}
	es.drop(n)
}

func (es *EventStream) drop(n int) {
	if n > 0 {
		clear(es.kept[:n])
		es.kept = es.kept[n:]
		es.trimmed = true
	}
}

// since returns the kept events after the one with id from, and whether
// the stream can resume from it. The caller holds mu.
func (es *EventStream) since(from string) ([]*sseFrame, bool) {
	if es.window == 0 || from == "" {
		return nil, false
	}
	if from == es.head {
		return nil, true // nothing new since, even if it is no longer kept
	}
	es.prune(time.Now())
	if from == es.origin && !es.trimmed { // a client that got no event yet
		return es.kept, len(es.kept) <= es.buffer/2
	}
	for i, f := range es.kept {
		if f.id == from {
			missed := es.kept[i+1:]
			return missed, len(missed) <= es.buffer/2
		}
	}
	return nil, false
}

// ServeHTTP implements [http.Handler]: it streams events until the client
// goes, falls behind, or the stream or the server closes.
func (es *EventStream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	srv := es.nsp.srv
	if !srv.eng.CheckOrigin(w, r) {
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	switch r.Method {
	case http.MethodGet:
	case http.MethodOptions:
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		w.Header().Set("Allow", "GET, OPTIONS")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	lastID := r.Header.Get("Last-Event-ID")
	if lastID == "" {
		lastID = r.URL.Query().Get("lastEventId")
	}
	c := &streamClient{wake: make(chan struct{}, 1)}
	es.mu.Lock()
	if es.closed || len(es.clients) >= es.max {
		closed := es.closed
		es.mu.Unlock()
		if !closed {
			srv.cfg.logger.Warn("event stream full", "nsp", es.nsp.name, "addr", r.RemoteAddr)
		}
		w.Header().Set("Retry-After", "5")
		http.Error(w, "event stream unavailable", http.StatusServiceUnavailable)
		return
	}
	srv.streams.active.add()
	defer srv.streams.active.done()
	c.queue = append(c.queue, []byte(": vicinity event stream\nretry: "+strconv.FormatInt(streamRetry.Milliseconds(), 10)+"\n\n"))
	var (
		missed  []*sseFrame
		resumed bool
	)
	if len(lastID) <= maxLastEventID {
		missed, resumed = es.since(lastID)
	}
	for _, f := range es.last { // the newest state
		c.queue = append(c.queue, f.noID())
	}
	if resumed {
		for _, f := range missed {
			if _, ok := es.state[f.name]; ok && !slices.Contains(es.last, f) {
				// An older state than the client has now: its id only.
				c.queue = append(c.queue, []byte("id: "+f.id+"\n\n"))
				continue
			}
			c.queue = append(c.queue, f.b)
		}
	} else {
		if lastID != "" {
			why := "this event id is unknown or too old: events were missed"
			if es.window == 0 {
				why = "events cannot be resumed: recovery is off"
			}
			data, _ := json.Marshal(why)
			c.queue = append(c.queue, []byte("event: "+EventStreamReset+"\ndata: "+string(data)+"\n\n"))
		}
		if es.window > 0 {
			// The client's last event id: what it resumes from.
			c.queue = append(c.queue, []byte("id: "+es.head+"\n\n"))
		}
	}
	es.clients[c] = struct{}{}
	es.mu.Unlock()
	defer func() {
		es.mu.Lock()
		delete(es.clients, c)
		es.mu.Unlock()
	}()
	es.stream(w, r, c)
}

// stream writes c's queue as it fills, with heartbeats, until the client
// goes, falls behind, or the stream closes.
func (es *EventStream) stream(w http.ResponseWriter, r *http.Request, c *streamClient) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	timeout := es.nsp.srv.eng.WriteTimeout()
	write := func(frames [][]byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(timeout)) // not every writer has deadlines
		for _, f := range frames {
			if _, err := w.Write(f); err != nil {
				return false
			}
		}
		return rc.Flush() == nil
	}
	ping := time.NewTicker(es.heartbeat)
	defer ping.Stop()
	for {
		frames, slow := c.take()
		if len(frames) > 0 && !write(frames) {
			return
		}
		if slow {
			es.nsp.srv.cfg.logger.Info("event stream client too slow: disconnected", "nsp", es.nsp.name, "addr", r.RemoteAddr)
			return
		}
		select {
		case <-c.wake:
		case <-ping.C:
			if !write([][]byte{pingFrame}) {
				return
			}
		case <-r.Context().Done():
			return
		case <-es.done:
			frames, _ := c.take()
			write(frames)
			return
		}
	}
}

var pingFrame = []byte(": ping\n\n")

// streamClient is the queue of one client of an EventStream.
type streamClient struct {
	mu    sync.Mutex
	queue [][]byte
	slow  bool          // fell behind: write what is queued, then end
	wake  chan struct{} // capacity 1
}

// push queues frame without blocking; a client whose queue holds max
// frames loses a volatile one, and is marked slow for another.
func (c *streamClient) push(frame []byte, volatile bool, max int) {
	c.mu.Lock()
	switch {
	case c.slow:
	case len(c.queue) < max:
		c.queue = append(c.queue, frame)
	case !volatile:
		c.slow = true
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default: // a wake-up is pending
	}
}

// take returns what is queued, and whether the client fell behind.
func (c *streamClient) take() ([][]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.queue
	c.queue = nil
	return q, c.slow
}

// streamHub holds a server's EventStreams. Its zero value is ready.
type streamHub struct {
	n       atomic.Int32 // len(streams): the broadcast's fast path
	encoded atomic.Uint64
	mu      sync.RWMutex
	streams []*EventStream // replaced, never changed in place
	closed  bool
	active  activity // ServeHTTP calls streaming
}

// add registers es, and reports whether it did: once the hub is closed, it
// closes es instead.
func (h *streamHub) add(es *EventStream) bool {
	h.mu.Lock()
	closed := h.closed
	if !closed {
		h.streams = append(slices.Clip(h.streams), es)
		h.n.Store(int32(len(h.streams)))
	}
	h.mu.Unlock()
	if closed {
		es.close()
	}
	return !closed
}

// remove unregisters es, and reports whether it was registered.
func (h *streamHub) remove(es *EventStream) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !slices.Contains(h.streams, es) {
		return false
	}
	h.streams = slices.DeleteFunc(slices.Clone(h.streams), func(x *EventStream) bool { return x == es })
	h.n.Store(int32(len(h.streams)))
	return true
}

func (h *streamHub) snapshot() []*EventStream {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.streams
}

// close ends every stream; wait waits for their handlers.
func (h *streamHub) close() {
	h.mu.Lock()
	streams := h.streams
	h.streams, h.closed = nil, true
	h.n.Store(0)
	h.mu.Unlock()
	for _, es := range streams {
		es.close()
	}
}

func (h *streamHub) wait(ctx context.Context) error { return h.active.wait(ctx) }

// follows reports whether an EventStream of n follows room, so that a
// cluster adapter delivers the room's broadcasts to this server.
func (h *streamHub) follows(n *Namespace, room string) bool {
	if h.n.Load() == 0 {
		return false
	}
	for _, es := range h.snapshot() {
		if _, ok := es.rooms[room]; ok && es.nsp == n {
			return true
		}
	}
	return false
}

// deliver hands a broadcast of n to the EventStreams it reaches, encoding
// it once for all of them. The adapter calls it for each broadcast that
// reaches this server's sockets.
func (h *streamHub) deliver(n *Namespace, p *Packet, opts BroadcastOptions) {
	if h.n.Load() == 0 {
		return
	}
	var f *sseFrame
	for _, es := range h.snapshot() {
		if es.nsp != n || !es.reaches(opts) {
			continue
		}
		if f == nil {
			if f = n.sseFrame(p); f == nil {
				return // not streamable
			}
			h.encoded.Add(1)
		}
		es.publish(f, opts.Volatile || opts.Latest != "")
	}
}

// sseFrame encodes broadcast p as an SSE event; nil if it cannot be (see
// EventStream).
func (n *Namespace) sseFrame(p *Packet) *sseFrame {
	if len(p.atts) > 0 {
		return nil
	}
	pk, err := sio.Decode(p.text, sio.Limits{})
	if err != nil || pk.Type != sio.Event || pk.HasID {
		return nil
	}
	name, args, err := sio.EventName(pk.Data)
	if err != nil || strings.ContainsAny(name, "\r\n") {
		return nil
	}
	if p.Offset != "" && len(args) > 0 {
		args = args[:len(args)-1] // the offset, for Socket.IO clients
	}
	var data []byte
	if len(args) == 1 {
		data = args[0]
	} else {
		data = append(data, '[')
		for i, a := range args {
			if i > 0 {
				data = append(data, ',')
			}
			data = append(data, a...)
		}
		data = append(data, ']')
	}
	if bytes.ContainsAny(data, "\r\n") { // whitespace between tokens: SSE data is one line here
		var buf bytes.Buffer
		if json.Compact(&buf, data) != nil {
			return nil
		}
		data = buf.Bytes()
	}
	f := &sseFrame{name: name, at: time.Now()}
	b := make([]byte, 0, len(name)+len(data)+len(p.Offset)+24)
	b = append(append(append(b, "event: "...), name...), '\n')
	b = append(append(append(b, "data: "...), data...), '\n')
	f.body = len(b)
	if n.srv.cfg.recovery > 0 && p.Offset != "" && !strings.ContainsAny(p.Offset, "\r\n\x00") {
		f.id = p.Offset
		b = append(append(append(b, "id: "...), p.Offset...), '\n')
	}
	f.b = append(b, '\n')
	return f
}
