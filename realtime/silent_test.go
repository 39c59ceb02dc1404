package realtime_test

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vicinity-go/vicinity/realtime"
	"github.com/vicinity-go/vicinity/transport"
)

// proxy forwards TCP connections to a server until frozen: then it stops
// forwarding bytes, in both directions, without closing anything, as a
// network that vanishes does (no FIN, no RST).
type proxy struct {
	ln     net.Listener
	target string
	frozen chan struct{}
	once   sync.Once
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{ln: ln, target: target, frozen: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, s)
		go p.pipe(s, c)
	}
}

// pipe copies src to dst until either fails or the proxy freezes, after
// which what arrives is held back and never delivered.
func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-p.frozen:
			_, _ = io.Copy(io.Discard, src) // swallow until closed
			return
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *proxy) freeze() { p.once.Do(func() { close(p.frozen) }) }

func (p *proxy) close() {
	p.freeze()
	_ = p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// A peer whose network vanishes (no FIN) is found by the ping timeout, and
// its leave reaches the room then.
func TestPresenceSilentPeerLeaves(t *testing.T) {
	t.Parallel()
	reasons := make(chan string, 4)
	srv := presenceServer(t, realtime.WithTransportOptions(
		transport.WithPingInterval(50*time.Millisecond),
		transport.WithPingTimeout(100*time.Millisecond),
	))
	srv.OnConnection(func(s *realtime.Socket) {
		s.OnDisconnect(func(_ *realtime.Socket, reason string) { reasons <- reason })
	})
	ts := serve(t, srv)
	p := newProxy(t, strings.TrimPrefix(ts.URL, "http://"))

	ann := dialRaw(t, ts)
	ann.connect("/", `{"user":"ann"}`)
	ann.joinLobby()

	bob := dialRawURL(t, "ws://"+p.ln.Addr().String())
	bob.connect("/", `{"user":"bob"}`)
	bob.joinLobby()
	assert.Contains(t, ann.nextPresence().Joins, "bob")

	p.freeze()
	d := ann.nextPresence()
	assert.Contains(t, d.Leaves, "bob", "bob's leave after the ping timeout")
	assert.Equal(t, transport.ReasonPingTimeout, recv(t, reasons))
}

// dialRawURL is dialRaw to a server at base (ws://host:port).
func dialRawURL(t testing.TB, base string) *raw {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(base+"/socket.io/?EIO=4&transport=websocket", nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ws.Close() })
	r := &raw{t: t, ws: ws}
	require.True(t, strings.HasPrefix(r.next(), `0{"sid":"`))
	return r
}

// BenchmarkPresenceLeaveLatency measures how long after a client closes its
// connection (a tab closed: the kernel sends FIN) the other members of its
// room get its leave: ns/leave is that time, over loopback, for WebSocket
// clients with the default heartbeat (no timer is involved).
func BenchmarkPresenceLeaveLatency(b *testing.B) {
	ts := serve(b, presenceServer(b))
	ann := dialRaw(b, ts)
	ann.connect("/", `{"user":"ann"}`)
	ann.joinLobby()
	var total time.Duration
	for b.Loop() {
		bob := dialRaw(b, ts)
		bob.connect("/", `{"user":"bob"}`)
		bob.joinLobby()
		if d := ann.nextPresence(); d.Joins["bob"] == nil {
			b.Fatalf("expected bob's join, got %+v", d)
		}
		start := time.Now()
		_ = bob.ws.Close()
		d := ann.nextPresence()
		total += time.Since(start)
		if _, ok := d.Leaves["bob"]; !ok {
			b.Fatalf("expected bob's leave, got %+v", d)
		}
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/leave")
}
