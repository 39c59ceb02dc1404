package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/internal/redistest"
	"github.com/vicinity-go/vicinity/realtime"
)

// signal sends a call signal of kind to the socket to, with data, and
// returns the acknowledgement's error, if any.
func (p *person) signal(to *person, kind string, data any) string {
	p.t.Helper()
	m := map[string]any{"to": to.s.ID(), "kind": kind}
	if data != nil {
		m["data"] = data
	}
	return p.call(callSignalEvent, m)
}

// nextSignal returns the next call signal p gets, skipping other events.
func (p *person) nextSignal() map[string]any {
	p.t.Helper()
	return p.next(callSignalEvent, nil)
}

var (
	testOffer     = map[string]any{"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}
	testAnswer    = map[string]any{"type": "answer", "sdp": "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\n"}
	testCandidate = map[string]any{"candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host", "sdpMid": "0", "sdpMLineIndex": 0}
)

// A call from ring to hangup: every signal reaches the other party and
// nobody else, with who sent it; refusals say why.
func TestCall(t *testing.T) {
	t.Parallel()
	ts := serve(t, testOptions())
	alice, bob, carol, dave := join(t, ts, "alice"), join(t, ts, "bob"), join(t, ts, "carol"), join(t, ts, "dave")
	assert.Equal(t, "place yourself on the map first", alice.signal(bob, kindRing, nil))
	alice.moveTo(berlin)
	bob.moveTo(offset(berlin, 300, 0))
	carol.moveTo(offset(berlin, -300, 0))
	dave.moveTo(offset(berlin, 0, 3000)) // beyond alice's kilometer
	alice.next("nearby:enter", about(bob.s.ID()))
	alice.next("nearby:enter", about(carol.s.ID()))

	// Refused: too far, not in a call, someone who takes no calls.
	assert.Equal(t, "you can only call people near you", alice.signal(dave, kindRing, nil))
	for _, room := range []string{"user:bob", realtime.AreaRoom(areas[0].Name)} { // never a broadcast
		assert.Equal(t, "you can only call people near you", alice.call(callSignalEvent, map[string]any{"to": room, "kind": kindRing}), room)
	}
	assert.Equal(t, "you are not in a call with this person", alice.signal(bob, kindOffer, testOffer))
	assert.Equal(t, "you are not in a call with this person", alice.signal(bob, kindHangup, nil))
	require.Empty(t, bob.call(callsEvent, false))
	assert.Equal(t, "bob does not take calls", alice.signal(bob, kindRing, nil))
	require.Empty(t, bob.call(callsEvent, true))

	// Ring, accept, offer, answer, candidates.
	require.Empty(t, alice.signal(bob, kindRing, map[string]any{"video": true}))
	ring := bob.nextSignal()
	assert.Equal(t, map[string]any{"from": alice.s.ID(), "name": "alice", "kind": "ring", "data": map[string]any{"video": true}}, ring)
	assert.Equal(t, "bob is in a call", carol.signal(bob, kindRing, nil), "busy")
	assert.Equal(t, "you are in a call already: hang up first", alice.signal(carol, kindRing, nil))
	require.Empty(t, bob.signal(alice, kindAccept, nil))
	assert.Equal(t, map[string]any{"from": bob.s.ID(), "name": "bob", "kind": "accept"}, alice.nextSignal())
	require.Empty(t, alice.signal(bob, kindOffer, testOffer))
	assert.Equal(t, testOffer, bob.nextSignal()["data"])
	require.Empty(t, bob.signal(alice, kindAnswer, testAnswer))
	assert.Equal(t, testAnswer, alice.nextSignal()["data"])
	for range 3 {
		require.Empty(t, alice.signal(bob, kindCandidate, testCandidate))
		require.Empty(t, bob.signal(alice, kindCandidate, testCandidate))
	}
	for _, p := range []*person{alice, bob} {
		for range 3 {
			got := p.nextSignal()
			assert.Equal(t, "candidate", got["kind"])
			assert.Equal(t, map[string]any{"candidate": testCandidate["candidate"], "sdpMid": "0", "sdpMLineIndex": 0.0, "usernameFragment": nil}, got["data"])
		}
	}
	// Carol, near both, is not in their call.
	assert.Equal(t, "you are not in a call with this person", carol.signal(bob, kindCandidate, testCandidate))

	// Bob hangs up: alice hears it, and their call is over for both.
	require.Empty(t, bob.signal(alice, kindHangup, nil))
	assert.Equal(t, map[string]any{"from": bob.s.ID(), "name": "bob", "kind": "hangup"}, alice.nextSignal())
	assert.Equal(t, "you are not in a call with this person", alice.signal(bob, kindCandidate, testCandidate))
	assert.Equal(t, "you are not in a call with this person", bob.signal(alice, kindCandidate, testCandidate))

	// Alice calls carol, who declines. It is the first call signal carol
	// gets: nothing of alice and bob's call reached her.
	require.Empty(t, alice.signal(carol, kindRing, nil))
	assert.Equal(t, map[string]any{"from": alice.s.ID(), "name": "alice", "kind": "ring", "data": map[string]any{"video": false}}, carol.nextSignal())
	require.Empty(t, carol.signal(alice, kindDecline, nil))
	assert.Equal(t, "decline", alice.nextSignal()["kind"])
	assert.Equal(t, "you are not in a call with this person", alice.signal(carol, kindOffer, testOffer))
}

// Bad signals get a clear error and change nothing.
func TestCallBadSignals(t *testing.T) {
	t.Parallel()
	ts := serve(t, testOptions())
	alice, bob := join(t, ts, "alice"), join(t, ts, "bob")
	alice.moveTo(berlin)
	bob.moveTo(offset(berlin, 300, 0))
	alice.next("nearby:enter", about(bob.s.ID()))
	require.Empty(t, alice.signal(bob, kindRing, nil))
	bob.nextSignal()
	require.Empty(t, bob.signal(alice, kindAccept, nil))

	bigSDP := "v=0\r\n" + strings.Repeat("a=x\r\n", maxSDP/5)
	for _, tt := range []struct {
		name string
		arg  any
		want string
	}{
		{"not an object", "hello", `expected {"to": id, "kind": kind, "data": data}`},
		{"no one", map[string]any{"kind": "ring"}, `expected {"to": id, "kind": kind, "data": data}`},
		{"unknown kind", map[string]any{"to": bob.s.ID(), "kind": "poke"}, "kind must be one of ring, accept, decline, offer, answer, candidate, hangup"},
		{"to oneself", map[string]any{"to": alice.s.ID(), "kind": "ring"}, "you cannot call yourself"},
		{"offer without sdp", map[string]any{"to": bob.s.ID(), "kind": "offer", "data": map[string]any{"type": "offer"}}, `an offer's data must be {"type": "offer", "sdp": text}`},
		{"offer as text", map[string]any{"to": bob.s.ID(), "kind": "offer", "data": "v=0"}, `an offer's data must be {"type": "offer", "sdp": text}`},
		{"answer typed offer", map[string]any{"to": bob.s.ID(), "kind": "answer", "data": testOffer}, `an answer's data must be {"type": "answer", "sdp": text}`},
		{"oversized offer", map[string]any{"to": bob.s.ID(), "kind": "offer", "data": map[string]any{"type": "offer", "sdp": bigSDP}}, "the offer's sdp is longer than 16 KB"},
		{"oversized candidate", map[string]any{"to": bob.s.ID(), "kind": "candidate", "data": map[string]any{"candidate": strings.Repeat("x", maxCandidate), "sdpMid": "0"}}, "a candidate is longer than 1 KB"},
		{"candidate without a line", map[string]any{"to": bob.s.ID(), "kind": "candidate", "data": map[string]any{"candidate": "x"}}, `a candidate's data must be {"candidate": text, "sdpMid": text, "sdpMLineIndex": number}`},
		{"candidate as a number", map[string]any{"to": bob.s.ID(), "kind": "candidate", "data": 7}, `a candidate's data must be {"candidate": text, "sdpMid": text, "sdpMLineIndex": number}`},
		{"ring with bad data", map[string]any{"to": bob.s.ID(), "kind": "ring", "data": "video"}, `a ring's data must be {"video": true or false}`},
		{"nobody", map[string]any{"to": "nobody", "kind": "hangup"}, "you are not in a call with this person"},
	} {
		assert.Equal(t, tt.want, alice.call(callSignalEvent, tt.arg), tt.name)
	}
	assert.Equal(t, "calls must be true or false", bob.call(callsEvent, "no"))

	// The call survived all that.
	require.Empty(t, alice.signal(bob, kindOffer, testOffer))
	assert.Equal(t, "offer", bob.nextSignal()["kind"])
}

// Signals and rings are rate limited per socket.
func TestCallRateLimits(t *testing.T) {
	t.Parallel()
	ts := serve(t, testOptions())
	alice, bob := join(t, ts, "alice"), join(t, ts, "bob")
	alice.moveTo(berlin)
	bob.moveTo(offset(berlin, 300, 0))
	alice.next("nearby:enter", about(bob.s.ID()))

	// A few rings (each cancelled), then no more for a while.
	ringErr := ""
	for range 20 {
		if ringErr = alice.signal(bob, kindRing, nil); ringErr != "" {
			break
		}
		require.Empty(t, alice.signal(bob, kindHangup, nil))
	}
	assert.Equal(t, "too many calls: wait a little", ringErr)

	// Candidates in a burst: past the burst (and what refills meanwhile)
	// they are refused. Refused signals count too: the bucket is the same.
	// They are not in a call: the signals are refused for that until the
	// rate limit refuses them first.
	limited := false
	for i := 0; i < 10*signalBurst && !limited; i++ {
		limited = bob.signal(alice, kindCandidate, testCandidate) == "too many call signals: slow down"
	}
	assert.True(t, limited, "rate limited")
}

// A party who goes mid-call hangs up: the other hears it and is free.
func TestCallHangupOnDisconnect(t *testing.T) {
	t.Parallel()
	ts := serve(t, testOptions())
	alice, bob, carol := join(t, ts, "alice"), join(t, ts, "bob"), join(t, ts, "carol")
	alice.moveTo(berlin)
	bob.moveTo(offset(berlin, 300, 0))
	carol.moveTo(offset(berlin, -300, 0))
	require.Empty(t, alice.signal(bob, kindRing, nil))
	bob.nextSignal()
	require.Empty(t, bob.signal(alice, kindAccept, nil))

	aliceID := alice.s.ID()
	require.NoError(t, alice.s.Manager().Close())
	assert.Equal(t, map[string]any{"from": aliceID, "name": "alice", "kind": "hangup"}, bob.nextSignal())
	require.Empty(t, carol.signal(bob, kindRing, nil), "bob is free again")
	assert.Equal(t, "ring", bob.nextSignal()["kind"])
}

// A call between people on two nodes of a cluster: nearness, blocking,
// busy and hangups cross nodes.
func TestCallAcrossNodes(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	a, b := serveNode(t, rs.Addr()), serveNode(t, rs.Addr())
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{rs.Addr()}, DisableCache: true})
	require.NoError(t, err)
	defer rc.Close()
	require.Eventually(t, func() bool { // both nodes listen (they subscribe in the background)
		n, err := rc.Do(t.Context(), rc.B().PubsubNumsub().Channel("socket.io-request#/#").Build()).AsIntMap()
		return err == nil && n["socket.io-request#/#"] == 2
	}, wait, 5*time.Millisecond)
	alice, carol, bob := join(t, a, "alice"), join(t, a, "carol"), join(t, b, "bob")
	alice.moveTo(berlin)
	bob.moveTo(offset(berlin, 300, 0))
	alice.next("nearby:enter", about(bob.s.ID())) // node A knows where bob is
	carol.moveTo(offset(berlin, -300, 0))

	require.Empty(t, bob.call(callsEvent, false))
	assert.Equal(t, "bob does not take calls", alice.signal(bob, kindRing, nil))
	require.Empty(t, bob.call(callsEvent, true))

	require.Empty(t, alice.signal(bob, kindRing, nil))
	assert.Equal(t, "ring", bob.nextSignal()["kind"])
	assert.Equal(t, "bob is in a call", carol.signal(bob, kindRing, nil))
	require.Empty(t, bob.signal(alice, kindAccept, nil), "bob's node knows of the call")
	assert.Equal(t, "accept", alice.nextSignal()["kind"])
	require.Empty(t, alice.signal(bob, kindOffer, testOffer))
	assert.Equal(t, testOffer, bob.nextSignal()["data"])

	bobID := bob.s.ID()
	require.NoError(t, bob.s.Manager().Close())
	assert.Equal(t, map[string]any{"from": bobID, "name": "bob", "kind": "hangup"}, alice.nextSignal())
	assert.Equal(t, "you are not in a call with this person", alice.call(callSignalEvent, map[string]any{"to": bobID, "kind": "candidate", "data": testCandidate}))
}

// Bots take no calls: they could not answer.
func TestCallBot(t *testing.T) {
	t.Parallel()
	o := testOptions()
	o.Bots, o.Center, o.CenterSet = 1, berlin, true
	home := newHerd(&o)
	ts := serve(t, o)
	walkBots(t, ts, o, home)

	alice := join(t, ts, "alice")
	require.Empty(t, alice.call("radius", 2000))
	alice.moveTo(berlin)
	var botID string // the bot, in a nearby:state or when it comes near
	deadline := time.After(wait)
	for botID == "" {
		select {
		case e := <-alice.events:
			var v struct {
				ID      string
				Members []struct{ ID string }
			}
			switch {
			case e.Len() == 0 || e.Bind(&v) != nil:
			case e.Name == realtime.NearbyEnter:
				botID = v.ID
			case e.Name == realtime.NearbyState && len(v.Members) > 0:
				botID = v.Members[0].ID
			}
		case <-deadline:
			t.Fatal("the bot never came near")
		}
	}
	err := alice.call(callSignalEvent, map[string]any{"to": botID, "kind": kindRing})
	assert.Equal(t, "Ada (bot) does not take calls", err)
}

// The ring limit is per user: another tab of the same user (or the same
// tab reconnected) shares the bucket, so one user cannot ring (and hang up
// on) someone as often as they like.
func TestRingLimitPerUser(t *testing.T) {
	t.Parallel()
	ts := serve(t, testOptions())
	bob := join(t, ts, "bob")
	bob.moveTo(offset(berlin, 300, 0))
	first := join(t, ts, "mallory")
	token := first.welcome["token"].(string)
	tabs := []*person{first}
	for range 3 {
		tabs = append(tabs, signIn(t, ts, map[string]string{"token": token}))
	}
	rings := 0
	for _, tab := range tabs {
		tab.moveTo(berlin)
		for range 2 * ringBurst {
			if tab.signal(bob, kindRing, nil) != "" {
				break
			}
			rings++
			require.Empty(t, tab.signal(bob, kindHangup, nil))
		}
	}
	assert.LessOrEqual(t, rings, ringBurst+2, "rings by one user to one person within a second or two")
}

// The ring limit keeps at most maxRingers users: a full map forgets those
// whose bucket has refilled, and refuses a new user while none has.
func TestRingLimitBounded(t *testing.T) {
	l := newRingLimit()
	now := time.Now()
	for i := range maxRingers {
		require.True(t, l.allow(fmt.Sprintf("user%d", i), now))
	}
	assert.False(t, l.allow("late", now), "no room, nobody idle")
	later := now.Add(time.Duration(ringBurst/ringRate) * time.Second)
	assert.True(t, l.allow("late", later), "the idle ones are forgotten")
	assert.Len(t, l.users, 1)
}
