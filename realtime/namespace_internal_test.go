package realtime

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A client cannot make the server keep namespaces: a dynamic child is
// dropped once it has no socket, whether the middleware refused everyone or
// the last socket left.
func TestDynamicChildrenAreDropped(t *testing.T) {
	t.Parallel()
	srv := New()
	t.Cleanup(func() { _ = srv.Close() })
	parent := srv.OfRegexp(regexp.MustCompile(`^/room-\d+$`))
	parent.Use(func(s *Socket) error {
		if s.Namespace().Name() == "/room-0" {
			return nil
		}
		return &ConnectError{Message: "no"}
	})

	sid := pollingHandshake(t, srv)
	var body strings.Builder
	for i := range 100 {
		if i > 0 {
			body.WriteByte(0x1e)
		}
		fmt.Fprintf(&body, "40/room-%d,", i)
	}
	pollingPost(t, srv, sid, body.String())

	nsps := func() (room0 bool, count int) {
		srv.mu.RLock()
		defer srv.mu.RUnlock()
		_, room0 = srv.nsps["/room-0"]
		return room0, len(srv.nsps)
	}
	// the CONNECTs are handled on the sockets' goroutines
	require.Eventually(t, func() bool { kept, count := nsps(); return kept && count == 2 && len(parent.targets()) == 1 }, 5*time.Second, time.Millisecond,
		"\"/\" and /room-0 stay; the refused ones are gone")

	pollingPost(t, srv, sid, "41/room-0,")
	require.Eventually(t, func() bool { kept, _ := nsps(); return !kept && len(parent.targets()) == 0 }, 5*time.Second, time.Millisecond,
		"dropped once its last socket left")
}

func pollingHandshake(t *testing.T, srv *Server) string {
	t.Helper()
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/socket.io/?EIO=4&transport=polling", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	m := regexp.MustCompile(`"sid":"([^"]+)"`).FindStringSubmatch(rec.Body.String())
	require.Len(t, m, 2, "open packet %q", rec.Body.String())
	return m[1]
}

func pollingPost(t *testing.T, srv *Server, sid, body string) {
	t.Helper()
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/socket.io/?EIO=4&transport=polling&sid="+sid, strings.NewReader(body)))
	require.Equal(t, "ok", rec.Body.String(), "POST %q", body)
}
