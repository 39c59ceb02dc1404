package redis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/internal/redistest"
	"github.com/vicinity-go/vicinity/presence"
)

// replyDropper forwards TCP connections to Redis. Armed with a reply
// (say ":1\r\n"), it swallows the next chunk from Redis that holds it and
// closes that connection: the command ran and its answer is lost, as when
// a connection breaks at the wrong moment.
type replyDropper struct {
	ln    net.Listener
	mu    sync.Mutex
	drop  []byte
	conns []net.Conn
	hits  atomic.Int32
	wg    sync.WaitGroup
}

func newReplyDropper(t *testing.T, target string) *replyDropper {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &replyDropper{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, r)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() {
				defer p.wg.Done()
				_, _ = io.Copy(r, c)
				_ = r.Close()
				_ = c.Close()
			}()
			go func() {
				defer p.wg.Done()
				defer func() { _ = r.Close(); _ = c.Close() }()
				p.forward(c, r)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// forward copies Redis's replies from r to the client c, until the armed
// reply comes.
func (p *replyDropper) forward(c, r net.Conn) {
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			p.mu.Lock()
			drop := p.drop != nil && bytes.Contains(buf[:n], p.drop)
			if drop {
				p.drop = nil
			}
			p.mu.Unlock()
			if drop {
				p.hits.Add(1)
				return
			}
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *replyDropper) arm(reply string) {
	p.mu.Lock()
	p.drop = []byte(reply)
	p.mu.Unlock()
}

// TestPresenceScriptRunTwice: a script whose answer was lost with its
// connection is run again (PresenceStore.exec); it may have run. Each
// store method then answers as if it had run once, and leaves the store
// as once would.
func TestPresenceScriptRunTwice(t *testing.T) {
	rs := redistest.Start(t)
	px := newReplyDropper(t, rs.Addr())
	rc := presenceClient(t, px.ln.Addr().String())
	t0 := time.Unix(1_700_000_000, 0)
	left := t0.Add(time.Second)
	tests := []struct {
		name  string
		setup func(ctx context.Context, s *PresenceStore) error
		reply string // the answer lost
		run   func(ctx context.Context, s *PresenceStore) error
		check func(t *testing.T, s *PresenceStore)
	}{
		{
			name:  "put",
			reply: ":1\r\n",
			run: func(ctx context.Context, s *PresenceStore) error {
				return s.Put(ctx, "room", "ann", online("c1", "n", t0))
			},
			check: func(t *testing.T, s *PresenceStore) {
				ctx := t.Context()
				o, err := s.Occupancy(ctx, "room")
				require.NoError(t, err)
				assert.Equal(t, presence.Occupancy{Users: 1, Conns: 1}, o)
			},
		},
		{
			name: "update",
			setup: func(ctx context.Context, s *PresenceStore) error {
				return s.Put(ctx, "room", "ann", online("c1", "n", t0))
			},
			reply: ":1\r\n",
			run: func(ctx context.Context, s *PresenceStore) error {
				return s.Update(ctx, "room", "ann", presence.Meta{ConnID: "c1", Status: presence.StatusAway})
			},
			check: func(t *testing.T, s *PresenceStore) {
				ctx := t.Context()
				metas, err := s.Get(ctx, "room", "ann")
				require.NoError(t, err)
				require.Len(t, metas, 1)
				assert.Equal(t, presence.StatusAway, metas[0].Status)
			},
		},
		{
			name: "remove of one of two metas",
			setup: func(ctx context.Context, s *PresenceStore) error {
				if err := s.Put(ctx, "room", "ann", online("c1", "n", t0)); err != nil {
					return err
				}
				return s.Put(ctx, "room", "ann", online("c2", "n", t0))
			},
			reply: ":0\r\n",
			run: func(ctx context.Context, s *PresenceStore) error {
				held, err := s.Remove(ctx, "room", "ann", "c1", left, true)
				if err == nil && held {
					return errHeldWrongly
				}
				return err
			},
			check: func(t *testing.T, s *PresenceStore) {
				ctx := t.Context()
				o, err := s.Occupancy(ctx, "room")
				require.NoError(t, err)
				assert.Equal(t, presence.Occupancy{Users: 1, Conns: 1}, o)
			},
		},
		{
			// The first run holds and answers 1; the tracker must be told
			// held, or nobody releases ann, who stays present for good.
			name: "remove with hold",
			setup: func(ctx context.Context, s *PresenceStore) error {
				return s.Put(ctx, "room", "ann", online("c1", "n", t0))
			},
			reply: ":1\r\n",
			run: func(ctx context.Context, s *PresenceStore) error {
				held, err := s.Remove(ctx, "room", "ann", "c1", left, true)
				if err == nil && !held {
					return errNotHeld
				}
				return err
			},
			check: func(t *testing.T, s *PresenceStore) {
				ctx := t.Context()
				metas, err := s.Get(ctx, "room", "ann")
				require.NoError(t, err)
				assert.Len(t, metas, 1, "ann's meta, held")
				require.NoError(t, s.Release(ctx, "room", "ann", "c1", left))
				n, err := s.Count(ctx, "room")
				require.NoError(t, err)
				assert.Zero(t, n, "released")
			},
		},
		{
			name: "release",
			setup: func(ctx context.Context, s *PresenceStore) error {
				if err := s.Put(ctx, "room", "ann", online("c1", "n", t0)); err != nil {
					return err
				}
				_, err := s.Remove(ctx, "room", "ann", "c1", left, true)
				return err
			},
			reply: ":1\r\n",
			run:   func(ctx context.Context, s *PresenceStore) error { return s.Release(ctx, "room", "ann", "c1", left) },
			check: func(t *testing.T, s *PresenceStore) {
				ctx := t.Context()
				n, err := s.Count(ctx, "room")
				require.NoError(t, err)
				assert.Zero(t, n)
				seen, ok, err := s.LastSeen(ctx, "ann")
				require.NoError(t, err)
				assert.True(t, ok && seen.Equal(left), "ann last seen %v %v, want %v", seen, ok, left)
			},
		},
		{
			// The first run answers "was expired"; the node must be told,
			// or it never tracks its connections again.
			name: "heartbeat of an expired node",
			setup: func(ctx context.Context, s *PresenceStore) error {
				if err := s.Heartbeat(ctx, "n", t0, time.Second); err != nil {
					return err
				}
				_, err := s.ExpireNodes(ctx, t0.Add(5*time.Second))
				return err
			},
			reply: ":1\r\n",
			run:   expiredBeat(t0.Add(6 * time.Second)),
			check: aliveAt(t0.Add(7 * time.Second)),
		},
		{
			// Redis lost its data (a restart with no persistence): the
			// node, heartbeated before, is told so.
			name: "heartbeat of a node Redis forgot",
			setup: func(ctx context.Context, s *PresenceStore) error {
				if err := s.Heartbeat(ctx, "n", t0, time.Minute); err != nil {
					return err
				}
				return s.client.Do(ctx, s.client.B().Del().Key(s.prefix+"nodes", s.prefix+"beat").Build()).Error()
			},
			reply: ":2\r\n",
			run:   expiredBeat(t0.Add(time.Second)),
			check: aliveAt(t0.Add(2 * time.Second)),
		},
		{
			name: "expire nodes",
			setup: func(ctx context.Context, s *PresenceStore) error {
				if err := s.Heartbeat(ctx, "x", t0, time.Second); err != nil {
					return err
				}
				return s.Put(ctx, "room", "ann", online("c1", "x", t0))
			},
			reply: "*1\r\n$1\r\nx\r\n",
			run: func(ctx context.Context, s *PresenceStore) error {
				dead, err := s.ExpireNodes(ctx, t0.Add(5*time.Second))
				if err == nil && (len(dead) != 1 || dead[0] != "x") {
					return errNotExpired
				}
				return err
			},
			check: func(t *testing.T, s *PresenceStore) {
				ctx := t.Context()
				n, err := s.Count(ctx, "room")
				require.NoError(t, err)
				assert.Zero(t, n, "x's members removed")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := presenceStore(t, rc)
			ctx := context.Background()
			if tt.setup != nil {
				require.NoError(t, tt.setup(ctx, s), "setup")
			}
			hits := px.hits.Load()
			px.arm(tt.reply)
			require.NoError(t, tt.run(ctx, s))
			require.Equal(t, hits+1, px.hits.Load(), "the first answer, %q, was lost", tt.reply)
			tt.check(t, s)
			checkPresenceKeys(t, s, []string{"room"}, []string{"n", "x"}, tt.name)
		})
	}
}

var (
	errHeldWrongly = errors.New("held, with another meta left")
	errNotHeld     = errors.New("not held")
	errNotExpired  = errors.New("the node expired is not returned")
)

// expiredBeat heartbeats node n at now, which must be told it expired.
func expiredBeat(now time.Time) func(context.Context, *PresenceStore) error {
	return func(ctx context.Context, s *PresenceStore) error {
		err := s.Heartbeat(ctx, "n", now, time.Minute)
		if !errors.Is(err, presence.ErrNodeExpired) {
			return fmt.Errorf("heartbeat: %v, want ErrNodeExpired", err)
		}
		return nil
	}
}

// aliveAt checks that node n heartbeats at now as an alive node.
func aliveAt(now time.Time) func(*testing.T, *PresenceStore) {
	return func(t *testing.T, s *PresenceStore) {
		assert.NoError(t, s.Heartbeat(t.Context(), "n", now, time.Minute), "the next heartbeat")
	}
}
