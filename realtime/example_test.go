package realtime_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/vicinity-go/vicinity/client"
	"github.com/vicinity-go/vicinity/realtime"
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
