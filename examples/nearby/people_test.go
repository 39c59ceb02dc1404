package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/client"
	"github.com/vicinity-go/vicinity/examples/nearby/internal/store"
	"github.com/vicinity-go/vicinity/realtime"
	"github.com/vicinity-go/vicinity/spatial"
)

// refusal returns the message of the server's refusal to connect with auth.
func refusal(t *testing.T, url string, auth any) string {
	t.Helper()
	msg := refusalOrNil(t, url, auth)
	require.NotEmpty(t, msg, "%v: not refused", auth)
	return msg
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

// A look-alike of a bot's name ("Ada （bot）", full-width parentheses,
// whose store key is the bot's) is refused: a DM to the bot reaches the
// bot, not a person holding the look-alike.
func TestBotNameLookalikeRefused(t *testing.T) {
	t.Parallel()
	o := testOptions()
	ts := serve(t, o)
	bot := signIn(t, ts, map[string]string{"name": "Ada (bot)", "bot": o.botSecret})
	alice := join(t, ts, "alice")

	msg := refusalOrNil(t, ts.URL, map[string]string{"name": "Ada \uff08bot\uff09"})
	assert.Equal(t, "names ending in (bot) are for bots", msg, "a look-alike of a bot's name must be refused")

	require.Empty(t, alice.call("dm", map[string]string{"to": "Ada (bot)", "text": "for the bot"}))
	deadline := time.After(2 * time.Second)
	for {
		select {
		case e := <-bot.events:
			if e.Name == "dm" {
				return
			}
		case <-deadline:
			t.Fatalf("the DM to Ada (bot) did not reach the bot")
		}
	}
}

// refusalOrNil connects with auth and returns the refusal's message, or ""
// when the connection was accepted (it stays connected until the test ends).
func refusalOrNil(t *testing.T, url string, auth any) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	s, err := client.Connect(ctx, url, client.WithReconnection(false), client.WithSocketOptions(client.WithAuth(auth)))
	var ce *client.ConnectError
	if errors.As(err, &ce) {
		return ce.Message
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Manager().Close() })
	return ""
}

// A name with an invisible character ("Alice\u200b", a zero-width space)
// would look like a held one: it is refused.
func TestInvisibleNameRefused(t *testing.T) {
	t.Parallel()
	ts := serve(t, testOptions())
	join(t, ts, "Alice")
	msg := refusalOrNil(t, ts.URL, map[string]string{"name": "Alice\u200b"})
	assert.Equal(t, "name must not contain invisible characters", msg)
}

// Last seen outlives a restart for those online when the server stops too
// (their presence leave would wait for the leave delay, which the
// tracker's Close cuts short).
func TestLastSeenKeptOnShutdown(t *testing.T) {
	t.Parallel()
	o := testOptions()
	o.LeaveDelay = 2 * time.Second // the default
	dir := t.TempDir()
	db, err := store.Open(context.Background(), filepath.Join(dir, "nearby.db"))
	require.NoError(t, err)
	rt, handler, closePresence := newServer(slog.New(slog.DiscardHandler), o, nil, db)
	ts := httptest.NewServer(handler)
	alice := join(t, ts, "alice")
	_ = alice
	// As run does on Ctrl-C: web.Serve calls rt.Shutdown, then run's
	// deferred closePresence and db.Close.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, rt.Shutdown(ctx))
	ts.Close()
	closePresence()
	require.NoError(t, db.Close())

	db, err = store.Open(context.Background(), filepath.Join(dir, "nearby.db"))
	require.NoError(t, err)
	defer db.Close()
	seen, err := db.LastSeen(context.Background(), "alice")
	require.NoError(t, err)
	assert.Contains(t, seen, "alice", "alice was online until the restart: her last seen must be kept")
}

// A page makes its own token and keeps it before claiming: a claim whose
// answer is lost (the connection dropped before welcome) does not lose the
// name, as asking again with the token signs in. (A claim with a token
// the server makes, {name} alone, would leave it held by a token nobody
// has.)
func TestClaimAnswerLost(t *testing.T) {
	t.Parallel()
	o := testOptions()
	ts := serve(t, o)
	token := "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"[:43]
	// An Engine.IO handshake, then the Socket.IO CONNECT with the name;
	// the client goes without reading the answer.
	resp, err := http.Get(ts.URL + "/socket.io/?EIO=4&transport=polling")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	sid := between(string(body), `"sid":"`, `"`)
	require.NotEmpty(t, sid, "%s", body)
	resp, err = http.Post(ts.URL+"/socket.io/?EIO=4&transport=polling&sid="+sid, "text/plain", strings.NewReader(`40{"name":"Zed","token":"`+token+`"}`))
	require.NoError(t, err)
	_ = resp.Body.Close()
	t.Cleanup(func() { // end the half-open session, so that Shutdown does not wait for it
		r, err := http.Post(ts.URL+"/socket.io/?EIO=4&transport=polling&sid="+sid, "text/plain", strings.NewReader("1"))
		if err == nil {
			_ = r.Body.Close()
		}
	})
	require.Eventually(t, func() bool { // the middleware claimed the name
		return refusalOrNil(t, ts.URL, map[string]string{"name": "zed"}) == "the name zed is taken"
	}, wait, 20*time.Millisecond)
	// Gone: the page never got its welcome. Coming back, it asks again.
	again := signIn(t, ts, map[string]string{"name": "Zed", "token": token})
	assert.Equal(t, "Zed", again.welcome["name"])
	assert.Nil(t, again.welcome["token"], "the page has it")
	assert.Equal(t, "this device holds another name: sign out first", refusalOrNil(t, ts.URL, map[string]string{"name": "Yan", "token": token}))
}

func between(s, from, to string) string {
	_, after, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, to)
	return v
}

// A page left open on a name that was released (here: unused too long) is
// closed when someone else claims the name: it never gets the new
// holder's DMs nor reads their conversations.
func TestStaleHolderClosed(t *testing.T) {
	t.Parallel()
	o := testOptions()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "nearby.db"),
		store.WithClock(clock), store.WithUnusedAfter(time.Hour))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	rt, handler, closePresence := newServer(slog.New(slog.DiscardHandler), o, nil, db)
	ts := httptest.NewServer(handler)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = rt.Shutdown(ctx)
		ts.Close()
		closePresence()
	})
	old := join(t, ts, "Alice")
	mu.Lock()
	now = now.Add(2 * time.Hour) // Alice's name is released; her tab is still open
	mu.Unlock()
	bob := join(t, ts, "bob")
	newAlice := join(t, ts, "Alice") // someone else claims it
	require.Empty(t, bob.call("dm", map[string]string{"to": "Alice", "text": "secret for the new Alice"}))
	newAlice.next("dm", nil)

	require.Eventually(t, func() bool { return !old.s.Connected() }, wait, 5*time.Millisecond, "the old page is closed")
	for deadline := time.After(500 * time.Millisecond); ; {
		select {
		case e := <-old.events:
			assert.NotEqual(t, "dm", e.Name, "the old holder's socket must not receive the new holder's DMs")
			continue
		case <-deadline:
		}
		break
	}
}

// A page claiming with its token and an empty name is told the name is
// empty (not that its token is unknown).
func TestEmptyNameWithToken(t *testing.T) {
	t.Parallel()
	ts := serve(t, testOptions())
	token := strings.Repeat("A", 43)
	assert.Equal(t, "name is empty", refusal(t, ts.URL, map[string]string{"name": " ", "token": token}))
	assert.Equal(t, "name is empty", refusal(t, ts.URL, map[string]string{"name": "", "token": token}))
	assert.Equal(t, "sign in again: this device's sign-in is unknown", refusal(t, ts.URL, map[string]string{"token": token}))
}

// droppable dials connections that the test can cut, as a tunnel does.
type droppable struct {
	mu    sync.Mutex
	conns []net.Conn
	down  atomic.Bool
}

func (d *droppable) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if d.down.Load() {
		return nil, fmt.Errorf("network down")
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err == nil {
		d.mu.Lock()
		d.conns = append(d.conns, c)
		d.mu.Unlock()
	}
	return c, err
}

func (d *droppable) drop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		_ = c.Close()
	}
	d.conns = nil
}

// signInDroppable is signIn through a network the test can cut; the client
// reconnects fast and recovers its session.
func signInDroppable(t *testing.T, ts *httptest.Server, auth any) (*person, *droppable, chan bool) {
	t.Helper()
	d := &droppable{}
	m := client.New(ts.URL, client.WithDialContext(d.dial), client.WithReconnectionDelay(5*time.Millisecond, 20*time.Millisecond))
	t.Cleanup(func() { _ = m.Close() })
	p := &person{t: t, s: m.Socket("/", client.WithAuth(auth)), events: make(chan *client.Event, 1024)}
	p.s.OnAny(func(e *client.Event) { p.events <- e })
	connects := make(chan bool, 8)
	p.s.OnConnect(func(s *client.Socket) { connects <- s.Recovered() })
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, p.s.Connect(ctx))
	<-connects
	p.welcome = p.next("welcome", nil)
	return p, d, connects
}

// A phone through a tunnel comes back as the same socket with the radius
// it chose (onConnection watches again with it): people beyond 1 km stay
// in reach of its shouts and calls.
func TestRadiusKeptOnRecovery(t *testing.T) {
	t.Parallel()
	ts := serve(t, testOptions())
	first := join(t, ts, "alice")
	token := first.welcome["token"].(string)
	require.NoError(t, first.s.Manager().Close())
	alice, net, connects := signInDroppable(t, ts, map[string]string{"token": token})
	bob := join(t, ts, "bob")
	require.Empty(t, alice.call("radius", 2000))
	alice.moveTo(berlin)
	bob.moveTo(offset(berlin, 1500, 0))
	alice.next(realtime.NearbyEnter, about(bob.s.ID()))
	require.Empty(t, alice.signal(bob, kindRing, nil))
	require.Empty(t, alice.signal(bob, kindHangup, nil))

	id := alice.s.ID()
	net.drop()
	select {
	case recovered := <-connects:
		require.True(t, recovered, "the session is recovered")
	case <-time.After(wait):
		t.Fatal("no reconnection")
	}
	require.Equal(t, id, alice.s.ID())
	assert.Empty(t, alice.signal(bob, kindRing, nil), "bob, 1.5 km away, is within the 2 km alice chose")
	require.Empty(t, alice.call("shout", "still there?"))
	assert.Equal(t, "still there?", bob.next("shout", nil)["text"])
}

// An IPv6 host holds a whole /64: its claims count together, as one
// address's.
func TestClaimLimitIPv6(t *testing.T) {
	c := newClaimLimit(30)
	claims := 0
	for i := range 2000 {
		addr := fmt.Sprintf("2001:db8:1:2::%x", i+1) // one /64, one host
		for c.allow(addr) {
			claims++
		}
	}
	assert.LessOrEqual(t, claims, 30, "names claimed in an hour by one IPv6 host (one /64)")
}

// The claim limit remembers at most maxClaimAddrs addresses an hour: past
// them, a new address is refused (one client cannot claim every name
// from many addresses), and the next hour starts afresh.
func TestClaimLimitBounded(t *testing.T) {
	now := time.Now()
	c := newClaimLimit(1)
	c.now = func() time.Time { return now }
	for i := range maxClaimAddrs {
		require.True(t, c.allow(fmt.Sprintf("10.%d.%d.1", i/256, i%256)))
	}
	assert.Len(t, c.counts, maxClaimAddrs)
	assert.False(t, c.allow("192.0.2.1"), "a new address past the bound")
	now = now.Add(time.Hour)
	assert.True(t, c.allow("192.0.2.1"))
	assert.Len(t, c.counts, 1)
}
