// The event rate limit answers: on the server with
// realtime.WithEventRate(1, 1), an event beyond the limit that asked for an
// acknowledgement gets {error: "rate limited"} at once instead of leaving
// the client to time out.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { LIMITED, MODES, connected } from "./helpers.mjs";

for (const mode of MODES) {
  describe(`event rate limit (${mode.name})`, () => {
    test("emitWithAck beyond the limit resolves with {error: 'rate limited'}", async (t) => {
      const socket = await connected(t, "/", { ...mode.opts, path: LIMITED });
      // a burst of 1: the first event passes, the next ones, sent together,
      // come well within the second it takes to earn another
      const results = await Promise.all(
        [0, 1, 2, 3].map((i) => socket.timeout(2000).emitWithAck("echo", `e${i}`)),
      );
      assert.deepEqual(results, [
        "e0",
        { error: "rate limited" },
        { error: "rate limited" },
        { error: "rate limited" },
      ]);
      assert.equal(socket.connected, true, "refused events do not disconnect");
    });
  });
}
