// Command nearby is vicinity's flagship example: a location-based social
// app. You see the people around you on a drawn map, live, with their
// status (online, away, offline and last seen); you shout to everyone
// within your radius, message a person directly, and talk in the chat of
// the area you are in. Run it from the repository root with `make run`,
// then open http://127.0.0.1:8080 in two tabs.
//
// This file is the whole server (bots.go adds simulated walkers). The
// library does the work: the spatial index and its watches say who is
// near whom, presence says who is online, area rooms are joined and left
// as people move. Read newServer, then onConnection.
package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/rueidis"

	"github.com/vicinity-go/vicinity/cluster/redis"
	"github.com/vicinity-go/vicinity/examples/internal/web"
	"github.com/vicinity-go/vicinity/examples/nearby/internal/store"
	"github.com/vicinity-go/vicinity/presence"
	"github.com/vicinity-go/vicinity/realtime"
	"github.com/vicinity-go/vicinity/spatial"
)

const (
	maxName = 24  // characters
	maxText = 280 // characters
)

// options are the server's settings; main sets them from flags.
type options struct {
	Bots       int           // simulated walkers (bots.go)
	Precision  float64       // meters: others see your position on a grid this fine
	LeaveDelay time.Duration // a user offline for less (a reload) does not flash offline
	BotStep    time.Duration // how often a bot moves
	BotSpeed   float64       // meters a second a bot walks, give or take a fifth
	Metrics    bool          // serve /metrics (Prometheus text format)
	Verbose    bool          // log every connection, not only problems
	// Redis, a redis:// URL, makes the server one node of a cluster: the
	// others on the same Redis get its broadcasts and it theirs.
	Redis string
	// Center is where the map starts for someone who does not share
	// their location, and where the bots walk until someone is located.
	Center spatial.Point
	// Tiles is the map's tile URL template (Leaflet's {s}, {z}, {x}, {y});
	// Attribution is what the map credits for them. With Tiles empty, or
	// tiles that cannot load, the page draws its own plain map.
	Tiles, Attribution string
	// ICEServers are the STUN/TURN URLs the pages' WebRTC calls use (none:
	// host candidates only, enough on one machine or one network).
	ICEServers []string
	// ClaimsPerHour bounds the names claimed from one IP address in an
	// hour (0: no limit). Behind a proxy every client has the proxy's.
	ClaimsPerHour int
	// Data is the directory of the database (nearby.db): names, messages
	// and last seen. Nodes of a cluster on one machine may share it.
	Data string
	// CenterSet is set when Center was chosen (-center): the bots walk
	// there; otherwise they wait for the first person to place themselves
	// and walk around them.
	CenterSet bool

	botSecret string              // the bots' sign-in: only they know it
	onPlaced  func(spatial.Point) // called with each person's new location
}

// OpenStreetMap's standard tiles: fine for trying the example, not for an
// application's traffic (https://operations.osmfoundation.org/policies/tiles/).
const (
	osmTiles       = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
	osmAttribution = `&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors`
)

func defaultOptions() options {
	return options{
		Bots: 8, Precision: 50, LeaveDelay: 2 * time.Second, BotStep: time.Second, BotSpeed: botSpeed,
		Center: berlin, Tiles: osmTiles, Attribution: osmAttribution, Data: "nearby-data", ClaimsPerHour: 30,
	}
}

// The default city, Berlin-Mitte, with a few named areas whose chats
// people join by walking in.
var (
	berlin = spatial.Point{Lat: 52.5200, Lng: 13.4050}
	radii  = []float64{250, 500, 1000, 2000}
	areas  = []area{
		{Name: "Alexanderplatz", Circle: &spatial.Circle{Center: spatial.Point{Lat: 52.5219, Lng: 13.4132}, Radius: 200}},
		{Name: "Hackescher Markt", Circle: &spatial.Circle{Center: spatial.Point{Lat: 52.5233, Lng: 13.4021}, Radius: 150}},
		{Name: "Gendarmenmarkt", Circle: &spatial.Circle{Center: spatial.Point{Lat: 52.5136, Lng: 13.3927}, Radius: 150}},
		{Name: "Museum Island", Polygon: spatial.Polygon{
			{Lat: 52.5226, Lng: 13.3955}, {Lat: 52.5205, Lng: 13.4037}, {Lat: 52.5160, Lng: 13.4075},
			{Lat: 52.5143, Lng: 13.4050}, {Lat: 52.5185, Lng: 13.3980},
		}},
	}
)

const defaultRadius = 1000

// homeRadius is the radius, in meters, of the privacy zone the "home"
// switch puts around you.
const homeRadius = 300

type area struct {
	Name    string          `json:"name"`
	Circle  *spatial.Circle `json:"circle,omitempty"`
	Polygon spatial.Polygon `json:"polygon,omitempty"`
}

// static holds the page and its scripts, served at "/".
//
//go:embed static
var static embed.FS

func main() {
	o := defaultOptions()
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	flag.IntVar(&o.Bots, "bots", o.Bots, "simulated walkers, so the map is lively at once (0 for none)")
	flag.Float64Var(&o.Precision, "precision", o.Precision, "meters: others see positions coarsened to this grid (0 for exact)")
	flag.BoolVar(&o.Metrics, "metrics", false, web.MetricsUsage)
	flag.BoolVar(&o.Verbose, "v", false, "log every connection (opened, connected, disconnected), not only problems")
	flag.StringVar(&o.Redis, "redis", "", "redis://host:port: run as one node of a cluster on that Redis (people, presence, shouts, DMs and areas shared by every node)")
	flag.Func("center", "lat,lng where the map starts for people who do not share their location, and where bots walk (default Berlin-Mitte, 52.52,13.405)", func(v string) error {
		p, err := parsePoint(v)
		o.Center, o.CenterSet = p, true
		return err
	})
	flag.IntVar(&o.ClaimsPerHour, "claims-per-hour", o.ClaimsPerHour, "names one IP address may claim in an hour (0 for no limit; behind a proxy, every client has the proxy's address)")
	flag.StringVar(&o.Data, "data", o.Data, "directory of the database (created on first run): names, messages and last seen")
	flag.StringVar(&o.Tiles, "tiles", o.Tiles, "map tile URL template, {z}/{x}/{y} (and {s}); empty for the page's own plain map")
	flag.StringVar(&o.Attribution, "tile-attribution", o.Attribution, "HTML crediting the tiles, shown on the map")
	flag.Func("ice", "comma-separated STUN/TURN URLs for calls, e.g. stun:stun.example.org:3478 (default none: host candidates, enough on one network)", func(v string) error {
		o.ICEServers = strings.FieldsFunc(v, func(r rune) bool { return r == ',' })
		return nil
	})
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*addr, o, logger); err != nil {
		logger.Error("nearby", "err", err)
		os.Exit(1)
	}
}

func run(addr string, o options, logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop) // once shutting down, a second Ctrl-C kills the program
	var cluster rueidis.Client
	if o.Redis != "" {
		opt, err := rueidis.ParseURL(o.Redis)
		if err != nil {
			return fmt.Errorf("-redis: %w", err)
		}
		opt.DisableCache = true
		if cluster, err = rueidis.NewClient(opt); err != nil {
			return fmt.Errorf("-redis: %w", err)
		}
		defer cluster.Close()
	}
	db, err := store.Open(ctx, filepath.Join(o.Data, "nearby.db"))
	if err != nil {
		return fmt.Errorf("-data: %w", err)
	}
	defer db.Close()
	o.botSecret = rand.Text()
	home := newHerd(&o)
	rt, handler, closePresence := newServer(logger, o, cluster, db)
	defer closePresence()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	url := "http://" + ln.Addr().String()
	logger.Info("nearby is running: open it in two tabs (Ctrl-C stops it)", "url", url, "live view", url+"/live")
	where := "around the first person placed"
	if o.CenterSet {
		where = fmt.Sprintf("around %.5f,%.5f", o.Center.Lat, o.Center.Lng)
	}
	logger.Info("settings", "database", filepath.Join(o.Data, "nearby.db"), "tiles", cmp.Or(o.Tiles, "none: a plain map"),
		"bots", fmt.Sprintf("%d, %s", o.Bots, where), "redis", cmp.Or(o.Redis, "none: one node"))
	botsDone := startBots(ctx, url, o, home, logger)
	// Until Ctrl-C, then rt.Shutdown (goodbye to every client) before the
	// HTTP server's.
	err = web.Serve(ctx, ln, handler, rt.Shutdown, logger)
	stop() // the bots too, should serving have failed
	botsDone()
	if err == nil {
		logger.Info("stopped")
	}
	return err
}

// newServer returns the Socket.IO server (for Shutdown), the handler
// serving everything (the page, the client bundle, the map and the
// Socket.IO path) and what stops presence, to call after Shutdown. People
// and messages are kept in db. With a Redis client, the server is a node
// of a cluster.
func newServer(logger *slog.Logger, o options, cluster rueidis.Client, db *store.DB) (*realtime.Server, http.Handler, func()) {
	presenceOpts := []presence.Option{presence.WithLeaveDelay(o.LeaveDelay), presence.WithLogger(logger)}
	var presenceStore *redis.PresenceStore
	metrics := web.MetricsIf(o.Metrics)
	opts := metrics.Options()
	if cluster != nil {
		// One cluster: broadcasts (shouts, area chats, DMs) reach the
		// sockets of every node, and the adapter shares where people are
		// shown with the nodes whose people are near (by map cell), so
		// the map and the people list show everyone; presence (who is
		// online, last seen) lives in Redis, for every node.
		presenceStore = redis.NewPresenceStore(cluster, redis.WithLogger(logger))
		presenceOpts = append(presenceOpts, presence.WithStore(presenceStore))
		opts = append(opts, realtime.WithAdapter(redis.NewAdapter(cluster, redis.WithLogger(logger))))
	}
	tracker := presence.New(presenceOpts...)
	p := &people{db: db, botSecret: o.botSecret, claims: newClaimLimit(o.ClaimsPerHour), tracker: tracker, log: logger}
	stopLastSeen := p.keepLastSeen(tracker)
	closePresence := func() {
		stopLastSeen()
		_ = tracker.Close()
		if presenceStore != nil {
			_ = presenceStore.Close()
		}
	}
	rt := realtime.New(append(opts,
		realtime.WithLogger(quiet(logger, o.Verbose)),
		// A phone that loses its connection for less than two minutes (a
		// tunnel, a switch to another network) comes back as the same
		// socket and gets the shouts, DMs and area chats it missed; the
		// live view's screens resume from their last event. The
		// middleware signs it in again.
		realtime.WithRecovery(2*time.Minute, false),
		// Presence: who is online, per name. The namespace "/" is one
		// published topic: every page gets the state, then the diffs.
		realtime.WithPresence(tracker, func(s *realtime.Socket) (string, presence.Meta, error) {
			return userOf(s).Name, presence.Meta{Device: "web"}, nil
		}),
		realtime.WithPresenceRooms(func(nsp, room string) bool { return room == "" }),
		// The spatial index: others see a coarsened position, and a
		// position not refreshed for 10 minutes expires.
		realtime.WithSpatial(
			spatial.WithCoarsening(o.Precision),
			spatial.WithMaxAge(10*time.Minute),
			spatial.WithExpiryInterval(time.Minute),
		),
		// Pages send {"lat", "lng", "accuracy"} as "location", up to 10
		// times a second. Clicking the map jumps across the city at
		// once, so there is no speed limit (an app fed by GPS keeps the
		// default, 300 km/h). The other limits keep their defaults:
		// radius 50 km, 100 results, 256 people per watch, 2 queries a
		// second per user, 4 privacy zones of up to 5 km.
		realtime.WithLocationEvent("location"),
		realtime.WithLocationLimits(realtime.LocationLimits{UpdateRate: 10, UpdateBurst: 20, MaxSpeed: math.Inf(1)}),
	)...)
	for _, a := range areas {
		if err := rt.AddArea(a.Name, spatial.Fence{Circle: a.Circle, Polygon: a.Polygon}); err != nil {
			panic(err) // the areas above are valid
		}
	}
	p.rt = rt
	rt.Use(p.authenticate)
	rt.OnConnection(onConnection(rt, p, o.onPlaced))

	world, _ := json.Marshal(map[string]any{
		"center": o.Center, "size": 5000, "precision": o.Precision,
		"radii": radii, "radius": defaultRadius, "areas": areas,
		"tiles":      map[string]string{"url": o.Tiles, "attribution": o.Attribution},
		"iceServers": iceServers(o.ICEServers),
	})
	page, _ := fs.Sub(static, "static") // static is there: embedded above
	mux := web.Mux("nearby", rt, page, logger)
	metrics.Mount(mux) // with -metrics
	// live.go: /live, the read-only live view over Server-Sent Events.
	mountLive(mux, rt, tracker, logger)
	mux.HandleFunc("/world.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(world)
	})
	return rt, mux, closePresence
}

// quiet is logger without its Info and Debug records, unless verbose:
// the library logs every connection at Info.
func quiet(logger *slog.Logger, verbose bool) *slog.Logger {
	if verbose {
		return logger
	}
	return slog.New(minLevel{logger.Handler(), slog.LevelWarn})
}

// minLevel is a handler dropping records below min.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(as), h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.min}
}

// parsePoint parses "lat,lng" in degrees.
func parsePoint(v string) (spatial.Point, error) {
	lat, lng, ok := strings.Cut(v, ",")
	var p spatial.Point
	var err1, err2 error
	p.Lat, err1 = strconv.ParseFloat(strings.TrimSpace(lat), 64)
	p.Lng, err2 = strconv.ParseFloat(strings.TrimSpace(lng), 64)
	if !ok || err1 != nil || err2 != nil || p.Validate() != nil {
		return p, errors.New("want lat,lng in degrees, e.g. 48.8566,2.3522")
	}
	return p, nil
}

// iceServers is the RTCPeerConnection configuration's iceServers for urls.
func iceServers(urls []string) []map[string]any {
	if len(urls) == 0 {
		return []map[string]any{}
	}
	return []map[string]any{{"urls": urls}}
}

// watch makes s see who is within radius (and leave only 10% beyond it,
// so nobody flickers on the edge): the client gets nearby:enter, move and
// leave from here on, even before it has a location.
func watch(s *realtime.Socket, radius float64) error {
	return s.Watch(radius, spatial.WithMargin(radius/10))
}

// onConnection sets up one socket. Its handlers run one at a time, in
// order; they may wait for the database (a slow one delays only the
// socket's own later events), and emitting never waits for a client.
// placed, if set, hears where people (not bots) are shown: a second after
// a move, at most one a second per socket, nothing of the hidden.
func onConnection(rt *realtime.Server, p *people, placed func(spatial.Point)) func(*realtime.Socket) {
	index := rt.Of("/").Spatial()
	rings := newRingLimit()
	return func(s *realtime.Socket) {
		handleCalls(rt, s, rings) // calls.go: WebRTC calls between people near each other
		u := userOf(s)
		_ = watch(s, u.Radius)
		p.welcome(s)
		p.on(s) // people.go: signing out, DMs, area chats, history
		if placed != nil && !u.Bot {
			var pending atomic.Bool
			s.OnAny(func(e *realtime.Event) { // before the location event's own handler
				if e.Name == "location" && pending.CompareAndSwap(false, true) {
					time.AfterFunc(time.Second, func() {
						pending.Store(false)
						if at, ok := index.Shown(s.ID()); ok { // never the exact position
							placed(at.Point)
						}
					})
				}
			})
		}

		// "radius" (meters, one of radii) → a new watch.
		s.On("radius", func(e *realtime.Event) {
			var r float64
			if e.Bind(&r) != nil || !slices.Contains(radii, r) {
				_ = e.AckResult(fmt.Errorf("radius must be one of %v", radii))
				return
			}
			u := userOf(s)
			u.Radius = r
			s.SetData(u)
			_ = e.AckResult(plain(watch(s, r)))
		})

		// "shout" (text) → everyone within the shouter's radius.
		s.On("shout", func(e *realtime.Event) {
			text, err := textArg(e)
			if _, placed := s.Location(); err == nil && !placed {
				err = realtime.ErrNoLocation // a shout from nowhere reaches nobody
			}
			if err == nil {
				u := userOf(s)
				err = s.Near(u.Radius).Emit("shout", message(s, text, ""))
			}
			_ = e.AckResult(plain(err))
		})

		// "hide" (bool) → nobody sees you; you still see them.
		s.On("hide", func(e *realtime.Event) {
			var hide bool
			if e.Bind(&hide) != nil {
				_ = e.AckResult(errors.New("hide must be true or false"))
				return
			}
			_ = e.AckResult(plain(s.SetHidden(hide)))
		})

		// "home" (bool) → a privacy zone of homeRadius around where you
		// are now: inside it, others see you at one point that does not
		// move (not where your home is), and nothing of where you are in
		// it. false removes it.
		s.On("home", func(e *realtime.Event) {
			var on bool
			if e.Bind(&on) != nil {
				_ = e.AckResult(errors.New("home must be true or false"))
				return
			}
			pv := s.Privacy()
			pv.Zones = nil
			if on {
				here, ok := s.Location()
				if !ok {
					_ = e.AckResult(errors.New("place yourself first"))
					return
				}
				pv.Zones = []spatial.Zone{{Center: here.Point, Radius: homeRadius}}
			}
			_ = e.AckResult(plain(s.SetPrivacy(pv)))
		})
	}
}

// refusals are the library's refusals in the words the page shows.
var refusals = []struct {
	err  error
	text string
}{
	{realtime.ErrTooManyQueries, "slow down: try again in a moment"},
	{realtime.ErrNoLocation, "place yourself on the map first"},
	{realtime.ErrHidden, "you are hidden: nobody would hear you"},
	{realtime.ErrTooManyZones, "that privacy zone is too large"},
}

// plain returns err in the page's words when it is one of the library's
// refusals, else err.
func plain(err error) error {
	for _, r := range refusals {
		if errors.Is(err, r.err) {
			return errors.New(r.text)
		}
	}
	return err
}

// message is the payload of shout, dm and area-chat.
func message(from *realtime.Socket, text, area string) map[string]any {
	m := map[string]any{"from": from.ID(), "name": userOf(from).Name, "text": text, "time": time.Now().UnixMilli()}
	if area != "" {
		m["area"] = area
	}
	return m
}

// textArg decodes the event's first argument as a message text.
func textArg(e *realtime.Event) (string, error) {
	var s string
	if e.Bind(&s) != nil { // Bind decodes arguments like json.Unmarshal
		return "", errors.New("text must be a string")
	}
	return web.Clean("text", s, maxText)
}
