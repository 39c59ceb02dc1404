package admin_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"

	"github.com/vicinity-go/vicinity/admin"
	"github.com/vicinity-go/vicinity/client"
	"github.com/vicinity-go/vicinity/realtime"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const wait = 5 * time.Second

// serve starts a server instrumented by a UI made with opts.
func serve(t *testing.T, opts ...admin.Option) (*realtime.Server, string) {
	t.Helper()
	ui := admin.New(append([]admin.Option{admin.WithStatsInterval(50 * time.Millisecond)}, opts...)...)
	srv := realtime.New(realtime.WithObserver(ui))
	require.NoError(t, ui.Instrument(srv))
	assert.Error(t, ui.Instrument(srv), "once")
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("join", func(e *realtime.Event) {
			var room string
			_ = e.Bind(&room)
			s.Join(room)
			_ = e.Ack(s.Rooms())
		})
		s.On("ping", func(e *realtime.Event) { _ = s.Emit("pong", e.Values()...) })
	})
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ui.Close()
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = srv.Shutdown(ctx)
		ts.Close()
	})
	return srv, ts.URL
}

// recorder keeps what an admin socket receives, by event name.
type recorder chan *client.Event

func (r recorder) next(t *testing.T, name string) *client.Event {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case e := <-r:
			if e.Name == name {
				return e
			}
		case <-deadline:
			t.Fatalf("no %s event", name)
		}
	}
}

func connect(t *testing.T, url string, opts ...client.SocketOption) (*client.Socket, recorder) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	m := client.New(url, client.WithReconnection(false))
	t.Cleanup(func() { _ = m.Close() })
	s := m.Socket("/admin", opts...)
	rec := make(recorder, 256)
	s.OnAny(func(e *client.Event) { rec <- e })
	require.NoError(t, s.Connect(ctx))
	return s, rec
}

func TestAdminSeesSocketsRoomsAndEvents(t *testing.T) {
	t.Parallel()
	_, url := serve(t, admin.WithNoAuth(true))
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	user, err := client.Connect(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = user.Manager().Close() })

	_, rec := connect(t, url)
	var config struct{ SupportedFeatures []string }
	require.NoError(t, rec.next(t, "config").Bind(&config))
	assert.Contains(t, config.SupportedFeatures, "EMIT")
	assert.Contains(t, config.SupportedFeatures, "ALL_EVENTS")
	var all []map[string]any
	require.NoError(t, rec.next(t, "all_sockets").Bind(&all))
	var found map[string]any
	for _, s := range all {
		if s["id"] == user.ID() {
			found = s
		}
	}
	require.NotNil(t, found, "the user's socket is listed: %v", all)
	assert.Equal(t, "/", found["nsp"])
	assert.Contains(t, []any{"polling", "websocket"}, found["transport"])
	hs := found["handshake"].(map[string]any)
	assert.NotContains(t, hs, "auth", "never shown")
	assert.Equal(t, "127.0.0.1", hs["address"])

	_, err = user.EmitWithAck(ctx, "join", "lobby")
	require.NoError(t, err)
	var nsp, room, id string
	require.NoError(t, rec.next(t, "event_received").Bind(&nsp, &id))
	assert.Equal(t, user.ID(), id)
	require.NoError(t, rec.next(t, "room_joined").Bind(&nsp, &room, &id))
	assert.Equal(t, []string{"/", "lobby", user.ID()}, []string{nsp, room, id})

	var stats struct {
		ClientsCount int
		Namespaces   []struct {
			Name         string
			SocketsCount int
		}
		AggregatedEvents []struct{ Type string }
	}
	require.NoError(t, rec.next(t, "server_stats").Bind(&stats))
	assert.Equal(t, 2, stats.ClientsCount)
	assert.NotEmpty(t, stats.Namespaces)
	userID := user.ID()
	_ = user.Manager().Close()
	var reason string
	require.NoError(t, rec.next(t, "socket_disconnected").Bind(&nsp, &id, &reason))
	assert.Equal(t, userID, id)
	assert.Equal(t, "client namespace disconnect", reason)
}

// The UI acts on the server: emit to a room, make sockets join, leave and
// disconnect.
func TestAdminActs(t *testing.T) {
	t.Parallel()
	_, url := serve(t, admin.WithNoAuth(true))
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	user, err := client.Connect(ctx, url, client.WithReconnection(false))
	require.NoError(t, err)
	t.Cleanup(func() { _ = user.Manager().Close() })
	got := make(chan string, 4)
	user.On("hello", func(e *client.Event) { got <- string(e.JSON(0)) })
	gone := make(chan struct{})
	user.OnDisconnect(func(*client.Socket, string) { close(gone) })

	adm, rec := connect(t, url)
	rec.next(t, "config")
	require.NoError(t, adm.Emit("join", "/", "vip", ""))
	rec.next(t, "room_joined")
	require.NoError(t, adm.Emit("emit", "/", "vip", "hello", "from the UI"))
	select {
	case msg := <-got:
		assert.Equal(t, `"from the UI"`, msg)
	case <-time.After(wait):
		t.Fatal("no hello")
	}
	require.NoError(t, adm.Emit("emit", "/nowhere", "", "hello", "x"), "an unknown namespace is not created")
	require.NoError(t, adm.Emit("_disconnect", "/", false, "vip"))
	select {
	case <-gone:
	case <-time.After(wait):
		t.Fatal("not disconnected")
	}
}

func TestAdminReadOnly(t *testing.T) {
	t.Parallel()
	_, url := serve(t, admin.WithNoAuth(true), admin.WithReadOnly(true), admin.WithProduction(true))
	_, rec := connect(t, url)
	var config struct{ SupportedFeatures []string }
	require.NoError(t, rec.next(t, "config").Bind(&config))
	assert.Equal(t, []string{"AGGREGATED_EVENTS"}, config.SupportedFeatures)
	rec.next(t, "server_stats")
}

func TestAdminAuth(t *testing.T) {
	t.Parallel()
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	require.NoError(t, err)
	_, url := serve(t, admin.WithAuth("admin", string(hash)))
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()

	for _, auth := range []map[string]string{{}, {"username": "admin", "password": "wrong"}, {"username": "root", "password": "s3cret"}, {"sessionId": "forged"}} {
		m := client.New(url, client.WithReconnection(false))
		err := m.Socket("/admin", client.WithAuth(auth)).Connect(ctx)
		_ = m.Close()
		var ce *client.ConnectError
		require.ErrorAs(t, err, &ce, "%v", auth)
		assert.Equal(t, "invalid credentials", ce.Message, "%v", auth)
	}

	_, rec := connect(t, url, client.WithAuth(map[string]string{"username": "admin", "password": "s3cret"}))
	var session string
	require.NoError(t, rec.next(t, "session").Bind(&session))
	require.Len(t, session, 16)
	_, rec = connect(t, url, client.WithAuth(map[string]string{"sessionId": session}))
	rec.next(t, "config")
}

func TestNewPanics(t *testing.T) {
	t.Parallel()
	assert.Panics(t, func() { admin.New() }, "no auth chosen")
	assert.Panics(t, func() { admin.New(admin.WithAuth("a", "not a hash")) })
	assert.Panics(t, func() { admin.New(admin.WithNoAuth(true), admin.WithNamespace("admin")) })
}
