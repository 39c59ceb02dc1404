// Package balancertest is a load balancer for tests of a cluster: a reverse
// proxy on a loopback port that forwards each new request (a WebSocket
// connection, a long-polling request) to the one server it points at, and
// cuts the connections it holds on demand, as a server's crash or a network
// failure would. A client connects to its URL; the test repoints it to
// another server, holds new requests back, and cuts.
package balancertest

import (
	"context"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// Balancer is a load balancer in front of a cluster's servers. Its
// methods are safe for concurrent use.
type Balancer struct {
	// URL is the balancer's, http://127.0.0.1:port.
	URL string

	target atomic.Pointer[url.URL] // nil: refuse

	mu    sync.Mutex
	conns map[*conn]bool // open, to the servers
}

// targetKey is the context key of a request's server, a *url.URL.
type targetKey struct{}

// conn is a connection to a server; it leaves the balancer's set when it
// closes.
type conn struct {
	net.Conn
	b *Balancer
}

func (c *conn) Close() error {
	c.b.mu.Lock()
	delete(c.b.conns, c)
	c.b.mu.Unlock()
	return c.Conn.Close()
}

// Start starts a balancer that points at the server at rawURL (its
// http:// URL); it is closed, with every connection it holds, when the
// test ends.
func Start(tb testing.TB, rawURL string) *Balancer {
	tb.Helper()
	b := &Balancer{conns: make(map[*conn]bool)}
	b.Point(tb, rawURL)
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		c := &conn{Conn: nc, b: b}
		b.mu.Lock()
		b.conns[c] = true
		b.mu.Unlock()
		return c, nil
	}}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(r.In.Context().Value(targetKey{}).(*url.URL))
		},
		Transport: tr,
		// a server down is what the tests make happen
		ErrorLog: log.New(io.Discard, "", 0),
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		to := b.target.Load() // once: Refuse may come meanwhile
		if to == nil {
			http.Error(w, "balancertest: no server", http.StatusServiceUnavailable)
			return
		}
		rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), targetKey{}, to)))
	}))
	tb.Cleanup(func() {
		b.Cut()
		hs.Close()
		tr.CloseIdleConnections()
	})
	b.URL = hs.URL
	return b
}

// Point sends the next requests to the server at rawURL. It fails tb if
// rawURL is not a URL; call it from the test's goroutine.
func (b *Balancer) Point(tb testing.TB, rawURL string) {
	tb.Helper()
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		tb.Fatalf("balancertest: %q is not a server's URL (%v)", rawURL, err)
	}
	b.target.Store(u)
}

// Refuse answers the next requests 503 Service Unavailable, until the next
// Point: a balancer with no server up. The connections it holds stay.
func (b *Balancer) Refuse() { b.target.Store(nil) }

// Cut closes every connection to the servers (and so the clients'
// connections through them), as a server's crash does.
func (b *Balancer) Cut() {
	b.mu.Lock()
	conns := slices.Collect(maps.Keys(b.conns))
	b.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}
