package compat

import (
	"encoding/json"
	"errors"

	"github.com/vicinity-go/vicinity/presence"
	"github.com/vicinity-go/vicinity/realtime"
)

// identifyByAuth takes the user key from the auth payload {"user": "..."}.
func identifyByAuth(s *realtime.Socket) (string, presence.Meta, error) {
	var auth struct{ User, Device string }
	if err := json.Unmarshal(s.Handshake().Auth, &auth); err != nil || auth.User == "" {
		return "", presence.Meta{}, errors.New("no user")
	}
	return auth.User, presence.Meta{Device: auth.Device}, nil
}

// registerPresence lets a client join and leave rooms, where presence is
// published.
func registerPresence(s *realtime.Socket) {
	s.On("join", func(e *realtime.Event) {
		var room string
		if e.Bind(&room) == nil {
			s.Join(room)
		}
		_ = e.Ack()
	})
	s.On("leave", func(e *realtime.Event) {
		var room string
		if e.Bind(&room) == nil {
			s.Leave(room)
		}
		_ = e.Ack()
	})
}
