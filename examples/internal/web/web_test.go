package web

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// examplesDir is examples/, from this file's directory.
func examplesDir(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	require.True(t, ok, "runtime.Caller")
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// get answers GET / with h.
func get(h http.Handler) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	return rec
}

func TestClientBundle(t *testing.T) {
	t.Parallel()
	if CheckBundle("chat") != nil {
		t.Skip("socket.io-client is not installed: npm ci --prefix examples/chat")
	}
	assert.Equal(t, filepath.Join(examplesDir(t), "chat", bundle), findBundle("chat"), "found in examples/chat")
	rec := get(ClientBundle("chat"))
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Contains(t, rec.Body.String(), "socket.io")
}

func TestClientBundleMissing(t *testing.T) {
	t.Parallel()
	const msg = "socket.io-client is not installed: run `npm ci` in examples/none (make run does it)"
	assert.EqualError(t, CheckBundle("none"), msg)
	rec := get(ClientBundle("none"))
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.Equal(t, msg+"\n", rec.Body.String())
}

func TestClean(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want, err string
	}{
		{" ada ", "ada", ""},
		{"", "", "name is empty"},
		{" \t ", "", "name is empty"},
		{strings.Repeat("é", 5), strings.Repeat("é", 5), ""}, // characters, not bytes
		{strings.Repeat("é", 6), "", "name is longer than 5 characters"},
		{"a\u0007b", "", "name must not contain control characters"},
		{"a\nb", "", "name must not contain control characters"},
	}
	for _, tt := range tests {
		got, err := Clean("name", tt.in, 5)
		if tt.err != "" {
			assert.EqualError(t, err, tt.err, "Clean(%q)", tt.in)
		} else {
			assert.NoError(t, err, "Clean(%q)", tt.in)
		}
		assert.Equal(t, tt.want, got, "Clean(%q)", tt.in)
	}
}

// TestServe checks Serve's order: when ctx ends, shutdown runs while the
// HTTP server still answers, and Serve returns once both are done.
func TestServe(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "http://" + ln.Addr().String()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "hi") })
	get := func() error {
		res, err := http.Get(url)
		if err == nil {
			err = res.Body.Close()
		}
		return err
	}

	ctx, cancel := context.WithCancel(context.Background())
	var shutdownErr error // get's error during shutdown
	shutdown := func(ctx context.Context) error {
		_, ok := ctx.Deadline()
		assert.True(t, ok, "shutdown has a deadline")
		shutdownErr = get()
		return nil
	}
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, ln, h, shutdown, slog.New(slog.DiscardHandler)) }()
	require.NoError(t, get(), "GET while serving")
	cancel()
	select {
	case err := <-served:
		require.NoError(t, err, "Serve")
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after ctx ended")
	}
	assert.NoError(t, shutdownErr, "GET during shutdown: the HTTP server is still up")
	assert.Error(t, get(), "GET after Serve returned")
}

func TestServeListenerClosed(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, ln.Close())
	called := false
	err = Serve(context.Background(), ln, http.NotFoundHandler(), func(context.Context) error { called = true; return nil }, slog.New(slog.DiscardHandler))
	assert.ErrorIs(t, err, net.ErrClosed)
	assert.False(t, called, "no shutdown when serving failed")
}

// getPath answers GET p with h.
func getPath(h http.Handler, p string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
	return rec
}

func TestVendor(t *testing.T) {
	t.Parallel()
	h := Vendor("nearby")
	if find("nearby", "node_modules/leaflet/dist/leaflet.js") == "" {
		t.Skip("leaflet is not installed: npm ci --prefix examples/nearby")
	}
	rec := getPath(h, "/vendor/leaflet/leaflet.js")
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Contains(t, rec.Body.String(), "Leaflet")
	rec = getPath(h, "/vendor/leaflet/images/marker-icon.png")
	assert.Equal(t, http.StatusOK, rec.Code)
	for _, p := range []string{
		"/vendor/leaflet/",                        // a directory
		"/vendor/leaflet/images",                  // a directory
		"/vendor/leaflet/nothing.js",              // no such file
		"/vendor/leaflet/../../package.json",      // outside dist
		"/vendor/playwright-core/package.json",    // a devDependency
		"/vendor/leaflet/%2e%2e/%2e%2e/README.md", // escaped dots
		"/vendor/",
	} {
		assert.Equal(t, http.StatusNotFound, getPath(h, p).Code, p)
	}
}

// TestVendorMissing: a dependency the package.json lists but npm has not
// installed is answered 500, saying how to install it. (Not parallel: it
// changes the working directory, where find looks.)
func TestVendorMissing(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"dependencies": {"leaflet": "1.9.4"}}`), 0o644))
	t.Chdir(dir)
	rec := getPath(Vendor("none"), "/vendor/leaflet/leaflet.js")
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.Equal(t, "leaflet is not installed: run `npm ci` in examples/none (make run does it)\n", rec.Body.String())
	assert.Equal(t, http.StatusNotFound, getPath(Vendor("none"), "/vendor/other/x.js").Code, "not a dependency")
}
