package client_test

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/client"
	"github.com/vicinity-go/vicinity/realtime"
)

// wait bounds every wait for something the other side is expected to do.
const wait = 5 * time.Second

// transports are the ways a client can reach the server.
var transports = []struct {
	name string
	opts []client.Option
	want string // the transport in use once settled
}{
	{name: "polling+upgrade", want: client.WebSocket},
	{name: "websocket", opts: []client.Option{client.WithTransports(client.WebSocket)}, want: client.WebSocket},
	{name: "polling", opts: []client.Option{client.WithTransports(client.Polling)}, want: client.Polling},
}

// fast makes reconnection quick, for tests.
var fast = []client.Option{client.WithReconnectionDelay(5*time.Millisecond, 20*time.Millisecond)}

// serve starts a realtime server on 127.0.0.1; it is closed when the test
// ends, after the clients the test made later.
func serve(t testing.TB, opts ...realtime.Option) (*realtime.Server, *httptest.Server) {
	t.Helper()
	srv := realtime.New(opts...)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	t.Cleanup(func() { _ = srv.Close() })
	return srv, ts
}

// manager makes a manager for ts, closed when the test ends.
func manager(t *testing.T, ts *httptest.Server, opts ...client.Option) *client.Manager {
	t.Helper()
	m := client.New(ts.URL, opts...)
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// connect connects s and fails the test if it cannot.
func connect(t *testing.T, s *client.Socket) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, s.Connect(ctx), "connect %s", s.Namespace())
}

func ctxWait(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// recv waits for a value on ch.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		require.FailNow(t, "timed out waiting for "+what)
		var zero T
		return zero
	}
}

// network is a dial hook that records the client's connections, so that a
// test can drop them, silence them, or refuse new ones.
type network struct {
	mu     sync.Mutex
	conns  []*hookConn
	refuse atomic.Bool
}

func (n *network) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if n.refuse.Load() {
		return nil, errors.New("test: network down")
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	hc := &hookConn{Conn: c, closed: make(chan struct{})}
	n.mu.Lock()
	n.conns = append(n.conns, hc)
	n.mu.Unlock()
	return hc, nil
}

// option returns the client option that dials through n.
func (n *network) option() client.Option { return client.WithDialContext(n.dial) }

// drop closes every connection made so far.
func (n *network) drop() {
	n.mu.Lock()
	conns := n.conns
	n.conns = nil
	n.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// silence makes every connection made so far a silent peer: reads block,
// writes vanish, as when a network path dies without a FIN or RST.
func (n *network) silence() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.conns {
		c.silent.Store(true)
	}
}

type hookConn struct {
	net.Conn
	silent atomic.Bool
	once   sync.Once
	closed chan struct{}
}

func (c *hookConn) Read(p []byte) (int, error) {
	if c.silent.Load() {
		<-c.closed
		return 0, net.ErrClosed
	}
	n, err := c.Conn.Read(p)
	if c.silent.Load() {
		<-c.closed
		return 0, net.ErrClosed
	}
	return n, err
}

func (c *hookConn) Write(p []byte) (int, error) {
	if c.silent.Load() {
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *hookConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// dropUntil drops the client's connections until it notices: a polling
// client between two requests does not, as its HTTP client retries the
// next one on a new connection.
func dropUntil(t *testing.T, drop func(), noticed func() bool) {
	t.Helper()
	for deadline := time.Now().Add(wait); time.Now().Before(deadline); {
		drop()
		for range 200 {
			if noticed() {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	require.FailNow(t, "the client did not notice the drop")
}

// refuser returns the URL of a server that closes every connection at once.
func refuser(t *testing.T) string {
	t.Helper()
	return serveTCP(t, func(c net.Conn) { _ = c.Close() })
}

// serveTCP returns the URL of a server on 127.0.0.1 that hands each
// connection to handle, on its accept loop; it stops when the test ends.
func serveTCP(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			handle(c)
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		<-done
	})
	return "http://" + l.Addr().String()
}
