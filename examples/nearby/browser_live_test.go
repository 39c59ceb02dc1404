package main

import (
	"context"
	"encoding/json"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/examples/internal/browsertest"
	"github.com/vicinity-go/vicinity/presence"
	"github.com/vicinity-go/vicinity/realtime"
	"github.com/vicinity-go/vicinity/spatial"
)

// TestBrowserLive runs live.test.mjs: the live view (/live, fed by
// Server-Sent Events) in Chromium, with a person driven by the Socket.IO
// client walking into an area and talking there.
func TestBrowserLive(t *testing.T) {
	browsertest.RunScript(t, "nearby", "live.test.mjs", "NEARBY_URL", func() string { return browserStart(t, nil).URL })
}

// TestBrowserLiveResume runs live.test.mjs against a server with
// connection-state recovery, which the example leaves off: the live
// view's events then have ids, and a page that comes back gets what was
// said while it was away. The server is the example's live view with the
// least of the rest the story needs: names, locations, areas, area chat.
func TestBrowserLiveResume(t *testing.T) {
	browsertest.RunScript(t, "nearby", "live.test.mjs", "NEARBY_URL", func() string { return liveResumeServer(t).URL })
}

func liveResumeServer(t *testing.T) *httptest.Server {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	tracker := presence.New(presence.WithLeaveDelay(200 * time.Millisecond))
	name := func(s *realtime.Socket) string {
		var auth struct{ Name string }
		_ = json.Unmarshal(s.Handshake().Auth, &auth)
		return auth.Name
	}
	rt := realtime.New(
		realtime.WithRecovery(time.Minute, false),
		realtime.WithPresence(tracker, func(s *realtime.Socket) (string, presence.Meta, error) { return name(s), presence.Meta{}, nil }),
		realtime.WithSpatial(),
		realtime.WithLocationEvent("location"),
		realtime.WithLocationLimits(realtime.LocationLimits{UpdateRate: 10, UpdateBurst: 20, MaxSpeed: math.Inf(1)}),
	)
	for _, a := range areas {
		require.NoError(t, rt.AddArea(a.Name, spatial.Fence{Circle: a.Circle, Polygon: a.Polygon}))
	}
	rt.OnConnection(func(s *realtime.Socket) {
		_ = s.Emit("welcome", map[string]string{"id": s.ID(), "name": name(s)})
		s.On("area-chat", func(e *realtime.Event) {
			var msg struct{ Area, Text string }
			if err := e.Bind(&msg); err != nil {
				_ = e.AckResult(err)
				return
			}
			_ = e.AckResult(rt.To(realtime.AreaRoom(msg.Area)).Emit("area-chat", map[string]any{
				"from": s.ID(), "name": name(s), "text": msg.Text, "time": time.Now().UnixMilli(), "area": msg.Area,
			}))
		})
	})
	page, err := fs.Sub(static, "static")
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServerFS(page))
	mux.Handle("/socket.io/", rt)
	mux.HandleFunc("/world.json", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"areas": areas})
	})
	mountLive(mux, rt, tracker, logger)
	ts := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		assert.NoError(t, rt.Shutdown(ctx), "realtime shutdown")
		ts.Close()
		_ = tracker.Close()
	})
	return ts
}
