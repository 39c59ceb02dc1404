package siomsgpack_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/internal/sio"
	"github.com/vicinity-go/vicinity/internal/siomsgpack"
)

func TestValueRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		js   string
		atts [][]byte
	}{
		{`["uid",{"type":2,"data":["ev",1,2.5,"s",null,true],"nsp":"/"},{"rooms":["a"],"except":[]}]`, nil},
		{`{"uid":"x","packet":{"data":["ev",{"_placeholder":true,"num":0},{"b":{"_placeholder":true,"num":1}}]}}`, [][]byte{{1, 2}, {}}},
		{`"just a string"`, nil},
		{`[]`, nil},
	} {
		msg, err := siomsgpack.AppendValue(nil, []byte(tc.js), tc.atts)
		require.NoError(t, err)
		js, atts, err := siomsgpack.DecodeValue(msg, sio.Limits{})
		require.NoError(t, err)
		assert.JSONEq(t, tc.js, string(js))
		assert.Equal(t, len(tc.atts), len(atts))
		for i := range atts {
			assert.Equal(t, tc.atts[i], atts[i])
		}
	}
}

func TestValueRefuses(t *testing.T) {
	t.Parallel()
	_, err := siomsgpack.AppendValue(nil, []byte(`{"a":`), nil)
	assert.Error(t, err)
	_, err = siomsgpack.AppendValue(nil, []byte(`[{"_placeholder":true,"num":3}]`), [][]byte{{1}})
	assert.Error(t, err, "a placeholder past the attachments")
	_, _, err = siomsgpack.DecodeValue([]byte{0x92, 0x01}, sio.Limits{})
	assert.ErrorIs(t, err, sio.ErrInvalidPacket, "truncated")
	_, _, err = siomsgpack.DecodeValue([]byte{0x01, 0x02}, sio.Limits{})
	assert.ErrorIs(t, err, sio.ErrInvalidPacket, "trailing bytes")
	_, _, err = siomsgpack.DecodeValue([]byte{0x92, 0xc4, 0x01, 0x00, 0xc4, 0x01, 0x00}, sio.Limits{MaxAttachments: 1})
	assert.ErrorIs(t, err, sio.ErrTooManyAttachments)
}
