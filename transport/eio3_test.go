package transport_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/vicinity-go/vicinity/transport"
)

// v3Scripts are the framing and heartbeat of Engine.IO protocol v3 as the
// Node.js server speaks it with allowEIO3, each with Node's transcript.
var v3Scripts = []struct {
	name string
	b64  bool
	run  func(s *script)
	want []string
}{
	{
		name: "polling text payloads",
		run: func(s *script) {
			s.open()
			s.post("6:4hello")
			s.get()
			s.post("2:4a0:2:4b")
			s.get()
			s.post("3:4€é3:4😀")
			s.get()
		},
		want: []string{refOpenV3, "POST 200 ok", "GET 200 6:4hello", "POST 200 ok", "GET 200 2:4a2:4b", "POST 200 ok", "GET 200 3:4€é3:4😀"},
	},
	{
		name: "polling binary payloads with XHR2",
		run: func(s *script) {
			s.open()
			s.do("POST", s.q(), "application/octet-stream", "\x01\x04\xff\x04\x01\x02\x03")
			s.get()
			s.do("POST", s.q(), "application/octet-stream", "\x00\x04\xff4hé\x01\x02\xff\x04\x07")
			s.get()
			s.post("6:b4AQID") // base64 in a text payload is binary too
			s.get()
		},
		want: []string{
			refOpenV3,
			"POST 200 ok", `GET 200 [binary] "\x01\x04\xff\x04\x01\x02\x03"`,
			"POST 200 ok", `GET 200 [binary] "\x00\x04\xff4hé\x01\x02\xff\x04\a"`,
			"POST 200 ok", `GET 200 [binary] "\x01\x04\xff\x04\x01\x02\x03"`,
		},
	},
	{
		name: "polling binary as base64 with b64",
		b64:  true,
		run: func(s *script) {
			s.open()
			s.post("6:b4AQID1:2")
			s.get()
		},
		want: []string{refOpenV3, "POST 200 ok", "GET 200 6:b4AQID1:3"},
	},
	{
		name: "the client pings, the server answers",
		run: func(s *script) {
			s.open()
			s.post("1:2")
			s.get()
			s.post("1:3")
			s.reason()
		},
		want: []string{refOpenV3, "POST 200 ok", "GET 200 1:3", "POST 200 ok", "reason transport error"},
	},
	{
		name: "websocket frames",
		run: func(s *script) {
			ws := s.openWS()
			s.send(ws, "2")
			s.read(ws)
			s.send(ws, "4hi")
			s.read(ws)
			s.sendBinary(ws, "\x04\x01\x02")
			s.read(ws)
		},
		want: []string{"WS 101", "WS< " + refOpenWS, "WS< 3", "WS< 4hi", "WS< bin 040102"},
	},
	{
		name: "websocket with b64",
		b64:  true,
		run: func(s *script) {
			ws := s.openWS()
			s.send(ws, "b4AQI=")
			s.read(ws)
			s.sendBinary(ws, "\x04\x03")
			s.read(ws)
		},
		want: []string{"WS 101", "WS< " + refOpenWS, "WS< b4AQI=", "WS< b4Aw=="},
	},
	{
		name: "upgrade",
		run: func(s *script) {
			s.open()
			g := s.pendingGet()
			ws := s.dialSID()
			s.send(ws, "2probe")
			s.read(ws)
			s.await(g)
			s.send(ws, "5")
			s.upgraded()
			s.send(ws, "2")
			s.read(ws)
			s.sendBinary(ws, "\x04\x09")
			s.read(ws)
			s.get()
		},
		want: []string{refOpenV3, "WS 101", "WS< 3probe", "GET 200 1:6", "WS< 3", "WS< bin 0409", "GET 400 " + badRequest},
	},
	{
		name: "the protocol cannot change within a session",
		run: func(s *script) {
			s.open()
			s.getQ("EIO=4&transport=polling&sid=" + s.sid)
			s.dial("EIO=4&transport=websocket&sid=" + s.sid)
		},
		want: []string{refOpenV3, "GET 400 " + badRequest, "WS 400 Bad request"},
	},
}

// TestEIO3 runs the v3 scripts against vicinity with WithAllowEIO3.
func TestEIO3(t *testing.T) {
	t.Parallel()
	for _, tt := range v3Scripts {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := &script{t: t, p: vicinityPeer(t, transport.WithAllowEIO3(true)), v3: true, b64: tt.b64}
			tt.run(s)
			assert.Equal(t, tt.want, s.log)
		})
	}
}

// TestEIO3Node runs the v3 scripts against the Node.js server with
// allowEIO3 and vicinity with WithAllowEIO3: the transcripts must be equal.
func TestEIO3Node(t *testing.T) {
	t.Parallel()
	node := nodePeer(t, map[string]any{"allowEIO3": true})
	for _, tt := range v3Scripts {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := &script{t: t, p: node, v3: true, b64: tt.b64}
			tt.run(n)
			v := &script{t: t, p: vicinityPeer(t, transport.WithAllowEIO3(true)), v3: true, b64: tt.b64}
			tt.run(v)
			assert.Equal(t, n.log, v.log, "vicinity differs from Node")
			assert.Equal(t, tt.want, n.log, "Node's transcript")
		})
	}
}

// pingTimeoutScript: a v3 client that does not ping is closed after
// pingInterval + pingTimeout, and never pinged by the server: its pending
// poll gets the close packet.
func pingTimeoutScript(s *script) {
	s.open()
	g := s.pendingGet()
	s.await(g)
	s.reason()
}

var pingTimeoutWant = []string{
	`GET 200 114:0{"sid":"<sid>","upgrades":["websocket"],"pingInterval":100,"pingTimeout":100,"maxPayload":1000000}`,
	"GET 200 1:1",
	"reason ping timeout",
}

func TestEIO3PingTimeout(t *testing.T) {
	t.Parallel()
	s := &script{t: t, v3: true, p: vicinityPeer(t, transport.WithAllowEIO3(true),
		transport.WithPingInterval(100*time.Millisecond), transport.WithPingTimeout(100*time.Millisecond))}
	pingTimeoutScript(s)
	assert.Equal(t, pingTimeoutWant, s.log)
}

func TestEIO3PingTimeoutNode(t *testing.T) {
	t.Parallel()
	n := &script{t: t, v3: true, p: nodePeer(t, map[string]any{"allowEIO3": true, "pingInterval": 100, "pingTimeout": 100})}
	pingTimeoutScript(n)
	assert.Equal(t, pingTimeoutWant, n.log, "Node's transcript")
}

// Without WithAllowEIO3, a v3 handshake is refused as by Node without
// allowEIO3 (TestSessionSemantics checks the answer).
func TestEIO3Refused(t *testing.T) {
	t.Parallel()
	s := &script{t: t, p: vicinityPeer(t), v3: true}
	s.getQ(s.base("polling"))
	assert.Equal(t, []string{`GET 400 {"code":5,"message":"Unsupported protocol version"}`}, s.log)
}
