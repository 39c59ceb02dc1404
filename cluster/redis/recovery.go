package redis

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"
	"github.com/vicinity-go/vicinity/internal/siomsgpack"
	"github.com/vicinity-go/vicinity/realtime"
)

// recovery keeps a namespace's recovery sessions and recoverable packets
// in Redis, so that a client recovers on any server of the cluster: the
// packets in a stream (K-recovery#N#, its entry ids being the offsets), the
// sessions in keys (K-session#N#pid) that expire.
//
// A recoverable broadcast is added to the stream and published in one
// script, so the stream's order is the order in which every server, the
// sender included, delivers it. The sessions of connected sockets are
// kept too, and kept fresh, so that a client recovers even when its
// server crashed and never saw it go.
type recovery struct {
	window  time.Duration // WithRecovery's
	full    time.Duration // how often every live session is written again
	ttl     time.Duration // of a live session's key
	maxLen  int
	stream  string
	session string // key prefix

	mu   sync.Mutex // held while sessions are written
	kept map[string]bool

	liveMu sync.Mutex
	live   map[string]*liveSession // by socket id
	gone   []string                // pids of sockets gone since the last flush
}

type liveSession struct {
	pid   string
	dirty bool
}

func newRecovery(cfg config, key, nsp string, window time.Duration) *recovery {
	full := max(window/2, time.Second)
	return &recovery{
		window:  window,
		full:    full,
		ttl:     window + full,
		maxLen:  cfg.recoveryLen,
		stream:  key + "-recovery#" + nsp + "#",
		session: key + "-session#" + nsp + "#",
		kept:    make(map[string]bool),
		live:    make(map[string]*liveSession),
	}
}

// publishLogged adds a broadcast to the stream (without an offset) and
// publishes it with the entry's id as its offset, spliced between the two
// halves of the msgpack message (as a str8). It is sent with EVAL, in the
// outbox's order (Redis caches the compiled script).
const publishLogged = `local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'm', ARGV[3] .. '\160' .. ARGV[4])
redis.call(ARGV[5], ARGV[2], ARGV[3] .. string.char(217, #id) .. id .. ARGV[4])
return id`

// offsetSentinel stands for the offset in an encoded broadcast until the
// script splices the real one in; sentinelMsgpack is its msgpack.
const offsetSentinel = "\x00vicinity-offset\x00"

var sentinelMsgpack, _ = siomsgpack.AppendValue(nil, appendJSON(nil, offsetSentinel), nil)

// broadcastLogged publishes a recoverable broadcast through the stream. It
// reaches this server's sockets when it comes back from Redis, in the
// stream's order. When Redis cannot be reached, it reaches this server's
// sockets at once, with an offset no server knows: a client that recovers
// after it starts afresh rather than miss what it cannot be given.
func (a *Adapter) broadcastLogged(ctx context.Context, p *realtime.Packet, opts realtime.BroadcastOptions) error {
	msg, err := a.encodeBroadcast(p, opts, offsetSentinel)
	if err != nil {
		return err
	}
	i := bytes.LastIndex(msg, sentinelMsgpack)
	if i < 0 {
		return fmt.Errorf("redis adapter: offset placeholder not found")
	}
	ch := a.broadcastChannel(opts)
	if opts.Local {
		ch = a.ownResp // only this server delivers it, once it is logged
	}
	if a.sub.up.Load() {
		publish := "PUBLISH"
		if a.h.cfg.sharded {
			publish = "SPUBLISH"
		}
		c := a.h.client
		cmd := c.B().Eval().Script(publishLogged).Numkeys(1).Key(a.rec.stream).
			Arg(strconv.Itoa(a.rec.maxLen), ch, string(msg[:i]), string(msg[i+len(sentinelMsgpack):]), publish).Build()
		err = a.out.send(ctx, cmd, func(err error) {
			if err == nil {
				return
			}
			a.logFailure(err)
			if !errors.Is(err, context.DeadlineExceeded) {
				// It did not run: this server's sockets get it now. (After
				// a timeout it may have run, and come back: not twice.)
				_ = a.MemoryAdapter.Broadcast(context.Background(), p, opts)
			}
		})
		if err == nil {
			return nil
		}
	} else {
		err = fmt.Errorf("%w: reconnecting", ErrUnavailable)
	}
	if lerr := a.MemoryAdapter.Broadcast(ctx, p, opts); lerr != nil {
		return lerr
	}
	return err
}

// touch marks socket id's session to be written at the next flush.
func (r *recovery) touch(id string) {
	r.liveMu.Lock()
	if ls := r.live[id]; ls != nil {
		ls.dirty = true
	} else {
		r.live[id] = &liveSession{dirty: true}
	}
	r.liveMu.Unlock()
}

// forget drops socket id: its session's key is deleted at the next flush,
// unless a session was kept for it meanwhile.
func (r *recovery) forget(id string) {
	r.liveMu.Lock()
	if ls := r.live[id]; ls != nil {
		delete(r.live, id)
		if ls.pid != "" {
			r.gone = append(r.gone, ls.pid)
		}
	}
	r.liveMu.Unlock()
}

// keepSessions writes the sessions of connected sockets: those that
// changed every second, all of them every full period.
func (a *Adapter) keepSessions() {
	defer a.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-a.stop:
			return
		case now := <-t.C:
			full := now.Sub(last) >= a.rec.full
			if full {
				last = now
			}
			a.flushSessions(full)
			if full {
				a.trimLog()
				a.forgetRestoring()
			}
		}
	}
}

// flushSessions writes the sessions of the connected sockets that changed
// (all with full) and deletes those of the sockets gone.
func (a *Adapter) flushSessions(full bool) {
	r := a.rec
	r.mu.Lock()
	defer r.mu.Unlock()
	r.liveMu.Lock()
	var ids []string
	for id, ls := range r.live {
		if full || ls.dirty {
			ls.dirty = false
			ids = append(ids, id)
		}
	}
	gone := r.gone
	r.gone = nil
	r.liveMu.Unlock()

	c := a.h.client
	cmds := make(rueidis.Commands, 0, len(ids)+len(gone))
	for _, pid := range gone {
		if !r.kept[pid] {
			cmds = append(cmds, c.B().Del().Key(r.session+pid).Build())
		}
	}
	clear(r.kept)
	for _, id := range ids {
		s := a.nsp.Socket(id)
		if s == nil {
			continue
		}
		sess, ok := s.Session()
		if !ok {
			continue
		}
		r.liveMu.Lock()
		if ls := r.live[id]; ls != nil {
			ls.pid = sess.PID
		}
		r.liveMu.Unlock()
		b, _ := json.Marshal(sess)
		cmds = append(cmds, c.B().Set().Key(r.session+sess.PID).Value(rueidis.BinaryString(b)).Px(r.ttl).Build())
	}
	// What could not be written is written at the next flush.
	retry := func() {
		r.liveMu.Lock()
		r.gone = append(r.gone, gone...)
		for _, ls := range r.live {
			ls.dirty = true
		}
		r.liveMu.Unlock()
	}
	if len(cmds) == 0 {
		return
	}
	if !a.sub.up.Load() {
		retry()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.h.cfg.requestTimeout)
	defer cancel()
	for _, res := range c.DoMulti(ctx, cmds...) {
		if err := res.Error(); err != nil {
			a.log.Debug("redis adapter: sessions not written: all are written at the next flush", "err", err)
			retry()
			return
		}
	}
}

// trimLog drops the packets older than the recovery window from the
// stream (its length is bounded at every add).
func (a *Adapter) trimLog() {
	if !a.sub.up.Load() {
		return
	}
	c := a.h.client
	minID := strconv.FormatInt(time.Now().Add(-a.rec.window).UnixMilli(), 10) + "-0"
	ctx, cancel := context.WithTimeout(context.Background(), a.h.cfg.requestTimeout)
	defer cancel()
	if err := c.Do(ctx, c.B().Xtrim().Key(a.rec.stream).Minid().Almost().Threshold(minID).Build()).Error(); err != nil {
		a.log.Debug("redis adapter: recovery log not trimmed", "err", err)
	}
}

// PersistSession implements [realtime.Adapter]: the session is kept in
// Redis for the recovery window, for any server of the cluster.
func (a *Adapter) PersistSession(ctx context.Context, s realtime.Session) error {
	if a.rec == nil {
		return a.MemoryAdapter.PersistSession(ctx, s)
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	r := a.rec
	r.mu.Lock()
	defer r.mu.Unlock()
	r.kept[s.PID] = true
	c := a.h.client
	if err := doRetry(ctx, c, c.B().Set().Key(r.session+s.PID).Value(rueidis.BinaryString(b)).Px(r.window).Build()).Error(); err != nil {
		return errUnavailable(err)
	}
	return nil
}

// maxReplay bounds the packets read back for one recovered session.
const maxReplay = 10000

// RestoreSession implements [realtime.Adapter]: the session, kept by any
// server, and the packets of the stream after offset that reach its
// rooms.
func (a *Adapter) RestoreSession(ctx context.Context, pid, offset string) (realtime.Session, []*realtime.Packet, error) {
	if a.rec == nil {
		return a.MemoryAdapter.RestoreSession(ctx, pid, offset)
	}
	if offset == "" || !validStreamID(offset) {
		return realtime.Session{}, nil, realtime.ErrNoSession
	}
	r := a.rec
	c := a.h.client
	raw, err := doRetry(ctx, c, c.B().Getdel().Key(r.session+pid).Build()).AsBytes()
	if rueidis.IsRedisNil(err) {
		return realtime.Session{}, nil, realtime.ErrNoSession
	}
	if err != nil {
		return realtime.Session{}, nil, errUnavailable(err)
	}
	var sess realtime.Session
	if err := json.Unmarshal(raw, &sess); err != nil || sess.PID != pid || sess.SID == "" {
		return realtime.Session{}, nil, fmt.Errorf("%w: unreadable session", realtime.ErrNoSession)
	}
	res := c.DoMulti(ctx,
		c.B().Xrange().Key(r.stream).Start(offset).End(offset).Build(),
		c.B().Xrange().Key(r.stream).Start("("+offset).End("+").Count(maxReplay+1).Build())
	at, err := res[0].AsXRange()
	if err != nil {
		return realtime.Session{}, nil, errUnavailable(err)
	}
	if len(at) == 0 {
		return realtime.Session{}, nil, fmt.Errorf("%w: offset no longer in the log", realtime.ErrNoSession)
	}
	after, err := res[1].AsXRange()
	if err != nil {
		return realtime.Session{}, nil, errUnavailable(err)
	}
	if len(after) > maxReplay {
		return realtime.Session{}, nil, fmt.Errorf("%w: more than %d packets missed", realtime.ErrNoSession, maxReplay)
	}
	rooms := make(map[string]bool, len(sess.Rooms))
	for _, room := range sess.Rooms {
		rooms[room] = true
	}
	last := offset
	if len(after) > 0 {
		last = after[len(after)-1].ID
	}
	a.catchMu.Lock()
	a.restoring[sess.SID] = restoring{offset: last, at: time.Now()}
	a.catchMu.Unlock()
	var missed []*realtime.Packet
	for _, e := range after {
		b, err := a.decodeLogged([]byte(e.FieldValues["m"]))
		if err != nil {
			a.drop("logged broadcast", err)
			continue
		}
		if b.nsp != a.name || !reaches(b.opts, rooms) {
			continue
		}
		p, err := toPacket(b.packet, b.atts, a.name, 0, false, e.ID)
		if err != nil {
			a.drop("logged broadcast", err)
			continue
		}
		missed = append(missed, p)
	}
	return sess, missed, nil
}

// reaches reports whether a broadcast with opts reaches a socket in rooms.
func reaches(opts wireOpts, rooms map[string]bool) bool {
	if opts.Flags != nil && opts.Flags.Near != nil {
		return false // where the socket was then is not known: not replayed
	}
	for _, r := range opts.Except {
		if rooms[r] {
			return false
		}
	}
	if len(opts.Rooms) == 0 {
		return true
	}
	for _, r := range opts.Rooms {
		if rooms[r] {
			return true
		}
	}
	return false
}

// validStreamID reports whether s reads as a stream entry id, ms-seq.
func validStreamID(s string) bool {
	ms, seq, ok := strings.Cut(s, "-")
	if !ok {
		return false
	}
	_, err1 := strconv.ParseUint(ms, 10, 64)
	_, err2 := strconv.ParseUint(seq, 10, 64)
	return err1 == nil && err2 == nil
}

// decodeLogged decodes a broadcast of the recovery log, in the adapter's
// protocol.
func (a *Adapter) decodeLogged(msg []byte) (broadcast, error) {
	if !a.h.cfg.sharded {
		return decodeBroadcast(msg)
	}
	var b broadcast
	js, atts, err := decodeAny(msg)
	if err != nil {
		return b, err
	}
	var m clusterMessage
	var d clusterData
	if json.Unmarshal(js, &m) != nil || json.Unmarshal(m.Data, &d) != nil || d.Opts == nil || json.Unmarshal(d.Packet, &b.packet) != nil {
		return b, errMalformed
	}
	b.uid, b.nsp, b.atts, b.opts = m.UID, m.Nsp, atts, *d.Opts
	return b, nil
}

// restoring is a recovered socket not yet in its rooms: the offset of the
// last packet it was given.
type restoring struct {
	offset string
	at     time.Time
}

// catchUp adds restored socket id to rooms and, holding catchMu (so that
// no recoverable broadcast is delivered meanwhile), sends it the packets of
// the log after those it was given, which reached rooms since it was
// restored; the deliveries of those that are still on their way are then
// kept from it (a.exclude). It reports false, doing nothing, for a socket
// that is not being restored.
func (a *Adapter) catchUp(id string, rooms []string, fresh bool) bool {
	a.catchMu.Lock()
	defer a.catchMu.Unlock()
	r, ok := a.restoring[id]
	if !ok {
		return false
	}
	delete(a.restoring, id)
	a.MemoryAdapter.AddAll(id, rooms)
	if a.roomSubs != nil {
		a.roomsJoined(fresh, rooms) // listening before the log is read: nothing falls between
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.h.cfg.requestTimeout)
	defer cancel()
	c := a.h.client
	entries, err := doRetry(ctx, c, c.B().Xrange().Key(a.rec.stream).Start("("+r.offset).End("+").Count(maxReplay).Build()).AsXRange()
	if err != nil {
		a.log.Warn("redis adapter: a recovered socket may miss what was broadcast while it was restored", "err", err)
		return true
	}
	in := make(map[string]bool, len(rooms))
	for _, room := range rooms {
		in[room] = true
	}
	last := r.offset
	for _, e := range entries {
		last = e.ID
		b, err := a.decodeLogged([]byte(e.FieldValues["m"]))
		if err != nil || b.nsp != a.name || !reaches(b.opts, in) {
			continue
		}
		if p, err := toPacket(b.packet, b.atts, a.name, 0, false, e.ID); err == nil {
			_ = a.MemoryAdapter.Broadcast(ctx, p, realtime.BroadcastOptions{Rooms: []string{id}, Local: true})
		}
	}
	a.exclude[id] = last
	return true
}

// excluded returns the sockets that were given the logged packet at offset
// when they caught up, forgetting those past whose catch-up it is. The
// caller holds catchMu.
func (a *Adapter) excluded(offset string) []string {
	var out []string
	for id, up := range a.exclude {
		if compareIDs(offset, up) <= 0 {
			out = append(out, id)
		} else {
			delete(a.exclude, id)
		}
	}
	return out
}

// compareIDs compares two stream entry ids, ms-seq.
func compareIDs(x, y string) int {
	xm, xs, _ := strings.Cut(x, "-")
	ym, ys, _ := strings.Cut(y, "-")
	xmi, _ := strconv.ParseUint(xm, 10, 64)
	ymi, _ := strconv.ParseUint(ym, 10, 64)
	if c := cmp.Compare(xmi, ymi); c != 0 {
		return c
	}
	xsi, _ := strconv.ParseUint(xs, 10, 64)
	ysi, _ := strconv.ParseUint(ys, 10, 64)
	return cmp.Compare(xsi, ysi)
}

// forgetRestoring drops the restored sockets that never joined their
// rooms (refused after their session was restored), and the exclusions of
// sockets gone before a later recoverable broadcast cleared them.
func (a *Adapter) forgetRestoring() {
	cut := time.Now().Add(-time.Minute)
	a.catchMu.Lock()
	defer a.catchMu.Unlock()
	for id, r := range a.restoring {
		if r.at.Before(cut) {
			delete(a.restoring, id)
		}
	}
	for id := range a.exclude {
		if a.nsp.Socket(id) == nil {
			delete(a.exclude, id)
		}
	}
}
