package main

import (
	"testing"

	"github.com/vicinity-go/vicinity/examples/internal/browsertest"
)

// TestBrowserLive runs live.test.mjs: the live view (/live, fed by
// Server-Sent Events) in Chromium, with a person driven by the Socket.IO
// client walking into an area and talking there; the server recovers
// connections, so the stream's events have ids, and a page that comes
// back gets what was said while it was away.
func TestBrowserLive(t *testing.T) {
	browsertest.RunScript(t, "nearby", "live.test.mjs", "NEARBY_URL", func() string { return browserStart(t, nil).URL })
}
