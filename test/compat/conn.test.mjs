// The Engine.IO connection under a socket, Socket.Conn() (Node's
// socket.conn): its transport, its upgrade, and Close, which drops the
// connection without a DISCONNECT packet so that the client reconnects by
// itself and, with recovery, gets its session back.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MODES, RECOVERY, ack, assertSameData, client, connected, unique, waitFor } from "./helpers.mjs";

describe("Conn: transport and upgrade", () => {
  test("default transports: the server sees the upgrade to websocket", async (t) => {
    const socket = client(t, "/");
    const upgraded = waitFor(socket.io.engine, "upgrade", { failOn: ["upgradeError"] });
    await waitFor(socket, "connect", { failOn: ["connect_error"] });
    await upgraded;
    const [info] = await ack(socket, "conn-info");
    assert.equal(info.transport, "websocket", "Conn().Transport() after the upgrade");
    assert.equal(info.socket, "websocket", "Socket.Transport() after the upgrade");
    assert.equal(info.protocol, 4);
    assert.equal(typeof info.id, "string");
    assert.notEqual(info.id, socket.id, "the Engine.IO id is not the socket's");
    assert.equal(info.id, socket.io.engine.id, "the Engine.IO id is the client's");
    // OnUpgrade was registered in the connection handler, before it read
    // the transport: if that was still polling, the handler saw the upgrade
    if (info.atConnect === "polling") {
      assert.deepEqual(info.upgrades, ["websocket"], "OnUpgrade");
    } else {
      t.diagnostic("upgraded before the connection handler ran: OnUpgrade not checked");
      assert.deepEqual(info.upgrades, [], "upgraded before the connection handler ran");
    }
  });

  for (const mode of MODES.filter((m) => m.opts.transports)) {
    test(`${mode.name} only: no upgrade`, async (t) => {
      const socket = await connected(t, "/", mode.opts);
      const [info] = await ack(socket, "conn-info");
      const name = mode.opts.transports[0];
      assert.deepEqual(
        { transport: info.transport, socket: info.socket, atConnect: info.atConnect, upgrades: info.upgrades },
        { transport: name, socket: name, atConnect: name, upgrades: [] },
      );
      assert.equal(info.protocol, 4);
      assert.equal(info.id, socket.io.engine.id);
    });
  }
});

for (const mode of MODES) {
  describe(`Conn().Close with recovery (${mode.name})`, () => {
    test("the client sees transport close, reconnects by itself and recovers", async (t) => {
      const key = unique("gate");
      const room = unique("room");
      const tag = `conn-close-${mode.name}`;
      const a = await connected(t, "/", { ...mode.opts, path: RECOVERY, query: { gate: key }, auth: { tag } });
      const b = await connected(t, "/", { ...mode.opts, path: RECOVERY });
      const id = a.id;
      const msgs = [];
      a.on("msg", (text) => msgs.push(text));
      await ack(a, "join", room);
      const first = waitFor(a, "msg");
      await ack(b, "say", { room, text: "m0" });
      await first; // a has an offset to recover from

      // a's gate closed: it cannot come back before b has said m1
      await ack(b, "gate", { key, open: false });
      const dropped = waitFor(a, "disconnect");
      const left = waitFor(b, "peer-left", { filter: (sid) => sid === id });
      const back = waitFor(a, "connect", { ms: 10_000 });
      await ack(a, "close-conn"); // acknowledged before the close
      assert.equal((await dropped)[0], "transport close", "no DISCONNECT packet: the transport closed");
      assert.equal(a.active, true, "a reconnects by itself");
      const [, reason] = await left;
      assert.equal(reason, "forced close", "the server-side reason, as Node's");

      await ack(b, "say", { room, text: "m1" });
      await ack(b, "bin-to-room", { room, token: "while-away" }, Buffer.from([1, 2]), { n: [Buffer.from([3])] });
      const missed = waitFor(a, "msg", { filter: (text) => text === "m1" });
      const missedBin = waitFor(a, "room-bin");
      await ack(b, "gate", { key, open: true });
      await back;
      assert.equal(a.recovered, true, "recovered");
      assert.equal(a.id, id, "the same socket id");
      await missed;
      assert.deepEqual(msgs, ["m0", "m1"], "the packet sent while a was away arrives after recovery");
      const [bin, nested, server, offset] = await missedBin;
      assertSameData(
        [bin, nested, server],
        [Buffer.from([1, 2]), { n: [Buffer.from([3])] }, { server: Buffer.from([0x5e, 0x4e]) }],
        "a binary packet sent while a was away",
      );
      assert.equal(typeof offset, "string", "its offset comes last");
      const [who] = await ack(a, "whoami");
      assert.equal(who.recovered, true);
      assert.deepEqual(who.rooms, [id, room].sort(), "rooms kept");
    });
  });
}
