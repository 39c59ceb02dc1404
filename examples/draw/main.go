// Command draw is a shared drawing canvas on vicinity: everyone in a room
// sees each stroke while it is drawn, and who comes later sees the picture
// so far. The URL's hash names the room (#main by default). Run it from the
// repository root with `go run ./examples/draw`, then open
// http://127.0.0.1:8081 in two tabs.
//
// The page (index.html, app.js) uses the official socket.io-client; this
// file is the whole server. Read enter, then onConnection, then draw; the
// README describes the events.
package main

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vicinity-go/vicinity/examples/internal/web"
	"github.com/vicinity-go/vicinity/realtime"
)

const (
	defaultRoom = "main" // the room of a page with no hash
	maxRoomName = 32     // in characters
)

// limits bound the memory the server uses: at most Rooms pictures, each of
// at most Strokes strokes and RoomPoints points. A full room forgets its
// oldest strokes; the picture of an empty room is forgotten when a new room
// needs its place. With the defaults, a picture is at most about 2 MB of
// JSON, which fits a client's send queue (4 MiB).
type limits struct {
	Rooms      int // pictures kept in memory
	Strokes    int // strokes per picture
	RoomPoints int // points per picture, all strokes together
	Points     int // points per stroke; the page starts a new stroke past it
}

var defaultLimits = limits{Rooms: 100, Strokes: 5000, RoomPoints: 100_000, Points: 2000}

//go:embed index.html app.js style.css
var page embed.FS

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "address to listen on")
	metrics := flag.Bool("metrics", false, web.MetricsUsage)
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop) // once shutting down, a second Ctrl-C kills the program
	rt, handler := newServer(logger, defaultLimits, web.MetricsIf(*metrics))
	ln, err := net.Listen("tcp", *addr)
	if err == nil {
		logger.Info("draw is running", "url", "http://"+ln.Addr().String())
		err = web.Serve(ctx, ln, handler, rt.Shutdown, logger)
	}
	if err != nil {
		logger.Error("draw", "err", err)
		os.Exit(1)
	}
}

// newServer returns the Socket.IO server (for Shutdown) and the handler
// serving everything: the page, the client bundle and the Socket.IO path.
func newServer(logger *slog.Logger, lim limits, metrics *web.Metrics) (*realtime.Server, http.Handler) {
	if lim.Rooms < 1 || lim.Strokes < 1 || lim.Points < 1 || lim.RoomPoints < lim.Points {
		panic(fmt.Sprintf("draw: impossible limits %+v", lim))
	}
	rt := realtime.New(append(metrics.Options(), realtime.WithLogger(logger))...)
	b := &board{rt: rt, lim: lim, rooms: make(map[string]*room)}
	rt.Use(b.enter)
	rt.OnConnection(b.onConnection)

	mux := web.Mux("draw", rt, page, logger)
	metrics.Mount(mux) // with -metrics
	return rt, mux
}

// board holds the pictures of the rooms.
type board struct {
	rt     *realtime.Server
	lim    limits
	lastID atomic.Int64 // stroke ids, unique across rooms

	mu    sync.Mutex // guards rooms and each room's members; taken before a room's mu
	rooms map[string]*room
}

type room struct {
	name    string
	members int       // sockets in the room or joining it; guarded by board.mu
	left    time.Time // when the last member left; guarded by board.mu

	// mu guards the picture. It is held while sending to the room, which
	// never blocks, so that the room's changes reach everyone in one order.
	mu      sync.Mutex
	strokes []*stroke // oldest first, never nil
	points  int       // points of all strokes
	gone    bool      // forgotten by the board: nothing is drawn here any more
}

type stroke struct {
	ID     int64   `json:"id"`
	Color  string  `json:"color"`
	Width  float64 `json:"width"`
	Points []point `json:"points"`
}

// enter is middleware: it puts the socket in the room its auth payload
// ({room?} in io({auth})) names, counting it as a member until its
// Context ends: when it disconnects, or if a later step refuses it.
func (b *board) enter(s *realtime.Socket) error {
	var auth struct{ Room string }
	if raw := s.Handshake().Auth; len(raw) > 0 && json.Unmarshal(raw, &auth) != nil {
		return &realtime.ConnectError{Message: "auth must be {room?: string}"}
	}
	name, err := web.Clean("room", cmp.Or(strings.TrimSpace(auth.Room), defaultRoom), maxRoomName)
	if err != nil {
		return &realtime.ConnectError{Message: err.Error()}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.rooms[name]
	if r == nil {
		if len(b.rooms) >= b.lim.Rooms && !b.forgetIdleRoom() {
			return &realtime.ConnectError{Message: "too many rooms are in use, try again later"}
		}
		r = &room{name: name, strokes: []*stroke{}} // [], not null, in JSON
		b.rooms[name] = r
	}
	r.members++
	s.SetData(r)
	context.AfterFunc(s.Context(), func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if r.members--; r.members == 0 {
			r.left = time.Now()
		}
	})
	return nil
}

// forgetIdleRoom forgets the picture of the room empty for longest; false
// if every room has members. The caller holds b.mu.
func (b *board) forgetIdleRoom() bool {
	var idle *room
	for _, r := range b.rooms {
		if r.members == 0 && (idle == nil || r.left.Before(idle.left)) {
			idle = r
		}
	}
	if idle == nil {
		return false
	}
	idle.mu.Lock()
	idle.gone = true // for a handler of a socket disconnecting meanwhile
	idle.mu.Unlock()
	delete(b.rooms, idle.name)
	return true
}

// onConnection sets up one socket. Its handlers run one at a time, in
// order, so pen, the socket's stroke in progress, needs no lock.
func (b *board) onConnection(s *realtime.Socket) {
	r := s.Data().(*room)
	r.mu.Lock()
	s.Join(roomKey(r.name))
	_ = s.Emit("picture", map[string]any{"room": r.name, "maxPoints": b.lim.Points, "strokes": r.strokes})
	r.mu.Unlock()

	var pen pen
	s.On("draw", func(e *realtime.Event) {
		in, err := b.lim.decode(e)
		if err == nil {
			err = b.draw(r, s.ID(), &pen, in)
		}
		_ = e.AckResult(err)
	})

	s.On("clear", func(e *realtime.Event) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if !r.gone { // see draw
			r.strokes, r.points = []*stroke{}, 0
			_ = b.rt.To(roomKey(r.name)).Emit("clear")
		}
		_ = e.AckResult(nil)
	})
}

// pen is a socket's stroke in progress: the client's number for it and
// the server's stroke.
type pen struct {
	stroke int
	st     *stroke
}

// batch is what a client sends in "draw".
type batch struct {
	Stroke int     `json:"stroke"`
	Color  string  `json:"color"`
	Width  float64 `json:"width"`
	Points []point `json:"points"`
}

// draw adds a valid batch to the picture and sends it to everyone in the
// room, the sender too: it learns the stroke's id, and its page shows the
// picture as the server has it. A batch continues the socket's stroke in
// progress if it has the same number and the stroke is still in the
// picture (not cleared, not dropped as the oldest); otherwise it starts a
// stroke, with its own color and width.
func (b *board) draw(r *room, by string, p *pen, in batch) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gone {
		return nil // the socket disconnected meanwhile and the room is forgotten
	}
	if p.st != nil && p.stroke == in.Stroke && len(r.strokes) > 0 && r.strokes[0].ID <= p.st.ID {
		if len(p.st.Points)+len(in.Points) > b.lim.Points {
			return fmt.Errorf("a stroke has at most %d points", b.lim.Points)
		}
	} else {
		*p = pen{stroke: in.Stroke, st: &stroke{ID: b.lastID.Add(1), Color: in.Color, Width: in.Width}}
		r.strokes = append(r.strokes, p.st)
	}
	p.st.Points = append(p.st.Points, in.Points...)
	r.points += len(in.Points)
	// Over a bound, drop the oldest strokes: the pages drop those below
	// first too. That may be p.st itself, if it is the oldest; then the
	// next batch starts a new stroke.
	drop := 0
	for len(r.strokes)-drop > b.lim.Strokes || r.points > b.lim.RoomPoints {
		r.points -= len(r.strokes[drop].Points)
		drop++
	}
	r.strokes = slices.Delete(r.strokes, 0, drop)
	first := p.st.ID + 1
	if len(r.strokes) > 0 {
		first = r.strokes[0].ID
	}
	return b.rt.To(roomKey(r.name)).Emit("draw", map[string]any{
		"id": p.st.ID, "by": by, "color": p.st.Color, "width": p.st.Width, "points": in.Points, "first": first,
	})
}

// decode returns the event's batch, checked and normalized, or the error
// to answer.
func (l limits) decode(e *realtime.Event) (batch, error) {
	var in batch
	if err := e.Bind(&in); errors.Is(err, errPoint) {
		return in, errPoint // without Bind's "invalid argument 0: "
	} else if err != nil {
		return in, errors.New("draw must be {stroke: number, color: string, width: number, points: [[x, y], ...]}")
	}
	c := strings.ToLower(in.Color)
	if len(c) != 7 || c[0] != '#' || strings.Trim(c[1:], "0123456789abcdef") != "" {
		return in, errors.New(`color must be "#rrggbb"`)
	}
	if !(in.Width >= 1 && in.Width <= 40) {
		return in, errors.New("width must be from 1 to 40")
	}
	if n := len(in.Points); n == 0 || n > l.Points {
		return in, fmt.Errorf("points must hold 1 to %d points", l.Points)
	}
	in.Color, in.Width = c, math.Round(in.Width*10)/10
	return in, nil
}

// point is x, y: fractions of the canvas's width and height, rounded to
// 1/10000 (a tenth of a pixel at 1000 pixels), which keeps messages short.
type point [2]float32

var errPoint = errors.New("points must be [[x, y], ...] with x and y from 0 to 1")

func (p *point) UnmarshalJSON(data []byte) error {
	var xy []*float64 // pointers, so that null is not taken for 0
	if json.Unmarshal(data, &xy) != nil || len(xy) != 2 || xy[0] == nil || xy[1] == nil {
		return errPoint
	}
	for i, v := range xy {
		if !(*v >= 0 && *v <= 1) {
			return errPoint
		}
		p[i] = float32(math.Round(*v*1e4) / 1e4)
	}
	return nil
}

// roomKey names a drawing room in vicinity. Each socket is also in a room
// named by its id: the prefix keeps a drawing room from ever being one.
func roomKey(name string) string { return "room:" + name }
