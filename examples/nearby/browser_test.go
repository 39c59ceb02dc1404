package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// browserStart serves the app without bots on 127.0.0.1 until the test
// ends, with a short presence leave delay so a closed page goes offline
// quickly.
func browserStart(t *testing.T) *httptest.Server {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(&logWriter{t: t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	o := defaultOptions()
	o.Bots = 0
	o.LeaveDelay = 200 * time.Millisecond
	rt, handler := newServer(logger, o)
	ts := httptest.NewServer(handler)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		assert.NoError(t, rt.Shutdown(ctx), "realtime shutdown")
		ts.Close()
	})
	return ts
}

// TestBrowser runs browser.test.mjs: two Chromium pages using the page as
// people would, clicking the map to walk.
func TestBrowser(t *testing.T) {
	dir := sourceDir(t)
	var missing []string
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node (apt-get install nodejs npm)")
	}
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		missing = append(missing, "/usr/bin/chromium (apt-get install chromium)")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core")); err != nil {
		missing = append(missing, "examples/nearby/node_modules (npm ci --prefix examples/nearby)")
	}
	if len(missing) > 0 {
		msg := "browser test needs " + strings.Join(missing, ", ") + "; `make test` installs them"
		if os.Getenv("VICINITY_REQUIRE_NODE") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}

	ts := browserStart(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "--test", "--test-reporter=spec", "browser.test.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NEARBY_URL="+ts.URL)
	out := &logWriter{t: t}
	cmd.Stdout, cmd.Stderr = out, out // the same writer: written by one goroutine
	// On timeout, SIGTERM lets Playwright close Chromium; SIGKILL 5s later.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	out.flush()
	require.NoError(t, err, "node --test browser.test.mjs")
}

// logWriter streams output to t.Log, a line at a time.
type logWriter struct {
	t    *testing.T
	mu   sync.Mutex
	line []byte
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.line = append(w.line, p...)
	for {
		i := bytes.IndexByte(w.line, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.t.Log(string(w.line[:i]))
		w.line = w.line[i+1:]
	}
}

func (w *logWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.line) > 0 {
		w.t.Log(string(w.line))
		w.line = nil
	}
}

// sourceDir is the directory of this file: examples/nearby.
func sourceDir(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	require.True(t, ok, "runtime.Caller")
	return filepath.Dir(file)
}
