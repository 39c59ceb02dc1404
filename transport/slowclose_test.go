package transport_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/transport"
)

// holdingHandler holds each "closing a slow client" line, logged at Debug
// as a slow client's close begins, until release is closed, and counts the
// Warn lines.
type holdingHandler struct {
	entered chan struct{}
	release chan struct{}
	warned  atomic.Int64
}

func (h *holdingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *holdingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *holdingHandler) WithGroup(string) slog.Handler            { return h }

func (h *holdingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn {
		h.warned.Add(1)
	}
	if r.Message == "closing a slow client" {
		h.entered <- struct{}{}
		<-h.release
	}
	return nil
}

// Clients whose queues overflow together (in one broadcast) are closed one
// at a time: no slow-client close begins while another runs, and all of
// them end closed as slow, with one Warn line for all. Not parallel: the slow closes of the package's
// other tests would wait for this one's.
func TestSlowClosesOneAtATime(t *testing.T) {
	const n = 4
	log := &holdingHandler{entered: make(chan struct{}, n), release: make(chan struct{})}
	h := newHarness(t, transport.WithSendQueue(1, 1<<20), transport.WithLogger(slog.New(log)))
	receivers := make([]*appReceiver, n)
	for i := range receivers {
		receivers[i] = newAppReceiver()
		_, conn := openApp(t, h, receivers[i])
		require.True(t, conn.Send(false, transport.Message([]byte("a"), false)), "client %d", i)
		require.False(t, conn.Send(false, transport.Message([]byte("b"), false)), "client %d overflows", i)
	}
	select {
	case <-log.entered:
	case <-time.After(wait):
		require.FailNow(t, "no slow-client close began")
	}
	require.Never(t, func() bool { return len(log.entered) > 0 }, 100*time.Millisecond, 5*time.Millisecond,
		"a second slow-client close began while the first ran")
	close(log.release)
	for i, r := range receivers {
		assert.Equal(t, transport.ReasonSlowClient, recvWithin(t, r.closes), "client %d", i)
	}
	assert.Equal(t, int64(1), log.warned.Load(), "Warn lines: once per 10 s, with the count")
}
