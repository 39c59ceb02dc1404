package admin_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/admin"
	"github.com/vicinity-go/vicinity/client"
	"github.com/vicinity-go/vicinity/internal/nodetest"
	"github.com/vicinity-go/vicinity/realtime"
)

// uiDir holds the npm packages of the Chromium test: the real Admin UI and
// playwright-core.
const uiDir = "testdata/ui"

// TestAdminUIInChromium loads the real Admin UI page in headless Chromium,
// connects it to an instrumented server and checks that it lists the
// server's sockets and rooms.
func TestAdminUIInChromium(t *testing.T) {
	node := nodetest.Require(t, uiDir, "@socket.io/admin-ui", "playwright-core")
	if _, err := os.Stat("/usr/bin/chromium"); err != nil && os.Getenv("CHROMIUM") == "" {
		if os.Getenv(nodetest.RequireEnv) == "1" {
			t.Fatal("the Admin UI test needs /usr/bin/chromium (apt-get install chromium)")
		}
		t.Skip("the Admin UI test needs /usr/bin/chromium (apt-get install chromium)")
	}

	ui := admin.New(admin.WithNoAuth(true))
	srv := realtime.New(realtime.WithObserver(ui))
	require.NoError(t, ui.Instrument(srv))
	srv.OnConnection(func(s *realtime.Socket) { s.Join("lobby") })
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	mux.Handle("/", http.FileServer(http.Dir(filepath.Join(uiDir, "node_modules", "@socket.io", "admin-ui", "ui", "dist"))))
	ts := httptest.NewServer(mux) // the page and the server share an origin
	t.Cleanup(func() {
		ui.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		ts.Close()
	})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var ids []string
	for range 2 {
		s, err := client.Connect(ctx, ts.URL, client.WithReconnection(false))
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Manager().Close() })
		ids = append(ids, s.ID())
	}

	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", "ui.test.mjs")
	cmd.Dir = uiDir
	cmd.Env = append(os.Environ(),
		"ADMIN_UI="+ts.URL+"/", "ADMIN_SERVER="+ts.URL, // the UI adds its namespace, "/admin"
		"ADMIN_SOCKETS="+strings.Join(ids, ","), "ADMIN_ROOM=lobby")
	out := t.Output()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	require.NoError(t, cmd.Run(), "node --test ui.test.mjs")
}
