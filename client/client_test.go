package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/client"
	"github.com/vicinity-go/vicinity/realtime"
	"github.com/vicinity-go/vicinity/transport"
)

func TestConnectAndEmitWithAck(t *testing.T) {
	t.Parallel()
	for _, tt := range transports {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, ts := serve(t)
			ids := make(chan string, 1)
			srv.OnConnection(func(s *realtime.Socket) {
				ids <- s.ID()
				s.On("add", func(e *realtime.Event) {
					var a, b int
					if assert.NoError(t, e.Bind(&a, &b)) {
						assert.NoError(t, e.Ack(a+b, "sum"))
					}
				})
			})
			m := manager(t, ts, tt.opts...)
			s := m.Socket("/")
			connect(t, s)
			assert.Equal(t, recv(t, ids, "server connection"), s.ID())
			assert.True(t, s.Connected())
			assert.False(t, s.Recovered())

			args, err := s.EmitWithAck(ctxWait(t), "add", 2, 3)
			require.NoError(t, err)
			var sum int
			var label string
			require.NoError(t, args.Bind(&sum, &label))
			assert.Equal(t, 5, sum)
			assert.Equal(t, "sum", label)

			require.Eventually(t, func() bool { return m.Transport() == tt.want }, wait, time.Millisecond)
			// still working after the upgrade
			args, err = s.EmitWithAck(ctxWait(t), "add", 40, 2)
			require.NoError(t, err)
			require.NoError(t, args.Bind(&sum))
			assert.Equal(t, 42, sum)
		})
	}
}

func TestNoPacketLostDuringUpgrade(t *testing.T) {
	t.Parallel()
	const n = 200
	srv, ts := serve(t, realtime.WithEventRate(0, 0))
	got := make(chan int, 2*n)
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("n", func(e *realtime.Event) {
			var i int
			if e.Bind(&i) == nil {
				got <- i
			}
		})
		go func() { // while the client upgrades
			for i := range n {
				_ = s.Emit("n", i)
			}
		}()
	})
	m := manager(t, ts)
	s := m.Socket("/")
	var mu sync.Mutex
	var seen []int
	done := make(chan struct{})
	s.On("n", func(e *client.Event) {
		var i int
		assert.NoError(t, e.Bind(&i))
		mu.Lock()
		seen = append(seen, i)
		if len(seen) == n {
			close(done)
		}
		mu.Unlock()
	})
	connect(t, s)
	go func() { // and the client sends meanwhile too
		for i := range n {
			_ = s.Emit("n", i)
		}
	}()
	recv(t, done, "every server event")
	for i := range n {
		assert.Equal(t, i, recv(t, got, "client event"), "client events in order")
	}
	mu.Lock()
	defer mu.Unlock()
	for i, v := range seen {
		require.Equal(t, i, v, "server events in order")
	}
	require.Eventually(t, func() bool { return m.Transport() == client.WebSocket }, wait, time.Millisecond)
}

func TestServerEmitWithAck(t *testing.T) {
	t.Parallel()
	for _, tt := range transports {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, ts := serve(t)
			answers := make(chan int, 1)
			srv.OnConnection(func(s *realtime.Socket) {
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), wait)
					defer cancel()
					args, err := s.EmitWithAck(ctx, "double", 21)
					var n int
					if assert.NoError(t, err) && assert.NoError(t, args.Bind(&n)) {
						answers <- n
					}
				}()
			})
			m := manager(t, ts, tt.opts...)
			s := m.Socket("/")
			var anyNames []string
			s.OnAny(func(e *client.Event) { anyNames = append(anyNames, e.Name) })
			s.On("double", func(e *client.Event) {
				assert.True(t, e.WantsAck())
				var n int
				assert.NoError(t, e.Bind(&n))
				assert.NoError(t, e.Ack(2*n))
				assert.ErrorIs(t, e.Ack(0), client.ErrAlreadyAcked)
			})
			connect(t, s)
			assert.Equal(t, 42, recv(t, answers, "ack"))
			_ = m.Close() // handlers done: anyNames is settled
			assert.Equal(t, []string{"double"}, anyNames)
		})
	}
}

func TestAckTimeout(t *testing.T) {
	t.Parallel()
	srv, ts := serve(t)
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("ignored", func(*realtime.Event) {}) // never acknowledges
	})
	s := manager(t, ts, client.WithTransports(client.WebSocket)).Socket("/")
	connect(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := s.EmitWithAck(ctx, "ignored", 1)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestBinary(t *testing.T) {
	t.Parallel()
	for _, tt := range transports {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, ts := serve(t)
			srv.OnConnection(func(s *realtime.Socket) {
				s.On("reverse", func(e *realtime.Event) {
					var name string
					var data []byte
					if assert.NoError(t, e.Bind(&name, &data)) {
						out := bytes.Clone(data)
						for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
							out[i], out[j] = out[j], out[i]
						}
						assert.NoError(t, e.Ack(name, out))
					}
				})
				assert.NoError(t, s.Emit("blob", []byte{0, 1, 2, 255}, map[string]int{"n": 2}, []byte("second")))
			})
			s := manager(t, ts, tt.opts...).Socket("/")
			blobs := make(chan client.Args, 1)
			s.On("blob", func(e *client.Event) { blobs <- e.Args })
			connect(t, s)

			args := recv(t, blobs, "binary event")
			var first, second []byte
			var meta map[string]int
			require.NoError(t, args.Bind(&first, &meta, &second))
			assert.Equal(t, []byte{0, 1, 2, 255}, first)
			assert.Equal(t, map[string]int{"n": 2}, meta)
			assert.Equal(t, []byte("second"), second)

			payload := []byte{1, 2, 3, 0, 0xfe}
			ack, err := s.EmitWithAck(ctxWait(t), "reverse", "f.bin", payload)
			require.NoError(t, err)
			var name string
			var rev []byte
			require.NoError(t, ack.Bind(&name, &rev))
			assert.Equal(t, "f.bin", name)
			assert.Equal(t, []byte{0xfe, 0, 3, 2, 1}, rev)
			assert.Equal(t, []byte{1, 2, 3, 0, 0xfe}, payload, "the caller's slice is untouched")
		})
	}
}

func TestNamespacesAndAuth(t *testing.T) {
	t.Parallel()
	srv, ts := serve(t)
	auths := make(chan string, 2)
	admin := srv.Of("/admin")
	admin.Use(func(s *realtime.Socket) error {
		var a struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal(s.Handshake().Auth, &a); err != nil || a.Token != "s3cret" {
			return errors.New("bad token")
		}
		return nil
	})
	admin.OnConnection(func(s *realtime.Socket) {
		auths <- string(s.Handshake().Auth)
		s.On("who", func(e *realtime.Event) { _ = e.Ack("admin") })
	})
	srv.OnConnection(func(s *realtime.Socket) {
		auths <- string(s.Handshake().Auth)
		s.On("who", func(e *realtime.Event) { _ = e.Ack("main") })
	})

	m := manager(t, ts)
	main := m.Socket("")
	adm := m.Socket("admin", client.WithAuth(map[string]string{"token": "s3cret"}))
	assert.Same(t, adm, m.Socket("/admin"), "one socket per namespace")
	assert.Equal(t, "/admin", adm.Namespace())
	connect(t, main)
	connect(t, adm)
	got := []string{recv(t, auths, "auth"), recv(t, auths, "auth")}
	// a client that sent no auth has {}, as in Node
	assert.ElementsMatch(t, []string{"{}", `{"token":"s3cret"}`}, got)

	for _, tc := range []struct {
		s    *client.Socket
		want string
	}{{main, "main"}, {adm, "admin"}} {
		args, err := tc.s.EmitWithAck(ctxWait(t), "who")
		require.NoError(t, err)
		var who string
		require.NoError(t, args.Bind(&who))
		assert.Equal(t, tc.want, who)
	}
	assert.Equal(t, 1, srv.Len(), "namespaces share one session")

	// Connect's URL path names the namespace.
	s, err := client.Connect(ctxWait(t), ts.URL+"/admin",
		client.WithSocketOptions(client.WithAuth(map[string]string{"token": "s3cret"})))
	require.NoError(t, err)
	defer s.Manager().Close()
	assert.Equal(t, "/admin", s.Namespace())
	recv(t, auths, "auth")
}

func TestConnectError(t *testing.T) {
	t.Parallel()
	srv, ts := serve(t)
	srv.Use(func(s *realtime.Socket) error {
		return &realtime.ConnectError{Message: "not authorized", Data: map[string]any{"code": 42}}
	})
	tests := []struct {
		name     string
		nsp      string
		wantMsg  string
		wantData string
	}{
		{name: "middleware", nsp: "/", wantMsg: "not authorized", wantData: `{"code":42}`},
		{name: "unknown namespace", nsp: "/nope", wantMsg: "Invalid namespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := manager(t, ts, fast...)
			s := m.Socket(tt.nsp)
			errs := make(chan error, 1)
			s.OnConnectError(func(_ *client.Socket, err error) { errs <- err })
			err := s.Connect(ctxWait(t))
			var ce *client.ConnectError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tt.wantMsg, ce.Message)
			if tt.wantData == "" {
				assert.Nil(t, ce.Data)
			} else {
				assert.JSONEq(t, tt.wantData, string(ce.Data))
			}
			assert.Equal(t, err, recv(t, errs, "connect_error"))
			assert.False(t, s.Connected())
			// not retried: the session closes as no socket needs it
			require.Eventually(t, func() bool { return m.Transport() == "" }, wait, time.Millisecond)
		})
	}
}

func TestServerDisconnect(t *testing.T) {
	t.Parallel()
	for _, tt := range transports {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, ts := serve(t)
			srv.OnConnection(func(s *realtime.Socket) {
				s.On("kick me", func(*realtime.Event) { s.Disconnect(false) })
			})
			m := manager(t, ts, append(fast, tt.opts...)...)
			s := m.Socket("/")
			var connects atomic.Int32
			s.OnConnect(func(*client.Socket) { connects.Add(1) })
			reasons := make(chan string, 1)
			s.OnDisconnect(func(_ *client.Socket, reason string) { reasons <- reason })
			connect(t, s)
			require.NoError(t, s.Emit("kick me"))
			assert.Equal(t, client.ReasonServerDisconnect, recv(t, reasons, "disconnect"))
			assert.False(t, s.Connected())
			assert.Empty(t, s.ID())
			require.Eventually(t, func() bool { return m.Transport() == "" && srv.Len() == 0 }, wait, time.Millisecond)
			assert.Never(t, func() bool { return connects.Load() > 1 }, 100*time.Millisecond, 5*time.Millisecond, "no reconnection")

			// Connect again is allowed.
			connect(t, s)
			require.Eventually(t, func() bool { return connects.Load() == 2 }, wait, time.Millisecond)
		})
	}
}

func TestClientDisconnect(t *testing.T) {
	t.Parallel()
	srv, ts := serve(t)
	serverReasons := make(chan string, 1)
	srv.OnConnection(func(s *realtime.Socket) {
		s.OnDisconnect(func(_ *realtime.Socket, reason string) { serverReasons <- reason })
	})
	m := manager(t, ts)
	s := m.Socket("/")
	reasons := make(chan string, 1)
	s.OnDisconnect(func(_ *client.Socket, reason string) { reasons <- reason })
	connect(t, s)
	s.Disconnect()
	assert.Equal(t, client.ReasonClientDisconnect, recv(t, reasons, "disconnect"))
	assert.Equal(t, realtime.ReasonClientNamespaceDisconnect, recv(t, serverReasons, "server disconnect"))
	require.Eventually(t, func() bool { return m.Transport() == "" && srv.Len() == 0 }, wait, time.Millisecond)
	require.NoError(t, m.Close())
	assert.ErrorIs(t, m.Close(), client.ErrClosed)
	assert.ErrorIs(t, s.Connect(ctxWait(t)), client.ErrClosed)
}

func TestReconnectAfterTransportDrop(t *testing.T) {
	t.Parallel()
	for _, tt := range transports {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, ts := serve(t)
			srv.OnConnection(func(s *realtime.Socket) {
				s.On("id", func(e *realtime.Event) { _ = e.Ack(s.ID()) })
			})
			srv.Of("/other")
			var net network
			m := manager(t, ts, append(append(fast, net.option()), tt.opts...)...)
			main, other := m.Socket("/"), m.Socket("/other")
			reasons := make(chan string, 16)
			connects := make(chan string, 16)
			for _, s := range []*client.Socket{main, other} {
				s.OnDisconnect(func(s *client.Socket, reason string) { reasons <- s.Namespace() + " " + reason })
				s.OnConnect(func(s *client.Socket) { connects <- s.Namespace() })
			}
			connect(t, main)
			connect(t, other)
			recv(t, connects, "connect")
			recv(t, connects, "connect")
			require.Eventually(t, func() bool { return m.Transport() == tt.want }, wait, time.Millisecond)
			oldID := main.ID()

			dropUntil(t, net.drop, func() bool { return len(reasons) > 0 })
			got := []string{recv(t, reasons, "disconnect"), recv(t, reasons, "disconnect")}
			assert.ElementsMatch(t, []string{"/ " + client.ReasonTransportError, "/other " + client.ReasonTransportError}, got)
			assert.ElementsMatch(t, []string{"/", "/other"}, []string{recv(t, connects, "reconnect"), recv(t, connects, "reconnect")})

			args, err := main.EmitWithAck(ctxWait(t), "id")
			require.NoError(t, err)
			var id string
			require.NoError(t, args.Bind(&id))
			assert.Equal(t, main.ID(), id)
			assert.NotEqual(t, oldID, id, "a new socket: the server has no recovery")
		})
	}
}

func TestReconnectAfterCloseClientConnections(t *testing.T) {
	t.Parallel()
	_, ts := serve(t)
	s := manager(t, ts, append(fast, client.WithTransports(client.Polling))...).Socket("/")
	reasons := make(chan string, 16)
	s.OnDisconnect(func(_ *client.Socket, reason string) { reasons <- reason })
	connects := make(chan struct{}, 16)
	s.OnConnect(func(*client.Socket) { connects <- struct{}{} })
	connect(t, s)
	recv(t, connects, "connect")
	dropUntil(t, ts.CloseClientConnections, func() bool { return len(reasons) > 0 })
	assert.Equal(t, client.ReasonTransportError, recv(t, reasons, "disconnect"))
	recv(t, connects, "reconnect")
	require.Eventually(t, s.Connected, wait, time.Millisecond)
}

func TestServerShutdownReconnects(t *testing.T) {
	t.Parallel()
	for _, tt := range transports[1:] { // settled transports only
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, ts := serve(t)
			s := manager(t, ts, append(fast, tt.opts...)...).Socket("/")
			reasons := make(chan string, 1)
			s.OnDisconnect(func(_ *client.Socket, reason string) { reasons <- reason })
			errs := make(chan error, 16)
			s.OnConnectError(func(_ *client.Socket, err error) {
				select {
				case errs <- err:
				default:
				}
			})
			connect(t, s)
			require.NoError(t, srv.Shutdown(ctxWait(t)))
			assert.Equal(t, client.ReasonTransportClose, recv(t, reasons, "disconnect"))
			// The client tries again; the server refuses new sessions.
			assert.ErrorContains(t, recv(t, errs, "connect_error"), "HTTP 503: transport: server closed")
		})
	}
}

func TestRecovery(t *testing.T) {
	t.Parallel()
	for _, tt := range transports[1:] {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// A short heartbeat lets the server notice a drop while no poll
			// was in flight.
			srv, ts := serve(t, realtime.WithRecovery(time.Minute, true), realtime.WithTransportOptions(
				transport.WithPingInterval(50*time.Millisecond), transport.WithPingTimeout(100*time.Millisecond)))
			type conn struct {
				s         *realtime.Socket
				id        string
				recovered bool
				auth      string
			}
			conns := make(chan conn, 2)
			gone := make(chan string, 1)
			srv.OnConnection(func(s *realtime.Socket) {
				conns <- conn{s, s.ID(), s.Recovered(), string(s.Handshake().Auth)}
				s.OnDisconnect(func(s *realtime.Socket, _ string) { gone <- s.ID() })
				s.Join("room")
				if !s.Recovered() {
					assert.NoError(t, s.Emit("msg", 1, "one"))
				}
			})
			var net network
			s := manager(t, ts, append(append(fast, net.option()), tt.opts...)...).
				Socket("/", client.WithAuth(map[string]string{"token": "t"}))
			msgs := make(chan []string, 4)
			s.On("msg", func(e *client.Event) {
				var raw []string
				for i := range e.Len() {
					raw = append(raw, string(e.JSON(i)))
				}
				msgs <- raw
			})
			reconnected := make(chan bool, 2)
			s.OnConnect(func(s *client.Socket) { reconnected <- s.Recovered() })
			connect(t, s)
			first := recv(t, conns, "connection")
			assert.False(t, first.recovered)
			assert.Equal(t, first.id, s.ID())
			assert.False(t, recv(t, reconnected, "connect"))
			assert.Equal(t, []string{"1", `"one"`}, recv(t, msgs, "msg"), "offset stripped")

			net.refuse.Store(true)
			net.drop()
			assert.Equal(t, first.id, recv(t, gone, "server disconnect"))
			require.NoError(t, srv.To("room").Emit("msg", 2, "missed"))
			net.refuse.Store(false)

			assert.True(t, recv(t, reconnected, "reconnect"))
			assert.True(t, s.Recovered())
			assert.Equal(t, first.id, s.ID())
			again := recv(t, conns, "recovered connection")
			assert.True(t, again.recovered)
			assert.Equal(t, first.id, again.id)
			var auth map[string]string
			require.NoError(t, json.Unmarshal([]byte(again.auth), &auth))
			assert.Equal(t, "t", auth["token"])
			assert.NotEmpty(t, auth["pid"])
			assert.NotEmpty(t, auth["offset"])
			assert.Equal(t, []string{"2", `"missed"`}, recv(t, msgs, "missed msg"))

			// An event asking for an ack carries no offset: its last string
			// stays.
			s.On("ask", func(e *client.Event) {
				_ = e.Ack(e.Values()...)
			})
			args, err := again.s.EmitWithAck(ctxWait(t), "ask", 7, "keep me")
			require.NoError(t, err)
			require.Equal(t, 2, args.Len())
			assert.Equal(t, `"keep me"`, string(args.JSON(1)))
		})
	}
}

func TestSendBuffer(t *testing.T) {
	t.Parallel()
	for _, tt := range transports {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, ts := serve(t)
			notes := make(chan string, 8)
			srv.OnConnection(func(s *realtime.Socket) {
				s.On("note", func(e *realtime.Event) {
					var n string
					if e.Bind(&n) == nil {
						notes <- n
					}
					if e.WantsAck() {
						_ = e.Ack("ok")
					}
				})
			})
			var net network
			m := manager(t, ts, append(append(fast, net.option()), tt.opts...)...)
			s := m.Socket("/")
			require.NoError(t, s.Emit("note", "before connect"))
			reasons := make(chan string, 1)
			s.OnDisconnect(func(_ *client.Socket, reason string) { reasons <- reason })
			connect(t, s)
			assert.Equal(t, "before connect", recv(t, notes, "note"))
			require.Eventually(t, func() bool { return m.Transport() == tt.want }, wait, time.Millisecond)

			net.refuse.Store(true)
			net.drop()
			recv(t, reasons, "disconnect")
			require.NoError(t, s.Emit("note", "while down 1"))
			acked := make(chan error, 1)
			go func() {
				args, err := s.EmitWithAck(ctxWait(t), "note", "while down 2")
				var ok string
				if err == nil {
					err = args.Bind(&ok)
				}
				acked <- err
			}()
			net.refuse.Store(false)
			assert.Equal(t, "while down 1", recv(t, notes, "buffered note"))
			assert.Equal(t, "while down 2", recv(t, notes, "buffered note"))
			assert.NoError(t, recv(t, acked, "ack of a buffered event"))
		})
	}
}

func TestSendBufferOff(t *testing.T) {
	t.Parallel()
	_, ts := serve(t)
	s := manager(t, ts, client.WithSendBuffer(0)).Socket("/")
	assert.ErrorIs(t, s.Emit("x"), client.ErrNotConnected)
	_, err := s.EmitWithAck(ctxWait(t), "x")
	assert.ErrorIs(t, err, client.ErrNotConnected)

	s = manager(t, ts, client.WithSendBuffer(1)).Socket("/")
	require.NoError(t, s.Emit("x"))
	assert.ErrorIs(t, s.Emit("x"), client.ErrBufferFull)
}

func TestEmitWithAckDisconnected(t *testing.T) {
	t.Parallel()
	srv, ts := serve(t)
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("hang", func(*realtime.Event) {})
	})
	var net network
	s := manager(t, ts, append(fast, net.option(), client.WithTransports(client.WebSocket))...).Socket("/")
	connect(t, s)
	errs := make(chan error, 1)
	go func() {
		_, err := s.EmitWithAck(ctxWait(t), "hang")
		errs <- err
	}()
	require.Eventually(t, func() bool {
		net.drop()
		select {
		case err := <-errs:
			assert.ErrorIs(t, err, client.ErrDisconnected)
			return true
		default:
			return false
		}
	}, wait, 10*time.Millisecond)
}

func TestPingTimeout(t *testing.T) {
	t.Parallel()
	for _, tt := range transports[1:] {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, ts := serve(t, realtime.WithTransportOptions(
				transport.WithPingInterval(20*time.Millisecond), transport.WithPingTimeout(300*time.Millisecond)))
			var net network
			s := manager(t, ts, append(tt.opts, net.option(), client.WithReconnection(false))...).Socket("/")
			reasons := make(chan string, 1)
			s.OnDisconnect(func(_ *client.Socket, reason string) { reasons <- reason })
			connect(t, s)
			net.silence()
			assert.Equal(t, client.ReasonPingTimeout, recv(t, reasons, "disconnect"))
			assert.False(t, s.Connected())
		})
	}
}

func TestHeartbeatKeepsConnection(t *testing.T) {
	t.Parallel()
	for _, tt := range transports {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, ts := serve(t, realtime.WithTransportOptions(
				transport.WithPingInterval(10*time.Millisecond), transport.WithPingTimeout(time.Second)))
			s := manager(t, ts, tt.opts...).Socket("/")
			disconnects := make(chan string, 1)
			s.OnDisconnect(func(_ *client.Socket, reason string) { disconnects <- reason })
			connect(t, s)
			select {
			case r := <-disconnects:
				t.Fatalf("disconnected: %s", r)
			case <-time.After(200 * time.Millisecond):
			}
		})
	}
}

func TestPollingBatchesWithinMaxPayload(t *testing.T) {
	t.Parallel()
	const n = 50
	srv, ts := serve(t, realtime.WithEventRate(0, 0),
		realtime.WithTransportOptions(transport.WithMaxPayload(200)))
	got := make(chan int, n)
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("n", func(e *realtime.Event) {
			var i int
			var pad string
			if e.Bind(&i, &pad) == nil {
				got <- i
			}
		})
	})
	s := manager(t, ts, client.WithTransports(client.Polling), client.WithReconnection(false)).Socket("/")
	reasons := make(chan string, 1)
	s.OnDisconnect(func(_ *client.Socket, reason string) { reasons <- reason })
	connect(t, s)
	pad := strings.Repeat("x", 40)
	for i := range n {
		require.NoError(t, s.Emit("n", i, pad))
	}
	for i := range n {
		assert.Equal(t, i, recv(t, got, "event"))
	}
	assert.Empty(t, reasons, "no POST over maxPayload")
}

func TestOpenFailures(t *testing.T) {
	t.Parallel()
	_, ts := serve(t)
	_, pollingOnly := serve(t, realtime.WithTransports("polling"))
	down := refuser(t) // a server that hangs up
	tests := []struct {
		name    string
		url     string
		opts    []client.Option
		cancel  bool // cancel Connect's context at the first connect_error
		wantErr error
		wantMsg string
	}{
		{name: "no reconnection", url: down, opts: []client.Option{client.WithReconnection(false)}, wantMsg: "handshake"},
		{name: "attempts exhausted", url: down, opts: []client.Option{client.WithReconnectionAttempts(2)}, wantErr: client.ErrReconnectFailed},
		{name: "context ends", url: down, cancel: true, wantErr: context.Canceled, wantMsg: "last error"},
		{name: "bad scheme", url: "ftp://example.com", wantMsg: "scheme"},
		{name: "bad path", url: ts.URL, opts: []client.Option{client.WithPath("/nowhere/"), client.WithReconnection(false)}, wantMsg: "HTTP 404"},
		{name: "websocket refused", url: pollingOnly.URL, opts: []client.Option{client.WithTransports(client.WebSocket), client.WithReconnection(false)}, wantMsg: "HTTP 400: Transport unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := client.New(tt.url, append(fast, tt.opts...)...)
			defer m.Close()
			s := m.Socket("/")
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			var errs atomic.Int32
			s.OnConnectError(func(*client.Socket, error) {
				errs.Add(1)
				if tt.cancel {
					cancel()
				}
			})
			err := s.Connect(ctx)
			require.Error(t, err)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
			}
			if tt.wantMsg != "" {
				assert.ErrorContains(t, err, tt.wantMsg)
			}
			assert.False(t, s.Connected())
			if tt.url == down {
				assert.Positive(t, errs.Load(), "connect_error handlers called")
			}
			require.Eventually(t, func() bool { return m.Transport() == "" }, wait, time.Millisecond)
		})
	}
}

func TestReservedAndBadArgs(t *testing.T) {
	t.Parallel()
	s := client.New("http://127.0.0.1:1").Socket("/")
	defer s.Manager().Close()
	assert.ErrorIs(t, s.Emit("disconnect"), client.ErrReservedEvent)
	_, err := s.EmitWithAck(context.Background(), "connect")
	assert.ErrorIs(t, err, client.ErrReservedEvent)
	assert.Error(t, s.Emit("x", func() {}), "a func does not encode")
	assert.Panics(t, func() { client.New("http://x", client.WithTransports("carrier pigeon")) })
	assert.Panics(t, func() { client.New("http://x", client.WithRandomization(2)) })
	assert.Panics(t, func() { s.Manager().Socket("/y", client.WithAuth("not an object")) })
}

func TestHandlerPanicIsRecovered(t *testing.T) {
	t.Parallel()
	srv, ts := serve(t)
	srv.OnConnection(func(s *realtime.Socket) {
		_ = s.Emit("boom")
		s.On("ping", func(e *realtime.Event) { _ = e.Ack("pong") })
	})
	s := manager(t, ts).Socket("/")
	s.On("boom", func(*client.Event) { panic("handler bug") })
	connect(t, s)
	args, err := s.EmitWithAck(ctxWait(t), "ping")
	require.NoError(t, err)
	assert.Equal(t, `"pong"`, string(args.JSON(0)))
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	srv, ts := serve(t, realtime.WithEventRate(0, 0))
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("echo", func(e *realtime.Event) { _ = e.Ack(e.JSON(0)) })
	})
	m := manager(t, ts)
	s := m.Socket("/")
	connect(t, s)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				want := fmt.Sprintf("%d-%d", g, i)
				args, err := s.EmitWithAck(ctxWait(t), "echo", want)
				if assert.NoError(t, err) {
					var got string
					assert.NoError(t, args.Bind(&got))
					assert.Equal(t, want, got)
				}
				_ = s.ID()
				_ = m.Transport()
			}
		})
	}
	wg.Wait()
}

func TestHeaderAndQuery(t *testing.T) {
	t.Parallel()
	for _, tt := range transports {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, ts := serve(t)
			type seen struct{ header, query, fromURL string }
			got := make(chan seen, 1)
			srv.OnConnection(func(s *realtime.Socket) {
				h := s.Handshake()
				got <- seen{h.Headers.Get("X-Token"), h.Query.Get("v"), h.Query.Get("from")}
			})
			m := client.New(ts.URL+"/ignored?from=url", append(tt.opts,
				client.WithHeader(map[string][]string{"X-Token": {"abc"}}),
				client.WithQuery(map[string][]string{"v": {"1"}}))...)
			t.Cleanup(func() { _ = m.Close() })
			connect(t, m.Socket("/"))
			assert.Equal(t, seen{"abc", "1", "url"}, recv(t, got, "connection"))
		})
	}
}
