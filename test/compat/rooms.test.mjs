// Rooms and broadcasts. Each test uses a namespace of its own (a dynamic
// one), so broadcasts of tests running at the same time do not mix. Every
// broadcast is followed by a "barrier" event to the whole namespace: a
// client that gets the barrier without the broadcast was not sent it.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MODES, ack, connected, eventsUntil, manager, unique, upgraded, waitFor } from "./helpers.mjs";

// three connects three sockets to a new namespace.
async function three(t, mode) {
  const nsp = unique("/dyn-rooms");
  return Promise.all([1, 2, 3].map(() => connected(t, nsp, mode.opts)));
}

// trigger runs emit (which makes the server broadcast) and returns what each
// socket received before the barrier token.
async function trigger(sockets, token, emit) {
  const seen = sockets.map((s) => eventsUntil(s, token));
  await emit();
  return Promise.all(seen);
}

for (const mode of MODES) {
  describe(`rooms (${mode.name})`, () => {
    test("join, room broadcast, leave", async (t) => {
      const [a, b, c] = await three(t, mode);
      assert.deepEqual(await ack(a, "join", "r1"), [[a.id, "r1"].sort()]);
      assert.deepEqual(await ack(b, "join", "r1"), [[b.id, "r1"].sort()]);

      // from the namespace: every member, whoever asked
      let [ea, eb, ec] = await trigger([a, b, c], "t1", () =>
        ack(c, "to-room", { room: "r1", msg: "hello r1", token: "t1" }),
      );
      assert.deepEqual(ea, [["room-msg", "hello r1"]]);
      assert.deepEqual(eb, [["room-msg", "hello r1"]]);
      assert.deepEqual(ec, [], "c is not in r1");

      // from a socket: every member but the sender
      [ea, eb, ec] = await trigger([a, b, c], "t2", () =>
        ack(a, "to-room", { room: "r1", msg: "from a", token: "t2", fromSocket: true }),
      );
      assert.deepEqual(ea, [], "the sender is left out");
      assert.deepEqual(eb, [["room-msg", "from a"]]);
      assert.deepEqual(ec, []);

      // a socket's own id is a room
      [ea, eb, ec] = await trigger([a, b, c], "t3", () =>
        ack(c, "to-room", { room: b.id, msg: "to b", token: "t3" }),
      );
      assert.deepEqual([ea, eb, ec], [[], [["room-msg", "to b"]], []]);

      assert.deepEqual(await ack(a, "leave", "r1"), [[a.id]]);
      [ea, eb, ec] = await trigger([a, b, c], "t4", () =>
        ack(c, "to-room", { room: "r1", msg: "after leave", token: "t4" }),
      );
      assert.deepEqual(ea, [], "a left r1");
      assert.deepEqual(eb, [["room-msg", "after leave"]]);
      assert.deepEqual(ec, []);
    });
  });

  describe(`broadcast (${mode.name})`, () => {
    test("reaches every other socket of the namespace, not the sender", async (t) => {
      const [a, b, c] = await three(t, mode);
      const [ea, eb, ec] = await trigger([a, b, c], "t1", () => ack(a, "broadcast", { msg: "news!", token: "t1" }));
      assert.deepEqual(ea, [], "the sender is left out");
      assert.deepEqual(eb, [["news", "news!"]]);
      assert.deepEqual(ec, [["news", "news!"]]);
    });

    test("stays in its namespace", async (t) => {
      // x1 and x2 share one connection, whose packets keep their order:
      // once x1 has the barrier, x2 would have had the broadcast too.
      const ns1 = unique("/dyn-rooms");
      const ns2 = unique("/dyn-other");
      const a = await connected(t, ns1, mode.opts);
      const m = manager(t, mode.opts);
      const [x1, x2] = [m.socket(ns1), m.socket(ns2)];
      await Promise.all([
        ...[x1, x2].map((s) => waitFor(s, "connect", { failOn: ["connect_error"] })),
        mode.opts.transports ? null : upgraded(m.engine),
      ]);
      const got2 = [];
      x2.onAny((...e) => got2.push(e));
      const [e1] = await trigger([x1], "t1", () => ack(a, "broadcast", { msg: "local", token: "t1" }));
      assert.deepEqual(e1, [["news", "local"]]);
      assert.deepEqual(got2, [], "nothing reaches another namespace");
    });
  });
}
