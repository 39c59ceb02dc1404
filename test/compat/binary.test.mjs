// Binary data at any depth, both ways, with both parsers: whatever the
// client sends as a Buffer, a Uint8Array or an ArrayBuffer, at the top
// level or inside objects and arrays, the server binds as []byte and sends
// back as binary; []byte the server builds in Go (struct fields, maps,
// slices) reaches the client as a Buffer, as with the Node.js server (where
// socket.io-client in node receives every attachment as a Buffer).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  MODES,
  PARSERS,
  ack,
  assertBuffer,
  assertSameData,
  connected,
  eventsUntil,
  kind,
  unique,
  waitFor,
} from "./helpers.mjs";

// nested is an argument list with binary data at every depth: 7 attachments.
const nested = () => [
  Buffer.from([1, 2, 3]),
  new Uint8Array([4, 5]),
  { a: Buffer.from("x"), b: { c: [Buffer.from([6]), "s", { d: new Uint8Array([7]).buffer }] } },
  [Buffer.from([8]), [Buffer.from([0, 255])]],
  "plain",
  42,
];

for (const parser of PARSERS) {
  for (const mode of MODES) {
    const opts = { ...mode.opts, ...parser.opts };
    describe(`binary at any depth (${parser.name}, ${mode.name})`, () => {
      test("an acknowledgement echoes binary data at every depth as Buffers", async (t) => {
        const socket = await connected(t, "/", opts);
        const args = nested();
        assertSameData(await ack(socket, "echo", ...args), args);
      });

      test("an event echoes binary data at every depth as Buffers", async (t) => {
        const socket = await connected(t, "/", opts);
        const args = nested();
        const echoed = waitFor(socket, "echoed");
        socket.emit("echo-event", ...args);
        assertSameData(await echoed, args);
      });

      test("Bind into any sees []byte wherever the client put binary data", async (t) => {
        const socket = await connected(t, "/", opts);
        const [shapes] = await ack(
          socket,
          "bin-types",
          Buffer.from([1, 2]),
          { a: Buffer.from([3]), b: [new Uint8Array([4]), "s", 1.5, 2, true, null, { c: new Uint8Array([5, 6]).buffer }] },
          [Buffer.from([7])],
          "no binary",
        );
        assert.deepEqual(shapes, {
          0: "[]byte 0102",
          "1.a": "[]byte 03",
          "1.b.0": "[]byte 04",
          "1.b.1": "string",
          "1.b.2": "float64",
          "1.b.3": "float64",
          "1.b.4": "bool",
          "1.b.5": "<nil>",
          "1.b.6.c": "[]byte 0506",
          "2.0": "[]byte 07",
          3: "string",
        });
      });

      test("Args.JSON writes binary data as base64", async (t) => {
        const socket = await connected(t, "/", opts);
        const [json] = await ack(socket, "bin-json", { a: Buffer.from([1, 2, 3]), n: 1 }, Buffer.from("hi"), "s");
        assert.deepEqual(
          json.map((j) => JSON.parse(j)),
          [{ a: "AQID", n: 1 }, "aGk=", "s"],
        );
      });

      test("[]byte in Go struct fields binds and goes back as Buffers", async (t) => {
        const socket = await connected(t, "/", opts);
        const doc = {
          name: "doc",
          data: Buffer.from([1]),
          parts: [Buffer.from([2]), new Uint8Array([3, 4])],
          inner: { blob: Buffer.from("b"), n: 5 },
          byKey: { x: Buffer.from([6]) },
          any: { deep: [Buffer.from([7])] },
        };
        const back = waitFor(socket, "bin-struct-back");
        const [got, seen] = await ack(socket, "bin-struct", doc);
        assert.deepEqual(seen, {
          data: "01",
          "parts.0": "02",
          "parts.1": "0304",
          "inner.blob": "62",
          "byKey.x": "06",
          "any.deep.0": "[]byte 07",
        });
        assertSameData(got, doc, "acknowledgement");
        assertSameData((await back)[0], doc, "event");
      });

      test("[]byte the server builds in structs, maps and slices arrives as Buffers", async (t) => {
        const socket = await connected(t, "/", opts);
        const pushed = waitFor(socket, "pushed");
        const pushedMap = waitFor(socket, "pushed-map");
        const [acked] = await ack(socket, "bin-push");
        const doc = {
          name: "go",
          data: [0, 1, 2, 255],
          parts: [[10], [11, 12]].map((b) => new Uint8Array(b)),
          inner: { blob: Buffer.from("inner"), n: 7 },
          byKey: { k: Buffer.from([0xca, 0xfe]) },
          any: [Buffer.from([1]), "text", { deep: Buffer.from([2, 3]) }],
        };
        doc.data = new Uint8Array(doc.data);
        assertSameData(acked, doc, "acknowledgement");
        const [top, d] = await pushed;
        assertBuffer(top, [0xbe, 0xef], "top level");
        assertSameData(d, doc, "struct");
        const [m] = await pushedMap;
        assertSameData(
          m,
          {
            top: Buffer.from([0xde, 0xad]),
            list: [Buffer.from([8]), "x", { deep: Buffer.from([9]) }],
            empty: Buffer.alloc(0),
          },
          "map",
        );
      });

      test(
        "a nil []byte is null, as encoding/json writes it",
        async (t) => {
          const socket = await connected(t, "/", opts);
          const [top, m, d] = await ack(socket, "bin-nil");
          assertBuffer(d.c, [1], "a non-nil field");
          assert.deepEqual(
            { top: kind(top), inMap: kind(m.nil), fields: Object.keys(d).sort(), field: kind(d.a) },
            { top: "object null", inMap: "object null", fields: ["a", "c"], field: "object null" },
          );
        },
      );

      test("a server EmitWithAck carries binary both ways", async (t) => {
        const socket = await connected(t, "/", opts);
        socket.on("bin-question", (b, obj, answer) => {
          assertBuffer(b, [1, 2, 3], "question");
          assertBuffer(obj.n, [4], "question.n");
          answer(Buffer.from([9]), { x: [new Uint8Array([10])] });
        });
        const [values, shapes] = await ack(socket, "ask-bin");
        assertSameData(values, [Buffer.from([9]), { x: [Buffer.from([10])] }]);
        assert.deepEqual(shapes, { 0: "[]byte 09", "1.x.0": "[]byte 0a" });
      });

      test("a broadcast EmitWithAck gets binary answers, the waiting sender's too", async (t) => {
        const nsp = unique("/dyn-bin");
        const [a, b, c] = await Promise.all([1, 2, 3].map(() => connected(t, nsp, opts)));
        for (const [s, name] of [
          [a, "a"],
          [b, "b"],
          [c, "c"],
        ]) {
          s.on("room-question", (bin, obj, answer) => {
            assertBuffer(bin, [0xaa], `${name}: question`);
            assertBuffer(obj.k, [0xbb], `${name}: question.k`);
            answer(Buffer.from(name), { who: new Uint8Array([name.charCodeAt(0)]) });
          });
        }
        await ack(a, "join", "r");
        await ack(b, "join", "r");
        const [answers] = await ack(a, "ask-room-bin", "r");
        assert.deepEqual(answers, [
          { 0: "[]byte 61", "1.who": "[]byte 61" },
          { 0: "[]byte 62", "1.who": "[]byte 62" },
        ]);
      });

      test("binary data broadcast to a room", async (t) => {
        const nsp = unique("/dyn-bin");
        const [a, b, c] = await Promise.all([1, 2, 3].map(() => connected(t, nsp, opts)));
        const room = "r";
        await ack(a, "join", room);
        await ack(b, "join", room);
        const want = [
          "room-bin",
          Buffer.from([1]),
          { nested: [Buffer.from([2])], s: "t" },
          { server: Buffer.from([0x5e, 0x4e]) },
        ];
        // from the namespace: every member of the room
        let seen = [a, b, c].map((s) => eventsUntil(s, "t1"));
        await ack(c, "bin-to-room", { room, token: "t1" }, Buffer.from([1]), { nested: [Buffer.from([2])], s: "t" });
        let [ea, eb, ec] = await Promise.all(seen);
        assertSameData(ea, [want], "a");
        assertSameData(eb, [want], "b");
        assert.deepEqual(ec, [], "c is not in the room");
        // from a socket: the sender is left out
        seen = [a, b, c].map((s) => eventsUntil(s, "t2"));
        await ack(a, "bin-to-room", { room, token: "t2", fromSocket: true }, Buffer.from([1]), {
          nested: [Buffer.from([2])],
          s: "t",
        });
        [ea, eb, ec] = await Promise.all(seen);
        assert.deepEqual(ea, [], "the sender is left out");
        assertSameData(eb, [want], "b");
        assert.deepEqual(ec, []);
      });
    });
  }
}
