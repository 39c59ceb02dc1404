package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vicinity-go/vicinity/examples/nearby/internal/store"
	"github.com/vicinity-go/vicinity/realtime"
)

// Calls: two people near each other talk browser to browser over WebRTC
// (audio, video if they like, and a data channel for a little chat). The
// server only introduces them: it relays the signals of a call from one
// socket to exactly one other and never to anyone else, and refuses a
// call to someone who is not near the caller or does not take calls.
//
// A client sends "call:signal" {to: socket id, kind, data?}; the socket to
// gets "call:signal" {from: socket id, name, kind, data?}. The kinds, in
// the order of a call: "ring" (data {video}), "accept" or "decline",
// "offer" and "answer" (data {type, sdp}), "candidate" (data: an
// RTCIceCandidateInit), "hangup". Only the fields named here are relayed.
//
// The state of a call is two rooms: the caller is in "call:<callee's
// id>" and the callee in "call:<caller's id>" from the ring to the
// decline or hangup (or until either disconnects: the other then gets a
// hangup). Rooms are what every node of a cluster can see and change, so
// a call between people on two nodes works the same. A socket is in one
// call at a time: a ring to someone ringing or in a call is refused as
// busy. A socket that sends "calls" false is in the room "no-calls",
// and rings to it are refused, as are rings to bots.

const (
	callSignalEvent = "call:signal"
	callsEvent      = "calls"
	callRoomPrefix  = "call:"    // + the other party's socket id
	noCallsRoom     = "no-calls" // sockets that take no calls

	maxSDP       = 16 << 10 // bytes of an offer's or answer's SDP
	maxCandidate = 1 << 10  // bytes of a candidate's JSON

	// Signals of all kinds: ICE candidates come in bursts of a dozen or
	// two at the start of a call.
	signalRate, signalBurst = 50, 100 // a second
	// Rings cost a nearby query and a lookup of the callee (across the
	// cluster), and ring someone's phone: ten, then one every 2s.
	ringRate, ringBurst = 0.5, 10

	// nearMargin widens the caller's radius as the watch does (see
	// watch): whoever the caller's list shows can be called.
	nearMargin = 1.1
)

// The kinds of a call signal.
const (
	kindRing      = "ring"
	kindAccept    = "accept"
	kindDecline   = "decline"
	kindOffer     = "offer"
	kindAnswer    = "answer"
	kindCandidate = "candidate"
	kindHangup    = "hangup"
)

var signalKinds = []string{kindRing, kindAccept, kindDecline, kindOffer, kindAnswer, kindCandidate, kindHangup}

// handleCalls sets up the calls of socket s: the events "call:signal" and
// "calls", and the hangup its peer gets when s disconnects mid-call.
// rings is the server's limit of rings per user (all their tabs and
// reconnections share it).
func handleCalls(rt *realtime.Server, s *realtime.Socket, rings *ringLimit) {
	if s.Recovered() { // its calls ended when it went: its peers got a hangup
		for _, peer := range callPeers(s) {
			s.Leave(callRoomPrefix + peer)
		}
	}
	var signals bucket // used by s's handlers only, one at a time

	// "calls" (bool): false refuses incoming calls, true takes them again.
	s.On(callsEvent, func(e *realtime.Event) {
		var on bool
		if e.Bind(&on) != nil {
			_ = e.AckResult(errors.New("calls must be true or false"))
			return
		}
		var err error
		if on {
			s.Leave(noCallsRoom)
		} else {
			err = s.Join(noCallsRoom)
		}
		_ = e.AckResult(err)
	})

	// "call:signal" ({to, kind, data}) → that socket alone.
	s.On(callSignalEvent, func(e *realtime.Event) {
		now := time.Now()
		if !signals.allow(now, signalRate, signalBurst) {
			_ = e.AckResult(errors.New("too many call signals: slow down"))
			return
		}
		var sig struct {
			To   string          `json:"to"`
			Kind string          `json:"kind"`
			Data json.RawMessage `json:"data"`
		}
		if e.Bind(&sig) != nil || sig.To == "" {
			_ = e.AckResult(errors.New(`expected {"to": id, "kind": kind, "data": data}`))
			return
		}
		if sig.Kind == kindRing && !rings.allow(userOf(s).Name, now) {
			_ = e.AckResult(errors.New("too many calls: wait a little"))
			return
		}
		_ = e.AckResult(relaySignal(rt, s, sig.To, sig.Kind, sig.Data))
	})

	s.OnDisconnecting(func(s *realtime.Socket, _ string) {
		for _, peer := range callPeers(s) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = endCall(ctx, rt, s, peer)
			cancel()
			_ = rt.To(peer).Emit(callSignalEvent, signalPayload(s, kindHangup, nil))
		}
	})
}

// relaySignal checks a signal of s to the socket to and sends it there.
func relaySignal(rt *realtime.Server, s *realtime.Socket, to, kind string, raw json.RawMessage) error {
	if !slices.Contains(signalKinds, kind) {
		return fmt.Errorf("kind must be one of %s", strings.Join(signalKinds, ", "))
	}
	if to == s.ID() {
		return errors.New("you cannot call yourself")
	}
	data, err := signalData(kind, raw)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(s.Context(), 2*time.Second)
	defer cancel()
	inCall := slices.Contains(s.Rooms(), callRoomPrefix+to)
	switch {
	case kind == kindRing:
		if len(callPeers(s)) > 0 {
			return errors.New("you are in a call already: hang up first")
		}
		if err := checkNear(s, to); err != nil {
			return err
		}
		callee, ok := findCallee(ctx, s.Namespace(), to)
		switch {
		case !ok:
			return errors.New("no such person")
		case slices.Contains(callee.Rooms, noCallsRoom) || isBotName(callee.Name): // bots cannot answer
			return fmt.Errorf("%s does not take calls", callee.Name)
		case slices.ContainsFunc(callee.Rooms, isCallRoom):
			return fmt.Errorf("%s is in a call", callee.Name)
		}
		if err := s.Join(callRoomPrefix + to); err != nil {
			return err
		}
		if err := rt.In(to).SocketsJoin(ctx, callRoomPrefix+s.ID()); err != nil {
			_ = endCall(ctx, rt, s, to)
			return fmt.Errorf("the call did not go through: %w", err)
		}
	case !inCall:
		return errors.New("you are not in a call with this person")
	case kind == kindOffer:
		if err := checkNear(s, to); err != nil {
			return err
		}
	}
	if err := rt.To(to).Emit(callSignalEvent, signalPayload(s, kind, data)); err != nil {
		_ = endCall(ctx, rt, s, to)
		return err
	}
	if kind == kindDecline || kind == kindHangup {
		return endCall(ctx, rt, s, to)
	}
	return nil
}

// signalData checks the data of a signal of kind and returns what to relay
// of it: nil for kinds without data.
func signalData(kind string, raw json.RawMessage) (any, error) {
	switch kind {
	case kindRing:
		var ring struct {
			Video bool `json:"video"`
		}
		if len(raw) > 0 && (len(raw) > maxCandidate || json.Unmarshal(raw, &ring) != nil) {
			return nil, errors.New(`a ring's data must be {"video": true or false}`)
		}
		return ring, nil
	case kindOffer, kindAnswer:
		var sd struct {
			Type string `json:"type"`
			SDP  string `json:"sdp"`
		}
		if json.Unmarshal(raw, &sd) != nil || sd.Type != kind || sd.SDP == "" {
			return nil, fmt.Errorf(`an %s's data must be {"type": %q, "sdp": text}`, kind, kind)
		}
		if len(sd.SDP) > maxSDP {
			return nil, fmt.Errorf("the %s's sdp is longer than %d KB", kind, maxSDP>>10)
		}
		return sd, nil
	case kindCandidate:
		if len(raw) > maxCandidate {
			return nil, fmt.Errorf("a candidate is longer than %d KB", maxCandidate>>10)
		}
		var c struct {
			Candidate        string  `json:"candidate"`
			SDPMid           *string `json:"sdpMid"`
			SDPMLineIndex    *uint16 `json:"sdpMLineIndex"`
			UsernameFragment *string `json:"usernameFragment"`
		}
		if json.Unmarshal(raw, &c) != nil || c.SDPMid == nil && c.SDPMLineIndex == nil {
			return nil, errors.New(`a candidate's data must be {"candidate": text, "sdpMid": text, "sdpMLineIndex": number}`)
		}
		return c, nil
	}
	return nil, nil // accept, decline, hangup: none
}

// signalPayload is what the other party of s gets.
func signalPayload(s *realtime.Socket, kind string, data any) map[string]any {
	p := map[string]any{"from": s.ID(), "name": userOf(s).Name, "kind": kind}
	if data != nil {
		p["data"] = data
	}
	return p
}

// checkNear returns an error unless the socket to is where s's list may
// show it: within s's radius (and the watch's margin) of s, as others see
// it. The server's own query: it costs s none of its nearby queries.
func checkNear(s *realtime.Socket, to string) error {
	here, ok := s.Location()
	if !ok {
		return errors.New("place yourself on the map first")
	}
	near, err := s.Namespace().Nearby(here.Point, userOf(s).Radius*nearMargin, 0)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(near, func(n realtime.NearbySocket) bool { return n.ID == to }) {
		return errors.New("you can only call people near you")
	}
	return nil
}

// callee is what a ring needs to know of the socket it rings.
type callee struct {
	Name  string
	Rooms []string
}

// findCallee looks up the socket with id, on this node or another.
func findCallee(ctx context.Context, nsp *realtime.Namespace, id string) (callee, bool) {
	if t := nsp.Socket(id); t != nil {
		return callee{Name: userOf(t).Name, Rooms: t.Rooms()}, true
	}
	found, err := nsp.In(id).FetchSockets(ctx)
	if err != nil || len(found) == 0 {
		return callee{}, false
	}
	// Another node's socket data comes as JSON (of its user).
	var u struct{ Name string }
	if b, err := json.Marshal(found[0].Data); err == nil {
		_ = json.Unmarshal(b, &u)
	}
	if u.Name == "" {
		u.Name = "this person"
	}
	return callee{Name: u.Name, Rooms: found[0].Rooms}, true
}

// endCall takes s and peer out of their call.
func endCall(ctx context.Context, rt *realtime.Server, s *realtime.Socket, peer string) error {
	s.Leave(callRoomPrefix + peer)
	return rt.In(peer).SocketsLeave(ctx, callRoomPrefix+s.ID())
}

// callPeers returns the ids of the sockets s is in a call with (one, or
// briefly two when rings crossed between nodes).
func callPeers(s *realtime.Socket) []string {
	var peers []string
	for _, r := range s.Rooms() {
		if isCallRoom(r) {
			peers = append(peers, strings.TrimPrefix(r, callRoomPrefix))
		}
	}
	return peers
}

func isCallRoom(room string) bool { return strings.HasPrefix(room, callRoomPrefix) }

// ringLimit is a bucket of rings per user, by the name's store key. It
// keeps at most maxRingers users; a full map first forgets the users whose
// bucket has refilled (they lose nothing), and past that refuses rings
// from users it has not seen (fail closed).
type ringLimit struct {
	mu    sync.Mutex
	users map[string]*bucket
}

const maxRingers = 10_000

func newRingLimit() *ringLimit { return &ringLimit{users: make(map[string]*bucket)} }

func (l *ringLimit) allow(name string, now time.Time) bool {
	k := store.Key(name)
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.users[k]
	if !ok {
		if len(l.users) >= maxRingers {
			full := time.Duration(ringBurst / ringRate * float64(time.Second))
			for k, b := range l.users {
				if now.Sub(b.last) >= full {
					delete(l.users, k)
				}
			}
		}
		if len(l.users) >= maxRingers {
			return false
		}
		b = new(bucket)
		l.users[k] = b
	}
	return b.allow(now, ringRate, ringBurst)
}

// bucket limits a rate of events: a burst, then rate a second. The zero
// value is full. It is not safe for concurrent use.
type bucket struct {
	tokens float64
	last   time.Time
}

func (b *bucket) allow(now time.Time, rate, burst float64) bool {
	if b.last.IsZero() {
		b.tokens = burst
	} else {
		b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
