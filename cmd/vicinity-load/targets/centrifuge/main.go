// Command centrifuge is the Centrifuge target of vicinity-load, in its own
// module so that the main module never requires Centrifuge. Clients speak
// Centrifuge's JSON protocol over WebSocket on /connection/websocket:
// anonymous connect, RPC "echo" answered with its data, subscribe to any
// channel, publish to any channel. It serves /debug/stats like the vicinity
// target and prints "LISTEN addr". With -redis it is one node of a cluster
// with Centrifuge's Redis broker on that Redis.
package main

import (
	"context"
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

	"github.com/centrifugal/centrifuge"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	memProfileRate := flag.Int("memprofilerate", 0, "runtime.MemProfileRate if > 0 (1 records every allocation)")
	redisAddr := flag.String("redis", "", "Centrifuge's Redis broker on the Redis at this host:port")
	flag.Parse()
	if *memProfileRate > 0 {
		runtime.MemProfileRate = *memProfileRate
	}

	node, err := centrifuge.New(centrifuge.Config{LogLevel: centrifuge.LogLevelNone})
	if err != nil {
		log.Fatal(err)
	}
	node.OnConnecting(func(ctx context.Context, e centrifuge.ConnectEvent) (centrifuge.ConnectReply, error) {
		return centrifuge.ConnectReply{Credentials: &centrifuge.Credentials{UserID: ""}}, nil
	})
	node.OnConnect(func(c *centrifuge.Client) {
		c.OnRPC(func(e centrifuge.RPCEvent, cb centrifuge.RPCCallback) {
			cb(centrifuge.RPCReply{Data: e.Data}, nil)
		})
		c.OnSubscribe(func(e centrifuge.SubscribeEvent, cb centrifuge.SubscribeCallback) {
			cb(centrifuge.SubscribeReply{}, nil)
		})
		c.OnPublish(func(e centrifuge.PublishEvent, cb centrifuge.PublishCallback) {
			cb(centrifuge.PublishReply{}, nil)
		})
	})
	if *redisAddr != "" {
		shard, err := centrifuge.NewRedisShard(node, centrifuge.RedisShardConfig{Address: *redisAddr})
		if err != nil {
			log.Fatal(err)
		}
		broker, err := centrifuge.NewRedisBroker(node, centrifuge.RedisBrokerConfig{Shards: []*centrifuge.RedisShard{shard}})
		if err != nil {
			log.Fatal(err)
		}
		node.SetBroker(broker)
	}
	if err := node.Run(); err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.Handle("/connection/websocket", centrifuge.NewWebsocketHandler(node, centrifuge.WebsocketConfig{}))
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
			"conns":      node.Hub().NumClients(),
		})
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stdout, "LISTEN %s\n", ln.Addr())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(hs.Serve(ln))
}
