package transport_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/transport"
)

func TestUpgrade(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	sid, s := h.handshake(t)
	pending := h.pendingGet(t, context.Background(), s)

	ws := h.dial(t, "EIO=4&transport=websocket&sid="+sid, nil)
	writeWS(t, ws, websocket.TextMessage, "2probe")
	_, data := readWS(t, ws)
	require.Equal(t, "3probe", string(data))

	r := <-pending
	require.NoError(t, r.err)
	assert.Equal(t, "6", r.body, "the pending GET ends with a noop")
	assert.Equal(t, "polling", s.conn.Transport(), "before the upgrade packet")

	// Sent during the upgrade: it waits for the new transport.
	require.True(t, s.conn.Send(false, transport.Message([]byte("early"), false)))
	writeWS(t, ws, websocket.TextMessage, "5")
	require.True(t, s.conn.Send(false, transport.Message([]byte("late"), false), transport.Message([]byte{7}, true)))
	for _, want := range []struct {
		typ  int
		data string
	}{{websocket.TextMessage, "4early"}, {websocket.TextMessage, "4late"}, {websocket.BinaryMessage, "\x07"}} {
		typ, data := readWS(t, ws)
		assert.Equal(t, want.typ, typ)
		assert.Equal(t, want.data, string(data))
	}
	assert.Equal(t, "websocket", s.conn.Transport())

	writeWS(t, ws, websocket.TextMessage, "4up")
	assert.Equal(t, message{"up", false}, s.message(t))

	// Polling is over for this session; refused requests leave it open.
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		r := h.do(context.Background(), method, query(sid), nil, nil)
		require.NoError(t, r.err)
		assert.Equal(t, http.StatusBadRequest, r.status, "%s after upgrade: %s", method, r.body)
	}
	s.assertOpen(t)

	require.NoError(t, ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")))
	assert.Equal(t, transport.ReasonTransportClose, s.closed(t))
}

// A heartbeat keeps working over the new transport.
func TestUpgradeHeartbeat(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.WithPingInterval(20*time.Millisecond), transport.WithPingTimeout(2*time.Second))
	sid, s := h.handshake(t)
	ws := h.dial(t, "EIO=4&transport=websocket&sid="+sid, nil)
	writeWS(t, ws, websocket.TextMessage, "2probe")
	_, data := readWS(t, ws)
	require.Equal(t, "3probe", string(data))
	writeWS(t, ws, websocket.TextMessage, "5")
	pings := 0
	for pings < 3 {
		_, data := readWS(t, ws)
		if string(data) == "2" {
			pings++
			writeWS(t, ws, websocket.TextMessage, "3")
		}
	}
	s.assertOpen(t)
}

// An upgrade request that is no WebSocket handshake is refused, as by
// Node, with 400 "Bad request", and the session stays on polling.
func TestUpgradeNotWebSocket(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	sid, s := h.handshake(t)
	r := h.do(context.Background(), http.MethodGet, "EIO=4&transport=websocket&sid="+sid, nil, nil)
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.JSONEq(t, `{"code":3,"message":"Bad request"}`, r.body)
	s.assertOpen(t)
	assert.Equal(t, "polling", s.conn.Transport())
	require.True(t, s.conn.Send(false, transport.Message([]byte("still polling"), false)))
	assert.Equal(t, "4still polling", h.get(t, sid).body)
}

// A failed upgrade leaves the session on polling, working.
func TestUpgradeFails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		quick bool // a short upgrade timeout: the case waits for it
		// probe talks to the server over the WebSocket, then returns once
		// the server has given up on the upgrade or the socket is closed.
		probe func(t *testing.T, ws *websocket.Conn)
	}{
		{"bad probe", false, func(t *testing.T, ws *websocket.Conn) {
			writeWS(t, ws, websocket.TextMessage, "2nope")
			assert.Error(t, readWSErr(t, ws))
		}},
		{"message instead of probe", false, func(t *testing.T, ws *websocket.Conn) {
			writeWS(t, ws, websocket.TextMessage, "4hello")
			assert.Error(t, readWSErr(t, ws))
		}},
		{"invalid frame", false, func(t *testing.T, ws *websocket.Conn) {
			writeWS(t, ws, websocket.TextMessage, "x")
			assert.Error(t, readWSErr(t, ws))
		}},
		{"closed before probe", false, func(t *testing.T, ws *websocket.Conn) {
			require.NoError(t, ws.Close())
		}},
		{"silent until the upgrade timeout", true, func(t *testing.T, ws *websocket.Conn) {
			assert.Error(t, readWSErr(t, ws))
		}},
		{"message instead of upgrade", false, func(t *testing.T, ws *websocket.Conn) {
			writeWS(t, ws, websocket.TextMessage, "2probe")
			_, data := readWS(t, ws)
			require.Equal(t, "3probe", string(data))
			writeWS(t, ws, websocket.TextMessage, "4hello")
			assert.Error(t, readWSErr(t, ws))
		}},
		{"closed after probe", false, func(t *testing.T, ws *websocket.Conn) {
			writeWS(t, ws, websocket.TextMessage, "2probe")
			_, data := readWS(t, ws)
			require.Equal(t, "3probe", string(data))
			require.NoError(t, ws.Close())
		}},
		{"silent after probe", true, func(t *testing.T, ws *websocket.Conn) {
			writeWS(t, ws, websocket.TextMessage, "2probe")
			_, data := readWS(t, ws)
			require.Equal(t, "3probe", string(data))
			assert.Error(t, readWSErr(t, ws))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			timeout := wait
			if tt.quick {
				timeout = 250 * time.Millisecond
			}
			h := newHarness(t, transport.WithUpgradeTimeout(timeout))
			sid, s := h.handshake(t)
			ws := h.dial(t, "EIO=4&transport=websocket&sid="+sid, nil)
			tt.probe(t, ws)

			require.True(t, s.conn.Send(false, transport.Message([]byte("still polling"), false)))
			// Until the server notices the socket is gone, a GET may be told
			// to stop polling (noop) because an upgrade is under way.
			body := h.get(t, sid).body
			for deadline := time.Now().Add(wait); body == "6" && time.Now().Before(deadline); {
				body = h.get(t, sid).body
			}
			assert.Equal(t, "4still polling", body)
			assert.Equal(t, "polling", s.conn.Transport())
			r := h.post(t, sid, "4back")
			assert.Equal(t, "ok", r.body)
			assert.Equal(t, message{"back", false}, s.message(t))
			s.assertOpen(t)
		})
	}
}

// A session that closes while a probe waits for the client ends the probe
// at once, not at the upgrade timeout.
func TestUpgradeSessionClosesDuringProbe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		probeOK bool // the client has had "3probe"
	}{
		{"before probe", false},
		{"after probe", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, transport.WithUpgradeTimeout(time.Hour))
			sid, s := h.handshake(t)
			ws := h.dial(t, "EIO=4&transport=websocket&sid="+sid, nil)
			if tt.probeOK {
				writeWS(t, ws, websocket.TextMessage, "2probe")
				_, data := readWS(t, ws)
				require.Equal(t, "3probe", string(data))
			}
			s.conn.CloseWithReason("kicked", false)
			assert.Equal(t, "kicked", s.closed(t))
			assert.Error(t, readWSErr(t, ws), "the probe socket is closed")
		})
	}
}

// upgradeRecorder is a session that also records OnUpgrade calls, with
// the transport the Conn reported at the time.
type upgradeRecorder struct {
	*session
	upgrades chan [2]string
}

func (u *upgradeRecorder) OnUpgrade(name string) {
	u.upgrades <- [2]string{name, u.conn.Transport()}
}

// An UpgradeReceiver hears of a completed upgrade once, and of nothing else.
func TestUpgradeReceiver(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(t *testing.T, h *harness, sid string)
		want [][2]string
	}{
		{"upgraded", func(t *testing.T, h *harness, sid string) {
			ws := h.dial(t, "EIO=4&transport=websocket&sid="+sid, nil)
			writeWS(t, ws, websocket.TextMessage, "2probe")
			_, data := readWS(t, ws)
			require.Equal(t, "3probe", string(data))
			writeWS(t, ws, websocket.TextMessage, "5")
			writeWS(t, ws, websocket.TextMessage, "4after") // read once OnUpgrade has returned
			h2 := h.dial(t, "EIO=4&transport=websocket&sid="+sid, nil)
			assert.Error(t, readWSErr(t, h2), "a second WebSocket is closed")
		}, [][2]string{{"websocket", "websocket"}}},
		{"probe fails", func(t *testing.T, h *harness, sid string) {
			ws := h.dial(t, "EIO=4&transport=websocket&sid="+sid, nil)
			writeWS(t, ws, websocket.TextMessage, "2nope")
			assert.Error(t, readWSErr(t, ws))
			assert.Equal(t, "ok", h.post(t, sid, "4after").body, "still polling")
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			rec := make(chan *upgradeRecorder, 1)
			h.onOpen = func(c *transport.Conn) transport.Receiver {
				u := &upgradeRecorder{
					session:  &session{conn: c, msgs: make(chan message, 16), closes: make(chan string, 1)},
					upgrades: make(chan [2]string, 4),
				}
				rec <- u
				return u
			}
			r := h.do(context.Background(), http.MethodGet, "EIO=4&transport=polling", nil, nil)
			require.NoError(t, r.err)
			sid := parseOpen(t, r.body).SID
			u := <-rec
			tt.run(t, h, sid)
			assert.Equal(t, message{"after", false}, u.message(t), "the message after the upgrade")
			var got [][2]string
			for len(u.upgrades) > 0 {
				got = append(got, <-u.upgrades)
			}
			assert.Equal(t, tt.want, got)
			u.assertOpen(t)
		})
	}
}
