// Location through the official client: two clients move towards each
// other and get nearby:enter, apart and get nearby:leave.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MODES, SPATIAL, ack, connected, waitFor } from "./helpers.mjs";

for (const mode of MODES) {
  describe(`spatial (${mode.name})`, () => {
    test("two clients moving towards each other get enter, apart get leave", async (t) => {
      const opts = { ...mode.opts, path: SPATIAL };
      const ann = await connected(t, "/", opts);
      const bob = await connected(t, "/", opts);
      assert.deepEqual(await ack(ann, "location", { lat: 48.8566, lng: 2.3522 }), [{ ok: true }]);
      assert.deepEqual(await ack(bob, "location", { lat: 48.8766, lng: 2.3522 }), [{ ok: true }]); // 2.2 km north
      assert.deepEqual(await ack(ann, "watch", 500), [{ ok: true }]);
      assert.deepEqual(await ack(bob, "watch", 500), [{ ok: true }]);

      // bob walks towards ann: both see the other enter
      const annSees = waitFor(ann, "nearby:enter", { filter: (e) => e.id === bob.id });
      const bobSees = waitFor(bob, "nearby:enter", { filter: (e) => e.id === ann.id });
      assert.deepEqual(await ack(bob, "location", { lat: 48.8586, lng: 2.3522 }), [{ ok: true }]); // 220 m
      const [enter] = await annSees;
      assert.ok(Math.abs(enter.distance - 222) < 5, `distance ${enter.distance}`);
      await bobSees;

      // bad coordinates get a clear error and change nothing
      const [bad] = await ack(bob, "location", { lat: 123, lng: 2.35 });
      assert.match(bad.error, /invalid coordinate/);

      // bob walks away: both see the other leave
      const annLeave = waitFor(ann, "nearby:leave", { filter: (e) => e.id === bob.id });
      const bobLeave = waitFor(bob, "nearby:leave", { filter: (e) => e.id === ann.id });
      assert.deepEqual(await ack(bob, "location", { lat: 48.8766, lng: 2.3522 }), [{ ok: true }]);
      assert.equal((await annLeave)[0].reason, "far");
      assert.equal((await bobLeave)[0].reason, "far");

      // back in range, then bob closes the app: ann sees him leave at once
      const again = waitFor(ann, "nearby:enter", { filter: (e) => e.id === bob.id });
      await ack(bob, "location", { lat: 48.8570, lng: 2.3522 });
      await again;
      const bobID = bob.id; // bob.id is undefined once disconnected
      const gone = waitFor(ann, "nearby:leave", { filter: (e) => e.id === bobID });
      bob.disconnect();
      const [left] = await gone;
      assert.equal(left.id, bobID);
      assert.equal(left.reason, "disconnected");
    });
  });
}
