// Command chat is a small chat app on vicinity: pick a nickname, talk in
// rooms, see who is there and who is typing. Run it from the repository
// root with `npm ci --prefix examples/chat` once, then `go run
// ./examples/chat`, and open http://127.0.0.1:8080 in two tabs.
//
// The page (index.html, app.js) uses the official socket.io-client; this
// file is the whole server. Read newServer, then authenticate, then
// onConnection.
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
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vicinity-go/vicinity/examples/internal/web"
	"github.com/vicinity-go/vicinity/realtime"
)

const (
	lobby   = "lobby" // the room everyone starts in
	maxName = 32      // limits on what clients send, in characters
	maxRoom = 32
	maxText = 500
)

//go:embed index.html app.js style.css
var page embed.FS

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	metrics := flag.Bool("metrics", false, web.MetricsUsage)
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop) // once shutting down, a second Ctrl-C kills the program
	rt, handler := newServer(logger, web.MetricsIf(*metrics))
	ln, err := net.Listen("tcp", *addr)
	if err == nil {
		logger.Info("chat is running", "url", "http://"+ln.Addr().String())
		// Until Ctrl-C, then rt.Shutdown (goodbye to every client) before
		// the HTTP server's.
		err = web.Serve(ctx, ln, handler, rt.Shutdown, logger)
	}
	if err != nil {
		logger.Error("chat", "err", err)
		os.Exit(1)
	}
}

// newServer returns the Socket.IO server (for Shutdown) and the handler
// serving everything: the page, the client bundle and the Socket.IO path.
func newServer(logger *slog.Logger, metrics *web.Metrics) (*realtime.Server, http.Handler) {
	// realtime.New is infallible; it is an http.Handler for "/socket.io/",
	// the path the JavaScript client uses by default.
	rt := realtime.New(append(metrics.Options(), realtime.WithLogger(logger))...)
	c := &chat{rt: rt, log: logger}
	rt.Use(authenticate)            // runs before a client is let in
	rt.OnConnection(c.onConnection) // runs for each client let in

	mux := web.Mux("chat", rt, page, logger)
	metrics.Mount(mux) // with -metrics
	return rt, mux
}

// user is what each socket carries in its Data. It is replaced, never
// changed in place, because FetchSockets hands it to other goroutines.
type user struct {
	Name string `json:"name"`
	Room string `json:"room"` // the room the socket is in
}

func userOf(s *realtime.Socket) user { u, _ := s.Data().(user); return u }

// authenticate is middleware: the client's auth payload ({name, room?} in
// io({auth})) must hold a valid nickname. An error refuses the connection;
// a *realtime.ConnectError's Message is err.message in the page's
// connect_error handler.
func authenticate(s *realtime.Socket) error {
	var auth struct{ Name, Room string }
	if raw := s.Handshake().Auth; len(raw) > 0 && json.Unmarshal(raw, &auth) != nil {
		return &realtime.ConnectError{Message: "auth must be {name: string, room?: string}"}
	}
	name, err := web.Clean("name", auth.Name, maxName)
	if err != nil {
		return &realtime.ConnectError{Message: err.Error()}
	}
	room := lobby // a reconnecting page asks for the room it was in
	if auth.Room != "" {
		if room, err = web.Clean("room", auth.Room, maxRoom); err != nil {
			return &realtime.ConnectError{Message: err.Error()}
		}
	}
	s.SetData(user{Name: name, Room: room})
	return nil
}

type chat struct {
	rt  *realtime.Server
	log *slog.Logger
}

// onConnection sets up one socket. Its handlers run one at a time, in
// order, and must not block: emitting never waits for a client.
func (c *chat) onConnection(s *realtime.Socket) {
	u := userOf(s)
	s.Join(roomKey(u.Room))
	s.Emit("room", u.Room) // Emit: to this client only
	c.sendMembers(u.Room)

	// "message" (text) → everyone in the room, the sender included.
	s.On("message", func(e *realtime.Event) {
		text, err := stringArg(e, "message", maxText)
		if err == nil {
			u := userOf(s)
			// rt.To(room) is every socket in the room; s.To(room) would
			// leave out the sender.
			err = c.rt.To(roomKey(u.Room)).Emit("message", map[string]any{
				"id": s.ID(), "name": u.Name, "text": text, "time": time.Now().UnixMilli(),
			})
		}
		_ = e.AckResult(err)
	})

	// "typing" (bool) → the others in the room. Volatile: a client too
	// busy to take it misses it, which is fine for a hint.
	s.On("typing", func(e *realtime.Event) {
		var typing bool
		if e.Bind(&typing) != nil {
			_ = e.AckResult(errors.New("typing must be true or false"))
			return
		}
		u := userOf(s)
		_ = s.To(roomKey(u.Room)).Volatile().Emit("typing", s.ID(), u.Name, typing)
	})

	// "join" (room) → leave the old room, enter the new one.
	s.On("join", func(e *realtime.Event) {
		room, err := stringArg(e, "room", maxRoom)
		if u := userOf(s); err == nil && room != u.Room {
			s.Leave(roomKey(u.Room))
			s.Join(roomKey(room))
			s.SetData(user{Name: u.Name, Room: room})
			s.Emit("room", room)
			c.sendMembers(u.Room)
			c.sendMembers(room)
		}
		_ = e.AckResult(err)
	})

	// By the time OnDisconnect runs, the socket has left its rooms.
	s.OnDisconnect(func(s *realtime.Socket, reason string) {
		c.sendMembers(userOf(s).Room)
	})
}

// sendMembers tells everyone in room who is there: "members" (room,
// [{id, name}]), sorted by name.
func (c *chat) sendMembers(room string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	// FetchSockets returns each socket's id, rooms and Data.
	sockets, err := c.rt.Of("/").In(roomKey(room)).FetchSockets(ctx)
	if err != nil {
		c.log.Error("fetch sockets", "room", room, "err", err)
		return
	}
	type member struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	members := make([]member, 0, len(sockets))
	for _, rs := range sockets {
		u, _ := rs.Data.(user)
		members = append(members, member{ID: rs.ID, Name: u.Name})
	}
	slices.SortFunc(members, func(a, b member) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
	_ = c.rt.To(roomKey(room)).Emit("members", room, members)
}

// roomKey names a chat room in vicinity. Each socket is also in a room
// named by its id: the prefix keeps a chat room from ever being one.
func roomKey(name string) string { return "room:" + name }

// stringArg decodes the event's first argument as a string and cleans it.
func stringArg(e *realtime.Event, what string, max int) (string, error) {
	var s string
	if e.Bind(&s) != nil { // Bind decodes arguments like json.Unmarshal
		return "", fmt.Errorf("%s must be a string", what)
	}
	return web.Clean(what, s, max)
}
