package cluster

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vicinity-go/vicinity/cluster/redis"
	"github.com/vicinity-go/vicinity/internal/nodetest"
	"github.com/vicinity-go/vicinity/internal/redistest"
	"github.com/vicinity-go/vicinity/realtime"
)

// childEnv, set to a Redis address, makes the test binary a vicinity
// server of that Redis instead of running the tests (see startChild);
// childModeEnv is its mode's name (classic if unset), childRecoveryEnv its
// recoveryLog (see newVicinity; none if unset).
const (
	childEnv         = "VICINITY_CLUSTER_CHILD_REDIS"
	childModeEnv     = "VICINITY_CLUSTER_CHILD_MODE"
	childRecoveryEnv = "VICINITY_CLUSTER_CHILD_RECOVERY"
)

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
	recoveryLog, err := strconv.Atoi(cmp.Or(os.Getenv(childRecoveryEnv), "0"))
	if err != nil {
		fmt.Fprintln(os.Stderr, childRecoveryEnv, err)
		return 1
	}
	i := slices.IndexFunc(modes, func(m mode) bool { return m.name == cmp.Or(os.Getenv(childModeEnv), classic.name) })
	if i < 0 {
		fmt.Fprintln(os.Stderr, childModeEnv, "names no mode")
		return 1
	}
	v, err := newVicinity(addr, "C", modes[i], recoveryLog)
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

// mode is how a cluster's servers speak through Redis: the classic
// protocol of createAdapter, or that of createShardedAdapter in one of its
// subscription modes.
type mode struct {
	name    string // peer.mjs's ADAPTER_MODE: "classic", or the subscriptionMode
	sharded bool
	sub     redis.SubscriptionMode
}

var (
	classic = mode{name: "classic"}
	// modes are every mode, for the scenarios that run in each.
	modes = []mode{
		classic,
		{name: "dynamic", sharded: true, sub: redis.Dynamic},
		{name: "static", sharded: true, sub: redis.Static},
		{name: "dynamic-private", sharded: true, sub: redis.DynamicPrivate},
	}
)

// options are m's options for redis.NewAdapter and redis.NewEmitter.
func (m mode) options() []redis.Option {
	if !m.sharded {
		return nil
	}
	return []redis.Option{redis.WithSharded(m.sub)}
}

// roomChannel reports whether room of a namespace has a channel of its
// own, which servers subscribe to while they have sockets in it; own
// tells whether room is a socket's own room. (Node's sharded adapter
// publishes to such a room's channel when a room's name is 20 characters
// long, as are the socket ids of these tests.)
func (m mode) roomChannel(own bool) bool {
	return m.sharded && (m.sub == redis.DynamicPrivate || m.sub == redis.Dynamic && !own)
}

// eachMode runs test, as a subtest, on a cluster of its own in each mode.
func eachMode(t *testing.T, test func(t *testing.T, c *cluster)) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { test(t, start(t, m)) })
	}
}

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

// newVicinity starts a vicinity server on the Redis at addr, in mode m.
// With a recoveryLog other than zero, it recovers connection state
// (realtime.WithRecovery(time.Minute, false)) with a log of about that many
// packets (redis.WithRecoveryLog).
func newVicinity(addr, name string, m mode, recoveryLog int) (*vicinity, error) {
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		return nil, err
	}
	v := &vicinity{name: name, rc: rc, sse: make(chan string, 16)}
	opts := append([]redis.Option{
		redis.WithRequestTimeout(requestTimeout),
		// a server stopped mid-request stays counted (TestServerKilledMidRequest)
		redis.WithHeartbeat(500*time.Millisecond, 10*time.Second),
		redis.WithLogger(slog.New(slog.DiscardHandler)),
	}, m.options()...)
	var ropts []realtime.Option
	if recoveryLog != 0 {
		opts = append(opts, redis.WithRecoveryLog(recoveryLog))
		ropts = append(ropts, realtime.WithRecovery(time.Minute, false))
	}
	v.srv = realtime.New(append(ropts, realtime.WithAdapter(redis.NewAdapter(rc, opts...)))...)
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

// startVicinity starts a vicinity server for the test (see newVicinity).
func startVicinity(t *testing.T, addr, name string, m mode, recoveryLog int) *vicinity {
	t.Helper()
	v, err := newVicinity(addr, name, m, recoveryLog)
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

// cluster is what a test runs on: a Redis, two vicinity servers A and B
// (and C in some), and the Node.js peer (a Socket.IO server with
// @socket.io/redis-adapter, and the official clients), all in one mode.
type cluster struct {
	mode    mode
	redis   *redistest.Server
	a, b, c *vicinity // c: nil but in clusters of three
	node    *peer
	nodeJS  string // node's path
	probe   rueidis.Client

	// members are, by room channel, the servers (their URLs) that connect
	// put sockets in the room of: those subscribed to it in the modes with
	// room channels, as long as no socket leaves (the tests connect their
	// sockets first).
	members map[string]map[string]bool
}

// start starts a cluster in mode m and waits until its servers know each
// other.
func start(t *testing.T, m mode) *cluster {
	t.Helper()
	return startWith(t, m, 2, 0)
}

// startWith starts a cluster in mode m with n vicinity servers (2: A and
// B; 3: A, B and C), each with recoveryLog (see newVicinity), and waits
// until its servers know each other.
func startWith(t *testing.T, m mode, n, recoveryLog int) *cluster {
	t.Helper()
	node := nodetest.Require(t, ".", "socket.io", "socket.io-client",
		"@socket.io/redis-adapter", "@socket.io/redis-emitter", "redis")
	rs := redistest.Start(t)
	probe, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{rs.Addr()}, DisableCache: true})
	require.NoError(t, err)
	t.Cleanup(probe.Close)
	c := &cluster{mode: m, redis: rs, nodeJS: node, probe: probe, members: make(map[string]map[string]bool)}
	c.a = startVicinity(t, rs.Addr(), "A", m, recoveryLog)
	c.b = startVicinity(t, rs.Addr(), "B", m, recoveryLog)
	if n == 3 {
		c.c = startVicinity(t, rs.Addr(), "C", m, recoveryLog)
	}
	c.node = startPeer(t, node, rs.URL(), m)
	c.waitReady(t, n, c.vicinities()...)
	c.checkMode(t)
	return c
}

// vicinities are the cluster's vicinity servers of this process.
func (c *cluster) vicinities() []*vicinity {
	if c.c == nil {
		return []*vicinity{c.a, c.b}
	}
	return []*vicinity{c.a, c.b, c.c}
}

// checkMode checks that the three servers speak the cluster's protocol:
// in sharded mode they listen to the namespace's channel with SSUBSCRIBE
// and not to the classic request channel, in classic mode the other way
// round.
func (c *cluster) checkMode(t *testing.T) {
	t.Helper()
	const shard, request = "socket.io#/#", "socket.io-request#/#"
	p := c.probe
	shards, err := p.Do(ctx(t), p.B().PubsubShardnumsub().Channel(shard).Build()).AsIntMap()
	require.NoError(t, err)
	plain, err := p.Do(ctx(t), p.B().PubsubNumsub().Channel(request).Build()).AsIntMap()
	require.NoError(t, err)
	want := map[bool]int64{true: int64(len(c.vicinities()) + 1), false: 0}
	require.Equal(t, want[c.mode.sharded], shards[shard], "servers on %s (SSUBSCRIBE) in mode %s", shard, c.mode.name)
	require.Equal(t, want[!c.mode.sharded], plain[request], "servers on %s (SUBSCRIBE) in mode %s", request, c.mode.name)
}

// roomChannel is the channel of room in namespace nsp in the sharded
// modes.
func roomChannel(nsp, room string) string { return "socket.io#" + nsp + "#" + room + "#" }

// waitSubscribed waits, in the modes where room (a socket's own if own)
// has a channel of its own, until exactly n servers are subscribed to it
// (PUBSUB SHARDNUMSUB): a server subscribes to a room's channel only after
// a socket of its own has joined the room, and misses what is published to
// it before (see the package documentation). In the other modes every
// server hears every broadcast from the start: it returns at once.
func (c *cluster) waitSubscribed(t *testing.T, nsp, room string, own bool, n int) {
	t.Helper()
	if !c.mode.roomChannel(own) {
		return
	}
	ch := roomChannel(nsp, room)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		ctx, cancel := context.WithTimeout(t.Context(), wait)
		defer cancel()
		counts, err := c.probe.Do(ctx, c.probe.B().PubsubShardnumsub().Channel(ch).Build()).AsIntMap()
		require.NoError(ct, err, "PUBSUB SHARDNUMSUB %s", ch)
		assert.Equal(ct, int64(n), counts[ch], "servers subscribed to %s", ch)
	}, wait, 5*time.Millisecond)
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
// socket.data {"name": name}, in rooms; it returns the socket's id. In the
// modes with room channels, it waits until every server with a socket
// connect put in one of those rooms is subscribed to its channel.
func (c *cluster) connect(t *testing.T, name, url string, rooms ...string) string {
	t.Helper()
	return c.connectVia(t, name, url, url, rooms...)
}

// connectVia is connect through via: url itself, or the URL of a load
// balancer in front of the server at url (connect's url). A client
// connected through a load balancer reconnects by itself, every 50 to 200
// ms, and recovers its connection state where the servers allow.
func (c *cluster) connectVia(t *testing.T, name, via, url string, rooms ...string) string {
	t.Helper()
	var got struct {
		ID string `json:"id"`
	}
	c.node.call(t, &got, "connect", map[string]any{
		"name": name, "url": via, "rooms": rooms, "data": map[string]any{"name": name}, "reconnect": via != url,
	})
	require.NotEmpty(t, got.ID, "socket %s", name)
	server, nsp := url, "/"
	urls := []string{c.node.url}
	for _, v := range c.vicinities() {
		urls = append(urls, v.url)
	}
	for _, s := range urls {
		if path, ok := strings.CutPrefix(url, s); ok && (path == "" || path[0] == '/') {
			server = s
			if path != "" {
				nsp = path
			}
		}
	}
	c.waitSubscribed(t, nsp, got.ID, true, 1)
	for _, room := range rooms {
		ch := roomChannel(nsp, room)
		if c.members[ch] == nil {
			c.members[ch] = make(map[string]bool)
		}
		c.members[ch][server] = true
		c.waitSubscribed(t, nsp, room, false, len(c.members[ch]))
	}
	return got.ID
}

// ctx returns a context for one operation of the test.
func ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*requestTimeout)
	t.Cleanup(cancel)
	return ctx
}
