// Connecting: transports and the upgrade, namespaces, middleware.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MODES, ack, client, connected, manager, unique, upgraded, waitFor } from "./helpers.mjs";

describe("default transports", () => {
  test("connects over polling, then upgrades to websocket", async (t) => {
    const socket = client(t, "/", { auth: { tag: "connect-default" } });
    const engine = socket.io.engine;
    assert.equal(engine.transport.name, "polling");
    const upgraded = waitFor(engine, "upgrade");
    await waitFor(socket, "connect", { failOn: ["connect_error"] });
    assert.equal(typeof socket.id, "string");

    const [transport] = await upgraded;
    assert.equal(transport.name, "websocket");
    assert.equal(socket.io.engine.transport.name, "websocket");
    // packets now go over the websocket, and the server knows it
    const [who] = await ack(socket, "whoami");
    assert.deepEqual(
      { id: who.id, nsp: who.nsp, transport: who.transport, recovered: who.recovered },
      { id: socket.id, nsp: "/", transport: "websocket", recovered: false },
    );
  });
});

describe("websocket only", () => {
  test("connects over websocket without polling", async (t) => {
    const socket = client(t, "/", { transports: ["websocket"], auth: { tag: "connect-websocket" } });
    assert.equal(socket.io.engine.transport.name, "websocket");
    await waitFor(socket, "connect", { failOn: ["connect_error"] });
    assert.equal(socket.io.engine.transport.name, "websocket");
    const [who] = await ack(socket, "whoami");
    assert.equal(who.id, socket.id);
    assert.equal(who.transport, "websocket");
  });
});

describe("polling only", () => {
  test("connects over polling and stays there", async (t) => {
    const socket = client(t, "/", { transports: ["polling"], auth: { tag: "connect-polling" } });
    assert.equal(socket.io.engine.transport.name, "polling");
    await waitFor(socket, "connect", { failOn: ["connect_error"] });
    const [who] = await ack(socket, "whoami");
    assert.equal(who.id, socket.id);
    assert.equal(who.transport, "polling");
    assert.equal(socket.io.engine.transport.name, "polling");
  });
});

for (const mode of MODES) {
  describe(`namespaces (${mode.name})`, () => {
    test("main, /admin and a dynamic namespace share one connection", async (t) => {
      const m = manager(t, mode.opts);
      const dynName = unique("/dyn-ns");
      const sockets = [m.socket("/"), m.socket("/admin"), m.socket(dynName)];
      await Promise.all([
        ...sockets.map((s) => waitFor(s, "connect", { failOn: ["connect_error"] })),
        mode.opts.transports ? null : upgraded(m.engine),
      ]);
      const engine = m.engine;
      assert.ok(sockets.every((s) => s.io.engine === engine));

      const who = await Promise.all(sockets.map((s) => ack(s, "whoami").then(([w]) => w)));
      assert.deepEqual(
        who.map((w) => w.nsp),
        ["/", "/admin", dynName],
      );
      who.forEach((w, i) => assert.equal(w.id, sockets[i].id));
      assert.equal(new Set(who.map((w) => w.id)).size, 3, "one socket id per namespace");

      // events stay in their namespace
      const [echoed] = await ack(sockets[1], "echo", "admin only");
      assert.equal(echoed, "admin only");
    });

    test("an unknown namespace gets connect_error", async (t) => {
      const socket = client(t, "/nope", mode.opts);
      const [err] = await waitFor(socket, "connect_error");
      assert.equal(err.message, "Invalid namespace");
      assert.equal(socket.connected, false);
      assert.equal(socket.active, false, "no retry after a refusal");
    });
  });

  describe(`middleware (${mode.name})`, () => {
    for (const nsp of ["/", "/admin", "/dyn-mw"]) {
      test(`refuses ${nsp} with data in connect_error, then accepts new auth`, async (t) => {
        const socket = client(t, nsp, { ...mode.opts, auth: { token: "bad" } });
        const [err] = await waitFor(socket, "connect_error");
        assert.ok(err instanceof Error);
        assert.equal(err.message, "not authorized");
        assert.deepEqual(err.data, { code: 401 });
        assert.equal(socket.connected, false);
        assert.equal(socket.active, false, "no retry after a refusal by middleware");

        socket.auth = { token: "good" };
        socket.connect();
        await waitFor(socket, "connect", { failOn: ["connect_error"] });
        const [who] = await ack(socket, "whoami");
        assert.equal(who.nsp, nsp);
      });
    }

    test("a plain error refuses with its text and no data", async (t) => {
      const socket = client(t, "/", { ...mode.opts, auth: { token: "plain" } });
      const [err] = await waitFor(socket, "connect_error");
      assert.equal(err.message, "plain refusal");
      assert.equal(err.data, undefined);
    });

    test("an event emitted on connection arrives after connect", async (t) => {
      const socket = client(t, "/admin", { ...mode.opts, auth: { welcome: true } });
      let connectedFirst = false;
      socket.on("connect", () => (connectedFirst = true));
      const [id, nsp] = await waitFor(socket, "welcome", { failOn: ["connect_error"] });
      assert.ok(connectedFirst, "connect came first");
      assert.equal(id, socket.id);
      assert.equal(nsp, "/admin");
    });

    test("auth and query reach the server", async (t) => {
      const auth = { token: "good", tag: unique("auth"), nested: { n: 1 } };
      const socket = await connected(t, "/", { ...mode.opts, auth, query: { room: "lobby" } });
      const [who] = await ack(socket, "whoami");
      assert.deepEqual(who.auth, auth);
      assert.deepEqual(who.query.room, ["lobby"]);
      assert.deepEqual(who.query.EIO, ["4"]);
    });
  });
}
