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

// startBots connects o.Bots simulated walkers to the server at url with
// vicinity's Go client, each a user like any other: they walk the city,
// now and then step away from their phone or shout. They stop when ctx
// ends; the returned function waits for them to disconnect.
func startBots(ctx context.Context, url string, o options, log *slog.Logger) (wait func()) {
	var wg sync.WaitGroup
	for i := range o.Bots {
		name := botNames[i%len(botNames)] + " (bot)"
		if i >= len(botNames) {
			name = fmt.Sprintf("%s %d (bot)", botNames[i%len(botNames)], i/len(botNames)+1)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := &bot{name: name, rng: rand.New(rand.NewPCG(uint64(i), 7)), log: log}
			if err := b.walk(ctx, url, o.BotStep); err != nil && ctx.Err() == nil {
				log.Warn("bot stopped", "name", name, "err", err)
			}
		}()
	}
	return wg.Wait
}

// bot is one simulated walker.
type bot struct {
	name    string
	rng     *rand.Rand
	at      spatial.Point
	heading float64 // radians, 0 = north
	log     *slog.Logger
}

// walk connects and takes a step every interval until ctx ends.
func (b *bot) walk(ctx context.Context, url string, interval time.Duration) error {
	m := client.New(url)
	defer m.Close()
	s := m.Socket("/", client.WithAuth(map[string]string{"name": b.name}))
	if err := s.Connect(ctx); err != nil {
		return err
	}
	// Start somewhere within 1.5 km of the center, walking any way.
	d, dir := 1500*math.Sqrt(b.rng.Float64()), 2*math.Pi*b.rng.Float64()
	b.at, b.heading = offset(berlin, d*math.Cos(dir), d*math.Sin(dir)), 2*math.Pi*b.rng.Float64()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	away := 0 // steps left away from the phone
	for {
		b.step(15)
		if err := b.call(ctx, s, "location", map[string]float64{"lat": b.at.Lat, "lng": b.at.Lng, "accuracy": 10}); err != nil {
			return err
		}
		var err error
		switch {
		case away == 0 && b.rng.IntN(40) == 0:
			away = 5 + b.rng.IntN(10)
			err = b.call(ctx, s, realtime.DefaultPresenceUpdate, map[string]string{"status": "away"})
		case away > 0:
			if away--; away == 0 {
				err = b.call(ctx, s, realtime.DefaultPresenceUpdate, map[string]string{"status": "online"})
			}
		case b.rng.IntN(60) == 0:
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

// step walks meters along the heading, veering a little, and turns back
// at the edge of the city box.
func (b *bot) step(meters float64) {
	b.heading += (b.rng.Float64() - 0.5) * 0.6
	next := offset(b.at, meters*math.Cos(b.heading), meters*math.Sin(b.heading))
	if spatial.Distance(berlin, next) > 2400 {
		b.heading += math.Pi
		return
	}
	b.at = next
}

// offset returns the point north meters north and east meters east of p.
func offset(p spatial.Point, north, east float64) spatial.Point {
	const perDegree = spatial.EarthRadius * math.Pi / 180
	return spatial.Point{Lat: p.Lat + north/perDegree, Lng: p.Lng + east/(perDegree*math.Cos(p.Lat*math.Pi/180))}
}
