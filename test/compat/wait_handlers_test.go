package compat

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/vicinity-go/vicinity/realtime"
)

// askerNsp is the namespace whose connection handler asks its client a
// question before setting any event handler.
const askerNsp = "/asker"

// registerWaiting sets the handlers of wait.test.mjs, which wait for the
// client inline, on the socket's own goroutine.
func (e *env) registerWaiting(s *realtime.Socket, tag string) {
	var (
		mu  sync.Mutex
		log []string // what the handlers did, in order
	)
	record := func(what string) {
		mu.Lock()
		defer mu.Unlock()
		log = append(log, what)
	}
	// Noted after the notes of the handlers running when the socket went.
	s.OnDisconnect(func(_ *realtime.Socket, reason string) { e.rec.note(tag, "disconnect: "+reason) })
	// ask-inline asks the client "question" with the event's arguments and
	// acknowledges the event with the answer.
	s.On("ask-inline", func(ev *realtime.Event) {
		record("ask-inline start")
		// not s.Context(): a disconnection must end the wait by itself,
		// with ErrNotConnected
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		answer, err := s.EmitWithAck(ctx, "question", ev.Values()...)
		if err != nil {
			record("ask-inline error")
			e.rec.note(tag, "ask-inline: "+err.Error())
			_ = ev.Ack(map[string]string{"error": err.Error()})
			return
		}
		b, _ := json.Marshal(answer)
		record("ask-inline answered " + string(b))
		e.rec.note(tag, "ask-inline: "+string(b))
		_ = ev.Ack(answer.Values()...)
	})
	// seq records its number and acknowledges with it.
	s.On("seq", func(ev *realtime.Event) {
		var n int
		_ = ev.Bind(&n)
		record(fmt.Sprintf("seq %d", n))
		_ = ev.Ack(n)
	})
	// handler-log acknowledges with what the handlers did.
	s.On("handler-log", func(ev *realtime.Event) {
		mu.Lock()
		defer mu.Unlock()
		_ = ev.Ack(slices.Clone(log))
	})
}

// askFirst is the connection handler of askerNsp: it asks the client
// "hello?" and only then sets the "first" handler, which acknowledges with
// the answer. Events the client sends meanwhile wait for it.
func askFirst(s *realtime.Socket) {
	ctx, cancel := context.WithTimeout(s.Context(), wait)
	defer cancel()
	var name string
	answer, err := s.EmitWithAck(ctx, "hello?", "who are you?")
	if err == nil {
		err = answer.Bind(&name)
	}
	s.On("first", func(ev *realtime.Event) {
		_ = ev.Ack(map[string]string{"name": name, "error": errString(err)})
	})
}
