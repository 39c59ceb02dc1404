package transport_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/transport"
)

// appReceiver is a Receiver like an application's: its OnClose takes the
// lock the application holds around its sends, and it records whether
// OnClose ever ran while an OnMessage call was in progress.
type appReceiver struct {
	appMu     *sync.Mutex
	inMessage atomic.Bool
	overlap   atomic.Bool
	entered   chan string   // receives each message as OnMessage begins
	release   chan struct{} // OnMessage of "block" waits for it
	onClose   chan struct{} // if non-nil, OnClose waits for it
	closes    chan string
}

func newAppReceiver() *appReceiver {
	return &appReceiver{
		appMu:   new(sync.Mutex),
		entered: make(chan string, 16),
		release: make(chan struct{}),
		closes:  make(chan string, 1),
	}
}

func (r *appReceiver) OnMessage(data []byte, _ bool) {
	r.inMessage.Store(true)
	defer r.inMessage.Store(false)
	r.entered <- string(data)
	if string(data) == "block" {
		<-r.release
	}
}

func (r *appReceiver) OnClose(reason string) {
	if r.inMessage.Load() {
		r.overlap.Store(true)
	}
	r.appMu.Lock()
	defer r.appMu.Unlock()
	if r.onClose != nil {
		<-r.onClose
	}
	select {
	case r.closes <- reason:
	default:
		panic("appReceiver: OnClose called twice")
	}
}

// openApp opens a polling session whose Receiver is r.
func openApp(t *testing.T, h *harness, r *appReceiver) (sid string, conn *transport.Conn) {
	t.Helper()
	conns := make(chan *transport.Conn, 1)
	h.onOpen = func(c *transport.Conn) transport.Receiver {
		conns <- c
		return r
	}
	res := h.do(context.Background(), http.MethodGet, "EIO=4&transport=polling", nil, nil)
	require.NoError(t, res.err)
	require.Equal(t, http.StatusOK, res.status, "handshake: %s", res.body)
	return parseOpen(t, res.body).SID, <-conns
}

func recvWithin(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(wait):
		require.FailNow(t, "OnClose not called")
		return ""
	}
}

// A Send that overflows the queue, made by a goroutine holding a lock that
// OnClose takes (an application sending under its own mutex), returns: the
// Receiver's OnClose runs later, on another goroutine.
func TestOnCloseNotOnSendersStack(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.WithSendQueue(1, 1<<20))
	r := newAppReceiver()
	_, conn := openApp(t, h, r)

	sent := make(chan bool, 1)
	go func() {
		r.appMu.Lock()
		defer r.appMu.Unlock()
		conn.Send(false, transport.Message([]byte("a"), false))
		sent <- conn.Send(false, transport.Message([]byte("b"), false))
	}()
	select {
	case ok := <-sent:
		assert.False(t, ok, "the overflowing send")
	case <-time.After(wait):
		require.FailNow(t, "Send deadlocked: OnClose ran on the sender's stack")
	}
	assert.Equal(t, transport.ReasonSlowClient, recvWithin(t, r.closes))
	assert.False(t, r.overlap.Load())
}

// OnClose waits for an OnMessage call in progress, whoever closes the
// connection meanwhile, and no message is delivered after it.
func TestOnCloseAfterOnMessage(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		close func(c *transport.Conn)
	}{
		{"CloseWithReason", func(c *transport.Conn) { c.CloseWithReason("kicked", false) }},
		{"Close", func(c *transport.Conn) { c.Close() }},
		{"overflow", func(c *transport.Conn) {
			big := transport.Message([]byte(strings.Repeat("x", 100)), false)
			c.Send(false, big)
			c.Send(false, big)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, transport.WithSendQueue(1, 10))
			r := newAppReceiver()
			sid, conn := openApp(t, h, r)

			posted := make(chan response, 1)
			go func() {
				posted <- h.do(context.Background(), http.MethodPost, query(sid), strings.NewReader("4block\x1e4after"), nil)
			}()
			require.Equal(t, "block", recvWithin(t, r.entered), "OnMessage")
			tt.close(conn) // while OnMessage runs
			select {
			case reason := <-r.closes:
				assert.Fail(t, "OnClose during OnMessage", "reason %q", reason)
			default:
			}
			close(r.release)
			reason := recvWithin(t, r.closes)
			assert.NotEmpty(t, reason)
			assert.False(t, r.overlap.Load(), "OnClose overlapped OnMessage")
			res := <-posted
			require.NoError(t, res.err)
			select {
			case m := <-r.entered:
				assert.Fail(t, "message delivered after close", "%q", m)
			default:
			}
		})
	}
}

// Shutdown waits for the Receivers' OnClose calls to return.
func TestShutdownWaitsForOnClose(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := newAppReceiver()
	r.onClose = make(chan struct{})
	sid, conn := openApp(t, h, r)
	pending := h.getAsync(context.Background(), sid)
	require.Eventually(t, func() bool { return transport.Polling(conn) }, wait, time.Millisecond, "GET not pending")

	shut := make(chan error, 1)
	go func() { shut <- h.eng.Shutdown(context.Background()) }()
	res := <-pending
	require.NoError(t, res.err)
	assert.Equal(t, "1", res.body, "the close packet")
	require.Eventually(t, func() bool { return h.eng.Len() == 0 }, wait, time.Millisecond)
	select {
	case err := <-shut:
		require.FailNow(t, "Shutdown returned while OnClose ran", "err %v", err)
	default:
	}
	close(r.onClose)
	assert.Equal(t, transport.ReasonServerShutdown, recvWithin(t, r.closes))
	select {
	case err := <-shut:
		require.NoError(t, err)
	case <-time.After(wait):
		require.FailNow(t, "Shutdown did not return")
	}
}
