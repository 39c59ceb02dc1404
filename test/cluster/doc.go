// Package cluster holds the interoperability tests of cluster/redis with
// real Node.js peers, pinned by package-lock.json: a socket.io 4.8 server
// with @socket.io/redis-adapter 8.3.0 (node-redis v4 clients),
// @socket.io/redis-emitter 5.1.0, and the official socket.io-client 4.8.4.
// It has no API.
//
// Each test starts a redis-server on a free loopback port
// (internal/redistest), two vicinity servers A and B with the Redis
// adapter, and peer.mjs: the Node server and the official clients in one
// node process, driven over its stdin and stdout, one JSON object a line
// (see peer.mjs). The clients connect to every server; what each gets is
// reported back and checked here. TestServerKilledMidRequest and
// TestRecoveryAfterKill run a third vicinity server in a process of its
// own (this test binary, re-run as a server) to stop and kill it; the
// other recovery tests start a third in the test's process. Recovering
// clients connect through a load balancer (internal/balancertest) that the
// test repoints, makes refuse new connections, and cuts.
//
// # Modes
//
// Most scenarios run once per mode, as subtests named after it: "classic"
// (createAdapter; vicinity's default), and the three subscription modes of
// createShardedAdapter over Redis 7's sharded pub/sub, "dynamic",
// "static" and "dynamic-private" (redis.WithSharded on the vicinity side,
// ADAPTER_MODE for peer.mjs). In the dynamic modes a server subscribes to
// a room's channel only once a socket of its own is in the room, and
// misses what is published to the room before: Node's adapter answers a
// join before it has subscribed, and a server that another's socketsJoin
// puts in a room cannot have subscribed before that server's next
// broadcast (the same with Node servers only). So the tests wait for
// PUBSUB SHARDNUMSUB to count the servers expected (cluster.waitSubscribed)
// before broadcasting to such a room.
//
// # Running
//
//	scripts/deps.sh test        # or: (cd test/cluster && npm ci)
//	go test -race ./test/cluster/
//
// Without node, the npm packages or redis-server the tests skip, unless
// VICINITY_REQUIRE_NODE=1 is set (as by `make test` and CI), when they
// fail.
//
// # Scenarios
//
// In every mode: broadcasts both ways (rooms, except, volatile, another
// namespace, binary data arriving as Buffers); fetchSockets both ways (ids,
// rooms, handshake, data; Node's RemoteSocket.emit and vicinity's
// RemoteSocket.Emit and Join); socketsJoin, socketsLeave and
// disconnectSockets both ways; server-side emits both ways, with
// acknowledgements; broadcasts with acknowledgements both ways; vicinity's
// Emitter into the rooms and namespaces of the Node server and of vicinity
// servers; connection-state recovery on another vicinity server (three
// vicinity servers with realtime.WithRecovery), after the first was shut
// down and after it was killed with SIGKILL (socket.recovered, the same
// socket.id, data and rooms, every missed broadcast once, in order, binary
// data included). In classic mode only: a client back after the recovery
// log dropped what it missed starts afresh; the npm emitter into vicinity
// rooms and namespaces (it has no sharded mode); Redis restarted mid-test (see
// pending_sharded_test.go.txt for the sharded modes); FetchSockets while
// Redis is down or a server is frozen; a vicinity server killed while
// another's FetchSockets waits for it.
//
// # Presence and location across vicinity servers
//
// geo_test.go and geo_kill_linux_test.go run two or three vicinity servers
// with the Redis presence store and location shared by cell (500 m cells),
// and geo.mjs: official clients only, driven as peer.mjs's are. Clients on
// different servers see one presence (joins, status updates, leaves, last
// seen asked on another server); a watcher sees another server's client
// enter, move and leave as it walks across cells, leave "hidden" when it
// hides, and only its cell's center when it coarsens, while the cell
// hashes in Redis never hold its exact coordinates nor anything while it
// is hidden; area rooms and their presence fill from every server; Near
// broadcasts and Nearby reach across; and a server killed with SIGKILL
// has its clients leave the others' watches ("disconnected") and presence,
// and its records leave Redis.
package cluster
