// Shared helpers of the compatibility suite. The server is started by
// compat_test.go, which passes its address in VICINITY_URL.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { io, Manager } from "socket.io-client";
import msgpackParser from "socket.io-msgpack-parser";

export const URL = process.env.VICINITY_URL;
if (!URL) {
  throw new Error(
    "VICINITY_URL is not set: run the suite with `go test ./test/compat/`, which starts the server",
  );
}

// Paths of the three servers compat_test.go mounts.
export const MAIN = "/socket.io/";
export const RECOVERY = "/recovery/";
export const RESTART = "/restart/";
export const PRESENCE = "/presence/";
export const SPATIAL = "/spatial/";

// TIMEOUT bounds every wait for the server.
export const TIMEOUT = 5000;

// MODES are the client configurations each scenario runs with. Their names
// end the clients' tags, which compat_test.go checks server-side.
export const MODES = [
  { name: "default", opts: {} }, // long-polling, then the upgrade to WebSocket
  { name: "websocket", opts: { transports: ["websocket"] } },
  { name: "polling", opts: { transports: ["polling"] } },
];

// Client options of every test: a new Manager per client (no sharing
// between tests) and quick, deterministic reconnection.
const base = {
  forceNew: true,
  reconnectionDelay: 50,
  reconnectionDelayMax: 200,
  randomizationFactor: 0,
  timeout: TIMEOUT,
};

export const unique = (prefix) => `${prefix}-${randomUUID().slice(0, 8)}`;

// waitFor resolves with the arguments of the next `event` of emitter for
// which filter(...args) holds, and rejects after ms, or at once when one of
// failOn is emitted first.
export function waitFor(emitter, event, { ms = TIMEOUT, filter = () => true, failOn = [] } = {}) {
  return new Promise((resolve, reject) => {
    const listeners = [];
    const done = () => {
      clearTimeout(timer);
      for (const [ev, fn] of listeners) emitter.off(ev, fn);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no "${event}" within ${ms}ms`));
    }, ms);
    const on = (...args) => {
      if (!filter(...args)) return;
      done();
      resolve(args);
    };
    listeners.push([event, on]);
    for (const ev of failOn) {
      const fail = (err) => {
        done();
        reject(new Error(`"${ev}" while waiting for "${event}": ${err?.message ?? err}`, { cause: err }));
      };
      listeners.push([ev, fail]);
    }
    for (const [ev, fn] of listeners) emitter.on(ev, fn);
  });
}

// client opens a socket to namespace nsp and disconnects it when test t
// ends.
export function client(t, nsp = "/", opts = {}) {
  const socket = io(URL + nsp, { ...base, ...opts });
  t.after(() => socket.disconnect());
  return socket;
}

// manager returns a Manager whose sockets are closed when test t ends.
export function manager(t, opts = {}) {
  const m = new Manager(URL, { ...base, ...opts });
  t.after(() => {
    for (const nsp of Object.keys(m.nsps)) m.nsps[nsp].disconnect();
    m._close();
  });
  return m;
}

// upgraded resolves once engine runs on WebSocket.
export function upgraded(engine) {
  if (engine.transport?.name === "websocket") return Promise.resolve();
  return waitFor(engine, "upgrade", { failOn: ["upgradeError"] });
}

// connected resolves with a socket once it is connected and, with the
// default transports, upgraded to WebSocket, so that what the test does next
// does not race the upgrade (the connect test and the known-issue tests
// cover that race).
export async function connected(t, nsp = "/", opts = {}) {
  const socket = client(t, nsp, opts);
  const ready = opts.transports ? Promise.resolve() : upgraded(socket.io.engine);
  await waitFor(socket, "connect", { failOn: ["connect_error"] });
  await ready;
  return socket;
}

// ack emits event with args and resolves with every argument of the
// acknowledgement (emitWithAck keeps only the first).
export function ack(socket, event, ...args) {
  return new Promise((resolve, reject) => {
    socket.timeout(TIMEOUT).emit(event, ...args, (err, ...res) => (err ? reject(err) : resolve(res)));
  });
}

// eventsUntil collects the events socket receives, as [name, ...args],
// until the "barrier" carrying token, which it leaves out.
export function eventsUntil(socket, token, ms = TIMEOUT) {
  return new Promise((resolve, reject) => {
    const seen = [];
    const timer = setTimeout(() => {
      socket.offAny(on);
      reject(new Error(`no barrier ${token} within ${ms}ms; got ${JSON.stringify(seen)}`));
    }, ms);
    const on = (event, ...args) => {
      if (event === "barrier" && args[0] === token) {
        clearTimeout(timer);
        socket.offAny(on);
        resolve(seen);
      } else if (event !== "barrier") {
        seen.push([event, ...args]);
      }
    };
    socket.onAny(on);
  });
}

// bytes returns a Buffer view of received binary data (a Buffer or an
// ArrayBuffer, depending on the transport).
export const bytes = (data) => Buffer.from(data);

// Paths of the servers added for issue 9: an event rate of 1/s (burst 1),
// the msgpack parser, and Socket.IO 2 clients (Engine.IO v3) allowed.
export const LIMITED = "/limited/";
export const MSGPACK = "/msgpack/";
export const EIO3 = "/eio3/";

// kind names what a received value is, for assertion messages.
export function kind(x) {
  if (Buffer.isBuffer(x)) return `Buffer(${x.toString("hex")})`;
  if (x instanceof ArrayBuffer) return `ArrayBuffer(${Buffer.from(x).toString("hex")})`;
  if (ArrayBuffer.isView(x)) return `${x.constructor.name}(${Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString("hex")})`;
  return `${typeof x} ${JSON.stringify(x)}`;
}

// isBinaryValue reports whether x is binary data as the clients send it.
const isBinaryValue = (x) => Buffer.isBuffer(x) || x instanceof ArrayBuffer || ArrayBuffer.isView(x);

// hexOf returns the bytes of binary data (Buffer, typed array, ArrayBuffer,
// array of numbers) as hex.
const hexOf = (x) =>
  ArrayBuffer.isView(x) ? Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString("hex") : Buffer.from(x).toString("hex");

// assertBuffer asserts that got is a Buffer (what socket.io-client in node
// makes of every binary attachment, with the Node.js server too) holding
// the bytes of want.
export function assertBuffer(got, want, what = "binary data") {
  assert.ok(Buffer.isBuffer(got), `${what}: want a Buffer, got ${kind(got)}`);
  assert.equal(got.toString("hex"), hexOf(want), `${what}: bytes`);
}

// assertSameData asserts that got has the shape and values of want, with a
// Buffer of the same bytes wherever want has binary data (a Buffer, a typed
// array or an ArrayBuffer): never a base64 string or a placeholder.
export function assertSameData(got, want, path = "$") {
  if (isBinaryValue(want)) {
    assertBuffer(got, want, path);
  } else if (Array.isArray(want)) {
    assert.ok(Array.isArray(got), `${path}: want an array, got ${kind(got)}`);
    assert.equal(got.length, want.length, `${path}: length`);
    want.forEach((w, i) => assertSameData(got[i], w, `${path}[${i}]`));
  } else if (want !== null && typeof want === "object") {
    assert.ok(got !== null && typeof got === "object" && !isBinaryValue(got), `${path}: want an object, got ${kind(got)}`);
    assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort(), `${path}: keys`);
    for (const k of Object.keys(want)) assertSameData(got[k], want[k], `${path}.${k}`);
  } else {
    assert.equal(got, want, path);
  }
}

// PARSERS are the two wire formats: socket.io-parser's JSON (the main
// server) and socket.io-msgpack-parser (the msgpack server). Spread a
// parser's opts into the client options.
export const PARSERS = [
  { name: "json", opts: {} },
  { name: "msgpack", opts: { path: MSGPACK, parser: msgpackParser } },
];
