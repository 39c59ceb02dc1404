// Package polling implements the Engine.IO HTTP long-polling transport.
//
// A client reads with GET requests, each held open until there is something
// to send, and writes with POST requests; both carry payloads of packets
// separated by 0x1e. At most one GET and one POST may be in flight per
// session: a second one gets an empty HTTP 400 and closes the session, as
// with the Node.js server; so does a POST of binary content
// (application/octet-stream) on protocol 4. A POST that is malformed, or
// holds a text packet that is not valid UTF-8, gets HTTP 400 and closes the
// session with [transport.ReasonParseError]; the packets before the bad one
// have been delivered, the bad one never is. A request stops being in flight once its answer is
// decided, before it is written, so a client that sends the next request
// as soon as it has read an answer is never refused. A GET whose client
// goes away while it is pending closes the session with
// [transport.ReasonTransportError]. The transport has no goroutine of its
// own: the GET handler drains the session's queue and the POST handler
// decodes on the request's goroutine.
package polling

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/vicinity-go/vicinity/internal/eio"
	"github.com/vicinity-go/vicinity/transport"
	"github.com/vicinity-go/vicinity/transport/internal/eio3"
)

// Name is the transport's query parameter value.
const Name = "polling"

// maxPacketsPerPayload bounds how many packets one POST may carry.
const maxPacketsPerPayload = 1024

// Transport is the long-polling transport. The zero value is ready to use.
type Transport struct{}

// New returns the long-polling transport.
func New() *Transport { return &Transport{} }

// Name returns "polling".
func (*Transport) Name() string { return Name }

// Upgradable returns false: sessions upgrade from polling, never to it.
func (*Transport) Upgradable() bool { return false }

// Serve handles a handshake, a GET or a POST.
func (t *Transport) Serve(w http.ResponseWriter, r *http.Request, c *transport.Conn, mode transport.Mode) {
	switch {
	case mode == transport.ModeOpen:
		writePayload(w, c, []transport.Packet{c.OpenPacket(t)})
	case mode != transport.ModeRequest:
		transport.WriteError(w, transport.CodeBadRequest, "")
	case r.Method == http.MethodGet:
		t.get(w, r, c)
	case r.Method == http.MethodPost:
		t.post(w, r, c)
	default: // as Node
		w.WriteHeader(http.StatusInternalServerError)
	}
}

// begin claims c's GET or POST slot for a request, or answers it. A second
// request of a kind gets an empty 400 and closes the session, as Node's
// "overlap from client"; a request that raced an upgrade gets 400 "Bad
// request", as it would have had it come a moment later.
func (t *Transport) begin(w http.ResponseWriter, c *transport.Conn, post bool) bool {
	switch err := c.BeginPoll(t, post); {
	case errors.Is(err, transport.ErrOverlap):
		w.WriteHeader(http.StatusBadRequest)
		c.Fail(transport.ReasonTransportError)
		return false
	case err != nil: // the session upgraded since the server looked
		transport.WriteError(w, transport.CodeBadRequest, "")
		return false
	}
	return true
}

func (t *Transport) get(w http.ResponseWriter, r *http.Request, c *transport.Conn) {
	if !t.begin(w, c, false) {
		return
	}
	closedBefore := c.Reason() != ""
	pkts, err := c.Next(r.Context(), t, nil)
	// The slot is free before the first byte goes out: a client sends its
	// next GET as soon as it has read this one, which can be before this
	// handler returns when the body is too large to be buffered.
	c.EndPoll(false)
	switch {
	case errors.Is(err, transport.ErrClosed) && c.Reason() == transport.ReasonTransportClose:
		// The client's close packet (a POST) ended the session: as Node,
		// the pending poll ends with a noop.
		pkts = append(pkts, transport.Packet{Type: eio.Noop})
	case errors.Is(err, transport.ErrClosed) && closedBefore:
		// A poll that comes for the close packet of a session closed
		// gracefully: Node answers with a noop and the close packet.
		pkts = append(pkts, transport.Packet{Type: eio.Noop}, transport.Packet{Type: eio.Close})
	case errors.Is(err, transport.ErrClosed):
		pkts = append(pkts, transport.Packet{Type: eio.Close})
	case err != nil:
		// The client went away with the poll pending: as Node's "poll
		// connection closed prematurely", a transport error.
		c.Fail(transport.ReasonTransportError)
		return
	}
	writePayload(w, c, pkts)
}

// writePayload answers a GET with pkts. The write gets the server's write
// timeout, counted from now: a GET waits up to a ping interval, so the
// deadline an [http.Server] set when the request arrived may have passed.
func writePayload(w http.ResponseWriter, c *transport.Conn, pkts []transport.Packet) {
	buf, contentType := encode(c, pkts)
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(buf)))
	h.Set("Cache-Control", "no-store")
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(c.Server().WriteTimeout()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf)
}

// encode frames pkts for c's protocol: a v4 payload; a v3 text payload;
// or, for a v3 client that takes binary data (no b64) when a packet is
// binary, a v3 binary payload.
func encode(c *transport.Conn, pkts []transport.Packet) ([]byte, string) {
	if c.Protocol() == 4 {
		n := 0
		for _, p := range pkts {
			n += 1 + eio.PayloadLen(p)
		}
		buf := make([]byte, 0, n)
		for _, p := range pkts {
			buf = eio.AppendPayload(buf, p)
		}
		return buf, textType
	}
	n, binary := 0, false
	for _, p := range pkts {
		n += eio3.PayloadLen(p)
		binary = binary || p.Binary
	}
	buf := make([]byte, 0, n)
	if binary && !c.Base64() {
		for _, p := range pkts {
			buf = eio3.AppendBinaryPayload(buf, p)
		}
		return buf, binaryType
	}
	for _, p := range pkts {
		buf = eio3.AppendPayload(buf, p)
	}
	return buf, textType
}

const (
	textType   = "text/plain; charset=UTF-8"
	binaryType = "application/octet-stream"
)

func (t *Transport) post(w http.ResponseWriter, r *http.Request, c *transport.Conn) {
	if c.Protocol() == 4 && r.Header.Get("Content-Type") == binaryType {
		// Only Engine.IO v3 payloads may be binary: as Node, "invalid
		// content".
		w.WriteHeader(http.StatusBadRequest)
		c.Fail(transport.ReasonTransportError)
		return
	}
	if !t.begin(w, c, true) {
		return
	}
	switch err := receive(w, r, c); {
	case err == nil, errors.Is(err, transport.ErrClosed):
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "ok")
	case errors.Is(err, errTooLarge):
		http.Error(w, "payload too large", http.StatusRequestEntityTooLarge)
		c.Fail(transport.ReasonTransportError)
	case errors.Is(err, errRead):
		transport.WriteError(w, transport.CodeBadRequest, "")
		c.Fail(transport.ReasonTransportError)
	default:
		c.CloseWithReason(transport.ReasonParseError, false)
		transport.WriteError(w, transport.CodeBadRequest, "bad payload")
	}
}

var (
	errTooLarge = errors.New("polling: payload too large")
	errRead     = errors.New("polling: reading the payload")
)

// receive reads a POST's payload and hands its packets to c. It holds the
// POST slot and frees it before the answer is written: a client may send
// its next POST as soon as it sees the answer, before the handler returns.
//
// A body still arriving when the session closes (a client that stalls its
// POST, then times out) is cut off at once by a read deadline, so that the
// request's goroutine does not outlive its session.
func receive(w http.ResponseWriter, r *http.Request, c *transport.Conn) error {
	defer c.EndPoll(true)
	limit := c.Server().MaxPayload()
	if r.ContentLength > int64(limit) {
		return errTooLarge
	}
	body, err := readBody(w, r, c, limit)
	switch {
	case err != nil:
		return errRead
	case len(body) > limit:
		return errTooLarge
	}
	if c.Protocol() == 3 {
		binary := r.Header.Get("Content-Type") == binaryType
		return eio3.DecodePayload(body, binary, maxPacketsPerPayload, c.Receive)
	}
	return eio.DecodePayload(body, maxPacketsPerPayload, c.Receive)
}

// readBody reads up to limit+1 bytes of r's body. If c closes meanwhile,
// a read deadline cuts the read off. Only the read: a session that the
// payload itself closes (its close packet, say) must not leave a deadline
// on the network connection, which would fail its next request.
func readBody(w http.ResponseWriter, r *http.Request, c *transport.Conn, limit int) ([]byte, error) {
	rc := http.NewResponseController(w)
	var mu sync.Mutex
	reading := true
	stop := context.AfterFunc(c.Context(), func() {
		mu.Lock()
		defer mu.Unlock()
		if reading {
			_ = rc.SetReadDeadline(time.Now())
		}
	})
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if !stop() {
		mu.Lock()
		reading = false
		mu.Unlock()
		if err == nil {
			// The session closed just as the body was complete: the
			// deadline must not fail the connection's next request. (A
			// read it cut off leaves it, so that net/http gives up the
			// rest of the body at once and answers.)
			_ = rc.SetReadDeadline(time.Time{})
		}
	}
	return body, err
}
