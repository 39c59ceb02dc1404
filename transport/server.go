package transport

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vicinity-go/vicinity/internal/id"
)

// ErrServerClosed is returned by [Server.Shutdown] and [Server.Close] when
// called again, and is the message new handshakes get once the server is
// shutting down.
var ErrServerClosed = errors.New("transport: server closed")

// Transport carries sessions over one kind of HTTP exchange. The websocket
// and polling packages implement it.
type Transport interface {
	// Name is the transport's value of the "transport" query parameter.
	Name() string
	// Upgradable reports whether a session opened on another transport may
	// upgrade to this one.
	Upgradable() bool
	// Serve handles one HTTP request for c. The request has passed the
	// origin policy and the protocol checks.
	Serve(w http.ResponseWriter, r *http.Request, c *Conn, mode Mode)
}

// Acceptor is implemented by a [Transport] that can tell from a request's
// headers alone that it cannot serve it (the WebSocket transport, a request
// that is no WebSocket upgrade). The server asks before creating a session
// for a handshake and before an upgrade, and refuses the request with HTTP
// 400 and [CodeBadRequest] when Accept returns false, as the Node.js server
// does.
type Acceptor interface {
	Accept(r *http.Request) bool
}

// accepts reports whether t can serve r, as far as its headers tell.
func accepts(t Transport, r *http.Request) bool {
	a, ok := t.(Acceptor)
	return !ok || a.Accept(r)
}

// Mode says why a request reaches [Transport.Serve].
type Mode int

const (
	// ModeOpen: the handshake that created c; the transport sends the open
	// packet first.
	ModeOpen Mode = iota
	// ModeRequest: a later request of a session on this transport.
	ModeRequest
	// ModeUpgrade: a request to move c, now on another transport, to this
	// one (the "2probe", "3probe", "5" exchange).
	ModeUpgrade
	// ModeRefuse: a request of this (upgradable) transport that may not
	// join c, which is on this transport already or is being upgraded to
	// it. As Node does, the WebSocket transport completes the handshake and
	// closes the new socket at once; c is left alone.
	ModeRefuse
)

// Handler is called for each new session before any of its packets is
// received; it returns the Receiver for the session's messages. It may call
// c.Send or c.Close. A nil Receiver refuses the session: the client gets
// HTTP 403 with error code 4.
type Handler func(c *Conn) Receiver

// Server is an Engine.IO v4 server: an [http.Handler] for the Engine.IO
// endpoint (the path is the caller's business). It is safe for concurrent
// use.
type Server struct {
	cfg     config
	handler Handler
	byName  map[string]Transport

	mu     sync.Mutex
	conns  map[string]*Conn
	active int // requests being served and OnClose calls running
	// requests being served per session: one may outlive the session's
	// place in conns (a WebSocket waiting for the answer to its close
	// frame), and Close must still abort it
	serving map[*Conn]int
	closing bool

	fullLog   refusalLog // handshakes over WithMaxSessions
	originLog refusalLog // requests from a refused origin
	slowLog   refusalLog // sessions closed as slow clients
}

// NewServer returns a server that hands each new session to h. It panics if
// h is nil or an option is invalid.
func NewServer(h Handler, opts ...Option) *Server {
	if h == nil {
		panic("transport: NewServer: nil handler")
	}
	s := &Server{
		cfg:     newConfig(opts),
		handler: h,
		byName:  make(map[string]Transport),
		conns:   make(map[string]*Conn),
		serving: make(map[*Conn]int),
	}
	for _, t := range s.cfg.transports {
		s.byName[t.Name()] = t
	}
	return s
}

// WriteTimeout is the deadline for each write, for transports.
func (s *Server) WriteTimeout() time.Duration { return s.cfg.writeTimeout }

// UpgradeTimeout is how long an upgrade may take, for transports.
func (s *Server) UpgradeTimeout() time.Duration { return s.cfg.upgradeTimeout }

// MaxPayload is the largest message a client may send, in bytes.
func (s *Server) MaxPayload() int { return s.cfg.maxPayload }

// Server returns the server c belongs to.
func (c *Conn) Server() *Server { return c.srv }

// Len returns the number of open sessions.
func (s *Server) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// ServeHTTP implements [http.Handler] for the Engine.IO endpoint.
//
// Requests are checked in the order of the Node.js server: the origin
// policy (vicinity's own, see [WithAllowedOrigins]), the transport, the sid
// (unknown, or of a session on another transport or protocol), then, for a
// handshake, the method, the WebSocket handshake, [WithAllowRequest] and the
// protocol version. A refused WebSocket handshake gets what Node's
// abortUpgrade writes: HTTP 400 with the error's message as a text/html
// body; any other refused request gets the JSON body of [WriteError].
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.cors(w, r) {
		WriteError(w, CodeForbidden, "")
		return
	}
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	fail := WriteError
	if isUpgrade(r) {
		fail = writeUpgradeError
	}
	q := r.URL.Query()
	t, ok := s.byName[q.Get("transport")]
	if !ok {
		fail(w, CodeUnknownTransport, "")
		return
	}
	sid := q.Get("sid")
	if sid == "" {
		s.handshake(w, r, t, fail)
		return
	}
	s.mu.Lock()
	c, ok := s.conns[sid]
	if ok {
		s.enter(c)
	}
	s.mu.Unlock()
	if !ok {
		// As with Node, a closed session is forgotten at once: a poll that
		// was on its way gets this too.
		fail(w, CodeUnknownSID, "")
		return
	}
	defer s.leave(c)
	if protocolOf(q) != c.protocol {
		fail(w, CodeBadRequest, "")
		return
	}

	c.mu.Lock()
	current, upgrading := c.transport, c.upgrading
	c.mu.Unlock()
	switch {
	case !t.Upgradable() && t == current:
		t.Serve(w, r, c, ModeRequest)
	case !t.Upgradable():
		// A poll after the upgrade: the session has left polling. The
		// polling transport checks again when it claims its slot, for a
		// request that races the upgrade.
		fail(w, CodeBadRequest, "")
	case !accepts(t, r):
		fail(w, CodeBadRequest, "")
	case t == current || current.Upgradable() || upgrading:
		// Node accepts the WebSocket of a session already upgraded (or
		// opened on WebSocket) or being upgraded, then closes it.
		t.Serve(w, r, c, ModeRefuse)
	default:
		t.Serve(w, r, c, ModeUpgrade)
	}
}

// isUpgrade reports whether r asks for a WebSocket (Connection: upgrade,
// Upgrade: websocket): Node's server handles it as an HTTP upgrade.
func isUpgrade(r *http.Request) bool {
	return headerHasToken(r.Header, "Connection", "upgrade") && headerHasToken(r.Header, "Upgrade", "websocket")
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), token) {
				return true
			}
		}
	}
	return false
}

// writeUpgradeError refuses a WebSocket handshake as Node's abortUpgrade
// does: HTTP 400 whatever the code, the message as a text/html body, and
// the connection closed.
func writeUpgradeError(w http.ResponseWriter, code ErrorCode, message string) {
	if message == "" && int(code) < len(codeMessages) {
		message = codeMessages[code]
	}
	h := w.Header()
	h.Set("Connection", "close")
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", strconv.Itoa(len(message)))
	w.WriteHeader(http.StatusBadRequest)
	_, _ = io.WriteString(w, message)
}

// protocolOf returns the Engine.IO protocol revision a request asks for:
// 4 for EIO=4, otherwise 3, as the Node.js server decides.
func protocolOf(q url.Values) int {
	if q.Get("EIO") == "4" {
		return 4
	}
	return 3
}

// enter counts one more request being served for c, or, with c nil, an
// OnClose being delivered; leave counts it off. Shutdown waits until none is
// left. The caller of enter holds mu.
func (s *Server) enter(c *Conn) {
	s.active++
	if c != nil {
		s.serving[c]++
	}
}

func (s *Server) leave(c *Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active--
	if c != nil {
		if s.serving[c]--; s.serving[c] <= 0 {
			delete(s.serving, c)
		}
	}
}

func (s *Server) handshake(w http.ResponseWriter, r *http.Request, t Transport, fail func(http.ResponseWriter, ErrorCode, string)) {
	if r.Method != http.MethodGet {
		fail(w, CodeBadHandshakeMethod, "")
		return
	}
	if !accepts(t, r) {
		fail(w, CodeBadRequest, "")
		return
	}
	if s.cfg.allowRequest != nil {
		if err := s.cfg.allowRequest(r); err != nil {
			fail(w, CodeForbidden, err.Error())
			return
		}
	}
	protocol := protocolOf(r.URL.Query())
	if protocol != 4 && !s.cfg.allowEIO3 {
		fail(w, CodeUnsupportedProtocolVersion, "")
		return
	}
	c := newConn(s, t, r, id.New())
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		writeJSONError(w, http.StatusServiceUnavailable, CodeBadRequest, ErrServerClosed.Error())
		return
	}
	if len(s.conns) >= s.cfg.maxSessions {
		s.mu.Unlock()
		s.fullLog.log(s.cfg.logger, "too many sessions, handshakes refused", "max", s.cfg.maxSessions, "addr", r.RemoteAddr)
		writeJSONError(w, http.StatusServiceUnavailable, CodeBadRequest, msgServerFull)
		return
	}
	s.conns[c.id] = c
	s.enter(c)
	s.mu.Unlock()
	defer s.leave(c)

	// c is reachable (Shutdown may close it) before it has a Receiver:
	// setReceiver delivers an OnClose that happened meanwhile.
	recv := s.handler(c)
	if recv == nil {
		c.setReceiver(nopReceiver{})
		c.close(ReasonForcedClose, false)
		WriteError(w, CodeForbidden, "")
		return
	}
	c.setReceiver(recv)
	c.start()
	s.cfg.logger.Info("open", "sid", c.id, "transport", t.Name(), "addr", r.RemoteAddr)
	t.Serve(w, r, c, ModeOpen)
}

// msgServerFull is the message of a handshake refused by [WithMaxSessions].
const msgServerFull = "Server full"

// nopReceiver stands in for the Receiver of a session its Handler refused.
type nopReceiver struct{}

func (nopReceiver) OnMessage([]byte, bool) {}
func (nopReceiver) OnClose(string)         {}

func (s *Server) remove(c *Conn) {
	s.mu.Lock()
	if s.conns[c.id] == c {
		delete(s.conns, c.id)
	}
	s.mu.Unlock()
}

func (s *Server) openData(sid string, t Transport) []byte {
	upgrades := []string{}
	if !t.Upgradable() {
		for _, u := range s.cfg.transports {
			if u.Upgradable() && u != t {
				upgrades = append(upgrades, u.Name())
			}
		}
	}
	b, _ := json.Marshal(struct {
		SID          string   `json:"sid"`
		Upgrades     []string `json:"upgrades"`
		PingInterval int64    `json:"pingInterval"`
		PingTimeout  int64    `json:"pingTimeout"`
		MaxPayload   int      `json:"maxPayload"`
	}{sid, upgrades, s.cfg.pingInterval.Milliseconds(), s.cfg.pingTimeout.Milliseconds(), s.cfg.maxPayload})
	return b
}

// cors applies the origin policy to r and sets the CORS response headers.
// It reports whether the request may proceed. An origin allowed by
// WithCheckOrigin, by name in WithAllowedOrigins, or being the server's own
// is reflected, with credentials if WithCredentials; one allowed only by
// "*" gets a literal "*" and never credentials, as the cors npm package
// answers: otherwise any website could make credentialed requests.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	named, wildcard := s.originAllowed(r, origin)
	if !named && !wildcard {
		s.originLog.log(s.cfg.logger, "origin refused", "origin", origin, "host", r.Host, "addr", r.RemoteAddr)
		return false
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	if named {
		h.Set("Access-Control-Allow-Origin", origin)
		if s.cfg.credentials {
			h.Set("Access-Control-Allow-Credentials", "true")
		}
	} else {
		h.Set("Access-Control-Allow-Origin", "*")
	}
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			h.Set("Access-Control-Allow-Headers", req)
		}
		h.Set("Access-Control-Max-Age", "86400")
	}
	return true
}

// originAllowed reports whether origin is allowed by name (WithCheckOrigin,
// an entry of WithAllowedOrigins, the server's own origin), or else by a "*"
// entry of WithAllowedOrigins. See the package documentation, Origin
// policy.
func (s *Server) originAllowed(r *http.Request, origin string) (named, wildcard bool) {
	if s.cfg.checkOrigin != nil {
		return s.cfg.checkOrigin(r), false
	}
	o, ok := parseOrigin(origin)
	for _, a := range s.cfg.origins {
		if ok && o == a {
			return true, false
		}
	}
	return ok && sameOrigin(r, o), s.cfg.anyOrigin
}

// origin is a web origin: its scheme and host in lower case, and its port,
// the scheme's default if the origin names none.
type origin struct{ scheme, host, port string }

// parseOrigin parses an Origin header or an entry of WithAllowedOrigins:
// http or https, a host, an optional port, nothing else (a final "/" is
// tolerated). "null", other schemes, paths, queries and user info are not
// origins.
func parseOrigin(s string) (origin, bool) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return origin{}, false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return origin{}, false
	}
	o := origin{scheme: scheme, host: strings.ToLower(u.Hostname()), port: u.Port()}
	if o.port == "" {
		o.port = defaultPort(scheme)
	}
	return o, o.host != ""
}

func defaultPort(scheme string) string {
	if scheme == "https" {
		return "443"
	}
	return "80"
}

// sameOrigin reports whether o is the origin of the server r reached:
// the request's scheme (https over TLS or when a proxy says so with
// X-Forwarded-Proto: https), host and port (from the Host header) are o's,
// and the host is one that DNS rebinding cannot forge: an IP address,
// "localhost" or a name under ".localhost". A page of a rebound name has
// that name in both its Origin and the Host header it sends, so a host
// name taken from the request proves nothing; such a server lists its
// origin with WithAllowedOrigins.
func sameOrigin(r *http.Request, o origin) bool {
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(strings.TrimSpace(strings.Split(r.Header.Get("X-Forwarded-Proto"), ",")[0]), "https") {
		scheme = "https"
	}
	if o.scheme != scheme {
		return false
	}
	u := url.URL{Host: r.Host}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "" {
		port = defaultPort(scheme)
	}
	if host != o.host || port != o.port {
		return false
	}
	return unforgeableHost(host)
}

// unforgeableHost reports whether a page's origin with this host can only
// be that of a server at this host: an IP literal, or a loopback name that
// browsers resolve themselves ("localhost", "*.localhost", RFC 6761).
func unforgeableHost(host string) bool {
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}

// Shutdown closes every session with [ReasonServerShutdown] after writing
// what is queued for it, refuses new handshakes, and waits until the
// sessions are gone, their requests have returned and their Receivers'
// OnClose calls have returned, or until ctx ends: then it closes what
// remains at once and returns ctx.Err(). It does not close listeners; call
// it before [http.Server.Shutdown], which does not wait for hijacked
// WebSocket connections. Called from a Receiver's method or a Handler, it
// waits for ctx: that call is one of those it waits for.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.beginClose() {
		return ErrServerClosed
	}
	for _, c := range s.snapshot() {
		c.close(ReasonServerShutdown, true)
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		idle := len(s.conns) == 0 && s.active == 0
		s.mu.Unlock()
		if idle {
			return nil
		}
		select {
		case <-ctx.Done():
			s.abortAll()
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Close closes every session at once, without writing what is queued, and
// refuses new handshakes. It does not wait: the Receivers' OnClose calls run
// on goroutines of their own and may still be running when it returns.
// Called during or after [Server.Shutdown], it still closes what remains at
// once, and returns [ErrServerClosed].
func (s *Server) Close() error {
	already := s.beginClose()
	s.abortAll()
	if already {
		return ErrServerClosed
	}
	return nil
}

func (s *Server) beginClose() (already bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	already, s.closing = s.closing, true
	return already
}

// abortAll closes every session at once, also those closed gracefully
// earlier that still wait for a writer (see Conn.close).
func (s *Server) abortAll() {
	for _, c := range s.snapshot() {
		c.close(ReasonServerShutdown, false)
	}
}

// snapshot returns the sessions s holds and those it no longer holds but
// still serves a request of.
func (s *Server) snapshot() []*Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Conn, 0, len(s.conns)+len(s.serving))
	for _, c := range s.conns {
		out = append(out, c)
	}
	for c := range s.serving {
		if s.conns[c.id] != c {
			out = append(out, c)
		}
	}
	return out
}

// Hold counts one more request being served for c, for a transport that
// goes on serving c after its Serve has returned (the WebSocket transport
// reads on a goroutine of its own once the connection is hijacked, so that
// the net/http handler's goroutine, its larger stack and buffers, are
// freed): [Server.Shutdown] waits for release, and [Server.Close] aborts c,
// as for a request in progress. It must be called while Serve runs; release
// must be called once.
func (c *Conn) Hold() (release func()) {
	s := c.srv
	s.mu.Lock()
	s.enter(c)
	s.mu.Unlock()
	return func() { s.leave(c) }
}
