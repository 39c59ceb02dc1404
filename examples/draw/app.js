// The drawing page: plain JavaScript on the official socket.io-client (the
// global `io`).
//
// Two canvases: #picture shows the room's picture exactly as the server
// has it, built only from what the server sends ("picture", then "draw" and
// "clear" in the server's order), so every page shows the same; #ink, on
// top, shows your own points from the moment you draw them until the
// server sends them back and they move to #picture.
'use strict';

const $ = (selector) => document.querySelector(selector);
const picture = $('#picture').getContext('2d');
const ink = $('#ink').getContext('2d');
const W = picture.canvas.width;
const H = picture.canvas.height;
const FLUSH_MS = 50; // how often points drawn are sent

let maxPoints = 2000; // per stroke: the server says in "picture"
let strokes = new Map(); // the picture: id → {color, width, points}, oldest first
let pen = null; // the stroke being drawn: {stroke, color, width, count, last}
let pending = null; // its points not sent yet: {stroke, color, width, from, points}
let inflight = []; // batches sent, not yet back from the server
let strokeNumber = 0;
let flushTimer = null;
let color = '#1d2430';

// The room is the URL's hash: #sketches, or "main" with none.
const roomName = () => decodeURIComponent(location.hash.slice(1)).trim() || 'main';

if (typeof io !== 'function') {
  $('#error').textContent = 'The Socket.IO client did not load: run `npm ci` in examples/draw.';
  throw new Error('socket.io-client is missing');
}

// auth is a function so that every (re)connection asks for the current room.
const socket = io({ auth: (cb) => cb({ room: roomName() }) });

socket.on('connect', () => setStatus('connected', true));
socket.on('connect_error', (err) => {
  // refused by the server (a bad room name, too many rooms) or unreachable
  setStatus(socket.active ? 'connection lost, retrying…' : `not connected: ${err.message}`);
});
socket.on('disconnect', (reason) => {
  setStatus(socket.active ? `disconnected (${reason}), reconnecting…` : `disconnected (${reason})`);
});
window.addEventListener('hashchange', () => {
  socket.disconnect();
  socket.connect(); // the new room's picture follows
});

// picture: the whole picture, on every (re)connection. What we sent and did
// not get back is in it, or lost with the connection.
socket.on('picture', (p) => {
  $('#room').textContent = '#' + p.room;
  maxPoints = p.maxPoints;
  strokes = new Map(p.strokes.map((s) => [s.id, s]));
  inflight = [];
  redraw();
  redrawInk();
});

// draw: points added to stroke id, by socket `by`; strokes below `first`
// were dropped as the oldest.
socket.on('draw', (d) => {
  let s = strokes.get(d.id);
  const from = s ? s.points.at(-1) : null;
  if (!s) strokes.set(d.id, (s = { id: d.id, color: d.color, width: d.width, points: [] }));
  s.points.push(...d.points);
  path(picture, s, from, d.points);
  let dropped = false;
  for (const id of strokes.keys()) {
    if (id >= d.first) break;
    strokes.delete(id);
    dropped = true;
  }
  if (dropped) redraw();
  if (d.by === socket.id && inflight.length > 0) {
    inflight.shift(); // ours, back: now on #picture, off #ink
    redrawInk();
  }
});

socket.on('clear', () => {
  strokes.clear();
  redraw();
});

// --- Drawing ---------------------------------------------------------------

const canvas = $('#ink');

canvas.addEventListener('pointerdown', (ev) => {
  if (ev.button !== 0) return;
  canvas.setPointerCapture(ev.pointerId);
  pen = { stroke: ++strokeNumber, color, width: Number($('#width').value), count: 0, last: null };
  addPoint(toPoint(ev, canvas.getBoundingClientRect()));
});

canvas.addEventListener('pointermove', (ev) => {
  if (!pen) return;
  // coalesced events: every position since the last event, for smooth lines
  const r = canvas.getBoundingClientRect();
  for (const e of ev.getCoalescedEvents?.() ?? [ev]) addPoint(toPoint(e, r));
});

for (const type of ['pointerup', 'pointercancel']) {
  canvas.addEventListener(type, () => {
    if (!pen) return;
    flush();
    pen = null;
  });
}

// toPoint maps an event's position to fractions of r, the canvas's
// rectangle, rounded as the server rounds them.
function toPoint(ev, r) {
  const f = (v) => Math.round(Math.min(1, Math.max(0, v)) * 1e4) / 1e4;
  return [f((ev.clientX - r.left) / r.width), f((ev.clientY - r.top) / r.height)];
}

function addPoint(p) {
  const last = pen.last;
  if (last && Math.hypot((p[0] - last[0]) * W, (p[1] - last[1]) * H) < 1) return; // under a pixel
  if (pen.count === maxPoints) {
    // A stroke holds at most maxPoints: go on with a new one, from here.
    flush();
    pen = { ...pen, stroke: ++strokeNumber, count: 0 };
    pending = { stroke: pen.stroke, color: pen.color, width: pen.width, from: null, points: [last] };
    pen.count = 1;
  }
  if (!pending) pending = { stroke: pen.stroke, color: pen.color, width: pen.width, from: last, points: [] };
  pending.points.push(p);
  pen.count++;
  pen.last = p;
  path(ink, pen, last, [p]);
  flushTimer ??= setTimeout(flush, FLUSH_MS);
}

// flush sends the pending points, and keeps them on #ink until they are
// back. An error (say, the server refused them) takes them off.
function flush() {
  clearTimeout(flushTimer);
  flushTimer = null;
  if (!pending) return;
  const b = pending;
  pending = null;
  inflight.push(b);
  const { stroke, color, width, points } = b;
  socket.timeout(5000).emit('draw', { stroke, color, width, points }, (err, res) => {
    if (!err && !res.error) return;
    $('#error').textContent = err ? 'No answer from the server.' : res.error;
    const i = inflight.indexOf(b);
    if (i >= 0) {
      inflight.splice(i, 1);
      redrawInk();
    }
  });
}

// --- Tools -----------------------------------------------------------------

for (const b of document.querySelectorAll('#palette button')) {
  b.style.background = b.dataset.color;
  b.addEventListener('click', () => {
    color = b.dataset.color;
    for (const o of document.querySelectorAll('#palette button')) o.setAttribute('aria-checked', String(o === b));
  });
}

$('#clear').addEventListener('click', () => {
  socket.timeout(5000).emit('clear', (err, res) => {
    $('#error').textContent = err ? 'No answer from the server.' : res.error ?? '';
  });
});

// --- Showing ---------------------------------------------------------------

// path draws points of a stroke, joined to the point before them, from.
function path(ctx, s, from, points) {
  ctx.strokeStyle = ctx.fillStyle = s.color;
  ctx.lineWidth = s.width;
  ctx.lineCap = ctx.lineJoin = 'round';
  ctx.beginPath();
  if (!from && points.length === 1) {
    ctx.arc(points[0][0] * W, points[0][1] * H, s.width / 2, 0, 2 * Math.PI); // a dot
    ctx.fill();
    return;
  }
  const [first, ...rest] = from ? [from, ...points] : points;
  ctx.moveTo(first[0] * W, first[1] * H);
  for (const [x, y] of rest) ctx.lineTo(x * W, y * H);
  ctx.stroke();
}

function redraw() {
  picture.clearRect(0, 0, W, H);
  for (const s of strokes.values()) path(picture, s, null, s.points);
}

function redrawInk() {
  ink.clearRect(0, 0, W, H);
  for (const b of pending ? [...inflight, pending] : inflight) path(ink, b, b.from, b.points);
}

function setStatus(text, online = false) {
  $('#status').textContent = text;
  $('#status').classList.toggle('online', online);
}
