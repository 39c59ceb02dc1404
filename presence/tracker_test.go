package presence_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/presence"
)

// step is one call in TestTracker: op is track, untrack, untrackConn,
// update (sets status) or advance (the clock, by d).
type step struct {
	op, key, conn, status string
	topic                 string // default "room"
	d                     time.Duration
	want                  []string // the diffs of "room" it causes, rendered
	err                   error
}

func TestTracker(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		delay time.Duration
		steps []step
		list  string // List("room") at the end
		count int
	}{
		{
			name: "multi-tab",
			steps: []step{
				{op: "track", key: "ann", conn: "tab1", want: []string{"join ann [tab1]"}},
				{op: "track", key: "ann", conn: "tab2", want: []string{"update ann [tab1 tab2]"}},
				{op: "track", key: "bob", conn: "tab3", want: []string{"join bob [tab3]"}},
				{op: "untrack", key: "ann", conn: "tab1", want: []string{"update ann [tab2]"}},
				{op: "advance", d: time.Second},
				{op: "untrack", key: "ann", conn: "tab2", want: []string{"leave ann [tab2] @1s"}},
			},
			list: "bob [tab3]", count: 1,
		},
		{
			name: "retrack same connection",
			steps: []step{
				{op: "track", key: "ann", conn: "tab1", want: []string{"join ann [tab1]"}},
				{op: "track", key: "ann", conn: "tab1"},
				{op: "track", key: "ann", conn: "tab1", status: "away", want: []string{"update ann [tab1:away]"}},
			},
			list: "ann [tab1:away]", count: 1,
		},
		{
			name: "rejoin after leave",
			steps: []step{
				{op: "track", key: "ann", conn: "tab1", want: []string{"join ann [tab1]"}},
				{op: "untrack", key: "ann", conn: "tab1", want: []string{"leave ann [tab1] @0s"}},
				{op: "track", key: "ann", conn: "tab2", want: []string{"join ann [tab2]"}},
			},
			list: "ann [tab2]", count: 1,
		},
		{
			name: "update status",
			steps: []step{
				{op: "track", key: "ann", conn: "tab1", want: []string{"join ann [tab1]"}},
				{op: "track", key: "ann", conn: "tab2", want: []string{"update ann [tab1 tab2]"}},
				{op: "update", key: "ann", conn: "tab2", status: "away", want: []string{"update ann [tab1 tab2:away]"}},
				{op: "update", key: "ann", conn: "tab2", status: "away"},
				{op: "update", key: "ann", conn: "tab2", status: "", want: []string{"update ann [tab1 tab2]"}},
				{op: "update", key: "ann", conn: "tab9", status: "busy", err: presence.ErrNotTracked},
				{op: "update", key: "ann", conn: "tab1", status: strings.Repeat("x", 33), err: presence.ErrInvalidMeta},
			},
			list: "ann [tab1 tab2]", count: 1,
		},
		{
			name: "untrack unknown",
			steps: []step{
				{op: "untrack", key: "ann", conn: "tab1"},
				{op: "track", key: "ann", conn: "tab1", want: []string{"join ann [tab1]"}},
				{op: "untrack", key: "ann", conn: "tab2"},
				{op: "untrack", key: "bob", conn: "tab1"},
			},
			list: "ann [tab1]", count: 1,
		},
		{
			name:  "leave delay: reload",
			delay: 5 * time.Second,
			steps: []step{
				{op: "track", key: "ann", conn: "tab1", want: []string{"join ann [tab1]"}},
				{op: "untrack", key: "ann", conn: "tab1"},
				{op: "advance", d: 4 * time.Second},
				{op: "track", key: "ann", conn: "tab2", want: []string{"update ann [tab2]"}},
				{op: "advance", d: time.Minute},
			},
			list: "ann [tab2]", count: 1,
		},
		{
			name:  "leave delay: reload with the same connection id",
			delay: 5 * time.Second,
			steps: []step{
				{op: "track", key: "ann", conn: "tab1", want: []string{"join ann [tab1]"}},
				{op: "untrack", key: "ann", conn: "tab1"},
				{op: "track", key: "ann", conn: "tab1", status: "away", want: []string{"update ann [tab1:away]"}},
				{op: "advance", d: time.Minute},
			},
			list: "ann [tab1:away]", count: 1,
		},
		{
			name:  "leave delay: expiry",
			delay: 5 * time.Second,
			steps: []step{
				{op: "track", key: "ann", conn: "tab1", want: []string{"join ann [tab1]"}},
				{op: "advance", d: time.Second},
				{op: "untrack", key: "ann", conn: "tab1"},
				{op: "untrack", key: "ann", conn: "tab1"},
				{op: "update", key: "ann", conn: "tab1", status: "away", err: presence.ErrNotTracked},
				{op: "advance", d: 4 * time.Second},
				{op: "advance", d: time.Second, want: []string{"leave ann [tab1] @1s"}},
				{op: "track", key: "ann", conn: "tab2", want: []string{"join ann [tab2]"}},
			},
			list: "ann [tab2]", count: 1,
		},
		{
			name:  "leave delay: held user is listed",
			delay: 5 * time.Second,
			steps: []step{
				{op: "track", key: "ann", conn: "tab1", want: []string{"join ann [tab1]"}},
				{op: "untrack", key: "ann", conn: "tab1"},
			},
			list: "ann [tab1]", count: 1,
		},
		{
			name:  "leave delay: closing one of two tabs is immediate",
			delay: 5 * time.Second,
			steps: []step{
				{op: "track", key: "ann", conn: "tab1", want: []string{"join ann [tab1]"}},
				{op: "track", key: "ann", conn: "tab2", want: []string{"update ann [tab1 tab2]"}},
				{op: "untrack", key: "ann", conn: "tab1", want: []string{"update ann [tab2]"}},
				{op: "untrack", key: "ann", conn: "tab2"},
				{op: "advance", d: 5 * time.Second, want: []string{"leave ann [tab2] @0s"}},
			},
			list: "", count: 0,
		},
		{
			name:  "leave delay: reload then leave again",
			delay: 5 * time.Second,
			steps: []step{
				{op: "track", key: "ann", conn: "tab1", want: []string{"join ann [tab1]"}},
				{op: "untrack", key: "ann", conn: "tab1"},
				{op: "advance", d: 3 * time.Second},
				{op: "track", key: "ann", conn: "tab2", want: []string{"update ann [tab2]"}},
				{op: "untrack", key: "ann", conn: "tab2"},
				{op: "advance", d: 3 * time.Second},
				{op: "advance", d: 2 * time.Second, want: []string{"leave ann [tab2] @3s"}},
			},
			list: "", count: 0,
		},
		{
			name: "untrack connection from every topic",
			steps: []step{
				{op: "track", key: "ann", conn: "tab1", want: []string{"join ann [tab1]"}},
				{op: "track", topic: "other", key: "ann", conn: "tab1"},
				{op: "track", topic: "third", key: "ann", conn: "tab2"},
				{op: "untrackConn", key: "ann", conn: "tab1", want: []string{"leave ann [tab1] @0s"}},
			},
			list: "", count: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			tr, clock := newTracker(t, presence.WithLeaveDelay(tt.delay))
			rec := record(t, tr, "room")
			for i, s := range tt.steps {
				topic := s.topic
				if topic == "" {
					topic = "room"
				}
				var err error
				switch s.op {
				case "track":
					err = tr.Track(ctx, topic, s.key, presence.Meta{ConnID: s.conn, Status: s.status})
				case "untrack":
					err = tr.Untrack(ctx, topic, s.key, s.conn)
				case "untrackConn":
					err = tr.UntrackConn(ctx, s.key, s.conn)
				case "update":
					err = tr.Update(ctx, topic, s.key, s.conn, func(m *presence.Meta) { m.Status = s.status })
				case "advance":
					clock.Advance(s.d)
				default:
					t.Fatalf("step %d: unknown op %q", i, s.op)
				}
				if s.err != nil {
					require.ErrorIs(t, err, s.err, "step %d: %+v", i, s)
				} else {
					require.NoError(t, err, "step %d: %+v", i, s)
				}
				want := s.want
				if want == nil {
					want = []string{}
				}
				require.Equal(t, want, rec.take(), "step %d: %+v", i, s)
			}
			assert.Equal(t, tt.list, list(t, tr, "room"))
			n, err := tr.Count(ctx, "room")
			require.NoError(t, err)
			assert.Equal(t, tt.count, n)
		})
	}
}

func TestTrackSetsMeta(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr, clock := newTracker(t)
	fields := []byte(`{"name":"Ann"}`)
	require.NoError(t, tr.Track(ctx, "room", "ann", presence.Meta{ConnID: "tab1", Device: "ios", Fields: fields, Node: "forged"}))
	fields[2] = 'X' // the tracker keeps its own copy
	clock.Advance(time.Minute)
	joined := t0.Add(-time.Hour)
	require.NoError(t, tr.Track(ctx, "room", "ann", presence.Meta{ConnID: "tab2", JoinedAt: joined}))
	// Re-tracking keeps the first JoinedAt.
	require.NoError(t, tr.Track(ctx, "room", "ann", presence.Meta{ConnID: "tab1", Device: "web", Fields: []byte(`{"name":"Ann"}`)}))

	m, ok, err := tr.Get(ctx, "room", "ann")
	require.NoError(t, err)
	require.True(t, ok)
	require.Len(t, m.Metas, 2)
	assert.Equal(t, presence.Meta{ConnID: "tab1", Status: "online", Device: "web", Fields: json.RawMessage(`{"name":"Ann"}`), JoinedAt: t0, Node: "n1"}, m.Metas[0])
	assert.Equal(t, presence.Meta{ConnID: "tab2", Status: "online", JoinedAt: joined, Node: "n1"}, m.Metas[1])
}

func TestUpdateIgnoresOwnedFields(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr, _ := newTracker(t)
	rec := record(t, tr, "room")
	require.NoError(t, tr.Track(ctx, "room", "ann", presence.Meta{ConnID: "tab1", Fields: []byte(`{"a":1}`)}))
	var seen presence.Meta
	require.NoError(t, tr.Update(ctx, "room", "ann", "tab1", func(m *presence.Meta) {
		seen = *m
		m.Fields[2] = 'b' // a copy: the tracker's stays {"a":1} until stored
		m.ConnID, m.JoinedAt, m.Node = "other", t0.Add(time.Hour), "forged"
		m.Device = "ios"
	}))
	assert.Equal(t, "tab1", seen.ConnID)
	m, ok, err := tr.Get(ctx, "room", "ann")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, []presence.Meta{{ConnID: "tab1", Status: "online", Device: "ios", Fields: json.RawMessage(`{"b":1}`), JoinedAt: t0, Node: "n1"}}, m.Metas)
	assert.Equal(t, []string{"join ann [tab1]", "update ann [tab1]"}, rec.take())

	err = tr.Update(ctx, "room", "ann", "tab1", func(m *presence.Meta) { m.Fields = []byte(`[1]`) })
	require.ErrorIs(t, err, presence.ErrInvalidMeta)
	assert.Empty(t, rec.take(), "a refused update changes nothing")
}

// The fields fn hands back are the tracker's own once stored, whether they
// changed or not: the caller may reuse its buffer.
func TestUpdateKeepsFields(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr, _ := newTracker(t)
	rec := record(t, tr, "room")
	require.NoError(t, tr.Track(ctx, "room", "ann", presence.Meta{ConnID: "tab1", Fields: []byte(`{"a":1}`)}))
	rec.take()
	stored := func() presence.Meta {
		t.Helper()
		m, _, err := tr.Get(ctx, "room", "ann")
		require.NoError(t, err)
		require.Len(t, m.Metas, 1)
		return m.Metas[0]
	}

	buf := []byte(`{"a":1}`)
	require.NoError(t, tr.Update(ctx, "room", "ann", "tab1", func(m *presence.Meta) {
		m.Status, m.Fields = presence.StatusAway, buf // the same fields, in the caller's buffer
	}))
	buf[2] = 'X'
	assert.Equal(t, []string{"update ann [tab1:away]"}, rec.take())
	assert.JSONEq(t, `{"a":1}`, string(stored().Fields), "unchanged fields stay the tracker's")

	buf = []byte(`{"b":2}`)
	require.NoError(t, tr.Update(ctx, "room", "ann", "tab1", func(m *presence.Meta) { m.Fields = buf }))
	buf[2] = 'X'
	diffs := rec.all()
	require.Len(t, diffs, 1)
	assert.JSONEq(t, `{"b":2}`, string(diffs[0].Updates["ann"][0].Fields), "new fields are copied")
	assert.JSONEq(t, `{"b":2}`, string(stored().Fields))
	assert.Equal(t, "away", stored().Status)

	require.NoError(t, tr.Update(ctx, "room", "ann", "tab1", func(m *presence.Meta) { m.Fields = nil }))
	assert.Nil(t, stored().Fields, "fields cleared")
}

func TestUpdateConn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr, _ := newTracker(t)
	a, b := record(t, tr, "a"), record(t, tr, "b")
	require.NoError(t, tr.Track(ctx, "a", "ann", presence.Meta{ConnID: "tab1"}))
	require.NoError(t, tr.Track(ctx, "b", "ann", presence.Meta{ConnID: "tab1"}))
	require.NoError(t, tr.Track(ctx, "b", "ann", presence.Meta{ConnID: "tab2"}))
	require.NoError(t, tr.Track(ctx, "c", "ann", presence.Meta{ConnID: "tab2"}))
	a.take()
	b.take()

	calls := 0
	require.NoError(t, tr.UpdateConn(ctx, "ann", "tab1", func(m *presence.Meta) { calls++; m.Status = presence.StatusBusy }))
	assert.Equal(t, 2, calls, "once per topic of tab1")
	assert.Equal(t, []string{"update ann [tab1:busy]"}, a.take())
	assert.Equal(t, []string{"update ann [tab1:busy tab2]"}, b.take())

	err := tr.UpdateConn(ctx, "ann", "tab3", func(m *presence.Meta) {})
	require.ErrorIs(t, err, presence.ErrNotTracked)
	err = tr.UpdateConn(ctx, "bob", "tab1", func(m *presence.Meta) {})
	require.ErrorIs(t, err, presence.ErrNotTracked)
	err = tr.UpdateConn(ctx, "ann", "tab1", func(m *presence.Meta) { m.Device = strings.Repeat("d", 65) })
	require.ErrorIs(t, err, presence.ErrInvalidMeta)
}

func TestUntrackConn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr, _ := newTracker(t)
	recs := map[string]*recorder{}
	for _, topic := range []string{"a", "b", "c"} {
		recs[topic] = record(t, tr, topic)
		require.NoError(t, tr.Track(ctx, topic, "ann", presence.Meta{ConnID: "tab1"}))
	}
	require.NoError(t, tr.Track(ctx, "b", "ann", presence.Meta{ConnID: "tab2"}))
	for _, r := range recs {
		r.take()
	}

	require.NoError(t, tr.UntrackConn(ctx, "ann", "tab1"))
	assert.Equal(t, []string{"leave ann [tab1] @0s"}, recs["a"].take())
	assert.Equal(t, []string{"update ann [tab2]"}, recs["b"].take())
	assert.Equal(t, []string{"leave ann [tab1] @0s"}, recs["c"].take())
	topics, err := tr.Topics(ctx, "ann")
	require.NoError(t, err)
	assert.Equal(t, []string{"b"}, topics)
	_, ok, err := tr.LastSeen(ctx, "ann")
	require.NoError(t, err)
	assert.False(t, ok, "still present in b")

	require.NoError(t, tr.UntrackConn(ctx, "ann", "tab1"), "again: nothing to do")
	require.NoError(t, tr.UntrackConn(ctx, "nobody", "tab1"))
}

func TestQueries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr, _ := newTracker(t)
	for _, c := range []struct{ topic, key, conn string }{
		{"lobby", "cat", "c1"}, {"lobby", "ann", "a1"}, {"lobby", "ann", "a2"}, {"lobby", "bob", "b1"},
		{"game", "ann", "a1"}, {"chat", "ann", "a3"},
	} {
		require.NoError(t, tr.Track(ctx, c.topic, c.key, presence.Meta{ConnID: c.conn}), "track %+v", c)
	}

	assert.Equal(t, "ann [a1 a2] bob [b1] cat [c1]", list(t, tr, "lobby"))
	l, err := tr.List(ctx, "empty")
	require.NoError(t, err)
	assert.Empty(t, l)

	m, ok, err := tr.Get(ctx, "lobby", "ann")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "ann", m.Key)
	assert.Equal(t, "[a1 a2]", metas(m.Metas))
	_, ok, err = tr.Get(ctx, "lobby", "dan")
	require.NoError(t, err)
	assert.False(t, ok)

	topics, err := tr.Topics(ctx, "ann")
	require.NoError(t, err)
	assert.Equal(t, []string{"chat", "game", "lobby"}, topics)
	topics, err = tr.Topics(ctx, "dan")
	require.NoError(t, err)
	assert.Empty(t, topics)

	for topic, want := range map[string]int{"lobby": 3, "game": 1, "chat": 1, "empty": 0} {
		n, err := tr.Count(ctx, topic)
		require.NoError(t, err)
		assert.Equal(t, want, n, "count %q", topic)
	}

	// Results are copies.
	l, err = tr.List(ctx, "lobby")
	require.NoError(t, err)
	l[0].Metas[0].Status = "changed"
	assert.Equal(t, "ann [a1 a2] bob [b1] cat [c1]", list(t, tr, "lobby"))
}

func TestLastSeen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lastSeen := func(t *testing.T, tr *presence.Tracker, key string) (time.Duration, bool) {
		t.Helper()
		at, ok, err := tr.LastSeen(ctx, key)
		require.NoError(t, err)
		if !ok {
			return 0, false
		}
		return at.Sub(t0), true
	}

	t.Run("recorded and expires", func(t *testing.T) {
		t.Parallel()
		tr, clock := newTracker(t, presence.WithLastSeen(time.Hour))
		_, ok := lastSeen(t, tr, "ann")
		assert.False(t, ok, "never seen")
		require.NoError(t, tr.Track(ctx, "a", "ann", presence.Meta{ConnID: "tab1"}))
		require.NoError(t, tr.Track(ctx, "b", "ann", presence.Meta{ConnID: "tab1"}))
		clock.Advance(time.Second)
		require.NoError(t, tr.Untrack(ctx, "a", "ann", "tab1"))
		_, ok = lastSeen(t, tr, "ann")
		assert.False(t, ok, "present in b")
		clock.Advance(time.Second)
		require.NoError(t, tr.Untrack(ctx, "b", "ann", "tab1"))
		d, ok := lastSeen(t, tr, "ann")
		assert.True(t, ok)
		assert.Equal(t, 2*time.Second, d)

		clock.Advance(time.Hour - time.Second)
		d, ok = lastSeen(t, tr, "ann")
		assert.True(t, ok, "not an hour yet")
		assert.Equal(t, 2*time.Second, d)
		clock.Advance(time.Second)
		_, ok = lastSeen(t, tr, "ann")
		assert.False(t, ok, "forgotten after an hour")
	})

	t.Run("present again", func(t *testing.T) {
		t.Parallel()
		tr, _ := newTracker(t)
		require.NoError(t, tr.Track(ctx, "a", "ann", presence.Meta{ConnID: "tab1"}))
		require.NoError(t, tr.Untrack(ctx, "a", "ann", "tab1"))
		_, ok := lastSeen(t, tr, "ann")
		assert.True(t, ok)
		require.NoError(t, tr.Track(ctx, "a", "ann", presence.Meta{ConnID: "tab2"}))
		_, ok = lastSeen(t, tr, "ann")
		assert.False(t, ok, "present")
	})

	t.Run("after the leave delay", func(t *testing.T) {
		t.Parallel()
		tr, clock := newTracker(t, presence.WithLeaveDelay(5*time.Second))
		require.NoError(t, tr.Track(ctx, "a", "ann", presence.Meta{ConnID: "tab1"}))
		clock.Advance(time.Second)
		require.NoError(t, tr.Untrack(ctx, "a", "ann", "tab1"))
		_, ok := lastSeen(t, tr, "ann")
		assert.False(t, ok, "held")
		clock.Advance(5 * time.Second)
		d, ok := lastSeen(t, tr, "ann")
		assert.True(t, ok)
		assert.Equal(t, time.Second, d, "when the connection left")
	})

	t.Run("not kept", func(t *testing.T) {
		t.Parallel()
		tr, _ := newTracker(t, presence.WithLastSeen(0))
		require.NoError(t, tr.Track(ctx, "a", "ann", presence.Meta{ConnID: "tab1"}))
		require.NoError(t, tr.Untrack(ctx, "a", "ann", "tab1"))
		_, ok := lastSeen(t, tr, "ann")
		assert.False(t, ok)
	})
}

func TestValidation(t *testing.T) {
	t.Parallel()
	ok := presence.Meta{ConnID: "c"}
	with := func(f func(*presence.Meta)) presence.Meta { m := ok; f(&m); return m }
	tests := []struct {
		name       string
		topic, key string
		meta       presence.Meta
		valid      bool
	}{
		{"valid", "t", "k", ok, true},
		{"empty topic", "", "k", ok, false},
		{"empty key", "t", "", ok, false},
		{"empty conn", "t", "k", presence.Meta{}, false},
		{"key at limit", "t", strings.Repeat("k", presence.MaxKeyLen), ok, true},
		{"key over limit", "t", strings.Repeat("k", presence.MaxKeyLen+1), ok, false},
		{"500 kB key", "t", strings.Repeat("k", 500_000), ok, false},
		{"conn over limit", "t", "k", presence.Meta{ConnID: strings.Repeat("c", presence.MaxKeyLen+1)}, false},
		{"topic at limit", strings.Repeat("t", presence.MaxTopicLen), "k", ok, true},
		{"topic over limit", strings.Repeat("t", presence.MaxTopicLen+1), "k", ok, false},
		{"status at limit", "t", "k", with(func(m *presence.Meta) { m.Status = strings.Repeat("s", 32) }), true},
		{"status over limit", "t", "k", with(func(m *presence.Meta) { m.Status = strings.Repeat("s", 33) }), false},
		{"device at limit", "t", "k", with(func(m *presence.Meta) { m.Device = strings.Repeat("d", 64) }), true},
		{"device over limit", "t", "k", with(func(m *presence.Meta) { m.Device = strings.Repeat("d", 65) }), false},
		{"fields object", "t", "k", with(func(m *presence.Meta) { m.Fields = []byte(` {"a": [1, 2]} `) }), true},
		{"fields empty", "t", "k", with(func(m *presence.Meta) { m.Fields = []byte{} }), true},
		{"fields array", "t", "k", with(func(m *presence.Meta) { m.Fields = []byte(`[1]`) }), false},
		{"fields null", "t", "k", with(func(m *presence.Meta) { m.Fields = []byte(`null`) }), false},
		{"fields string", "t", "k", with(func(m *presence.Meta) { m.Fields = []byte(`"x"`) }), false},
		{"fields bad json", "t", "k", with(func(m *presence.Meta) { m.Fields = []byte(`{"a":}`) }), false},
		{"fields two values", "t", "k", with(func(m *presence.Meta) { m.Fields = []byte(`{}{}`) }), false},
		{"fields at limit", "t", "k", with(func(m *presence.Meta) { m.Fields = bigObject(4096) }), true},
		{"fields over limit", "t", "k", with(func(m *presence.Meta) { m.Fields = bigObject(4097) }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr, _ := newTracker(t)
			err := tr.Track(context.Background(), tt.topic, tt.key, tt.meta)
			names := tt.topic != "" && tt.key != "" && tt.meta.ConnID != "" &&
				len(tt.topic) <= presence.MaxTopicLen && len(tt.key) <= presence.MaxKeyLen && len(tt.meta.ConnID) <= presence.MaxKeyLen
			if names {
				assert.Equal(t, tt.valid, tt.meta.Validate() == nil, "Meta.Validate agrees with Track on %+v", tt.meta)
			}
			if tt.valid {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, presence.ErrInvalidMeta)
			assert.True(t, strings.HasPrefix(err.Error(), "presence: "), "error %q", err)
		})
	}

	t.Run("other methods", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		tr, _ := newTracker(t)
		errs := []error{
			tr.Untrack(ctx, "", "k", "c"),
			tr.Untrack(ctx, "t", "k", ""),
			tr.UntrackConn(ctx, "", "c"),
			tr.Update(ctx, "t", "", "c", func(*presence.Meta) {}),
			tr.UpdateConn(ctx, "k", "", func(*presence.Meta) {}),
		}
		_, err := tr.List(ctx, "")
		errs = append(errs, err)
		_, _, err = tr.Get(ctx, "t", "")
		errs = append(errs, err)
		_, err = tr.Topics(ctx, "")
		errs = append(errs, err)
		_, err = tr.Count(ctx, "")
		errs = append(errs, err)
		_, _, err = tr.LastSeen(ctx, "")
		errs = append(errs, err)
		_, _, err = tr.LastSeen(ctx, strings.Repeat("k", presence.MaxKeyLen+1))
		errs = append(errs, err)
		for i, err := range errs {
			assert.ErrorIs(t, err, presence.ErrInvalidMeta, "call %d", i)
		}
	})
}

// bigObject returns a JSON object of n bytes.
func bigObject(n int) []byte {
	b := []byte(`{"a":"`)
	b = append(b, bytes.Repeat([]byte("x"), n-len(b)-2)...)
	return append(b, `"}`...)
}

func TestContextCanceled(t *testing.T) {
	t.Parallel()
	tr, _ := newTracker(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, tr.Track(ctx, "t", "k", presence.Meta{ConnID: "c"}), context.Canceled)
	_, err := tr.List(ctx, "t")
	require.ErrorIs(t, err, context.Canceled)
}

func TestSubscriberPanic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var logs syncBuffer
	tr, _ := newTracker(t, presence.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	panics := 0
	cancel := tr.Subscribe("room", func(d presence.Diff) {
		panics++
		panic("boom")
	})
	defer cancel()
	rec := record(t, tr, "room")

	require.NoError(t, tr.Track(ctx, "room", "ann", presence.Meta{ConnID: "tab1"}))
	require.NoError(t, tr.Track(ctx, "room", "bob", presence.Meta{ConnID: "tab2"}))
	assert.Equal(t, 2, panics)
	assert.Equal(t, []string{"join ann [tab1]", "join bob [tab2]"}, rec.take(), "the other subscriber gets every diff")
	assert.Contains(t, logs.String(), "presence: subscriber panicked")
	assert.Contains(t, logs.String(), "boom")
}

func TestSubscribeReentrant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr, _ := newTracker(t)
	var got []string
	var cancel func()
	cancel = tr.Subscribe("room", func(d presence.Diff) {
		got = append(got, render(d))
		if _, ok := d.Joins["ann"]; ok {
			// Calls from a subscriber: their diffs come next, in order.
			require.NoError(t, tr.Track(ctx, "room", "bob", presence.Meta{ConnID: "b"}))
			_, err := tr.List(ctx, "room")
			require.NoError(t, err)
		}
		if _, ok := d.Joins["bob"]; ok {
			require.NoError(t, tr.Untrack(ctx, "room", "ann", "a"))
			cancel()
		}
	})
	defer cancel()
	require.NoError(t, tr.Track(ctx, "room", "ann", presence.Meta{ConnID: "a"}))
	assert.Equal(t, []string{"join ann [a]", "join bob [b]"}, got, "none after cancel")
	assert.Equal(t, "bob [b]", list(t, tr, "room"))
}

func TestUnsubscribe(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr, _ := newTracker(t)
	n := 0
	cancel := tr.Subscribe("room", func(presence.Diff) { n++ })
	require.NoError(t, tr.Track(ctx, "room", "ann", presence.Meta{ConnID: "a"}))
	cancel()
	cancel()
	require.NoError(t, tr.Track(ctx, "room", "bob", presence.Meta{ConnID: "b"}))
	assert.Equal(t, 1, n)
}

func TestClose(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr, clock := newTracker(t, presence.WithLeaveDelay(time.Second))
	n := 0
	tr.Subscribe("room", func(presence.Diff) { n++ })
	require.NoError(t, tr.Track(ctx, "room", "ann", presence.Meta{ConnID: "a"}))
	require.NoError(t, tr.Untrack(ctx, "room", "ann", "a"))
	require.Equal(t, 2, clock.Timers(), "heartbeat and leave delay")

	require.NoError(t, tr.Close())
	require.NoError(t, tr.Close(), "idempotent")
	assert.Zero(t, clock.Timers(), "timers stopped")
	clock.Advance(time.Minute)
	assert.Equal(t, 1, n, "no diffs after Close")

	for i, err := range []error{
		tr.Track(ctx, "room", "ann", presence.Meta{ConnID: "a"}),
		tr.Untrack(ctx, "room", "ann", "a"),
		tr.UntrackConn(ctx, "ann", "a"),
		tr.Update(ctx, "room", "ann", "a", func(*presence.Meta) {}),
		tr.UpdateConn(ctx, "ann", "a", func(*presence.Meta) {}),
	} {
		assert.ErrorIs(t, err, presence.ErrClosed, "call %d", i)
	}
	_, err := tr.List(ctx, "room")
	assert.ErrorIs(t, err, presence.ErrClosed)
	cancel := tr.Subscribe("room", func(presence.Diff) { n++ })
	cancel()
}

func TestCloseConcurrent(t *testing.T) {
	t.Parallel()
	tr := presence.New(presence.WithHeartbeat(time.Millisecond, 10*time.Millisecond), presence.WithLeaveDelay(time.Millisecond))
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 100 {
				conn := string(rune('a' + i))
				err := tr.Track(ctx, "room", "ann", presence.Meta{ConnID: conn})
				if errors.Is(err, presence.ErrClosed) {
					return
				}
				_ = tr.Untrack(ctx, "room", "ann", conn)
				_ = j
			}
		})
	}
	require.NoError(t, tr.Close())
	wg.Wait()
	require.NoError(t, tr.Close())
}

func TestOptionsPanic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opt  presence.Option
	}{
		{"nil store", presence.WithStore(nil)},
		{"negative delay", presence.WithLeaveDelay(-time.Second)},
		{"negative last seen", presence.WithLastSeen(-time.Second)},
		{"ttl under interval", presence.WithHeartbeat(10*time.Second, 5*time.Second)},
		{"negative interval", presence.WithHeartbeat(-time.Second, 0)},
		{"nil logger", presence.WithLogger(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				r := recover()
				s, _ := r.(string)
				assert.True(t, strings.HasPrefix(s, "presence: With"), "panic value %#v", r)
			}()
			tr := presence.New(tt.opt)
			_ = tr.Close()
		})
	}
}

func TestNodeName(t *testing.T) {
	t.Parallel()
	a, b := presence.New(), presence.New()
	defer a.Close()
	defer b.Close()
	assert.Len(t, a.Node(), 16)
	assert.NotEqual(t, a.Node(), b.Node())
	c := presence.New(presence.WithNode("web-1"))
	defer c.Close()
	assert.Equal(t, "web-1", c.Node())
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
