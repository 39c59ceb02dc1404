//go:build linux

package cluster

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A client of server C, in room r, comes back through the load balancer
// to server A after C was killed (SIGKILL: it never saw the client go),
// from the session C kept in Redis while the client was connected:
// socket.recovered, its id, its data, its rooms, and every broadcast it
// missed (sent from A and B) in order, binary data included.
func TestRecoveryAfterKill(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c := startWith(t, m, 2, recoveryLog)
			ch := startChild(t, c.redis.Addr(), m, recoveryLog)
			c.waitReady(t, 3, c.a, c.b)
			c.recoverElsewhere(t, ch.url, func(id string) {
				c.waitSession(t, id, "r")
				require.NoError(t, ch.cmd.Process.Kill())
				_ = ch.cmd.Wait()
			}, c.a, c.b)
		})
	}
}
