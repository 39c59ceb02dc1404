package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// redisServer is a redis-server process of one cluster run, on a free
// loopback port, keeping nothing on disk.
type redisServer struct {
	addr string
	dir  string
	cmd  *exec.Cmd
}

// errNoRedis is returned by startRedis when redis-server is not on PATH.
var errNoRedis = errors.New("redis-server is not on PATH: the cluster and recovery scenarios start their own (Debian's redis-server; `scripts/deps.sh test` installs it)")

// startRedis starts a redis-server on a free loopback port and waits (up
// to 10s) until it accepts connections.
func startRedis(ctx context.Context) (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errNoRedis
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir, err := os.MkdirTemp("", "vicinity-load-redis-")
	if err != nil {
		return nil, err
	}
	rs := &redisServer{addr: "127.0.0.1:" + strconv.Itoa(port), dir: dir}
	rs.cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no", "--loglevel", "warning")
	// Its output is left out: only warnings about this machine's settings.
	if err := rs.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := dialRedis(ctx, rs.addr)
		if err == nil {
			return rs, nil
		}
		if time.Now().After(deadline) {
			rs.stop()
			return nil, fmt.Errorf("redis-server on %s did not listen within 10s: %w", rs.addr, err)
		}
		if err := pause(ctx, 20*time.Millisecond); err != nil {
			rs.stop()
			return nil, err
		}
	}
}

// dialRedis succeeds once redis-server listens, which it does when ready.
func dialRedis(ctx context.Context, addr string) error {
	c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// stop kills the server and removes its directory.
func (rs *redisServer) stop() {
	_ = rs.cmd.Process.Kill()
	_ = rs.cmd.Wait()
	os.RemoveAll(rs.dir)
}
