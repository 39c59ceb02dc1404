// Socket.IO 2 clients: socket.io-client 2.5.0 (Engine.IO v3, Socket.IO
// protocol v4) against a server with realtime.WithAllowEIO3(true), as the
// Node.js server with allowEIO3. Such a client is in "/" as soon as its
// connection opens, a namespace's query is its auth, a refusal is an
// "error" event with the data, and there is no recovery. Its API is older:
// no emitWithAck, no timeout(), no onAny.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import io2 from "socket.io-client-v2";
import { EIO3, MODES, TIMEOUT, URL, assertSameData, unique, upgraded, waitFor } from "./helpers.mjs";

const base = {
  path: EIO3,
  forceNew: true,
  reconnectionDelay: 50,
  reconnectionDelayMax: 200,
  randomizationFactor: 0,
  timeout: TIMEOUT,
};

// client2 opens a Socket.IO 2 socket to nsp, closed when test t ends.
function client2(t, nsp = "/", opts = {}) {
  const socket = io2(URL + nsp, { ...base, ...opts });
  t.after(() => socket.close());
  return socket;
}

// connected2 resolves with a socket once it is connected and, with the
// default transports, upgraded.
async function connected2(t, nsp = "/", opts = {}) {
  const socket = client2(t, nsp, opts);
  const ready = opts.transports ? null : upgraded(socket.io.engine);
  await waitFor(socket, "connect", { failOn: ["connect_error", "error"] });
  await ready;
  return socket;
}

// ack2 emits event and resolves with the acknowledgement's arguments.
function ack2(socket, event, ...args) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no acknowledgement of "${event}" within ${TIMEOUT}ms`)), TIMEOUT);
    socket.emit(event, ...args, (...res) => {
      clearTimeout(timer);
      resolve(res);
    });
  });
}

// until collects events among names, as [name, ...args], until "barrier"
// with token.
function until(socket, names, token) {
  return new Promise((resolve, reject) => {
    const seen = [];
    const listeners = names.map((name) => [name, (...args) => seen.push([name, ...args])]);
    const done = () => {
      clearTimeout(timer);
      for (const [name, fn] of listeners) socket.off(name, fn);
      socket.off("barrier", barrier);
    };
    const barrier = (tok) => {
      if (tok !== token) return;
      done();
      resolve(seen);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no barrier ${token} within ${TIMEOUT}ms; got ${JSON.stringify(seen)}`));
    }, TIMEOUT);
    for (const [name, fn] of listeners) socket.on(name, fn);
    socket.on("barrier", barrier);
  });
}

for (const mode of MODES) {
  const transport = mode.opts.transports?.[0] ?? "websocket";
  describe(`Socket.IO 2 client (${mode.name})`, () => {
    test("is in the main namespace as soon as it connects", async (t) => {
      const socket = await connected2(t, "/", { ...mode.opts, query: { q: "1" } });
      const [who] = await ack2(socket, "whoami");
      assert.equal(who.nsp, "/");
      assert.equal(typeof who.id, "string");
      assert.equal(who.transport, transport);
      assert.deepEqual(who.auth, {}, "no auth in the main namespace");
      assert.equal(who.query.EIO[0], "3");
      assert.equal(who.query.q[0], "1");
      const [info] = await ack2(socket, "conn-info");
      assert.equal(info.protocol, 3);
      assert.equal(info.transport, transport);
      assert.equal(info.id, socket.io.engine.id);
      const [hs] = await ack2(socket, "handshake");
      assert.deepEqual(hs.auth, {});
      assert.equal(hs.query.EIO, "3");
    });

    test("a namespace's query is its auth; middleware sees it", async (t) => {
      const socket = await connected2(t, "/nsp", { ...mode.opts, query: { token: "x" } });
      const [who] = await ack2(socket, "whoami");
      assert.equal(who.nsp, "/nsp");
      assert.deepEqual(who.auth, { token: "x" });
      const refused = client2(t, "/nsp", { ...mode.opts, query: { token: "y" } });
      const [data] = await waitFor(refused, "error", { failOn: ["connect"] });
      assert.deepEqual(data, { code: 401 }, "the ConnectError's data");
      const plain = client2(t, "/nsp", { ...mode.opts, query: { token: "plain" } });
      const [message] = await waitFor(plain, "error", { failOn: ["connect"] });
      assert.equal(message, "plain refusal", "a plain error's message, as Node's err.data || err.message");
    });

    test("events and acknowledgements both ways", async (t) => {
      const socket = await connected2(t, "/", mode.opts);
      const args = [1, "two", { three: [3, 3.5] }, null, true, "ünïcødé"];
      assert.deepEqual(await ack2(socket, "echo", ...args), args);
      assert.deepEqual(await ack2(socket, "echo"), []);
      socket.on("question", (a, b, answer) => answer(`${a}+${b}`));
      assert.deepEqual(await ack2(socket, "ask-inline", 1, 2), ["1+2"]);
    });

    test("binary data at the top level and nested", async (t) => {
      const socket = await connected2(t, "/", mode.opts);
      const args = [Buffer.from([1, 2, 3]), { a: [Buffer.from([4]), { b: new Uint8Array([5, 6]).buffer }] }, "s"];
      assertSameData(await ack2(socket, "echo", ...args), args);
      const [shapes] = await ack2(socket, "bin-types", ...args);
      assert.deepEqual(shapes, { 0: "[]byte 010203", "1.a.0": "[]byte 04", "1.a.1.b": "[]byte 0506", 2: "string" });
      const pushed = waitFor(socket, "pushed");
      await ack2(socket, "bin-push");
      const [top, d] = await pushed;
      assertSameData(top, Buffer.from([0xbe, 0xef]));
      assertSameData(d.inner, { blob: Buffer.from("inner"), n: 7 });
    });

    test("a broadcast to a room", async (t) => {
      const nsp = unique("/dyn-v2");
      const [a, b, c] = await Promise.all([1, 2, 3].map(() => connected2(t, nsp, mode.opts)));
      assert.deepEqual((await ack2(a, "join", "r1"))[0].length, 2, "its id and r1");
      await ack2(b, "join", "r1");
      const names = ["room-msg", "room-bin"];
      let seen = [a, b, c].map((s) => until(s, names, "t1"));
      await ack2(c, "to-room", { room: "r1", msg: "hello r1", token: "t1" });
      assert.deepEqual(await Promise.all(seen), [[["room-msg", "hello r1"]], [["room-msg", "hello r1"]], []]);
      seen = [a, b, c].map((s) => until(s, names, "t2"));
      await ack2(a, "bin-to-room", { room: "r1", token: "t2", fromSocket: true }, Buffer.from([7]));
      const [ea, eb, ec] = await Promise.all(seen);
      assert.deepEqual(ea, [], "the sender is left out");
      assertSameData(eb, [["room-bin", Buffer.from([7]), { server: Buffer.from([0x5e, 0x4e]) }]]);
      assert.deepEqual(ec, []);
    });

    test("the server disconnects a socket", async (t) => {
      const socket = await connected2(t, "/", mode.opts);
      const dropped = waitFor(socket, "disconnect");
      socket.emit("kick", false);
      assert.equal((await dropped)[0], "io server disconnect");
    });

    test("reconnects by itself after the server closes the transport", async (t) => {
      const tag = `eio3-close-${mode.name}`;
      const socket = await connected2(t, "/nsp", { ...mode.opts, query: { token: "x", tag } });
      const dropped = waitFor(socket, "disconnect");
      const reconnected = waitFor(socket, "reconnect", { ms: 10_000 }); // the Manager's, before the namespace's CONNECT
      const back = waitFor(socket, "connect", { ms: 10_000, failOn: ["error"] });
      await ack2(socket, "close-conn");
      assert.equal((await dropped)[0], "transport close");
      await reconnected;
      await back;
      assert.equal(socket.connected, true);
      const [who] = await ack2(socket, "whoami");
      assert.equal(who.nsp, "/nsp");
      assert.equal(who.recovered, false, "no recovery for Socket.IO 2 clients");
      assert.deepEqual(who.auth, { token: "x", tag }, "the query is sent again");
    });
  });
}
