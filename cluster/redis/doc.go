// Package redis runs several vicinity servers as one Socket.IO server over
// Redis: a cluster adapter for [realtime.WithAdapter] that speaks the
// protocol of Node's @socket.io/redis-adapter (8.x), so that Node servers
// with that adapter, and @socket.io/redis-emitter, share a cluster with
// vicinity servers.
//
//	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{"127.0.0.1:6379"}})
//	…
//	srv := realtime.New(realtime.WithAdapter(redis.NewAdapter(rc)))
//
// The client is github.com/redis/rueidis: it pipelines concurrent publishes
// on one connection (twice go-redis's broadcast rate with 16 publishers
// here, with no allocation per publish) and fails at once while Redis is
// down rather than waiting for a deadline.
//
// # Protocol
//
// For namespace N and key K ("socket.io" by default, [WithKey]):
//
//   - K#N# carries broadcasts, K#N#room# those to exactly one room, each a
//     msgpack array [uid, packet, opts] (the Socket.IO packet object, binary
//     data inline; opts {rooms, except, flags}); servers subscribe to the
//     pattern K#N#*;
//   - K-request#N# carries requests (fetch sockets, sockets join/leave,
//     disconnect sockets, server-side emits, broadcasts with
//     acknowledgements), JSON objects or msgpack maps;
//   - K-response#N# and K-response#N#uid# carry the answers;
//   - K-vicinity#N# is vicinity's own: its servers' heartbeats, and
//     broadcasts to the sockets near a place (Near), which Node servers
//     would not know to filter.
//
// Flags vicinity adds to a broadcast's opts are ignored by Node servers:
// vicinityLatest (an EmitLatest, which they deliver as a volatile
// broadcast), vicinityNear (on vicinity's channel only) and vicinityOffset
// (a recoverable broadcast's offset).
//
// With [WithSharded], the protocol is createShardedAdapter's: Redis 7's
// sharded pub/sub (SSUBSCRIBE, SPUBLISH) and socket.io-adapter's
// ClusterAdapter messages ({uid, nsp, type, data}) on K#N# (requests and
// broadcasts), K#N#uid# (answers) and, in the dynamic modes, K#N#room#
// (broadcasts to one room, received by the servers with sockets in it, or
// a realtime.EventStream following it).
// On a Redis Cluster each shard channel is subscribed to on its shard's
// node, and messages on different channels are not ordered among
// themselves.
//
// # Recovery
//
// With [realtime.WithRecovery], recoverable broadcasts go to a Redis stream
// per namespace (K-recovery#N#, its entry ids being the offsets, about
// [WithRecoveryLog] packets and none older than the recovery window), added
// and published by one script, so that every server, the sender included,
// delivers them in the stream's order. Sessions live in keys
// (K-session#N#pid) that expire: written at disconnect, and for connected
// sockets within a second of a change of rooms and every half window, so a
// client recovers on any server even after its own was killed. A restored
// socket is caught up, when it joins its rooms, on what reached them while
// it was being restored. A client whose offset or session is gone starts
// afresh. Broadcasts from Node servers and emitters, and Near broadcasts,
// are not replayed.
//
// # Presence
//
// [NewPresenceStore] keeps presence ([presence.Store]) in Redis, for the
// trackers of every server: one Lua script per change, numbered and
// published on the topic's channel (K-presence#topic), so that every
// server delivers a topic's diffs in one order; node heartbeats (3 s, dead
// after 10 s by default, [presence.WithHeartbeat]) remove the members of a
// server that was killed; occupancy (users, connections) is counted as
// members change. A server reads a topic again when it may have missed
// changes, and its tracker tracks its connections again when Redis forgot
// them. See [PresenceStore].
//
// # Servers and requests
//
// A request waits for the answers of the other servers: the Node servers
// subscribed to the request channel (PUBSUB NUMSUB, as Node's adapter
// counts) and the vicinity servers heard of within the heartbeat timeout
// ([WithHeartbeat]: every 5 s, dropped after 10 s of silence; in a
// server's first 10 s, every vicinity server subscribed). A server
// that crashed is no longer counted once Redis sees its connection close;
// one that froze but keeps its connection, after the heartbeat timeout.
// No request waits longer than its context or the request timeout
// ([WithRequestTimeout], 5 s); one that ends with answers missing returns
// what it got and an error wrapping [ErrTimeout].
//
// An adapter subscribes in the background: the factory does not wait for
// Redis, since a dynamic namespace's first connection runs it on its read
// loop. Broadcasts are queued, in order, and sent in pipelined batches by
// one goroutine per factory; a broadcast waits only when 8,192 commands are
// queued. In the sharded dynamic modes, a join that makes a room new on a
// server waits, up to a second, until the server listens to the room's
// channel; so does making an EventStream.
//
// # When Redis is unreachable
//
// Each server keeps serving its own sockets. A broadcast reaches this
// server's sockets and returns an error wrapping [ErrUnavailable]; so do
// the other operations, after acting on this server's sockets, and
// requests return this server's part. Nothing waits for Redis on a
// connection's read loop. The subscription connection is made again, with
// every subscription, as soon as Redis answers (pauses from 50 ms to 2 s);
// what was published meanwhile is lost, as with Node's adapter: Redis
// pub/sub keeps nothing.
package redis
