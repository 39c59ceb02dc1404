// Cross-checks internal/siomsgpack against socket.io-msgpack-parser; run by
// TestNode (node_test.go).
//
//   node crosscheck.js encode   prints one line per packet of the table below:
//                               {"name", "hex", "exact", ...describe(packet)}
//   node crosscheck.js decode   reads hex messages, one a line, from stdin and
//                               prints for each {"ok": true, ...describe(packet)}
//                               or {"ok": false, "error": "..."}
//
// describe gives what a JavaScript server sees: the type, nsp and id, and the
// data as JSON.stringify writes it, with each Buffer or ArrayBuffer written as
// a placeholder {"_placeholder":true,"num":N} and listed in hex in "bins".
'use strict';

const { Encoder, Decoder } = require('socket.io-msgpack-parser');

function describe(packet) {
  const bins = [];
  let data = null;
  if (packet.data !== undefined) {
    data = JSON.stringify(packet.data, function (key, value) {
      const orig = this[key];
      if (Buffer.isBuffer(orig) || orig instanceof ArrayBuffer) {
        bins.push(Buffer.from(orig).toString('hex'));
        return { _placeholder: true, num: bins.length - 1 };
      }
      return value;
    });
  }
  return {
    type: packet.type,
    nsp: packet.nsp,
    hasId: packet.id !== undefined,
    id: packet.id === undefined ? 0 : packet.id,
    hasData: packet.data !== undefined,
    data,
    bins,
  };
}

// exact: the Go encoder, given what Go decodes, writes the same bytes.
const table = [
  { name: 'connect without auth', exact: false, packet: { type: 0, data: undefined, nsp: '/' } },
  { name: 'connect with auth', exact: true, packet: { type: 0, data: { token: 'abc', n: 1 }, nsp: '/admin' } },
  { name: 'disconnect', exact: true, packet: { type: 1, nsp: '/admin' } },
  { name: 'event', exact: true, packet: { type: 2, data: ['chat', 'hi', 1, -1, 1.5, true, false, null], nsp: '/' } },
  { name: 'event with ack id', exact: true, packet: { type: 2, data: ['ping'], id: 7, nsp: '/' } },
  {
    name: 'client event with options', exact: false,
    packet: { type: 2, data: ['chat', { a: 1 }], options: { compress: true }, id: 3, nsp: '/' },
  },
  { name: 'numeric event name', exact: true, packet: { type: 2, data: [42, 'x'], nsp: '/' } },
  { name: 'ack', exact: true, packet: { type: 3, data: [], id: 300, nsp: '/' } },
  { name: 'server ack key order', exact: false, packet: { id: 5, type: 3, data: ['ok'], nsp: '/' } },
  { name: 'connect_error string', exact: true, packet: { type: 4, data: 'Not authorized', nsp: '/' } },
  {
    name: 'connect_error object', exact: true,
    packet: { type: 4, data: { message: 'nope', data: { code: 1 } }, nsp: '/' },
  },
  { name: 'buffer at top level', exact: true, packet: { type: 2, data: ['bin', Buffer.from([1, 2, 3])], nsp: '/' } },
  {
    name: 'buffers nested', exact: true,
    packet: {
      type: 2,
      data: ['bin', { file: Buffer.from('hello'), list: [Buffer.alloc(0), Buffer.alloc(300, 7)] }, Buffer.alloc(70000, 1)],
      nsp: '/',
    },
  },
  { name: 'binary ack', exact: true, packet: { type: 3, data: [Buffer.from([0xff])], id: 1, nsp: '/' } },
  {
    name: 'arraybuffer', exact: false,
    packet: { type: 2, data: ['ab', new Uint8Array([9, 8, 7]).buffer, new ArrayBuffer(300)], nsp: '/' },
  },
  {
    name: 'integers', exact: true,
    packet: {
      type: 2,
      data: ['n', 0, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, 2 ** 53,
        -1, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649, -(2 ** 53)],
      nsp: '/',
    },
  },
  {
    name: 'floats', exact: true,
    packet: { type: 2, data: ['f', 0.1, -2.5, 1e-7, 5e-324, 1e-300, 3.14159, 123456.789], nsp: '/' },
  },
  {
    name: 'strings', exact: true,
    packet: {
      type: 2,
      data: ['s', '', 'a'.repeat(31), 'b'.repeat(32), 'c'.repeat(255), 'd'.repeat(256), 'e'.repeat(65536),
        'é€😀', 'quote" back\\ nl\n tab\t ctrl\u0001', '\u2028\u2029', '<&>'],
      nsp: '/chat',
    },
  },
  {
    name: 'containers', exact: true,
    packet: {
      type: 2,
      data: ['c', Array.from({ length: 16 }, (_, i) => i), Array.from({ length: 70000 }, () => 1),
        Object.fromEntries(Array.from({ length: 16 }, (_, i) => ['k' + i, i])), [[[]]], {}, { z: 1, a: 2 }],
      nsp: '/',
    },
  },
  {
    name: 'undefined members and elements', exact: false,
    packet: { type: 2, data: ['u', { a: undefined, b: 1 }, [undefined, 2]], nsp: '/' },
  },
  {
    name: 'dates', exact: false,
    packet: {
      type: 2,
      data: ['d', new Date(Date.UTC(2024, 4, 1, 12, 0, 0, 123)), new Date(-1), new Date(0),
        new Date(8.64e15), new Date(-8.64e15), new Date(-62198755200000), new Date(253402300800000)],
      nsp: '/',
    },
  },
];

function encodeMode() {
  const encoder = new Encoder();
  for (const { name, exact, packet } of table) {
    const [buf] = encoder.encode(packet);
    process.stdout.write(JSON.stringify({ name, exact, hex: Buffer.from(buf).toString('hex'), ...describe(packet) }) + '\n');
  }
}

function decodeMode() {
  const input = require('fs').readFileSync(0, 'utf8');
  for (const line of input.split('\n')) {
    if (line === '') continue;
    const decoder = new Decoder();
    let out;
    decoder.on('decoded', (packet) => { out = { ok: true, ...describe(packet) }; });
    try {
      decoder.add(Buffer.from(line, 'hex'));
    } catch (err) {
      out = { ok: false, error: String(err && err.message) };
    }
    process.stdout.write(JSON.stringify(out) + '\n');
  }
}

const mode = process.argv[2];
if (mode === 'encode') encodeMode();
else if (mode === 'decode') decodeMode();
else {
  process.stderr.write('usage: node crosscheck.js encode|decode\n');
  process.exit(2);
}
