// The nearby page: plain JavaScript on the official socket.io-client (the
// global `io`), drawing its own map in SVG. Everything the server sends is
// shown with textContent, never as HTML. README.md's protocol section lists
// the events both ways.
//
// Stable selectors (browser.test.mjs relies on them):
//   #login, #name, #login-error       the login form; #app is shown after "welcome"
//   #map                              the SVG map: a click places (or moves) you there
//   #me                               your marker, draggable; #me-pos says where you are
//   #radius, #hide, #home             the radius <select>, the "hide me" and "blur my home" checkboxes
//   #people li[data-id][data-name]    people near you, sorted by distance, with
//                                     class online, away or offline; .selected is the DM target
//   #messages li                      class shout, dm, area or system; .mine for your own
//   #text, #shout, #dm                the composer; #dm is disabled until a person is selected
//   #areas button[data-area="<name>"] one per open area chat: sends #text to that area
// Test hook: window.nearby = {world, project(lat, lng) → {x, y} in client
// pixels (for page.mouse.click), me() → {lat, lng} or null}.
'use strict';

const $ = (selector) => document.querySelector(selector);
const SVG = 'http://www.w3.org/2000/svg';
const perDegree = 6371008.8 * Math.PI / 180; // meters per degree of latitude
const step = 25; // meters per arrow key press

let world = null; // /world.json: center, size, radii, radius, areas
let view = null; // {lat, lng}: the center of the drawn map
let socket = null;
let myId = '';
let myName = '';
let me = null; // {lat, lng, accuracy}: where I am; null until placed
let radius = 0;
let target = ''; // socket id of the person selected for a DM
let geoWatch = null;
const people = new Map(); // socket id → {id, lat, lng, distance, gone}
// Presence is the whole namespace's: every user's joins and leaves reach
// every page. forget drops what no longer matters.
const names = new Map(); // socket id → name, from presence metas
const presence = new Map(); // name → {metas} while present, {metas: [], lastSeen} after
let stale = false; // names or presence may hold entries forget would drop

const worldReady = fetch('/world.json')
  .then((res) => res.json())
  .then((w) => {
    world = readWorld(w);
    view = world.center;
    radius = world.radius;
    $('#radius').replaceChildren(...world.radii.map((r) => new Option(distance(r), r, false, r === radius)));
  });

// readWorld returns w with circles as {lat, lng, radius} (the server sends
// spatial.Circle, {center: {lat, lng}, radius}).
function readWorld(w) {
  const areas = w.areas.map((a) => (a.circle
    ? { name: a.name, circle: { ...a.circle.center, radius: a.circle.radius } }
    : a));
  return { ...w, areas };
}

// --- Joining -------------------------------------------------------------

$('#login').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  if (typeof io !== 'function') {
    $('#login-error').textContent = 'The Socket.IO client did not load: run `npm ci` in examples/nearby.';
    return;
  }
  $('#login-error').textContent = '';
  try {
    await worldReady;
  } catch (err) {
    $('#login-error').textContent = `Could not load the map: ${err.message}`;
    return;
  }
  connect($('#name').value);
});

function connect(name) {
  if (socket) socket.disconnect(); // a retry after a refused name
  socket = io({ auth: { name } });

  socket.on('connect_error', (err) => {
    if (socket.active) {
      setStatus('connection lost, retrying…'); // the client retries by itself
      return;
    }
    // Refused by the server's middleware: err.message is its ConnectError.
    $('#login-error').textContent = err.message;
    socket.disconnect();
    $('#login').hidden = false;
    $('#app').hidden = true;
    setStatus('not connected');
  });

  socket.on('disconnect', (reason) => {
    setStatus(socket.active ? `disconnected (${reason}), reconnecting…` : `disconnected (${reason})`);
  });

  // welcome: we are in, with a new socket id. On a reconnection the server
  // knows nothing of us yet: tell it our radius, hiding and position again.
  socket.on('welcome', (w) => {
    const first = !myId;
    myId = w.id;
    myName = w.name;
    people.clear();
    $('#areas').replaceChildren();
    $('#login').hidden = true;
    $('#app').hidden = false;
    setStatus(`connected as ${myName}`, true);
    if (radius !== world.radius) request('radius', radius);
    if ($('#hide').checked) request('hide', true);
    $('#home').checked = false; // a new session has no zone
    if (me) sendLocation();
    if (document.hidden) sendStatus();
    if (first) {
      addSystem(`Welcome, ${myName}! People within your radius show up on the map.`);
      drawMap(); // now that #app is shown; it renders
      locate();
    } else {
      stale = true; // people was cleared
      render();
    }
  });

  socket.on('presence:state', (s) => {
    presence.clear();
    for (const m of s.members) setPresent(m.key, m.metas);
    stale = true; // connections that went while we were away
    render();
  });

  socket.on('presence:diff', (d) => {
    for (const [key, leave] of Object.entries(d.leaves || {})) {
      presence.set(key, { metas: [], lastSeen: leave.lastSeen });
    }
    for (const [key, metas] of Object.entries({ ...d.joins, ...d.updates })) setPresent(key, metas);
    if (d.leaves || d.updates) stale = true; // connections gone
    render();
  });

  // A watch starts with all I see, nearest first, which replaces what I
  // knew (those shown offline stay); then they come and go one at a time.
  socket.on('nearby:state', ({ members }) => {
    for (const [id, p] of people) if (!p.gone) people.delete(id);
    for (const p of members) people.set(p.id, { id: p.id, lat: p.lat, lng: p.lng, distance: p.distance, gone: false });
    stale = true;
    render();
  });

  socket.on('nearby:enter', (p) => {
    people.set(p.id, { id: p.id, lat: p.lat, lng: p.lng, distance: p.distance, gone: false });
    render();
  });

  socket.on('nearby:move', (p) => {
    const old = people.get(p.id);
    people.set(p.id, { ...old, id: p.id, lat: p.lat, lng: p.lng, distance: undefined, gone: false });
    render();
  });

  // A person who closed the page stays, marked offline; the others go.
  socket.on('nearby:leave', ({ id, reason }) => {
    if (reason === 'disconnected' && people.has(id)) people.get(id).gone = true;
    else stale = people.delete(id) || stale;
    render();
  });

  socket.on('area:enter', ({ area }) => {
    if ($(`#areas [data-area="${CSS.escape(area)}"]`)) return;
    const b = document.createElement('button');
    b.type = 'submit';
    b.dataset.area = area;
    b.title = `Send to everyone in ${area}`;
    b.textContent = `# ${area}`;
    $('#areas').append(b);
    addSystem(`You are in ${area}: its chat is open.`);
  });

  socket.on('area:leave', ({ area }) => {
    $(`#areas [data-area="${CSS.escape(area)}"]`)?.remove();
    addSystem(`You left ${area}.`);
  });

  socket.on('shout', (m) => addMessage('shout', m, 'shout'));
  socket.on('dm', (m) => addMessage('dm', m, 'dm'));
  socket.on('area-chat', (m) => addMessage('area', m, m.area));
}

function setPresent(key, metas) {
  presence.set(key, { metas });
  for (const m of metas) names.set(m.connId, key);
}

// forget drops the names of connections presence no longer lists and the
// last seen of users gone, but for the people still listed: an offline
// person stays, with their name and last seen.
function forget() {
  const listed = new Set([...people.keys()].map((id) => names.get(id)));
  for (const [id, name] of names) {
    if (!people.has(id) && !presence.get(name)?.metas.some((m) => m.connId === id)) names.delete(id);
  }
  for (const [name, entry] of presence) {
    if (entry.metas.length === 0 && !listed.has(name)) presence.delete(name);
  }
}

// Away while the page is hidden (another tab, a locked phone).
function sendStatus() {
  socket.emit('presence:update', { status: document.hidden ? 'away' : 'online' }, () => {});
}
document.addEventListener('visibilitychange', () => { if (socket?.connected) sendStatus(); });

// --- Sending -------------------------------------------------------------

// request emits with an acknowledgement: the server answers {ok: true} or
// {error: "..."}, shown in #send-error; the timeout covers a lost connection.
function request(event, arg, onOK = () => {}, onError = () => {}) {
  socket.timeout(5000).emit(event, arg, (err, res) => {
    const problem = err ? 'No answer from the server.' : res.error;
    if (problem) {
      $('#send-error').textContent = `${event}: ${problem}`;
      onError();
    } else {
      onOK();
    }
  });
}

// Locations are coalesced: at most one in flight and one each 100 ms, the
// newest position winning (the server allows 10 a second).
let locating = false; // a "location" is waiting for its answer
let lastSent = 0;
let sendTimer = null;

function sendLocation() {
  if (!me || locating || sendTimer || !socket?.connected) return;
  const wait = lastSent + 100 - Date.now();
  if (wait > 0) {
    sendTimer = setTimeout(() => { sendTimer = null; sendLocation(); }, wait);
    return;
  }
  const sent = me;
  locating = true;
  lastSent = Date.now();
  const done = () => {
    locating = false;
    if (me !== sent) sendLocation(); // we moved meanwhile
  };
  request('location', sent, done, done);
}

$('#composer').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = $('#text').value.trim();
  const button = ev.submitter || $('#shout');
  if (!text) return;
  const sent = () => {
    $('#text').value = '';
    $('#send-error').textContent = '';
  };
  const mine = { from: myId, name: myName, text, time: Date.now() };
  if (button.dataset.area) {
    // The server sends area chat to everyone in the area, us included.
    request('area-chat', { area: button.dataset.area, text }, sent);
  } else if (button.id === 'dm') {
    const to = target;
    request('dm', { to, text }, () => { sent(); addMessage('dm', mine, `dm → ${nameOf(to)}`); });
  } else {
    request('shout', text, () => { sent(); addMessage('shout', mine, 'shout'); });
  }
});

// Enter sends where the buttons say: to the person selected (a DM) when
// one is, else a shout. (The browser's own Enter would always press the
// first button, Shout.)
$('#text').addEventListener('keydown', (ev) => {
  if (ev.key !== 'Enter' || ev.isComposing) return;
  ev.preventDefault();
  const dm = $('#dm');
  $('#composer').requestSubmit(target && !dm.disabled ? dm : $('#shout'));
});

$('#radius').addEventListener('change', () => {
  const r = Number($('#radius').value);
  request('radius', r, () => { radius = r; render(); }, () => { $('#radius').value = radius; });
});

$('#hide').addEventListener('change', () => {
  const hide = $('#hide').checked;
  request('hide', hide, render, () => { $('#hide').checked = !hide; });
});

// "blur my home": a privacy zone around where I am now. The server says
// no until I have a place.
$('#home').addEventListener('change', () => {
  const home = $('#home').checked;
  request('home', home, render, () => { $('#home').checked = !home; });
});

// --- Moving --------------------------------------------------------------

// moveTo puts me at lat/lng: drawn in the next frame, sent coalesced. A
// move by hand ends following the browser's geolocation. The map is
// centered on me if center is set or I walked off it.
function moveTo(lat, lng, { accuracy = 0, byHand = true, center = false } = {}) {
  if (byHand && geoWatch !== null) {
    navigator.geolocation.clearWatch(geoWatch);
    geoWatch = null;
  }
  me = { lat, lng, accuracy };
  const { x, y } = xy(lat, lng);
  if (center || Math.max(Math.abs(x), Math.abs(y)) > world.size / 2) {
    view = { lat, lng };
    drawMap(); // it renders
  } else {
    render();
  }
  sendLocation();
}

// locate follows the browser's position if it grants one: the first fix
// centers the map. Denied (as in headless Chromium), we wait for a click.
function locate() {
  if (!navigator.geolocation) return;
  let first = true;
  geoWatch = navigator.geolocation.watchPosition((pos) => {
    if (geoWatch === null) return; // moved by hand meanwhile
    const { latitude: lat, longitude: lng, accuracy } = pos.coords;
    moveTo(lat, lng, { accuracy: Math.round(accuracy), byHand: false, center: first });
    first = false;
  }, () => {
    if (geoWatch !== null) navigator.geolocation.clearWatch(geoWatch);
    geoWatch = null;
  }, { enableHighAccuracy: true, maximumAge: 10000 });
}

// A click on the map puts me there; my marker can be dragged (the pointer
// captured by it until released).
const moveToPointer = (ev) => {
  const p = toLatLng(ev.clientX, ev.clientY);
  moveTo(p.lat, p.lng);
};
$('#map').addEventListener('click', moveToPointer);
$('#me').addEventListener('pointerdown', (ev) => {
  ev.preventDefault();
  $('#me').setPointerCapture(ev.pointerId);
});
$('#me').addEventListener('pointermove', (ev) => {
  if ($('#me').hasPointerCapture(ev.pointerId)) moveToPointer(ev);
});

document.addEventListener('keydown', (ev) => {
  const moves = { ArrowUp: [0, step], ArrowDown: [0, -step], ArrowLeft: [-step, 0], ArrowRight: [step, 0] };
  const m = moves[ev.key];
  if (!m || !me || $('#app').hidden || ev.target.closest('input, select, textarea')) return;
  ev.preventDefault();
  const cos = Math.cos(me.lat * Math.PI / 180);
  moveTo(me.lat + m[1] / perDegree, me.lng + m[0] / (perDegree * cos));
});

// --- The map -------------------------------------------------------------

// The map is a size×size meter box around view, in meters: x east, y south
// (SVG's y grows downwards), a flat projection, fine at a city's scale.
function xy(lat, lng) {
  const cos = Math.cos(view.lat * Math.PI / 180);
  return { x: (lng - view.lng) * perDegree * cos, y: (view.lat - lat) * perDegree };
}

function toLatLng(clientX, clientY) {
  const p = new DOMPoint(clientX, clientY).matrixTransform($('#map').getScreenCTM().inverse());
  const cos = Math.cos(view.lat * Math.PI / 180);
  return { lat: view.lat - p.y / perDegree, lng: view.lng + p.x / (perDegree * cos) };
}

function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

// setAttr and setText write to the DOM only what changed: a write costs the
// browser more than the comparison.
function setAttr(e, attr, value) {
  if (e.getAttribute(attr) !== String(value)) e.setAttribute(attr, value);
}

function setText(e, text) {
  if (e.textContent !== text) e.textContent = text;
}

// unit is how many meters one CSS pixel of the map is, to size marks and
// text; drawMap measures it.
let unit = 1;

// drawMap draws what moves only with the view or the map's size (the
// ResizeObserver calls it): the grid and the areas; then it renders.
function drawMap() {
  if (!world || $('#app').hidden) return;
  const half = world.size / 2;
  const box = $('#map').getBoundingClientRect();
  unit = world.size / Math.max(1, Math.min(box.width, box.height));
  $('#map').setAttribute('viewBox', `${-half} ${-half} ${world.size} ${world.size}`);
  const grid = [el('rect', { class: 'land', x: -half, y: -half, width: world.size, height: world.size })];
  for (let d = -half; d <= half; d += 500) {
    grid.push(el('line', { x1: d, y1: -half, x2: d, y2: half }), el('line', { x1: -half, y1: d, x2: half, y2: d }));
  }
  $('#grid').replaceChildren(...grid);
  const shapes = [];
  for (const a of world.areas) {
    let at;
    if (a.circle) {
      at = xy(a.circle.lat, a.circle.lng);
      shapes.push(el('circle', { class: 'area', cx: at.x, cy: at.y, r: a.circle.radius }));
      at.y -= a.circle.radius + 8 * unit; // the name above the circle
    } else {
      const ps = a.polygon.map((p) => xy(p.lat, p.lng));
      shapes.push(el('polygon', { class: 'area', points: ps.map((p) => `${p.x},${p.y}`).join(' ') }));
      at = { x: avg(ps.map((p) => p.x)), y: avg(ps.map((p) => p.y)) };
    }
    shapes.push(el('text', { class: 'area-label', x: at.x, y: at.y, 'font-size': 11 * unit }, a.name));
  }
  $('#area-shapes').replaceChildren(...shapes);
  render();
}

const avg = (xs) => xs.reduce((s, x) => s + x, 0) / xs.length;
new ResizeObserver(drawMap).observe($('#map'));

// --- Showing -------------------------------------------------------------

// render shows the people (list and markers) and me in the next animation
// frame: however many updates come before it, the page is drawn once.
let rendering = false; // a draw is scheduled
function render() {
  if (rendering) return;
  rendering = true;
  requestAnimationFrame(() => {
    rendering = false;
    draw();
  });
}

function draw() {
  if (!world || !view) return;
  // A closed page's entry goes once its user is back with another socket,
  // or once we are far from it.
  for (const p of people.values()) {
    const metas = presence.get(names.get(p.id))?.metas ?? [];
    const back = metas.length > 0 && !metas.some((m) => m.connId === p.id);
    if (p.gone && (back || (me && haversine(me, p) > radius * 1.1))) {
      people.delete(p.id);
      stale = true;
    }
  }
  if (stale) {
    stale = false;
    forget();
  }
  if (target && !people.has(target)) target = '';
  const list = [...people.values()]
    .map((p) => ({ ...p, d: me ? haversine(me, p) : p.distance ?? Infinity, name: nameOf(p.id), ...statusOf(p) }))
    .sort((a, b) => a.d - b.d || a.name.localeCompare(b.name));
  renderPeople(list);
  renderMarkers(list);
  renderMe();
  const t = list.find((p) => p.id === target);
  $('#dm').disabled = !t || t.status === 'offline';
  setText($('#dm'), t ? `DM ${t.name}` : 'DM');
}

const nameOf = (id) => names.get(id) ?? '…';

// statusOf says what presence says of socket p: {status, label}.
function statusOf(p) {
  const entry = presence.get(names.get(p.id));
  const meta = entry?.metas.find((m) => m.connId === p.id);
  if (meta) return meta.status === 'away' ? { status: 'away', label: 'away' } : { status: 'online', label: 'online' };
  if (entry?.lastSeen) return { status: 'offline', label: `offline · last seen ${clock(new Date(entry.lastSeen), true)}` };
  return p.gone ? { status: 'offline', label: 'offline' } : { status: 'online', label: 'online' };
}

// renderPeople updates the list in place, so a click on an entry is never
// lost to a re-render.
function renderPeople(list) {
  const ul = $('#people');
  const old = new Map([...ul.children].map((li) => [li.dataset.id, li]));
  const items = list.map((p) => {
    let li = old.get(p.id);
    if (!li) {
      li = document.createElement('li');
      li.dataset.id = p.id;
      li.append(span('name'), span('distance'), span('status'));
    }
    setAttr(li, 'data-name', p.name);
    setAttr(li, 'class', p.status + (p.id === target ? ' selected' : ''));
    setText(li.querySelector('.name'), p.name);
    setText(li.querySelector('.distance'), Number.isFinite(p.d) ? distance(p.d) : '');
    setText(li.querySelector('.status'), p.label);
    return li;
  });
  for (const [id, li] of old) if (!people.has(id)) li.remove();
  items.forEach((li, i) => { if (ul.children[i] !== li) ul.insertBefore(li, ul.children[i] ?? null); });
  $('#people-empty').hidden = list.length > 0;
}

const markers = new Map(); // socket id → its <g> in #markers

// renderMarkers updates the markers in place: a person's marker is made
// when they come and removed when they go. A marker is drawn in pixels,
// scaled to the map's meters.
function renderMarkers(list) {
  for (const [id, g] of markers) {
    if (!people.has(id)) {
      g.remove();
      markers.delete(id);
    }
  }
  for (const p of list) {
    let g = markers.get(p.id);
    if (!g) {
      g = el('g', {});
      g.append(el('circle', { r: 5 }), el('text', { y: -8, 'font-size': 11 }));
      markers.set(p.id, g);
      $('#markers').append(g);
    }
    const at = xy(p.lat, p.lng);
    setAttr(g, 'class', `person ${p.status}${p.id === target ? ' selected' : ''}`);
    setAttr(g, 'transform', `translate(${at.x} ${at.y}) scale(${unit})`);
    setText(g.lastChild, p.name);
  }
}

// renderMe changes my marker in place: replacing it would end a drag.
function renderMe() {
  $('#me-layer').style.display = me ? '' : 'none';
  setText($('#me-pos'), me ? `you are at ${me.lat.toFixed(5)}, ${me.lng.toFixed(5)}` : 'click the map to place yourself');
  if (!me) return;
  const at = xy(me.lat, me.lng);
  $('#me-layer').classList.toggle('hidden', $('#hide').checked);
  setAttr($('#me-layer'), 'transform', `translate(${at.x} ${at.y})`);
  setAttr($('#me-radius'), 'r', radius);
  setAttr($('#me'), 'r', 7 * unit);
  setAttr($('#me-label'), 'y', -11 * unit);
  setAttr($('#me-label'), 'font-size', 12 * unit);
}

$('#people').addEventListener('click', (ev) => {
  const li = ev.target.closest('li[data-id]');
  if (!li) return;
  target = target === li.dataset.id ? '' : li.dataset.id; // a second click unselects
  render();
});

// A click on a DM someone sent selects them, to answer.
$('#messages').addEventListener('click', (ev) => {
  const from = ev.target.closest('li.dm:not(.mine)')?.dataset.from;
  if (from && people.has(from)) {
    target = from;
    render();
  }
});

function addMessage(kind, m, label) {
  const li = document.createElement('li');
  li.className = kind;
  li.classList.toggle('mine', m.from === myId);
  li.dataset.from = m.from;
  li.append(span('time', clock(new Date(m.time))), span('tag', label), span('name', m.name), span('text', m.text));
  appendMessage(li);
}

function addSystem(text) {
  appendMessage(Object.assign(document.createElement('li'), { className: 'system', textContent: text }));
}

function appendMessage(li) {
  const list = $('#messages');
  list.append(li);
  list.scrollTop = list.scrollHeight;
}

function span(className, text = '') {
  return Object.assign(document.createElement('span'), { className, textContent: text });
}

function setStatus(text, online = false) {
  $('#status').textContent = text;
  $('#status').classList.toggle('online', online);
}

// distance formats meters: "120 m", "1.4 km".
function distance(m) {
  return m < 1000 ? `${Math.round(m)} m` : `${(m / 1000).toFixed(1)} km`;
}

function clock(d, seconds = false) {
  const parts = [d.getHours(), d.getMinutes()].concat(seconds ? [d.getSeconds()] : []);
  return parts.map((n) => String(n).padStart(2, '0')).join(':');
}

// haversine is the distance in meters between a and b on the sphere.
function haversine(a, b) {
  const rad = Math.PI / 180;
  const h = Math.sin((b.lat - a.lat) * rad / 2) ** 2 +
    Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin((b.lng - a.lng) * rad / 2) ** 2;
  return 2 * 6371008.8 * Math.asin(Math.min(1, Math.sqrt(h)));
}

// The test hook: browser.test.mjs clicks the map where a place is.
window.nearby = {
  get world() { return world; },
  project(lat, lng) {
    const p = xy(lat, lng);
    const c = new DOMPoint(p.x, p.y).matrixTransform($('#map').getScreenCTM());
    return { x: c.x, y: c.y };
  },
  me: () => me && { lat: me.lat, lng: me.lng },
};
