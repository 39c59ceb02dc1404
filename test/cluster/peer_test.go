package cluster

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	// wait bounds each wait for an event, a note or an answer.
	wait = 5 * time.Second
	// startTimeout bounds the start of a process (node, a vicinity child).
	startTimeout = 20 * time.Second
)

// peer is the node process running peer.mjs: a Socket.IO server with
// @socket.io/redis-adapter, an emitter, and official socket.io-client
// sockets, driven over its stdin and stdout (see peer.mjs).
type peer struct {
	url   string // its Socket.IO server's
	cmd   *exec.Cmd
	stdin io.WriteCloser

	mu      sync.Mutex
	nextID  int
	waiting map[int]chan message
	notes   []message
	changed chan struct{} // closed and replaced when a note comes
	done    chan struct{} // closed when node's stdout ends
}

// message is a line of peer.mjs: a note, or the answer to command ID.
type message struct {
	Note   string `json:"note"`
	Port   int    `json:"port"`
	Client string `json:"client"`
	Event  string `json:"event"`
	Reason string `json:"reason"`
	Args   []any  `json:"args"`
	// of a connect note
	SID       string `json:"sid"`
	Recovered bool   `json:"recovered"`

	ID     int             `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  string          `json:"error"`
}

// startPeer starts peer.mjs on the Redis at redisURL, in mode m; it is
// stopped when the test ends.
func startPeer(t *testing.T, node, redisURL string, m mode) *peer {
	t.Helper()
	p, port := startScript(t, node, "peer.mjs", "REDIS_URL="+redisURL, "ADAPTER_MODE="+m.name)
	p.url = fmt.Sprintf("http://127.0.0.1:%d", port)
	return p
}

// startScript starts `node script` with env added, stopped when the test
// ends, and returns it once it said it was ready, with the port it said.
func startScript(t *testing.T, node, script string, env ...string) (*peer, int) {
	t.Helper()
	p := &peer{waiting: make(map[int]chan message), changed: make(chan struct{}), done: make(chan struct{})}
	p.cmd = exec.Command(node, script)
	p.cmd.Env = append(append(os.Environ(), env...), "NO_COLOR=1")
	p.cmd.Stderr = t.Output()
	var err error
	p.stdin, err = p.cmd.StdinPipe()
	require.NoError(t, err)
	out, err := p.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start(), "node "+script)
	t.Cleanup(func() { p.stop(t) })
	ready := make(chan int, 1)
	go p.read(t, out, ready)
	select {
	case port := <-ready:
		return p, port
	case <-p.done:
		t.Fatalf("node %s exited before it was ready", script)
	case <-time.After(startTimeout):
		t.Fatalf("node %s was not ready within %v", script, startTimeout)
	}
	return nil, 0
}

// read reads node's lines until its stdout ends.
func (p *peer) read(t *testing.T, out io.Reader, ready chan<- int) {
	defer close(p.done)
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var m message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Errorf("peer.mjs said %q: %v", sc.Text(), err)
			continue
		}
		p.mu.Lock()
		switch {
		case m.Note == "ready":
			ready <- m.Port
		case m.Note != "":
			p.notes = append(p.notes, m)
			close(p.changed)
			p.changed = make(chan struct{})
		default:
			if ch := p.waiting[m.ID]; ch != nil {
				ch <- m
				delete(p.waiting, m.ID)
			}
		}
		p.mu.Unlock()
	}
}

// stop closes node's stdin, which makes it exit, and kills it if it has
// not within a few seconds.
func (p *peer) stop(t *testing.T) {
	_ = p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(wait):
		t.Errorf("node peer.mjs did not exit when its stdin closed: killing it")
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	_ = p.cmd.Wait()
}

// do sends the command op with params and returns its result, or the
// error node threw.
func (p *peer) do(op string, params map[string]any) (json.RawMessage, error) {
	cmd := map[string]any{"op": op}
	for k, v := range params {
		cmd[k] = v
	}
	ch := make(chan message, 1)
	p.mu.Lock()
	p.nextID++
	cmd["id"] = p.nextID
	p.waiting[p.nextID] = ch
	line, err := json.Marshal(cmd)
	if err == nil {
		_, err = p.stdin.Write(append(line, '\n'))
	}
	p.mu.Unlock()
	if err != nil {
		return nil, err
	}
	select {
	case m := <-ch:
		if m.Error != "" {
			return nil, errors.New(m.Error)
		}
		return m.Result, nil
	case <-p.done:
		return nil, errors.New("node peer.mjs exited")
	case <-time.After(2 * wait):
		return nil, fmt.Errorf("no answer to %s within %v", op, 2*wait)
	}
}

// call is do for commands that must succeed; it decodes the result into
// out unless out is nil.
func (p *peer) call(t *testing.T, out any, op string, params map[string]any) {
	t.Helper()
	raw, err := p.do(op, params)
	require.NoError(t, err, "%s %v", op, params)
	if out != nil {
		require.NoError(t, json.Unmarshal(raw, out), "%s: result %s", op, raw)
	}
}

// note waits for the first note that match accepts.
func (p *peer) note(t *testing.T, what string, match func(message) bool) message {
	t.Helper()
	return p.nth(t, what, 1, match)
}

// nth waits for the n-th note (1 for the first) that match accepts.
func (p *peer) nth(t *testing.T, what string, n int, match func(message) bool) message {
	t.Helper()
	deadline := time.After(wait)
	for {
		p.mu.Lock()
		var m message
		found := 0
		for _, note := range p.notes {
			if match(note) {
				if found++; found == n {
					m = note
					break
				}
			}
		}
		changed := p.changed
		p.mu.Unlock()
		if found == n {
			return m
		}
		select {
		case <-changed:
		case <-p.done:
			t.Fatalf("node peer.mjs exited while waiting for %s", what)
		case <-deadline:
			t.Fatalf("no %s within %v", what, wait)
		}
	}
}

// event waits for the first event of that name client got, and returns
// its arguments.
func (p *peer) event(t *testing.T, client, event string) []any {
	t.Helper()
	return p.note(t, fmt.Sprintf("%q on client %s", event, client), func(m message) bool {
		return m.Note == "event" && m.Client == client && m.Event == event
	}).Args
}

// disconnected waits for client's disconnection and returns its reason.
func (p *peer) disconnected(t *testing.T, client string) string {
	t.Helper()
	return p.note(t, "the disconnection of client "+client, func(m message) bool {
		return m.Note == "disconnect" && m.Client == client
	}).Reason
}

// serverSideEmit waits for the server-side event "hello" whose first
// argument is arg0, and returns its arguments.
func (p *peer) serverSideEmit(t *testing.T, arg0 string) []any {
	t.Helper()
	return p.note(t, fmt.Sprintf("server-side event hello(%q)", arg0), func(m message) bool {
		return m.Note == "serverSideEmit" && len(m.Args) > 0 && m.Args[0] == arg0
	}).Args
}

// events returns the names of the events client got so far, in order.
func (p *peer) events(client string) []string { return names(p.eventNotes(client)) }

// eventNotes returns the events client got so far, in order.
func (p *peer) eventNotes(client string) []message {
	p.mu.Lock()
	defer p.mu.Unlock()
	var got []message
	for _, m := range p.notes {
		if m.Note == "event" && m.Client == client {
			got = append(got, m)
		}
	}
	return got
}

// names are the names of events, in order.
func names(events []message) []string {
	var got []string
	for _, m := range events {
		got = append(got, m.Event)
	}
	return got
}

// bin is b as peer.mjs reads a Buffer from a command.
func bin(b ...byte) map[string]any {
	return map[string]any{"$bin": base64.StdEncoding.EncodeToString(b)}
}

// buffer is b as peer.mjs reports a Buffer a client got.
func buffer(b ...byte) map[string]any {
	return map[string]any{"$bin": base64.StdEncoding.EncodeToString(b), "kind": "Buffer"}
}
