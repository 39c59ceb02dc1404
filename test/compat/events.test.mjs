// Events: acknowledgements both ways, their timeouts, binary attachments.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { MODES, ack, bytes, connected, waitFor } from "./helpers.mjs";

for (const mode of MODES) {
  describe(`acknowledgements (${mode.name})`, () => {
    test("the server acknowledges with every argument", async (t) => {
      const socket = await connected(t, "/", mode.opts);
      const args = [1, "two", { three: [3, 3.5] }, null, true, "ünïcødé \u2028 \"quoted\""];
      assert.deepEqual(await ack(socket, "echo", ...args), args);
      assert.deepEqual(await socket.emitWithAck("echo", "first only"), "first only");
      assert.deepEqual(await ack(socket, "echo"), [], "an acknowledgement without arguments");
    });

    test("acknowledgements are matched to their events", async (t) => {
      const socket = await connected(t, "/", mode.opts);
      const n = 50;
      const got = await Promise.all(Array.from({ length: n }, (_, i) => ack(socket, "echo", i)));
      assert.deepEqual(
        got.map(([i]) => i),
        Array.from({ length: n }, (_, i) => i),
      );
    });

    test("the client times out when the server never acknowledges", async (t) => {
      const socket = await connected(t, "/", mode.opts);
      await assert.rejects(socket.timeout(200).emitWithAck("noack", "hello"), {
        message: "operation has timed out",
      });
      // the connection is fine afterwards
      assert.deepEqual(await ack(socket, "echo", "still here"), ["still here"]);
    });

    test("the client acknowledges the server's EmitWithAck", async (t) => {
      const socket = await connected(t, "/", { ...mode.opts, auth: { tag: `acks-${mode.name}` } });
      const questions = [];
      socket.on("question", (n, answer) => {
        questions.push(n);
        answer(n * 2, "ok");
      });
      assert.deepEqual(await ack(socket, "ask", 21), [42, "ok"]);
      assert.deepEqual(questions, [21]);
    });

    test("the server's EmitWithAck times out when the client never acknowledges", async (t) => {
      const socket = await connected(t, "/", { ...mode.opts, auth: { tag: `acks-${mode.name}` } });
      const ignored = waitFor(socket, "ignore");
      socket.on("ignore", () => {}); // never calls the acknowledgement
      const [res] = await ack(socket, "ask-timeout");
      assert.equal(res.timeout, true, `server error: ${res.error}`);
      const [text, answer] = await ignored;
      assert.equal(text, "no answer expected");
      assert.equal(typeof answer, "function", "the server asked for an acknowledgement");
    });
  });

  describe(`binary (${mode.name})`, () => {
    test("buffers travel as attachments both ways", async (t) => {
      const socket = await connected(t, "/", mode.opts);
      const data = Buffer.from([0, 1, 2, 127, 128, 253, 254, 255]);
      const nested = Buffer.from("nested \u00ff");
      const back = waitFor(socket, "binary-back");
      const [rev, info] = await ack(socket, "binary", data, { label: "x", nested });
      assert.deepEqual(bytes(rev), Buffer.from(data).reverse());
      assert.deepEqual(info, { len: data.length, label: "x", nested: nested.length });
      const [d1, d2] = await back;
      assert.deepEqual(bytes(d1), data);
      assert.deepEqual(bytes(d2), nested);
    });

    test("a large buffer", async (t) => {
      const socket = await connected(t, "/", mode.opts);
      const data = randomBytes(200_000);
      const [rev, info] = await ack(socket, "binary", data, { label: "large" });
      assert.equal(info.len, data.length);
      assert.ok(bytes(rev).equals(Buffer.from(data).reverse()));
    });

    test("an empty buffer", async (t) => {
      const socket = await connected(t, "/", mode.opts);
      const back = waitFor(socket, "binary-back");
      const [rev, info] = await ack(socket, "binary", Buffer.alloc(0), { label: "empty" });
      assert.equal(bytes(rev).length, 0);
      assert.deepEqual(info, { len: 0, label: "empty", nested: 0 });
      const [d1, d2] = await back;
      assert.equal(bytes(d1).length, 0, "an empty Buffer comes back empty");
      assert.equal(d2, null, "no nested buffer was sent: a nil []byte is null");
    });
  });
}
