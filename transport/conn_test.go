package transport

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/internal/eio"
)

// fakeTransport is a Transport that serves nothing: tests drive its Conn
// directly.
type fakeTransport struct {
	name       string
	upgradable bool
}

func (f *fakeTransport) Name() string                                          { return f.name }
func (f *fakeTransport) Upgradable() bool                                      { return f.upgradable }
func (f *fakeTransport) Serve(http.ResponseWriter, *http.Request, *Conn, Mode) {}

// newTestConn returns a Conn on transport a of a server that also offers b,
// with no heartbeat running.
func newTestConn(tb testing.TB, opts ...Option) (c *Conn, a, b *fakeTransport) {
	tb.Helper()
	a, b = &fakeTransport{name: "a"}, &fakeTransport{name: "b", upgradable: true}
	opts = append([]Option{WithTransports(a, b)}, opts...)
	srv := NewServer(func(*Conn) Receiver { return nopReceiver{} }, opts...)
	c = newConn(srv, a, httptest.NewRequest(http.MethodGet, "/?EIO=4", nil), "sid")
	c.setReceiver(nopReceiver{})
	return c, a, b
}

func msg(s string) Packet { return Message([]byte(s), false) }

func TestConnNext(t *testing.T) {
	t.Parallel()
	noop := []Packet{{Type: eio.Noop}}
	tests := []struct {
		name  string
		setup func(c *Conn, a, b *fakeTransport)
		other bool // Next is called by the other transport
		want  []Packet
		err   error
	}{
		{"queued", func(c *Conn, _, _ *fakeTransport) { c.Send(false, msg("x"), msg("y")) }, false, []Packet{msg("x"), msg("y")}, nil},
		{"queued before upgrade", func(c *Conn, _, b *fakeTransport) {
			c.Send(false, msg("x"))
			c.BeginUpgrade(b)
		}, false, []Packet{msg("x")}, nil},
		{"upgrading", func(c *Conn, _, b *fakeTransport) { c.BeginUpgrade(b) }, false, noop, nil},
		{"upgraded", func(c *Conn, _, b *fakeTransport) {
			c.Send(false, msg("x"))
			c.BeginUpgrade(b)
			c.CompleteUpgrade(b, func() {})
		}, false, noop, nil},
		{"new transport takes the queue", func(c *Conn, _, b *fakeTransport) {
			c.Send(false, msg("x"))
			c.BeginUpgrade(b)
			c.CompleteUpgrade(b, func() {})
		}, true, []Packet{msg("x")}, nil},
		{"upgrade cancelled", func(c *Conn, _, b *fakeTransport) {
			c.BeginUpgrade(b)
			c.CancelUpgrade()
			c.Send(false, msg("x"))
		}, false, []Packet{msg("x")}, nil},
		{"closed gracefully: the last packets first", func(c *Conn, _, _ *fakeTransport) {
			c.Send(false, msg("x"))
			c.Close()
		}, false, []Packet{msg("x")}, nil},
		{"closed gracefully: then the close", func(c *Conn, a, _ *fakeTransport) {
			c.Send(false, msg("x"))
			c.Close()
			_, _ = c.Next(context.Background(), a, nil)
		}, false, nil, ErrClosed},
		{"closed hard", func(c *Conn, _, _ *fakeTransport) {
			c.Send(false, msg("x"))
			c.CloseWithReason("r", false)
		}, false, nil, ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, a, b := newTestConn(t)
			tt.setup(c, a, b)
			var tr Transport = a
			if tt.other {
				tr = b
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			got, err := c.Next(ctx, tr, nil)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.err, err)
		})
	}
}

func TestConnNextWaits(t *testing.T) {
	t.Parallel()
	c, a, _ := newTestConn(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got, err := c.Next(ctx, a, nil)
	assert.Empty(t, got)
	assert.ErrorIs(t, err, context.Canceled)

	res := make(chan []Packet, 1)
	go func() {
		got, _ := c.Next(context.Background(), a, nil)
		res <- got
	}()
	require.True(t, c.Send(false, msg("woken")))
	select {
	case got := <-res:
		assert.Equal(t, []Packet{msg("woken")}, got)
	case <-time.After(5 * time.Second):
		require.FailNow(t, "Next was not woken by Send")
	}
}

func TestConnUpgradeRules(t *testing.T) {
	t.Parallel()
	c, a, b := newTestConn(t)
	assert.False(t, c.BeginUpgrade(a), "to the current transport")
	assert.False(t, c.CompleteUpgrade(b, func() {}), "without BeginUpgrade")
	assert.True(t, c.BeginUpgrade(b))
	assert.False(t, c.BeginUpgrade(b), "twice")
	assert.True(t, c.CompleteUpgrade(b, func() {}))
	assert.Equal(t, "b", c.Transport())

	c2, _, b2 := newTestConn(t)
	require.True(t, c2.BeginUpgrade(b2))
	c2.Close()
	assert.True(t, c2.CompleteUpgrade(b2, func() {}), "after a graceful close: the new transport writes the last packets")
	assert.False(t, c2.BeginUpgrade(b2), "after close")

	c3, _, b3 := newTestConn(t)
	require.True(t, c3.BeginUpgrade(b3))
	c3.CloseWithReason("r", false)
	assert.False(t, c3.CompleteUpgrade(b3, func() {}), "after a hard close")
}

// A poll that claims its slot after the upgrade has completed is refused,
// however late the server looked at the session's transport.
func TestConnBeginPoll(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(c *Conn, a, b *fakeTransport)
		post  bool
		want  error
	}{
		{"free", func(*Conn, *fakeTransport, *fakeTransport) {}, false, nil},
		{"GET taken", func(c *Conn, a, _ *fakeTransport) { require.NoError(t, c.BeginPoll(a, false)) }, false, ErrOverlap},
		{"POST beside a GET", func(c *Conn, a, _ *fakeTransport) { require.NoError(t, c.BeginPoll(a, false)) }, true, nil},
		{"POST taken", func(c *Conn, a, _ *fakeTransport) { require.NoError(t, c.BeginPoll(a, true)) }, true, ErrOverlap},
		{"released", func(c *Conn, a, _ *fakeTransport) {
			require.NoError(t, c.BeginPoll(a, false))
			c.EndPoll(false)
		}, false, nil},
		{"upgrading", func(c *Conn, _, b *fakeTransport) { require.True(t, c.BeginUpgrade(b)) }, true, nil},
		{"upgraded", func(c *Conn, _, b *fakeTransport) {
			require.True(t, c.BeginUpgrade(b))
			require.True(t, c.CompleteUpgrade(b, func() {}))
		}, false, ErrMoved},
		{"upgraded, POST", func(c *Conn, _, b *fakeTransport) {
			require.True(t, c.BeginUpgrade(b))
			require.True(t, c.CompleteUpgrade(b, func() {}))
		}, true, ErrMoved},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, a, b := newTestConn(t)
			tt.setup(c, a, b)
			assert.ErrorIs(t, c.BeginPoll(a, tt.post), tt.want)
		})
	}
}

func TestConnSetAbort(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		close func(c *Conn)
		want  int // abort calls
	}{
		{"open", func(*Conn) {}, 0},
		{"closed gracefully", func(c *Conn) { c.Close() }, 0},
		{"closed hard", func(c *Conn) { c.CloseWithReason("r", false) }, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, _, _ := newTestConn(t)
			tt.close(c)
			calls := 0
			c.SetAbort(func() { calls++ })
			assert.Equal(t, tt.want, calls)
		})
	}
}

func BenchmarkConnSend(b *testing.B) {
	for _, n := range []int{1, 16} {
		b.Run(fmt.Sprintf("packets=%d", n), func(b *testing.B) {
			c, a, _ := newTestConn(b)
			pkts := make([]Packet, n)
			for i := range pkts {
				pkts[i] = Message([]byte(`42["move",{"lat":48.8566,"lng":2.3522}]`), false)
			}
			ctx := context.Background()
			buf := make([]Packet, 0, n)
			b.ReportAllocs()
			for b.Loop() {
				if !c.Send(false, pkts...) {
					b.Fatal("Send refused")
				}
				var err error
				if buf, err = c.Next(ctx, a, buf[:0]); err != nil || len(buf) != n {
					b.Fatalf("Next: %d packets, %v", len(buf), err)
				}
			}
		})
	}
}

// SendLatest keeps one packet per key until the writer takes it: a slow
// client gets the newest value, in the place of the first.
func TestConnSendLatest(t *testing.T) {
	t.Parallel()
	c, a, _ := newTestConn(t, WithSendQueue(4, 1<<20))
	ctx := context.Background()
	require.True(t, c.SendLatest("bob", msg("bob@1")))
	require.True(t, c.Send(false, msg("chat")))
	require.True(t, c.SendLatest("ann", msg("ann@1")))
	require.True(t, c.SendLatest("bob", msg("bob@2")))
	require.True(t, c.SendLatest("bob", msg("bob@3-longer")))
	got, err := c.Next(ctx, a, nil)
	require.NoError(t, err)
	assert.Equal(t, []Packet{msg("bob@3-longer"), msg("chat"), msg("ann@1")}, got)

	// after the writer took them, the key starts afresh
	require.True(t, c.SendLatest("bob", msg("bob@4")))
	got, err = c.Next(ctx, a, nil)
	require.NoError(t, err)
	assert.Equal(t, []Packet{msg("bob@4")}, got)

	// a full queue drops the update and keeps the connection
	for i := range 4 {
		require.True(t, c.Send(false, msg(fmt.Sprint(i))))
	}
	assert.False(t, c.SendLatest("carl", msg("carl@1")))
	assert.Empty(t, c.Reason(), "still open")
	assert.True(t, c.SendLatest("x", msg("")) == false)
}

// DropLatest takes back a packet not taken yet: a position made stale by
// the packet that follows is never written.
func TestConnDropLatest(t *testing.T) {
	t.Parallel()
	c, a, _ := newTestConn(t, WithSendQueue(4, 1<<20))
	ctx := context.Background()
	require.True(t, c.SendLatest("bob", msg("bob@1")))
	require.True(t, c.Send(false, msg("chat")))
	assert.True(t, c.DropLatest("bob"))
	assert.False(t, c.DropLatest("bob"), "once")
	assert.False(t, c.DropLatest("ann"), "nothing under the key")
	require.True(t, c.Send(false, msg("bob left")))
	require.True(t, c.SendLatest("bob", msg("bob@2")))
	got, err := c.Next(ctx, a, nil)
	require.NoError(t, err)
	assert.Equal(t, []Packet{msg("chat"), msg("bob left"), msg("bob@2")}, got)
	require.True(t, c.SendLatest("bob", msg("bob@3")))
	got, err = c.Next(ctx, a, nil)
	require.NoError(t, err)
	assert.Equal(t, []Packet{msg("bob@3")}, got)
	assert.False(t, c.DropLatest("bob"), "taken already")

	// A queue of nothing but taken-back packets is an empty queue: a poll
	// waits rather than answering nothing.
	require.True(t, c.SendLatest("bob", msg("bob@4")))
	require.True(t, c.DropLatest("bob"))
	ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	got, err = c.Next(ctx, a, nil)
	assert.Empty(t, got)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func BenchmarkConnSendLatest(b *testing.B) {
	c, a, _ := newTestConn(b)
	keys := []string{"a", "b", "c", "d"}
	var buf []Packet
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		for range 16 {
			c.SendLatest(keys[i%len(keys)], msg("pos"))
			i++
		}
		buf, _ = c.Next(context.Background(), a, buf[:0])
	}
}
