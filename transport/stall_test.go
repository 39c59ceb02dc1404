package transport_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/transport"
)

// A POST whose body stalls does not keep its handler once the session has
// closed: the read is cut off and the request answered at once.
func TestPollingStalledPostEndsWithSession(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	sid, s := h.handshake(t)

	nc, err := net.Dial("tcp", h.srv.Listener.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	_, err = fmt.Fprintf(nc, "POST /engine.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: %s\r\n"+
		"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: 100\r\n\r\n4hel", sid, h.srv.Listener.Addr())
	require.NoError(t, err)
	require.Eventually(t, func() bool { return transport.PollingPost(s.conn) }, wait, time.Millisecond, "the POST is being read")

	s.conn.CloseWithReason(transport.ReasonForcedClose, false)
	require.NoError(t, nc.SetReadDeadline(time.Now().Add(wait)))
	res, err := http.ReadResponse(bufio.NewReader(nc), nil)
	require.NoError(t, err, "the stalled POST is answered once its session closed")
	_ = res.Body.Close()
	assert.Equal(t, http.StatusBadRequest, res.StatusCode)
	assert.Equal(t, transport.ReasonForcedClose, s.closed(t))
}
