package redis_test

import (
	"context"
	"log"
	"net/http"
	"time"

	"github.com/redis/rueidis"

	"github.com/vicinity-go/vicinity/cluster/redis"
	"github.com/vicinity-go/vicinity/realtime"
)

// A server that is one node of a cluster: run it twice, on two ports, with
// the same Redis, and a broadcast on one reaches the sockets of both.
func ExampleNewAdapter() {
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{"127.0.0.1:6379"}, DisableCache: true})
	if err != nil {
		log.Fatal(err)
	}
	defer rc.Close()
	srv := realtime.New(
		realtime.WithAdapter(redis.NewAdapter(rc)),
		realtime.WithRecovery(2*time.Minute, true), // a client recovers on any node
	)
	srv.OnConnection(func(s *realtime.Socket) {
		s.Join("lobby")
		s.On("say", func(e *realtime.Event) {
			var text string
			if e.Bind(&text) == nil {
				_ = srv.To("lobby").Emit("said", text) // every node's sockets in the lobby
			}
		})
	})
	srv.Of("/").OnServerSideEmit("reload", func(e *realtime.ServerEvent) { log.Print("another node asked for a reload") })
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", srv))
}

// A worker that is no server tells the sockets of a room, on every node.
func ExampleNewEmitter() {
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{"127.0.0.1:6379"}, DisableCache: true})
	if err != nil {
		log.Fatal(err)
	}
	defer rc.Close()
	em := redis.NewEmitter(rc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := em.Of("/chat").To("room-42").Emit(ctx, "report", map[string]int{"done": 7}); err != nil {
		log.Print(err) // wraps redis.ErrUnavailable when Redis cannot be reached
	}
	_ = em.In("room-42").SocketsJoin(ctx, "archived")
}

// A cluster on Redis 7's sharded pub/sub, with a channel per room: a
// broadcast to a room reaches only the nodes with sockets in it. Node
// servers with createShardedAdapter can join it.
func ExampleWithSharded() {
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{"127.0.0.1:6379"}, DisableCache: true})
	if err != nil {
		log.Fatal(err)
	}
	defer rc.Close()
	srv := realtime.New(realtime.WithAdapter(redis.NewAdapter(rc, redis.WithSharded(redis.Dynamic))))
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", srv))
}
