package redis

import (
	"encoding/json"
	"testing"

	"github.com/vicinity-go/vicinity/internal/sio"
	"github.com/vicinity-go/vicinity/realtime"
)

// FuzzDecode feeds what another server could publish to every decoder of
// the adapter: none may panic, and a broadcast that decodes makes a packet
// that is a valid Socket.IO event, or an error.
func FuzzDecode(f *testing.F) {
	text, atts, _ := sio.AppendPacket(nil, sio.Packet{Type: sio.Event, Namespace: "/"}, "ev", []any{"x", []byte{1, 2}})
	p := realtime.NewPacket(text, atts, "")
	classic, _ := encodeBroadcast("uid", p, realtime.BroadcastOptions{Rooms: []string{"a"}, Volatile: true}, "1-0")
	f.Add(classic)
	pj, _ := packetJSON(nil, p)
	cluster, _ := encodeCluster("uid", "/", msgBroadcast, clusterData{Packet: pj, Opts: ptr(encodeOpts(realtime.BroadcastOptions{}))}, atts)
	f.Add(cluster)
	f.Add([]byte(`{"uid":"x","requestId":"r","type":5,"opts":{"rooms":["a",1],"except":[]}}`))
	f.Add([]byte(`{"requestId":"r","type":8,"clientCount":3}`))
	f.Add([]byte(`{"uid":"x","type":6,"data":["ev",1]}`))
	f.Fuzz(func(t *testing.T, msg []byte) {
		if b, err := decodeBroadcast(msg); err == nil {
			checkPacket(t, b)
		}
		js, atts, err := decodeAny(msg)
		if err != nil {
			return
		}
		var r wireRequest
		if json.Unmarshal(js, &r) == nil && r.Packet != nil {
			var wp wirePacket
			if json.Unmarshal(r.Packet, &wp) == nil {
				_, _ = toPacket(wp, atts, "/", 1, true, "")
			}
		}
		var m clusterMessage
		var d clusterData
		if json.Unmarshal(js, &m) == nil && m.Data != nil && json.Unmarshal(m.Data, &d) == nil && d.Opts != nil {
			var b broadcast
			if json.Unmarshal(d.Packet, &b.packet) == nil {
				b.atts, b.opts = atts, *d.Opts
				checkPacket(t, b)
			}
		}
	})
}

// checkPacket makes b's packet, which must then decode as an event.
func checkPacket(t *testing.T, b broadcast) {
	p, err := toPacket(b.packet, b.atts, "/", 0, false, "1-0")
	if err != nil {
		return
	}
	sp, err := sio.Decode(p.Text(), sio.Limits{MaxAttachments: maxAttachmentsWire})
	if err != nil {
		t.Fatalf("toPacket made %q: %v", p.Text(), err)
	}
	if sp.Type != sio.Event && sp.Type != sio.BinaryEvent {
		t.Fatalf("toPacket made a %v", sp.Type)
	}
	_ = b.opts.decode()
}
