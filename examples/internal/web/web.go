// Package web holds what the examples share that is not about vicinity:
// an HTTP server that shuts down in the right order, the browser builds
// npm installs (the official Socket.IO client's, and those of an
// example's other dependencies), and checking the text people type.
package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// shutdownTimeout bounds Serve's shutdown, both steps together.
const shutdownTimeout = 5 * time.Second

// Serve serves h on ln until ctx ends, then shuts down in this order:
//
//  1. shutdown, the realtime server's Shutdown: it says goodbye to every
//     client, ending their WebSockets, which http.Server.Shutdown ignores
//     (they are hijacked connections), and their long-polling requests,
//     which it would wait for;
//  2. http.Server.Shutdown: it closes ln and waits for the requests left.
//
// Both steps share one 5 s deadline. An error of shutdown (some clients
// were closed before their goodbye was sent) is logged as a warning. Serve
// returns the error that ended serving before ctx did, or that of
// http.Server.Shutdown; it closes ln either way.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, shutdown func(context.Context) error, log *slog.Logger) error {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	select {
	case err := <-served: // never http.ErrServerClosed: nothing shut hs down
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := shutdown(ctx); err != nil {
		log.Warn("some clients were closed before saying goodbye", "err", err)
	}
	err := hs.Shutdown(ctx)
	<-served // http.ErrServerClosed, at once
	return err
}

// Mux returns the handler an example serves: the Socket.IO server rt at
// "/socket.io/" (the path the JavaScript client uses by default), the page
// at "/", the official client's browser build at "/socket.io.min.js", and
// the browser builds of the example's other npm dependencies under
// "/vendor/" (see Vendor). A missing client build is logged now, and
// answered with how to install it.
func Mux(example string, rt http.Handler, page fs.FS, log *slog.Logger) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", rt)
	mux.Handle("/", http.FileServerFS(page))
	if err := CheckBundle(example); err != nil {
		log.Error(err.Error())
	}
	mux.HandleFunc("/socket.io.min.js", ClientBundle(example))
	mux.Handle("/vendor/", Vendor(example))
	return mux
}

// bundle is the official client's browser build, which `npm ci` installs
// in each example's directory.
const bundle = "node_modules/socket.io-client/dist/socket.io.min.js"

// findBundle is find(example, bundle).
func findBundle(example string) string { return find(example, bundle) }

// find looks for the file examples/<example>/<rel> relative to this source
// file (`go run` and `go test` compile it in place), then under the
// working directory. It returns its path, or "" if there is none (for a
// file of node_modules: if `npm ci` has not been run).
func find(example, rel string) string {
	_, src, _, _ := runtime.Caller(0) // examples/internal/web/web.go
	wd, _ := os.Getwd()
	for _, dir := range []string{
		filepath.Join(filepath.Dir(src), "..", "..", example),
		wd,
		filepath.Join(wd, "examples", example),
	} {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// Vendor serves the browser builds of the example's npm dependencies:
// GET /vendor/<package>/<file> answers
// examples/<example>/node_modules/<package>/dist/<file>, for a package its
// package.json lists in "dependencies" (not in "devDependencies": the
// tests' browser driver is not served). A package not listed, or a
// directory, is 404; a file of a listed package that is not installed is
// answered 500 with how to install it (the page can then fall back). Like
// ClientBundle, it looks on each request.
func Vendor(example string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pkg, file, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/vendor/"), "/")
		file = strings.TrimPrefix(path.Clean("/"+file), "/")
		if !dependsOn(example, pkg) || file == "" {
			http.NotFound(w, r)
			return
		}
		p := find(example, path.Join("node_modules", pkg, "dist", file))
		if p == "" {
			if find(example, path.Join("node_modules", pkg, "package.json")) != "" {
				http.NotFound(w, r) // installed, but no such file
				return
			}
			msg := fmt.Sprintf("%s is not installed: run `npm ci` in examples/%s (make run does it)", pkg, example)
			http.Error(w, msg, http.StatusInternalServerError)
			return
		}
		if fi, err := os.Stat(p); err != nil || fi.IsDir() {
			http.NotFound(w, r)
			return
		}
		http.ServeFile(w, r, p)
	})
}

// dependsOn reports whether the example's package.json lists pkg in its
// dependencies.
func dependsOn(example, pkg string) bool {
	p := find(example, "package.json")
	if p == "" || pkg == "" {
		return false
	}
	raw, err := os.ReadFile(p)
	if err != nil {
		return false
	}
	var manifest struct{ Dependencies map[string]string }
	if json.Unmarshal(raw, &manifest) != nil {
		return false
	}
	_, ok := manifest.Dependencies[pkg]
	return ok
}

// CheckBundle returns an error, telling how to install it, if the
// example's copy of the Socket.IO client is not installed. The example
// names a directory of examples/: "chat", "nearby"…
func CheckBundle(example string) error {
	if findBundle(example) == "" {
		return errMissing(example)
	}
	return nil
}

func errMissing(example string) error {
	return fmt.Errorf("socket.io-client is not installed: run `npm ci` in examples/%s (make run does it)", example)
}

// ClientBundle serves the example's copy of the Socket.IO client
// (examples/<example>/node_modules/socket.io-client/dist/socket.io.min.js),
// or answers 500 with CheckBundle's error if it is not installed. It looks
// for it on each request, so an `npm ci` run meanwhile is seen.
func ClientBundle(example string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if p := findBundle(example); p != "" {
			http.ServeFile(w, r, p)
		} else {
			http.Error(w, errMissing(example).Error(), http.StatusInternalServerError)
		}
	}
}

// Clean trims s and checks it is 1 to max characters with no control
// characters. Its errors name the value what: "name is empty".
func Clean(what, s string, max int) (string, error) {
	s = strings.TrimSpace(s)
	switch n := utf8.RuneCountInString(s); {
	case n == 0:
		return "", fmt.Errorf("%s is empty", what)
	case n > max:
		return "", fmt.Errorf("%s is longer than %d characters", what, max)
	}
	if strings.ContainsFunc(s, unicode.IsControl) {
		return "", fmt.Errorf("%s must not contain control characters", what)
	}
	return s, nil
}
