package transport

import (
	"log/slog"
	"sync"
	"time"
)

// QueueLimits returns the bounds of each session's send queue, in packets
// and bytes (see [WithSendQueue]).
func (s *Server) QueueLimits() (frames, bytes int) { return s.cfg.queueFrames, s.cfg.queueBytes }

// logEvery is how often a refusal a client can repeat at will (a handshake
// over [WithMaxSessions], a refused origin) is logged, with its count.
const logEvery = 10 * time.Second

// refusalLog logs one kind of refusal at most once per logEvery, with the
// number of refusals since the last line. The zero value is ready.
type refusalLog struct {
	mu   sync.Mutex
	n    int
	last time.Time
}

// log counts a refusal and logs msg at Warn with args and the count if
// logEvery has passed since the last line.
func (l *refusalLog) log(logger *slog.Logger, msg string, args ...any) {
	now := time.Now()
	l.mu.Lock()
	l.n++
	n := l.n
	due := now.Sub(l.last) >= logEvery
	if due {
		l.n, l.last = 0, now
	}
	l.mu.Unlock()
	if due {
		logger.Warn(msg, append(args, "count", n)...)
	}
}
