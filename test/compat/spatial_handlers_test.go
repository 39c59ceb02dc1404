package compat

import (
	"github.com/vicinity-go/vicinity/realtime"
	"github.com/vicinity-go/vicinity/spatial"
)

// registerSpatial lets a client watch the circle around it ("watch" with a
// radius in meters), set its privacy ("privacy" with a spatial.Privacy) and
// ask what the server keeps of it ("whoami": hidden, zones, located).
func registerSpatial(s *realtime.Socket) {
	s.On("watch", func(e *realtime.Event) {
		var radius float64
		if err := e.Bind(&radius); err != nil {
			_ = e.AckResult(err)
			return
		}
		_ = e.AckResult(s.Watch(radius))
	})
	s.On("privacy", func(e *realtime.Event) {
		var pv spatial.Privacy
		if err := e.Bind(&pv); err != nil {
			_ = e.AckResult(err)
			return
		}
		_ = e.AckResult(s.SetPrivacy(pv))
	})
	s.On("whoami", func(e *realtime.Event) {
		_, located := s.Location()
		_ = e.Ack(map[string]any{"hidden": s.Hidden(), "zones": len(s.Privacy().Zones), "located": located})
	})
}
