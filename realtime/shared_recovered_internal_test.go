package realtime

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/spatial"
)

// A socket recovered on this server while this server still holds a
// replica of it (its first server crashed, and said nothing) becomes this
// server's socket, with its own watch in the index.
func TestRecoveredOverOwnReplica(t *testing.T) {
	srv, _ := newSharingServer(t)
	socks := openPolling(t, srv, 2)
	s, other := socks[0], socks[1]
	n := srv.Of("/")
	sp := srv.loc.space(n)

	// The other server shared s (same id) before it crashed: a replica here.
	require.NoError(t, other.SetLocation(home, 0)) // this server is interested in that cell (and has a socket 0 m away)
	n.ApplySharedLocation(SharedLocation{ID: s.id, Position: spatial.Position{Point: home}, Reach: []spatial.Cell{sp.shared.grid.Cell(home)}})
	require.True(t, sp.idx.Replica(s.id), "a replica of s is here")

	// s recovers here with its session: a watch of 500 m, at home.
	state, err := json.Marshal(locationState{Watch: &watchSpec{Radius: 500}, Position: &spatial.Position{Point: home}})
	require.NoError(t, err)
	require.NoError(t, srv.loc.admit(s, &Session{State: map[string]json.RawMessage{stateKey: state}}))
	srv.loc.connected(s)

	require.False(t, sp.idx.Replica(s.id), "s is this server's now")
	seen, watching := sp.idx.Watching(s.id)
	require.True(t, watching, "the recovered socket's watch is not in the index (it sees %v)", seen)
}
