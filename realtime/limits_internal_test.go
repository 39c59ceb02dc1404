package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// heapAlloc returns the live heap after a collection.
func heapAlloc() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// pollingGet returns the packets of one poll of sid.
func pollingGet(t *testing.T, srv *Server, sid string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rec := httptest.NewRecorder()
	r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/socket.io/?EIO=4&transport=polling&sid="+sid, nil)
	srv.ServeHTTP(rec, r)
	require.Equal(t, http.StatusOK, rec.Code, "GET: %s", rec.Body)
	return strings.Split(rec.Body.String(), "\x1e")
}

// connectBatch sends CONNECTs to the given names in one POST and returns
// the replies, read with as many polls as it takes.
func connectBatch(t *testing.T, srv *Server, sid string, names []string) []string {
	t.Helper()
	var body strings.Builder
	for i, n := range names {
		if i > 0 {
			body.WriteByte(0x1e)
		}
		fmt.Fprintf(&body, "40%s,", n)
	}
	pollingPost(t, srv, sid, body.String())
	var replies []string
	for len(replies) < len(names) {
		for _, p := range pollingGet(t, srv, sid) {
			if strings.HasPrefix(p, "44") || strings.HasPrefix(p, "40") {
				replies = append(replies, p)
			}
		}
	}
	return replies
}

// 10,000 CONNECTs to dynamic namespaces that the middleware refuses, or
// that the checks refuse before any lookup (namespaces per connection, the
// CONNECT rate), leave nothing behind: no namespace, no parent's child, no
// goroutine, no memory.
func TestRefusedConnectsLeaveNothing(t *testing.T) {
	const batch, total = 500, 10_000
	tests := []struct {
		name   string
		opts   []Option
		first  string // a CONNECT sent before the others, "" for none
		answer string // the refusal's connect_error data
		lookup bool   // whether the refused CONNECTs reach the lookup
	}{
		{"by the middleware", []Option{WithEventRate(0, 0), WithMaxNamespaces(2 * batch)}, "", `{"message":"no"}`, true},
		{"namespaces per connection", []Option{WithEventRate(0, 0), WithMaxNamespaces(1)}, "40", `{"message":"Too many namespaces"}`, false},
		{"CONNECT rate", []Option{WithEventRate(0.001, 1)}, "40", `{"message":"Too many connection attempts"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := New(tt.opts...)
			t.Cleanup(func() { _ = srv.Close() })
			var matched atomic.Int64
			parent := srv.OfFunc(func(name string, _ json.RawMessage) bool {
				matched.Add(1)
				return strings.HasPrefix(name, "/dyn-")
			})
			parent.Use(func(*Socket) error { return &ConnectError{Message: "no"} })
			sid := pollingHandshake(t, srv)
			if tt.first != "" {
				pollingPost(t, srv, sid, tt.first)
				require.Eventually(t, func() bool { return srv.Of("/").Len() == 1 }, 5*time.Second, time.Millisecond)
				require.Contains(t, pollingGet(t, srv, sid)[0], `40{"sid":`)
			}
			names := func(round int) []string {
				out := make([]string, batch)
				for i := range out {
					out[i] = fmt.Sprintf("/dyn-%d-%d", round, i)
				}
				return out
			}
			empty := func() bool {
				srv.mu.RLock()
				n := len(srv.nsps)
				srv.mu.RUnlock()
				return n == 1 && len(parent.targets()) == 0 // "/" alone
			}
			refuse := func(round int) {
				for _, reply := range connectBatch(t, srv, sid, names(round)) {
					require.True(t, strings.HasSuffix(reply, ","+tt.answer), "refused with %s: %q", tt.answer, reply)
				}
			}
			refuse(-1) // warms the pools and the connection's maps up
			require.Eventually(t, empty, 5*time.Second, time.Millisecond)
			heap := heapAlloc() // first: a collection may start the runtime's finalizer goroutine
			goroutines, lookups := runtime.NumGoroutine(), matched.Load()

			for round := range total / batch {
				refuse(round)
			}
			require.Eventually(t, empty, 5*time.Second, time.Millisecond, "no namespace left")
			if tt.lookup {
				assert.EqualValues(t, total, matched.Load()-lookups)
			} else {
				assert.Zero(t, matched.Load(), "no lookup")
			}
			waitGoroutines(t, goroutines)
			after := heapAlloc()
			assert.Less(t, int64(after)-int64(heap), int64(1<<20), "heap grew from %d to %d bytes", heap, after)
		})
	}
}

// One handshake's headers and query are shared by the connection's sockets:
// a 900 kB query joined to 64 namespaces is not kept 64 times.
func TestHandshakeSharedBySockets(t *testing.T) {
	srv := New()
	t.Cleanup(func() { _ = srv.Close() })
	var mu sync.Mutex
	var socks []*Socket
	names := make([]string, 64)
	for i := range names {
		names[i] = fmt.Sprintf("/n%d", i)
		srv.Of(names[i]).OnConnection(func(s *Socket) {
			mu.Lock()
			socks = append(socks, s)
			mu.Unlock()
		})
	}
	big := strings.Repeat("q", 900_000)
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/socket.io/?EIO=4&transport=polling&big="+big, nil))
	require.Equal(t, http.StatusOK, rec.Code)
	m := regexp.MustCompile(`"sid":"([^"]+)"`).FindStringSubmatch(rec.Body.String())
	require.Len(t, m, 2)
	sid := m[1]

	heap := heapAlloc()
	for _, reply := range connectBatch(t, srv, sid, names) {
		require.True(t, strings.HasPrefix(reply, "40/n"), "connected: %q", reply)
	}
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(socks) == 64 }, 5*time.Second, time.Millisecond)
	grown := int64(heapAlloc()) - int64(heap)
	assert.Less(t, grown, int64(4<<20), "64 sockets cost %d bytes", grown)

	mu.Lock()
	defer mu.Unlock()
	first := socks[0].Handshake()
	assert.Len(t, first.Query.Get("big"), 900_000)
	for _, s := range socks[1:] {
		hs := s.Handshake()
		assert.Equal(t, reflect.ValueOf(first.Query).UnsafePointer(), reflect.ValueOf(hs.Query).UnsafePointer(), "one query")
		assert.Equal(t, reflect.ValueOf(first.Headers).UnsafePointer(), reflect.ValueOf(hs.Headers).UnsafePointer(), "one header map")
		assert.Equal(t, unsafe.StringData(first.URL), unsafe.StringData(hs.URL), "one URL")
	}
}

// waitGoroutines waits until at most n goroutines exist, on the test's own
// goroutine (require.Eventually's condition runs on another, which counts).
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	timeout := time.After(5 * time.Second)
	for runtime.NumGoroutine() > n {
		select {
		case <-tick.C:
		case <-timeout:
			buf := make([]byte, 1<<20)
			require.FailNow(t, "goroutines left", "want at most %d, have %d:\n%s", n, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
	}
}
