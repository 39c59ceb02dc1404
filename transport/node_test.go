package transport_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/internal/nodetest"
)

// nodeDir holds the npm packages the Node-driven tests use: the Node.js
// reference server (engine.io 6.6, the engine of socket.io 4.8) and
// engine.io-client 3.x. `scripts/deps.sh test` installs them.
const nodeDir = "testdata/node"

// requireNode returns the path of node, or skips the test (fails it with
// VICINITY_REQUIRE_NODE=1) when node or the npm packages are missing.
func requireNode(t *testing.T) string {
	t.Helper()
	return nodetest.Require(t, nodeDir, "engine.io", "engine.io-client")
}

// lockedBuffer collects a child process's output for the test log.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startNodeServer starts testdata/node/server.js, the Node.js reference
// server, with the given engine.io options, on a free 127.0.0.1 port, and
// returns its base URL. It stops when the test ends. It skips (or fails,
// see requireNode) when node is missing.
func startNodeServer(t *testing.T, opts map[string]any) string {
	t.Helper()
	node := requireNode(t)
	js, err := json.Marshal(opts)
	require.NoError(t, err)
	cmd := exec.Command(node, "server.js", string(js))
	cmd.Dir = nodeDir
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = stdin.Close() // the server exits when its stdin closes
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() && stderr.String() != "" {
			t.Logf("node server stderr:\n%s", stderr)
		}
	})

	type ready struct {
		Port int `json:"port"`
	}
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- line
	}()
	select {
	case line := <-lines:
		var r ready
		require.NoError(t, json.Unmarshal([]byte(line), &r), "node server said %q; stderr:\n%s", line, stderr)
		require.NotZero(t, r.Port, "node server said %q", line)
		return "http://127.0.0.1:" + strconv.Itoa(r.Port)
	case <-time.After(20 * time.Second):
		require.FailNow(t, "node server did not start", "stderr:\n%s", stderr)
		return ""
	}
}
