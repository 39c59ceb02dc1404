package client

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/vicinity-go/vicinity/internal/eio"
	"github.com/vicinity-go/vicinity/internal/sio"
)

// maxAttachments bounds the binary attachments of a packet from the server.
const maxAttachments = 1000

// Manager is a connection to one Socket.IO server: one Engine.IO session at
// a time, shared by the sockets of every namespace ([Manager.Socket]),
// reopened with backoff when it drops. It is safe for concurrent use.
//
// A manager has at most three goroutines: the one that opens sessions and
// reads them (it runs the handlers), a writer per session, and a short-lived
// one while upgrading to WebSocket; net/http adds its own for the polling
// connections. [Manager.Close] stops them all.
type Manager struct {
	cfg    config
	base   *url.URL // the server's Engine.IO endpoint, without query
	query  url.Values
	urlErr error // why the URL given to New is unusable
	log    *slog.Logger
	hc     *http.Client
	ownTr  *http.Transport // the default client's transport, closed by Close
	dialer *websocket.Dialer

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the run loop and the engines' goroutines
	wake   chan struct{}  // capacity 1: a socket was disconnected

	// Lock order: mu, then a Socket's mu, then an engine's mu.
	mu      sync.Mutex
	sockets map[string]*Socket // by namespace
	eng     *engine            // the open session, nil if none
	running bool               // the run loop is active
	closed  bool
}

// New returns a manager for the server at rawURL ("http://host:port",
// "https://…", "ws://…" or "wss://…"; its path is ignored, its query is
// sent with every request). It does not connect: [Socket.Connect] does. An
// unusable URL is reported by Connect. New panics if an option is invalid.
func New(rawURL string, opts ...Option) *Manager {
	m := &Manager{
		cfg:     newConfig(opts),
		sockets: make(map[string]*Socket),
		wake:    make(chan struct{}, 1),
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.base, m.query, m.urlErr = parseURL(rawURL, m.cfg.path)
	m.log = m.cfg.logger
	if m.base != nil {
		m.log = m.log.With("server", m.base.Host) // not the URL: its query may hold secrets
	}
	for k, vs := range m.cfg.query {
		m.query[k] = append(m.query[k], vs...)
	}

	m.hc = m.cfg.httpClient
	if m.hc == nil {
		m.ownTr = http.DefaultTransport.(*http.Transport).Clone()
		if m.cfg.dial != nil {
			m.ownTr.DialContext = m.cfg.dial
		}
		m.hc = &http.Client{Transport: m.ownTr}
	}
	d := *websocket.DefaultDialer
	if m.cfg.dialer != nil {
		d = *m.cfg.dialer
	}
	if m.cfg.dial != nil {
		d.NetDialContext = m.cfg.dial
	}
	m.dialer = &d
	return m
}

// parseURL returns the server's Engine.IO endpoint (http or https, with
// path) and the URL's query.
func parseURL(rawURL, path string) (*url.URL, url.Values, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, url.Values{}, fmt.Errorf("client: invalid URL: %w", err)
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "ws":
		u.Scheme = "http"
	case "https", "wss":
		u.Scheme = "https"
	default:
		return nil, url.Values{}, fmt.Errorf("client: invalid URL %q: scheme must be http, https, ws or wss", rawURL)
	}
	if u.Host == "" {
		return nil, url.Values{}, fmt.Errorf("client: invalid URL %q: no host", rawURL)
	}
	q := u.Query()
	return &url.URL{Scheme: u.Scheme, User: u.User, Host: u.Host, Path: path}, q, nil
}

// endpoint returns the URL of a request on transport, for session sid ("" for
// a handshake).
func (m *Manager) endpoint(transport, sid string) string {
	u := *m.base
	if transport == WebSocket {
		switch u.Scheme {
		case "http":
			u.Scheme = "ws"
		case "https":
			u.Scheme = "wss"
		}
	}
	q := make(url.Values, len(m.query)+3)
	for k, vs := range m.query {
		q[k] = vs
	}
	q.Set("EIO", "4")
	q.Set("transport", transport)
	if sid != "" {
		q.Set("sid", sid)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Socket returns the manager's socket for namespace nsp ("/" if empty; a
// missing leading slash is added), creating it if needed, not connected:
// call [Socket.Connect]. A socket that exists already is returned as is and
// opts are ignored. It panics if an option is invalid.
func (m *Manager) Socket(nsp string, opts ...SocketOption) *Socket {
	if !strings.HasPrefix(nsp, "/") {
		nsp = "/" + nsp
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.sockets[nsp]; s != nil {
		return s
	}
	var sc socketConfig
	for _, o := range m.cfg.socket {
		o(&sc)
	}
	for _, o := range opts {
		o(&sc)
	}
	s := newSocket(m, nsp, sc)
	m.sockets[nsp] = s
	return s
}

// Transport returns the name of the transport in use, "polling" or
// "websocket", or "" when no session is open.
func (m *Manager) Transport() string {
	m.mu.Lock()
	e := m.eng
	m.mu.Unlock()
	if e == nil {
		return ""
	}
	return e.transportName()
}

// Close disconnects every socket (their disconnect handlers get "io client
// disconnect" on the calling goroutine), flushes what is queued and closes
// the session within about two seconds, stops reconnecting, and waits until
// every goroutine of the manager has returned. It returns [ErrClosed] when
// called again. It must not be called from a handler, which runs on one of
// those goroutines: call [Socket.Disconnect] there, or Close in a new
// goroutine.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		m.wg.Wait()
		return ErrClosed
	}
	m.closed = true
	socks := m.socketList()
	e := m.eng
	m.mu.Unlock()
	for _, s := range socks {
		s.deactivate(ReasonClientDisconnect, ErrClosed, true)
	}
	if e != nil {
		e.close()
		<-e.done
	}
	m.cancel()
	m.wg.Wait()
	if m.ownTr != nil {
		m.ownTr.CloseIdleConnections()
	}
	return nil
}

// socketList returns the sockets. Called with m.mu held.
func (m *Manager) socketList() []*Socket {
	out := make([]*Socket, 0, len(m.sockets))
	for _, s := range m.sockets {
		out = append(out, s)
	}
	return out
}

// activate makes s want a connection: it sends s's CONNECT on the open
// session, or starts the run loop that opens one.
func (m *Manager) activate(s *Socket) error {
	if m.urlErr != nil {
		return m.urlErr
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	s.mu.Lock()
	if !s.active {
		s.active, s.err = true, nil
		if m.eng != nil {
			s.sendConnect(m.eng)
		}
		s.changedLocked()
	}
	s.mu.Unlock()
	if !m.running {
		m.running = true
		m.wg.Add(1)
		go m.run()
	}
	return nil
}

// wanted reports whether a session is needed: the manager is open and a
// socket is active. If not, the run loop must stop, and it is marked
// stopped.
func (m *Manager) wanted() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed && m.anyActiveLocked() {
		return true
	}
	m.running = false
	return false
}

// deactivated is called when a socket stops wanting a connection: if no
// socket does any more, the session is closed.
func (m *Manager) deactivated() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
	m.mu.Lock()
	if m.anyActiveLocked() {
		m.mu.Unlock()
		return
	}
	e := m.eng
	m.mu.Unlock()
	if e != nil {
		e.close()
	}
}

// run opens sessions and reads them while sockets want one, waiting
// between attempts as the backoff says.
func (m *Manager) run() {
	defer m.wg.Done()
	attempts := 0 // reconnection attempts since the last open session
	wait := false
	var lastErr error
	for {
		if wait {
			if n := m.cfg.attempts; n > 0 && attempts >= n {
				err := ErrReconnectFailed
				if lastErr != nil {
					err = fmt.Errorf("%w: %w", ErrReconnectFailed, lastErr)
				}
				m.giveUp(err)
				attempts = 0
				wait = false
				continue // wanted() is now false unless a socket reconnected
			}
			d := m.cfg.backoff(attempts, rand.Float64())
			attempts++
			m.log.Info("reconnecting", "attempt", attempts, "delay", d)
			if !m.sleep(d) {
				wait = false
				continue
			}
		}
		if !m.wanted() {
			return
		}
		e, err := m.openEngine(m.ctx)
		if err != nil {
			lastErr = err
			// Without reconnection the sockets stop trying, and wanted()
			// ends the loop.
			wait = m.openFailed(err)
			continue
		}
		attempts, lastErr = 0, nil
		if !m.attach(e) { // no socket wants it any more
			e.start()
			e.close()
			e.read(func([]byte, bool) {})
			wait = false
			continue
		}
		e.start()
		reasm := sio.NewReassembler(sio.Limits{MaxAttachments: maxAttachments})
		reason := e.read(func(data []byte, binary bool) { m.onMessage(e, reasm, data, binary) })
		m.detach(e, reason)
		// A session the client closed is reopened at once if a socket wants
		// it again; a dropped one after the backoff delay.
		wait = reason != ReasonForcedClose
		if wait && !m.cfg.reconnection {
			m.stopAll(fmt.Errorf("%w (%s)", ErrDisconnected, reason))
			wait = false
		}
	}
}

// sleep waits d; it reports false if the manager closed or no socket wants
// a connection any more.
func (m *Manager) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return true
		case <-m.ctx.Done():
			return false
		case <-m.wake:
			if !m.anyActive() {
				return false
			}
		}
	}
}

func (m *Manager) anyActive() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.anyActiveLocked()
}

// anyActiveLocked reports whether a socket wants a connection. Called with
// m.mu held.
func (m *Manager) anyActiveLocked() bool {
	for _, s := range m.sockets {
		if s.isActive() {
			return true
		}
	}
	return false
}

// openFailed tells the active sockets that a session could not be opened.
// Without reconnection they stop trying; it reports whether to retry.
func (m *Manager) openFailed(err error) bool {
	m.log.Info("open failed", "err", err)
	m.mu.Lock()
	socks := m.socketList()
	m.mu.Unlock()
	for _, s := range socks {
		s.onOpenError(err, !m.cfg.reconnection)
	}
	return m.cfg.reconnection
}

// giveUp reports err, which wraps ErrReconnectFailed, to the active
// sockets, which stop trying.
func (m *Manager) giveUp(err error) {
	m.mu.Lock()
	socks := m.socketList()
	m.mu.Unlock()
	for _, s := range socks {
		s.onOpenError(err, true)
	}
}

// stopAll makes every socket stop trying after a drop when reconnection is
// off, with err for Connect.
func (m *Manager) stopAll(err error) {
	m.mu.Lock()
	socks := m.socketList()
	m.mu.Unlock()
	for _, s := range socks {
		s.deactivate("", err, false) // disconnected already: no handler runs
	}
}

// attach makes e the manager's session and sends the CONNECT of every
// active socket on it. It reports false if no socket wants a session.
func (m *Manager) attach(e *engine) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	any := false
	for _, s := range m.sockets {
		s.mu.Lock()
		if s.active {
			any = true
			s.sendConnect(e)
		}
		s.mu.Unlock()
	}
	if any {
		m.eng = e
	}
	return any
}

// detach forgets the closed session e and disconnects its sockets.
func (m *Manager) detach(e *engine, reason string) {
	m.mu.Lock()
	if m.eng == e {
		m.eng = nil
	}
	socks := m.socketList()
	m.mu.Unlock()
	for _, s := range socks {
		s.onclose(e, reason)
	}
}

// onMessage handles one Engine.IO message of session e, on its reader.
func (m *Manager) onMessage(e *engine, reasm *sio.Reassembler, data []byte, binary bool) {
	p, atts, done, err := reasm.Add(data, binary)
	if err != nil {
		e.log.Warn("malformed packet, closing", "err", err)
		e.fail(ReasonParseError, err)
		return
	}
	if !done {
		return
	}
	m.mu.Lock()
	s := m.sockets[p.Namespace]
	m.mu.Unlock()
	if e.log.Enabled(context.Background(), slog.LevelDebug) {
		e.log.LogAttrs(context.Background(), slog.LevelDebug, "packet",
			slog.String("type", p.Type.String()), slog.String("nsp", p.Namespace))
	}
	if s == nil {
		return // a namespace the client never joined
	}
	switch p.Type {
	case sio.Connect:
		s.onConnect(e, p.Data)
	case sio.ConnectError:
		s.onConnectError(e, parseConnectError(p.Data))
	case sio.Disconnect:
		s.onServerDisconnect(e)
	case sio.Event, sio.BinaryEvent:
		err = s.onEvent(e, &p, atts)
	case sio.Ack, sio.BinaryAck:
		err = s.onAck(&p, atts)
	}
	if err != nil {
		e.log.Warn("malformed packet, closing", "err", err)
		e.fail(ReasonParseError, err)
	}
}

// backoff returns the delay before reconnection attempt n (from 0):
// delayMin·2ⁿ, moved up or down by r·randomization of itself, capped at
// delayMax, as the JavaScript client's backoff. r is uniform in [0, 1).
func (c *config) backoff(n int, r float64) time.Duration {
	d := float64(c.delayMin) * math.Pow(2, float64(min(n, 62)))
	if c.randomization > 0 {
		dev := math.Floor(r * c.randomization * d)
		if int(r*10)&1 == 0 {
			d -= dev
		} else {
			d += dev
		}
	}
	return time.Duration(min(d, float64(c.delayMax)))
}

// encode builds the Engine.IO packets of an event (event != "") or an
// acknowledgement: the text packet, then one binary packet per attachment,
// copied so that the caller may reuse its slices.
func encode(typ sio.Type, nsp string, id uint64, hasID bool, event string, args []any) ([]eio.Packet, error) {
	if typ == sio.Event && event == "" {
		args = append([]any{""}, args...) // AppendPacket takes "" for no name
	}
	text, atts, err := sio.AppendPacket(nil, sio.Packet{Type: typ, Namespace: nsp, ID: id, HasID: hasID}, event, args)
	if err != nil {
		if event != "" {
			return nil, fmt.Errorf("client: encode %q: %w", event, err)
		}
		return nil, fmt.Errorf("client: encode ack: %w", err)
	}
	out := make([]eio.Packet, 1+len(atts))
	out[0] = eio.Packet{Type: eio.Message, Data: text}
	for i, a := range atts {
		out[i+1] = eio.Packet{Type: eio.Message, Data: append([]byte{}, a...), Binary: true}
	}
	return out, nil
}

// message returns the Engine.IO packet carrying a Socket.IO packet with no
// attachments.
func message(p *sio.Packet) eio.Packet {
	return eio.Packet{Type: eio.Message, Data: p.Append(nil)}
}
