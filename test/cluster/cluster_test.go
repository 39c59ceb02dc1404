package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vicinity-go/vicinity/cluster/redis"
	"github.com/vicinity-go/vicinity/internal/nodetest"
	"github.com/vicinity-go/vicinity/internal/redistest"
	"github.com/vicinity-go/vicinity/realtime"
)

// childEnv, set to a Redis address, makes the test binary a vicinity
// server of that Redis instead of running the tests (see startChild).
const childEnv = "VICINITY_CLUSTER_CHILD_REDIS"

// TestMain fails the run if a goroutine of the servers outlives the tests.
func TestMain(m *testing.M) {
	if addr := os.Getenv(childEnv); addr != "" {
		os.Exit(runChild(addr))
	}
	goleak.VerifyTestMain(m)
}

// runChild runs the vicinity server C on the Redis at addr, printing its
// URL, until its stdin closes.
func runChild(addr string) int {
	v, err := newVicinity(addr, "C")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(v.url)
	_, _ = io.Copy(io.Discard, os.Stdin)
	v.close()
	return 0
}

// requestTimeout is every server's: vicinity's WithRequestTimeout, Node's
// requestsTimeout (in peer.mjs).
const requestTimeout = 2 * time.Second

// vicinity is a vicinity server of the cluster, with its own Redis client.
// Its sockets of namespaces / and /other take socket.data from the auth
// payload's "data" and join the rooms they ask for with "join"; its
// namespaces answer the server-side events "ready" and "hello" with
// {"from": name}, and report the first argument of each "hello" on sse.
type vicinity struct {
	name string
	srv  *realtime.Server
	rc   rueidis.Client
	http *httptest.Server
	url  string
	sse  chan string
}

// newVicinity starts a vicinity server on the Redis at addr.
func newVicinity(addr, name string) (*vicinity, error) {
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		return nil, err
	}
	v := &vicinity{name: name, rc: rc, sse: make(chan string, 16)}
	v.srv = realtime.New(realtime.WithAdapter(redis.NewAdapter(rc,
		redis.WithRequestTimeout(requestTimeout),
		// a server stopped mid-request stays counted (TestServerKilledMidRequest)
		redis.WithHeartbeat(500*time.Millisecond, 10*time.Second),
		redis.WithLogger(slog.New(slog.DiscardHandler)),
	)))
	from := map[string]string{"from": name}
	for _, nsp := range []*realtime.Namespace{v.srv.Of("/"), v.srv.Of("/other")} {
		nsp.OnConnection(func(s *realtime.Socket) {
			var auth struct {
				Data any `json:"data"`
			}
			if json.Unmarshal(s.Handshake().Auth, &auth) == nil && auth.Data != nil {
				s.SetData(auth.Data)
			}
			s.On("join", func(e *realtime.Event) {
				var rooms []string
				_ = e.Bind(&rooms)
				_ = e.AckResult(s.Join(rooms...))
			})
		})
		nsp.OnServerSideEmit("ready", func(e *realtime.ServerEvent) { _ = e.Ack(from) })
		nsp.OnServerSideEmit("hello", func(e *realtime.ServerEvent) {
			var arg string
			_ = e.Bind(&arg)
			select {
			case v.sse <- arg:
			default: // not a test's to see
			}
			if e.WantsAck() {
				_ = e.Ack(from)
			}
		})
	}
	v.http = httptest.NewServer(v.srv) // 127.0.0.1
	v.url = v.http.URL
	return v, nil
}

// close shuts the server down and closes its Redis client.
func (v *vicinity) close() {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_ = v.srv.Shutdown(ctx)
	v.http.Close()
	v.rc.Close()
}

// startVicinity starts a vicinity server for the test.
func startVicinity(t *testing.T, addr, name string) *vicinity {
	t.Helper()
	v, err := newVicinity(addr, name)
	require.NoError(t, err)
	t.Cleanup(v.close)
	return v
}

// helloFrom waits for the first argument of a "hello" server-side event.
func (v *vicinity) helloFrom(t *testing.T) string {
	t.Helper()
	select {
	case arg := <-v.sse:
		return arg
	case <-time.After(wait):
		t.Fatalf("vicinity %s got no server-side event", v.name)
		return ""
	}
}

// cluster is what a test runs on: a Redis, two vicinity servers A and B,
// and the Node.js peer (a Socket.IO server with @socket.io/redis-adapter,
// and the official clients).
type cluster struct {
	redis  *redistest.Server
	a, b   *vicinity
	node   *peer
	nodeJS string // node's path
}

// start starts a cluster and waits until its servers know each other.
func start(t *testing.T) *cluster {
	t.Helper()
	node := nodetest.Require(t, ".", "socket.io", "socket.io-client",
		"@socket.io/redis-adapter", "@socket.io/redis-emitter", "redis")
	rs := redistest.Start(t)
	c := &cluster{redis: rs, nodeJS: node}
	c.a = startVicinity(t, rs.Addr(), "A")
	c.b = startVicinity(t, rs.Addr(), "B")
	c.node = startPeer(t, node, rs.URL())
	c.waitReady(t, 2, c.a, c.b)
	return c
}

// waitReady waits until the server-side emits of each of vs and of the
// Node server are answered by all the other servers: n vicinity servers
// (vs among them) and the Node server.
func (c *cluster) waitReady(t *testing.T, n int, vs ...*vicinity) {
	t.Helper()
	for _, v := range vs {
		require.Eventually(t, func() bool {
			ctx, cancel := context.WithTimeout(t.Context(), requestTimeout)
			defer cancel()
			got, err := v.srv.Of("/").ServerSideEmitWithAck(ctx, "ready")
			return err == nil && len(got) == n
		}, startTimeout, 20*time.Millisecond, "vicinity %s does not hear every server", v.name)
	}
	require.Eventually(t, func() bool {
		var got []any
		raw, err := c.node.do("serverSideEmitWithAck", map[string]any{"event": "ready"})
		return err == nil && json.Unmarshal(raw, &got) == nil && len(got) == n
	}, startTimeout, 20*time.Millisecond, "the Node server does not hear every server")
}

// connect connects an official socket.io-client socket named name to
// url (a server's, with the namespace's path for another than /), with
// socket.data {"name": name}, in rooms; it returns the socket's id.
func (c *cluster) connect(t *testing.T, name, url string, rooms ...string) string {
	t.Helper()
	var got struct {
		ID string `json:"id"`
	}
	c.node.call(t, &got, "connect", map[string]any{
		"name": name, "url": url, "rooms": rooms, "data": map[string]any{"name": name},
	})
	require.NotEmpty(t, got.ID, "socket %s", name)
	return got.ID
}

// ctx returns a context for one operation of the test.
func ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*requestTimeout)
	t.Cleanup(cancel)
	return ctx
}
