package realtime

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vicinity-go/vicinity/transport"
	"github.com/vicinity-go/vicinity/transport/polling"
	"github.com/vicinity-go/vicinity/transport/websocket"
)

// Server is a Socket.IO v5 server, an [http.Handler] to mount at its path
// ("/socket.io/" by default). It is safe for concurrent use.
type Server struct {
	cfg        config
	eng        *transport.Server
	presence   *presenceHub // nil without WithPresence
	loc        *locator     // nil without WithSpatial
	feats      []feature    // presence, then location: see feature
	transports []transport.Transport
	closed     atomic.Bool
	active     activity // inboxes running handlers
	streams    streamHub

	mu      sync.RWMutex
	nsps    map[string]*Namespace
	parents []*Namespace // dynamic namespace matchers, in registration order
}

// New returns a server with the main namespace "/" already defined. It
// panics if an option is invalid.
func New(opts ...Option) *Server {
	s := &Server{cfg: newConfig(opts), nsps: make(map[string]*Namespace)}
	if p := s.cfg.presence; p != nil {
		s.presence = &presenceHub{srv: s, cfg: p, pubs: make(map[string]*publisher)}
		s.presence.stopExpired = p.tracker.OnExpired(s.presence.retrackAll)
		s.feats = append(s.feats, s.presence)
	}
	if sc := s.cfg.spatial; sc != nil && sc.on {
		s.loc = newLocator(s, sc)
		s.feats = append(s.feats, s.loc)
	}
	var ts []transport.Transport
	for _, name := range s.cfg.transports {
		switch name {
		case polling.Name:
			ts = append(ts, polling.New())
		case websocket.Name:
			ts = append(ts, websocket.New())
		}
	}
	s.transports = ts
	engOpts := append([]transport.Option{transport.WithTransports(ts...), transport.WithLogger(s.cfg.logger)}, s.cfg.engine...)
	if obs := s.cfg.observers; obs != nil {
		engOpts = append(engOpts, transport.WithObserver(transportObserver{obs}))
	}
	s.eng = transport.NewServer(s.open, engOpts...)
	s.Of("/")
	return s
}

// ServeHTTP serves the Socket.IO endpoint; other paths get 404.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p := r.URL.Path; p != s.cfg.path && p != strings.TrimSuffix(s.cfg.path, "/") {
		http.NotFound(w, r)
		return
	}
	s.eng.ServeHTTP(w, r)
}

// Of returns the namespace name, creating it if needed. Names start with
// "/"; one without gets it prepended.
func (s *Server) Of(name string) *Namespace {
	if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	s.mu.Lock()
	if n, ok := s.nsps[name]; ok {
		s.mu.Unlock()
		return n
	}
	n := newNamespace(s, name, nil)
	s.nsps[name] = n
	s.mu.Unlock()
	for _, o := range s.cfg.observers {
		o.NamespaceCreated(n)
	}
	return n
}

// OfFunc defines dynamic namespaces: a client connecting to an undefined
// namespace whose name and auth payload match gets a namespace created on
// the fly. The returned parent holds the middleware and connection handlers
// of every namespace it creates, and its broadcasts reach all of them.
func (s *Server) OfFunc(match func(name string, auth json.RawMessage) bool) *Namespace {
	if match == nil {
		panic("realtime: OfFunc: nil match")
	}
	p := newNamespace(s, "", match)
	s.mu.Lock()
	s.parents = append(s.parents, p)
	s.mu.Unlock()
	return p
}

// OfRegexp is [Server.OfFunc] matching names against re.
func (s *Server) OfRegexp(re *regexp.Regexp) *Namespace {
	return s.OfFunc(func(name string, _ json.RawMessage) bool { return re.MatchString(name) })
}

// lookup finds the namespace a client connects to, creating a dynamic one
// if a parent matches; nil if none.
func (s *Server) lookup(name string, auth json.RawMessage) *Namespace {
	s.mu.RLock()
	n := s.nsps[name]
	parents := s.parents
	s.mu.RUnlock()
	if n != nil {
		return n
	}
	for _, p := range parents {
		if p.match(name, auth) {
			return s.child(p, name, 0)
		}
	}
	return nil
}

// child makes the dynamic namespace name, a child of p, unless the server
// holds a namespace of that name already: it returns the one it holds,
// with streams more EventStreams keeping it.
func (s *Server) child(p *Namespace, name string, streams int) *Namespace {
	n := newNamespace(s, name, nil) // the adapter factory runs outside s.mu
	n.parent = p
	n.streams = streams
	s.mu.Lock()
	if existing := s.nsps[name]; existing != nil {
		existing.mu.Lock()
		existing.streams += streams
		existing.mu.Unlock()
		s.mu.Unlock()
		ctx, cancel := adapterContext()
		_ = n.adapter.Close(ctx)
		cancel()
		return existing
	}
	s.nsps[name] = n
	s.mu.Unlock()
	p.mu.Lock()
	p.children = append(p.children, n)
	p.mu.Unlock()
	for _, o := range s.cfg.observers {
		o.NamespaceCreated(n)
	}
	return n
}

// defined returns the namespace name the server holds (defined with Of, or
// a dynamic one in use), or nil.
func (s *Server) defined(name string) *Namespace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.nsps[name]
}

// OnConnection adds a handler for sockets connecting to the main namespace.
func (s *Server) OnConnection(fn func(*Socket)) { s.Of("/").OnConnection(fn) }

// Use adds middleware to the main namespace.
func (s *Server) Use(mw Middleware) { s.Of("/").Use(mw) }

// Emit broadcasts an event to every socket of the main namespace.
func (s *Server) Emit(event string, args ...any) error { return s.Of("/").Emit(event, args...) }

// To selects sockets of the main namespace by room, for a broadcast.
func (s *Server) To(rooms ...string) BroadcastOperator { return s.Of("/").To(rooms...) }

// In is [Server.To].
func (s *Server) In(rooms ...string) BroadcastOperator { return s.Of("/").To(rooms...) }

// Len returns the number of open Engine.IO connections.
func (s *Server) Len() int { return s.eng.Len() }

// Shutdown disconnects every client with reason "server shutting down"
// after writing what is queued for it, refuses new connections, and waits
// until all are gone or ctx ends, then closes the rest at once and returns
// ctx.Err(). Clients will try to reconnect, as they do when a Node.js server
// closes. It returns [ErrServerClosed] when called again. Call it before
// [http.Server.Shutdown], which does not wait for WebSocket connections.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.closed.Swap(true) {
		return ErrServerClosed
	}
	s.streams.close() // each writes what it has queued, then ends
	err := s.eng.Shutdown(ctx)
	if err == nil {
		err = s.active.wait(ctx) // the sockets' last handlers
	}
	if err == nil {
		err = s.streams.wait(ctx)
	}
	s.closeAdapters()
	return err
}

// Close disconnects every client at once, also during a Shutdown (to cut
// it short); it then returns [ErrServerClosed].
func (s *Server) Close() error {
	already := s.closed.Swap(true)
	s.streams.close()
	err := s.eng.Close()
	if already {
		return ErrServerClosed
	}
	s.closeAdapters()
	return err
}

func (s *Server) closeAdapters() {
	for _, f := range s.feats {
		f.close()
	}
	s.mu.RLock()
	nsps := make([]*Namespace, 0, len(s.nsps))
	for _, n := range s.nsps {
		nsps = append(nsps, n)
	}
	s.mu.RUnlock()
	// Outside the lock: a cluster adapter's Close may wait on the network.
	ctx, cancel := adapterContext()
	defer cancel()
	for _, n := range nsps {
		_ = n.adapter.Close(ctx)
	}
}
