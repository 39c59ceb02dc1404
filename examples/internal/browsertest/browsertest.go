// Package browsertest runs an example's browser test, browser.test.mjs,
// from its Go tests: node drives headless Chromium against the example's
// server (with the helpers of examples/internal/browser.mjs).
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Run runs `node --test browser.test.mjs` in examples/<example>, with the
// environment variable urlEnv set to the URL serve returns, and reports
// its output line by line in the test's log. It needs node, Chromium at
// /usr/bin/chromium and the example's node_modules (`make test` installs
// them): without them it skips the test, or fails it when
// VICINITY_REQUIRE_NODE=1. serve starts the example's server, until the
// test ends, once they are there.
//
// node has two minutes; past them it gets SIGTERM, which lets Playwright
// close Chromium, and SIGKILL 5s later.
func Run(t *testing.T, example, urlEnv string, serve func() string) {
	t.Helper()
	RunScript(t, example, "browser.test.mjs", urlEnv, serve)
}

// RunScript is Run for another script of the example's directory.
func RunScript(t *testing.T, example, script, urlEnv string, serve func() string) {
	t.Helper()
	dir := exampleDir(t, example)
	var missing []string
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node (apt-get install nodejs npm)")
	}
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		missing = append(missing, "/usr/bin/chromium (apt-get install chromium)")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core")); err != nil {
		missing = append(missing, "examples/"+example+"/node_modules (npm ci --prefix examples/"+example+")")
	}
	if len(missing) > 0 {
		msg := "browser test needs " + strings.Join(missing, ", ") + "; `make test` installs them"
		if os.Getenv("VICINITY_REQUIRE_NODE") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}

	url := serve()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "--test", "--test-reporter=spec", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), urlEnv+"="+url)
	// t.Output writes whole lines to the test's log; stdout and stderr are
	// the same writer, so exec copies both with one goroutine.
	out := t.Output()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	require.NoError(t, cmd.Run(), "node --test "+script)
}

// exampleDir is examples/<example>, found from this file's directory.
func exampleDir(t *testing.T, example string) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	require.True(t, ok, "runtime.Caller")
	return filepath.Join(filepath.Dir(file), "..", "..", example)
}
