// Connection-state recovery (the server runs with
// realtime.WithRecovery(2*time.Minute, true)). With recovery on, every event
// kept for recovery carries its offset as an extra last argument, which the
// client remembers and sends back when it reconnects; listeners see it too,
// as with the Node.js server.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MODES, RECOVERY, ack, connected, unique, waitFor } from "./helpers.mjs";

for (const mode of MODES) {
  describe(`connection-state recovery (${mode.name})`, () => {
    test("a client back after a short outage gets its id, rooms and missed events", async (t) => {
      const key = unique("gate");
      const room = unique("room");
      const tag = `recover-${mode.name}`;
      // a's handshakes pass only while its gate is open, so it cannot come
      // back before b has sent what a is to miss
      const a = await connected(t, "/", { ...mode.opts, path: RECOVERY, query: { gate: key }, auth: { tag } });
      const b = await connected(t, "/", { ...mode.opts, path: RECOVERY });
      assert.equal(a.recovered, false, "a fresh connection is not recovered");
      assert.equal(b.recovered, false);
      const id = a.id;

      const msgs = [];
      a.on("msg", (text, offset) => {
        assert.equal(typeof offset, "string", "the offset comes last");
        msgs.push(text);
      });
      await ack(a, "join", room);
      const first = waitFor(a, "msg");
      await ack(b, "say", { room, text: "m0" });
      await first; // a has an offset now
      assert.deepEqual(msgs, ["m0"]);

      // the outage: a drops its connection; the server keeps its session
      await ack(b, "gate", { key, open: false });
      const dropped = waitFor(a, "disconnect");
      const left = waitFor(b, "peer-left", { filter: (sid) => sid === id });
      const back = waitFor(a, "connect", { ms: 10_000 });
      a.io.engine.close();
      assert.equal((await dropped)[0], "forced close"); // the client closed its engine
      assert.equal(a.active, true, "a reconnects by itself");
      const [, reason] = await left;
      assert.equal(reason, "transport close");

      // what a misses, then a may come back
      await ack(b, "say", { room, text: "m1" });
      await ack(b, "say", { room, text: "m2" });
      const recovered = waitFor(a, "msg", { filter: (text) => text === "m2" });
      await ack(b, "gate", { key, open: true });
      await back;
      assert.equal(a.recovered, true, "the state is recovered");
      assert.equal(a.id, id, "the same socket id");
      await recovered;
      assert.deepEqual(msgs, ["m0", "m1", "m2"], "missed events delivered once, in order");

      // a is in its room again
      const [who] = await ack(a, "whoami");
      assert.equal(who.recovered, true);
      assert.deepEqual(who.rooms, [id, room].sort());
      const live = waitFor(a, "msg", { filter: (text) => text === "m3" });
      await ack(b, "say", { room, text: "m3" });
      await live;
      assert.deepEqual(msgs, ["m0", "m1", "m2", "m3"]);
    });

    test("a client that got no event before the outage starts afresh", async (t) => {
      // it has no offset to send, so nothing proves what it missed: as with
      // the Node.js server, it gets a new session
      const key = unique("gate");
      const room = unique("room");
      const a = await connected(t, "/", { ...mode.opts, path: RECOVERY, query: { gate: key } });
      const b = await connected(t, "/", { ...mode.opts, path: RECOVERY });
      const id = a.id;
      await ack(a, "join", room);
      await ack(b, "gate", { key, open: false });
      const left = waitFor(b, "peer-left", { filter: (sid) => sid === id });
      const back = waitFor(a, "connect", { ms: 10_000 });
      a.io.engine.close();
      await left;
      await ack(b, "say", { room, text: "while away" });
      await ack(b, "gate", { key, open: true });
      await back;
      assert.equal(a.recovered, false);
      assert.notEqual(a.id, id);
    });

    test("a client disconnected by the server starts afresh", async (t) => {
      const a = await connected(t, "/", { ...mode.opts, path: RECOVERY });
      const id = a.id;
      const dropped = waitFor(a, "disconnect");
      a.emit("kick", false);
      assert.equal((await dropped)[0], "io server disconnect");
      a.connect();
      await waitFor(a, "connect", { failOn: ["connect_error"] });
      assert.equal(a.recovered, false, "no recovery after a deliberate disconnect");
      assert.notEqual(a.id, id);
    });
  });
}
