package redis

import (
	"encoding/binary"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/presence"
)

// packTopicChange encodes c as luaCommon's pub does (a join's or an
// update's at "", a member not held): the encoder the decoder is checked
// against.
func packTopicChange(c topicChange) []byte {
	b := packArrayHead(nil, 3)
	b = packStr(b, strconv.FormatInt(c.seq, 10))
	b = packStr(b, strconv.FormatInt(c.prev, 10))
	b = packArrayHead(b, len(c.changes))
	for _, ch := range c.changes {
		at := ""
		if ch.kind == 'l' {
			at = strconv.FormatInt(ch.at.UnixNano(), 10)
		}
		b = packArrayHead(b, 4)
		b = packStr(b, string(ch.kind))
		b = packStr(b, ch.key)
		b = packStr(b, at)
		b = packMember(b, ch.metas)
	}
	return b
}

// packMember encodes metas as a member stored, not held.
func packMember(b []byte, metas []presence.Meta) []byte {
	b = packArrayHead(b, 1+4*len(metas))
	b = packStr(b, "")
	for _, m := range metas {
		b = packStr(b, m.ConnID)
		b = packStr(b, m.Node)
		b = packStr(b, strconv.FormatInt(m.JoinedAt.UnixNano(), 10))
		b = packStr(b, encodeMetaBlob(m))
	}
	return b
}

func packArrayHead(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x90|byte(n))
	case n < 1<<16:
		return binary.BigEndian.AppendUint16(append(b, 0xdc), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xdd), uint32(n))
}

func packStr(b []byte, s string) []byte {
	switch n := len(s); {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n < 1<<8:
		b = append(b, 0xd9, byte(n))
	case n < 1<<16:
		b = binary.BigEndian.AppendUint16(append(b, 0xda), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
	}
	return append(b, s...)
}

// presenceDecodeSeeds are seeds of FuzzPresenceDecode: changes and a
// member as the scripts write them.
func presenceDecodeSeeds() [][]byte {
	ann := []presence.Meta{{ConnID: "c1", Node: "n", JoinedAt: time.Unix(0, 10), Status: presence.StatusOnline}}
	two := append(slices.Clone(ann), presence.Meta{ConnID: "c2", Node: "m", JoinedAt: time.Unix(0, 20), Status: "away", Device: "phone", Fields: []byte(`{"x":1}`)})
	return [][]byte{
		packTopicChange(topicChange{seq: 1, changes: []change{{kind: 'j', key: "ann", metas: ann}}}),
		packTopicChange(topicChange{seq: 9, prev: 4, changes: []change{{kind: 'u', key: "ann", metas: two}}}),
		packTopicChange(topicChange{seq: 12, prev: 9, changes: []change{
			{kind: 'l', key: "ann", at: time.Unix(0, 30), metas: two}, {kind: 'u', key: "bob", metas: ann}}}),
		packMember(nil, two),
	}
}

// equalDecoded reports whether two decoded values are the same.
func equalDecoded(a, b any) bool { return reflect.DeepEqual(a, b) }

// TestPresenceDecodeTopicChange decodes the messages of a topic's channel:
// [seq, prev, changes], prev before seq.
func TestPresenceDecodeTopicChange(t *testing.T) {
	t.Parallel()
	joined := time.Unix(0, 1_700_000_000_123_456_789)
	ann := []presence.Meta{{ConnID: "c1", Node: "n1", JoinedAt: joined, Status: presence.StatusOnline, Device: "phone", Fields: []byte(`{"a":1}`)}}
	valid := topicChange{seq: 42, prev: 7, changes: []change{
		{kind: 'j', key: "ann", metas: ann},
		{kind: 'l', key: "bob", at: time.Unix(0, 1_700_000_001_000_000_000), metas: ann},
	}}
	c, err := decodeTopicChange(packTopicChange(valid))
	require.NoError(t, err)
	assert.Equal(t, valid, c)

	bad := func(head ...string) []byte {
		b := packArrayHead(nil, len(head)+1)
		for _, s := range head {
			b = packStr(b, s)
		}
		return packArrayHead(b, 0)
	}
	tests := []struct {
		name string
		msg  []byte
	}{
		{"the format without prev", bad("3")},
		{"prev not before seq", bad("3", "3")},
		{"seq 0", bad("0", "0")},
		{"prev negative", bad("3", "-1")},
		{"seq not a number", bad("x", "0")},
		{"trailing bytes", append(packTopicChange(valid), 0xc0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := decodeTopicChange(tt.msg)
			assert.ErrorIs(t, err, errBadRecord, "decode %q", tt.msg)
		})
	}
}
