package redis

import (
	"context"
	"github.com/stretchr/testify/assert"
	"github.com/vicinity-go/vicinity/internal/sio"
	"github.com/vicinity-go/vicinity/spatial"
	"math"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/client"
	"github.com/vicinity-go/vicinity/internal/id"
	"github.com/vicinity-go/vicinity/internal/redistest"
	"github.com/vicinity-go/vicinity/realtime"
)

// Sharing every socket again (after every reconnection) while the sockets
// move leaves no record in a cell a socket left: the records of a server
// reach the outbox in the order they were made.
func TestShareAgainRacingMoves(t *testing.T) {
	rs := redistest.Start(t)
	rc := internalClient(t, rs.Addr())
	key := "sa" + id.New()[:8]
	srv := realtime.New(realtime.WithAdapter(NewAdapter(rc, WithKey(key), WithCellSize(1000))),
		realtime.WithSpatial(), realtime.WithLocationEvent("location"),
		realtime.WithLocationLimits(realtime.LocationLimits{UpdateRate: 1e6, UpdateBurst: 1e6, MaxSpeed: math.Inf(1)}))
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		hs.Close()
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var socks []*client.Socket
	for range 20 {
		s, err := client.Connect(ctx, hs.URL, client.WithTransports("websocket"), client.WithReconnection(false))
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Manager().Close() })
		socks = append(socks, s)
	}
	a := srv.Of("/").Adapter().(*Adapter)

	// three places 5 km apart: three cells
	places := []map[string]float64{{"lat": 52.52, "lng": 13.405}, {"lat": 52.565, "lng": 13.405}, {"lat": 52.61, "lng": 13.405}}
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Add(1)
	go func() { // reconnections, as often as can be
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				a.shareAgain()
			}
		}
	}()
	var wg sync.WaitGroup
	for _, s := range socks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 60 {
				_, _ = s.EmitWithAck(ctx, "location", places[i%2])
			}
		}()
	}
	wg.Wait()
	close(stop)
	bg.Wait()
	for _, s := range socks {
		_, err := s.EmitWithAck(ctx, "location", places[2]) // last: a third cell
		require.NoError(t, err)
	}
	// Once the outbox drained, each socket has a record in exactly one
	// cell's hash: its last one (a ghost in a cell it left would stay).
	holding := func(id string) []string {
		hashes, err := rc.Do(ctx, rc.B().Keys().Pattern(key+"-geo#/#*#m").Build()).AsStrSlice()
		require.NoError(t, err)
		var in []string
		for _, h := range hashes {
			ok, err := rc.Do(ctx, rc.B().Hexists().Key(h).Field(a.uid+":"+id).Build()).AsBool()
			require.NoError(t, err)
			if ok {
				in = append(in, strings.TrimPrefix(h, key+"-geo#/#"))
			}
		}
		return in
	}
	require.Eventually(t, func() bool {
		for _, s := range socks {
			if len(holding(s.ID())) != 1 {
				return false
			}
		}
		return true
	}, 10*time.Second, 50*time.Millisecond, "a socket with records in the hashes of cells it left, or in none")
}

func internalClient(t *testing.T, addr string) rueidis.Client {
	t.Helper()
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	require.NoError(t, err)
	t.Cleanup(rc.Close)
	return rc
}

// A Near broadcast published to several cells that a server listens to
// reaches its sockets once, whatever its interest does meanwhile: copies
// are known by the broadcast's id.
func TestNearOnce(t *testing.T) {
	rs := redistest.Start(t)
	rc := internalClient(t, rs.Addr())
	srv := realtime.New(realtime.WithAdapter(NewAdapter(rc, WithKey("near"+id.New()[:8]))),
		realtime.WithSpatial(), realtime.WithLocationEvent("location"))
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		hs.Close()
	})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	s, err := client.Connect(ctx, hs.URL, client.WithTransports("websocket"), client.WithReconnection(false))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Manager().Close() })
	var got atomic.Int32
	s.On("shout", func(*client.Event) { got.Add(1) })
	here := spatial.Point{Lat: 52.52, Lng: 13.405}
	_, err = s.EmitWithAck(ctx, "location", map[string]float64{"lat": here.Lat, "lng": here.Lng})
	require.NoError(t, err)

	a := srv.Of("/").Adapter().(*Adapter)
	circle := spatial.Circle{Center: here, Radius: 3000}
	require.GreaterOrEqual(t, len(a.geo.grid.Cover(circle)), 2, "published to several cells")

	// Another server's Near broadcast, as publishNear makes it.
	text, atts, _ := sio.AppendPacket(nil, sio.Packet{Type: sio.Event, Namespace: "/"}, "shout", []any{"hi"})
	classic, err := encodeBroadcast("other-server", realtime.NewPacket(text, atts, ""), realtime.BroadcastOptions{Near: &circle}, "")
	require.NoError(t, err)
	msg := append([]byte{nearTag, 1, 2, 3, 4, 5, 6, 7, 8}, classic...)
	a.onNear(msg) // the copy of one cell: delivered
	a.onNear(msg) // the copy of another: the same broadcast
	other := append([]byte{nearTag, 8, 7, 6, 5, 4, 3, 2, 1}, classic...)
	a.onNear(other) // another broadcast
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, int32(2), got.Load(), "two Near broadcasts, each published to several cells, reach the client once each")
}
