package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/vicinity-go/vicinity/client"
	"github.com/vicinity-go/vicinity/realtime"
	"github.com/vicinity-go/vicinity/spatial"
)

var botNames = []string{"Ada", "Bruno", "Chen", "Dana", "Emil", "Fatma", "Goran", "Hana", "Ivo", "Jule", "Kofi", "Lena", "Mika", "Nour", "Olga", "Paul"}

// Bots walk within botRange meters of their home, at botSpeed meters a
// second give or take a fifth (in tests o.BotSpeed is faster).
const (
	botRange = 1500
	botSpeed = 1.4 // a stroll
	maxTurn  = 25 * math.Pi / 180
)

// herdSpread is how far, in meters, a person may be placed from every
// place the bots walk before some of them come to keep them company.
const herdSpread = 10_000

// herd is where the bots walk: around the places people put themselves,
// so that nobody is alone on the map. The first place is where the first
// person is placed (or -center, and then only there); a person placed
// farther than herdSpread from every place adds theirs (at most one place
// a bot, the oldest dropped), and the bots share the places out: bot i
// walks around place i mod n.
type herd struct {
	mu     sync.Mutex
	places []spatial.Point
	bots   int
	known  chan struct{} // closed once there is a place
	log    *slog.Logger
}

// newHerd returns the herd of o.Bots bots: at o.Center if chosen, else
// following where people are shown, which it learns by setting
// o.onPlaced (unless there are no bots).
func newHerd(o *options) *herd {
	h := &herd{bots: max(o.Bots, 1), known: make(chan struct{}), log: slog.New(slog.DiscardHandler)}
	if o.Bots == 0 {
		return h
	}
	if o.CenterSet {
		h.places = []spatial.Point{o.Center}
		close(h.known)
	} else {
		o.onPlaced = h.placed
	}
	return h
}

// placed hears that someone is shown at p.
func (h *herd) placed(p spatial.Point) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, q := range h.places {
		if spatial.Distance(p, q) <= herdSpread {
			return
		}
	}
	if len(h.places) == 0 {
		close(h.known)
	}
	h.places = append(h.places, p)
	if len(h.places) > h.bots {
		h.places = h.places[1:]
	}
	h.log.Info("the bots come to keep someone company", "lat", p.Lat, "lng", p.Lng, "places", len(h.places))
}

// wait blocks until there is a place, and reports false if ctx ended
// first.
func (h *herd) wait(ctx context.Context) bool {
	select {
	case <-h.known:
		return true
	case <-ctx.Done():
		return false
	}
}

// home is where bot i walks now; there must be a place (see wait).
func (h *herd) home(i int) spatial.Point {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.places[i%len(h.places)]
}

// startBots connects o.Bots simulated walkers to the server at url with
// vicinity's Go client, each a user like any other: they walk around
// their home in the herd, now and then stop, step away from their phone
// or shout. They connect once the herd has a place (the first person
// placed, or -center). They stop when ctx ends; the returned function
// waits for them to disconnect.
func startBots(ctx context.Context, url string, o options, h *herd, log *slog.Logger) (wait func()) {
	h.mu.Lock()
	h.log = log
	h.mu.Unlock()
	var wg sync.WaitGroup
	for i := range o.Bots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !h.wait(ctx) {
				return // ctx ended first
			}
			b := newBot(i, h.home(i), o)
			b.herd, b.log = h, log
			if err := b.walk(ctx, url, o.BotStep, o.botSecret); err != nil && ctx.Err() == nil {
				log.Warn("bot stopped", "name", b.name, "err", err)
			}
		}()
	}
	return wg.Wait
}

// botName is bot i's name: "Ada (bot)", and past the list "Ada 2 (bot)".
func botName(i int) string {
	if i < len(botNames) {
		return botNames[i] + " (bot)"
	}
	return fmt.Sprintf("%s %d (bot)", botNames[i%len(botNames)], i/len(botNames)+1)
}

// bot is one simulated walker. It walks toward a waypoint, turning at most
// maxTurn a step, so its path is smooth; at a waypoint it sometimes stops
// for a while, then picks another within botRange of home.
type bot struct {
	name    string
	rng     *rand.Rand
	home    spatial.Point
	at      spatial.Point
	heading float64 // radians, 0 = north
	to      spatial.Point
	stride  float64 // meters a step
	pausing int     // steps left standing still
	herd    *herd   // where it walks (nil: around home, always)
	i       int     // its number in the herd
	log     *slog.Logger
}

func newBot(i int, home spatial.Point, o options) *bot {
	rng := rand.New(rand.NewPCG(uint64(i), 7))
	speed := o.BotSpeed * (0.8 + 0.4*rng.Float64())
	b := &bot{
		name: botName(i), rng: rng, home: home, i: i,
		stride: speed * o.BotStep.Seconds(),
	}
	b.at = b.somewhere()
	b.to = b.somewhere()
	b.heading = bearing(b.at, b.to)
	return b
}

// somewhere is a random point within botRange of home.
func (b *bot) somewhere() spatial.Point {
	d, dir := botRange*math.Sqrt(b.rng.Float64()), 2*math.Pi*b.rng.Float64()
	return offset(b.home, d*math.Cos(dir), d*math.Sin(dir))
}

// walk connects and takes a step every interval until ctx ends.
func (b *bot) walk(ctx context.Context, url string, interval time.Duration, secret string) error {
	m := client.New(url)
	defer m.Close()
	s := m.Socket("/", client.WithAuth(map[string]string{"name": b.name, "bot": secret}))
	if err := s.Connect(ctx); err != nil {
		return err
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	away := 0 // steps left away from the phone
	for placed := false; ; placed = true {
		if b.herd != nil {
			if home := b.herd.home(b.i); home != b.home { // off to keep someone company
				b.home, placed = home, false
				b.at, b.to = b.somewhere(), b.somewhere()
			}
		}
		if moved := b.step(); moved || !placed {
			if err := b.call(ctx, s, "location", map[string]float64{"lat": b.at.Lat, "lng": b.at.Lng, "accuracy": 10}); err != nil {
				return err
			}
		}
		var err error
		switch {
		case away == 0 && b.rng.IntN(300) == 0:
			away = 30 + b.rng.IntN(60)
			err = b.call(ctx, s, realtime.DefaultPresenceUpdate, map[string]string{"status": "away"})
		case away > 0:
			if away--; away == 0 {
				err = b.call(ctx, s, realtime.DefaultPresenceUpdate, map[string]string{"status": "online"})
			}
		case b.rng.IntN(240) == 0:
			err = b.call(ctx, s, "shout", shouts[b.rng.IntN(len(shouts))])
		}
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// call emits event with arg and waits up to 5 s for the answer. An error
// is one of the connection (or ctx's). A refusal, {error}, is only logged
// at debug level: a bot shrugs it off and walks on.
func (b *bot) call(ctx context.Context, s *client.Socket, event string, arg any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ack, err := s.EmitWithAck(ctx, event, arg)
	if err != nil {
		return err
	}
	var res struct{ Error string }
	if ack.Bind(&res) == nil && res.Error != "" {
		b.log.Debug("bot refused", "name", b.name, "event", event, "err", res.Error)
	}
	return nil
}

var shouts = []string{"Anyone up for coffee?", "Lovely evening, isn't it?", "Lost a blue scarf near here, seen it?", "The museum is free today!"}

// step takes one stride toward the waypoint, turning smoothly, and reports
// whether the bot moved: at the waypoint it may stand still for a while,
// then it picks the next one.
func (b *bot) step() bool {
	if b.pausing > 0 {
		b.pausing--
		return false
	}
	if spatial.Distance(b.at, b.to) <= b.stride {
		b.to = b.somewhere()
		if b.rng.IntN(3) == 0 {
			b.pausing = 10 + b.rng.IntN(50)
			return false
		}
	}
	turn := math.Remainder(bearing(b.at, b.to)-b.heading, 2*math.Pi)
	b.heading += max(-maxTurn, min(maxTurn, turn))
	b.at = offset(b.at, b.stride*math.Cos(b.heading), b.stride*math.Sin(b.heading))
	return true
}

// bearing is the direction from p to q, in radians from north, on a map
// small enough to be flat.
func bearing(p, q spatial.Point) float64 {
	north := (q.Lat - p.Lat) * perDegree
	east := (q.Lng - p.Lng) * perDegree * math.Cos(p.Lat*math.Pi/180)
	return math.Atan2(east, north)
}

// perDegree is meters per degree of latitude.
const perDegree = spatial.EarthRadius * math.Pi / 180

// offset returns the point north meters north and east meters east of p.
func offset(p spatial.Point, north, east float64) spatial.Point {
	return spatial.Point{Lat: p.Lat + north/perDegree, Lng: p.Lng + east/(perDegree*math.Cos(p.Lat*math.Pi/180))}
}
