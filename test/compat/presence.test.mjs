// Presence through the official client: two users in one room see each
// other join, change status and leave; two tabs of one user are one member.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MODES, PRESENCE, ack, connected, unique, waitFor } from "./helpers.mjs";

// member applies presence events to a map, as an app would: the state
// replaces it, a diff merges into it.
function tracker(socket) {
  const members = new Map();
  socket.on("presence:state", ({ members: list }) => {
    members.clear();
    for (const m of list) members.set(m.key, m.metas);
  });
  socket.on("presence:diff", ({ joins = {}, updates = {}, leaves = {} }) => {
    for (const [k, metas] of Object.entries({ ...joins, ...updates })) members.set(k, metas);
    for (const k of Object.keys(leaves)) members.delete(k);
  });
  return members;
}

// diff waits for a presence diff of room that pred accepts.
const diff = (socket, room, pred) =>
  waitFor(socket, "presence:diff", { filter: (d) => d.room === room && pred(d) });

for (const mode of MODES) {
  describe(`presence (${mode.name})`, () => {
    test("users in a room see each other join, change status and leave", async (t) => {
      const room = unique("room");
      const ann = await connected(t, "/", { ...mode.opts, path: PRESENCE, auth: { user: "ann", device: "web" } });
      const annSees = tracker(ann);
      const state = waitFor(ann, "presence:state");
      await ack(ann, "join", room);
      const [s] = await state;
      assert.equal(s.room, room);
      assert.deepEqual(s.members.map((m) => m.key), ["ann"]);
      assert.equal(s.members[0].metas[0].status, "online");
      assert.equal(s.members[0].metas[0].device, "web");

      const bobJoined = diff(ann, room, (d) => d.joins?.bob);
      const bob = await connected(t, "/", { ...mode.opts, path: PRESENCE, auth: { user: "bob" } });
      const bobSees = tracker(bob);
      const bobState = waitFor(bob, "presence:state");
      await ack(bob, "join", room);
      await bobJoined;
      await bobState;
      assert.deepEqual([...bobSees.keys()].sort(), ["ann", "bob"]);
      assert.deepEqual([...annSees.keys()].sort(), ["ann", "bob"]);

      // a second tab of bob: an update, not a join
      const secondTab = diff(ann, room, (d) => d.updates?.bob?.length === 2);
      const bob2 = await connected(t, "/", { ...mode.opts, path: PRESENCE, auth: { user: "bob" } });
      await ack(bob2, "join", room);
      const [d2] = await secondTab;
      assert.equal(d2.joins, undefined);
      assert.equal(annSees.get("bob").length, 2);

      // bob goes away
      const away = diff(ann, room, (d) => d.updates?.bob?.some((m) => m.status === "away"));
      assert.deepEqual(await ack(bob, "presence:update", { status: "away" }), [{ ok: true }]);
      await away;
      assert.deepEqual(
        (await ack(bob, "presence:update", { status: "x".repeat(40) }))[0].error !== undefined,
        true,
        "an oversized status is refused",
      );

      // one tab closes: still present; the last closes: a leave, with a last-seen time
      const oneTab = diff(ann, room, (d) => d.updates?.bob?.length === 1);
      bob2.disconnect();
      await oneTab;
      assert.ok(annSees.has("bob"));
      const left = diff(ann, room, (d) => d.leaves?.bob);
      bob.disconnect();
      const [d3] = await left;
      assert.ok(Date.parse(d3.leaves.bob.lastSeen) > 0, "lastSeen is a time");
      assert.deepEqual([...annSees.keys()], ["ann"]);
    });
  });
}
