package main

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/vicinity-go/vicinity/examples/internal/browsertest"
)

// browserStart serves the app without bots on 127.0.0.1 until the test
// ends, with a short presence leave delay so a closed page goes offline
// quickly.
func browserStart(t *testing.T) *httptest.Server {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	o := defaultOptions()
	o.Bots = 0
	o.LeaveDelay = 200 * time.Millisecond
	rt, handler, closePresence := newServer(logger, o, nil)
	ts := httptest.NewServer(handler)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
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
	browsertest.Run(t, "nearby", "NEARBY_URL", func() string { return browserStart(t).URL })
}
