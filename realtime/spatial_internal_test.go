package realtime

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/internal/sio"
	"github.com/vicinity-go/vicinity/spatial"
)

// The hand-written nearby payloads decode as encoding/json would write
// them, whatever the id and the numbers.
func TestAppendNearby(t *testing.T) {
	t.Parallel()
	type payload struct {
		ID       string   `json:"id"`
		Lat      float64  `json:"lat"`
		Lng      float64  `json:"lng"`
		Accuracy float64  `json:"accuracy"`
		Distance *float64 `json:"distance,omitempty"`
	}
	rng := rand.New(rand.NewPCG(5, 5))
	ids := []string{"AbC-_09xyz", `quote" back\ slash`, "tab\tnew\nline\x00\x1f", "ünïcødé ✓", ""}
	for i := range 500 {
		pos := spatial.Position{Point: spatial.Point{Lat: rng.Float64()*180 - 90, Lng: rng.Float64()*360 - 180}, Accuracy: rng.ExpFloat64() * 50}
		d := -1.0
		if i%2 == 0 {
			d = rng.ExpFloat64() * math.Pow(10, float64(rng.IntN(9)))
		}
		id := ids[i%len(ids)]
		b := appendNearby(nil, id, pos, d)
		require.True(t, json.Valid(b), "%s", b)
		var got payload
		require.NoError(t, json.Unmarshal(b, &got))
		assert.Equal(t, id, got.ID)
		assert.Equal(t, pos.Lat, got.Lat)
		assert.Equal(t, pos.Lng, got.Lng)
		assert.Equal(t, pos.Accuracy, got.Accuracy)
		if d < 0 {
			assert.Nil(t, got.Distance)
		} else {
			require.NotNil(t, got.Distance)
			assert.Equal(t, d, *got.Distance)
		}
	}
}

// A packet begun with eventHead and argument-appended decodes as the event
// it names, in the socket's namespace.
func TestEventHead(t *testing.T) {
	t.Parallel()
	for _, nsp := range []string{"/", "/other"} {
		s := &Socket{nsp: &Namespace{name: nsp}}
		b, at := s.eventHead(NearbyLeave, 0)
		b = append(append(b, `{"id":"x"}`...), ']')
		assert.Equal(t, `{"id":"x"}`, string(b[at:len(b)-1]))
		p, err := sio.Decode(b, sio.Limits{})
		require.NoError(t, err, "%s", b)
		assert.Equal(t, sio.Event, p.Type)
		assert.Equal(t, nsp, p.Namespace)
		name, args, err := sio.EventName(p.Data)
		require.NoError(t, err)
		assert.Equal(t, NearbyLeave, name)
		require.Len(t, args, 1)
		assert.JSONEq(t, `{"id":"x"}`, string(args[0]))
	}
}
