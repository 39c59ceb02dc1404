// The msgpack parser: a server with realtime.WithParser(MsgpackParser) and
// clients created with parser: socket.io-msgpack-parser. Binary data is
// covered with both parsers by binary.test.mjs.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MODES, MSGPACK, PARSERS, ack, assertSameData, connected, eventsUntil, unique, waitFor } from "./helpers.mjs";

const msgpack = PARSERS.find((p) => p.name === "msgpack").opts;

for (const mode of MODES) {
  const opts = { ...mode.opts, ...msgpack };
  describe(`msgpack parser (${mode.name})`, () => {
    test("connects, with auth, and the server sees it", async (t) => {
      const socket = await connected(t, "/", { ...opts, auth: { who: "mp" } });
      assert.equal(socket.io.opts.path, MSGPACK);
      const [who] = await ack(socket, "whoami");
      assert.equal(who.id, socket.id);
      assert.equal(who.nsp, "/");
      assert.deepEqual(who.auth, { who: "mp" });
      assert.equal(who.transport, mode.opts.transports?.[0] ?? "websocket");
    });

    test("acknowledgements both ways", async (t) => {
      const socket = await connected(t, "/", { ...opts, auth: { tag: `msgpack-${mode.name}` } });
      const args = [1, -2, 3.5, "two", { three: [3, null, true] }, null, "ünïcødé", 2 ** 40];
      assert.deepEqual(await ack(socket, "echo", ...args), args);
      assert.deepEqual(await ack(socket, "echo"), [], "an acknowledgement without arguments");
      const n = 20;
      const got = await Promise.all(Array.from({ length: n }, (_, i) => ack(socket, "echo", i)));
      assert.deepEqual(
        got.map(([i]) => i),
        Array.from({ length: n }, (_, i) => i),
        "acknowledgements matched to their events",
      );
      socket.on("question", (a, b, answer) => answer(`${a}+${b}`, { ok: true }));
      assert.deepEqual(await ack(socket, "ask-inline", 1, 2), ["1+2", { ok: true }]);
    });

    test("binary at the top level and nested", async (t) => {
      const socket = await connected(t, "/", opts);
      const data = Buffer.from([0, 1, 2, 127, 128, 255]);
      const nested = Buffer.from("nested");
      const back = waitFor(socket, "binary-back");
      const [rev, info] = await ack(socket, "binary", data, { label: "mp", nested });
      assertSameData(rev, Buffer.from(data).reverse());
      assert.deepEqual(info, { len: data.length, label: "mp", nested: nested.length });
      assertSameData(await back, [data, nested]);
      const args = [{ a: [Buffer.from([1]), { b: new Uint8Array([2, 3]) }] }, new Uint8Array([4]).buffer];
      assertSameData(await ack(socket, "echo", ...args), args);
    });

    test("rooms and broadcasts", async (t) => {
      const nsp = unique("/dyn-mp");
      const [a, b, c] = await Promise.all([1, 2, 3].map(() => connected(t, nsp, opts)));
      assert.deepEqual(await ack(a, "join", "r1"), [[a.id, "r1"].sort()]);
      let seen = [a, b, c].map((s) => eventsUntil(s, "t1"));
      await ack(c, "to-room", { room: "r1", msg: "hello r1", token: "t1" });
      assert.deepEqual(await Promise.all(seen), [[["room-msg", "hello r1"]], [], []]);
      seen = [a, b, c].map((s) => eventsUntil(s, "t2"));
      await ack(a, "broadcast", { msg: "news!", token: "t2" });
      assert.deepEqual(await Promise.all(seen), [[], [["news", "news!"]], [["news", "news!"]]]);
    });

    test("the server disconnects a socket", async (t) => {
      const socket = await connected(t, "/", opts);
      const dropped = waitFor(socket, "disconnect");
      socket.emit("kick", false);
      assert.equal((await dropped)[0], "io server disconnect");
    });
  });
}
