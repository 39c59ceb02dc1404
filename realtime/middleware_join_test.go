package realtime_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/client"
	"github.com/vicinity-go/vicinity/realtime"
)

// Rooms joined in the middleware, as Node allows, are the socket's once it
// connects; one left there is not.
func TestJoinInMiddleware(t *testing.T) {
	t.Parallel()
	srv := realtime.New()
	seen := make(chan []string, 1)
	srv.Use(func(s *realtime.Socket) error {
		if err := s.Join("vip", "gone"); err != nil {
			return err
		}
		s.Leave("gone")
		seen <- s.Rooms()
		return nil
	})
	connected := make(chan []string, 1)
	srv.OnConnection(func(s *realtime.Socket) { connected <- s.Rooms() })
	ts := serve(t, srv)
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	c, err := client.Connect(ctx, ts.URL, client.WithReconnection(false))
	require.NoError(t, err)
	defer func() { _ = c.Manager().Close() }()
	got := make(chan string, 1)
	c.On("hi", func(e *client.Event) { got <- e.Name })

	assert.Equal(t, []string{"vip"}, <-seen, "in the middleware")
	assert.ElementsMatch(t, []string{c.ID(), "vip"}, <-connected)
	require.NoError(t, srv.To("vip").Emit("hi"))
	select {
	case <-got:
	case <-ctx.Done():
		t.Fatal("the room joined in the middleware got nothing")
	}
	require.NoError(t, srv.To("gone").Emit("hi"))
	sockets, err := srv.In("gone").FetchSockets(ctx)
	require.NoError(t, err)
	assert.Empty(t, sockets)
}
