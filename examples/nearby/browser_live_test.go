package main

import (
	"testing"

	"github.com/vicinity-go/vicinity/examples/internal/browsertest"
)

// TestBrowserLive runs live.test.mjs: the live view (/live, fed by
// Server-Sent Events) in Chromium, with a person driven by the Socket.IO
// client walking into an area and talking there.
func TestBrowserLive(t *testing.T) {
	browsertest.RunScript(t, "nearby", "live.test.mjs", "NEARBY_URL", func() string { return browserStart(t, nil).URL })
}
