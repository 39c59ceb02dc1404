// Handlers that wait: each socket's handlers run one at a time, in order,
// on the socket's own goroutine, and may wait there for the client's
// acknowledgement of an EmitWithAck (the read loop resolves it). Unlike the
// Node.js server, whose async handlers interleave, the socket's later
// events wait for a handler that waits.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MODES, ack, client, connected, waitFor } from "./helpers.mjs";

for (const mode of MODES) {
  describe(`handlers that wait (${mode.name})`, () => {
    test("a handler asks its own client and acknowledges with the answer", async (t) => {
      const socket = await connected(t, "/", { ...mode.opts, auth: { tag: `wait-${mode.name}` } });
      socket.on("question", (a, b, answer) => answer(`${a}+${b}`, { ok: true }));
      assert.deepEqual(await ack(socket, "ask-inline", 1, 2), ["1+2", { ok: true }]);
    });

    test("the socket's next events wait for a handler that waits", async (t) => {
      const socket = await connected(t, "/", mode.opts);
      const order = [];
      const asked = waitFor(socket, "question");
      const first = ack(socket, "ask-inline", "q").then((res) => {
        order.push("ask-inline");
        return res;
      });
      const [q, answer] = await asked; // the server's handler now waits
      assert.equal(q, "q");
      // sent before the answer, so the server has them while it waits
      const next = [1, 2, 3].map((n) =>
        ack(socket, "seq", n).then((res) => {
          order.push(`seq ${n}`);
          return res;
        }),
      );
      answer("a");
      assert.deepEqual(await first, ["a"]);
      assert.deepEqual(await Promise.all(next), [[1], [2], [3]]);
      assert.deepEqual(order, ["ask-inline", "seq 1", "seq 2", "seq 3"], "acknowledgements in order");
      const [log] = await ack(socket, "handler-log");
      assert.deepEqual(
        log,
        ["ask-inline start", 'ask-inline answered ["a"]', "seq 1", "seq 2", "seq 3"],
        "each handler ran after the one that waited returned",
      );
    });

    test("a waiting handler gets an error at once when its client goes", async (t) => {
      // server side: compat_test.go checks that EmitWithAck returned
      // ErrNotConnected (tag wait-drop-<mode>)
      const socket = await connected(t, "/", { ...mode.opts, auth: { tag: `wait-drop-${mode.name}` } });
      const asked = waitFor(socket, "question");
      socket.emit("ask-inline", "never answered", () => assert.fail("no acknowledgement after disconnecting"));
      await asked;
      socket.disconnect();
    });

    test("a connection handler asks its client before anything else", async (t) => {
      const socket = client(t, "/asker", mode.opts);
      const events = [];
      socket.onAny((event) => events.push(event));
      let answer;
      const asked = new Promise((resolve) =>
        socket.on("hello?", (q, cb) => {
          answer = cb;
          resolve(q);
        }),
      );
      await waitFor(socket, "connect", { failOn: ["connect_error"] });
      assert.equal(await asked, "who are you?");
      // sent while the connection handler waits for the answer: its
      // handler does not exist yet, and runs once it does
      const first = ack(socket, "first");
      answer("alice");
      assert.deepEqual(await first, [{ name: "alice", error: "" }]);
      assert.deepEqual(events, ["hello?"], "the question came first");
    });
  });
}
