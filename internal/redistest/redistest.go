// Package redistest starts real Redis servers for tests: Debian's
// redis-server, which `scripts/deps.sh test` installs, on a free loopback
// port, keeping nothing on disk. A missing redis-server skips the test, or
// fails it when nodetest.RequireEnv is "1" (as `make test` sets it).
package redistest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vicinity-go/vicinity/internal/nodetest"
)

// Server is a redis-server process of a test.
type Server struct {
	tb   testing.TB
	bin  string
	port int
	dir  string

	cluster bool // a one-node Redis Cluster

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Start starts a redis-server on a free loopback port; it is killed when
// the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return start(tb, false)
}

// StartCluster starts a Redis Cluster of one node, holding every slot, on a
// free loopback port: clients see a cluster, with its rules (a command's
// keys and shard channels in one slot), on one process.
func StartCluster(tb testing.TB) *Server {
	tb.Helper()
	return start(tb, true)
}

func start(tb testing.TB, cluster bool) *Server {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		msg := "redis-server is not on PATH: install it with `scripts/deps.sh test` (Debian's redis-server)"
		if os.Getenv(nodetest.RequireEnv) == "1" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	s := &Server{tb: tb, bin: bin, port: freePort(tb), dir: tb.TempDir(), cluster: cluster}
	s.Restart()
	tb.Cleanup(s.Kill)
	return s
}

func freePort(tb testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Addr is the server's address, host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL is the server's redis:// URL.
func (s *Server) URL() string { return "redis://" + s.Addr() }

// Kill kills the server with SIGKILL, if it runs, and waits for it.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart starts the server on its port (killing it first if it runs) and
// waits until it accepts connections; it starts empty.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Kill()
	s.mu.Lock()
	defer s.mu.Unlock()
	args := []string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--daemonize", "no", "--loglevel", "warning"}
	if s.cluster {
		_ = os.Remove(s.dir + "/nodes.conf") // a new, empty cluster
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", s.dir+"/nodes.conf")
	}
	cmd := exec.Command(s.bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		s.tb.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		s.tb.Fatal(err)
	}
	s.cmd = cmd
	go func() { // keep the pipe drained; keep what it says for errors
		sc := bufio.NewScanner(out)
		for sc.Scan() {
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for ping(s.Addr()) != nil {
		if time.Now().After(deadline) {
			s.tb.Fatalf("redis-server on %s did not start", s.Addr())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !s.cluster {
		return
	}
	if _, err := command(s.Addr(), "CLUSTER ADDSLOTSRANGE 0 16383"); err != nil {
		s.tb.Fatal(err)
	}
	for {
		info, err := command(s.Addr(), "CLUSTER INFO")
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return
		}
		if time.Now().After(deadline) {
			s.tb.Fatalf("the Redis Cluster on %s is not ok: %q %v", s.Addr(), info, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// command sends an inline command and returns its answer: a line, or a
// bulk string's contents.
func command(addr, cmd string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
		return "", err
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	switch line[0] {
	case '-':
		return "", fmt.Errorf("redis: %s", strings.TrimSpace(line))
	case '$':
		n, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return strings.TrimSpace(line), nil
}

// ping sends PING and expects PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("redis: %q", line)
	}
	return nil
}
