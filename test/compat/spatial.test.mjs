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

    test("hidden state, zones, watch and location survive connection-state recovery", async (t) => {
      const opts = { ...mode.opts, path: SPATIAL };
      const ann = await connected(t, "/", opts);
      const bob = await connected(t, "/", opts);
      const bobEvents = [];
      bob.onAny((event, arg) => { if (event.startsWith("nearby:")) bobEvents.push([event, arg]); });
      const home = { lat: 52.52, lng: 13.405 };
      assert.deepEqual(await ack(ann, "location", home), [{ ok: true }]);
      assert.deepEqual(await ack(ann, "privacy", { hidden: true, zones: [{ center: home, radius: 200 }] }), [{ ok: true }]);
      const state = waitFor(ann, "nearby:state");
      assert.deepEqual(await ack(ann, "watch", 1000), [{ ok: true }]);
      await state; // ann has a recovery offset now
      assert.deepEqual(await ack(bob, "location", { lat: 52.521, lng: 13.405 }), [{ ok: true }]);
      assert.deepEqual(await ack(bob, "watch", 1000), [{ ok: true }]);

      // the transport drops; the client comes back with its session
      const id = ann.id;
      const back = waitFor(ann, "connect", { ms: 10_000 });
      const states = [];
      ann.on("nearby:state", (st) => states.push(st.members.length));
      // first an empty state (what ann saw before is stale), then its watch's
      const again = waitFor(ann, "nearby:state", { ms: 10_000, filter: (st) => st.members.length > 0 });
      ann.io.engine.close();
      await back;
      assert.equal(ann.recovered, true);
      assert.equal(ann.id, id);
      const [watching] = await again;
      assert.ok(watching.members.some((m) => m.id === bob.id), "the watch is back, and sees bob");
      assert.deepEqual(await ack(ann, "whoami"), [{ hidden: true, zones: 1, located: true }]);
      assert.equal(states[0], 0, "the view is reset first");

      // bob never learnt of ann: his next nearby event is about carl
      const carl = await connected(t, "/", opts);
      const carlSeen = waitFor(bob, "nearby:enter", { filter: (e) => e.id === carl.id });
      assert.deepEqual(await ack(carl, "location", { lat: 52.5205, lng: 13.405 }), [{ ok: true }]);
      await carlSeen;
      assert.ok(bobEvents.every(([, e]) => e.id !== id && !(e.members ?? []).some((m) => m.id === id)), JSON.stringify(bobEvents));
    });
  });
}
