package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/client"
	"github.com/vicinity-go/vicinity/examples/internal/browsertest"
	"github.com/vicinity-go/vicinity/examples/internal/web"
)

// wait bounds every wait on the server; nothing should come near it.
const wait = 5 * time.Second

// small are limits a test reaches in a few events.
var small = limits{Rooms: 2, Strokes: 3, RoomPoints: 10, Points: 4}

// start serves the board on 127.0.0.1 until the test ends.
func start(t *testing.T, lim limits) *httptest.Server {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	rt, handler := newServer(logger, lim, nil)
	ts := httptest.NewServer(handler)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		assert.NoError(t, rt.Shutdown(ctx), "realtime shutdown")
		ts.Close()
	})
	return ts
}

// peer is a Go client in a room, which records every event it receives.
type peer struct {
	t      *testing.T
	s      *client.Socket
	events chan *client.Event
}

// join connects a peer to room ("" for none in the auth payload) and
// returns it with the error of Connect.
func join(t *testing.T, ts *httptest.Server, room string) (*peer, error) {
	t.Helper()
	var auth any
	if room != "" {
		auth = map[string]string{"room": room}
	}
	m := client.New(ts.URL)
	t.Cleanup(func() { _ = m.Close() })
	p := &peer{t: t, s: m.Socket("/", client.WithAuth(auth)), events: make(chan *client.Event, 1000)}
	p.s.OnAny(func(e *client.Event) {
		select {
		case p.events <- e:
		default:
			t.Errorf("%s: too many events not read", room)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	return p, p.s.Connect(ctx)
}

// mustJoin is join for a peer that must get in, returning it with the
// picture the server sent it.
func mustJoin(t *testing.T, ts *httptest.Server, room string) (*peer, picture) {
	t.Helper()
	p, err := join(t, ts, room)
	require.NoError(t, err, "join %q", room)
	var pic picture
	p.next("picture", &pic)
	return p, pic
}

type picture struct {
	Room      string    `json:"room"`
	MaxPoints int       `json:"maxPoints"`
	Strokes   []*stroke `json:"strokes"`
}

// drawn is a "draw" event.
type drawn struct {
	ID     int64   `json:"id"`
	By     string  `json:"by"`
	Color  string  `json:"color"`
	Width  float64 `json:"width"`
	Points []point `json:"points"`
	First  int64   `json:"first"`
}

// next waits for the next event, which must be name, and decodes its
// argument into v (unless nil).
func (p *peer) next(name string, v any) {
	p.t.Helper()
	select {
	case e := <-p.events:
		require.Equal(p.t, name, e.Name, "event %s %s", e.Name, e.Args)
		if v != nil {
			require.NoError(p.t, e.Bind(v), "%s %s", e.Name, e.Args)
		}
	case <-time.After(wait):
		p.t.Fatalf("no %s event", name)
	}
}

// nextDraw waits for the next event, which must be "draw".
func (p *peer) nextDraw() drawn {
	p.t.Helper()
	var d drawn
	p.next("draw", &d)
	return d
}

// quiet checks that no event is waiting.
func (p *peer) quiet() {
	p.t.Helper()
	select {
	case e := <-p.events:
		p.t.Errorf("unexpected %s %s", e.Name, e.Args)
	default:
	}
}

// send emits event with a raw JSON argument (none if arg is "") and
// returns the acknowledgement, as JSON.
func (p *peer) send(event, arg string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var args []any
	if arg != "" {
		args = append(args, json.RawMessage(arg))
	}
	res, err := p.s.EmitWithAck(ctx, event, args...)
	require.NoError(p.t, err, "%s %s", event, arg)
	require.Equal(p.t, 1, res.Len(), "%s %s: answer %s", event, arg, res)
	return string(res.JSON(0))
}

const ok = `{"ok":true}`

func TestDrawValidation(t *testing.T) {
	t.Parallel()
	ts := start(t, small)
	ada, _ := mustJoin(t, ts, "")
	bob, pic := mustJoin(t, ts, "")
	assert.Equal(t, "main", pic.Room)

	const shape = `{"error":"draw must be {stroke: number, color: string, width: number, points: [[x, y], ...]}"}`
	const badPoint = `{"error":"points must be [[x, y], ...] with x and y from 0 to 1"}`
	const badColor = `{"error":"color must be \"#rrggbb\""}`
	const badWidth = `{"error":"width must be from 1 to 40"}`
	const count = `{"error":"points must hold 1 to 4 points"}`
	batch := func(color, width, points string) string {
		return `{"stroke":1,"color":` + color + `,"width":` + width + `,"points":` + points + `}`
	}
	tests := []struct {
		name, arg, want string
	}{
		{"no argument", ``, shape},
		{"a string", `"hello"`, shape},
		{"an array", `[1,2]`, shape},
		{"stroke not an integer", `{"stroke":1.5,"color":"#000000","width":3,"points":[[0,0]]}`, shape},
		{"null", `null`, badColor},
		{"no color", `{"width":3,"points":[[0,0]]}`, badColor},
		{"named color", batch(`"red"`, `3`, `[[0,0]]`), badColor},
		{"short color", batch(`"#12345"`, `3`, `[[0,0]]`), badColor},
		{"not hex", batch(`"#12345g"`, `3`, `[[0,0]]`), badColor},
		{"color a number", batch(`123456`, `3`, `[[0,0]]`), shape},
		{"width 0", batch(`"#000000"`, `0`, `[[0,0]]`), badWidth},
		{"width 41", batch(`"#000000"`, `41`, `[[0,0]]`), badWidth},
		{"width negative", batch(`"#000000"`, `-3`, `[[0,0]]`), badWidth},
		{"width a string", batch(`"#000000"`, `"3"`, `[[0,0]]`), shape},
		{"no points", `{"stroke":1,"color":"#000000","width":3}`, count},
		{"empty points", batch(`"#000000"`, `3`, `[]`), count},
		{"too many points", batch(`"#000000"`, `3`, `[[0,0],[0,0],[0,0],[0,0],[0,0]]`), count},
		{"points an object", batch(`"#000000"`, `3`, `{"x":0}`), shape},
		{"one coordinate", batch(`"#000000"`, `3`, `[[0.5]]`), badPoint},
		{"three coordinates", batch(`"#000000"`, `3`, `[[0.5,0.5,0.5]]`), badPoint},
		{"null coordinate", batch(`"#000000"`, `3`, `[[0.5,null]]`), badPoint},
		{"null point", batch(`"#000000"`, `3`, `[null]`), badPoint},
		{"string coordinate", batch(`"#000000"`, `3`, `[["0.5",0.5]]`), badPoint},
		{"x over 1", batch(`"#000000"`, `3`, `[[1.0001,0.5]]`), badPoint},
		{"y under 0", batch(`"#000000"`, `3`, `[[0.5,-0.0001]]`), badPoint},
		{"huge", batch(`"#000000"`, `3`, `[[1e400,0]]`), badPoint},
		{"a point as an object", batch(`"#000000"`, `3`, `[{"x":0,"y":0}]`), badPoint},
	}
	for _, tt := range tests { // sequential: one connection
		t.Run(tt.name, func(t *testing.T) {
			assert.JSONEq(t, tt.want, ada.send("draw", tt.arg), "draw %s", tt.arg)
		})
	}

	// Nothing of it was sent or kept: the first draw anyone gets is this
	// one, normalized.
	assert.JSONEq(t, ok, ada.send("draw", `{"stroke":7,"color":"#A0b0C0","width":2.44,"points":[[0,1],[0.123456,0.99999]],"extra":1}`))
	d := bob.nextDraw()
	assert.Equal(t, drawn{ID: d.ID, By: ada.s.ID(), Color: "#a0b0c0", Width: 2.4, Points: []point{{0, 1}, {0.1235, 1}}, First: d.ID}, d)
	assert.Equal(t, d, ada.nextDraw(), "the sender gets it too")

	// A stroke of more than 4 points, in two batches: the second is refused.
	assert.JSONEq(t, ok, ada.send("draw", batch(`"#000000"`, `3`, `[[0,0],[0,0],[0,0]]`)))
	assert.JSONEq(t, `{"error":"a stroke has at most 4 points"}`, ada.send("draw", batch(`"#000000"`, `3`, `[[0,0],[0,0]]`)))
	_, pic = mustJoin(t, ts, "")
	require.Len(t, pic.Strokes, 2)
	assert.Len(t, pic.Strokes[1].Points, 3)

	// Events the server does not know, or without an ack, break nothing.
	require.NoError(t, ada.s.Emit("nonsense", 1, 2))
	require.NoError(t, ada.s.Emit("draw", "bad"))
	assert.JSONEq(t, ok, ada.send("clear", ``))
	bob.nextDraw()
	bob.next("clear", nil)
	bob.quiet()
}

func TestDrawRooms(t *testing.T) {
	t.Parallel()
	ts := start(t, small)

	tests := []struct {
		name string
		auth any
		want string
	}{
		{"room a number", map[string]int{"room": 5}, "auth must be {room?: string}"},
		{"long room", map[string]string{"room": strings.Repeat("é", 33)}, "room is longer than 32 characters"},
		{"control character", map[string]string{"room": "a\nb"}, "room must not contain control characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := client.New(ts.URL)
			defer m.Close()
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			var ce *client.ConnectError
			err := m.Socket("/", client.WithAuth(tt.auth)).Connect(ctx)
			require.ErrorAs(t, err, &ce, "auth %v", tt.auth)
			assert.Equal(t, tt.want, ce.Message)
		})
	}

	// Two rooms fit (small.Rooms): a third is refused while both are used.
	ada, pic := mustJoin(t, ts, " art ")
	assert.Equal(t, "art", pic.Room)
	assert.Equal(t, 4, pic.MaxPoints)
	bob, _ := mustJoin(t, ts, "")
	_, err := join(t, ts, "games")
	var ce *client.ConnectError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "too many rooms are in use, try again later", ce.Message)

	// Rooms are separate pictures.
	assert.JSONEq(t, ok, ada.send("draw", `{"stroke":1,"color":"#000000","width":3,"points":[[0.5,0.5]]}`))
	ada.nextDraw()
	bob.quiet()
	carl, pic := mustJoin(t, ts, "art")
	assert.Len(t, pic.Strokes, 1)

	// Once everyone left "art", its picture makes way for "games"; then
	// "art" has none.
	ada.s.Disconnect()
	carl.s.Disconnect()
	var games *peer
	require.Eventually(t, func() bool {
		games, err = join(t, ts, "games")
		return err == nil
	}, wait, 10*time.Millisecond, "the sockets in art leave")
	games.next("picture", nil)
	_, err = join(t, ts, "art")
	require.ErrorAs(t, err, &ce, "main and games are in use")
	games.s.Disconnect()
	require.Eventually(t, func() bool {
		_, err = join(t, ts, "art")
		return err == nil
	}, wait, 10*time.Millisecond, "the socket in games leaves")
	_, pic = mustJoin(t, ts, "art")
	assert.Empty(t, pic.Strokes, "art was forgotten")
	bob.quiet()
}

// summary describes strokes as "id:n ..." (n points each), with ids
// relative to base.
func summary(strokes []*stroke, base int64) string {
	parts := make([]string, len(strokes))
	for i, s := range strokes {
		parts[i] = fmt.Sprintf("%d:%d", s.ID-base, len(s.Points))
	}
	return strings.Join(parts, " ")
}

func TestDrawHistory(t *testing.T) {
	t.Parallel()
	ts := start(t, small) // 3 strokes, 10 points a room, 4 a stroke
	ada, err := join(t, ts, "art")
	require.NoError(t, err)
	e := <-ada.events // sent before Connect returned
	require.Equal(t, "picture", e.Name)
	require.Equal(t, 1, e.Len())
	assert.JSONEq(t, `{"room":"art","maxPoints":4,"strokes":[]}`, string(e.JSON(0)), "strokes is [], not null")
	bob, _ := mustJoin(t, ts, "art")
	// drawBy sends a batch of n points of stroke; both get it back.
	drawBy := func(p *peer, stroke, n int) drawn {
		t.Helper()
		pts := strings.TrimSuffix(strings.Repeat("[0.5,0.25],", n), ",")
		assert.JSONEq(t, ok, p.send("draw", fmt.Sprintf(`{"stroke":%d,"color":"#336699","width":4,"points":[%s]}`, stroke, pts)))
		d := bob.nextDraw()
		assert.Equal(t, d, ada.nextDraw(), "both get it")
		assert.Equal(t, p.s.ID(), d.By)
		assert.Len(t, d.Points, n)
		return d
	}
	draw := func(stroke, n int) drawn { t.Helper(); return drawBy(ada, stroke, n) }

	// Batches of one stroke make one stroke.
	a := draw(1, 2).ID
	assert.Equal(t, a, draw(1, 1).ID)
	_, pic := mustJoin(t, ts, "art")
	assert.Equal(t, "0:3", summary(pic.Strokes, a))

	// Past 3 strokes the oldest goes; "first" says which are left.
	assert.Equal(t, a, draw(2, 1).First)
	assert.Equal(t, a, draw(3, 1).First)
	d := draw(4, 1)
	assert.Equal(t, a+3, d.ID)
	assert.Equal(t, a+1, d.First)
	// Past 10 points too: 1+1+4+4 > 10 drops stroke 2, then 1+4+4+3 drops
	// stroke 3 and 4.
	assert.Equal(t, a+2, draw(5, 4).First)
	assert.Equal(t, a+3, draw(6, 4).First)
	assert.Equal(t, a+5, draw(7, 3).First)
	_, pic = mustJoin(t, ts, "art")
	assert.Equal(t, "5:4 6:3", summary(pic.Strokes, a), "a late joiner gets what is left")
	assert.Equal(t, "#336699", pic.Strokes[0].Color)
	assert.Equal(t, 4.0, pic.Strokes[0].Width)
	assert.Equal(t, point{0.5, 0.25}, pic.Strokes[0].Points[0])

	// A stroke cleared while drawn goes on as a new one.
	assert.Equal(t, a+7, draw(8, 1).ID)
	assert.JSONEq(t, ok, bob.send("clear", ``))
	ada.next("clear", nil)
	bob.next("clear", nil)
	d = draw(8, 2)
	assert.Equal(t, a+8, d.ID)
	assert.Equal(t, a+8, d.First)
	_, pic = mustJoin(t, ts, "art")
	assert.Equal(t, "8:2", summary(pic.Strokes, a))

	// So does a stroke dropped as the oldest while drawn.
	// bob's third stroke drops ada's: more than 3 strokes.
	drawBy(bob, 1, 3)
	drawBy(bob, 2, 3)
	assert.Equal(t, a+9, drawBy(bob, 3, 3).First)
	assert.Equal(t, a+12, draw(8, 1).ID)
	ada.quiet()
	bob.quiet()
}

// replay is a page's picture: what "picture", "draw" and "clear" make of
// it, as app.js does.
type replay struct {
	strokes []*stroke
}

func (r *replay) apply(t *testing.T, e *client.Event) {
	switch e.Name {
	case "picture":
		var p picture
		require.NoError(t, e.Bind(&p))
		r.strokes = p.Strokes
	case "clear":
		r.strokes = nil
	case "draw":
		var d drawn
		require.NoError(t, e.Bind(&d))
		if n := len(r.strokes); n == 0 || r.strokes[n-1].ID != d.ID {
			r.strokes = append(r.strokes, &stroke{ID: d.ID, Color: d.Color, Width: d.Width})
		}
		s := r.strokes[len(r.strokes)-1]
		s.Points = append(s.Points, d.Points...)
		for len(r.strokes) > 0 && r.strokes[0].ID < d.First {
			r.strokes = r.strokes[1:]
		}
	}
}

// TestDrawLateJoiners checks that sockets joining while a stroke is drawn
// end up with the picture the server has, each batch exactly once.
func TestDrawLateJoiners(t *testing.T) {
	t.Parallel()
	ts := start(t, limits{Rooms: 10, Strokes: 8, RoomPoints: 40, Points: 6})
	ada, _ := mustJoin(t, ts, "art")
	type joined struct {
		p   *peer
		err error
	}
	joiners := make(chan joined, 10)
	rnd := rand.New(rand.NewPCG(1, 2))
	coord := func() float64 { return float64(rnd.IntN(10_001)) / 1e4 }
	var last drawn
	mine := &replay{}
	for i := range 120 {
		if i%20 == 10 {
			go func() {
				p, err := join(t, ts, "art")
				joiners <- joined{p, err}
			}()
		}
		// strokes of 3 batches of 2 points; a stroke holds 6 at most
		arg := fmt.Sprintf(`{"stroke":%d,"color":"#000000","width":3,"points":[[%v,%v],[%v,%v]]}`,
			i/3, coord(), coord(), coord(), coord())
		require.JSONEq(t, ok, ada.send("draw", arg))
		// Its echo came before the acknowledgement.
		for len(ada.events) > 0 {
			e := <-ada.events
			mine.apply(t, e)
			if e.Name == "draw" {
				require.NoError(t, e.Bind(&last))
			}
		}
	}
	_, final := mustJoin(t, ts, "art")
	want := summary(final.Strokes, 0)
	require.Equal(t, want, summary(mine.strokes, 0), "the drawer's page")
	require.Equal(t, final.Strokes, mine.strokes)

	for range 6 {
		j := <-joiners
		require.NoError(t, j.err)
		r := &replay{}
		draws := 0
		for {
			n := len(r.strokes)
			if n > 0 && r.strokes[n-1].ID == last.ID && summary(r.strokes, 0) == want {
				break
			}
			select {
			case e := <-j.p.events:
				r.apply(t, e)
				if e.Name == "draw" {
					draws++
				} else {
					t.Logf("a late joiner got a picture of %s", summary(r.strokes, 0))
				}
			case <-time.After(wait):
				t.Fatalf("a late joiner has %s, want %s", summary(r.strokes, 0), want)
			}
		}
		assert.Equal(t, final.Strokes, r.strokes)
		t.Logf("then %d batches", draws)
		j.p.quiet()
	}
}

// TestBrowser runs browser.test.mjs: Chromium pages drawing together.
func TestBrowser(t *testing.T) {
	browsertest.Run(t, "draw", "DRAW_URL", func() string { return start(t, defaultLimits).URL })
}

func TestBundle(t *testing.T) {
	t.Parallel()
	if err := web.CheckBundle("draw"); err != nil {
		t.Skip(err)
	}
	res, err := http.Get(start(t, small).URL + "/socket.io.min.js")
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, string(body), "socket.io")
}

func TestPage(t *testing.T) {
	t.Parallel()
	ts := start(t, small)
	for _, p := range []string{"/", "/app.js", "/style.css"} {
		res, err := http.Get(ts.URL + p)
		require.NoError(t, err, "GET %s", p)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		assert.Equal(t, http.StatusOK, res.StatusCode, "GET %s", p)
		assert.NotEmpty(t, body, "GET %s", p)
	}
}

func TestLimitsPanic(t *testing.T) {
	t.Parallel()
	assert.PanicsWithValue(t, "draw: impossible limits {Rooms:1 Strokes:1 RoomPoints:1 Points:2}", func() {
		newServer(slog.New(slog.DiscardHandler), limits{Rooms: 1, Strokes: 1, RoomPoints: 1, Points: 2}, nil)
	})
}

// -metrics serves the server's metrics at /metrics: a socket that drew is
// counted.
func TestMetricsFlag(t *testing.T) {
	t.Parallel()
	rt, handler := newServer(slog.New(slog.DiscardHandler), small, web.MetricsIf(true))
	t.Cleanup(func() { _ = rt.Close() })
	ts := httptest.NewServer(handler)
	t.Cleanup(ts.Close)
	_, err := join(t, ts, "metrics")
	require.NoError(t, err)
	res, err := http.Get(ts.URL + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, string(body), "vicinity_sockets 1\n")
}
