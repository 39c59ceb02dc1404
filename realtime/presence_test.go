package realtime_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vicinity-go/vicinity/presence"
	"github.com/vicinity-go/vicinity/realtime"
)

// presenceServer publishes presence in room "lobby"; users say who they are
// in the auth payload, {"user": "..."}; the "join" event joins a room.
func presenceServer(t testing.TB, opts ...realtime.Option) *realtime.Server {
	t.Helper()
	return presenceServerWith(t, presence.New(), opts...)
}

// presenceServerWith is presenceServer with the given tracker.
func presenceServerWith(t testing.TB, tracker *presence.Tracker, opts ...realtime.Option) *realtime.Server {
	t.Helper()
	t.Cleanup(func() { _ = tracker.Close() })
	identify := func(s *realtime.Socket) (string, presence.Meta, error) {
		var auth struct{ User, Device string }
		if err := (realtime.Args{s.Handshake().Auth}).Bind(&auth); err != nil || auth.User == "" {
			return "", presence.Meta{}, errors.New("who are you?")
		}
		return auth.User, presence.Meta{Device: auth.Device}, nil
	}
	opts = append([]realtime.Option{
		realtime.WithPresence(tracker, identify),
		realtime.WithPresenceRooms(func(_, room string) bool { return room == "lobby" }),
	}, opts...)
	srv := realtime.New(opts...)
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("join", func(e *realtime.Event) {
			var room string
			_ = e.Bind(&room)
			s.Join(room)
			_ = e.Ack()
		})
		s.On("leave", func(e *realtime.Event) {
			var room string
			_ = e.Bind(&room)
			s.Leave(room)
			_ = e.Ack()
		})
	})
	return srv
}

// presenceEvent is a decoded presence:state or presence:diff event.
type presenceEvent struct {
	name    string
	Room    string                     `json:"room"`
	Members []presence.Member          `json:"members"`
	Joins   map[string][]presence.Meta `json:"joins"`
	Updates map[string][]presence.Meta `json:"updates"`
	Leaves  map[string]presence.Leave  `json:"leaves"`
}

// nextPresence reads the next event, which must be a presence event.
func (r *raw) nextPresence() presenceEvent {
	r.t.Helper()
	return decodePresence(r.t, r.next())
}

func decodePresence(t testing.TB, p string) presenceEvent {
	t.Helper()
	require.True(t, strings.HasPrefix(p, "42["), "an event: %q", p)
	var args []json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(p[2:]), &args), "%q", p)
	require.Len(t, args, 2, "%q", p)
	var ev presenceEvent
	require.NoError(t, json.Unmarshal(args[0], &ev.name))
	require.NoError(t, json.Unmarshal(args[1], &ev), "%q", p)
	return ev
}

// joinLobby joins "lobby" and returns the state it was sent, skipping the
// diff of its own arrival (which may come before or after the state).
func (r *raw) joinLobby() presenceEvent {
	r.t.Helper()
	r.send(`429["join","lobby"]`)
	var state *presenceEvent
	acked, diffed := false, false
	for !acked || state == nil || !diffed {
		p := r.next()
		if p == `439[]` {
			acked = true
			continue
		}
		ev := decodePresence(r.t, p)
		switch ev.name {
		case realtime.DefaultPresenceState:
			state = &ev
		default:
			diffed = true
		}
	}
	return *state
}

// reply returns the next packet that is not a presence event.
func (r *raw) reply() string {
	r.t.Helper()
	for {
		if p := r.next(); !strings.HasPrefix(p, `42["presence:`) {
			return p
		}
	}
}

func statuses(metas []presence.Meta) []string {
	out := make([]string, len(metas))
	for i, m := range metas {
		out[i] = m.Status
	}
	return out
}

func TestPresenceInARoom(t *testing.T) {
	t.Parallel()
	ts := serve(t, presenceServer(t))

	a := dialRaw(t, ts)
	a.connect("/", `{"user":"ann","device":"web"}`)
	st := a.joinLobby()
	assert.Equal(t, "lobby", st.Room)
	require.Len(t, st.Members, 1)
	assert.Equal(t, "ann", st.Members[0].Key)
	assert.Equal(t, "web", st.Members[0].Metas[0].Device)
	assert.Equal(t, "online", st.Members[0].Metas[0].Status)

	b := dialRaw(t, ts)
	b.connect("/", `{"user":"bob"}`)
	st = b.joinLobby()
	assert.Len(t, st.Members, 2, "bob's state holds ann and bob")
	d := a.nextPresence()
	assert.Equal(t, realtime.DefaultPresenceDiff, d.name)
	assert.Contains(t, d.Joins, "bob", "ann sees bob join")

	b2 := dialRaw(t, ts) // bob's second tab
	b2.connect("/", `{"user":"bob"}`)
	b2.joinLobby()
	d = a.nextPresence()
	assert.Empty(t, d.Joins, "a second tab is not a join")
	assert.Len(t, d.Updates["bob"], 2, "bob has two metas")

	b.send(`421["presence:update",{"status":"away"}]`)
	assert.Equal(t, `431[{"ok":true}]`, b.reply())
	d = a.nextPresence()
	assert.ElementsMatch(t, []string{"away", "online"}, statuses(d.Updates["bob"]))

	b.send(`422["presence:update",{"status":"` + strings.Repeat("x", 40) + `"}]`)
	assert.Regexp(t, `^432\[\{"error":".+"\}\]$`, b.reply(), "a status over 32 bytes is refused")
	b.send(`423["presence:update","away"]`)
	assert.Regexp(t, `^433\[\{"error":".+"\}\]$`, b.reply(), "not an object")
	b.send(`425["presence:update",{"fields":{"role":"admin"}}]`)
	assert.Equal(t, `435[{"error":"fields are set by the server"}]`, b.reply())
	b.send("426[\"presence:update\",{\"status\":\"a\\u0000b\"}]")
	assert.Regexp(t, `^436\[\{"error":"status: .+"\}\]$`, b.reply(), "control characters are refused")

	_ = b2.ws.Close() // one tab closes: an update
	d = a.nextPresence()
	assert.Empty(t, d.Leaves)
	assert.Equal(t, []string{"away"}, statuses(d.Updates["bob"]))

	b.send(`424["leave","lobby"]`)
	assert.Equal(t, `434[]`, b.reply())
	d = a.nextPresence()
	assert.Contains(t, d.Leaves, "bob", "leaving the room is a leave")
	assert.False(t, d.Leaves["bob"].LastSeen.IsZero())

	st = b.joinLobby()
	assert.Len(t, st.Members, 2)
	assert.Contains(t, a.nextPresence().Joins, "bob", "back: a join")

	_ = b.ws.Close() // the last connection goes: a leave, at once
	d = a.nextPresence()
	assert.Contains(t, d.Leaves, "bob")
}

func TestPresenceIdentifyRefuses(t *testing.T) {
	t.Parallel()
	ts := serve(t, presenceServer(t))
	r := dialRaw(t, ts)
	assert.Equal(t, `44{"message":"who are you?"}`, r.connect("/", `{"device":"web"}`))
	assert.Equal(t, `44{"message":"invalid presence"}`, r.connect("/", `{"user":"ann","device":"`+strings.Repeat("x", 100)+`"}`),
		"a meta the tracker would refuse is refused at connect")
}

func TestPresencePayloadsHideTheNode(t *testing.T) {
	t.Parallel()
	ts := serve(t, presenceServerWith(t, presence.New(presence.WithNode("db-host-7"))))
	a := dialRaw(t, ts)
	a.connect("/", `{"user":"ann"}`)
	a.send(`429["join","lobby"]`)
	for range 3 { // the ack, the state and the diff, in some order
		assert.NotContains(t, a.next(), "db-host-7")
	}
}

func TestPresenceUnpublishedRoom(t *testing.T) {
	t.Parallel()
	ts := serve(t, presenceServer(t))
	a := dialRaw(t, ts)
	a.connect("/", `{"user":"ann"}`)
	a.send(`421["join","quiet"]`)
	assert.Equal(t, `431[]`, a.next(), "no state in a room that does not publish")
	b := dialRaw(t, ts)
	b.connect("/", `{"user":"bob"}`)
	b.send(`421["join","quiet"]`)
	assert.Equal(t, `431[]`, b.next())
	a.closedOrQuiet() // and no diff
}

// A page reload within the leave delay: the others see an update (the new
// connection's meta), never a leave and a join.
func TestPresenceReloadDoesNotFlash(t *testing.T) {
	t.Parallel()
	ts := serve(t, presenceServerWith(t, presence.New(presence.WithLeaveDelay(time.Minute))))
	ann := dialRaw(t, ts)
	ann.connect("/", `{"user":"ann"}`)
	ann.joinLobby()
	bob := dialRaw(t, ts)
	bob.connect("/", `{"user":"bob"}`)
	bob.joinLobby()
	assert.Contains(t, ann.nextPresence().Joins, "bob")

	_ = bob.ws.Close() // the reload: the old page goes…
	bob = dialRaw(t, ts)
	bob.connect("/", `{"user":"bob"}`)
	st := bob.joinLobby() // …and the new one comes
	assert.Len(t, st.Members, 2)

	// The old connection's close and the new one's join race: ann sees one
	// or two updates, never a leave or a join, ending with the new
	// connection alone.
	for {
		d := ann.nextPresence()
		require.Empty(t, d.Leaves, "no leave")
		require.Empty(t, d.Joins, "no join")
		if len(d.Updates["bob"]) == 1 {
			break
		}
	}
}
