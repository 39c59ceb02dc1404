package realtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/presence"
	"github.com/vicinity-go/vicinity/realtime"
)

// A binary packet whose text and attachments cross WithMaxAttachmentBytes
// closes the connection with "parse error", as soon as the crossing
// message arrives.
func TestAttachmentBytesBounded(t *testing.T) {
	t.Parallel()
	srv, reasons := echoServer(t, realtime.WithMaxAttachmentBytes(1000))
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	r.connect("/", "")
	r.send(`452-["echo",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)
	r.sendBinary(make([]byte, 500))
	r.sendBinary(make([]byte, 500)) // 1,000 bytes of attachments and the text: over
	r.closed()
	assert.Equal(t, "parse error", recv(t, reasons))
}

// The default bound is the transport's max payload.
func TestAttachmentBytesDefault(t *testing.T) {
	t.Parallel()
	srv, reasons := echoServer(t)
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	r.connect("/", "")
	r.send(`453-["echo",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1},{"_placeholder":true,"num":2}]`)
	for range 3 {
		r.sendBinary(make([]byte, 400_000)) // each under 1,000,000, the three over
	}
	r.closed()
	assert.Equal(t, "parse error", recv(t, reasons))
}

// A binary packet whose attachments do not all arrive within
// WithAttachmentTimeout closes the connection with "parse error"; one that
// completes in time is handled.
func TestAttachmentTimeout(t *testing.T) {
	t.Parallel()
	srv, reasons := echoServer(t, realtime.WithAttachmentTimeout(50*time.Millisecond))
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	r.connect("/", "")
	r.send(`451-0["echo",{"_placeholder":true,"num":0}]`)
	r.sendBinary([]byte{1, 2})
	assert.Equal(t, `461-0[{"_placeholder":true,"num":0}]`, r.next(), "a packet completed in time is handled")
	typ, data := r.read()
	assert.Equal(t, websocket.BinaryMessage, typ)
	assert.Equal(t, []byte{1, 2}, data)

	r.send(`452-["echo",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)
	r.sendBinary([]byte{1}) // and never the second
	r.closed()
	assert.Equal(t, "parse error", recv(t, reasons))
}

func TestMaxNamespaces(t *testing.T) {
	t.Parallel()
	srv := realtime.New(realtime.WithMaxNamespaces(2))
	srv.Of("/a")
	srv.Of("/b")
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	assert.True(t, strings.HasPrefix(r.connect("/", ""), `40{"sid":`))
	assert.True(t, strings.HasPrefix(r.connect("/a", ""), `40/a,{"sid":`))
	assert.Equal(t, `44/b,{"message":"Too many namespaces"}`, r.connect("/b", ""))
	r.send(`41/a,`)
	assert.True(t, strings.HasPrefix(r.connect("/b", ""), `40/b,{"sid":`), "room for one again")
}

// A client cannot make the server match a dynamic namespace with a name
// longer than WithMaxNameLen.
func TestNamespaceNameBounded(t *testing.T) {
	t.Parallel()
	srv := realtime.New(realtime.WithMaxNameLen(16))
	matched := 0
	srv.OfFunc(func(string, json.RawMessage) bool { matched++; return true })
	long := "/" + strings.Repeat("x", 16)
	srv.Of(long + "y") // one the server defined is not refused
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	assert.Equal(t, `44`+long+`,{"message":"Invalid namespace"}`, r.connect(long, ""))
	assert.True(t, strings.HasPrefix(r.connect(long+"y", ""), `40`+long+`y,{"sid":`))
	assert.True(t, strings.HasPrefix(r.connect("/"+strings.Repeat("x", 15), ""), `40/`), "at the limit")
	assert.Equal(t, 1, matched)
}

// Join refuses, joining none, a room name over WithMaxNameLen and rooms
// past WithMaxRooms; the application tells its client.
func TestJoinLimits(t *testing.T) {
	t.Parallel()
	srv := realtime.New(realtime.WithMaxRooms(3), realtime.WithMaxNameLen(8))
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("join", func(e *realtime.Event) {
			var rooms []string
			_ = e.Bind(&rooms)
			err := s.Join(rooms...)
			_ = e.Ack(fmt.Sprint(err), len(s.Rooms())-1)
		})
	})
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	r.connect("/", "")
	tests := []struct {
		rooms string
		want  string
	}{
		{`["a","b"]`, `["<nil>",2]`},
		{`["c","d"]`, `["realtime: too many rooms",2]`},
		{`["a","b","c","c"]`, `["<nil>",3]`},
		{`["d"]`, `["realtime: too many rooms",3]`},
		{`["a","123456789"]`, `["realtime: room name too long",3]`},
	}
	for i, tt := range tests {
		r.send(fmt.Sprintf(`42%d["join",%s]`, i, tt.rooms))
		assert.Equal(t, fmt.Sprintf(`43%d%s`, i, tt.want), r.next(), "join %s", tt.rooms)
	}
}

// A connection whose namespaces have all disconnected is closed after the
// connect timeout, as one that never joined.
func TestLastNamespaceLeftCloses(t *testing.T) {
	t.Parallel()
	srv, reasons := echoServer(t, realtime.WithConnectTimeout(50*time.Millisecond))
	srv.Of("/a")
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	r.connect("/", "")
	r.connect("/a", "")
	r.send(`41`)
	assert.Equal(t, "client namespace disconnect", recv(t, reasons))
	r.send(`41/a,`)
	r.closed()
}

// An Identify that returns a key over presence.MaxKeyLen (from a
// client's auth, say) refuses the connection with a clear connect_error.
func TestPresenceKeyBounded(t *testing.T) {
	t.Parallel()
	ts := serve(t, presenceServer(t, realtime.WithMaxAuthBytes(1<<20))) // the key comes from the auth
	r := dialRaw(t, ts)
	big := strings.Repeat("k", 500_000)
	assert.Equal(t, `44{"message":"presence key too long"}`, r.connect("/", `{"user":"`+big+`"}`))
	assert.True(t, strings.HasPrefix(r.connect("/", `{"user":"`+big[:presence.MaxKeyLen]+`"}`), `40{"sid":`))
}

// A client's presence:update events are coalesced: sent at the full
// event rate, they make the room hear a few diffs, the last with the
// latest status, not one per update.
func TestPresenceUpdatesCoalesced(t *testing.T) {
	t.Parallel()
	tracker := presence.New()
	ts := serve(t, presenceServerWith(t, tracker))
	a, b := dialRaw(t, ts), dialRaw(t, ts)
	a.connect("/", `{"user":"ann"}`)
	a.joinLobby()
	b.connect("/", `{"user":"bob"}`)
	b.joinLobby()
	a.nextPresence() // bob's arrival

	const n = 200
	for i := range n {
		a.send(fmt.Sprintf(`42%d["presence:update",{"status":"s%d"}]`, i, i))
	}
	for i := range n {
		assert.Equal(t, fmt.Sprintf(`43%d[{"ok":true}]`, i), a.reply(), "update %d acknowledged at once", i)
	}
	diffs := 0
	for {
		ev := b.nextPresence()
		require.Contains(t, ev.Updates, "ann", "diff %d", diffs)
		diffs++
		if statuses(ev.Updates["ann"])[0] == fmt.Sprintf("s%d", n-1) {
			break
		}
	}
	assert.Less(t, diffs, n/4, "diffs for %d updates", n)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	m, ok, err := tracker.Get(ctx, "/#lobby", "ann")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, []string{fmt.Sprintf("s%d", n-1)}, statuses(m.Metas))
}

// The auth payload a socket keeps is bounded by WithMaxAuthBytes.
func TestAuthBounded(t *testing.T) {
	t.Parallel()
	srv := realtime.New(realtime.WithMaxAuthBytes(64))
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	token := strings.Repeat("t", 64-len(`{"token":""}`))
	assert.Equal(t, `44{"message":"Auth payload too large"}`, r.connect("/", `{"token":"`+token+`x"}`))
	assert.True(t, strings.HasPrefix(r.connect("/", `{"token":"`+token+`"}`), `40{"sid":`), "at the limit")
}
