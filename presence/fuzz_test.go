package presence_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/vicinity-go/vicinity/presence"
)

// FuzzTrackMeta checks that Track never panics, refuses exactly the metas
// over the limits or with Fields not a JSON object (encoding/json is the
// oracle), and stores what it accepts as given.
func FuzzTrackMeta(f *testing.F) {
	f.Add("online", "ios", []byte(`{"name":"Ann"}`))
	f.Add("", "", []byte(nil))
	f.Add("away", "", []byte(`null`))
	f.Add("busy", "web", []byte(` {"a":[1,{"b":null}]} `))
	f.Add("x", "y", []byte(`[1,2]`))
	f.Add("x", "y", []byte(`{"a":1}{}`))
	f.Add("x", "y", []byte("{\"a\":\"\xff\"}"))
	tr := presence.New()
	f.Cleanup(func() { _ = tr.Close() })
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, status, device string, fields []byte) {
		err := tr.Track(ctx, "room", "key", presence.Meta{ConnID: "c", Status: status, Device: device, Fields: fields})
		var obj map[string]any
		valid := len(status) <= presence.MaxStatusLen && len(device) <= presence.MaxDeviceLen &&
			len(fields) <= presence.MaxFieldsLen &&
			(len(fields) == 0 || json.Unmarshal(fields, &obj) == nil && obj != nil)
		if err != nil {
			if !errors.Is(err, presence.ErrInvalidMeta) {
				t.Fatalf("track: %v", err)
			}
			if valid {
				t.Fatalf("refused a valid meta: %v", err)
			}
			return
		}
		if !valid {
			t.Fatalf("accepted status %q device %q fields %q", status, device, fields)
		}
		m, ok, err := tr.Get(ctx, "room", "key")
		if err != nil || !ok || len(m.Metas) != 1 {
			t.Fatalf("get: %v %v %v", m, ok, err)
		}
		got := m.Metas[0]
		if got.Device != device || string(got.Fields) != string(fields) || (status != "" && got.Status != status) {
			t.Fatalf("stored %+v", got)
		}
	})
}
