package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vicinity-go/vicinity/examples/internal/web"
	"github.com/vicinity-go/vicinity/examples/nearby/internal/store"
	"github.com/vicinity-go/vicinity/presence"
	"github.com/vicinity-go/vicinity/realtime"
	"github.com/vicinity-go/vicinity/transport"
)

// This file is who people are and what is kept of them: names claimed
// with a device token, messages, last seen, all in the SQLite database of
// package store.

// historyLen is how many messages "history" gives; conversationsLen how
// many conversations "conversations" lists.
const (
	historyLen       = 50
	conversationsLen = 50
)

// dbTimeout bounds each database call of a handler.
const dbTimeout = 5 * time.Second

// user is what each socket carries in its Data. It is replaced, never
// changed in place.
type user struct {
	Name   string
	Radius float64 // of the socket's watch and its shouts
	Bot    bool
	// token is the device's sign-in (not shared with other nodes: it is
	// not encoded); claimed is set when this connection claimed the name,
	// for welcome to hand the token to the page.
	token   string
	claimed bool
}

func userOf(s *realtime.Socket) user { u, _ := s.Data().(user); return u }

// userRoom is the room of every socket of the user name, on any node:
// one whatever the name's case or form.
func userRoom(name string) string { return "user:" + store.Key(name) }

// people is the server's side of identity and history.
type people struct {
	rt        *realtime.Server
	db        *store.DB
	botSecret string
	claims    *claimLimit
	tracker   *presence.Tracker // who is online
	log       *slog.Logger
}

// authenticate is middleware. The client's auth payload (io({auth})) is
// {token} from a device that signed in before; {name, token} to claim a
// name with the device's own token (the page makes one and keeps it
// first, so a claim whose answer is lost is not lost: asking again signs
// in); {name} to claim one with a token the server makes (sent in
// welcome); or {name, bot} for the server's own bots. An error refuses
// the connection; the page shows a *realtime.ConnectError's Message
// (err.message in its connect_error handler).
func (p *people) authenticate(s *realtime.Socket) error {
	var auth struct {
		Name       *string // nil: not claiming
		Token, Bot string
	}
	if raw := s.Handshake().Auth; len(raw) > 0 && json.Unmarshal(raw, &auth) != nil {
		return &realtime.ConnectError{Message: "auth must be {name: string} or {token: string}"}
	}
	ctx, cancel := context.WithTimeout(s.Context(), dbTimeout)
	defer cancel()
	var name string
	if auth.Name != nil || auth.Token == "" {
		var err error
		if name, err = web.Clean("name", deref(auth.Name), maxName); err != nil {
			return &realtime.ConnectError{Message: err.Error()}
		}
	}
	if auth.Token != "" {
		held, err := p.db.SignIn(ctx, auth.Token)
		switch {
		case err == nil && name != "" && store.Key(held) != store.Key(name):
			return &realtime.ConnectError{Message: "this device holds another name: sign out first"}
		case err == nil:
			s.SetData(user{Name: held, Radius: recoveredRadius(s), token: auth.Token})
			return nil
		case name == "" || !errors.Is(err, store.ErrUnknownToken):
			return p.refuse("sign in", err)
		}
		// A new device's token, claiming name.
	}
	if auth.Bot != "" && p.botSecret != "" && auth.Bot == p.botSecret {
		s.SetData(user{Name: name, Radius: defaultRadius, Bot: true})
		return nil
	}
	if isBotName(name) {
		return &realtime.ConnectError{Message: "names ending in (bot) are for bots"}
	}
	if !p.claims.allow(s.Handshake().Address) {
		return &realtime.ConnectError{Message: "too many new names from your address: try again later"}
	}
	token := auth.Token
	var err error
	if token == "" {
		token, err = p.db.Claim(ctx, name)
	} else {
		err = p.db.ClaimWith(ctx, name, token)
	}
	if errors.Is(err, store.ErrNameTaken) {
		return &realtime.ConnectError{Message: fmt.Sprintf("the name %s is taken", name)}
	}
	if err != nil {
		return p.refuse("claim the name", err)
	}
	// Whoever held the name before (released, or unused too long) may
	// still have a page open: it is theirs no more.
	_ = p.rt.In(userRoom(name)).DisconnectSockets(ctx, false)
	s.SetData(user{Name: name, Radius: defaultRadius, token: token, claimed: auth.Token == ""})
	return nil
}

// recoveredRadius is the radius a recovered socket had (its data comes
// back as the JSON of its user), so that its watch is kept; else the
// default.
func recoveredRadius(s *realtime.Socket) float64 {
	var prev struct{ Radius float64 }
	if raw, ok := s.Data().(json.RawMessage); ok && s.Recovered() && json.Unmarshal(raw, &prev) == nil && slices.Contains(radii, prev.Radius) {
		return prev.Radius
	}
	return defaultRadius
}

// deref is *s, or "" for nil.
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// refuse turns a store error into the refusal a page shows: the store's
// own errors say what is wrong; any other (the disk) is logged and told
// as a failure of the server.
func (p *people) refuse(what string, err error) error {
	switch {
	case errors.Is(err, store.ErrUnknownToken), errors.Is(err, store.ErrFull),
		errors.Is(err, store.ErrInvalid), errors.Is(err, store.ErrEmpty), errors.Is(err, store.ErrTooLong):
		return &realtime.ConnectError{Message: err.Error()}
	}
	p.log.Error("nearby: "+what, "err", err)
	return &realtime.ConnectError{Message: "the server could not " + what + ": try again later"}
}

// isBotName reports whether name is reserved for the server's bots.
// It compares the name's store.Key, so no look-alike form gets through.
func isBotName(name string) bool {
	return strings.HasSuffix(store.Key(name), "(bot)")
}

// welcome greets a new socket: its id and name, and the token when it
// just claimed the name (the page keeps it to sign in again).
func (p *people) welcome(s *realtime.Socket) {
	u := userOf(s)
	_ = s.Join(userRoom(u.Name))
	if !u.Bot {
		// Signed out, from another tab, since the middleware? Then this
		// tab is not signed in either: it was not in the room when the
		// others were closed.
		ctx, cancel := context.WithTimeout(s.Context(), dbTimeout)
		defer cancel()
		if _, err := p.db.SignIn(ctx, u.token); err != nil {
			s.Disconnect(false)
			return
		}
	}
	w := map[string]string{"id": s.ID(), "name": u.Name}
	if u.claimed {
		w["token"] = u.token
		u.claimed = false
		s.SetData(u)
	}
	_ = s.Emit("welcome", w)
}

// on registers the socket's identity and history events.
func (p *people) on(s *realtime.Socket) {
	// A server shutting down closes the tracker before presence's leave
	// delay ends: the people it disconnects are seen now.
	s.OnDisconnect(func(s *realtime.Socket, reason string) {
		if u := userOf(s); reason == transport.ReasonServerShutdown && !u.Bot {
			ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
			defer cancel()
			if err := p.db.SetLastSeen(ctx, u.Name, time.Now()); err != nil && !errors.Is(err, store.ErrUnknownUser) {
				p.log.Error("nearby: keep last seen", "name", u.Name, "err", err)
			}
		}
	})

	// "sign-out" → the name is free again; the page forgets its token.
	s.On("sign-out", func(e *realtime.Event) {
		u := userOf(s)
		if u.Bot || u.token == "" {
			_ = e.AckResult(errors.New("not signed in"))
			return
		}
		ctx, cancel := context.WithTimeout(s.Context(), dbTimeout)
		defer cancel()
		err := p.db.Release(ctx, u.token)
		_ = e.AckResult(p.failed("sign out", err))
		if err == nil {
			// Every tab of the user is signed out.
			_ = p.rt.In(userRoom(u.Name)).DisconnectSockets(context.WithoutCancel(ctx), false)
		}
	})

	// "dm" ({to: name, text}) → the person's tabs, on any node, and the
	// sender's other tabs; kept for when they open the conversation.
	s.On("dm", func(e *realtime.Event) {
		var dm struct{ To, Text string }
		if e.Bind(&dm) != nil {
			_ = e.AckResult(errors.New(`expected {"to": name, "text": text}`))
			return
		}
		text, err := web.Clean("text", dm.Text, maxText)
		if err != nil {
			_ = e.AckResult(err)
			return
		}
		from := userOf(s).Name
		ctx, cancel := context.WithTimeout(s.Context(), dbTimeout)
		defer cancel()
		to, err := p.recipient(ctx, from, dm.To)
		if err == nil {
			err = p.failed("keep the message", p.db.AddDirect(ctx, from, to, text, time.Now()))
		}
		if err == nil {
			m := message(s, text, "")
			m["to"] = to
			err = p.rt.To(userRoom(to)).Emit("dm", m)
			_ = p.rt.To(userRoom(from)).Except(s.ID()).Emit("dm", m)
		}
		_ = e.AckResult(err)
	})

	// "area-chat" ({area, text}) → everyone in the area, the sender
	// included; kept for those who come later. Area rooms are joined and
	// left by vicinity as people move; the page hears of it with
	// area:enter and area:leave.
	s.On("area-chat", func(e *realtime.Event) {
		var msg struct{ Area, Text string }
		if e.Bind(&msg) != nil {
			_ = e.AckResult(errors.New(`expected {"area": name, "text": text}`))
			return
		}
		text, err := web.Clean("text", msg.Text, maxText)
		room := realtime.AreaRoom(msg.Area)
		if err == nil && !slices.Contains(s.Rooms(), room) {
			err = fmt.Errorf("you are not in %s", msg.Area)
		}
		if err == nil {
			ctx, cancel := context.WithTimeout(s.Context(), dbTimeout)
			defer cancel()
			err = p.failed("keep the message", p.db.AddAreaMessage(ctx, msg.Area, userOf(s).Name, text, time.Now()))
		}
		if err == nil {
			err = p.rt.To(room).Emit("area-chat", message(s, text, msg.Area))
		}
		_ = e.AckResult(err)
	})

	// "history" ({area} or {with}) → the last messages, oldest first,
	// and when the other person was last seen.
	s.On("history", func(e *realtime.Event) {
		var q struct{ Area, With string }
		if e.Bind(&q) != nil || (q.Area == "") == (q.With == "") {
			_ = e.AckResult(errors.New(`expected {"area": name} or {"with": name}`))
			return
		}
		ctx, cancel := context.WithTimeout(s.Context(), dbTimeout)
		defer cancel()
		res, err := p.history(ctx, s, q.Area, q.With)
		if err != nil {
			_ = e.AckResult(err)
			return
		}
		_ = e.Ack(res)
	})

	// "conversations" → the people you have messaged or been messaged
	// by, newest first, with their last message and last seen.
	s.On("conversations", func(e *realtime.Event) {
		ctx, cancel := context.WithTimeout(s.Context(), dbTimeout)
		defer cancel()
		me := userOf(s).Name
		list, err := p.db.Conversations(ctx, me, conversationsLen)
		if err != nil {
			_ = e.AckResult(p.failed("read the conversations", err))
			return
		}
		names := make([]string, len(list))
		for i, c := range list {
			names[i] = c.With
		}
		seen, err := p.db.LastSeen(ctx, names...)
		if err != nil {
			_ = e.AckResult(p.failed("read the conversations", err))
			return
		}
		out := make([]map[string]any, 0, len(list))
		for _, c := range list {
			online := p.online(ctx, c.With)
			entry := map[string]any{"with": c.With, "last": stored(c.Last), "online": online}
			if at, ok := seen[c.With]; ok && !online {
				entry["lastSeen"] = at.UnixMilli()
			}
			out = append(out, entry)
		}
		_ = e.Ack(map[string]any{"conversations": out})
	})
}

// recipient checks a DM's addressee: a user (with the spelling they
// hold) or a bot online now, and not the sender.
func (p *people) recipient(ctx context.Context, from, to string) (string, error) {
	to, err := web.Clean("to", to, maxName)
	if err != nil {
		return "", err
	}
	if store.Key(to) == store.Key(from) {
		return "", errSelf
	}
	held, ok, err := p.db.Known(ctx, to)
	if err != nil {
		return "", p.failed("find the person", err)
	}
	if ok {
		return held, nil
	}
	if isBotName(to) && p.online(ctx, to) {
		return to, nil
	}
	return "", errNoSuchPerson
}

var (
	errSelf         = errors.New("you cannot message yourself")
	errNoSuchPerson = errors.New("no such person")
)

// history is the answer to "history".
func (p *people) history(ctx context.Context, s *realtime.Socket, area, with string) (map[string]any, error) {
	res := map[string]any{}
	var msgs []store.Message
	var err error
	if area != "" {
		if !slices.Contains(s.Rooms(), realtime.AreaRoom(area)) {
			return nil, fmt.Errorf("you are not in %s", area)
		}
		msgs, err = p.db.AreaHistory(ctx, area, historyLen)
	} else {
		me := userOf(s).Name
		to, err := p.recipient(ctx, me, with)
		// Someone who has gone (signed out) leaves what was said readable.
		gone := errors.Is(err, errNoSuchPerson)
		if err != nil && !gone {
			return nil, err
		}
		if gone {
			to = strings.TrimSpace(with)
		}
		if msgs, err = p.db.Conversation(ctx, me, to, historyLen); err != nil {
			return nil, p.failed("read the history", err)
		}
		if gone && len(msgs) == 0 {
			return nil, errNoSuchPerson
		}
		with = to
		if !p.online(ctx, with) {
			var seen map[string]time.Time
			if seen, err = p.db.LastSeen(ctx, with); err == nil {
				if at, ok := seen[with]; ok {
					res["lastSeen"] = at.UnixMilli()
				}
			}
		}
	}
	if err != nil {
		return nil, p.failed("read the history", err)
	}
	out := make([]map[string]any, len(msgs))
	for i, m := range msgs {
		out[i] = stored(m)
	}
	res["messages"] = out
	return res, nil
}

// online reports whether the user name is online, on any node, as
// presence says (one lookup: asking every node for the sockets of the
// user's room would be a round trip of the cluster per name).
func (p *people) online(ctx context.Context, name string) bool {
	_, ok, err := p.tracker.Get(ctx, "/", name)
	return err == nil && ok
}

// failed reports err, a failure of the database, to the log, and returns
// what the client is told: that it failed, not why. nil stays nil.
func (p *people) failed(what string, err error) error {
	if err == nil {
		return nil
	}
	p.log.Error("nearby: "+what, "err", err)
	return fmt.Errorf("the server could not %s: try again later", what)
}

// stored is a kept message as the page gets it (as message makes them,
// with no socket id: it may be long gone).
func stored(m store.Message) map[string]any {
	out := map[string]any{"name": m.From, "text": m.Text, "time": m.Time.UnixMilli()}
	if m.Area != "" {
		out["area"] = m.Area
	}
	if m.To != "" {
		out["to"] = m.To
	}
	return out
}

// keepLastSeen writes when each user left (presence's last seen) to the
// database, so it outlives a restart. Diffs come on presence's goroutines,
// which must not wait: they queue, up to a bound past which the oldest
// news is dropped with a warning. It returns what stops it.
func (p *people) keepLastSeen(tracker *presence.Tracker) (stop func()) {
	type seen struct {
		name string
		at   time.Time
	}
	queue := make(chan seen, 1024)
	quit, done := make(chan struct{}), make(chan struct{})
	cancel := tracker.Subscribe("/", func(d presence.Diff) {
		for name, l := range d.Leaves {
			if isBotName(name) {
				continue // not users: nothing kept
			}
			select {
			case queue <- seen{name, l.LastSeen}:
			default:
				p.log.Warn("nearby: last seen not kept: too many leaving at once", "name", name)
			}
		}
	})
	keep := func(v seen) {
		ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
		defer cancel()
		// A name released meanwhile has nobody to keep it for.
		if err := p.db.SetLastSeen(ctx, v.name, v.at); err != nil && !errors.Is(err, store.ErrUnknownUser) {
			p.log.Error("nearby: keep last seen", "name", v.name, "err", err)
		}
	}
	go func() {
		defer close(done)
		for {
			select {
			case v := <-queue:
				keep(v)
			case <-quit: // what is queued still goes in
				for {
					select {
					case v := <-queue:
						keep(v)
					default:
						return
					}
				}
			}
		}
	}()
	return func() {
		cancel()
		close(quit)
		<-done
	}
}

// claimLimit bounds the names claimed from one address: perHour in each
// hour (0: no limit). It remembers at most maxClaimAddrs addresses; when
// that many claimed in the hour, no other may until the hour is over
// (fail closed: one client cannot claim every name of the store).
type claimLimit struct {
	perHour int
	now     func() time.Time
	mu      sync.Mutex
	start   time.Time      // of the current hour
	counts  map[string]int // claims this hour, by address
}

const maxClaimAddrs = 10_000

func newClaimLimit(perHour int) *claimLimit {
	return &claimLimit{perHour: perHour, now: time.Now, counts: make(map[string]int)}
}

// allow counts a claim from addr and reports whether it is within the
// limit. An IPv6 address counts as its /64 network, which one host holds
// whole.
func (c *claimLimit) allow(addr string) bool {
	if c.perHour <= 0 {
		return true
	}
	if ip, err := netip.ParseAddr(addr); err == nil && ip.Is6() && !ip.Is4In6() {
		addr = netip.PrefixFrom(ip, 64).Masked().String()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.now(); now.Sub(c.start) >= time.Hour {
		c.start, c.counts = now, make(map[string]int)
	}
	n, ok := c.counts[addr]
	if n >= c.perHour || (!ok && len(c.counts) >= maxClaimAddrs) {
		return false
	}
	c.counts[addr] = n + 1
	return true
}
