package redis_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/client"
	"github.com/vicinity-go/vicinity/cluster/redis"
	"github.com/vicinity-go/vicinity/internal/redistest"
	"github.com/vicinity-go/vicinity/realtime"
)

// node is one vicinity server of a test cluster.
type node struct {
	srv *realtime.Server
	url string
	rc  rueidis.Client
}

// newClient returns a Redis client of addr, closed when the test ends.
func newClient(t *testing.T, addr string) rueidis.Client {
	t.Helper()
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	require.NoError(t, err)
	t.Cleanup(rc.Close)
	return rc
}

// startNode starts a vicinity server on the Redis at addr. Its sockets
// join the rooms they ask for with "join".
func startNode(t *testing.T, addr string, opts ...redis.Option) *node {
	t.Helper()
	return startNodeWith(t, addr, nil, opts...)
}

// startNodeWith is startNode with server options.
func startNodeWith(t *testing.T, addr string, sopts []realtime.Option, opts ...redis.Option) *node {
	t.Helper()
	rc := newClient(t, addr)
	opts = append([]redis.Option{redis.WithHeartbeat(100*time.Millisecond, 400*time.Millisecond), redis.WithRequestTimeout(2 * time.Second)}, opts...)
	srv := newNodeServer(rc, sopts, opts...)
	return &node{srv: srv, url: serveHTTP(t, srv), rc: rc}
}

// serveHTTP serves srv on 127.0.0.1 until the test ends, and returns its
// URL.
func serveHTTP(t *testing.T, srv *realtime.Server) string {
	t.Helper()
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		hs.Close()
	})
	return hs.URL
}

// newNodeServer returns a node's server: its sockets join the rooms they
// ask for with "join", and it answers "ping" server-side events. Without a
// Redis client it has the in-memory adapter.
func newNodeServer(rc rueidis.Client, sopts []realtime.Option, opts ...redis.Option) *realtime.Server {
	if rc != nil {
		sopts = append([]realtime.Option{realtime.WithAdapter(redis.NewAdapter(rc, opts...))}, sopts...)
	}
	srv := realtime.New(sopts...)
	srv.Of("/").OnConnection(func(s *realtime.Socket) {
		s.On("join", func(e *realtime.Event) {
			var rooms []string
			_ = e.Bind(&rooms)
			_ = e.AckResult(s.Join(rooms...))
		})
	})
	srv.Of("/").OnServerSideEmit("ping", func(e *realtime.ServerEvent) { _ = e.Ack("pong") })
	return srv
}

// received collects the events a client gets.
type received struct {
	mu     sync.Mutex
	events []string
	args   map[string][]client.Args
}

func connect(t *testing.T, n *node, rooms ...string) (*client.Socket, *received) {
	t.Helper()
	r := &received{args: make(map[string][]client.Args)}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	s, err := client.Connect(ctx, n.url, client.WithTransports("websocket"), client.WithReconnection(false))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Manager().Close() })
	if len(rooms) > 0 {
		_, err = s.EmitWithAck(ctx, "join", rooms)
		require.NoError(t, err)
	}
	s.OnAny(func(e *client.Event) {
		r.mu.Lock()
		r.events = append(r.events, e.Name)
		r.args[e.Name] = append(r.args[e.Name], e.Args)
		r.mu.Unlock()
		if e.WantsAck() {
			_ = e.Ack("from " + e.Socket.ID())
		}
	})
	return s, r
}

// got returns the events received so far.
func (r *received) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// waitFor waits until the client has received n events.
func (r *received) waitFor(t *testing.T, n int) []string {
	t.Helper()
	require.Eventually(t, func() bool { return len(r.got()) >= n }, 5*time.Second, 5*time.Millisecond, "got %v", r.got())
	return r.got()
}

// settle waits long enough for a message that should not come to come.
func settle() { time.Sleep(150 * time.Millisecond) }

func cluster(t *testing.T, n int, opts ...redis.Option) (*redistest.Server, []*node) {
	t.Helper()
	return clusterOf(t, n, mode{opts: opts})
}

// clusterOf starts n nodes of mode m on a Redis of their own.
func clusterOf(t *testing.T, n int, m mode) (*redistest.Server, []*node) {
	t.Helper()
	opts := m.opts
	rs := startRedis(t, m)
	nodes := make([]*node, n)
	for i := range nodes {
		nodes[i] = startNode(t, rs.Addr(), opts...)
	}
	waitPeers(t, nodes)
	return rs, nodes
}

// waitPeers waits until every node's namespace / knows every other one.
func waitPeers(t *testing.T, nodes []*node) {
	t.Helper()
	for _, n := range nodes {
		require.Eventually(t, func() bool {
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			got, err := n.srv.Of("/").ServerSideEmitWithAck(ctx, "ping")
			return err == nil && len(got) == len(nodes)-1
		}, 5*time.Second, 20*time.Millisecond)
	}
}

func TestBroadcastAcrossNodes(t *testing.T) { eachMode(t, testBroadcastAcrossNodes) }

func testBroadcastAcrossNodes(t *testing.T, m mode) {
	_, nodes := clusterOf(t, 3, m)
	_, inA0 := connect(t, nodes[0], "a")
	_, inA1 := connect(t, nodes[1], "a")
	_, inB2 := connect(t, nodes[2], "b")
	_, inAB2 := connect(t, nodes[2], "a", "b")

	nsp := nodes[0].srv.Of("/")
	require.NoError(t, nsp.To("a").Emit("to-a", "hi", []byte{1, 2, 3}))
	assert.Equal(t, []string{"to-a"}, inA0.waitFor(t, 1))
	assert.Equal(t, []string{"to-a"}, inA1.waitFor(t, 1))
	assert.Equal(t, []string{"to-a"}, inAB2.waitFor(t, 1))
	var text string
	var bin []byte
	inA1.mu.Lock()
	require.NoError(t, inA1.args["to-a"][0].Bind(&text, &bin))
	inA1.mu.Unlock()
	assert.Equal(t, "hi", text)
	assert.Equal(t, []byte{1, 2, 3}, bin, "binary data crosses the cluster")

	require.NoError(t, nodes[1].srv.Of("/").Except("a").Emit("not-a"))
	assert.Equal(t, []string{"not-a"}, inB2.waitFor(t, 1))
	require.NoError(t, nodes[2].srv.Of("/").To("a", "b").Emit("a-or-b"))
	assert.Equal(t, []string{"not-a", "a-or-b"}, inB2.waitFor(t, 2))
	assert.Equal(t, []string{"to-a", "a-or-b"}, inAB2.waitFor(t, 2), "once, though in both rooms")
	assert.Equal(t, []string{"to-a", "a-or-b"}, inA0.waitFor(t, 2))

	require.NoError(t, nodes[0].srv.Of("/").Local().Emit("local"))
	assert.Equal(t, []string{"to-a", "a-or-b", "local"}, inA0.waitFor(t, 3))
	require.NoError(t, nodes[0].srv.Of("/").Volatile().Emit("volatile"))
	assert.Equal(t, []string{"to-a", "a-or-b", "volatile"}, inA1.waitFor(t, 3))
	settle()
	assert.Equal(t, []string{"to-a", "a-or-b", "local", "volatile"}, inA0.got())
	assert.Equal(t, []string{"to-a", "a-or-b", "volatile"}, inA1.got(), "Local stays on its node")
}

func TestEmitWithAckAcrossNodes(t *testing.T) { eachMode(t, testEmitWithAckAcrossNodes) }

func testEmitWithAckAcrossNodes(t *testing.T, m mode) {
	_, nodes := clusterOf(t, 3, m)
	s0, _ := connect(t, nodes[0], "a")
	s1, _ := connect(t, nodes[1], "a")
	s2, _ := connect(t, nodes[2], "a")
	connect(t, nodes[2], "b")

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	answers, err := nodes[1].srv.Of("/").To("a").EmitWithAck(ctx, "ask", "q")
	require.NoError(t, err)
	var got []string
	for _, a := range answers {
		var s string
		require.NoError(t, a.Bind(&s))
		got = append(got, s)
	}
	assert.ElementsMatch(t, []string{"from " + s0.ID(), "from " + s1.ID(), "from " + s2.ID()}, got)

	// a room with no socket anywhere: every server says 0 at once
	answers, err = nodes[0].srv.Of("/").To("nobody").EmitWithAck(ctx, "ask")
	require.NoError(t, err)
	assert.Empty(t, answers)
}

func TestServerSideOperations(t *testing.T) { eachMode(t, testServerSideOperations) }

func testServerSideOperations(t *testing.T, m mode) {
	_, nodes := clusterOf(t, 3, m)
	s0, in0 := connect(t, nodes[0], "a")
	s1, in1 := connect(t, nodes[1], "a")
	s2, in2 := connect(t, nodes[2])

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	nsp := nodes[2].srv.Of("/")
	all, err := nsp.FetchSockets(ctx)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{s0.ID(), s1.ID(), s2.ID()}, ids(all))
	inA, err := nsp.In("a").FetchSockets(ctx)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{s0.ID(), s1.ID()}, ids(inA))
	for _, rs := range inA {
		assert.Contains(t, rs.Rooms, "a")
		assert.Contains(t, rs.Rooms, rs.ID)
		assert.Equal(t, "127.0.0.1", rs.Handshake.Address)
	}

	// SocketsJoin reaches every node; a broadcast to the joined room follows it
	require.NoError(t, nsp.In("a").SocketsJoin(ctx, "joined"))
	joinedEverywhere(t, nodes, "joined", 2, m.dynamic)
	require.NoError(t, nsp.To("joined").Emit("in-joined"))
	assert.Equal(t, []string{"in-joined"}, in0.waitFor(t, 1))
	assert.Equal(t, []string{"in-joined"}, in1.waitFor(t, 1))
	require.NoError(t, nsp.In("a").SocketsLeave(ctx, "joined"))
	joinedEverywhere(t, nodes, "joined", 0, m.dynamic) // a room's channel and the namespace's may not be ordered
	require.NoError(t, nsp.To("joined").Emit("in-joined"))
	settle()
	assert.Len(t, in0.got(), 1)

	// a remote socket found by FetchSockets can be told things
	remote := inA[slices.IndexFunc(inA, func(r *realtime.RemoteSocket) bool { return r.ID == s1.ID() })]
	require.NoError(t, remote.Emit("direct", 1))
	assert.Equal(t, []string{"in-joined", "direct"}, in1.waitFor(t, 2))

	// DisconnectSockets across nodes
	gone := make(chan string, 3)
	s0.OnDisconnect(func(_ *client.Socket, reason string) { gone <- reason })
	s1.OnDisconnect(func(_ *client.Socket, reason string) { gone <- reason })
	require.NoError(t, nsp.In("a").DisconnectSockets(ctx, false))
	for range 2 {
		select {
		case r := <-gone:
			assert.Equal(t, "io server disconnect", r)
		case <-time.After(5 * time.Second):
			t.Fatal("a socket of room a was not disconnected")
		}
	}
	all, err = nsp.FetchSockets(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{s2.ID()}, ids(all))
	assert.Empty(t, in2.got())
}

// modes are the adapter's protocols, each test running on each.
var modes = []mode{
	{name: "classic"},
	{name: "sharded", opts: []redis.Option{redis.WithSharded(redis.Dynamic)}, dynamic: true},
	{name: "sharded-static", opts: []redis.Option{redis.WithSharded(redis.Static)}},
	{name: "sharded-private", opts: []redis.Option{redis.WithSharded(redis.DynamicPrivate)}, dynamic: true},
	{name: "classic-on-redis-cluster", redisCluster: true},
	{name: "sharded-on-redis-cluster", opts: []redis.Option{redis.WithSharded(redis.Dynamic)}, dynamic: true, redisCluster: true},
}

// mode is a protocol of the adapter; dynamic when rooms have channels;
// redisCluster on a Redis Cluster (of one node), where recovery across
// servers needs the classic mode.
type mode struct {
	name         string
	opts         []redis.Option
	dynamic      bool
	redisCluster bool
}

func eachMode(t *testing.T, test func(*testing.T, mode)) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { test(t, m) })
	}
}

// eachRecoveryMode is eachMode for the modes with recovery across servers.
func eachRecoveryMode(t *testing.T, test func(*testing.T, mode)) {
	for _, m := range modes {
		if !(m.redisCluster && m.dynamic) {
			t.Run(m.name, func(t *testing.T) { test(t, m) })
		}
	}
}

// startRedis starts the Redis of mode m.
func startRedis(t *testing.T, m mode) *redistest.Server {
	if m.redisCluster {
		return redistest.StartCluster(t)
	}
	return redistest.Start(t)
}

// joinedEverywhere waits until n sockets of the nodes are in room and, in
// the sharded dynamic modes, until each node with one of them listens to
// the room's channel: a SocketsJoin acts on the other servers when they
// receive it, and a broadcast to the room published before reaches none of
// them (as with Node's sharded adapter).
func joinedEverywhere(t *testing.T, nodes []*node, room string, n int, dynamic bool) {
	t.Helper()
	require.Eventually(t, func() bool {
		got, with := 0, 0
		for _, nd := range nodes {
			rs, err := nd.srv.Of("/").Local().In(room).FetchSockets(t.Context())
			require.NoError(t, err)
			got += len(rs)
			if len(rs) > 0 {
				with++
			}
		}
		if got != n || !dynamic {
			return got == n
		}
		rc, ch := nodes[0].rc, "socket.io#/#"+room+"#"
		subs, err := rc.Do(t.Context(), rc.B().PubsubShardnumsub().Channel(ch).Build()).AsIntMap()
		require.NoError(t, err)
		return int(subs[ch]) == with
	}, 5*time.Second, 5*time.Millisecond)
}

func ids(rs []*realtime.RemoteSocket) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func TestServerSideEmit(t *testing.T) { eachMode(t, testServerSideEmit) }

func testServerSideEmit(t *testing.T, m mode) {
	_, nodes := clusterOf(t, 3, m)
	got := make(chan string, 10)
	for i, n := range nodes {
		n.srv.Of("/").OnServerSideEmit("hello", func(e *realtime.ServerEvent) {
			var who string
			_ = e.Bind(&who)
			got <- who
			_ = e.Ack(map[string]int{"node": i})
		})
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	answers, err := nodes[0].srv.Of("/").ServerSideEmitWithAck(ctx, "hello", "zero")
	require.NoError(t, err)
	var nums []string
	for _, a := range answers {
		nums = append(nums, string(a))
	}
	assert.ElementsMatch(t, []string{`{"node":1}`, `{"node":2}`}, nums, "every other node answers, not the sender")
	assert.Equal(t, "zero", <-got)
	assert.Equal(t, "zero", <-got)
	require.NoError(t, nodes[1].srv.Of("/").ServerSideEmit(ctx, "hello", "one"))
	assert.Equal(t, "one", <-got)
	assert.Equal(t, "one", <-got)
	select {
	case w := <-got:
		t.Fatalf("a node got its own event or one twice: %q", w)
	case <-time.After(150 * time.Millisecond):
	}
	err = nodes[1].srv.Of("/").ServerSideEmit(ctx, "connection")
	assert.ErrorIs(t, err, realtime.ErrReservedEvent)
}

// A server that keeps its Redis connection but stops answering (frozen)
// is waited for while its last heartbeat is fresh, then no longer.
func TestFrozenServerDropped(t *testing.T) {
	rs, nodes := cluster(t, 2)
	// the frozen server: subscribed to the namespace's request and
	// vicinity channels, it says hello once and then nothing
	frozen := newClient(t, rs.Addr())
	dc, cancel := frozen.Dedicate()
	defer cancel()
	dc.SetPubSubHooks(rueidis.PubSubHooks{OnMessage: func(rueidis.PubSubMessage) {}})
	ctx, stop := context.WithTimeout(t.Context(), 5*time.Second)
	defer stop()
	require.NoError(t, dc.Do(ctx, dc.B().Subscribe().Channel("socket.io-request#/#", "socket.io-vicinity#/#").Build()).Error())
	require.NoError(t, frozen.Do(ctx, frozen.B().Publish().Channel("socket.io-vicinity#/#").Message(`{"uid":"frozen-server-01","type":100}`).Build()).Error())

	nsp := nodes[0].srv.Of("/")
	var err error
	require.Eventually(t, func() bool { // while its heartbeat is fresh, it is waited for
		_, err = nsp.FetchSockets(ctx)
		return err != nil
	}, 5*time.Second, 10*time.Millisecond)
	assert.ErrorIs(t, err, redis.ErrTimeout)
	assert.ErrorContains(t, err, "1 of 2 servers answered")
	time.Sleep(500 * time.Millisecond) // past the heartbeat timeout (400 ms)
	_, err = nsp.FetchSockets(ctx)
	require.NoError(t, err, "a server silent past the heartbeat timeout is not waited for")
	answers, err := nsp.ServerSideEmitWithAck(ctx, "ping")
	require.NoError(t, err)
	assert.Len(t, answers, 1)
}

// Long-polling needs sticky sessions: a session's request that reaches
// another server gets Engine.IO's answer to an unknown session.
func TestPollingOnAnotherServer(t *testing.T) {
	_, nodes := cluster(t, 2)
	res, err := http.Get(nodes[0].url + "/socket.io/?EIO=4&transport=polling")
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	var open struct {
		SID string `json:"sid"`
	}
	require.NoError(t, json.Unmarshal(body[1:], &open), "%s", body)
	res, err = http.Get(nodes[1].url + "/socket.io/?EIO=4&transport=polling&sid=" + open.SID)
	require.NoError(t, err)
	body, _ = io.ReadAll(res.Body)
	_ = res.Body.Close()
	assert.Equal(t, http.StatusBadRequest, res.StatusCode)
	assert.JSONEq(t, `{"code":1,"message":"Session ID unknown"}`, string(body))
	// the session closes where it lives
	res, err = http.Post(nodes[0].url+"/socket.io/?EIO=4&transport=polling&sid="+open.SID, "text/plain", strings.NewReader("1"))
	require.NoError(t, err)
	_ = res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
}

// Two adapters of one namespace name from one factory (a dynamic namespace
// dropped while a new connection makes it again) share its channels:
// closing the old one leaves the new one listening.
func TestSameNamespaceAdapters(t *testing.T) {
	rs := redistest.Start(t)
	rc := newClient(t, rs.Addr())
	f := redis.NewAdapter(rc, redis.WithHeartbeat(100*time.Millisecond, 400*time.Millisecond))
	srv := realtime.New(realtime.WithAdapter(f))
	srv.Of("/").OnServerSideEmit("ping", func(e *realtime.ServerEvent) { _ = e.Ack("pong") })
	a := &node{srv: srv, url: serveHTTP(t, srv), rc: rc}
	b := startNode(t, rs.Addr())
	waitPeers(t, []*node{a, b})
	_, in := connect(t, a)
	require.NoError(t, b.srv.Of("/").Emit("before"))
	in.waitFor(t, 1)

	old := f(srv.Of("/")) // an older adapter of "/", closed after the server's subscribed
	waitPeers(t, []*node{a, b})
	require.NoError(t, old.Close(t.Context()))
	require.NoError(t, b.srv.Of("/").Emit("after"))
	assert.Equal(t, []string{"before", "after"}, in.waitFor(t, 2))
}

// While Redis is down, EmitWithAck gets this server's sockets' answers,
// with ErrUnavailable.
func TestEmitWithAckWhileRedisDown(t *testing.T) {
	rs, nodes := cluster(t, 2)
	s0, _ := connect(t, nodes[0], "a")
	connect(t, nodes[1], "a")
	rs.Kill()
	nsp := nodes[0].srv.Of("/")
	require.Eventually(t, func() bool { return nsp.To("a").Emit("probe") != nil }, 5*time.Second, 10*time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	answers, err := nsp.To("a").EmitWithAck(ctx, "ask")
	assert.ErrorIs(t, err, redis.ErrUnavailable)
	require.Len(t, answers, 1, "this server's socket")
	var got string
	require.NoError(t, answers[0].Bind(&got))
	assert.Equal(t, "from "+s0.ID(), got)
}
