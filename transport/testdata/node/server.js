// The Node.js Engine.IO reference server (engine.io 6.6, the engine of
// socket.io 4.8) for the transport tests' differential runs. It listens on
// 127.0.0.1 on a free port, prints {"port":N} on a line of its own, and
// exits when its standard input closes.
//
// Engine.IO options come as JSON in the first argument. Each session echoes
// what its client sends, except the message "server-close", which closes
// the session from the server (socket.close(), Node's conn.close()).
// GET /state?sid=... tells the tests what the server holds for a sid:
// {"exists","transport","writable","upgrading","upgraded"}, so that they can
// wait for a pending poll or a completed upgrade without sleeping.
"use strict";
const http = require("node:http");
const { Server } = require("engine.io");

const opts = JSON.parse(process.argv[2] || "{}");
const engine = new Server(opts);
const closes = {}; // sid → reason, for the tests to read

engine.on("connection", (socket) => {
  socket.on("message", (data) => {
    if (data === "server-close") {
      socket.close();
      return;
    }
    socket.send(data);
  });
  socket.on("close", (reason) => {
    closes[socket.id] = reason;
  });
});

const server = http.createServer((req, res) => {
  const url = new URL(req.url, "http://127.0.0.1");
  if (url.pathname === "/state") {
    const sid = url.searchParams.get("sid");
    const c = Object.prototype.hasOwnProperty.call(engine.clients, sid) ? engine.clients[sid] : null;
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(JSON.stringify({
      exists: !!c,
      transport: c ? c.transport.name : "",
      writable: c ? !!c.transport.writable : false,
      upgrading: c ? c.upgrading : false,
      upgraded: c ? c.upgraded : false,
      reason: closes[sid] || "",
    }));
    return;
  }
  res.writeHead(404).end();
});
engine.attach(server, { path: "/engine.io/" });
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n");
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
