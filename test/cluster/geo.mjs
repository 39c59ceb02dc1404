// geo.mjs is the Node.js side of the presence and location tests
// (geo_test.go): official socket.io-client sockets, and nothing else, on
// 127.0.0.1. It speaks peer.mjs's protocol, one JSON object a line: it
// first prints {"note":"ready","port":0}, then answers each command
// {"id":N,"op":...} read on stdin with {"id":N,"result":...} or
// {"id":N,"error":"..."}, and reports what happens meanwhile as notes:
// {"note":"event","client","event","args"} (an event a client got; it
// answers acknowledgements with "ack:"+client), {"note":"connect","client",
// "sid"} and {"note":"disconnect","client","reason"}. It exits when stdin
// closes.
//
// Commands: connect {name, url, auth, query} connects client name (no
// reconnection) and returns {id}; emit {client, event, args} emits with an
// acknowledgement and returns its first argument; close {client}
// disconnects the client.
import { createInterface } from "node:readline";
import { io as connect } from "socket.io-client";

// TIMEOUT bounds every wait of a command.
const TIMEOUT = 5000;

function send(msg) {
  process.stdout.write(JSON.stringify(msg) + "\n");
}

const clients = new Map();

function client(name) {
  const socket = clients.get(name);
  if (!socket) throw new Error(`no client ${name}`);
  return socket;
}

async function connectClient({ name, url, auth = {}, query = {} }) {
  const socket = connect(url, {
    forceNew: true,
    transports: ["websocket"],
    reconnection: false,
    timeout: TIMEOUT,
    auth,
    query,
  });
  clients.set(name, socket);
  socket.onAny((event, ...args) => {
    const cb = typeof args.at(-1) === "function" ? args.pop() : null;
    send({ note: "event", client: name, event, args });
    cb?.(`ack:${name}`);
  });
  socket.on("connect", () => send({ note: "connect", client: name, sid: socket.id }));
  socket.on("disconnect", (reason) => send({ note: "disconnect", client: name, reason }));
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  return { id: socket.id };
}

const ops = {
  connect: connectClient,
  emit: ({ client: name, event, args = [] }) => client(name).timeout(TIMEOUT).emitWithAck(event, ...args),
  close: ({ client: name }) => {
    client(name).disconnect();
  },
};

async function run(line) {
  let cmd;
  try {
    cmd = JSON.parse(line);
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

send({ note: "ready", port: 0 });
const rl = createInterface({ input: process.stdin });
rl.on("line", run);
rl.on("close", () => {
  for (const socket of clients.values()) socket.disconnect();
  process.exit(0);
});
