package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/examples/internal/browsertest"
	"github.com/vicinity-go/vicinity/examples/internal/web"
)

// wait bounds every wait on the server; nothing should come near it.
const wait = 5 * time.Second

// start serves the chat on 127.0.0.1 until the test ends.
func start(t *testing.T) *httptest.Server {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	rt, handler := newServer(logger, nil)
	ts := httptest.NewServer(handler)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		assert.NoError(t, rt.Shutdown(ctx), "realtime shutdown")
		ts.Close()
	})
	return ts
}

// TestBrowser runs browser.test.mjs: two Chromium pages using the page as
// a person would.
func TestBrowser(t *testing.T) {
	browsertest.Run(t, "chat", "CHAT_URL", func() string { return start(t).URL })
}

func TestBundle(t *testing.T) {
	t.Parallel()
	if err := web.CheckBundle("chat"); err != nil {
		t.Skip(err)
	}
	res, err := http.Get(start(t).URL + "/socket.io.min.js")
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, string(body), "socket.io")
}

func TestPage(t *testing.T) {
	t.Parallel()
	ts := start(t)
	for _, p := range []string{"/", "/app.js", "/style.css"} {
		res, err := http.Get(ts.URL + p)
		require.NoError(t, err, "GET %s", p)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		assert.Equal(t, http.StatusOK, res.StatusCode, "GET %s", p)
		assert.NotEmpty(t, body, "GET %s", p)
	}
}

// raw speaks Socket.IO by hand over a WebSocket: "40{auth}" connects,
// "42[...]" is an event, "42<id>[...]" one asking for an acknowledgement
// which comes back as "43<id>[...]".
type raw struct {
	t   *testing.T
	ws  *websocket.Conn
	sid string // the socket id, once connected
}

// dial opens a connection and joins the main namespace with auth; it
// returns the connection and the server's answer, "40{...}" or "44{...}".
func dial(t *testing.T, ts *httptest.Server, auth string) (*raw, string) {
	t.Helper()
	u := "ws" + strings.TrimPrefix(ts.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
	ws, _, err := websocket.DefaultDialer.Dial(u, nil)
	require.NoError(t, err, "dial %s", u)
	t.Cleanup(func() { _ = ws.Close() })
	r := &raw{t: t, ws: ws}
	require.True(t, strings.HasPrefix(r.next(), "0{"), "Engine.IO open packet")
	r.send("40" + auth)
	answer := r.next()
	var connect struct{ SID string }
	if strings.HasPrefix(answer, "40{") {
		require.NoError(t, json.Unmarshal([]byte(answer[2:]), &connect), "connect answer %s", answer)
		r.sid = connect.SID
	}
	return r, answer
}

func (r *raw) send(s string) {
	r.t.Helper()
	require.NoError(r.t, r.ws.WriteMessage(websocket.TextMessage, []byte(s)), "send %q", s)
}

// next returns the next packet, answering pings on the way.
func (r *raw) next() string {
	r.t.Helper()
	for {
		require.NoError(r.t, r.ws.SetReadDeadline(time.Now().Add(wait)))
		_, data, err := r.ws.ReadMessage()
		require.NoError(r.t, err, "read")
		if string(data) == "2" {
			r.send("3")
			continue
		}
		return string(data)
	}
}

// event skips packets until event name arrives and returns its arguments
// as JSON.
func (r *raw) event(name string) string {
	r.t.Helper()
	prefix := `42["` + name + `",`
	for {
		if p := r.next(); strings.HasPrefix(p, prefix) {
			return "[" + strings.TrimPrefix(p, prefix)
		}
	}
}

// ack skips packets until the acknowledgement id arrives and returns it.
func (r *raw) ack(id string) string {
	r.t.Helper()
	for {
		if p := r.next(); strings.HasPrefix(p, "43"+id+"[") {
			return strings.TrimPrefix(p, "43"+id)
		}
	}
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	ts := start(t)
	long := strings.Repeat("é", 33)
	tests := []struct {
		name, auth, want string
	}{
		{"no auth", ``, `44{"message":"name is empty"}`},
		{"empty name", `{"name":""}`, `44{"message":"name is empty"}`},
		{"blank name", `{"name":"  "}`, `44{"message":"name is empty"}`},
		{"long name", `{"name":"` + long + `"}`, `44{"message":"name is longer than 32 characters"}`},
		{"control character", `{"name":"a\u0007b"}`, `44{"message":"name must not contain control characters"}`},
		{"name not a string", `{"name":42}`, `44{"message":"auth must be {name: string, room?: string}"}`},
		{"bad room", `{"name":"ada","room":"` + long + `"}`, `44{"message":"room is longer than 32 characters"}`},
		{"32 characters", `{"name":"` + long[2:] + `"}`, `40{"sid":"`},
		{"name and room", `{"name":"ada","room":"games"}`, `40{"sid":"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, got := dial(t, ts, tt.auth)
			assert.True(t, strings.HasPrefix(got, tt.want), "auth %s: got %s, want %s…", tt.auth, got, tt.want)
		})
	}
}

func TestEvents(t *testing.T) {
	t.Parallel()
	ts := start(t)
	ada, _ := dial(t, ts, `{"name":" ada "}`)
	assert.Equal(t, `["lobby"]`, ada.event("room"))
	assert.JSONEq(t, `["lobby",[{"id":"`+ada.sid+`","name":"ada"}]]`, ada.event("members"))

	tests := []struct {
		name, packet, want string
	}{
		{"message not a string", `421["message",{"text":"hi"}]`, `[{"error":"message must be a string"}]`},
		{"message missing", `421["message"]`, `[{"error":"message must be a string"}]`},
		{"empty message", `421["message","  "]`, `[{"error":"message is empty"}]`},
		{"long message", `421["message","` + strings.Repeat("x", 501) + `"]`, `[{"error":"message is longer than 500 characters"}]`},
		{"room not a string", `421["join",5]`, `[{"error":"room must be a string"}]`},
		{"room null", `421["join",null]`, `[{"error":"room is empty"}]`},
		{"long room", `421["join","` + strings.Repeat("x", 33) + `"]`, `[{"error":"room is longer than 32 characters"}]`},
		{"room with a newline", `421["join","a\nb"]`, `[{"error":"room must not contain control characters"}]`},
		{"typing not a bool", `421["typing","yes"]`, `[{"error":"typing must be true or false"}]`},
		{"same room", `421["join","lobby"]`, `[{"ok":true}]`},
	}
	for _, tt := range tests { // sequential: one connection
		t.Run(tt.name, func(t *testing.T) {
			ada.send(tt.packet)
			assert.JSONEq(t, tt.want, ada.ack("1"), "packet %s", tt.packet)
		})
	}
	ada.send(`42["typing",true]`) // no ack asked: nothing comes back, nothing breaks
	ada.send(`42["nonsense",1,2,3]`)

	// A valid message reaches the room, the sender included.
	ada.send(`422["message"," hello "]`)
	var m struct{ ID, Name, Text string }
	require.NoError(t, json.Unmarshal([]byte(strings.Trim(ada.event("message"), "[]")), &m))
	assert.Equal(t, "ada", m.Name)
	assert.Equal(t, "hello", m.Text)
	assert.JSONEq(t, `[{"ok":true}]`, ada.ack("2"))
}

// members skips "members" events until one lists want (names, as
// "[ada bob]"): others may come first, as people connect concurrently.
func (r *raw) members(want string) {
	r.t.Helper()
	for {
		var room string
		var list []struct{ ID, Name string }
		args := r.event("members")
		require.NoError(r.t, json.Unmarshal([]byte(args), &[]any{&room, &list}), "members %s", args)
		names := make([]string, len(list))
		for i, m := range list {
			names[i] = m.Name
		}
		if got := fmt.Sprint(names); got == want {
			return
		} else {
			r.t.Logf("%s: members of %s are %s, waiting for %s", r.sid, room, got, want)
		}
	}
}

func TestRoomsAndMembers(t *testing.T) {
	t.Parallel()
	ts := start(t)
	ada, _ := dial(t, ts, `{"name":"ada"}`)
	bob, _ := dial(t, ts, `{"name":"bob"}`)
	ada.members("[ada bob]")
	bob.members("[ada bob]")

	// Typing goes to the others only.
	ada.send(`42["typing",true]`)
	assert.Contains(t, bob.event("typing"), `"ada",true]`)

	// ada moves to "games": both rooms hear about it.
	ada.send(`421["join","games"]`)
	assert.Equal(t, `["games"]`, ada.event("room"))
	bob.members("[bob]")
	assert.JSONEq(t, `[{"ok":true}]`, ada.ack("1"))

	// Messages stay in their room.
	bob.send(`42["message","in the lobby"]`)
	assert.Contains(t, bob.event("message"), "in the lobby")
	ada.send(`42["message","in games"]`)
	assert.Contains(t, ada.event("message"), "in games", "ada does not get the lobby's message first")

	// bob follows, then leaves: ada sees the list change both times.
	bob.send(`42["join","games"]`)
	ada.members("[ada bob]")
	require.NoError(t, bob.ws.Close())
	ada.members("[ada]")
}

// With -metrics, /metrics serves the server's metrics in Prometheus's text
// format; without it there is no such page.
func TestMetricsFlag(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{false, true} {
		rt, handler := newServer(slog.New(slog.DiscardHandler), web.MetricsIf(on))
		t.Cleanup(func() { _ = rt.Close() })
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		if !on {
			assert.Equal(t, http.StatusNotFound, rec.Code, "off by default")
			continue
		}
		assert.Equal(t, http.StatusOK, rec.Code)
		assert.Contains(t, rec.Body.String(), "vicinity_sockets 0\n")
	}
}
