package main

import (
	"testing"

	"github.com/vicinity-go/vicinity/examples/internal/browsertest"
	"github.com/vicinity-go/vicinity/internal/redistest"
)

// TestBrowserCalls runs calls.test.mjs: a WebRTC call between two nearby
// Chromium pages with fake media devices, a data-channel message, a
// decline, a video call, and calls refused to someone who takes none and
// from far away.
func TestBrowserCalls(t *testing.T) {
	browsertest.RunScript(t, "nearby", "calls.test.mjs", "NEARBY_URL", func() string { return browserStart(t, nil).URL })
}

// TestBrowserCallsTwoNodes runs calls.test.mjs with bob's page on another
// node of the cluster than alice's and dave's: the server relays the
// call's signals across nodes.
func TestBrowserCallsTwoNodes(t *testing.T) {
	browsertest.RunScript(t, "nearby", "calls.test.mjs", "NEARBY_URL", func() string {
		rs := redistest.Start(t)
		dir := t.TempDir()
		a, b := serveBrowserNode(t, rs.Addr(), dir), serveBrowserNode(t, rs.Addr(), dir)
		t.Setenv("NEARBY_URL2", b)
		return a
	})
}
