package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// targetNames are the servers the tool knows, in report order.
var targetNames = []string{"vicinity", "node", "centrifuge", "hub"}

// clusterTargets are the targets that can run as nodes of a cluster on
// Redis: vicinity with cluster/redis, Node with @socket.io/redis-adapter,
// Centrifuge with its Redis broker.
var clusterTargets = []string{"vicinity", "node", "centrifuge"}

// targetOptions are what a scenario asks of a target beyond its defaults.
type targetOptions struct {
	redis    string // be a node of the cluster on the Redis at this host:port
	recovery bool   // connection-state recovery (the vicinity target only)
	// locationRate > 0 makes the vicinity target location-aware, allowing
	// each socket that many location updates a second (the geo scenario).
	locationRate float64
}

func targetProto(name string) proto {
	switch name {
	case "centrifuge":
		return protoCentrifuge
	case "hub":
		return protoHub
	}
	return protoSIO
}

// builder builds the Go targets once per run into a temporary directory.
type builder struct {
	root string // the module's root directory
	dir  string // where binaries go
	bins map[string]string

	memProfileRate int // passed to the Go targets if > 0
}

func newBuilder(root string) (*builder, error) {
	dir, err := os.MkdirTemp("", "vicinity-load-")
	if err != nil {
		return nil, err
	}
	return &builder{root: root, dir: dir, bins: map[string]string{}}, nil
}

func (b *builder) cleanup() { os.RemoveAll(b.dir) }

// command returns the command that starts target name listening on a free
// loopback port, building it first if it is a Go program.
func (b *builder) command(name string, o targetOptions) (*exec.Cmd, error) {
	tdir := filepath.Join(b.root, "cmd", "vicinity-load", "targets", name)
	if name == "node" {
		args := []string{"--expose-gc", "server.js", "127.0.0.1:0"}
		pkgs := []string{"socket.io"}
		if o.redis != "" {
			args = append(args, o.redis)
			pkgs = append(pkgs, "@socket.io/redis-adapter", "redis")
		}
		for _, pkg := range pkgs {
			if _, err := os.Stat(filepath.Join(tdir, "node_modules", pkg)); err != nil {
				return nil, fmt.Errorf("node target: %s is not installed in %s: run scripts/deps.sh load", pkg, tdir)
			}
		}
		cmd := exec.Command("node", args...)
		cmd.Dir = tdir
		return cmd, nil
	}
	bin, ok := b.bins[name]
	if !ok {
		bin = filepath.Join(b.dir, name)
		var build *exec.Cmd
		if name == "centrifuge" { // a module of its own
			build = exec.Command("go", "build", "-o", bin, ".")
			build.Dir = tdir
		} else {
			build = exec.Command("go", "build", "-o", bin, "./cmd/vicinity-load/targets/"+name)
			build.Dir = b.root
		}
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			return nil, fmt.Errorf("build %s target: %w", name, err)
		}
		b.bins[name] = bin
	}
	args := []string{"-addr", "127.0.0.1:0"}
	if b.memProfileRate > 0 {
		args = append(args, "-memprofilerate", strconv.Itoa(b.memProfileRate))
	}
	if o.redis != "" {
		args = append(args, "-redis", o.redis)
	}
	if o.recovery {
		args = append(args, "-recovery")
	}
	if o.locationRate > 0 {
		args = append(args, "-location-rate", strconv.FormatFloat(o.locationRate, 'g', -1, 64))
	}
	return exec.Command(bin, args...), nil
}

// server is a running target process.
type server struct {
	name  string
	proto proto
	addr  string
	pid   int
	cmd   *exec.Cmd
	http  *http.Client
}

// start starts target name with its defaults.
func (b *builder) start(name string) (*server, error) { return b.startWith(name, targetOptions{}) }

func (b *builder) startWith(name string, o targetOptions) (*server, error) {
	cmd, err := b.command(name, o)
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s target: %w", name, err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "LISTEN "); ok {
				addr <- a
			}
		}
		close(addr)
	}()
	s := &server{name: name, proto: targetProto(name), pid: cmd.Process.Pid, cmd: cmd, http: &http.Client{Timeout: 30 * time.Second}}
	select {
	case a, ok := <-addr:
		if !ok {
			s.stop()
			return nil, fmt.Errorf("%s target exited before listening", name)
		}
		s.addr = a
	case <-time.After(60 * time.Second):
		s.stop()
		return nil, fmt.Errorf("%s target: no LISTEN line within 60s", name)
	}
	return s, nil
}

func (s *server) stop() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

// cpu returns the CPU time the server process has used (user and
// system), from /proc/pid/stat, in clock ticks of 10ms.
func (s *server) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command, which is in parentheses: state is the
	// first, utime and stime the 12th and 13th.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, errors.New("unexpected /proc stat")
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// rss returns the server process's resident set size in bytes (VmRSS).
func (s *server) rss() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// stats are what a target's /debug/stats reports; Go targets fill the Go
// fields, the Node target heapUsed.
type stats struct {
	HeapAlloc  int64 `json:"heapAlloc"`
	StackInuse int64 `json:"stackInuse"`
	Goroutines int64 `json:"goroutines"`
	Conns      int64 `json:"conns"`
	HeapUsed   int64 `json:"heapUsed"` // Node's V8 heap
	External   int64 `json:"external"` // Node's buffers outside the V8 heap

	// Location is the vicinity target's cluster adapter's location
	// traffic (redis.LocationStats), when it shares location.
	Location *locationStats `json:"location"`
}

// locationStats are the counters of cluster/redis's LocationStats.
type locationStats struct {
	Shared         uint64 // records of the node's sockets shared
	Published      uint64 // messages they made, one per cell
	PublishedBytes uint64
	Received       uint64 // records received from the other nodes
	ReceivedBytes  uint64
	Cells          int // cells subscribed to now
	Remote         int // other nodes' sockets known now
}

func (s *server) isGo() bool { return s.name != "node" }

// stats fetches /debug/stats, collecting garbage first if gc.
func (s *server) stats(gc bool) (stats, error) {
	var st stats
	url := "http://" + s.addr + "/debug/stats"
	if gc {
		url += "?gc=1"
	}
	resp, err := s.http.Get(url)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}

// saveHeapProfile writes the Go target's heap profile (after a GC) to path.
func (s *server) saveHeapProfile(ctx context.Context, path string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+s.addr+"/debug/pprof/heap?gc=1", nil)
	if err != nil {
		return err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// moduleRoot finds the directory of vicinity's go.mod from dir upwards.
func moduleRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/vicinity-go/vicinity\n") {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("vicinity's go.mod not found above " + dir + ": run from the repository or pass -root")
		}
	}
}
