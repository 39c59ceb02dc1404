package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
)

// cluster: the fan-out across nodes. For each of -cluster-nodes, N nodes
// of the target (separate processes) on a redis-server of their own, the
// receivers spread evenly over them in one room, the sender on node 0; and
// first the same receivers on one node without Redis, to which the
// cluster's figures are compared ("× single").
func (r *runner) cluster(ctx context.Context, target string) ([]result, error) {
	if !slices.Contains(clusterTargets, target) {
		r.log("  %s: no cluster mode, skipped", target)
		return nil, nil
	}
	single, err := r.clusterRun(ctx, target, 1)
	if err != nil {
		return nil, fmt.Errorf("1 node: %w", err)
	}
	out := single
	for _, n := range r.cfg.clusterNodes {
		res, err := r.clusterRun(ctx, target, n)
		if err != nil {
			return out, fmt.Errorf("%d nodes: %w", n, err)
		}
		for i := range res {
			compareTo(&res[i], single[i])
		}
		out = append(out, res...)
	}
	return out, nil
}

// clusterRun runs the fan-out on n nodes: on Redis if n > 1.
func (r *runner) clusterRun(ctx context.Context, target string, n int) ([]result, error) {
	var (
		o      targetOptions
		prefix = "1 node, no Redis: "
	)
	if n > 1 {
		rs, err := startRedis(ctx)
		if err != nil {
			return nil, err
		}
		defer rs.stop()
		o.redis = rs.addr
		prefix = fmt.Sprintf("%d nodes: ", n)
	}
	nodes := make([]*server, 0, n)
	defer func() {
		for _, s := range nodes {
			s.stop()
		}
	}()
	for range n {
		s, err := r.b.startWith(target, o)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, s)
	}
	return r.fanoutRoom(ctx, fanoutSpec{target: target, scenario: "cluster", casePrefix: prefix, nodes: nodes,
		receivers: r.cfg.clusterReceivers, burst: r.cfg.clusterBurst, rate: r.cfg.clusterRate, warm: true})
}

// compareTo adds the ratios of res's rate and latencies to base's.
func compareTo(res *result, base result) {
	for _, m := range []struct{ from, to string }{
		{"deliveries/s", "rate × single"},
		{"p50 ms", "p50 × single"},
		{"p99 ms", "p99 × single"},
	} {
		v, ok1 := res.get(m.from)
		b, ok2 := base.get(m.from)
		if ok1 && ok2 && b > 0 {
			res.add(m.to, v/b)
		}
	}
}

// recovery: connection-state recovery on another node (vicinity only:
// Node's Redis adapter keeps no packets). A client in a room on node A
// gets one broadcast, goes; K broadcasts reach the room meanwhile; it
// comes back to node B with its session id and offset. Timed from the
// reconnection's dial to the CONNECT answer and to the K-th missed packet.
func (r *runner) recovery(ctx context.Context, target string) ([]result, error) {
	if target != "vicinity" {
		r.log("  %s: no recovery across nodes, skipped", target)
		return nil, nil
	}
	rs, err := startRedis(ctx)
	if err != nil {
		return nil, err
	}
	defer rs.stop()
	o := targetOptions{redis: rs.addr, recovery: true}
	a, err := r.b.startWith(target, o)
	if err != nil {
		return nil, err
	}
	defer a.stop()
	b, err := r.b.startWith(target, o)
	if err != nil {
		return nil, err
	}
	defer b.stop()
	sender, err := dial(ctx, dialOptions{addr: a.addr, proto: a.proto})
	if err != nil {
		return nil, err
	}
	sender.start(nil)
	defer sender.close()
	// The witness, on node B, tells when the broadcasts have crossed Redis.
	var rec atomic.Bool
	witness, err := dial(ctx, dialOptions{addr: b.addr, proto: b.proto, room: "rec"})
	if err != nil {
		return nil, err
	}
	witness.start(&rec)
	defer witness.close()
	if err := warmRoom(ctx, sender, "rec", []*conn{witness}, &rec, "warm"); err != nil {
		return nil, err
	}
	rec.Store(true)

	var out []result
	for _, k := range r.cfg.recoveryMissed {
		res := result{Target: target, Scenario: "recovery", Case: fmt.Sprintf("missed=%d", k)}
		var fresh, connects, replays []int64
		recovered := 0
		for range r.cfg.recoveryRounds {
			rd, err := r.recoverOnce(ctx, a, b, sender, witness, k)
			if err != nil {
				return out, fmt.Errorf("missed=%d: %w", k, err)
			}
			fresh = append(fresh, int64(rd.fresh))
			if rd.recovered {
				recovered++
				connects = append(connects, int64(rd.connect))
				replays = append(replays, int64(rd.replay))
			}
		}
		res.add("recovered %", 100*float64(recovered)/float64(r.cfg.recoveryRounds))
		slices.Sort(fresh)
		res.add("fresh connect p50 ms", percentile(fresh, 0.5)/1e6)
		if len(replays) > 0 {
			slices.Sort(connects)
			slices.Sort(replays)
			res.add("connect p50 ms", percentile(connects, 0.5)/1e6)
			res.add("replay p50 ms", percentile(replays, 0.5)/1e6)
			res.add("replay max ms", float64(replays[len(replays)-1])/1e6)
			res.add("replayed/s", float64(k)/(percentile(replays, 0.5)/1e9))
		}
		out = append(out, res)
	}
	return out, nil
}

type recoveryRound struct {
	recovered       bool
	fresh           time.Duration // a new client's dial to its CONNECT answer, on b
	connect, replay time.Duration // from the dial to the CONNECT answer, to the last missed packet
}

// recoverOnce: a client joins the room on a, gets one broadcast and goes;
// k broadcasts from the sender (on a) reach the room; the client comes
// back on b with its pid and offset.
func (r *runner) recoverOnce(ctx context.Context, a, b *server, sender, witness *conn, k int) (recoveryRound, error) {
	var rd recoveryRound
	c, err := dial(ctx, dialOptions{addr: a.addr, proto: a.proto, room: "rec"})
	if err != nil {
		return rd, err
	}
	var sess struct {
		SID string `json:"sid"`
		PID string `json:"pid"`
	}
	if err := json.Unmarshal([]byte(c.connected), &sess); err != nil || sess.PID == "" {
		c.close()
		return rd, fmt.Errorf("no recovery session in the CONNECT answer %q (is recovery on?)", c.connected)
	}
	w0 := received(witness)
	if err := sender.broadcast("rec", "first"); err != nil {
		c.close()
		return rd, err
	}
	last, _, err := readBroadcasts(c, 1, 10*time.Second)
	c.close()
	if err != nil {
		return rd, fmt.Errorf("first broadcast: %w", err)
	}
	offset, err := lastArg(last)
	if err != nil {
		return rd, err
	}
	// Wait until node A has seen the client go, so that its session is kept.
	if err := waitConns(ctx, a, 1, 10*time.Second); err != nil {
		return rd, err
	}
	// Broadcasts are paced below vicinity's event rate (1,000/s).
	pad := padding(r.cfg.payload)
	t0 := now()
	for i := range k {
		if err := paceUntil(ctx, t0, i, 800); err != nil {
			return rd, err
		}
		if err := sender.broadcast("rec", pad); err != nil {
			return rd, err
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for received(witness)-w0 < int64(k+1) {
		if time.Now().After(deadline) {
			return rd, fmt.Errorf("the witness on node B got %d of %d broadcasts", received(witness)-w0, k+1)
		}
		if err := pause(ctx, 5*time.Millisecond); err != nil {
			return rd, err
		}
	}

	start := time.Now()
	fc, err := dial(ctx, dialOptions{addr: b.addr, proto: b.proto})
	if err != nil {
		return rd, err
	}
	rd.fresh = time.Since(start)
	fc.close()

	auth, _ := json.Marshal(map[string]string{"pid": sess.PID, "offset": offset})
	start = time.Now()
	nc, err := dial(ctx, dialOptions{addr: b.addr, proto: b.proto, auth: string(auth)})
	if err != nil {
		return rd, err
	}
	defer nc.close()
	rd.connect = time.Since(start)
	var again struct {
		SID string `json:"sid"`
	}
	_ = json.Unmarshal([]byte(nc.connected), &again)
	if again.SID != sess.SID {
		r.log("  recovery refused: CONNECT answer %s for sid %s", nc.connected, sess.SID)
		return rd, nil
	}
	_, n, err := readBroadcasts(nc, k, 10*time.Second)
	if err != nil {
		return rd, fmt.Errorf("replay: %d of %d missed packets: %w", n, k, err)
	}
	rd.replay = time.Since(start)
	rd.recovered = true
	return rd, nil
}

// readBroadcasts reads (without a read loop running) until n broadcast
// events arrived, answering pings, for at most d; it returns the last one.
func readBroadcasts(c *conn, n int, d time.Duration) ([]byte, int, error) {
	_ = c.ws.SetReadDeadline(time.Now().Add(d))
	defer func() { _ = c.ws.SetReadDeadline(time.Time{}) }()
	got := 0
	for got < n {
		msg, err := c.next()
		if err != nil {
			return nil, got, err
		}
		if !c.pong(msg) && bytes.HasPrefix(msg, []byte("42")) {
			got++
		}
	}
	return bytes.Clone(c.read), got, nil
}

// lastArg returns the last argument of a Socket.IO event, a string: the
// offset recovery adds.
func lastArg(msg []byte) (string, error) {
	var args []json.RawMessage
	if err := json.Unmarshal(bytes.TrimPrefix(msg, []byte("42")), &args); err != nil || len(args) < 2 {
		return "", fmt.Errorf("not an event: %q", msg)
	}
	off, err := strconv.Unquote(string(args[len(args)-1]))
	if err != nil {
		return "", errors.New("no offset in " + string(msg))
	}
	return off, nil
}

// waitConns waits until s holds at most n connections.
func waitConns(ctx context.Context, s *server, n int64, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		st, err := s.stats(false)
		if err != nil {
			return err
		}
		if st.Conns <= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s still holds %d connections after %v", s.name, st.Conns, d)
		}
		if err := pause(ctx, 5*time.Millisecond); err != nil {
			return err
		}
	}
}
