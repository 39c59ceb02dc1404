// peer.mjs is the Node.js side of the cluster tests, started by
// cluster_test.go with REDIS_URL set: a Socket.IO 4.8 server with
// @socket.io/redis-adapter (node-redis v4 clients), an
// @socket.io/redis-emitter, and official socket.io-client sockets, all on
// one Redis and 127.0.0.1.
//
// ADAPTER_MODE picks the adapter: "classic" (the default) for createAdapter,
// or "dynamic", "static" or "dynamic-private" for createShardedAdapter with
// that subscriptionMode (Redis 7 SSUBSCRIBE/SPUBLISH). The npm emitter has
// no sharded mode: in those its commands fail.
//
// Protocol, one JSON object a line. It first prints {"note":"ready","port":P}
// (its server's port), then answers each command {"id":N,"op":...} read on
// stdin with {"id":N,"result":...} or {"id":N,"error":"..."}, and reports
// what happens meanwhile as notes: {"note":"event","client","event","args"}
// (an event a client got; it answers acknowledgements with "ack:"+client;
// with connection-state recovery the last argument of a broadcast is its
// offset), {"note":"connect","client","sid","recovered"} (each time a client
// connects: its socket.id and socket.recovered),
// {"note":"disconnect","client","reason"}, and {"note":"serverSideEmit",
// "event","args"} (a server-side event the server got). Binary values are
// {"$bin":base64,"kind":"Buffer"|"ArrayBuffer"|...} both ways (kind only
// out). It exits when stdin closes.
import { createServer } from "node:http";
import { createInterface } from "node:readline";
import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import { Emitter } from "@socket.io/redis-emitter";
import { createClient } from "redis";
import { Server } from "socket.io";
import { io as connect } from "socket.io-client";

const REDIS_URL = process.env.REDIS_URL;
if (!REDIS_URL) {
  throw new Error("REDIS_URL is not set: run `go test ./test/cluster/`, which starts Redis and this script");
}
// TIMEOUT bounds every wait of a command.
const TIMEOUT = 5000;
const MODE = process.env.ADAPTER_MODE || "classic";
const SHARDED = ["dynamic", "static", "dynamic-private"];
if (MODE !== "classic" && !SHARDED.includes(MODE)) {
  throw new Error(`ADAPTER_MODE ${MODE}: want classic or one of ${SHARDED.join(", ")}`);
}

function binary(v) {
  if (Buffer.isBuffer(v)) return { $bin: v.toString("base64"), kind: "Buffer" };
  if (v instanceof ArrayBuffer) return { $bin: Buffer.from(v).toString("base64"), kind: "ArrayBuffer" };
  if (ArrayBuffer.isView(v)) {
    return { $bin: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64"), kind: v.constructor.name };
  }
  return undefined;
}

function send(msg) {
  // the replacer sees what toJSON made of a Buffer; this[key] is the Buffer
  const line = JSON.stringify(msg, function (key, value) {
    return binary(this[key]) ?? value;
  });
  process.stdout.write(line + "\n");
}

const revive = (_key, v) => (v !== null && typeof v === "object" && typeof v.$bin === "string" ? Buffer.from(v.$bin, "base64") : v);

// splitAck takes the acknowledgement callback off the end of args.
function splitAck(args) {
  return typeof args.at(-1) === "function" ? [args.slice(0, -1), args.at(-1)] : [args, null];
}

const pub = createClient({ url: REDIS_URL });
const sub = pub.duplicate();
for (const c of [pub, sub]) c.on("error", () => {}); // node-redis reconnects by itself
await Promise.all([pub.connect(), sub.connect()]);

const httpServer = createServer();
const io = new Server(httpServer, {
  adapter:
    MODE === "classic"
      ? createAdapter(pub, sub, { requestsTimeout: 2000 })
      : // no requestsTimeout: fetchSockets waits for its own timeout, or 5 s
        createShardedAdapter(pub, sub, { subscriptionMode: MODE }),
});
for (const nsp of [io.of("/"), io.of("/other")]) {
  nsp.on("connection", (socket) => {
    socket.data = socket.handshake.auth?.data ?? {};
    socket.on("join", (rooms, cb) => {
      socket.join(rooms);
      cb?.(null);
    });
  });
  for (const event of ["hello", "ready"]) {
    nsp.on(event, (...all) => {
      const [args, cb] = splitAck(all);
      if (event === "hello") send({ note: "serverSideEmit", event, args });
      cb?.({ from: "node" });
    });
  }
}
// the npm emitter speaks the classic protocol only
const emitter = MODE === "classic" ? new Emitter(pub) : null;
function emitterOf(nsp) {
  if (!emitter) throw new Error(`@socket.io/redis-emitter has no ${MODE} mode`);
  return emitter.of(nsp);
}

// select applies a command's rooms, except and volatile to a namespace (of
// the server or of the emitter).
function select(target, { rooms, except, volatile }) {
  let op = target.to(rooms ?? []).except(except ?? []);
  if (volatile) op = op.volatile;
  return op;
}

const clients = new Map();

// connectClient connects client name to url. With reconnect, it
// reconnects by itself, every 50 to 200 ms, and recovers its connection
// state where the server allows (socket.recovered).
async function connectClient({ name, url, rooms, data, reconnect = false }) {
  const socket = connect(url, {
    forceNew: true,
    transports: ["websocket"],
    reconnection: reconnect,
    reconnectionDelay: 50,
    reconnectionDelayMax: 200,
    timeout: TIMEOUT,
    auth: { data: data ?? {} },
  });
  clients.set(name, socket);
  socket.onAny((event, ...all) => {
    const [args, cb] = splitAck(all);
    send({ note: "event", client: name, event, args });
    cb?.(`ack:${name}`);
  });
  socket.on("connect", () => send({ note: "connect", client: name, sid: socket.id, recovered: socket.recovered }));
  socket.on("disconnect", (reason) => send({ note: "disconnect", client: name, reason }));
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  if (rooms?.length > 0) await socket.timeout(TIMEOUT).emitWithAck("join", rooms);
  return { id: socket.id };
}

const remote = (s) => ({ id: s.id, rooms: [...s.rooms], handshake: s.handshake, data: s.data });

const ops = {
  connect: connectClient,
  emit: ({ nsp = "/", event, args = [], ...sel }) => {
    select(io.of(nsp), sel).emit(event, ...args);
  },
  emitWithAck: ({ nsp = "/", event, args = [], timeout, ...sel }) =>
    select(io.of(nsp).timeout(timeout), sel).emitWithAck(event, ...args),
  fetchSockets: async ({ nsp = "/", ...sel }) => (await select(io.of(nsp), sel).fetchSockets()).map(remote),
  // emits to each socket fetchSockets finds, through its RemoteSocket
  fetchAndEmit: async ({ nsp = "/", event, args = [], ...sel }) => {
    const sockets = await select(io.of(nsp), sel).fetchSockets();
    for (const s of sockets) s.emit(event, ...args);
    return sockets.map((s) => s.id);
  },
  socketsJoin: ({ nsp = "/", join, ...sel }) => select(io.of(nsp), sel).socketsJoin(join),
  socketsLeave: ({ nsp = "/", leave, ...sel }) => select(io.of(nsp), sel).socketsLeave(leave),
  disconnectSockets: ({ nsp = "/", close = false, ...sel }) => select(io.of(nsp), sel).disconnectSockets(close),
  serverSideEmitWithAck: ({ nsp = "/", event, args = [] }) => io.of(nsp).serverSideEmitWithAck(event, ...args),
  // the emitter's operations
  emitterEmit: ({ nsp = "/", event, args = [], ...sel }) => {
    select(emitterOf(nsp), sel).emit(event, ...args);
  },
  emitterSocketsJoin: ({ nsp = "/", join, ...sel }) => select(emitterOf(nsp), sel).socketsJoin(join),
  emitterSocketsLeave: ({ nsp = "/", leave, ...sel }) => select(emitterOf(nsp), sel).socketsLeave(leave),
  emitterDisconnectSockets: ({ nsp = "/", close = false, ...sel }) =>
    select(emitterOf(nsp), sel).disconnectSockets(close),
  emitterServerSideEmit: ({ nsp = "/", event, args = [] }) => {
    emitterOf(nsp).serverSideEmit(event, ...args);
  },
};

async function run(line) {
  let cmd;
  try {
    cmd = JSON.parse(line, revive);
  } catch (err) {
    send({ note: "bad", error: String(err) });
    return;
  }
  const { id, op, ...params } = cmd;
  try {
    if (!ops[op]) throw new Error(`unknown op ${op}`);
    const result = await ops[op](params);
    send({ id, result: result ?? null });
  } catch (err) {
    send({ id, error: err?.message ?? String(err) });
  }
}

httpServer.listen(0, "127.0.0.1", () => {
  send({ note: "ready", port: httpServer.address().port });
  const rl = createInterface({ input: process.stdin });
  rl.on("line", run);
  rl.on("close", () => process.exit(0));
});
