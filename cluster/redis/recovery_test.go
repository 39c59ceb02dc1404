package redis_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/client"
	"github.com/vicinity-go/vicinity/cluster/redis"
	"github.com/vicinity-go/vicinity/internal/balancertest"
	"github.com/vicinity-go/vicinity/internal/redistest"
	"github.com/vicinity-go/vicinity/realtime"
)

// recoveringClient connects through the balancer, reconnecting quickly.
func recoveringClient(t *testing.T, url string, rooms ...string) (*client.Socket, *received) {
	t.Helper()
	r := &received{args: make(map[string][]client.Args)}
	m := client.New(url, client.WithTransports("websocket"), client.WithReconnectionDelay(50*time.Millisecond, 200*time.Millisecond))
	t.Cleanup(func() { _ = m.Close() })
	s := m.Socket("/")
	s.OnAny(func(e *client.Event) {
		r.mu.Lock()
		r.events = append(r.events, e.Name)
		r.args[e.Name] = append(r.args[e.Name], e.Args)
		r.mu.Unlock()
	})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	require.NoError(t, s.Connect(ctx))
	_, err := s.EmitWithAck(ctx, "join", rooms)
	require.NoError(t, err)
	return s, r
}

// waitSession waits until Redis holds a session whose rooms include room.
func waitSession(t *testing.T, rc rueidis.Client, room string) {
	t.Helper()
	require.Eventually(t, func() bool {
		keys, err := rc.Do(t.Context(), rc.B().Keys().Pattern("socket.io-session#/#*").Build()).AsStrSlice()
		if err != nil || len(keys) == 0 {
			return false
		}
		v, err := rc.Do(t.Context(), rc.B().Get().Key(keys[0]).Build()).ToString()
		return err == nil && strings.Contains(v, `"`+room+`"`)
	}, 5*time.Second, 20*time.Millisecond)
}

// A client that loses its connection to node A comes back through the
// load balancer to node B with its id, its rooms and what it missed.
func TestRecoveryOnAnotherNode(t *testing.T) { eachRecoveryMode(t, testRecoveryOnAnotherNode) }

func testRecoveryOnAnotherNode(t *testing.T, m mode) {
	a, b, lb, s, in := recoveryPair(t, m)
	first := s.ID()
	waitSession(t, a.rc, "r")

	lb.Point(t, b.url)
	lb.Cut()
	require.Eventually(t, func() bool { return !s.Connected() }, 5*time.Second, 5*time.Millisecond)
	for i := range 3 {
		require.NoError(t, b.srv.Of("/").To("r").Emit("missed", i, []byte{byte(i)}))
	}
	require.NoError(t, b.srv.Of("/").To("elsewhere").Emit("not-for-it"))
	require.Eventually(t, s.Connected, 5*time.Second, 5*time.Millisecond)
	assert.True(t, s.Recovered(), "recovered on node B")
	assert.Equal(t, first, s.ID())
	assert.Equal(t, []string{"before", "missed", "missed", "missed"}, in.waitFor(t, 4))
	in.mu.Lock()
	for i, args := range in.args["missed"] {
		var n int
		var bin []byte
		require.NoError(t, args.Bind(&n, &bin))
		assert.Equal(t, i, n, "in order")
		assert.Equal(t, []byte{byte(i)}, bin)
	}
	in.mu.Unlock()
	require.NoError(t, a.srv.Of("/").To("r").Emit("after"))
	assert.Equal(t, "after", in.waitFor(t, 5)[4], "its rooms are back, on node B")
}

// recoveryPair starts nodes A and B with recovery, and a client through
// the load balancer to A, in room "r", that got one broadcast ("before").
func recoveryPair(t *testing.T, m mode) (a, b *node, lb *balancertest.Balancer, s *client.Socket, in *received) {
	t.Helper()
	rs := startRedis(t, m)
	a = startRecoveryNode(t, rs.Addr(), m.opts...)
	b = startRecoveryNode(t, rs.Addr(), m.opts...)
	waitPeers(t, []*node{a, b})
	lb = balancertest.Start(t, a.url)
	s, in = recoveringClient(t, lb.URL, "r")
	require.NoError(t, b.srv.Of("/").To("r").Emit("before", 0))
	in.waitFor(t, 1)
	return a, b, lb, s, in
}

func startRecoveryNode(t *testing.T, addr string, opts ...redis.Option) *node {
	t.Helper()
	return startNodeWith(t, addr, []realtime.Option{realtime.WithRecovery(time.Minute, false)}, append(opts, redis.WithRecoveryLog(1000))...)
}

// nodeEnv makes the test binary a vicinity node on the Redis it names, for
// TestRecoveryAfterKill (see TestMain).
const nodeEnv = "VICINITY_TEST_NODE_REDIS"

// runNode serves a recovery node until killed, printing its URL.
func runNode(addr string) {
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv := newNodeServer(rc, []realtime.Option{realtime.WithRecovery(time.Minute, false)},
		redis.WithHeartbeat(100*time.Millisecond, 400*time.Millisecond), redis.WithRecoveryLog(1000))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("http://" + l.Addr().String())
	_ = http.Serve(l, srv)
}

// A client whose node was killed (SIGKILL: it never saw the client go)
// recovers on another node, from the session the dead node kept fresh.
func TestRecoveryAfterKill(t *testing.T) {
	rs := redistest.Start(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), nodeEnv+"="+rs.Addr())
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	aURL := strings.TrimSpace(line)

	b := startRecoveryNode(t, rs.Addr())
	lb := balancertest.Start(t, aURL)
	s, in := recoveringClient(t, lb.URL, "r")
	first := s.ID()
	require.NoError(t, b.srv.Of("/").To("r").Emit("before"))
	in.waitFor(t, 1)
	waitSession(t, b.rc, "r")

	require.NoError(t, cmd.Process.Kill()) // SIGKILL
	_ = cmd.Wait()
	lb.Point(t, b.url)
	lb.Cut()
	require.Eventually(t, func() bool { return !s.Connected() }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, b.srv.Of("/").To("r").Emit("missed", 1))
	require.NoError(t, b.srv.Of("/").Emit("missed", 2))
	require.Eventually(t, s.Connected, 5*time.Second, 5*time.Millisecond)
	assert.True(t, s.Recovered(), "recovered though its node was killed")
	assert.Equal(t, first, s.ID())
	assert.Equal(t, []string{"before", "missed", "missed"}, in.waitFor(t, 3))
	require.NoError(t, b.srv.Of("/").To("r").Emit("after"))
	assert.Equal(t, "after", in.waitFor(t, 4)[3])
}

// Past what the log holds, or with an unknown session, a client starts
// afresh: a new id, nothing replayed.
func TestRecoveryRefused(t *testing.T) {
	rs := redistest.Start(t)
	a := startNodeWith(t, rs.Addr(), []realtime.Option{realtime.WithRecovery(time.Minute, false)}, redis.WithRecoveryLog(5))
	b := startNodeWith(t, rs.Addr(), []realtime.Option{realtime.WithRecovery(time.Minute, false)}, redis.WithRecoveryLog(5))
	waitPeers(t, []*node{a, b})
	lb := balancertest.Start(t, a.url)
	s, in := recoveringClient(t, lb.URL, "r")
	first := s.ID()
	require.NoError(t, b.srv.Of("/").To("r").Emit("before"))
	in.waitFor(t, 1)
	lb.Point(t, b.url)
	lb.Cut()
	require.Eventually(t, func() bool { return !s.Connected() }, 5*time.Second, 5*time.Millisecond)
	for i := range 500 { // the log keeps about 5: the client's offset goes
		require.NoError(t, b.srv.Of("/").To("r").Emit("flood", i))
	}
	require.Eventually(t, s.Connected, 5*time.Second, 5*time.Millisecond)
	assert.False(t, s.Recovered())
	assert.NotEqual(t, first, s.ID())
	settle()
	assert.Equal(t, []string{"before"}, in.got(), "nothing replayed")
}

// A server shut down for a deploy: its clients recover on another server,
// from the sessions it kept when it closed them.
func TestRecoveryAfterShutdown(t *testing.T) {
	a, b, lb, s, in := recoveryPair(t, modes[0])
	first := s.ID()

	lb.Point(t, b.url)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	require.NoError(t, a.srv.Shutdown(ctx))
	require.Eventually(t, func() bool { return !s.Connected() }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, b.srv.Of("/").To("r").Emit("missed"))
	require.Eventually(t, s.Connected, 5*time.Second, 5*time.Millisecond)
	assert.True(t, s.Recovered())
	assert.Equal(t, first, s.ID())
	assert.Equal(t, []string{"before", "missed"}, in.waitFor(t, 2))
}

// A client's data that reads as the offset's placeholder stays data: the
// offset goes after everything a client sent.
func TestRecoveryPlaceholderInData(t *testing.T) {
	eachRecoveryMode(t, testRecoveryPlaceholderInData)
}

func testRecoveryPlaceholderInData(t *testing.T, m mode) {
	a, b, _, _, in := recoveryPair(t, m)
	_, inB := connect(t, b, "r")
	const placeholder = "\x00vicinity-offset\x00"
	require.NoError(t, a.srv.Of("/").To("r").Emit("ev", placeholder))
	assert.Equal(t, []string{"before", "ev"}, in.waitFor(t, 2), "the sender's own socket")
	assert.Equal(t, []string{"ev"}, inB.waitFor(t, 1))
	for _, r := range []*received{in, inB} {
		r.mu.Lock()
		var got string
		require.NoError(t, r.args["ev"][0].Bind(&got))
		r.mu.Unlock()
		assert.Equal(t, placeholder, got)
	}
}

// Broadcasts keep coming while a client drops and recovers: it gets each
// one once, in order, none lost between what it missed and what comes
// live (the catch-up of RestoreSession), on another node in every mode and
// on one node with the in-memory adapter.
func TestRecoveryUnderLoad(t *testing.T) {
	eachRecoveryMode(t, func(t *testing.T, m mode) {
		a, b, lb, s, in := recoveryPair(t, m)
		waitSession(t, a.rc, "r")
		lb.Point(t, b.url) // the next connections; this one stays until the cut
		recoverUnderLoad(t, b.srv, lb.Cut, s, in)
	})
	t.Run("memory", func(t *testing.T) {
		srv := newNodeServer(nil, []realtime.Option{realtime.WithRecovery(time.Minute, false)})
		lb := balancertest.Start(t, serveHTTP(t, srv))
		s, in := recoveringClient(t, lb.URL, "r")
		require.NoError(t, srv.Of("/").To("r").Emit("before", 0))
		in.waitFor(t, 1)
		recoverUnderLoad(t, srv, lb.Cut, s, in)
	})
}

// recoverUnderLoad broadcasts numbered events to room "r" from srv, drops
// the client's connection with cut in the middle, and checks that the
// client, recovered, got every number once, in order.
func recoverUnderLoad(t *testing.T, srv *realtime.Server, cut func(), s *client.Socket, in *received) {
	t.Helper()
	const n = 300
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			_ = srv.Of("/").To("r").Emit("seq", i)
			if i == n/4 {
				cut()
			}
			time.Sleep(500 * time.Microsecond)
		}
	}()
	<-done
	require.Eventually(t, s.Connected, 5*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return len(in.got()) >= n+1 }, 5*time.Second, 5*time.Millisecond, "got %d", len(in.got()))
	settle()
	assert.True(t, s.Recovered())
	in.mu.Lock()
	defer in.mu.Unlock()
	got := make([]int, 0, n)
	for _, args := range in.args["seq"] {
		var i int
		require.NoError(t, args.Bind(&i))
		got = append(got, i)
	}
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	assert.Equal(t, want, got, "each once, in order")
}
