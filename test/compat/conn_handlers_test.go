package compat

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/vicinity-go/vicinity/realtime"
)

// registerConn sets the handlers of conn.test.mjs and handshake.test.mjs:
// the Engine.IO connection under the socket, and the handshake.
func registerConn(s *realtime.Socket) {
	conn := s.Conn()
	var (
		mu       sync.Mutex
		upgrades []string
	)
	// Registered before reading the transport: if the transport is still
	// polling after registration, the handler sees the upgrade.
	conn.OnUpgrade(func(transport string) {
		mu.Lock()
		defer mu.Unlock()
		upgrades = append(upgrades, transport)
	})
	atConnect := conn.Transport()

	s.On("conn-info", func(ev *realtime.Event) {
		mu.Lock()
		seen := append([]string{}, upgrades...) // [] in JSON when empty
		mu.Unlock()
		_ = ev.Ack(map[string]any{
			"id":        conn.ID(),
			"transport": conn.Transport(),
			"socket":    s.Transport(),
			"protocol":  conn.Protocol(),
			"atConnect": atConnect,
			"upgrades":  seen,
		})
	})
	// close-conn acknowledges, then closes the Engine.IO connection without
	// a DISCONNECT packet, as a network failure would.
	s.On("close-conn", func(ev *realtime.Event) {
		_ = ev.Ack()
		conn.Close()
	})
	s.On("handshake", func(ev *realtime.Event) {
		b, err := json.Marshal(s.Handshake())
		if err != nil {
			_ = ev.Ack(map[string]string{"error": err.Error()})
			return
		}
		_ = ev.Ack(json.RawMessage(b))
	})
	// fetch-self acknowledges with the JSON of the SocketInfo FetchSockets
	// returns for this socket.
	s.On("fetch-self", func(ev *realtime.Event) {
		socks, err := s.Namespace().In(s.ID()).FetchSockets(context.Background())
		if err != nil || len(socks) != 1 {
			_ = ev.Ack(map[string]any{"error": errString(err), "n": len(socks)})
			return
		}
		b, err := json.Marshal(socks[0].SocketInfo)
		if err != nil {
			_ = ev.Ack(map[string]string{"error": err.Error()})
			return
		}
		_ = ev.Ack(json.RawMessage(b))
	})
}
