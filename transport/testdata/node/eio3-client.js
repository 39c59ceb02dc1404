// Drives engine.io-client 3.x (the engine of socket.io-client 2.x) against
// the Engine.IO server at the URL in the first argument, which echoes every
// message (transport/eio3_client_test.go). The second argument is the mode:
//   default      polling, then the upgrade to websocket
//   websocket    websocket only
//   polling      polling only
//   polling-b64  polling only, binary data as base64 (forceBase64)
//   default-b64  polling then websocket, binary data as base64
// It opens a session, waits for the upgrade (default modes), sends a text
// and a binary message and waits for their echoes, waits for three
// heartbeats (the client's pings answered by the server's pongs), checks
// the session is still on the expected transport, closes, and prints a
// JSON report. It exits 1 on an error or after 20s, and otherwise once
// nothing is left to do (over polling, the POST of the close packet).
"use strict";
const eio = require("engine.io-client");

const [url, mode] = process.argv.slice(2);
const upgrade = mode === "default" || mode === "default-b64";
const opts = {
  path: "/engine.io/",
  transports: mode === "websocket" ? ["websocket"] : mode.startsWith("polling") ? ["polling"] : ["polling", "websocket"],
  forceBase64: mode.endsWith("-b64"),
};
const report = { mode, open: "", upgraded: "", text: "", binary: [], pongs: 0, final: "", closed: "" };

const fail = (why) => {
  console.error(`eio3-client ${mode}: ${why}; report so far ${JSON.stringify(report)}`);
  process.exit(1);
};
setTimeout(() => fail("timed out"), 20000).unref();

const socket = eio(url, opts);
socket.on("error", (err) => fail(`error ${err && err.message ? err.message : err}`));
socket.on("open", () => {
  report.open = socket.transport.name;
  if (!upgrade) exchange();
});
socket.on("upgrade", (t) => {
  report.upgraded = t.name;
  exchange();
});

let started = false;
function exchange() {
  if (started) return;
  started = true;
  socket.on("message", (data) => {
    if (typeof data === "string") {
      report.text = data;
    } else {
      report.binary = Array.from(new Uint8Array(data));
    }
    if (report.text && report.binary.length) heartbeats();
  });
  socket.send("hello €");
  socket.send(Buffer.from([1, 2, 3, 255]));
}

function heartbeats() {
  socket.on("pong", () => {
    report.pongs++;
    if (report.pongs === 3) {
      report.final = socket.transport.name;
      socket.on("close", (reason) => {
        report.closed = reason;
        process.stdout.write(JSON.stringify(report) + "\n");
        // No exit here: node exits once the close packet's POST is done.
      });
      socket.close();
    }
  });
}
