package realtime_test

// The examples of the README, run: each mirrors a README snippet, with the
// Go client in the browser's place. Keep them in step.

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/vicinity-go/vicinity/client"
	"github.com/vicinity-go/vicinity/realtime"
)

// readmeNext returns what comes out of ch, or "timed out" after 5s.
func readmeNext(ch <-chan string) string {
	select {
	case got := <-ch:
		return got
	case <-time.After(5 * time.Second):
		return "timed out"
	}
}

// Example_readmeQuickstart is the README's Quickstart: the same handlers,
// with two Go clients where the README opens two browser tabs.
func Example_readmeQuickstart() {
	srv := realtime.New()
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("join", func(e *realtime.Event) {
			var room string
			if err := e.Bind(&room); err != nil {
				_ = e.AckResult(err)
				return
			}
			if err := s.Join(room); err != nil {
				_ = e.AckResult(err)
				return
			}
			_ = e.Ack("joined " + room)
		})
		s.On("say", func(e *realtime.Event) {
			var room, text string
			if e.Bind(&room, &text) == nil {
				_ = s.To(room).Emit("said", s.ID(), text) // everyone in room but the sender
			}
		})
	})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ann, bob := connect(ctx, ts.URL), connect(ctx, ts.URL)
	defer ann.Manager().Close()
	defer bob.Manager().Close()
	heard := make(chan string, 1)
	bob.On("said", func(e *client.Event) {
		var from, text string
		_ = e.Bind(&from, &text)
		heard <- fmt.Sprintf("from ann: %v, %q", from == ann.ID(), text)
	})
	for _, s := range []*client.Socket{ann, bob} {
		reply, err := s.EmitWithAck(ctx, "join", "lobby")
		var joined string
		if err == nil {
			err = reply.Bind(&joined)
		}
		fmt.Println(joined, err)
	}
	_ = ann.Emit("say", "lobby", "hello")
	fmt.Println("bob heard", readmeNext(heard))
	// Output:
	// joined lobby <nil>
	// joined lobby <nil>
	// bob heard from ann: true, "hello"
}

// Example_readmeBinary is the README's "Events and binary data": binary
// data at any depth, bound into []byte, and echoed with Values.
func Example_readmeBinary() {
	srv := realtime.New()
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("upload", func(e *realtime.Event) {
			var file struct {
				Name string `json:"name"`
				Data []byte `json:"data"` // a Buffer, ArrayBuffer or Blob in the client's object
			}
			if err := e.Bind(&file); err != nil {
				_ = e.AckResult(err)
				return
			}
			_ = e.Ack(file.Name, len(file.Data))
		})
		s.On("echo", func(e *realtime.Event) {
			_ = e.Ack(e.Values()...) // as they came, binary data as binary
		})
	})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := connect(ctx, ts.URL)
	defer c.Manager().Close()

	reply, err := c.EmitWithAck(ctx, "upload", map[string]any{"name": "a.png", "data": []byte{1, 2, 3}})
	var name string
	var size int
	if err == nil {
		err = reply.Bind(&name, &size)
	}
	fmt.Println("upload:", name, size, err)

	reply, err = c.EmitWithAck(ctx, "echo", "hi", []byte{4, 5}, map[string]any{"deep": []any{[]byte{6}}})
	var text string
	var top []byte
	var nested struct{ Deep [][]byte }
	if err == nil {
		err = reply.Bind(&text, &top, &nested)
	}
	fmt.Println("echo:", reply.Len(), text, top, nested.Deep, err)
	// Output:
	// upload: a.png 3 <nil>
	// echo: 3 hi [4 5] [[6]] <nil>
}

// Example_readmeWaitingHandler is the README's handler that waits for its
// own client's acknowledgement.
func Example_readmeWaitingHandler() {
	srv := realtime.New()
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("order", func(e *realtime.Event) {
			ctx, cancel := context.WithTimeout(s.Context(), 10*time.Second)
			defer cancel()
			answer, err := s.EmitWithAck(ctx, "confirm", e.Values()...) // to this socket's own client
			var ok bool
			if err == nil {
				err = answer.Bind(&ok)
			}
			if err == nil && !ok {
				err = fmt.Errorf("order cancelled")
			}
			_ = e.AckResult(err) // {"ok": true} or {"error": "…"}
		})
	})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := connect(ctx, ts.URL)
	defer c.Manager().Close()
	c.On("confirm", func(e *client.Event) {
		var item string
		_ = e.Bind(&item)
		_ = e.Ack(item == "tea") // yes to tea, no to the rest
	})
	for _, item := range []string{"tea", "coffee"} {
		reply, err := c.EmitWithAck(ctx, "order", item)
		fmt.Println(item, string(reply.JSON(0)), err)
	}
	// Output:
	// tea {"ok":true} <nil>
	// coffee {"error":"order cancelled"} <nil>
}

// Example_readmeConnClose is the README's Socket.Conn: Close drops the
// connection without a DISCONNECT packet, so the client reconnects and,
// with WithRecovery, gets its socket back.
func Example_readmeConnClose() {
	srv := realtime.New(realtime.WithRecovery(2*time.Minute, true))
	srv.OnConnection(func(s *realtime.Socket) {
		_ = s.Emit("welcome", fmt.Sprintf("recovered %v, over Engine.IO v%d", s.Recovered(), s.Conn().Protocol()))
		s.On("drop me", func(e *realtime.Event) { s.Conn().Close() })
	})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	type welcome struct{ id, text string }
	welcomes := make(chan welcome, 2)
	m := client.New(ts.URL, client.WithReconnectionDelay(time.Millisecond, time.Millisecond))
	defer m.Close()
	c := m.Socket("/")
	c.On("welcome", func(e *client.Event) {
		var text string
		_ = e.Bind(&text)
		welcomes <- welcome{e.Socket.ID(), text}
	})
	if err := c.Connect(ctx); err != nil {
		panic(err)
	}
	next := func() welcome {
		select {
		case w := <-welcomes:
			return w
		case <-time.After(5 * time.Second):
			return welcome{text: "timed out"}
		}
	}
	first := next()
	_ = c.Emit("drop me")
	second := next()
	fmt.Println(first.text)
	fmt.Println(second.text)
	fmt.Println("same socket id:", first.id == second.id)
	// Output:
	// recovered false, over Engine.IO v4
	// recovered true, over Engine.IO v4
	// same socket id: true
}
