package redis

import (
	"encoding/json"
	"testing"

	"github.com/vicinity-go/vicinity/internal/sio"
	"github.com/vicinity-go/vicinity/presence"
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

// FuzzPresenceDecode feeds what Redis could hold or publish to the presence
// store's decoders: none may panic; a change that decodes has its number
// after its previous one, and encodes (as the scripts do) to bytes that
// decode alike, and so does a member; a meta's blob decodes to what was
// encoded.
func FuzzPresenceDecode(f *testing.F) {
	for _, b := range presenceDecodeSeeds() { // changes and members the scripts write
		f.Add(b)
	}
	f.Add([]byte("\x93\xa12\xa11\x90"))                        // prev before seq, no change
	f.Add([]byte("\x92\xa11\x91\x94\xa1j\xa3ann\xa0\x95\xa0")) // the format before prev
	f.Add([]byte("\xdc\x00\x03\xa12\xa10\x90"))
	f.Add([]byte{0xd3, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Fuzz(func(t *testing.T, msg []byte) {
		if c, err := decodeTopicChange(msg); err == nil {
			if c.seq <= 0 || c.prev < 0 || c.prev >= c.seq {
				t.Fatalf("change %q: seq %d, prev %d", msg, c.seq, c.prev)
			}
			again, err := decodeTopicChange(packTopicChange(c))
			if err != nil || !equalDecoded(again, c) {
				t.Fatalf("change %q decoded as %+v, encoded and decoded as %+v (%v)", msg, c, again, err)
			}
		}
		if metas, _, err := decodeMember(msg); err == nil {
			again, _, err := decodeMember(packMember(nil, metas))
			if err != nil || !equalDecoded(again, metas) {
				t.Fatalf("member %q decoded as %+v, encoded and decoded as %+v (%v)", msg, metas, again, err)
			}
		}
		m := presence.Meta{Status: string(msg[:len(msg)/3]), Device: string(msg[len(msg)/3 : len(msg)/2]), Fields: msg[len(msg)/2:]}
		var got presence.Meta
		if err := decodeMetaBlob(encodeMetaBlob(m), &got); err != nil {
			t.Fatalf("blob of %+v: %v", m, err)
		}
		if got.Status != m.Status || got.Device != m.Device || string(got.Fields) != string(m.Fields) {
			t.Fatalf("blob of %+v decoded as %+v", m, got)
		}
	})
}
