package compat

import (
	"cmp"
	"context"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vicinity-go/vicinity/internal/nodetest"
	"github.com/vicinity-go/vicinity/presence"
	"github.com/vicinity-go/vicinity/realtime"
	"github.com/vicinity-go/vicinity/transport"
)

// TestMain fails the run if a goroutine of the servers outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	// nodeTimeout bounds the whole node run.
	nodeTimeout = 2 * time.Minute
	// wait bounds each wait for the server after node has finished.
	wait = 5 * time.Second
	// askTimeout is how long the server waits for an acknowledgement the
	// client never sends.
	askTimeout = 300 * time.Millisecond

	// Paths of the recovery and restart servers, as in helpers.mjs.
	recoveryPath = "/recovery/"
	restartPath  = "/restart/"
	presencePath = "/presence/"
	spatialPath  = "/spatial/"
	limitedPath  = "/limited/"
	msgpackPath  = "/msgpack/"
	eio3Path     = "/eio3/"
)

// dynNsp matches the dynamic namespaces of the main and msgpack servers.
var dynNsp = regexp.MustCompile(`^/dyn-[\w-]+$`)

// modes are the client configurations every scenario runs with; the names
// are those of MODES in helpers.mjs, which end each client's tag.
var modes = []string{"default", "websocket", "polling"}

// TestSocketIOClient runs the node:test files against a vicinity server,
// then checks what the server saw.
func TestSocketIOClient(t *testing.T) {
	node := requireNode(t)
	glob := cmp.Or(os.Getenv("VICINITY_COMPAT_FILES"), "*.test.mjs")
	files, err := filepath.Glob(glob)
	require.NoError(t, err)
	require.NotEmpty(t, files, "no %s files in test/compat", glob)

	e := startEnv(t)
	ctx, cancel := context.WithTimeout(t.Context(), nodeTimeout)
	defer cancel()
	args := []string{"--test", "--test-reporter=spec"}
	pattern := os.Getenv("VICINITY_COMPAT_RUN")
	partial := pattern != "" || os.Getenv("VICINITY_COMPAT_FILES") != ""
	if pattern != "" {
		args = append(args, "--test-name-pattern="+pattern)
	}
	args = append(args, files...)
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Env = append(os.Environ(), "VICINITY_URL="+e.url, "NO_COLOR=1", "FORCE_COLOR=0")
	out := t.Output() // line-buffered; one writer, so one Write at a time
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second // node --test runs each file in a child process
	err = cmd.Run()
	require.NoError(t, ctx.Err(), "node --test did not finish within %v", nodeTimeout)
	require.NoError(t, err, "node --test %s", strings.Join(files, " "))

	if partial {
		return // the server-side checks need every scenario
	}
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			e.rec.checkServerSide(t, mode)
		})
	}
}

// requireNode returns the path of node, or skips (fails with
// VICINITY_REQUIRE_NODE=1) when node or the npm packages are missing.
func requireNode(t *testing.T) string {
	t.Helper()
	return nodetest.Require(t, ".", "socket.io-client", "socket.io-client-v2", "socket.io-msgpack-parser")
}

// env is what the node tests connect to: one HTTP server on 127.0.0.1 with
// Socket.IO servers under different paths.
//
//	/socket.io/  the main server: every scenario but the ones below
//	/recovery/   a server with connection-state recovery
//	/restart/    a server that a client can make restart
//	/presence/   a server with presence
//	/spatial/    a server with a spatial index
//	/limited/    a server with an event rate of 1/s, bursts of 1
//	/msgpack/    a server with the msgpack parser
//	/eio3/       a server that admits Socket.IO 2 clients (Engine.IO v3)
type env struct {
	url     string
	rec     *recorder
	gate    *gate
	restart *restartable
	wg      sync.WaitGroup // goroutines of handlers waiting for acknowledgements
}

func startEnv(t *testing.T) *env {
	t.Helper()
	e := &env{rec: newRecorder(), gate: &gate{closed: make(map[string]bool)}}
	tw := &testWriter{t: t}
	t.Cleanup(tw.stop) // registered first, so it runs after the servers are closed
	level := slog.LevelWarn
	if os.Getenv("VICINITY_COMPAT_DEBUG") == "1" {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(tw, &slog.HandlerOptions{Level: level}))

	heartbeat := realtime.WithTransportOptions(
		transport.WithPingInterval(500*time.Millisecond), // heartbeats happen during the tests
		transport.WithPingTimeout(5*time.Second),
	)
	main := realtime.New(realtime.WithLogger(logger), heartbeat)
	for _, n := range []*realtime.Namespace{main.Of("/"), main.Of("/admin"), main.OfRegexp(dynNsp)} {
		n.Use(refuseBadToken)
		n.OnConnection(e.register)
	}
	main.Of(askerNsp).OnConnection(askFirst)

	limited := realtime.New(
		realtime.WithPath(limitedPath),
		realtime.WithLogger(logger),
		realtime.WithEventRate(1, 1),
	)
	limited.OnConnection(e.register)

	msgpack := realtime.New(
		realtime.WithPath(msgpackPath),
		realtime.WithLogger(logger),
		realtime.WithParser(realtime.MsgpackParser),
		heartbeat,
	)
	msgpack.OnConnection(e.register)
	msgpack.OfRegexp(dynNsp).OnConnection(e.register)

	eio3 := realtime.New(
		realtime.WithPath(eio3Path),
		realtime.WithLogger(logger),
		realtime.WithAllowEIO3(true),
		heartbeat,
	)
	eio3.OnConnection(e.register)
	eio3.OfRegexp(dynNsp).OnConnection(e.register)
	withToken := eio3.Of("/nsp")
	withToken.Use(requireToken)
	withToken.OnConnection(e.register)

	recovery := realtime.New(
		realtime.WithPath(recoveryPath),
		realtime.WithLogger(logger),
		realtime.WithRecovery(2*time.Minute, true),
		realtime.WithTransportOptions(transport.WithAllowRequest(e.gate.allow)),
	)
	recovery.OnConnection(e.register)
	recovery.OnConnection(e.registerRecovery)

	restart := &restartable{newServer: func() *realtime.Server {
		s := realtime.New(realtime.WithPath(restartPath), realtime.WithLogger(logger))
		s.OnConnection(e.register)
		s.OnConnection(e.registerRestart)
		return s
	}}
	restart.cur = restart.newServer()
	e.restart = restart

	tracker := presence.New(presence.WithLeaveDelay(0))
	withPresence := realtime.New(
		realtime.WithPath(presencePath),
		realtime.WithLogger(logger),
		realtime.WithPresence(tracker, identifyByAuth),
		realtime.WithPresenceRooms(func(_, room string) bool { return room != "" }),
		heartbeat,
	)
	withPresence.OnConnection(registerPresence)

	located := realtime.New(
		realtime.WithPath(spatialPath),
		realtime.WithLogger(logger),
		realtime.WithSpatial(),
		realtime.WithLocationEvent("location"),
		realtime.WithLocationLimits(realtime.LocationLimits{UpdateRate: 100, UpdateBurst: 100, QueryRate: 100, QueryBurst: 100, MaxSpeed: math.Inf(1)}),
		realtime.WithRecovery(time.Minute, false),
		heartbeat,
	)
	located.OnConnection(registerSpatial)

	mux := http.NewServeMux()
	mux.Handle(realtime.DefaultPath, main)
	mux.Handle(recoveryPath, recovery)
	mux.Handle(restartPath, restart)
	mux.Handle(presencePath, withPresence)
	mux.Handle(spatialPath, located)
	mux.Handle(limitedPath, limited)
	mux.Handle(msgpackPath, msgpack)
	mux.Handle(eio3Path, eio3)
	ts := httptest.NewServer(mux) // listens on 127.0.0.1
	e.url = ts.URL
	t.Cleanup(func() {
		_ = main.Close()
		_ = recovery.Close()
		_ = withPresence.Close()
		_ = located.Close()
		_ = limited.Close()
		_ = msgpack.Close()
		_ = eio3.Close()
		_ = tracker.Close()
		restart.close()
		e.wg.Wait()
		ts.Close()
	})
	return e
}
