package sio_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/internal/sio"
)

// decodeEvent decodes a binary EVENT text and its attachments.
func decodeEvent(t *testing.T, text string, atts ...[]byte) (string, sio.Args) {
	t.Helper()
	p, err := sio.Decode([]byte(text), sio.Limits{})
	require.NoError(t, err, "decode %q", text)
	name, args, err := sio.DecodeEvent(&p, atts)
	require.NoError(t, err, "decode event %q", text)
	return name, args
}

const ph1 = `{"_placeholder":true,"num":1}`

func TestArgsBindBinary(t *testing.T) {
	t.Parallel()
	a, b, c := []byte{1, 2, 3}, []byte{4}, []byte{5}
	name, args := decodeEvent(t, `53-["up",`+ph0+`,{"name":"x","pic":`+ph1+`,"list":[{"_placeholder":true,"num":2},"text"]},"AQID"]`, a, b, c)
	assert.Equal(t, "up", name)
	require.Equal(t, 3, args.Len())
	assert.True(t, args.Binary())

	t.Run("top level into []byte and any", func(t *testing.T) {
		var raw []byte
		var v any
		require.NoError(t, args.Bind(&raw))
		require.NoError(t, args.Bind(&v))
		assert.Equal(t, a, raw)
		assert.Equal(t, a, v)
	})
	t.Run("nested into any", func(t *testing.T) {
		var v any
		require.NoError(t, args.Bind(nil, &v))
		assert.Equal(t, map[string]any{"name": "x", "pic": b, "list": []any{c, "text"}}, v)
	})
	t.Run("nested into struct fields", func(t *testing.T) {
		var v struct {
			Name string   `json:"name"`
			Pic  []byte   `json:"pic"`
			List []any    `json:"list"`
			Map  struct{} `json:"map"`
		}
		require.NoError(t, args.Bind(nil, &v))
		assert.Equal(t, "x", v.Name)
		assert.Equal(t, b, v.Pic)
		assert.Equal(t, []any{c, "text"}, v.List)
	})
	t.Run("into map of any", func(t *testing.T) {
		var v map[string]any
		require.NoError(t, args.Bind(nil, &v))
		assert.Equal(t, b, v["pic"])
	})
	t.Run("a base64 string stays a string, and still decodes into []byte", func(t *testing.T) {
		var s string
		var raw []byte
		require.NoError(t, args.Bind(nil, nil, &s))
		require.NoError(t, args.Bind(nil, nil, &raw))
		assert.Equal(t, "AQID", s)
		assert.Equal(t, []byte{1, 2, 3}, raw)
	})
	t.Run("an attachment into a string is an error", func(t *testing.T) {
		var s string
		err := args.Bind(&s)
		require.Error(t, err)
		assert.ErrorIs(t, err, sio.ErrInvalidArgument)
	})
	t.Run("json.RawMessage gets the placeholder", func(t *testing.T) {
		var r json.RawMessage
		require.NoError(t, args.Bind(&r))
		assert.JSONEq(t, ph0, string(r))
	})
	t.Run("JSON writes base64", func(t *testing.T) {
		assert.Equal(t, `"AQID"`, string(args.JSON(0)))
		assert.JSONEq(t, `{"name":"x","pic":"BA==","list":["BQ==","text"]}`, string(args.JSON(1)))
	})
	t.Run("Values send the same bytes back", func(t *testing.T) {
		data, atts, err := sio.MarshalArgs("back", args.Values())
		require.NoError(t, err)
		assert.Equal(t, `["back",`+ph0+`,{"list":[`+ph1+`,"text"],"name":"x","pic":{"_placeholder":true,"num":2}},"AQID"]`, string(data))
		assert.Equal(t, [][]byte{a, c, b}, atts)
	})
}

// Without attachments a placeholder is an ordinary object, as in
// socket.io-parser, which reconstructs binary packets only.
func TestArgsPlaceholderInTextPacket(t *testing.T) {
	t.Parallel()
	_, args := decodeEvent(t, `2["x",`+ph0+`]`)
	assert.False(t, args.Binary())
	var v any
	require.NoError(t, args.Bind(&v))
	assert.Equal(t, map[string]any{"_placeholder": true, "num": float64(0)}, v)
	assert.Equal(t, ph0, string(args.JSON(0)))
	data, atts, err := sio.MarshalArgs("x", args.Values())
	require.NoError(t, err)
	assert.Equal(t, `["x",`+ph0+`]`, string(data))
	assert.Empty(t, atts)
}

func TestDecodeEventRefusesBadPlaceholders(t *testing.T) {
	t.Parallel()
	for _, text := range []string{
		`51-["x",{"_placeholder":true,"num":1}]`,
		`51-["x",{"_placeholder":true,"num":-1}]`,
		`51-["x",[{"y":{"_placeholder":true,"num":7}}]]`,
		`51-["x",{"_placeholder":true,"num":0.5}]`,
		`51-["x",` + ph0 + `,` + ph0 + `]`, // one attachment named twice: many copies from one
		`51-["x",{"a":1}]`,                 // an attachment named by none
	} {
		p, err := sio.Decode([]byte(text), sio.Limits{})
		require.NoError(t, err, "decode %q", text)
		_, _, err = sio.DecodeEvent(&p, [][]byte{{1}})
		assert.ErrorIs(t, err, sio.ErrInvalidPacket, "%q", text)
		p.Type = sio.BinaryAck
		p.Data = p.Data[len(`["x",`)-1:]
		p.Data[0] = '['
		_, err = sio.DecodeAck(&p, [][]byte{{1}})
		assert.ErrorIs(t, err, sio.ErrInvalidPacket, "ack %q", p.Data)
	}
}

func TestArgsBindErrors(t *testing.T) {
	t.Parallel()
	_, args := decodeEvent(t, `51-["x",{"a":`+ph0+`}]`, []byte{9})
	var n int
	err := args.Bind(&n)
	require.Error(t, err)
	assert.True(t, errors.Is(err, sio.ErrInvalidArgument))
	err = args.Bind(nil, nil)
	assert.ErrorIs(t, err, sio.ErrInvalidArgument, "too few arguments")
	var m map[string][]byte
	require.NoError(t, args.Bind(&m))
	assert.Equal(t, []byte{9}, m["a"])
}

func TestArgsMarshalJSON(t *testing.T) {
	t.Parallel()
	_, args := decodeEvent(t, `51-["x",1,{"b":`+ph0+`},"s"]`, []byte{1})
	b, err := json.Marshal(args)
	require.NoError(t, err)
	assert.Equal(t, `[1,{"b":"AQ=="},"s"]`, string(b))
	b, err = json.Marshal(sio.Args{})
	require.NoError(t, err)
	assert.Equal(t, `[]`, string(b))
}

// encoding/json.Number works as in encoding/json, both ways, binary or not.
func TestJSONNumber(t *testing.T) {
	t.Parallel()
	type v struct {
		N json.Number `json:"n"`
	}
	data, _, err := sio.MarshalArgs("n", []any{v{N: "12.50"}, json.Number(""), map[string]any{"b": []byte{1}, "n": json.Number("1e3")}})
	require.NoError(t, err)
	assert.Equal(t, `["n",{"n":12.50},0,{"b":`+ph0+`,"n":1e3}]`, string(data))
	_, _, err = sio.MarshalArgs("n", []any{json.Number("12x")})
	assert.Error(t, err, "not a number")

	for _, atts := range [][][]byte{nil, {{1}}} {
		text := `2["n",{"n":12.5},{"n":"7"},{"n":null},{"n":"x"}]`
		if atts != nil {
			text = `51-["n",{"n":12.5},{"n":"7"},{"n":null},{"n":"x"},` + ph0 + `]`
		}
		_, args := decodeEvent(t, text, atts...)
		var a, b, c, d v
		require.NoError(t, args.Bind(&a, &b, &c), "%s", text)
		assert.Equal(t, json.Number("12.5"), a.N)
		assert.Equal(t, json.Number("7"), b.N, "a string holding a number")
		assert.Equal(t, json.Number(""), c.N)
		assert.Error(t, args.Bind(nil, nil, nil, &d), "a string holding no number")
	}
}

// Binding deep JSON with attachments into an any takes time linear in its
// size: a client cannot make one Bind cost seconds.
func TestBindDeepBinary(t *testing.T) {
	t.Parallel()
	const depth = 9000
	text := `51-["x",` + strings.Repeat(`{"a":`, depth) + ph0 + strings.Repeat(`}`, depth) + `]`
	_, args := decodeEvent(t, text, []byte{1})
	var v any
	require.NoError(t, args.Bind(&v))
	for range depth {
		v = v.(map[string]any)["a"]
	}
	assert.Equal(t, []byte{1}, v)
	assert.Len(t, args.Values(), 1)
}

// An empty attachment stays an empty []byte, never nil, which would be
// sent back as null.
func TestEmptyAttachmentIsNotNil(t *testing.T) {
	t.Parallel()
	var r sio.Reassembler
	_, _, done, err := r.Add([]byte(`51-["x",`+ph0+`]`), false)
	require.NoError(t, err)
	require.False(t, done)
	p, atts, done, err := r.Add(nil, true)
	require.NoError(t, err)
	require.True(t, done)
	_, args, err := sio.DecodeEvent(&p, atts)
	require.NoError(t, err)
	var b []byte
	require.NoError(t, args.Bind(&b))
	assert.NotNil(t, b)
	data, out, err := sio.MarshalArgs("x", args.Values())
	require.NoError(t, err)
	assert.Equal(t, `["x",`+ph0+`]`, string(data))
	assert.Equal(t, [][]byte{{}}, out)
}
