package siomsgpack_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/internal/nodetest"

	"github.com/vicinity-go/vicinity/internal/sio"
	"github.com/vicinity-go/vicinity/internal/siomsgpack"
)

// nodeDir holds crosscheck.js and the npm package it runs.
const nodeDir = "testdata/node"

// requireNode returns the path of node, or skips the test (fails it with
// VICINITY_REQUIRE_NODE=1) when node or the npm packages are missing.
func requireNode(t *testing.T) string {
	t.Helper()
	return nodetest.Require(t, nodeDir, "socket.io-msgpack-parser")
}

// described is what crosscheck.js prints of a packet: what a JavaScript
// server sees.
type described struct {
	Name    string   `json:"name"`
	Hex     string   `json:"hex"`
	Exact   bool     `json:"exact"`
	OK      bool     `json:"ok"`
	Error   string   `json:"error"`
	Type    int      `json:"type"`
	Nsp     string   `json:"nsp"`
	HasID   bool     `json:"hasId"`
	ID      float64  `json:"id"` // a JavaScript number
	HasData bool     `json:"hasData"`
	Data    *string  `json:"data"`
	Bins    []string `json:"bins"`
}

// crosscheck runs crosscheck.js in mode with input, one line each, and
// returns what it prints, one value a line.
func crosscheck(t *testing.T, node, mode string, input []string) []described {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "crosscheck.js", mode)
	cmd.Dir = nodeDir
	cmd.Stdin = strings.NewReader(strings.Join(input, "\n") + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "node crosscheck.js %s: %s", mode, stderr.String())

	var lines []described
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var d described
		require.NoError(t, json.Unmarshal(sc.Bytes(), &d), "line %q", sc.Bytes())
		lines = append(lines, d)
	}
	require.NoError(t, sc.Err())
	return lines
}

// assertSame checks that the Go packet p with attachments atts is what node
// described.
func assertSame(t *testing.T, d described, p sio.Packet, atts [][]byte) {
	t.Helper()
	wantType := p.Type
	switch wantType {
	case sio.BinaryEvent:
		wantType = sio.Event
	case sio.BinaryAck:
		wantType = sio.Ack
	}
	assert.Equal(t, int(wantType), d.Type, "type")
	assert.Equal(t, p.Namespace, d.Nsp, "nsp")
	assert.Equal(t, p.HasID, d.HasID, "has id")
	assert.Equal(t, float64(p.ID), d.ID, "id") // JavaScript rounds ids past 2^53 as float64 does
	require.Equal(t, p.Data != nil, d.HasData, "has data")
	if d.HasData {
		require.NotNil(t, d.Data)
		var want, got any
		require.NoError(t, json.Unmarshal([]byte(*d.Data), &want), "node's JSON %s", *d.Data)
		require.NoError(t, json.Unmarshal(p.Data, &got), "Go's JSON %s", p.Data)
		assert.Equal(t, want, got, "data: node %s, Go %s", *d.Data, p.Data)
	}
	gotBins := make([]string, len(atts))
	for i, a := range atts {
		gotBins[i] = hex.EncodeToString(a)
	}
	assert.Equal(t, d.Bins, gotBins, "binary values")
}

func TestNode(t *testing.T) {
	t.Parallel()
	node := requireNode(t)

	encoded := crosscheck(t, node, "encode", nil)
	require.NotEmpty(t, encoded)
	t.Run("decode", func(t *testing.T) {
		for _, d := range encoded {
			t.Run(d.Name, func(t *testing.T) {
				msg, err := hex.DecodeString(d.Hex)
				require.NoError(t, err)
				p, atts, err := siomsgpack.Decode(msg, sio.Limits{MaxAttachments: 100})
				require.NoError(t, err, "decode %s", d.Hex)
				assertSame(t, d, p, atts)

				again, err := siomsgpack.Append(nil, p, atts)
				require.NoError(t, err, "append %+v", p)
				if d.Exact {
					assert.Equal(t, d.Hex, hex.EncodeToString(again), "Append writes what notepack.io writes")
				}
				p2, atts2, err := siomsgpack.Decode(again, sio.Limits{MaxAttachments: 100})
				require.NoError(t, err, "decode %x", again)
				assert.Equal(t, p, p2)
				assert.Equal(t, atts, atts2)
			})
		}
	})

	t.Run("encode", func(t *testing.T) {
		type goPacket struct {
			name string
			p    sio.Packet
			atts [][]byte
		}
		var packets []goPacket
		for _, tt := range roundTrips {
			packets = append(packets, goPacket{tt.name, tt.p, tt.atts})
		}
		packets = append(packets,
			goPacket{"unicode and escapes", sio.Packet{Type: sio.Event, Namespace: "/ü",
				Data: json.RawMessage(`["é€😀","\u2028\"\\\n\u0001","\ud83d\ude00"]`)}, nil},
			goPacket{"large numbers", sio.Packet{Type: sio.Ack, Namespace: "/", ID: 1 << 40, HasID: true,
				Data: json.RawMessage(`[9007199254740991,-9007199254740991,1e300,-1.5e-300,0.1]`)}, nil},
			goPacket{"big attachment", sio.Packet{Type: sio.BinaryEvent, Namespace: "/",
				Data: json.RawMessage(`["f",{"a":[{"_placeholder":true,"num":0}],"b":{"_placeholder":true,"num":1}}]`)},
				[][]byte{bytes.Repeat([]byte{0xab}, 70000), {}}},
		)
		for _, d := range encoded {
			msg, _ := hex.DecodeString(d.Hex)
			p, atts, err := siomsgpack.Decode(msg, sio.Limits{MaxAttachments: 100})
			require.NoError(t, err, "decode %s", d.Name)
			packets = append(packets, goPacket{"node's " + d.Name, p, atts})
		}
		input := make([]string, len(packets))
		for i, gp := range packets {
			b, err := siomsgpack.Append(nil, gp.p, gp.atts)
			require.NoError(t, err, "append %s", gp.name)
			input[i] = hex.EncodeToString(b)
		}
		decoded := crosscheck(t, node, "decode", input)
		require.Len(t, decoded, len(packets))
		for i, gp := range packets {
			t.Run(gp.name, func(t *testing.T) {
				d := decoded[i]
				require.True(t, d.OK, "node refuses %s: %s", input[i], d.Error)
				assertSame(t, d, gp.p, gp.atts)
			})
		}
	})

	t.Run("refusals", func(t *testing.T) {
		var input []string
		var names []string
		want := map[string]bool{}
		for _, tt := range refusals {
			if tt.wire == "" {
				continue
			}
			input = append(input, hex.EncodeToString(h(tt.wire)))
			names = append(names, tt.name)
			want[tt.name] = tt.node
		}
		decoded := crosscheck(t, node, "decode", input)
		require.Len(t, decoded, len(input))
		for i, name := range names {
			assert.Equal(t, want[name], !decoded[i].OK, "%s: node says %+v", name, decoded[i])
		}
	})
}
