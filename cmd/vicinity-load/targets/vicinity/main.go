// Command vicinity is the vicinity target of vicinity-load: a Socket.IO
// server on package realtime with default options, serving
//
//   - "echo": acknowledged with its own arguments;
//   - "join" (room): joins the room, acknowledged with true;
//   - "bcast" (room, payload): emits "msg" (payload) to the room.
//
// It also serves /debug/stats (JSON: Go heap and stack bytes, goroutines,
// open connections; ?gc=1 collects garbage first) and /debug/pprof/ for the
// load tool. These live here, not in the library. It prints "LISTEN addr"
// once it accepts connections.
//
// With -redis it is one node of a cluster on that Redis (package
// cluster/redis); with -recovery it keeps sessions for connection-state
// recovery, with a send queue long enough to replay a few thousand packets.
//
// With -location-rate it is location-aware (realtime.WithSpatial, exact
// positions): clients emit "location" {"lat", "lng", "accuracy"} with an
// ack, each socket up to that many updates a second (bursts of twice as
// many, at least 5) at any speed, and
//
//   - "watch" (radius in meters): s.Watch(radius), acknowledged
//     {"ok": true} or {"error": …}.
//
// On a cluster its sockets' locations are shared with the other nodes by
// cells of 2 km (the adapter's default), and /debug/stats adds the
// adapter's "location" counters (redis.LocationStats).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"time"

	"github.com/redis/rueidis"

	"github.com/vicinity-go/vicinity/cluster/redis"
	"github.com/vicinity-go/vicinity/realtime"
	"github.com/vicinity-go/vicinity/transport"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	memProfileRate := flag.Int("memprofilerate", 0, "runtime.MemProfileRate if > 0 (1 records every allocation)")
	redisAddr := flag.String("redis", "", "join the cluster on the Redis at this host:port (package cluster/redis)")
	recovery := flag.Bool("recovery", false, "connection-state recovery (2 minutes), with a send queue of 8192 frames so that thousands of missed packets can be replayed")
	locRate := flag.Float64("location-rate", 0, "if > 0: location-aware (the \"location\" and \"watch\" events), each socket allowed this many location updates a second")
	flag.Parse()
	if *memProfileRate > 0 {
		runtime.MemProfileRate = *memProfileRate
	}

	var opts []realtime.Option
	if *redisAddr != "" {
		rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{*redisAddr}, DisableCache: true})
		if err != nil {
			log.Fatal(err)
		}
		opts = append(opts, realtime.WithAdapter(redis.NewAdapter(rc)))
	}
	if *recovery {
		opts = append(opts, realtime.WithRecovery(2*time.Minute, false),
			realtime.WithTransportOptions(transport.WithSendQueue(8192, transport.DefaultQueueBytes)))
	}
	if *locRate > 0 {
		opts = append(opts, realtime.WithSpatial(), realtime.WithLocationEvent("location"),
			realtime.WithLocationLimits(realtime.LocationLimits{
				UpdateRate:  *locRate,
				UpdateBurst: max(5, int(math.Ceil(2**locRate))),
				MaxSpeed:    math.Inf(1),
			}))
	}
	srv := realtime.New(opts...)
	srv.OnConnection(func(s *realtime.Socket) {
		if *locRate > 0 {
			s.On("watch", func(e *realtime.Event) {
				var radius float64
				if e.Bind(&radius) != nil {
					_ = e.AckResult(errors.New("expected a radius in meters"))
					return
				}
				_ = e.AckResult(s.Watch(radius))
			})
		}
		s.On("echo", func(e *realtime.Event) { _ = e.Ack(e.Values()...) })
		s.On("join", func(e *realtime.Event) {
			var room string
			if e.Bind(&room) != nil {
				return
			}
			s.Join(room)
			_ = e.Ack(true)
		})
		s.On("bcast", func(e *realtime.Event) {
			var room string
			if e.Len() < 2 || e.Bind(&room) != nil {
				return
			}
			_ = s.To(room).Emit("msg", e.JSON(1))
		})
	})

	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	mux.HandleFunc("/debug/stats", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("gc") == "1" {
			runtime.GC()
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		st := map[string]any{
			"heapAlloc":  m.HeapAlloc,
			"heapInuse":  m.HeapInuse,
			"stackInuse": m.StackInuse,
			"sys":        m.Sys,
			"goroutines": runtime.NumGoroutine(),
			"conns":      srv.Len(),
		}
		if a, ok := srv.Of("/").Adapter().(*redis.Adapter); ok && *locRate > 0 {
			st["location"] = a.LocationStats()
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(st)
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stdout, "LISTEN %s\n", ln.Addr())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(hs.Serve(ln))
}
