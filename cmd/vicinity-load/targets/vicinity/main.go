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
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
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
	srv := realtime.New(opts...)
	srv.OnConnection(func(s *realtime.Socket) {
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
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"heapAlloc":  m.HeapAlloc,
			"heapInuse":  m.HeapInuse,
			"stackInuse": m.StackInuse,
			"sys":        m.Sys,
			"goroutines": runtime.NumGoroutine(),
			"conns":      srv.Len(),
		})
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
