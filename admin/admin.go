package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/vicinity-go/vicinity/realtime"
)

// Option configures a [UI].
type Option func(*config)

type config struct {
	namespace     string
	username      string
	passwordHash  []byte
	noAuth        bool
	readOnly      bool
	production    bool
	serverID      string
	statsInterval time.Duration
	maxSessions   int
	sessionTTL    time.Duration
	logger        *slog.Logger
}

// Defaults of the options.
const (
	DefaultNamespace     = "/admin"
	DefaultStatsInterval = 2 * time.Second
	DefaultMaxSessions   = 1000
	DefaultSessionTTL    = 24 * time.Hour
)

// WithAuth lets in the admin UI's users who log in as username with the
// password whose bcrypt hash is passwordHash (from
// golang.org/x/crypto/bcrypt or `htpasswd -bnBC 10 "" password`), as the
// Node.js instrument's basic auth. A successful login gets a session id,
// which the UI sends instead of the password when it reconnects. New
// panics if the hash is not a bcrypt hash.
func WithAuth(username, passwordHash string) Option {
	return func(c *config) { c.username, c.passwordHash = username, []byte(passwordHash) }
}

// WithNoAuth, set to true, lets anyone who reaches the admin namespace in:
// only for a server that is not reachable from untrusted networks. One of
// WithAuth and WithNoAuth(true) is required, as with Node's `auth` option.
func WithNoAuth(allow bool) Option { return func(c *config) { c.noAuth = allow } }

// WithNamespace sets the admin namespace. Default "/admin".
func WithNamespace(name string) Option { return func(c *config) { c.namespace = name } }

// WithReadOnly, set to true, keeps the UI from acting on the server: no
// emit, join, leave or disconnect. Default false, as in Node.
func WithReadOnly(readOnly bool) Option { return func(c *config) { c.readOnly = readOnly } }

// WithProduction, set to true, is Node's mode "production": the UI gets
// the server's statistics and aggregated counts only, not every socket and
// event. Default false ("development").
func WithProduction(production bool) Option { return func(c *config) { c.production = production } }

// WithServerID names this server in the UI. Default the host name.
func WithServerID(id string) Option { return func(c *config) { c.serverID = id } }

// WithStatsInterval sets how often the UI gets the server's statistics.
// Default 2s, as in Node.
func WithStatsInterval(d time.Duration) Option { return func(c *config) { c.statsInterval = d } }

// WithSessions bounds the login sessions kept: at most max, each for ttl
// after its login. Defaults 1000 and 24h. The oldest goes first.
func WithSessions(max int, ttl time.Duration) Option {
	return func(c *config) { c.maxSessions, c.sessionTTL = max, ttl }
}

// WithLogger sets the logger. Default none.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// UI serves the Socket.IO Admin UI for one [realtime.Server]: create it
// with [New], install it with realtime.WithObserver, then call
// [UI.Instrument]. It is safe for concurrent use.
type UI struct {
	realtime.NopObserver
	cfg     config
	started time.Time

	srv   *realtime.Server
	admin atomic.Pointer[realtime.Namespace] // set by Instrument
	login chan struct{}                      // bounds the bcrypt comparisons running at once

	mu       sync.Mutex
	nsps     map[string]*realtime.Namespace
	polling  int                  // connections on polling
	events   map[eventKey]int     // aggregated counts of this interval
	sessions map[string]time.Time // login session id → expiry
	pending  map[*realtime.Socket]string
	timer    *time.Timer
	closed   bool
}

// eventKey is one of the UI's aggregated counts: of a second, a type and
// a subtype.
type eventKey struct {
	second       int64
	typ, subType string
}

// New returns a UI. It panics, as realtime.New does, when an option is
// invalid or neither WithAuth nor WithNoAuth(true) was given.
func New(opts ...Option) *UI {
	c := config{namespace: DefaultNamespace, statsInterval: DefaultStatsInterval,
		maxSessions: DefaultMaxSessions, sessionTTL: DefaultSessionTTL, logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&c)
	}
	switch {
	case c.passwordHash == nil && !c.noAuth:
		panic("admin: New: WithAuth or WithNoAuth(true) is required")
	case c.passwordHash != nil:
		if _, err := bcrypt.Cost(c.passwordHash); err != nil {
			panic("admin: WithAuth: the password hash is not a bcrypt hash")
		}
	case !strings.HasPrefix(c.namespace, "/"):
		panic(fmt.Sprintf("admin: WithNamespace: %q does not start with /", c.namespace))
	case c.statsInterval <= 0 || c.maxSessions <= 0 || c.sessionTTL <= 0:
		panic("admin: WithStatsInterval, WithSessions: not positive")
	}
	if c.serverID == "" {
		c.serverID, _ = os.Hostname()
	}
	return &UI{
		cfg:      c,
		started:  time.Now(),
		login:    make(chan struct{}, 2),
		nsps:     make(map[string]*realtime.Namespace),
		events:   make(map[eventKey]int),
		sessions: make(map[string]time.Time),
		pending:  make(map[*realtime.Socket]string),
	}
}

// Instrument defines the admin namespace on srv, whose observers must
// include u, and starts sending statistics. It returns an error if u
// already instruments a server.
func (u *UI) Instrument(srv *realtime.Server) error {
	u.mu.Lock()
	if u.srv != nil {
		u.mu.Unlock()
		return errors.New("admin: Instrument: already instrumenting a server")
	}
	u.srv = srv
	u.mu.Unlock()
	admin := srv.Of(u.cfg.namespace)
	admin.Use(u.authenticate)
	admin.OnConnection(u.onAdmin)
	u.admin.Store(admin)
	u.mu.Lock()
	u.timer = time.AfterFunc(0, u.tick)
	u.mu.Unlock()
	return nil
}

// Close stops the statistics. The admin namespace stays defined.
func (u *UI) Close() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.closed = true
	if u.timer != nil {
		u.timer.Stop()
	}
}

// The features the UI offers, as the Node.js instrument names them.
const (
	featureEmit             = "EMIT"
	featureJoin             = "JOIN"
	featureLeave            = "LEAVE"
	featureDisconnect       = "DISCONNECT"
	featureMJoin            = "MJOIN"
	featureMLeave           = "MLEAVE"
	featureMDisconnect      = "MDISCONNECT"
	featureAggregatedEvents = "AGGREGATED_EVENTS"
	featureAllEvents        = "ALL_EVENTS"
)

func (u *UI) features() []string {
	var f []string
	if !u.cfg.readOnly {
		f = append(f, featureEmit, featureJoin, featureLeave, featureDisconnect, featureMJoin, featureMLeave, featureMDisconnect)
	}
	f = append(f, featureAggregatedEvents)
	if !u.cfg.production {
		f = append(f, featureAllEvents)
	}
	return f
}

// errInvalidCredentials is the refusal the UI recognizes.
var errInvalidCredentials = &realtime.ConnectError{Message: "invalid credentials"}

// authenticate is the admin namespace's middleware: a known session id, or
// the username and password.
func (u *UI) authenticate(s *realtime.Socket) error {
	if u.cfg.noAuth {
		return nil
	}
	var auth struct {
		SessionID string `json:"sessionId"`
		Username  string `json:"username"`
		Password  string `json:"password"`
	}
	if json.Unmarshal(s.Handshake().Auth, &auth) != nil {
		return errInvalidCredentials
	}
	if auth.SessionID != "" && u.sessionValid(auth.SessionID) {
		return nil
	}
	if auth.Username != u.cfg.username || auth.Password == "" {
		return errInvalidCredentials
	}
	select {
	case u.login <- struct{}{}: // bcrypt is slow on purpose: a few at a time
	default:
		return &realtime.ConnectError{Message: "too many login attempts"}
	}
	err := bcrypt.CompareHashAndPassword(u.cfg.passwordHash, []byte(auth.Password))
	<-u.login
	if err != nil {
		return errInvalidCredentials
	}
	id := newSessionID()
	u.mu.Lock()
	u.saveSession(id)
	u.pending[s] = id // sent once the socket is connected
	u.mu.Unlock()
	return nil
}

func newSessionID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// saveSession keeps a login session, dropping the oldest beyond the bound.
// u.mu is held.
func (u *UI) saveSession(id string) {
	now := time.Now()
	for k, exp := range u.sessions {
		if now.After(exp) {
			delete(u.sessions, k)
		}
	}
	for len(u.sessions) >= u.cfg.maxSessions {
		var oldest string
		var at time.Time
		for k, exp := range u.sessions {
			if oldest == "" || exp.Before(at) {
				oldest, at = k, exp
			}
		}
		delete(u.sessions, oldest)
	}
	u.sessions[id] = now.Add(u.cfg.sessionTTL)
}

func (u *UI) sessionValid(id string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	exp, ok := u.sessions[id]
	return ok && time.Now().Before(exp)
}

// onAdmin sets up a UI's socket: its session, the config, the sockets,
// and the handlers of what the UI may do.
func (u *UI) onAdmin(s *realtime.Socket) {
	u.mu.Lock()
	session, ok := u.pending[s]
	delete(u.pending, s)
	u.mu.Unlock()
	if ok {
		_ = s.Emit("session", session)
	}
	_ = s.Emit("config", map[string]any{"supportedFeatures": u.features()})
	if !u.cfg.production {
		_ = s.Emit("all_sockets", u.allSockets())
	}
	if u.cfg.readOnly {
		return
	}
	s.On("emit", func(e *realtime.Event) {
		var nsp, filter, event string
		if e.Len() < 3 || e.Bind(&nsp, &filter, &event) != nil {
			return
		}
		if n := u.namespace(nsp); n != nil {
			_ = u.op(n, filter).Emit(event, e.Values()[3:]...)
		}
	})
	s.On("join", func(e *realtime.Event) { u.rooms(e, realtime.BroadcastOperator.SocketsJoin) })
	s.On("leave", func(e *realtime.Event) { u.rooms(e, realtime.BroadcastOperator.SocketsLeave) })
	s.On("_disconnect", func(e *realtime.Event) {
		var nsp, filter string
		var closeConn bool
		if e.Bind(&nsp, &closeConn) != nil {
			return
		}
		_ = e.Bind(nil, nil, &filter)
		if n := u.namespace(nsp); n != nil {
			ctx, cancel := context.WithTimeout(s.Context(), 5*time.Second)
			defer cancel()
			_ = u.op(n, filter).DisconnectSockets(ctx, closeConn)
		}
	})
}

// rooms makes the sockets the UI selected join or leave a room.
func (u *UI) rooms(e *realtime.Event, do func(realtime.BroadcastOperator, context.Context, ...string) error) {
	var nsp, room, filter string
	if e.Bind(&nsp, &room) != nil {
		return
	}
	_ = e.Bind(nil, nil, &filter)
	if n := u.namespace(nsp); n != nil {
		ctx, cancel := context.WithTimeout(e.Socket.Context(), 5*time.Second)
		defer cancel()
		_ = do(u.op(n, filter), ctx, room)
	}
}

// op selects the sockets of n, in room filter if not "".
func (u *UI) op(n *realtime.Namespace, filter string) realtime.BroadcastOperator {
	if filter != "" {
		return n.In(filter)
	}
	return n.Except()
}

// namespace returns the namespace named name, or nil: the UI acts on the
// server's namespaces and never creates one.
func (u *UI) namespace(name string) *realtime.Namespace {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.nsps[name]
}

// namespaces returns the server's namespaces.
func (u *UI) namespaces() []*realtime.Namespace {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]*realtime.Namespace, 0, len(u.nsps))
	for _, n := range u.nsps {
		out = append(out, n)
	}
	return out
}

// allSockets lists every socket of the server for the UI.
func (u *UI) allSockets() []map[string]any {
	out := []map[string]any{}
	for _, n := range u.namespaces() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		socks, _ := n.FetchSockets(ctx)
		cancel()
		for _, rs := range socks {
			var clientID, transport string
			if s := n.Socket(rs.ID); s != nil {
				clientID, transport = clientIDOf(s), s.Conn().Transport()
			}
			out = append(out, serialize(rs.ID, clientID, transport, n.Name(), rs.Data, rs.Handshake, rs.Rooms))
		}
	}
	return out
}

// clientIDOf is the start of the socket's Engine.IO id, as the Node.js
// instrument shows it.
func clientIDOf(s *realtime.Socket) string {
	id := s.Conn().ID()
	return id[:min(len(id), 12)]
}

// serialize is the UI's view of a socket.
func serialize(id, clientID, transport, nsp string, data any, hs realtime.Handshake, rooms []string) map[string]any {
	var shown map[string]any
	if b, err := json.Marshal(hs); err == nil {
		_ = json.Unmarshal(b, &shown)
	}
	delete(shown, "auth") // as the Node.js instrument: the auth may hold secrets
	if a := hs.Headers.Get("Cf-Connecting-Ip"); a != "" {
		shown["address"] = a
	} else if a := hs.Headers.Get("X-Forwarded-For"); a != "" {
		shown["address"] = a
	}
	if data == nil {
		data = map[string]any{}
	}
	if rooms == nil {
		rooms = []string{}
	}
	return map[string]any{
		"id": id, "clientId": clientID, "transport": transport, "nsp": nsp,
		"data": data, "handshake": shown, "rooms": rooms,
	}
}

func serializeSocket(s *realtime.Socket) map[string]any {
	return serialize(s.ID(), clientIDOf(s), s.Conn().Transport(), s.Namespace().Name(), s.Data(), *s.Handshake(), s.Rooms())
}

// tick sends the statistics and schedules the next.
func (u *UI) tick() {
	_ = u.admin.Load().Emit("server_stats", u.stats())
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.closed {
		u.timer.Reset(u.cfg.statsInterval)
	}
}

// stats is the UI's server_stats.
func (u *UI) stats() map[string]any {
	namespaces := []map[string]any{}
	for _, n := range u.namespaces() {
		namespaces = append(namespaces, map[string]any{"name": n.Name(), "socketsCount": n.Len()})
	}
	u.mu.Lock()
	events := make([]map[string]any, 0, len(u.events))
	for k, count := range u.events {
		ev := map[string]any{"timestamp": k.second * 1000, "type": k.typ, "count": count}
		if k.subType != "" {
			ev["subType"] = k.subType
		}
		events = append(events, ev)
	}
	clear(u.events)
	polling := u.polling
	u.mu.Unlock()
	hostname, _ := os.Hostname()
	return map[string]any{
		"serverId":            u.cfg.serverID,
		"hostname":            hostname,
		"pid":                 os.Getpid(),
		"uptime":              time.Since(u.started).Seconds(),
		"clientsCount":        u.srv.Len(),
		"pollingClientsCount": polling,
		"aggregatedEvents":    events,
		"namespaces":          namespaces,
	}
}

// count adds n to an aggregated count of this second.
func (u *UI) count(typ, subType string, n int) {
	k := eventKey{second: time.Now().Unix(), typ: typ, subType: subType}
	u.mu.Lock()
	u.events[k] += n
	u.mu.Unlock()
}

// verbose returns the admin namespace if the UI gets every socket and
// event, as in Node's mode "development", and is instrumenting; else nil.
func (u *UI) verbose() *realtime.Namespace {
	if u.cfg.production {
		return nil
	}
	return u.admin.Load()
}

// now is the time the UI's events carry: a JavaScript Date's JSON.
func now() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000Z") }

// ConnOpened implements [realtime.Observer].
func (u *UI) ConnOpened(c *realtime.Conn) {
	u.count("rawConnection", "", 1)
	if c.Transport() == "polling" {
		u.mu.Lock()
		u.polling++
		u.mu.Unlock()
	}
}

// ConnUpgraded implements [realtime.Observer].
func (u *UI) ConnUpgraded(*realtime.Conn, string) {
	u.mu.Lock()
	u.polling--
	u.mu.Unlock()
}

// ConnClosed implements [realtime.Observer].
func (u *UI) ConnClosed(c *realtime.Conn, reason string) {
	u.count("rawDisconnection", reason, 1)
	if c.Transport() == "polling" {
		u.mu.Lock()
		u.polling--
		u.mu.Unlock()
	}
}

// BytesIn implements [realtime.Observer].
func (u *UI) BytesIn(_ string, n int) { u.count("bytesIn", "", n) }

// BytesOut implements [realtime.Observer].
func (u *UI) BytesOut(_ string, n int) { u.count("bytesOut", "", n) }

// PacketIn implements [realtime.Observer].
func (u *UI) PacketIn(realtime.PacketType) { u.count("packetsIn", "", 1) }

// PacketsOut implements [realtime.Observer].
func (u *UI) PacketsOut(_ realtime.PacketType, n int) { u.count("packetsOut", "", n) }

// NamespaceCreated implements [realtime.Observer].
func (u *UI) NamespaceCreated(n *realtime.Namespace) {
	u.mu.Lock()
	u.nsps[n.Name()] = n
	u.mu.Unlock()
}

// NamespaceDropped implements [realtime.Observer].
func (u *UI) NamespaceDropped(n *realtime.Namespace) {
	u.mu.Lock()
	if u.nsps[n.Name()] == n {
		delete(u.nsps, n.Name())
	}
	u.mu.Unlock()
}

// SocketConnected implements [realtime.Observer].
func (u *UI) SocketConnected(s *realtime.Socket) {
	admin := u.verbose()
	if admin == nil {
		return
	}
	nsp := s.Namespace().Name()
	if s.Namespace() != admin { // the UI's own events are not shown
		s.OnAny(func(e *realtime.Event) {
			_ = admin.Emit("event_received", nsp, s.ID(), append([]any{e.Name}, e.Values()...), now())
		})
	}
	s.Conn().OnUpgrade(func(transport string) {
		_ = admin.Emit("socket_updated", map[string]any{"id": s.ID(), "nsp": nsp, "transport": transport})
	})
	_ = admin.Emit("socket_connected", serializeSocket(s), now())
}

// SocketDisconnected implements [realtime.Observer].
func (u *UI) SocketDisconnected(s *realtime.Socket, reason string) {
	if admin := u.verbose(); admin != nil {
		_ = admin.Emit("socket_disconnected", s.Namespace().Name(), s.ID(), reason, now())
	}
}

// RoomJoined implements [realtime.Observer].
func (u *UI) RoomJoined(s *realtime.Socket, room string) {
	if admin := u.verbose(); admin != nil {
		_ = admin.Emit("room_joined", s.Namespace().Name(), room, s.ID(), now())
	}
}

// RoomLeft implements [realtime.Observer].
func (u *UI) RoomLeft(s *realtime.Socket, room string) {
	if admin := u.verbose(); admin != nil {
		_ = admin.Emit("room_left", s.Namespace().Name(), room, s.ID(), now())
	}
}

// EventSent implements [realtime.Observer].
func (u *UI) EventSent(s *realtime.Socket, event string, args []any) {
	if admin := u.verbose(); admin != nil && s.Namespace() != admin {
		_ = admin.Emit("event_sent", s.Namespace().Name(), s.ID(), append([]any{event}, args...), now())
	}
}

var _ realtime.Observer = (*UI)(nil)
