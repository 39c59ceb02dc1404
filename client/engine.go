package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/vicinity-go/vicinity/internal/eio"
)

const (
	// writeTimeout is the deadline of each WebSocket write.
	writeTimeout = 10 * time.Second
	// closeTimeout bounds a graceful close: flushing the queue, sending
	// the close packet and, on WebSocket, waiting for the server's close
	// frame.
	closeTimeout = 2 * time.Second
	// maxResponse bounds a polling response body and a WebSocket message,
	// in bytes: a hostile server cannot make the client buffer more.
	maxResponse = 64 << 20
)

// errStop ends the decoding of a polling payload once the engine closed.
var errStop = errors.New("client: engine closed")

// engine is one Engine.IO session, from its handshake to its close.
//
// Its reader is the manager's run goroutine, in [engine.read]: it long-polls
// or reads the WebSocket, and hands each message to the manager. The engine
// owns one writer goroutine, which drains the queue (one POST per batch, or
// one WebSocket message per packet), and while upgrading a probe goroutine.
//
// The upgrade follows the JavaScript client: the probe dials a WebSocket
// with the sid and exchanges "2probe"/"3probe"; then polling pauses (the
// reader issues no new GET once the one in flight returns, which the server
// answers with a noop; the writer sends no new POST once the one in flight
// returns); then the writer sends "5" on the WebSocket, switches to it and
// flushes what was queued meanwhile, and the reader moves to it.
type engine struct {
	m   *Manager
	log *slog.Logger

	sid          string
	upgrades     []string
	pingInterval time.Duration
	pingTimeout  time.Duration
	maxPayload   int
	pollURL      string
	wsURL        string
	initial      []eio.Packet // packets that came with the open packet

	ctx    context.Context // canceled on close: aborts requests in flight
	cancel context.CancelFunc
	done   chan struct{} // closed on close
	wake   chan struct{} // capacity 1: a pending wake-up for the writer

	pause    chan struct{} // closed by the probe once "3probe" arrived
	paused   chan struct{} // closed by the reader once its last GET returned
	upgraded chan struct{} // closed by the writer once it switched

	mu         sync.Mutex
	transport  string
	ws         *websocket.Conn // the WebSocket in use, once open or upgraded
	probing    *websocket.Conn // a WebSocket being probed
	probed     *websocket.Conn // a probed WebSocket waiting for polling to pause
	queue      []eio.Packet
	closing    bool // flush the queue, then close
	closed     bool
	reason     string
	err        error
	pingTimer  *time.Timer
	closeTimer *time.Timer
}

// openEngine runs the Engine.IO handshake over the first transport.
func (m *Manager) openEngine(ctx context.Context) (*engine, error) {
	e := &engine{
		m:        m,
		done:     make(chan struct{}),
		wake:     make(chan struct{}, 1),
		pause:    make(chan struct{}),
		paused:   make(chan struct{}),
		upgraded: make(chan struct{}),
	}
	e.ctx, e.cancel = context.WithCancel(m.ctx)
	hctx, cancel := context.WithTimeout(ctx, m.cfg.handshakeTimeout)
	defer cancel()
	var err error
	if m.cfg.transports[0] == Polling {
		err = e.openPolling(hctx)
	} else {
		err = e.openWebSocket(hctx)
	}
	if err != nil {
		e.cancel()
		return nil, err
	}
	e.pollURL = m.endpoint(Polling, e.sid)
	e.wsURL = m.endpoint(WebSocket, e.sid)
	e.log = m.log.With("sid", e.sid)
	e.log.Info("open", "transport", e.transport)
	return e, nil
}

func (e *engine) openPolling(ctx context.Context) error {
	body, err := e.request(ctx, http.MethodGet, e.m.endpoint(Polling, ""), nil)
	if err != nil {
		return fmt.Errorf("client: handshake: %w", err)
	}
	var open []byte
	err = eio.DecodePayload(body, 0, func(p eio.Packet) error {
		if open == nil {
			if p.Type != eio.Open {
				return fmt.Errorf("expected an open packet, got %v", p.Type)
			}
			open = p.Data
			return nil
		}
		e.initial = append(e.initial, p)
		return nil
	})
	if err != nil {
		return fmt.Errorf("client: handshake: %w", err)
	}
	e.transport = Polling
	return e.setHandshake(open)
}

func (e *engine) openWebSocket(ctx context.Context) error {
	ws, resp, err := e.m.dialer.DialContext(ctx, e.m.endpoint(WebSocket, ""), e.m.cfg.header)
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			_ = resp.Body.Close()
			return fmt.Errorf("client: handshake: %w", statusError(resp.StatusCode, body))
		}
		return fmt.Errorf("client: handshake: %w", err)
	}
	ws.SetReadLimit(maxResponse)
	stop := context.AfterFunc(ctx, func() { _ = ws.Close() })
	typ, data, err := ws.ReadMessage()
	if !stop() {
		err = errors.Join(ctx.Err(), err)
	}
	if err == nil && typ != websocket.TextMessage {
		err = errors.New("expected an open packet, got a binary message")
	}
	var p eio.Packet
	if err == nil {
		p, err = eio.DecodeText(data)
	}
	if err == nil && p.Type != eio.Open {
		err = fmt.Errorf("expected an open packet, got %v", p.Type)
	}
	if err != nil {
		_ = ws.Close()
		return fmt.Errorf("client: handshake: %w", err)
	}
	e.transport, e.ws = WebSocket, ws
	if err := e.setHandshake(p.Data); err != nil {
		_ = ws.Close()
		return err
	}
	return nil
}

// setHandshake reads the open packet's data.
func (e *engine) setHandshake(data []byte) error {
	var h struct {
		SID          string   `json:"sid"`
		Upgrades     []string `json:"upgrades"`
		PingInterval int64    `json:"pingInterval"`
		PingTimeout  int64    `json:"pingTimeout"`
		MaxPayload   int      `json:"maxPayload"`
	}
	if err := json.Unmarshal(data, &h); err != nil || h.SID == "" || h.PingInterval <= 0 || h.PingTimeout <= 0 {
		return fmt.Errorf("client: handshake: invalid open packet %q", data)
	}
	e.sid, e.upgrades = h.SID, h.Upgrades
	e.pingInterval = time.Duration(h.PingInterval) * time.Millisecond
	e.pingTimeout = time.Duration(h.PingTimeout) * time.Millisecond
	e.maxPayload = h.MaxPayload
	return nil
}

// statusError describes a refused request, with the Engine.IO error the
// body holds if any: JSON for a polling request, a short text for a
// refused WebSocket handshake.
func statusError(status int, body []byte) error {
	var b struct {
		Code    *int   `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &b) == nil && b.Code != nil {
		return fmt.Errorf("HTTP %d: %s (code %d)", status, b.Message, *b.Code)
	}
	if text := strings.TrimSpace(string(body)); text != "" && len(text) <= 200 && utf8.ValidString(text) {
		return fmt.Errorf("HTTP %d: %s", status, text)
	}
	return fmt.Errorf("HTTP %d", status)
}

// noBody is the empty body of a polling GET. Unlike a nil body it makes
// the request not replayable, so that net/http does not retry a failed
// long-poll on a new connection: the response to the failed one may have
// carried packets, and the session must end, as in the JavaScript client,
// rather than go on without them.
type noBody struct{}

func (noBody) Read([]byte) (int, error) { return 0, io.EOF }

// request makes one polling request and returns the response body.
func (e *engine) request(ctx context.Context, method, url string, body []byte) ([]byte, error) {
	var r io.Reader = noBody{}
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return nil, err
	}
	for k, vs := range e.m.cfg.header {
		req.Header[k] = vs
	}
	if body != nil {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	resp, err := e.m.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, statusError(resp.StatusCode, out)
	}
	if len(out) > maxResponse {
		return nil, fmt.Errorf("response larger than %d bytes", maxResponse)
	}
	return out, nil
}

// start arms the heartbeat and starts the writer, and the probe if the
// session should upgrade.
func (e *engine) start() {
	e.mu.Lock()
	e.pingTimer = time.AfterFunc(e.pingInterval+e.pingTimeout, func() { e.fail(ReasonPingTimeout, nil) })
	upgrade := e.transport == Polling && e.m.cfg.upgrade() && slices.Contains(e.upgrades, WebSocket)
	e.mu.Unlock()
	e.m.wg.Add(1)
	go e.writeLoop()
	if upgrade {
		e.m.wg.Add(1)
		go e.probe()
	}
}

// transportName returns the name of the transport in use.
func (e *engine) transportName() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.transport
}

// send queues pkts to be written in order, without blocking. It reports
// false if the engine is closing or closed.
func (e *engine) send(pkts ...eio.Packet) bool {
	e.mu.Lock()
	if e.closed || e.closing {
		e.mu.Unlock()
		return false
	}
	e.queue = append(e.queue, pkts...)
	e.mu.Unlock()
	e.notify()
	return true
}

func (e *engine) notify() {
	select {
	case e.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// close flushes what is queued, tells the server and closes the session,
// within closeTimeout. It does not wait.
func (e *engine) close() {
	e.mu.Lock()
	if e.closed || e.closing {
		e.mu.Unlock()
		return
	}
	e.closing = true
	e.closeTimer = time.AfterFunc(closeTimeout, func() { e.fail(ReasonForcedClose, nil) })
	e.mu.Unlock()
	e.notify()
}

// fail closes the session at once with reason, unless it is closed
// already. It aborts requests in flight and closes network connections,
// which ends the reader, the writer and the probe.
func (e *engine) fail(reason string, err error) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	if e.closing {
		reason = ReasonForcedClose
	}
	e.reason, e.err = reason, err
	conns := []*websocket.Conn{e.ws, e.probing, e.probed}
	e.queue = nil
	if e.pingTimer != nil {
		e.pingTimer.Stop()
	}
	if e.closeTimer != nil {
		e.closeTimer.Stop()
	}
	e.mu.Unlock()
	close(e.done)
	e.cancel()
	for _, c := range conns {
		if c != nil {
			_ = c.Close()
		}
	}
	if err != nil {
		e.log.Info("close", "reason", reason, "err", err)
	} else {
		e.log.Info("close", "reason", reason)
	}
}

func (e *engine) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}

// read reads and dispatches packets until the session closes, and returns
// the reason. deliver gets each message, on the calling goroutine.
func (e *engine) read(deliver func(data []byte, binary bool)) string {
	handle := func(p eio.Packet) error {
		if e.isClosed() {
			return errStop
		}
		switch p.Type {
		case eio.Message:
			deliver(p.Data, p.Binary)
		case eio.Ping:
			e.onPing()
		case eio.Close:
			e.fail(ReasonTransportClose, nil)
			return errStop
		}
		return nil // noop, and what a server should not send
	}
	for _, p := range e.initial {
		if handle(p) != nil {
			break
		}
	}
	e.initial = nil
	for !e.isClosed() {
		e.mu.Lock()
		tr, ws := e.transport, e.ws
		e.mu.Unlock()
		if tr == WebSocket {
			e.readWebSocket(ws, handle)
			continue
		}
		select {
		case <-e.pause:
			close(e.paused)
			select {
			case <-e.upgraded:
			case <-e.done:
			}
			continue
		default:
		}
		body, err := e.request(e.ctx, http.MethodGet, e.pollURL, nil)
		if err != nil {
			e.fail(ReasonTransportError, err)
			break
		}
		if err := eio.DecodePayload(body, 0, handle); err != nil && !errors.Is(err, errStop) {
			e.fail(ReasonTransportError, err) // as the JavaScript client names it
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.reason
}

// readWebSocket reads one message.
func (e *engine) readWebSocket(ws *websocket.Conn, handle func(eio.Packet) error) {
	typ, data, err := ws.ReadMessage()
	if err != nil {
		e.fail(wsCloseReason(err), err)
		return
	}
	if typ == websocket.BinaryMessage {
		_ = handle(eio.Packet{Type: eio.Message, Data: data, Binary: true})
		return
	}
	p, err := eio.DecodeText(data)
	if err != nil {
		e.fail(ReasonTransportError, err) // as the JavaScript client names it
		return
	}
	_ = handle(p)
}

// wsCloseReason names the end of a WebSocket: a close frame is the
// server's close; anything else, a connection lost without one included, an
// error.
func wsCloseReason(err error) string {
	var ce *websocket.CloseError
	if errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure {
		return ReasonTransportClose
	}
	return ReasonTransportError
}

// onPing answers a server ping and re-arms the heartbeat.
func (e *engine) onPing() {
	e.mu.Lock()
	if !e.closed {
		e.pingTimer.Reset(e.pingInterval + e.pingTimeout)
	}
	e.mu.Unlock()
	e.send(eio.Packet{Type: eio.Pong})
}

// take moves the next batch from the queue to dst: everything on
// WebSocket; on polling, as many packets as fit in the server's maxPayload
// (at least one). Called with e.mu held.
func (e *engine) take(dst []eio.Packet) []eio.Packet {
	n := len(e.queue)
	if e.transport == Polling && e.maxPayload > 0 {
		size := 0
		for i, p := range e.queue {
			if i > 0 {
				size++ // the separator
			}
			size += eio.PayloadLen(p)
			if i > 0 && size > e.maxPayload {
				n = i
				break
			}
		}
	}
	dst = append(dst, e.queue[:n]...)
	rest := copy(e.queue, e.queue[n:])
	clear(e.queue[rest:])
	e.queue = e.queue[:rest]
	return dst
}

// writeLoop writes what is queued until the session closes.
func (e *engine) writeLoop() {
	defer e.m.wg.Done()
	var batch []eio.Packet
	var buf []byte
	for {
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			return
		}
		if e.probed != nil && e.transport == Polling {
			e.mu.Unlock()
			if !e.finishUpgrade() {
				return
			}
			continue
		}
		batch = e.take(batch[:0])
		last := e.closing && len(e.queue) == 0
		tr, ws := e.transport, e.ws
		e.mu.Unlock()

		var err error
		switch {
		case len(batch) > 0 && tr == WebSocket:
			buf, err = writeWebSocket(ws, batch, buf)
		case len(batch) > 0:
			buf = buf[:0]
			for _, p := range batch {
				buf = eio.AppendPayload(buf, p)
			}
			_, err = e.request(e.ctx, http.MethodPost, e.pollURL, buf)
		}
		clear(batch)
		if err != nil {
			e.fail(ReasonTransportError, err)
			return
		}
		if len(batch) > 0 && !last {
			continue // more may be queued
		}
		if last {
			e.sendClose(tr, ws)
			return
		}
		select {
		case <-e.wake:
		case <-e.done:
			return
		}
	}
}

// finishUpgrade waits for the reader to pause polling, then sends "5" on
// the probed WebSocket and makes it the transport.
func (e *engine) finishUpgrade() bool {
	select {
	case <-e.paused:
	case <-e.done:
		return false
	}
	e.mu.Lock()
	ws := e.probed
	e.mu.Unlock()
	_ = ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := ws.WriteMessage(websocket.TextMessage, []byte{'0' + byte(eio.Upgrade)}); err != nil {
		e.fail(ReasonTransportError, err)
		return false
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return false
	}
	e.transport, e.ws, e.probed = WebSocket, ws, nil
	e.mu.Unlock()
	close(e.upgraded)
	e.log.Info("upgraded", "transport", WebSocket)
	return true
}

// sendClose ends a session the client closes: a close packet over polling,
// a close frame over WebSocket, after which the reader waits for the
// server's close frame.
func (e *engine) sendClose(tr string, ws *websocket.Conn) {
	if tr == Polling {
		_, _ = e.request(e.ctx, http.MethodPost, e.pollURL, []byte{'0' + byte(eio.Close)})
		e.fail(ReasonForcedClose, nil)
		return
	}
	deadline := time.Now().Add(closeTimeout)
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	if err := ws.WriteControl(websocket.CloseMessage, msg, deadline); err != nil {
		e.fail(ReasonForcedClose, nil)
		return
	}
	_ = ws.SetReadDeadline(deadline)
}

// writeWebSocket writes each packet as one message: text packets as
// "<type><data>", binary ones as raw bytes.
func writeWebSocket(ws *websocket.Conn, batch []eio.Packet, buf []byte) ([]byte, error) {
	_ = ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	for _, p := range batch {
		var err error
		if p.Binary {
			err = ws.WriteMessage(websocket.BinaryMessage, p.Data)
		} else {
			buf = eio.AppendText(buf[:0], p.Type, p.Data)
			err = ws.WriteMessage(websocket.TextMessage, buf)
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// probe tests a WebSocket for the upgrade and, if the server answers,
// asks polling to pause.
func (e *engine) probe() {
	defer e.m.wg.Done()
	ws, resp, err := e.m.dialer.DialContext(e.ctx, e.wsURL, e.m.cfg.header)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		e.log.Debug("upgrade failed", "err", err)
		return
	}
	ws.SetReadLimit(maxResponse)
	e.mu.Lock()
	if e.closed || e.closing {
		e.mu.Unlock()
		_ = ws.Close()
		return
	}
	e.probing = ws
	e.mu.Unlock()

	deadline := time.Now().Add(e.m.cfg.handshakeTimeout)
	_ = ws.SetWriteDeadline(deadline)
	err = ws.WriteMessage(websocket.TextMessage, []byte("2probe"))
	var typ int
	var data []byte
	if err == nil {
		_ = ws.SetReadDeadline(deadline)
		typ, data, err = ws.ReadMessage()
		_ = ws.SetReadDeadline(time.Time{})
	}
	ok := err == nil && typ == websocket.TextMessage && string(data) == "3probe"

	e.mu.Lock()
	e.probing = nil
	if !ok || e.closed || e.closing {
		e.mu.Unlock()
		_ = ws.Close()
		e.log.Debug("upgrade failed", "err", err)
		return
	}
	e.probed = ws
	e.mu.Unlock()
	close(e.pause)
	e.notify()
}
