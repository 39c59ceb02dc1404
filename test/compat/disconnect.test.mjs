// Disconnection by the server, and reconnection.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MODES, RESTART, ack, client, connected, manager, unique, upgraded, waitFor } from "./helpers.mjs";

for (const mode of MODES) {
  describe(`server-side disconnect (${mode.name})`, () => {
    for (const close of [false, true]) {
      test(`Socket.Disconnect(${close}): "io server disconnect", no automatic reconnection`, async (t) => {
        const socket = await connected(t, "/", { ...mode.opts, auth: { tag: `kick-${close}-${mode.name}` } });
        const first = socket.id;
        const closed = waitFor(socket, "disconnect");
        socket.emit("kick", close);
        const [reason] = await closed;
        assert.equal(reason, "io server disconnect");
        assert.equal(socket.connected, false);
        assert.equal(socket.active, false, "the client must not reconnect by itself");
        assert.equal(socket.io._reconnecting, false);

        // it reconnects when told to
        socket.connect();
        await waitFor(socket, "connect", { failOn: ["connect_error"] });
        assert.notEqual(socket.id, first, "a new socket");
        assert.deepEqual(await ack(socket, "echo", "back"), ["back"]);
      });
    }

    test("the client's own disconnect is final, and connect() comes back", async (t) => {
      const socket = await connected(t, "/", { ...mode.opts, auth: { tag: `client-disconnect-${mode.name}` } });
      const closed = waitFor(socket, "disconnect");
      socket.disconnect();
      const [reason] = await closed;
      assert.equal(reason, "io client disconnect");
      socket.connect();
      await waitFor(socket, "connect", { failOn: ["connect_error"] });
      assert.deepEqual(await ack(socket, "echo", 1), [1]);
    });
  });

  describe(`server-side disconnect with namespaces (${mode.name})`, () => {
    // main and admin share one connection
    async function pair(t) {
      const m = manager(t, mode.opts);
      const main = m.socket("/");
      const admin = m.socket("/admin");
      await Promise.all([
        ...[main, admin].map((s) => waitFor(s, "connect", { failOn: ["connect_error"] })),
        mode.opts.transports ? null : upgraded(m.engine),
      ]);
      return [main, admin];
    }

    test("Socket.Disconnect(false) leaves the connection's other namespaces", async (t) => {
      const [main, admin] = await pair(t);
      const closed = waitFor(main, "disconnect");
      main.emit("kick", false);
      assert.equal((await closed)[0], "io server disconnect");
      assert.equal(admin.connected, true);
      assert.deepEqual(await ack(admin, "echo", "still here"), ["still here"]);
    });

    test("Socket.Disconnect(true) disconnects every namespace of the connection", async (t) => {
      const [main, admin] = await pair(t);
      const closed = [waitFor(main, "disconnect"), waitFor(admin, "disconnect")];
      main.emit("kick", true);
      const reasons = (await Promise.all(closed)).map(([reason]) => reason);
      assert.deepEqual(reasons, ["io server disconnect", "io server disconnect"]);
      assert.equal(main.active, false);
      assert.equal(admin.active, false);
    });
  });

  describe(`server restart (${mode.name})`, () => {
    test("the client reconnects by itself after the server shuts down", async (t) => {
      const socket = await connected(t, "/", {
        ...mode.opts,
        path: RESTART,
        auth: { tag: `restart-${mode.name}` },
      });
      const first = socket.id;
      const closed = waitFor(socket, "disconnect");
      const reconnected = waitFor(socket.io, "reconnect", { ms: 10_000 });
      const again = waitFor(socket, "connect", { ms: 10_000 });
      socket.emit("restart");

      const [reason] = await closed;
      assert.equal(reason, "transport close");
      assert.equal(socket.active, true, "the client reconnects by itself");
      await reconnected;
      await again;
      assert.equal(socket.connected, true);
      assert.notEqual(socket.id, first, "a new server, a new socket");
      assert.deepEqual(await ack(socket, "echo", "after restart"), ["after restart"]);
    });
  });
}

describe("server-side disconnect during the upgrade (default)", () => {
  test(
    'Socket.Disconnect(true) while the client upgrades: "io server disconnect"',
    async (t) => {
      // b disconnects a once a has the answer to its probe: the server is
      // then between the probe and the client's upgrade packet
      const b = await connected(t, "/", { transports: ["websocket"] });
      const tag = unique("kick-upgrading");
      const a = client(t, "/", { auth: { tag } });
      const engine = a.io.engine;
      t.after(() => a.disconnect());
      const upgrading = waitFor(engine, "upgrading");
      const closed = waitFor(a, "disconnect", { ms: 2000 });
      await upgrading;
      assert.deepEqual(await ack(b, "kick-tag", { tag, close: true }), [1]);
      const [reason] = await closed;
      assert.equal(reason, "io server disconnect");
      assert.equal(a.active, false);
    },
  );
});
