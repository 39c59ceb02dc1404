package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/vicinity-go/vicinity/client"
	"github.com/vicinity-go/vicinity/realtime"
)

func Example() {
	srv := realtime.New()
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("add", func(e *realtime.Event) {
			var a, b int
			if e.Bind(&a, &b) == nil {
				_ = e.Ack(a + b)
			}
		})
	})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := client.Connect(ctx, ts.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Manager().Close()

	answer, err := s.EmitWithAck(ctx, "add", 2, 3)
	if err != nil {
		fmt.Println(err)
		return
	}
	var sum int
	if err := answer.Bind(&sum); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("2 + 3 =", sum)
	// Output: 2 + 3 = 5
}

func ExampleManager_Socket() {
	srv := realtime.New()
	srv.Of("/chat").Use(func(s *realtime.Socket) error {
		return &realtime.ConnectError{Message: "who are you?", Data: map[string]string{"hint": "token"}}
	})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer srv.Close()

	m := client.New(ts.URL)
	defer m.Close()
	chat := m.Socket("/chat", client.WithAuth(map[string]string{"token": "wrong"}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := chat.Connect(ctx)
	var ce *client.ConnectError
	if errors.As(err, &ce) {
		fmt.Println(ce.Message, string(ce.Data))
	}
	// Output: who are you? {"hint":"token"}
}
