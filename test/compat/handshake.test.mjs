// The handshake in Node's shape: json.Marshal(s.Handshake()) as the
// handshake handler acknowledges it, and inside the SocketInfo of
// FetchSockets, has the keys, order and types of the Node.js server's
// socket.handshake.
import assert from "node:assert/strict";
import { isIP } from "node:net";
import { describe, test } from "node:test";
import { MAIN, MODES, URL as SERVER, ack, connected } from "./helpers.mjs";

// Node's keys, in Node's order.
const KEYS = ["headers", "time", "address", "xdomain", "secure", "issued", "url", "query", "auth"];

// checkShape asserts what does not depend on the client's options.
function checkShape(hs, transport) {
  assert.deepEqual(Object.keys(hs), KEYS);
  assert.equal(typeof hs.headers, "object");
  for (const [k, v] of Object.entries(hs.headers)) {
    assert.equal(k, k.toLowerCase(), `header ${k} in lower case`);
    assert.ok(typeof v === "string" || (k === "set-cookie" && Array.isArray(v)), `header ${k}: ${JSON.stringify(v)}`);
  }
  assert.equal(hs.headers.host, new URL(SERVER).host, "host, which Go keeps out of Request.Header");
  assert.equal(typeof hs.time, "string");
  const parsed = new Date(hs.time);
  assert.ok(!Number.isNaN(parsed.getTime()), `time ${hs.time} parses as a Date`);
  assert.equal(typeof hs.issued, "number");
  assert.ok(Number.isInteger(hs.issued), "issued is in milliseconds");
  assert.ok(Math.abs(Date.now() - hs.issued) < 60_000, `issued ${hs.issued} is now`);
  assert.ok(Math.abs(parsed.getTime() - hs.issued) < 1000, `time ${hs.time} is issued ${hs.issued}`);
  assert.equal(hs.address, "127.0.0.1");
  assert.notEqual(isIP(hs.address), 0, "address is an IP, without a port");
  assert.equal(hs.xdomain, false, "no Origin header");
  assert.equal(hs.secure, false);
  assert.equal(typeof hs.url, "string");
  assert.ok(hs.url.startsWith(`${MAIN}?`), `url ${hs.url} starts with the path`);
  assert.equal(typeof hs.query, "object");
  for (const [k, v] of Object.entries(hs.query)) assert.equal(typeof v, "string", `query ${k}`);
  assert.equal(hs.query.EIO, "4");
  assert.equal(hs.query.transport, transport);
  const fromURL = Object.fromEntries(new URL(hs.url, "http://x").searchParams);
  assert.deepEqual(hs.query, fromURL, "query is the url's");
}

for (const mode of MODES) {
  // the transport of the handshake request: the default starts on polling
  const transport = mode.opts.transports?.[0] ?? "polling";

  describe(`handshake (${mode.name})`, () => {
    test("Node's keys and types, auth {} when none is sent", async (t) => {
      const socket = await connected(t, "/", mode.opts);
      const [hs] = await ack(socket, "handshake");
      checkShape(hs, transport);
      assert.deepEqual(hs.auth, {});
    });

    test("the auth object, query and headers the client sent", async (t) => {
      const auth = { tag: `handshake-${mode.name}`, n: 1, nested: { ok: true } };
      const socket = await connected(t, "/", {
        ...mode.opts,
        auth,
        query: { foo: "bar" },
        extraHeaders: { "X-Custom-Header": "v" },
      });
      const [hs] = await ack(socket, "handshake");
      checkShape(hs, transport);
      assert.deepEqual(hs.auth, auth);
      assert.equal(hs.query.foo, "bar");
      assert.equal(hs.headers["x-custom-header"], "v");
      assert.match(hs.url, /[?&]foo=bar(&|$)/);
    });

    test("an Origin header makes xdomain true", async (t) => {
      // the server's own origin: vicinity refuses other origins by
      // default (transport.WithAllowedOrigins), where Node accepts them;
      // Node's xdomain is true for any Origin header
      const socket = await connected(t, "/", { ...mode.opts, extraHeaders: { Origin: SERVER } });
      const [hs] = await ack(socket, "handshake");
      assert.equal(hs.xdomain, true);
      assert.equal(hs.headers.origin, SERVER);
    });

    test("FetchSockets carries the same handshake", async (t) => {
      const socket = await connected(t, "/", { ...mode.opts, auth: { x: 1 } });
      const [hs] = await ack(socket, "handshake");
      const [info] = await ack(socket, "fetch-self");
      assert.equal(info.id, socket.id);
      assert.deepEqual(info.rooms, [socket.id]);
      assert.deepEqual(info.handshake, hs);
    });
  });
}
