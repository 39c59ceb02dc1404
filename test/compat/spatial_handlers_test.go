package compat

import "github.com/vicinity-go/vicinity/realtime"

// registerSpatial lets a client watch the circle around it: "watch" with a
// radius in meters.
func registerSpatial(s *realtime.Socket) {
	s.On("watch", func(e *realtime.Event) {
		var radius float64
		if err := e.Bind(&radius); err != nil {
			_ = e.Ack(map[string]string{"error": err.Error()})
			return
		}
		if err := s.Watch(radius); err != nil {
			_ = e.Ack(map[string]string{"error": err.Error()})
			return
		}
		_ = e.Ack(map[string]bool{"ok": true})
	})
}
