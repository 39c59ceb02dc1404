package main

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/examples/internal/browsertest"
	"github.com/vicinity-go/vicinity/internal/redistest"
)

// browserStart serves the app without bots on 127.0.0.1 until the test
// ends, with a short presence leave delay so a closed page goes offline
// quickly; with a Redis client, as a node of a cluster.
func browserStart(t *testing.T, cluster rueidis.Client) *httptest.Server {
	t.Helper()
	return browserStartIn(t, cluster, "")
}

// browserStartIn is browserStart with the database in dir (nodes of a
// cluster share one); "" for a new temporary directory.
func browserStartIn(t *testing.T, cluster rueidis.Client, dir string) *httptest.Server {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	o := defaultOptions()
	o.Bots = 0
	o.LeaveDelay = 200 * time.Millisecond
	o.Tiles, _ = tileServer(t) // tiles_test.go: the map's tiles, served locally
	o.Data = dir
	rt, handler, closePresence := newServer(logger, o, cluster, openDB(t, o.Data))
	ts := httptest.NewServer(handler)
	t.Cleanup(func() {
		// A page closed between two long-polling requests (before its
		// upgrade to WebSocket) leaves a session that Shutdown waits for
		// until the ping timeout, 20 s: it takes a few hundred
		// microseconds otherwise.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		assert.NoError(t, rt.Shutdown(ctx), "realtime shutdown")
		ts.Close()
		closePresence()
	})
	return ts
}

// TestBrowser runs browser.test.mjs: two Chromium pages using the page as
// people would, clicking the map to walk.
func TestBrowser(t *testing.T) {
	browsertest.Run(t, "nearby", "NEARBY_URL", func() string { return browserStart(t, nil).URL })
}

// TestBrowserTwoNodes runs browser.test.mjs with alice's page on one node
// and bob's on another, on one Redis: the same story, across the cluster.
func TestBrowserTwoNodes(t *testing.T) {
	browsertest.Run(t, "nearby", "NEARBY_URL", func() string {
		rs := redistest.Start(t)
		dir := t.TempDir()
		a, b := serveBrowserNode(t, rs.Addr(), dir), serveBrowserNode(t, rs.Addr(), dir)
		t.Setenv("NEARBY_URL2", b)
		return a
	})
}

// serveBrowserNode is browserStartIn for a node of the cluster on the
// Redis at addr.
func serveBrowserNode(t *testing.T, addr, dir string) string {
	t.Helper()
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	require.NoError(t, err)
	t.Cleanup(rc.Close) // after the server's shutdown: cleanups run last first
	return browserStartIn(t, rc, dir).URL
}
