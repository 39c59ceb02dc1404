package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/client"
	"github.com/vicinity-go/vicinity/realtime"
	"github.com/vicinity-go/vicinity/spatial"
)

// refusal returns the message of the server's refusal to connect with auth.
func refusal(t *testing.T, url string, auth any) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	s, err := client.Connect(ctx, url, client.WithSocketOptions(client.WithAuth(auth)))
	if s != nil {
		_ = s.Manager().Close()
	}
	var ce *client.ConnectError
	require.True(t, errors.As(err, &ce), "%v: %v", auth, err)
	return ce.Message
}

// A name is claimed once, whatever its case; the token signs in again (a
// reload); signing out frees the name and ends every tab; names ending in
// (bot) are the bots'.
func TestIdentity(t *testing.T) {
	t.Parallel()
	o := testOptions()
	ts := serve(t, o)
	alice := join(t, ts, "Alice")
	token, _ := alice.welcome["token"].(string)
	require.NotEmpty(t, token, "a new name comes with its token")
	assert.Equal(t, "Alice", alice.welcome["name"])

	assert.Equal(t, "the name alice is taken", refusal(t, ts.URL, map[string]string{"name": "alice"}))
	assert.Equal(t, "names ending in (bot) are for bots", refusal(t, ts.URL, map[string]string{"name": "Ada (Bot)"}))
	assert.Equal(t, "sign in again: this device's sign-in is unknown", refusal(t, ts.URL, map[string]string{"token": "forged"}))

	// A second tab, or a reload, signs in with the token: same person.
	tab := signIn(t, ts, map[string]string{"token": token})
	assert.Equal(t, "Alice", tab.welcome["name"])
	assert.Nil(t, tab.welcome["token"], "the token is given once")

	// The server's bots sign in with its secret, and only they.
	bot := signIn(t, ts, map[string]string{"name": "Ada (bot)", "bot": o.botSecret})
	assert.Equal(t, "Ada (bot)", bot.welcome["name"])
	assert.Equal(t, "names ending in (bot) are for bots", refusal(t, ts.URL, map[string]string{"name": "Bo (bot)", "bot": "guess"}))

	// Signing out ends both tabs and frees the name.
	require.Empty(t, tab.call("sign-out", nil))
	require.Eventually(t, func() bool { return !alice.s.Connected() && !tab.s.Connected() }, wait, 5*time.Millisecond)
	assert.Equal(t, "sign in again: this device's sign-in is unknown", refusal(t, ts.URL, map[string]string{"token": token}))
	other := join(t, ts, "ALICE")
	assert.NotEqual(t, token, other.welcome["token"])
	assert.Equal(t, "not signed in", bot.call("sign-out", nil))
}

// Area chats and conversations are kept: opened later, even after a
// restart, they show their last messages, and a conversation says when the
// other person was last seen.
func TestHistory(t *testing.T) {
	t.Parallel()
	o := testOptions()
	o.Data = t.TempDir()
	ts := serve(t, o)
	alice, bob := join(t, ts, "alice"), join(t, ts, "bob")
	inside := spatial.Point{Lat: 52.5180, Lng: 13.4020} // Museum Island
	museum := areas[len(areas)-1].Name
	alice.moveTo(inside)
	alice.next(realtime.AreaEnter, nil)
	require.Empty(t, alice.call("area-chat", map[string]string{"area": museum, "text": "first"}))
	require.Empty(t, alice.call("area-chat", map[string]string{"area": museum, "text": "second"}))
	require.Empty(t, alice.call("dm", map[string]string{"to": "BOB", "text": "hi bob"}))
	got := bob.next("dm", nil)
	assert.Equal(t, "bob", got["to"], "the name as its holder spells it")
	require.Empty(t, bob.call("dm", map[string]string{"to": "alice", "text": "hi alice"}))

	// bob is not in the area: its history is not his to read.
	assert.Equal(t, "you are not in "+museum, bob.call("history", map[string]string{"area": museum}))
	assert.Equal(t, "no such person", bob.call("history", map[string]string{"with": "nobody"}))
	assert.Equal(t, "you cannot message yourself", bob.call("dm", map[string]string{"to": "Bob", "text": "me"}))
	assert.Equal(t, `expected {"area": name} or {"with": name}`, bob.call("history", map[string]string{}))

	// carol is offline: a DM to her is kept for her.
	carol := join(t, ts, "carol")
	carolToken := carol.welcome["token"].(string)
	require.NoError(t, carol.s.Manager().Close())
	require.Eventually(t, func() bool {
		return bob.call("dm", map[string]string{"to": "carol", "text": "while you were away"}) == ""
	}, wait, 10*time.Millisecond)

	texts := func(v map[string]any) []string {
		var out []string
		msgs, _ := v["messages"].([]any)
		for _, m := range msgs {
			out = append(out, m.(map[string]any)["text"].(string))
		}
		return out
	}
	assert.Equal(t, []string{"first", "second"}, texts(alice.ask("history", map[string]string{"area": museum})))
	assert.Equal(t, []string{"hi bob", "hi alice"}, texts(bob.ask("history", map[string]string{"with": "alice"})))

	// A restart on the same database: history, conversations and last
	// seen are still there.
	ts2 := serve(t, o)
	carol = signIn(t, ts2, map[string]string{"token": carolToken})
	conv := carol.ask("conversations", nil)["conversations"].([]any)
	require.Len(t, conv, 1)
	assert.Equal(t, "bob", conv[0].(map[string]any)["with"])
	assert.Equal(t, "while you were away", conv[0].(map[string]any)["last"].(map[string]any)["text"])
	h := carol.ask("history", map[string]string{"with": "bob"})
	assert.Equal(t, []string{"while you were away"}, texts(h))
	assert.Nil(t, h["lastSeen"], "bob has not left yet")
	require.NoError(t, bob.s.Manager().Close())
	require.Eventually(t, func() bool {
		seen, ok := carol.ask("history", map[string]string{"with": "bob"})["lastSeen"].(float64)
		return ok && time.Since(time.UnixMilli(int64(seen))) < time.Minute
	}, wait, 10*time.Millisecond, "bob's last seen, kept")
	alice2 := signIn(t, ts2, map[string]string{"token": alice.welcome["token"].(string)})
	alice2.moveTo(inside)
	alice2.next(realtime.AreaEnter, nil)
	assert.Equal(t, []string{"first", "second"}, texts(alice2.ask("history", map[string]string{"area": museum})))
}

// ask emits name with arg and returns the acknowledgement, which must not
// be an error.
func (p *person) ask(name string, arg any) map[string]any {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var args []any
	if arg != nil {
		args = append(args, arg)
	}
	ack, err := p.s.EmitWithAck(ctx, name, args...)
	require.NoError(p.t, err)
	var res map[string]any
	require.NoError(p.t, ack.Bind(&res))
	require.Nil(p.t, res["error"])
	return res
}

// A database that fails is reported to the person (and logged), never
// taken for success: the message is not delivered as if kept.
func TestDatabaseFailureReported(t *testing.T) {
	t.Parallel()
	o := testOptions()
	db := openDB(t, "")
	rt, handler, closePresence := newServer(slog.New(slog.DiscardHandler), o, nil, db)
	ts := httptest.NewServer(handler)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		assert.NoError(t, rt.Shutdown(ctx))
		ts.Close()
		closePresence()
	})
	alice, bob := join(t, ts, "alice"), join(t, ts, "bob")
	require.NoError(t, db.Close())
	assert.Equal(t, "the server could not find the person: try again later", alice.call("dm", map[string]string{"to": "bob", "text": "hi"}))
	assert.Equal(t, "the server could not read the conversations: try again later", bob.call("conversations", nil))
	assert.Equal(t, "the server could not claim the name: try again later", refusal(t, ts.URL, map[string]string{"name": "carol"}))
	select {
	case e := <-bob.events:
		assert.NotEqual(t, "dm", e.Name, "nothing delivered")
	default:
	}
}
