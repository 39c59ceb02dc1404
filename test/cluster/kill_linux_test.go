//go:build linux

package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/cluster/redis"
)

// child is a vicinity server in a process of its own: this test binary,
// run with childEnv (see runChild).
type child struct {
	url string
	cmd *exec.Cmd
}

// startChild starts the vicinity server C on the Redis at addr, in mode m,
// with recoveryLog (see newVicinity); it is killed when the test ends.
func startChild(t *testing.T, addr string, m mode, recoveryLog int) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+addr, childModeEnv+"="+m.name, childRecoveryEnv+"="+strconv.Itoa(recoveryLog))
	cmd.Stderr = t.Output()
	stdin, err := cmd.StdinPipe() // its end: closed when the test ends
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line := make(chan string, 1)
	go func() { // ends when the child's stdout does
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		for sc.Scan() {
		}
	}()
	select {
	case url, ok := <-line:
		require.True(t, ok && strings.HasPrefix(url, "http://127.0.0.1:"), "the child said %q", url)
		return &child{url: url, cmd: cmd}
	case <-time.After(startTimeout):
		t.Fatalf("the child vicinity server did not start within %v", startTimeout)
		return nil
	}
}

// stopped reports whether the process pid is stopped (state T in
// /proc/pid/stat).
func stopped(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// "pid (comm) S ...": the state follows the last ')'
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'T'
}

// A vicinity server that dies (SIGKILL, after a SIGSTOP so that it has
// certainly not answered) while another's FetchSockets waits for it: the
// request ends by its deadline with an error wrapping ErrTimeout; the next
// one no longer waits for the dead server.
func TestServerKilledMidRequest(t *testing.T) {
	c := start(t, classic)
	ch := startChild(t, c.redis.Addr(), classic, 0)
	c.waitReady(t, 3, c.a, c.b)
	a1 := c.connect(t, "a1", c.a.url, "doomed")
	b1 := c.connect(t, "b1", c.b.url, "doomed")
	n1 := c.connect(t, "n1", c.node.url, "doomed")
	c.connect(t, "c1", ch.url, "doomed")
	nsp := c.a.srv.Of("/")
	assert.Len(t, fetch(t, nsp.In("doomed")), 4)

	// the spy sees A's request on the request channel; a pattern
	// subscription, which PUBSUB NUMSUB does not count as a server
	spy, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{c.redis.Addr()}, DisableCache: true})
	require.NoError(t, err)
	t.Cleanup(spy.Close)
	dc, release := spy.Dedicate()
	t.Cleanup(release)
	requests := make(chan []byte, 16)
	dc.SetPubSubHooks(rueidis.PubSubHooks{OnMessage: func(m rueidis.PubSubMessage) {
		select {
		case requests <- []byte(m.Message):
		default:
		}
	}})
	require.NoError(t, dc.Do(ctx(t), dc.B().Psubscribe().Pattern("socket.io-request#/#").Build()).Error())

	require.NoError(t, ch.cmd.Process.Signal(syscall.SIGSTOP))
	require.Eventually(t, func() bool { return stopped(ch.cmd.Process.Pid) }, startTimeout, time.Millisecond)
	type result struct {
		ids []string
		err error
	}
	res := make(chan result, 1)
	deadline := 1500 * time.Millisecond // < requestTimeout
	go func() {
		rctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		got, err := nsp.In("doomed").FetchSockets(rctx)
		var ids []string
		for _, s := range got {
			ids = append(ids, s.ID)
		}
		res <- result{ids, err}
	}()
	for published := false; !published; {
		select {
		case msg := <-requests:
			var req struct {
				Type int `json:"type"`
			}
			published = json.Unmarshal(msg, &req) == nil && req.Type == 5 // REMOTE_FETCH
		case <-time.After(wait):
			t.Fatal("A published no fetch request")
		}
	}
	require.NoError(t, ch.cmd.Process.Kill())
	select {
	case r := <-res:
		require.ErrorIs(t, r.err, redis.ErrTimeout, "C was counted and never answered")
		assert.ErrorContains(t, r.err, "2 of 3 servers answered")
		assert.Subset(t, []string{a1, b1, n1}, r.ids, "only sockets of the servers alive")
	case <-time.After(deadline + 2*wait):
		t.Fatal("FetchSockets did not end by its deadline")
	}
	assert.Equal(t, "transport close", c.node.disconnected(t, "c1"))

	// Redis saw C's connection close: it is no longer waited for
	var got []string
	require.Eventually(t, func() bool {
		rctx, cancel := context.WithTimeout(t.Context(), requestTimeout)
		defer cancel()
		sockets, err := nsp.In("doomed").FetchSockets(rctx)
		got = got[:0]
		for _, s := range sockets {
			got = append(got, s.ID)
		}
		return err == nil
	}, startTimeout, 20*time.Millisecond)
	assert.ElementsMatch(t, []string{a1, b1, n1}, got)
	assert.ElementsMatch(t, []string{a1, b1, n1}, mapKeys(c.nodeFetch(t, "doomed")), "the Node server does not wait for C either")
}
