package realtime_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/internal/sio"
	"github.com/vicinity-go/vicinity/internal/siomsgpack"
	"github.com/vicinity-go/vicinity/realtime"
)

// sendMsgpack sends p as socket.io-msgpack-parser does: one binary message.
func (r *raw) sendMsgpack(p sio.Packet, atts ...[]byte) {
	r.t.Helper()
	b, err := siomsgpack.Append(nil, p, atts)
	require.NoError(r.t, err)
	r.sendBinary(b)
}

// nextMsgpack reads the next packet, which must be one binary message.
func (r *raw) nextMsgpack() (sio.Packet, [][]byte) {
	r.t.Helper()
	typ, data := r.read()
	require.Equal(r.t, websocket.BinaryMessage, typ, "frame %q", data)
	p, atts, err := siomsgpack.Decode(data, sio.Limits{})
	require.NoError(r.t, err)
	return p, atts
}

func TestMsgpackParser(t *testing.T) {
	t.Parallel()
	srv := realtime.New(realtime.WithParser(realtime.MsgpackParser))
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("echo", func(e *realtime.Event) { _ = e.Ack(e.Values()...) })
		s.On("room", func(e *realtime.Event) {
			s.Join("r")
			_ = s.Namespace().To("r").Emit("news", map[string]any{"pic": []byte{7}})
		})
	})
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	r.sendMsgpack(sio.Packet{Type: sio.Connect, Namespace: "/"})
	p, _ := r.nextMsgpack()
	assert.Equal(t, sio.Connect, p.Type)
	assert.True(t, strings.HasPrefix(string(p.Data), `{"sid":`), "%s", p.Data)

	r.sendMsgpack(sio.Packet{Type: sio.BinaryEvent, Namespace: "/", ID: 3, HasID: true, Attachments: 1,
		Data: json.RawMessage(`["echo","hi",{"a":{"_placeholder":true,"num":0}}]`)}, []byte{1, 2})
	p, atts := r.nextMsgpack()
	assert.Equal(t, sio.BinaryAck, p.Type)
	assert.Equal(t, uint64(3), p.ID)
	assert.JSONEq(t, `["hi",{"a":{"_placeholder":true,"num":0}}]`, string(p.Data))
	assert.Equal(t, [][]byte{{1, 2}}, atts)

	r.sendMsgpack(sio.Packet{Type: sio.Event, Namespace: "/", Data: json.RawMessage(`["room"]`)})
	p, atts = r.nextMsgpack()
	assert.JSONEq(t, `["news",{"pic":{"_placeholder":true,"num":0}}]`, string(p.Data))
	assert.Equal(t, [][]byte{{7}}, atts)

	// a text message is not a packet of this parser
	r.send(`42["echo"]`)
	r.closed()
}

// Shutdown waits for the handlers that run.
func TestShutdownWaitsForHandlers(t *testing.T) {
	t.Parallel()
	srv := realtime.New()
	started, release := make(chan struct{}), make(chan struct{})
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("work", func(*realtime.Event) {
			close(started)
			<-release
		})
	})
	ts := serve(t, srv)
	r := dialRaw(t, ts)
	r.connect("/", "")
	r.send(`42["work"]`)
	<-started
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		done <- srv.Shutdown(ctx)
	}()
	r.closed() // the connection is gone, the handler still runs
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v while a handler ran", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	assert.NoError(t, recv(t, done))
}
