package main

// The live view: a read-only page for a public screen in a venue (GET
// /live) showing how many people are in each area and the latest messages
// of one area's chat, fed by Server-Sent Events (GET
// /live/events?area=<name>, an EventSource) with no Socket.IO client.
//
// The library does the streaming: realtime.Namespace.EventStream serves
// what is broadcast to some rooms, encoded once for every screen. Each
// area has a stream of its room (its "area-chat" messages) and of the room
// "live", where occupancy is broadcast; /live/events without an area
// streams "live" alone.
//
// Occupancy comes from presence: every socket is tracked in the topics of
// its rooms, so an area room's topic counts the people in the area (a
// hidden person is never tracked there). A change of any area's presence,
// on any node, makes this node broadcast the counts of every area to its
// own streams, at most once a second; a screen that connects gets the last
// counts at once (a State event of the stream).
//
// Resuming: the server recovers connections (realtime.WithRecovery), so a
// screen that reconnects, or reloads (the page keeps its last event id),
// gets the messages it missed; one away longer than the recovery window is
// told it may have missed some (the stream's "stream:reset") and goes on
// live.

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/vicinity-go/vicinity/presence"
	"github.com/vicinity-go/vicinity/realtime"
)

// liveRoom is the room every live stream follows, where occupancy is
// broadcast. No socket joins it.
const liveRoom = "live"

// maxLiveScreens bounds the screens streaming at once, per area.
const maxLiveScreens = 500

// mountLive serves the live page at /live and its streams at /live/events
// on mux, and broadcasts occupancy to them as presence changes, until the
// tracker closes.
func mountLive(mux *http.ServeMux, rt *realtime.Server, tracker *presence.Tracker, logger *slog.Logger) {
	nsp := rt.Of("/")
	opts := realtime.StreamOptions{Events: []string{"area-chat"}, State: []string{"occupancy"}, MaxClients: maxLiveScreens}
	streams := map[string]*realtime.EventStream{"": nsp.EventStream([]string{liveRoom}, opts)}
	for _, a := range areas {
		streams[a.Name] = nsp.EventStream([]string{liveRoom, realtime.AreaRoom(a.Name)}, opts)
	}
	mux.HandleFunc("GET /live", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, static, "static/live.html")
	})
	mux.HandleFunc("/live/events", func(w http.ResponseWriter, r *http.Request) {
		es, ok := streams[r.URL.Query().Get("area")]
		if !ok {
			http.Error(w, "no such area", http.StatusNotFound)
			return
		}
		es.ServeHTTP(w, r)
	})

	o := &occupancy{rt: rt, tracker: tracker, logger: logger}
	for _, a := range areas {
		tracker.Subscribe(areaTopic(a.Name), func(presence.Diff) { o.changed() })
	}
	o.publish() // the first counts, which every new screen gets
}

// areaTopic is the presence topic of area name's room in the namespace "/".
func areaTopic(name string) string { return "/#" + realtime.AreaRoom(name) }

// areaCount is the occupancy of one area, in the "occupancy" event:
// {areas: [{name, people}...], time (ms)}.
type areaCount struct {
	Name   string `json:"name"`
	People int    `json:"people"`
}

// occupancy broadcasts the people in each area to the live streams, at
// most once a second.
type occupancy struct {
	rt      *realtime.Server
	tracker *presence.Tracker
	logger  *slog.Logger

	mu      sync.Mutex
	pending bool      // a publish is scheduled
	at      time.Time // of the last publish

	pub  sync.Mutex // one publish at a time, so counts go out in order
	last []areaCount
}

// changed schedules a publish, a second after the last one at the
// earliest; one already scheduled covers this change too.
func (o *occupancy) changed() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.pending {
		return
	}
	o.pending = true
	time.AfterFunc(max(0, time.Until(o.at.Add(time.Second))), o.publish)
}

// publish broadcasts the current counts, if they changed, to the live
// streams of this node (every node does so for its own).
func (o *occupancy) publish() {
	o.mu.Lock()
	o.pending, o.at = false, time.Now()
	o.mu.Unlock()
	o.pub.Lock()
	defer o.pub.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts := make([]areaCount, 0, len(areas))
	for _, a := range areas {
		occ, err := o.tracker.Occupancy(ctx, areaTopic(a.Name))
		if err != nil {
			if !errors.Is(err, presence.ErrClosed) {
				o.logger.Warn("live: occupancy", "area", a.Name, "err", err)
			}
			return
		}
		counts = append(counts, areaCount{Name: a.Name, People: occ.Users})
	}
	if o.last != nil && slices.Equal(counts, o.last) {
		return
	}
	o.last = counts
	err := o.rt.To(liveRoom).Local().Emit("occupancy", map[string]any{"areas": counts, "time": time.Now().UnixMilli()})
	if err != nil {
		o.logger.Warn("live: occupancy", "err", err)
	}
}
