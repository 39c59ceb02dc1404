// The Node socket.io target of vicinity-load: default options, the same
// events as the vicinity target ("echo" acknowledged with its arguments,
// "join" room, "bcast" room payload -> "msg" to the room), /debug/stats
// (process memory; ?gc=1 collects first when run with --expose-gc), and
// "LISTEN addr" on stdout once listening.
//
// With a second argument, a Redis host:port, it is one node of a cluster:
// @socket.io/redis-adapter on two node-redis clients (publish, subscribe),
// listening once both are connected.
const http = require("http");
const { Server } = require("socket.io");

const addr = process.argv[2] || "127.0.0.1:0";
const redisAddr = process.argv[3];
const [host, port] = [addr.slice(0, addr.lastIndexOf(":")), Number(addr.slice(addr.lastIndexOf(":") + 1))];

const httpServer = http.createServer((req, res) => {
  if (req.url.startsWith("/debug/stats")) {
    if (req.url.includes("gc=1") && global.gc) global.gc();
    const m = process.memoryUsage();
    res.setHeader("Content-Type", "application/json");
    res.end(JSON.stringify({ rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, conns: io.engine.clientsCount }));
    return;
  }
  res.statusCode = 404;
  res.end();
});
const io = new Server(httpServer);
io.on("connection", (socket) => {
  socket.on("echo", (...args) => {
    const cb = args.pop();
    if (typeof cb === "function") cb(...args);
  });
  socket.on("join", (room, cb) => {
    socket.join(room);
    if (typeof cb === "function") cb(true);
  });
  socket.on("bcast", (room, data) => {
    socket.to(room).emit("msg", data);
  });
});

async function main() {
  if (redisAddr) {
    const { createAdapter } = require("@socket.io/redis-adapter");
    const { createClient } = require("redis");
    const pubClient = createClient({ url: `redis://${redisAddr}` });
    const subClient = pubClient.duplicate();
    for (const c of [pubClient, subClient]) c.on("error", (err) => console.error("redis:", err.message));
    await Promise.all([pubClient.connect(), subClient.connect()]);
    io.adapter(createAdapter(pubClient, subClient));
  }
  httpServer.listen(port, host, () => {
    const a = httpServer.address();
    process.stdout.write(`LISTEN ${a.address}:${a.port}\n`);
  });
}
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
