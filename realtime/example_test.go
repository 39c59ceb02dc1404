package realtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/vicinity-go/vicinity/client"
	"github.com/vicinity-go/vicinity/presence"
	"github.com/vicinity-go/vicinity/realtime"
	"github.com/vicinity-go/vicinity/spatial"
)

// connect joins the main namespace of ts with the Go client.
func connect(ctx context.Context, url string, opts ...client.Option) *client.Socket {
	s, err := client.Connect(ctx, url, opts...)
	if err != nil {
		panic(err)
	}
	return s
}

func ExampleNew() {
	srv := realtime.New()
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("hello", func(e *realtime.Event) {
			var name string
			if err := e.Bind(&name); err != nil {
				_ = e.Ack("bad input: " + err.Error())
				return
			}
			_ = e.Ack("hello, " + name)
		})
	})
	ts := httptest.NewServer(srv) // in a program: http.Handle("/socket.io/", srv)
	defer ts.Close()
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s := connect(ctx, ts.URL)
	defer s.Manager().Close()
	answer, _ := s.EmitWithAck(ctx, "hello", "gopher")
	var text string
	_ = answer.Bind(&text)
	fmt.Println(text)
	// Output: hello, gopher
}

func Example_rooms() {
	srv := realtime.New()
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("join", func(e *realtime.Event) {
			var room string
			if e.Bind(&room) == nil {
				s.Join(room)
				_ = e.Ack()
			}
		})
		s.On("say", func(e *realtime.Event) {
			var room, text string
			if e.Bind(&room, &text) == nil {
				_ = s.To(room).Emit("said", text) // everyone in room but the sender
			}
		})
	})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	alice, bob := connect(ctx, ts.URL), connect(ctx, ts.URL)
	defer alice.Manager().Close()
	defer bob.Manager().Close()

	heard := make(chan string, 1)
	bob.On("said", func(e *client.Event) {
		var text string
		_ = e.Bind(&text)
		heard <- text
	})
	_, _ = alice.EmitWithAck(ctx, "join", "garden")
	_, _ = bob.EmitWithAck(ctx, "join", "garden")
	_ = alice.Emit("say", "garden", "the roses are out")
	fmt.Println("bob heard:", <-heard)
	// Output: bob heard: the roses are out
}

func ExampleServer_Shutdown() {
	srv := realtime.New()
	reasons := make(chan string, 1)
	srv.OnConnection(func(s *realtime.Socket) {
		s.OnDisconnect(func(_ *realtime.Socket, reason string) { reasons <- reason })
	})
	ts := httptest.NewServer(srv)
	defer ts.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s := connect(ctx, ts.URL, client.WithReconnection(false))
	defer s.Manager().Close()

	// On SIGTERM: shut vicinity down first (http.Server.Shutdown does not
	// wait for WebSockets), then the HTTP server.
	if err := srv.Shutdown(ctx); err != nil {
		fmt.Println(err)
	}
	fmt.Println("server side:", <-reasons)
	// Output: server side: server shutting down
}

func ExampleBroadcastOperator_EmitWithAck() {
	srv := realtime.New()
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for range 3 {
		s := connect(ctx, ts.URL)
		defer s.Manager().Close()
		s.On("ready?", func(e *client.Event) { _ = e.Ack(true) })
	}
	answers, err := srv.Of("/").EmitWithAck(ctx, "ready?")
	fmt.Println(len(answers), "answers, err:", err)
	// Output: 3 answers, err: <nil>
}

func ExampleWithPresence() {
	tracker := presence.New()
	defer tracker.Close()
	srv := realtime.New(
		realtime.WithPresence(tracker, func(s *realtime.Socket) (string, presence.Meta, error) {
			var auth struct{ User string }
			err := json.Unmarshal(s.Handshake().Auth, &auth)
			return auth.User, presence.Meta{Device: "bot"}, err
		}),
		realtime.WithPresenceRooms(func(_, room string) bool { return room == "lobby" }),
	)
	srv.OnConnection(func(s *realtime.Socket) { s.Join("lobby") })
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	seen := make(chan string, 4)
	ann := connect(ctx, ts.URL, client.WithSocketOptions(client.WithAuth(map[string]string{"user": "ann"})))
	defer ann.Manager().Close()
	ann.On(realtime.DefaultPresenceDiff, func(e *client.Event) {
		var d struct {
			Joins  map[string]any `json:"joins"`
			Leaves map[string]any `json:"leaves"`
		}
		_ = e.Bind(&d)
		for k := range d.Joins {
			seen <- k + " joined"
		}
		for k := range d.Leaves {
			seen <- k + " left"
		}
	})
	bob := connect(ctx, ts.URL, client.WithSocketOptions(client.WithAuth(map[string]string{"user": "bob"})))
	fmt.Println("ann sees", waitFor(seen, "bob joined"))
	_ = bob.Manager().Close() // bob closes the app
	fmt.Println("ann sees", waitFor(seen, "bob left"))
	// Output:
	// ann sees bob joined
	// ann sees bob left
}

// next returns what comes out of ch, or what timed out.
func next(ch <-chan string) string {
	select {
	case got := <-ch:
		return got
	case <-time.After(5 * time.Second):
		return "nothing: timed out"
	}
}

// waitFor returns want once it comes out of ch (ann's own join may come
// first), or what timed out.
func waitFor(ch <-chan string, want string) string {
	for {
		select {
		case got := <-ch:
			if got == want {
				return got
			}
		case <-time.After(5 * time.Second):
			return "nothing: timed out"
		}
	}
}

func ExampleWithSpatial() {
	srv := realtime.New(
		// Positions older than 10 minutes are dropped; others are shown to
		// the nearest 100 m.
		realtime.WithSpatial(spatial.WithMaxAge(10*time.Minute), spatial.WithExpiryInterval(time.Minute), spatial.WithCoarsening(100)),
		// Clients report {"lat", "lng", "accuracy"} with "location", up to
		// once a second on average, in bursts of 5 (the default limits).
		realtime.WithLocationEvent("location"),
	)
	srv.OnConnection(func(s *realtime.Socket) {
		// Everyone sees who is within 2 km, and is seen by them.
		_ = s.Watch(2000, spatial.WithSymmetric(), spatial.WithMargin(100))
	})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	seen := make(chan string, 4)
	ann := connect(ctx, ts.URL)
	defer ann.Manager().Close()
	ann.On(realtime.NearbyEnter, func(e *client.Event) {
		var near struct{ Distance float64 }
		_ = e.Bind(&near)
		seen <- fmt.Sprintf("someone %.1f km away", near.Distance/1000)
	})
	ann.On(realtime.NearbyLeave, func(*client.Event) { seen <- "someone left" })
	_, _ = ann.EmitWithAck(ctx, "location", map[string]float64{"lat": 48.8606, "lng": 2.3376}) // the Louvre
	bob := connect(ctx, ts.URL)
	_, _ = bob.EmitWithAck(ctx, "location", map[string]float64{"lat": 48.8530, "lng": 2.3499}) // Notre-Dame
	fmt.Println("ann sees", next(seen))
	_ = bob.Manager().Close()
	fmt.Println("ann sees", next(seen))
	// Output:
	// ann sees someone 1.3 km away
	// ann sees someone left
}

func ExampleEvent_AckResult() {
	srv := realtime.New()
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("rename", func(e *realtime.Event) {
			var name string
			err := e.Bind(&name)
			if err == nil && name == "" {
				err = errors.New("name is empty")
			}
			_ = e.AckResult(err) // {"ok": true} or {"error": "…"}
		})
	})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s := connect(ctx, ts.URL)
	defer s.Manager().Close()
	for _, name := range []string{"gopher", ""} {
		answer, _ := s.EmitWithAck(ctx, "rename", name)
		fmt.Println(string(answer.JSON(0)))
	}
	// Output:
	// {"ok":true}
	// {"error":"name is empty"}
}
