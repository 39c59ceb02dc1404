package realtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
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
		if err := json.Unmarshal(s.Handshake().Auth, &auth); err != nil || auth.User == "" {
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

// collect returns the next n packets, sorted by the name of their event
// (acknowledgements first), for packets whose order is not fixed.
func (r *raw) collect(n int) map[string]string {
	r.t.Helper()
	byName := make(map[string]string, n)
	for range n {
		p := r.next()
		name := p
		if strings.HasPrefix(p, "42[") {
			var args []json.RawMessage
			require.NoError(r.t, json.Unmarshal([]byte(p[2:]), &args), "%q", p)
			require.NotEmpty(r.t, args, "%q", p)
			require.NoError(r.t, json.Unmarshal(args[0], &name), "%q", p)
		}
		require.NotContains(r.t, byName, name, "twice: %q", p)
		byName[name] = p
	}
	return byName
}

func TestPresenceEvents(t *testing.T) {
	t.Parallel()
	ts := serve(t, presenceServer(t, realtime.WithPresenceEvents("who", "changed", "status")))
	a := dialRaw(t, ts)
	a.connect("/", `{"user":"ann"}`)
	a.send(`429["join","lobby"]`)
	got := a.collect(3)
	require.Contains(t, got, "who", "the state, renamed")
	st := decodePresence(t, got["who"])
	assert.Equal(t, "lobby", st.Room)
	require.Len(t, st.Members, 1)
	assert.Equal(t, "ann", st.Members[0].Key)
	require.Contains(t, got, "changed", "the diff, renamed")
	assert.Contains(t, decodePresence(t, got["changed"]).Joins, "ann")
	assert.Contains(t, got, `439[]`)

	a.send(`421["status",{"status":"away"}]`)
	got = a.collect(2)
	assert.Contains(t, got, `431[{"ok":true}]`, "the update event, renamed")
	require.Contains(t, got, "changed")
	assert.Equal(t, []string{"away"}, statuses(decodePresence(t, got["changed"]).Updates["ann"]))
}

func TestPresenceClientFields(t *testing.T) {
	t.Parallel()
	ts := serve(t, presenceServer(t, realtime.WithPresenceClientFields(true)))
	a := dialRaw(t, ts)
	a.connect("/", `{"user":"ann"}`)
	a.joinLobby()
	b := dialRaw(t, ts)
	b.connect("/", `{"user":"bob","device":"ios"}`)
	b.joinLobby()
	assert.Contains(t, a.nextPresence().Joins, "bob")

	b.send(`421["presence:update",{"fields":{"role":"admin"}}]`)
	assert.Equal(t, `431[{"ok":true}]`, b.reply(), "fields allowed")
	metas := a.nextPresence().Updates["bob"]
	require.Len(t, metas, 1)
	assert.JSONEq(t, `{"role":"admin"}`, string(metas[0].Fields))
	assert.Equal(t, "ios", metas[0].Device, "the device is kept")

	b.send(`422["presence:update",{"status":"busy"}]`)
	assert.Equal(t, `432[{"ok":true}]`, b.reply())
	metas = a.nextPresence().Updates["bob"]
	require.Len(t, metas, 1)
	assert.Equal(t, "busy", metas[0].Status)
	assert.JSONEq(t, `{"role":"admin"}`, string(metas[0].Fields), "a status update keeps the fields")

	b.send(`423["presence:update",{"fields":null,"status":"away"}]`)
	assert.Equal(t, `433[{"ok":true}]`, b.reply(), "null fields: unchanged")
	metas = a.nextPresence().Updates["bob"]
	require.Len(t, metas, 1)
	assert.Equal(t, "away", metas[0].Status)
	assert.JSONEq(t, `{"role":"admin"}`, string(metas[0].Fields))

	b.send(`424["presence:update",{"fields":[1]}]`)
	assert.Regexp(t, `^434\[\{"error":".*invalid meta"\}\]$`, b.reply(), "fields not an object are refused")
	b.send(`425["presence:update",{"fields":{"a":"` + strings.Repeat("x", 2048) + `"}}]`)
	assert.Equal(t, `435[{"error":"update larger than 2048 bytes"}]`, b.reply())

	b.send(`426["presence:update",{"fields":{"role":"guest"}}]`)
	assert.Equal(t, `436[{"ok":true}]`, b.reply())
	metas = a.nextPresence().Updates["bob"]
	require.Len(t, metas, 1)
	assert.JSONEq(t, `{"role":"guest"}`, string(metas[0].Fields), "nothing changed by the refused updates")
}

// Identify's meta is checked as the tracker checks it, and its status must
// be printable too.
func TestPresenceIdentifyMeta(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		meta  presence.Meta
		reply string // a prefix
	}{
		{"valid", presence.Meta{Status: "away", Fields: json.RawMessage(`{"a":1}`)}, `40{"sid":`},
		{"fields after whitespace", presence.Meta{Fields: json.RawMessage(" \n{\"a\":1}")}, `40{"sid":`},
		{"fields not an object", presence.Meta{Fields: json.RawMessage(`[1]`)}, `44{"message":"invalid presence"}`},
		{"status unprintable", presence.Meta{Status: "a\x00b"}, `44{"message":"invalid presence"}`},
		{"status too long", presence.Meta{Status: strings.Repeat("s", 33)}, `44{"message":"invalid presence"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tracker := presence.New()
			t.Cleanup(func() { _ = tracker.Close() })
			srv := realtime.New(realtime.WithPresence(tracker, func(*realtime.Socket) (string, presence.Meta, error) {
				return "ann", tt.meta, nil
			}))
			r := dialRaw(t, serve(t, srv))
			assert.True(t, strings.HasPrefix(r.connect("/", ""), tt.reply), "want %s", tt.reply)
		})
	}
}

// watchStore is a memory store whose Watch fails while fail is set, and
// waits for release when watching the topic slow.
type watchStore struct {
	*presence.MemoryStore
	fail     atomic.Bool
	slow     string
	watching chan struct{} // a Watch of slow has started
	release  chan struct{}
}

func newWatchStore(slow string) *watchStore {
	return &watchStore{MemoryStore: presence.NewMemoryStore(), slow: slow, watching: make(chan struct{}, 1), release: make(chan struct{})}
}

func (s *watchStore) Watch(ctx context.Context, topic string, fn func(presence.Diff)) (func(), error) {
	if s.fail.Load() {
		return nil, errors.New("watch down")
	}
	if topic == s.slow {
		s.watching <- struct{}{}
		select {
		case <-s.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait): // a hung test fails instead
			return nil, errors.New("watch never released")
		}
	}
	return s.MemoryStore.Watch(ctx, topic, fn)
}

// A topic whose subscription failed is subscribed by the next join, and the
// socket whose subscription failed does not release the next one's.
func TestPresenceSubscribeRetried(t *testing.T) {
	t.Parallel()
	st := newWatchStore("")
	ts := serve(t, presenceServerWith(t, presence.New(presence.WithStore(st))))
	st.fail.Store(true)
	a := dialRaw(t, ts)
	a.connect("/", `{"user":"ann"}`)
	a.send(`429["join","lobby"]`)
	got := a.collect(2) // no diff: nobody relays the topic
	assert.Contains(t, got, `439[]`)
	assert.Contains(t, got, realtime.DefaultPresenceState, "the state is sent anyway")

	st.fail.Store(false)
	b := dialRaw(t, ts)
	b.connect("/", `{"user":"bob"}`)
	b.joinLobby()
	assert.Contains(t, a.nextPresence().Joins, "bob", "the next join subscribed")

	a.send(`421["leave","lobby"]`)
	assert.Equal(t, `431[]`, a.reply())
	assert.Contains(t, b.nextPresence().Leaves, "ann")
	c := dialRaw(t, ts)
	c.connect("/", `{"user":"cat"}`)
	c.joinLobby()
	assert.Contains(t, b.nextPresence().Joins, "cat", "ann's leave kept bob's subscription")
}

// A store slow to watch one topic delays only the sockets joining it.
func TestPresenceSlowWatch(t *testing.T) {
	t.Parallel()
	st := newWatchStore("/#lobby")
	ts := serve(t, presenceServerWith(t, presence.New(presence.WithStore(st)),
		realtime.WithPresenceRooms(func(_, room string) bool { return room == "lobby" || room == "hall" })))
	a := dialRaw(t, ts)
	a.connect("/", `{"user":"ann"}`)
	a.send(`429["join","lobby"]`)
	recv(t, st.watching)

	b := dialRaw(t, ts)
	b.connect("/", `{"user":"bob"}`)
	b.send(`421["join","hall"]`)
	got := b.collect(3)
	assert.Contains(t, got, `431[]`, "another topic is not held up")
	assert.Contains(t, got, realtime.DefaultPresenceState)
	assert.Contains(t, got, realtime.DefaultPresenceDiff)

	close(st.release)
	got = a.collect(3)
	assert.Contains(t, got, `439[]`)
	assert.Contains(t, got, realtime.DefaultPresenceState)
	assert.Contains(t, got, realtime.DefaultPresenceDiff)
}
