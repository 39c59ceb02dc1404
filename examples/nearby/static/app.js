// The nearby page: plain JavaScript on the official socket.io-client (the
// global `io`) and Leaflet (the global `L`) for the map. Everything the
// server sends is shown with textContent, never as HTML. README.md's
// protocol section lists the events both ways.
//
// The map is Leaflet's with world.json's tiles (OpenStreetMap by default);
// under them, and instead of them when they cannot load (offline, no tile
// server configured), a plain grid is drawn. Without Leaflet at all (npm
// not run) the page draws a plain SVG map of its own.
//
// Stable selectors (browser.test.mjs relies on them):
//   #login, #name, #login-error       the login form; #app is shown after "welcome"
//   #map                              the map: a click or tap places (or moves) you there;
//                                     class "plain" when it draws no tiles
//   #me                               your marker, draggable; #me-pos says where you are
//   #locate                           back to me (or, unplaced, ask for the location again)
//   #tabs [data-tab=people|chat|dms|you] the tabs; main#app[data-tab] is the one shown
//   #radius, #hide, #home, #no-calls  in the "you" panel, with #sign-out
//   #people li[data-key][data-id][data-name]  people near you, one per person (a name, whatever
//                                     the tabs they have open: data-id is the socket of theirs
//                                     nearest to you, which a call goes to), sorted by distance,
//                                     with class online, away or offline; .selected is the DM target
//   #selection, #sel-message, #call   the selected person's bar on the map
//   #place-prompt, #allow-location    on the map while you are not placed
//   #messages li                      class shout, dm, area or system; .mine for your
//                                     own, .history for stored ones
//   #text, #shout, #dm                the composer; #dm is disabled until a person is selected
//   #areas button[data-area="<name>"] one per open area chat: sends #text to that area
//   #conversations li[data-with]      DMs: one per person, class online, .unread
//   #conversation, #conv-seen, #conv-messages li, #conv-text, #conv-send   one conversation
//   .marker .label                    the labels on the map; .clash hides one that would overlap;
//                                     #map .person[data-key] a person's marker
// Test hook: window.nearby = {world, project(lat, lng) → {x, y} in client
// pixels (for page.mouse.click), show(lat, lng) pans the map there if it is
// not in view, fit(points) shows them all, me() → {lat, lng} or null,
// view() → {lat, lng, zoom}, zoom(z) sets it at once, leaflet: whether Leaflet draws the map}.
'use strict';

const $ = (selector) => document.querySelector(selector);
const perDegree = 6371008.8 * Math.PI / 180; // meters per degree of latitude
const step = 25; // meters per arrow key press
const zoom = 15; // the map's first zoom: about 3 m a pixel

let world = null; // /world.json: center, size, radii, radius, areas, tiles, iceServers
let socket = null;
let myId = '';
let myName = '';
let me = null; // {lat, lng, accuracy}: where I am; null until placed
let radius = 0;
let target = ''; // the key of the person selected (see persons)
let selected = null; // the person selected, as last drawn
let geoWatch = null;
let map = null; // the map's drawing: leafletMap or plainMap
const people = new Map(); // socket id → {id, lat, lng, distance, gone}
// Presence is the whole namespace's: every user's joins and leaves reach
// every page. forget drops what no longer matters.
const names = new Map(); // socket id → name, from presence metas
const presence = new Map(); // name → {metas} while present, {metas: [], lastSeen} after
let stale = false; // names or presence may hold entries forget would drop
const conversations = new Map(); // name → {with, last, lastSeen, online, unread}
let openWith = ''; // the name whose conversation is open in the DMs panel
let openLastSeen = 0; // when openWith was last online, as its history said

// What the page keeps on this device (localStorage): who I am and where.
const kept = {
  get(key) {
    try { return JSON.parse(localStorage.getItem(key)); } catch { return null; }
  },
  set(key, value) {
    try { localStorage.setItem(key, JSON.stringify(value)); } catch { /* private mode: kept for this page only */ }
  },
  remove(...keys) {
    for (const key of keys) localStorage.removeItem(key);
  },
};

// The message lists (#messages, #conv-messages) show their newest message
// whenever they grow or are shown (a hidden list has no scroll position:
// shown again, it would start at its oldest), unless the user scrolled up
// in one while it was shown: that position is kept, until they scroll
// back down.
const following = new Map(); // list → {stuck: at the bottom, top: the user's scrollTop}
for (const list of [$('#messages'), $('#conv-messages')]) {
  const f = { stuck: true, top: 0 };
  following.set(list, f);
  list.addEventListener('scroll', () => {
    if (list.clientHeight === 0) return; // hidden: not the user
    f.top = list.scrollTop;
    f.stuck = list.scrollTop + list.clientHeight >= list.scrollHeight - 8;
  });
  new ResizeObserver(() => settle(list)).observe(list);
}

const worldReady = fetch('/world.json')
  .then((res) => res.json())
  .then((w) => {
    world = readWorld(w);
    radius = world.radius;
    $('#radius').replaceChildren(...world.radii.map((r) => new Option(distance(r), r, false, r === radius)));
  });

// readWorld returns w with circles as {lat, lng, radius} (the server sends
// spatial.Circle, {center: {lat, lng}, radius}).
function readWorld(w) {
  const areas = w.areas.map((a) => (a.circle
    ? { name: a.name, circle: { ...a.circle.center, radius: a.circle.radius } }
    : a));
  return { ...w, areas, tiles: w.tiles ?? { url: '', attribution: '' }, iceServers: w.iceServers ?? [] };
}

// --- Signing in ----------------------------------------------------------

// show shows one of the login form, "signing in…" and the app.
function show(which) {
  $('#login').hidden = which !== 'login';
  $('#signing-in').hidden = which !== 'signing-in';
  $('#app').hidden = which !== 'app';
}

// A device that signed in before signs in again with its token, without
// asking; a new one picks a name.
(async function start() {
  const token = localStorage.getItem('nearby.token');
  if (!token || typeof io !== 'function') {
    $('#name').value = localStorage.getItem('nearby.name') ?? '';
    show('login');
    return;
  }
  show('signing-in');
  try {
    await worldReady;
  } catch (err) {
    showLogin(`Could not load the map: ${err.message}`);
    return;
  }
  connect({ token });
})();

function showLogin(error) {
  $('#login-error').textContent = error;
  setStatus('not connected');
  show('login');
}

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
  // The device's token is made and kept before the claim: should the
  // answer be lost (a dropped connection, a reload), asking again with it
  // signs in rather than finding the name taken by this very device.
  let token = localStorage.getItem('nearby.claim');
  if (!token) {
    token = newToken();
    localStorage.setItem('nearby.claim', token);
  }
  connect({ name: $('#name').value, token });
});

// newToken makes a device token: 32 random bytes, base64url.
function newToken() {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// forgetMe forgets who I am on this device (not where I am).
function forgetMe() {
  kept.remove('nearby.token', 'nearby.name', 'nearby.claim');
}

function connect(auth) {
  if (socket) { // a retry after a refused name, or after signing out
    socket.removeAllListeners();
    socket.disconnect();
  }
  socket = io({ auth });

  socket.on('connect_error', (err) => {
    if (socket.active) {
      setStatus('connection lost, retrying…'); // the client retries by itself
      return;
    }
    // Refused by the server's middleware: err.message is its ConnectError.
    socket.disconnect();
    if (err.message.startsWith('sign in again')) forgetMe(); // the token is no good
    if (err.message.startsWith('this device holds another name') && auth.token) {
      connect({ token: auth.token }); // claimed before, its answer lost: that name, then
      return;
    }
    myId = '';
    showLogin(err.message);
  });

  socket.on('disconnect', (reason) => {
    setStatus(socket.active ? `disconnected (${reason}), reconnecting…` : `disconnected (${reason})`);
  });

  // welcome: we are in, with a new socket id (and, the first time a name
  // is claimed, the token that signs this device in from now on). On a
  // reconnection the server knows nothing of us yet: tell it our radius,
  // hiding and position again.
  socket.on('welcome', (w) => {
    const first = !myId;
    myId = w.id;
    myName = w.name;
    const token = w.token || socket.auth.token;
    if (token) {
      localStorage.setItem('nearby.token', token);
      localStorage.removeItem('nearby.claim');
      socket.auth = { token }; // reconnections sign in with it
    }
    localStorage.setItem('nearby.name', w.name);
    people.clear();
    $('#areas').replaceChildren();
    show('app');
    setText($('#me-name'), myName);
    setStatus(`connected as ${myName}`, true);
    if (window.Calls) {
      window.Calls.attach(socket, { iceServers: world.iceServers, getName: nameOf });
      if ($('#no-calls').checked) window.Calls.setBlocked(true);
    }
    $('#no-calls-label').hidden = !window.Calls;
    if (radius !== world.radius) request('radius', radius);
    if ($('#hide').checked) request('hide', true);
    $('#home').checked = false; // a new session has no zone
    if (document.hidden) sendStatus();
    if (!map) startMap();
    if (first) {
      addSystem(`Welcome, ${myName}! People within your radius show up on the map.`);
      placeAtStart();
    } else {
      if (me) sendLocation();
      stale = true; // people was cleared
    }
    loadConversations(); // what came while I was away shows unread
    render();
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

  // Walking into an area opens its chat, with what was said there lately.
  socket.on('area:enter', ({ area }) => {
    if ($(`#areas [data-area="${CSS.escape(area)}"]`)) return;
    const b = document.createElement('button');
    b.type = 'submit';
    b.dataset.area = area;
    b.title = `Send to everyone in ${area}`;
    b.textContent = `# ${area}`;
    $('#areas').append(b);
    addSystem(`You are in ${area}: its chat is open.`);
    request('history', { area }, (res) => {
      const earlier = (res.messages ?? []).filter((m) => !shown.has(key(m)));
      if (earlier.length === 0) return;
      addSystem(`Earlier in ${area}:`);
      for (const m of earlier) addMessage('area history', m, m.area ?? area);
    });
  });

  socket.on('area:leave', ({ area }) => {
    $(`#areas [data-area="${CSS.escape(area)}"]`)?.remove();
    addSystem(`You left ${area}.`);
  });

  socket.on('shout', (m) => addMessage('shout', m, 'shout'));
  socket.on('area-chat', (m) => addMessage('area', m, m.area));

  // A DM to me, or one I sent from another tab (the server copies those
  // to all my tabs); the one this tab sent is shown when sent.
  socket.on('dm', (m) => {
    if (m.from === myId) return;
    const mine = m.name === myName;
    const peer = mine ? m.to : m.name;
    addMessage('dm', m, mine ? `dm → ${peer}` : 'dm');
    if (peer) noteDM(peer, m, !mine);
  });
}

function setPresent(key, metas) {
  presence.set(key, { metas });
  for (const m of metas) names.set(m.connId, key);
}

// forget drops the names of connections presence no longer lists and the
// last seen of users gone, but for the people still listed and those I
// talk with: an offline person stays, with their name and last seen.
function forget() {
  const listed = new Set([...people.keys()].map((id) => names.get(id)));
  for (const [id, name] of names) {
    if (!people.has(id) && !presence.get(name)?.metas.some((m) => m.connId === id)) names.delete(id);
  }
  for (const [name, entry] of presence) {
    if (entry.metas.length === 0 && !listed.has(name) && !conversations.has(name) && name !== openWith) presence.delete(name);
  }
}

// Away while the page is hidden (another tab, a locked phone).
function sendStatus() {
  socket.emit('presence:update', { status: document.hidden ? 'away' : 'online' }, () => {});
}
document.addEventListener('visibilitychange', () => { if (socket?.connected) sendStatus(); });

// Signing out gives the name back (anyone may take it then) and forgets it
// here.
$('#sign-out').addEventListener('click', () => {
  const done = () => {
    forgetMe();
    socket.removeAllListeners();
    socket.disconnect();
    socket = null;
    myId = '';
    myName = '';
    target = '';
    selected = null;
    people.clear();
    conversations.clear();
    renderConversations();
    closeConversation();
    $('#messages').replaceChildren();
    $('#areas').replaceChildren();
    render();
    $('#name').value = '';
    showLogin('');
  };
  request('sign-out', undefined, done, done);
});

// --- Sending -------------------------------------------------------------

// request emits with an acknowledgement: the server answers {ok: true},
// another result (given to onOK) or {error: "..."}, shown in #send-error;
// the timeout covers a lost connection. arg undefined sends no argument.
function request(event, arg, onOK = () => {}, onError = () => {}) {
  if (!socket) return;
  const answer = (err, res) => {
    const problem = err ? 'No answer from the server.' : res?.error;
    if (problem) {
      $('#send-error').textContent = `${event}: ${problem}`;
      onError(problem);
    } else {
      onOK(res);
    }
  };
  const s = socket.timeout(5000);
  if (arg === undefined) s.emit(event, answer);
  else s.emit(event, arg, answer);
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
  request('location', { lat: sent.lat, lng: sent.lng, accuracy: sent.accuracy }, done, done);
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
  const mine = { from: myId, name: myName, text, time: Date.now(), local: true };
  if (button.dataset.area) {
    // The server sends area chat to everyone in the area, us included.
    request('area-chat', { area: button.dataset.area, text }, sent);
  } else if (button.id === 'dm') {
    const to = selected?.name;
    if (!to) return;
    request('dm', { to, text }, () => {
      sent();
      addMessage('dm', { ...mine, to }, `dm → ${to}`);
      noteDM(to, { ...mine, to }, false);
    });
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

// "no calls": calls.js refuses (and the server stops relaying) calls to me.
$('#no-calls').checked = kept.get('nearby.noCalls') === true;
$('#no-calls').addEventListener('change', () => {
  kept.set('nearby.noCalls', $('#no-calls').checked);
  window.Calls?.setBlocked($('#no-calls').checked);
});

// --- Tabs ----------------------------------------------------------------

// showTab shows one panel: on a phone the one under the map; from 900 px
// the people are always listed and the tab picks the panel under them.
function showTab(tab) {
  $('#app').dataset.tab = tab;
  for (const b of document.querySelectorAll('#tabs [data-tab]')) b.setAttribute('aria-selected', String(b.dataset.tab === tab));
  if (tab === 'chat' || (tab === 'people' && wide.matches)) setText($('#chat-badge'), '');
  if (tab === 'dms') {
    if (openWith) readConversation(openWith);
    loadConversations();
  }
  for (const list of following.keys()) settle(list);
  map?.resize();
}
const wide = matchMedia('(min-width: 900px)');
showTab(wide.matches ? 'chat' : 'people');
$('#tabs').addEventListener('click', (ev) => {
  const b = ev.target.closest('[data-tab]');
  if (b) showTab(b.dataset.tab);
});

// panelShown reports whether the panel of tab is on screen.
const panelShown = (tab) => $('#app').dataset.tab === tab || (tab === 'chat' && wide.matches && $('#app').dataset.tab === 'people');

// --- Direct messages -----------------------------------------------------

// noteDM records m in the conversation with peer (and shows it there if it
// is open); incoming marks it unread unless it is on screen.
function noteDM(peer, m, incoming) {
  const c = conversations.get(peer) ?? { with: peer, unread: 0 };
  c.last = m;
  conversations.set(peer, c);
  if (openWith === peer) addConvMessage(m);
  if (!incoming || (openWith === peer && panelShown('dms'))) readConversation(peer);
  else c.unread = (c.unread ?? 0) + 1;
  renderConversations();
}

// What I have read is kept on this device, per name I sign in with: for
// each conversation, the time of the newest message I saw (server times,
// as in the messages). A message newer than that from the other person,
// stored while I was away, shows the conversation unread.
const readKey = () => `nearby.read.${myName}`;
const readUpTo = (peer) => kept.get(readKey())?.[peer] ?? 0;

// readConversation marks the conversation with peer read, up to its last
// message.
function readConversation(peer) {
  const c = conversations.get(peer);
  if (c) c.unread = 0;
  if (c?.last?.local) return; // timed by this device's clock, not the server's
  const time = c?.last?.time;
  if (!Number.isFinite(time) || readUpTo(peer) >= time) return;
  const all = kept.get(readKey()) ?? {};
  all[peer] = time;
  // Bounded: the newest 200 conversations are kept (the server keeps as many).
  const newest = Object.entries(all).sort((a, b) => b[1] - a[1]).slice(0, 200);
  kept.set(readKey(), Object.fromEntries(newest));
}

// loadConversations asks the server for my conversations (stored, so they
// survive reloads and restarts), newest first: one whose last message is
// the other person's, newer than what I read, is unread.
function loadConversations() {
  request('conversations', undefined, (res) => {
    for (const c of res.conversations ?? []) {
      const had = conversations.get(c.with);
      const unseen = c.last && c.last.name !== myName && c.last.time > readUpTo(c.with);
      conversations.set(c.with, { ...c, unread: Math.max(had?.unread ?? 0, unseen ? 1 : 0) });
      if (openWith === c.with && panelShown('dms')) readConversation(c.with);
    }
    renderConversations();
    showSeen();
  });
}

// renderConversations updates the list in place (a tap on an entry is
// never lost to a re-render), newest first.
function renderConversations() {
  const ul = $('#conversations');
  const list = [...conversations.values()].sort((a, b) => (b.last?.time ?? 0) - (a.last?.time ?? 0));
  const old = new Map([...ul.children].map((li) => [li.dataset.with, li]));
  list.forEach((c, i) => {
    let li = old.get(c.with);
    if (!li) {
      li = document.createElement('li');
      li.dataset.with = c.with;
      li.title = c.with;
      li.append(span('with', c.with), span('seen'), span('last'));
    }
    const online = isOnline(c.with) ?? c.online;
    setAttr(li, 'class', (online ? 'online' : 'offline') + (c.unread ? ' unread' : ''));
    setText(li.querySelector('.seen'), online ? 'online' : lastSeenOf(c.with, c.lastSeen));
    setText(li.querySelector('.last'), c.last ? `${c.last.name === myName ? 'you: ' : ''}${c.last.text}` : '');
    if (ul.children[i] !== li) ul.insertBefore(li, ul.children[i] ?? null);
  });
  for (const [name, li] of old) if (!conversations.has(name)) li.remove();
  $('#conversations-empty').hidden = list.length > 0;
  const unread = list.reduce((n, c) => n + (c.unread ?? 0), 0);
  setText($('#dms-badge'), unread ? String(unread) : '');
}

// isOnline says what presence says of name: true, false, or undefined when
// it does not know.
function isOnline(name) {
  const entry = presence.get(name);
  return entry ? entry.metas.length > 0 : undefined;
}

function lastSeenOf(name, stored) {
  const at = presence.get(name)?.lastSeen ?? stored;
  return at ? `last seen ${when(at)}` : 'offline';
}

// showSeen says in the open conversation's head whether its person is
// online, or when they were last: live, as presence changes.
function showSeen() {
  if (!openWith) return;
  const c = conversations.get(openWith);
  const online = isOnline(openWith) ?? (c?.online && !openLastSeen);
  setText($('#conv-seen'), online ? 'online' : lastSeenOf(openWith, openLastSeen || c?.lastSeen));
}

$('#conversations').addEventListener('click', (ev) => {
  const li = ev.target.closest('li[data-with]');
  if (li) openConversation(li.dataset.with);
});

// openConversation shows the conversation with name and what is stored of
// it, its newest message at the bottom.
function openConversation(name) {
  openWith = name;
  openLastSeen = 0;
  showTab('dms');
  $('#dm-list').hidden = true;
  $('#conversation').hidden = false;
  setText($('#conv-name'), name);
  $('#conv-name').title = name;
  $('#conv-error').textContent = '';
  showSeen();
  $('#conv-messages').replaceChildren();
  following.get($('#conv-messages')).stuck = true;
  readConversation(name);
  renderConversations();
  request('history', { with: name }, (res) => {
    if (openWith !== name) return;
    const live = [...$('#conv-messages').children];
    const shownHere = new Set(live.map((li) => li.dataset.key));
    const earlier = (res.messages ?? []).filter((m) => !shownHere.has(key(m)));
    $('#conv-messages').replaceChildren();
    for (const m of earlier) addConvMessage(m, true);
    $('#conv-messages').append(...live);
    settle($('#conv-messages'));
    openLastSeen = res.lastSeen ?? 0;
    showSeen();
  });
  $('#conv-text').focus({ preventScroll: true });
}

function closeConversation() {
  openWith = '';
  $('#conversation').hidden = true;
  $('#dm-list').hidden = false;
}

$('#conv-back').addEventListener('click', () => {
  closeConversation();
  loadConversations();
});

$('#conv-composer').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = $('#conv-text').value.trim();
  const to = openWith;
  if (!text || !to) return;
  request('dm', { to, text }, () => {
    $('#conv-text').value = '';
    $('#send-error').textContent = '';
    $('#conv-error').textContent = '';
    const m = { from: myId, name: myName, to, text, time: Date.now(), local: true };
    noteDM(to, m, false);
    addMessage('dm', m, `dm → ${to}`);
  }, (problem) => setText($('#conv-error'), problem));
});

function addConvMessage(m, history = false) {
  const li = document.createElement('li');
  li.className = 'dm' + (history ? ' history' : '');
  li.classList.toggle('mine', m.name === myName);
  li.dataset.key = key(m);
  li.append(span('time', clock(new Date(m.time))), span('name', m.name), span('text', m.text));
  $('#conv-messages').append(li);
  settle($('#conv-messages'));
}

// --- Selecting -----------------------------------------------------------

// select selects the person of key (see persons), or unselects them.
function select(key) {
  target = target === key ? '' : key; // a second tap unselects
  render();
}

$('#people').addEventListener('click', (ev) => {
  const li = ev.target.closest('li[data-key]');
  if (li) select(li.dataset.key);
});

// A click on a DM someone sent selects them, to answer.
$('#messages').addEventListener('click', (ev) => {
  const name = ev.target.closest('li.dm:not(.mine)')?.dataset.name;
  if (name && persons().some((p) => p.key === personKey(name))) {
    target = personKey(name);
    render();
  }
});

$('#sel-close').addEventListener('click', () => { target = ''; render(); });
$('#sel-message').addEventListener('click', () => { if (selected?.named) openConversation(selected.name); });
$('#call').addEventListener('click', () => {
  if (selected && window.Calls) window.Calls.call(selected.id, selected.name, { video: false });
});

// --- Moving --------------------------------------------------------------

// moveTo puts me at lat/lng: drawn in the next frame, sent coalesced, kept
// for the next visit. A move by hand ends following the browser's
// geolocation. The map is centered on me if center is set, or follows me
// if I walked off it.
function moveTo(lat, lng, { accuracy = 0, byHand = true, center = false } = {}) {
  if (byHand && geoWatch !== null) {
    navigator.geolocation.clearWatch(geoWatch);
    geoWatch = null;
  }
  me = { lat, lng, accuracy };
  kept.set('nearby.position', { lat, lng });
  if (center) map.setView(me);
  else map.panInside(me);
  render();
  sendLocation();
}

// placeAtStart places me where the browser's geolocation says, if it is
// granted; else where I was last time (and asks for the geolocation,
// which moves me once it is given).
async function placeAtStart() {
  let granted = false;
  try {
    granted = (await navigator.permissions.query({ name: 'geolocation' })).state === 'granted';
  } catch { /* no Permissions API: ask */ }
  const last = kept.get('nearby.position');
  if (!granted && validPoint(last)) moveTo(last.lat, last.lng, { byHand: false, center: true });
  locate();
}

const validPoint = (p) => p && Number.isFinite(p.lat) && Number.isFinite(p.lng) && Math.abs(p.lat) <= 90 && Math.abs(p.lng) <= 180;

// locate follows the browser's position if it grants one: the first fix
// centers the map. Denied (as in headless Chromium), we wait for a click.
function locate() {
  if (!navigator.geolocation || geoWatch !== null) return;
  let first = true;
  geoWatch = navigator.geolocation.watchPosition((pos) => {
    if (geoWatch === null) return; // moved by hand meanwhile
    const { latitude: lat, longitude: lng, accuracy } = pos.coords;
    moveTo(lat, lng, { accuracy: Math.round(accuracy), byHand: false, center: first });
    first = false;
  }, () => {
    if (geoWatch !== null) navigator.geolocation.clearWatch(geoWatch);
    geoWatch = null;
    if (!me) {
      setText($('#me-pos'), 'no location shared: tap the map to place yourself');
      setText($('#place-why'), 'This browser shares no location: tap the map where you are.');
    }
  }, { enableHighAccuracy: true, maximumAge: 10000 });
}

// Not placed yet: the map itself says how.
$('#allow-location').hidden = !navigator.geolocation;
$('#allow-location').addEventListener('click', () => locate());

// ◎: back to me; not placed yet, ask for the location again.
$('#locate').addEventListener('click', () => {
  if (me) map.setView(me);
  else locate();
});

// Arrow keys walk me 25 m, + and - zoom, whenever no text field has the
// focus (the map's own keyboard handling, which pans, is off).
document.addEventListener('keydown', (ev) => {
  if ($('#app').hidden || ev.altKey || ev.ctrlKey || ev.metaKey || ev.target.closest?.('input, select, textarea, [contenteditable]')) return;
  const zooms = { '+': 1, '=': 1, '-': -1, '_': -1 };
  if (zooms[ev.key] && map) {
    ev.preventDefault();
    map.zoomBy(zooms[ev.key]);
    return;
  }
  const moves = { ArrowUp: [0, step], ArrowDown: [0, -step], ArrowLeft: [-step, 0], ArrowRight: [step, 0] };
  const m = moves[ev.key];
  if (!m || !me) return;
  ev.preventDefault();
  const cos = Math.cos(me.lat * Math.PI / 180);
  moveTo(me.lat + m[1] / perDegree, me.lng + m[0] / (perDegree * cos));
});

// --- The map -------------------------------------------------------------

// startMap draws the map once the app is shown (Leaflet measures its
// container): on the last view kept, else where I was, else world.center.
function startMap() {
  const last = kept.get('nearby.view');
  const at = validPoint(last) ? last : validPoint(kept.get('nearby.position')) ? kept.get('nearby.position') : world.center;
  const z = Number.isInteger(last?.zoom) ? last.zoom : zoom;
  const on = {
    click: (p) => moveTo(p.lat, p.lng),
    drag: (p) => moveTo(p.lat, p.lng),
    select,
    moved: (v) => kept.set('nearby.view', v),
  };
  map = window.L ? leafletMap($('#map'), at, z, on) : plainMap($('#map'), at, on);
  $('#map').tabIndex = 0; // focused by a click: the arrow keys walk then
  new ResizeObserver(() => map.resize()).observe($('#map'));
}

// A map draws world.areas, me with my radius, and the people, with labels
// that never overlap (see declutter); both kinds below have these methods:
//   setView(p), panInside(p), reveal(p) (well inside the view), fit(points), view() → {lat, lng, zoom},
//   zoomBy(delta), project(lat, lng) → client {x, y}, draw(list), resize().

// leafletMap is the map on Leaflet: world.json's tiles over a plain grid
// that shows through where tiles are missing, and alone when they cannot
// load at all.
function leafletMap(el, at, z, on) {
  const m = L.map(el, { center: [at.lat, at.lng], zoom: z, zoomControl: true, keyboard: false });
  m.zoomControl.setPosition('topright');
  const Grid = L.GridLayer.extend({
    createTile() {
      const c = document.createElement('canvas');
      c.width = c.height = 256;
      const g = c.getContext('2d');
      g.fillStyle = '#f2efe9';
      g.fillRect(0, 0, 256, 256);
      g.strokeStyle = '#e0dacb';
      g.lineWidth = 1;
      g.beginPath();
      for (const d of [0.5, 64.5, 128.5, 192.5]) {
        g.moveTo(d, 0); g.lineTo(d, 256); g.moveTo(0, d); g.lineTo(256, d);
      }
      g.stroke();
      return c;
    },
  });
  new Grid({ className: 'plain-grid', zIndex: 0 }).addTo(m);
  const plain = (why) => {
    el.classList.add('plain');
    m.attributionControl.addAttribution(`plain map: ${why}`);
  };
  if (world.tiles.url) {
    let loaded = 0;
    const tiles = L.tileLayer(world.tiles.url, { attribution: world.tiles.attribution, maxZoom: 19, zIndex: 1 });
    tiles.on('tileload', () => { loaded++; });
    // No tile at all: offline, or the tile server is down. Stop asking.
    tiles.on('tileerror', () => {
      if (loaded > 0 || !m.hasLayer(tiles)) return;
      m.removeLayer(tiles);
      plain('the map tiles could not load');
    });
    tiles.addTo(m);
  } else {
    plain('no tile server configured');
  }

  for (const a of world.areas) {
    const style = { className: 'area', interactive: false };
    const shape = a.circle
      ? L.circle([a.circle.lat, a.circle.lng], { ...style, radius: a.circle.radius })
      : L.polygon(a.polygon.map((p) => [p.lat, p.lng]), style);
    shape.addTo(m);
    const c = a.circle ?? centroid(a.polygon);
    L.marker([c.lat, c.lng], { icon: labelIcon('marker area-label', a.name, [0, 0]), interactive: false, keyboard: false }).addTo(m);
  }

  const ring = L.circle([at.lat, at.lng], { className: 'radius', interactive: false, radius: 1 });
  const mine = L.marker([at.lat, at.lng], {
    icon: labelIcon('marker me-marker', 'you', [22, 22]), draggable: true, autoPan: true, keyboard: false, zIndexOffset: 1000,
  });
  mine.on('drag', (ev) => on.drag({ lat: ev.latlng.lat, lng: ev.latlng.lng }));
  mine.on('dragend', () => { const p = mine.getLatLng(); on.drag({ lat: p.lat, lng: p.lng }); });
  m.on('click', (ev) => on.click({ lat: ev.latlng.lat, lng: ev.latlng.lng }));
  m.on('moveend', () => { const c = m.getCenter(); on.moved({ lat: c.lat, lng: c.lng, zoom: m.getZoom() }); });
  m.on('zoomend', () => declutter());

  // Others' markers glide to where they moved (positions come on a grid of
  // world.precision meters, so a walk comes in steps): about a second,
  // eased, but never while zooming (a zoom ends every glide at once). Mine
  // follows the drag, never glides.
  const gliding = new Map(); // L.marker → {from, to, start}
  const glide = (mk, to) => {
    if (zooming || document.hidden) {
      gliding.delete(mk);
      mk.setLatLng(to);
      return;
    }
    gliding.set(mk, { from: mk.getLatLng(), to, start: performance.now() });
    if (gliding.size === 1) requestAnimationFrame(frame);
  };
  const frame = (now) => {
    for (const [mk, g] of gliding) {
      const t = Math.min(1, Math.max(0, (now - g.start) / 1000));
      const e = t < 0.5 ? 2 * t * t : 1 - (2 - 2 * t) ** 2 / 2; // ease in and out
      mk.setLatLng([g.from.lat + (g.to[0] - g.from.lat) * e, g.from.lng + (g.to[1] - g.from.lng) * e]);
      if (t === 1) gliding.delete(mk);
    }
    if (gliding.size > 0) requestAnimationFrame(frame);
    else declutter();
  };
  let zooming = false;
  m.on('zoomstart', () => {
    zooming = true;
    for (const [mk, g] of gliding) mk.setLatLng(g.to);
    gliding.clear();
  });
  m.on('zoomend', () => { zooming = false; });

  const markers = new Map(); // person key → L.marker, with .to, where it goes
  return {
    leaflet: true,
    setView: (p) => m.setView([p.lat, p.lng], Math.max(m.getZoom(), 13), { animate: false }),
    panInside(p) {
      if (!m.getBounds().pad(-0.05).contains([p.lat, p.lng])) m.panTo([p.lat, p.lng], { animate: false });
    },
    reveal(p) {
      if (!m.getBounds().pad(-0.25).contains([p.lat, p.lng])) m.setView([p.lat, p.lng], m.getZoom(), { animate: false });
    },
    fit: (ps) => m.fitBounds(L.latLngBounds(ps.map((p) => [p.lat, p.lng])), { padding: [60, 60], animate: false }),
    view: () => ({ ...m.getCenter(), zoom: m.getZoom() }),
    zoom: (z) => m.setZoom(z, { animate: false }),
    zoomBy(d) { // Leaflet drops a zoom asked for while one is animated: this one waits
      if (zooming) m.once('zoomend', () => m.setZoom(m.getZoom() + d));
      else m.setZoom(m.getZoom() + d);
    },
    project(lat, lng) {
      const p = m.latLngToContainerPoint([lat, lng]);
      const box = el.getBoundingClientRect();
      return { x: box.left + p.x, y: box.top + p.y };
    },
    resize: () => m.invalidateSize({ pan: false }),
    draw(list) {
      const keys = new Set(list.map((p) => p.key));
      for (const [k, mk] of markers) {
        if (!keys.has(k)) {
          gliding.delete(mk);
          mk.remove();
          markers.delete(k);
        }
      }
      for (const p of list) {
        let mk = markers.get(p.key);
        if (!mk) {
          mk = L.marker([p.lat, p.lng], { icon: labelIcon('marker person', '', [16, 16]), keyboard: false, riseOnHover: true });
          mk.on('click', () => on.select(p.key));
          mk.to = [p.lat, p.lng];
          mk.addTo(m);
          markers.set(p.key, mk);
        }
        if (mk.to[0] !== p.lat || mk.to[1] !== p.lng) {
          mk.to = [p.lat, p.lng];
          glide(mk, mk.to);
        }
        const e = mk.getElement();
        setAttr(e, 'data-key', p.key);
        setAttr(e, 'data-id', p.id);
        setAttr(e, 'data-name', p.name);
        setAttr(e, 'title', p.name);
        e.classList.toggle('online', p.status === 'online');
        e.classList.toggle('away', p.status === 'away');
        e.classList.toggle('offline', p.status === 'offline');
        e.classList.toggle('selected', p.key === target);
        setText(e.querySelector('.label'), p.name);
        mk.setZIndexOffset(p.key === target ? 900 : 0);
      }
      if (me) {
        if (!m.hasLayer(mine)) {
          ring.addTo(m);
          mine.addTo(m);
          mine.getElement().id = 'me';
          mine.getElement().title = 'you: drag to move';
        }
        const ll = mine.getLatLng();
        if (ll.lat !== me.lat || ll.lng !== me.lng) mine.setLatLng([me.lat, me.lng]);
        ring.setLatLng([me.lat, me.lng]);
        if (ring.getRadius() !== radius) ring.setRadius(radius);
        const hidden = $('#hide').checked;
        mine.getElement().classList.toggle('hidden', hidden);
        ring.getElement()?.classList.toggle('hidden', hidden);
      } else if (m.hasLayer(mine)) {
        mine.remove();
        ring.remove();
      }
    },
  };
}

// labelIcon is a marker's icon: a dot with a label above it, of size
// [w, h] in pixels, anchored on its center.
function labelIcon(className, text, size) {
  const div = document.createElement('div');
  div.append(Object.assign(document.createElement('span'), { className: 'dot' }), span('label', text));
  return L.divIcon({ className, html: div, iconSize: size, iconAnchor: [size[0] / 2, size[1] / 2] });
}

// centroid is the mean of a polygon's corners: where its name goes.
function centroid(ps) {
  const avg = (xs) => xs.reduce((s, x) => s + x, 0) / xs.length;
  return { lat: avg(ps.map((p) => p.lat)), lng: avg(ps.map((p) => p.lng)) };
}

// plainMap is the map without Leaflet: an SVG of world.size meters square
// around at, drawn in meters (x east, y south), a flat projection fine at
// a city's scale. A click places me, my marker drags, a person's selects.
function plainMap(el, at, on) {
  const SVG = 'http://www.w3.org/2000/svg';
  const svgEl = (name, attrs = {}, text) => {
    const e = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  el.classList.add('plain');
  let view = at;
  let unit = 1; // meters per CSS pixel
  const half = world.size / 2;
  const svg = svgEl('svg', { viewBox: `${-half} ${-half} ${world.size} ${world.size}`, role: 'img' });
  const grid = svgEl('g', { class: 'grid' });
  const shapes = svgEl('g');
  const ring = svgEl('circle', { class: 'radius' });
  const dots = svgEl('g');
  const mine = svgEl('g', { class: 'marker me-marker', id: 'me' });
  mine.append(svgEl('circle', { class: 'dot' }), svgEl('text', { class: 'label' }, 'you'));
  svg.append(grid, shapes, ring, dots, mine);
  el.append(svg, Object.assign(document.createElement('p'), { className: 'map-note', textContent: 'plain map: Leaflet did not load (npm ci in examples/nearby)' }));
  const xy = (lat, lng) => ({
    x: (lng - view.lng) * perDegree * Math.cos(view.lat * Math.PI / 180),
    y: (view.lat - lat) * perDegree,
  });
  const toLatLng = (clientX, clientY) => {
    const p = new DOMPoint(clientX, clientY).matrixTransform(svg.getScreenCTM().inverse());
    return { lat: view.lat - p.y / perDegree, lng: view.lng + p.x / (perDegree * Math.cos(view.lat * Math.PI / 180)) };
  };
  const markers = new Map(); // person key → <g>

  // drawBase draws what moves only with the view or the size: the grid
  // and the areas.
  function drawBase() {
    const box = el.getBoundingClientRect();
    unit = world.size / Math.max(1, Math.min(box.width, box.height));
    const lines = [svgEl('rect', { class: 'land', x: -half, y: -half, width: world.size, height: world.size })];
    for (let d = -half; d <= half; d += 500) {
      lines.push(svgEl('line', { x1: d, y1: -half, x2: d, y2: half }), svgEl('line', { x1: -half, y1: d, x2: half, y2: d }));
    }
    grid.replaceChildren(...lines);
    const out = [];
    for (const a of world.areas) {
      const c = a.circle ? xy(a.circle.lat, a.circle.lng) : xy(centroid(a.polygon).lat, centroid(a.polygon).lng);
      out.push(a.circle
        ? svgEl('circle', { class: 'area', cx: c.x, cy: c.y, r: a.circle.radius })
        : svgEl('polygon', { class: 'area', points: a.polygon.map((p) => xy(p.lat, p.lng)).map((p) => `${p.x},${p.y}`).join(' ') }));
      const g = svgEl('g', { class: 'marker area-label', transform: `translate(${c.x} ${c.y}) scale(${unit})` });
      g.append(svgEl('text', { class: 'label', 'text-anchor': 'middle', 'dominant-baseline': 'middle' }, a.name));
      out.push(g);
    }
    shapes.replaceChildren(...out);
  }

  svg.addEventListener('click', (ev) => {
    if (ev.target.closest('.person')) return;
    on.click(toLatLng(ev.clientX, ev.clientY));
  });
  mine.addEventListener('pointerdown', (ev) => {
    ev.preventDefault();
    mine.setPointerCapture(ev.pointerId);
  });
  mine.addEventListener('pointermove', (ev) => {
    if (mine.hasPointerCapture(ev.pointerId)) on.drag(toLatLng(ev.clientX, ev.clientY));
  });
  mine.addEventListener('click', (ev) => ev.stopPropagation());
  const api = {
    leaflet: false,
    setView(p) {
      view = { lat: p.lat, lng: p.lng };
      drawBase();
      render();
      on.moved({ ...view, zoom });
    },
    panInside(p) {
      const { x, y } = xy(p.lat, p.lng);
      if (Math.max(Math.abs(x), Math.abs(y)) > half * 0.95) api.setView(p);
    },
    reveal(p) {
      const { x, y } = xy(p.lat, p.lng);
      if (Math.max(Math.abs(x), Math.abs(y)) > half * 0.4) api.setView(p);
    },
    fit(ps) { api.setView(centroid(ps)); },
    view: () => ({ ...view, zoom }),
    zoom() {},
    zoomBy() {},
    project(lat, lng) {
      const p = xy(lat, lng);
      const c = new DOMPoint(p.x, p.y).matrixTransform(svg.getScreenCTM());
      return { x: c.x, y: c.y };
    },
    resize() { drawBase(); render(); },
    draw(list) {
      const keys = new Set(list.map((p) => p.key));
      for (const [k, g] of markers) {
        if (!keys.has(k)) {
          g.remove();
          markers.delete(k);
        }
      }
      for (const p of list) {
        let g = markers.get(p.key);
        if (!g) {
          g = svgEl('g');
          g.append(svgEl('title'), svgEl('circle', { class: 'dot', r: 6 }), svgEl('text', { class: 'label', y: -10, 'text-anchor': 'middle' }));
          g.addEventListener('click', () => on.select(p.key));
          markers.set(p.key, g);
          dots.append(g);
        }
        const c = xy(p.lat, p.lng);
        setAttr(g, 'class', `marker person ${p.status}${p.key === target ? ' selected' : ''}`);
        setAttr(g, 'data-key', p.key);
        setAttr(g, 'data-id', p.id);
        setText(g.querySelector('title'), p.name);
        setAttr(g, 'data-name', p.name);
        setAttr(g, 'transform', `translate(${c.x} ${c.y}) scale(${unit})`);
        setText(g.querySelector('.label'), p.name.length > 16 ? `${p.name.slice(0, 15)}…` : p.name);
      }
      mine.style.display = me ? '' : 'none';
      ring.style.display = me ? '' : 'none';
      if (!me) return;
      const c = xy(me.lat, me.lng);
      setAttr(mine, 'transform', `translate(${c.x} ${c.y}) scale(${unit})`);
      setAttr(mine.firstChild, 'r', 8);
      setAttr(mine.lastChild, 'y', -12);
      setAttr(mine.lastChild, 'text-anchor', 'middle');
      setAttr(ring, 'cx', c.x);
      setAttr(ring, 'cy', c.y);
      setAttr(ring, 'r', radius);
      mine.classList.toggle('hidden', $('#hide').checked);
      ring.classList.toggle('hidden', $('#hide').checked);
    },
  };
  drawBase();
  return api;
}

// declutter hides the labels that would overlap one shown before them or
// my dot: the selected person's first, then mine, the areas', and the
// people's nearest first. (Hovering a marker shows its label anyway.)
function declutter() {
  const order = [
    ...document.querySelectorAll('#map .person.selected .label'),
    ...document.querySelectorAll('#map .me-marker .label'),
    ...document.querySelectorAll('#map .area-label .label'),
    ...[...$('#people').children].map((li) => $(`#map .person[data-key="${CSS.escape(li.dataset.key)}"]:not(.selected) .label`)),
  ].filter(Boolean);
  const dot = me && $('#map .me-marker .dot')?.getBoundingClientRect();
  const placed = dot && dot.width > 0 ? [dot] : [];
  const boxes = order.map((e) => e.getBoundingClientRect()); // one layout for all
  order.forEach((e, i) => {
    const b = boxes[i];
    const empty = b.width === 0 || !e.textContent;
    const clash = !empty && placed.some((p) => b.left < p.right && p.left < b.right && b.top < p.bottom && p.top < b.bottom);
    if (!clash && !empty) placed.push(b);
    if (e.classList.contains('clash') !== clash) e.classList.toggle('clash', clash);
  });
}

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
  if (!world) return;
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
  const list = persons();
  const t = list.find((p) => p.key === target);
  if (!t) target = '';
  selected = t ?? null;
  renderPeople(list);
  setText($('#me-pos'), me ? `you are at ${me.lat.toFixed(5)}, ${me.lng.toFixed(5)}` : $('#me-pos').textContent);
  $('#locate').title = me ? 'Back to me' : 'Locate me';
  $('#place-prompt').hidden = !!me;
  if (map) {
    map.draw(list);
    declutter();
  }
  $('#dm').disabled = !t?.named; // offline too: the server keeps it for them
  setText($('#dm'), t ? `DM ${t.name}` : 'DM');
  $('#dm').title = t ? `To ${t.name} alone` : 'To the person selected';
  $('#selection').hidden = !t;
  if (t) {
    setText($('#sel-name'), t.name);
    $('#sel-name').title = t.name;
    setText($('#sel-info'), `${Number.isFinite(t.d) ? distance(t.d) + ' · ' : ''}${t.label}`);
    $('#call').hidden = !window.Calls || t.status === 'offline';
  }
  if (conversations.size) renderConversations();
  showSeen();
}

const nameOf = (id) => names.get(id) ?? '…';
const personKey = (name) => `name:${name}`;

// persons lists the people near me, nearest first, one per person: the
// sockets of a name (the tabs someone has open) are one person, at the
// nearest of them ({key, id, ids, named, name, lat, lng, d, status,
// label}; id is that socket's, the one a call goes to: of equally near
// ones, the newest). A socket whose name presence has not said yet is a
// person of its own until it does.
function persons() {
  const groups = new Map(); // key → sockets
  for (const p of people.values()) {
    const name = names.get(p.id);
    const k = name === undefined ? `id:${p.id}` : personKey(name);
    const s = { ...p, d: me ? haversine(me, p) : p.distance ?? Infinity, joined: joinedAt(name, p.id) };
    groups.set(k, [...(groups.get(k) ?? []), s]);
  }
  return [...groups].map(([key, sockets]) => {
    sockets.sort((a, b) => a.gone - b.gone || a.d - b.d || b.joined - a.joined);
    const p = sockets[0];
    const named = names.has(p.id);
    return { ...p, key, ids: sockets.map((x) => x.id), named, name: nameOf(p.id), ...statusOf(p, named) };
  }).sort((a, b) => a.d - b.d || a.name.localeCompare(b.name));
}

const joinedAt = (name, id) => presence.get(name)?.metas.find((m) => m.connId === id)?.joinedAt ?? 0;

// statusOf says what presence says of the person of socket p: online if a
// tab of theirs is, away if all are, else offline (since when, if known).
function statusOf(p, named) {
  const entry = named ? presence.get(names.get(p.id)) : undefined;
  const metas = entry?.metas ?? [];
  if (metas.some((m) => m.status !== 'away')) return { status: 'online', label: 'online' };
  if (metas.length > 0) return { status: 'away', label: 'away' };
  if (entry?.lastSeen) return { status: 'offline', label: `offline · last seen ${when(entry.lastSeen)}` };
  return p.gone ? { status: 'offline', label: 'offline' } : { status: 'online', label: 'online' };
}

// renderPeople updates the list in place, so a click on an entry is never
// lost to a re-render.
function renderPeople(list) {
  const ul = $('#people');
  const old = new Map([...ul.children].map((li) => [li.dataset.key, li]));
  const keys = new Set(list.map((p) => p.key));
  const items = list.map((p) => {
    let li = old.get(p.key);
    if (!li) {
      li = document.createElement('li');
      li.dataset.key = p.key;
      li.append(span('name'), span('distance'), span('status'));
    }
    setAttr(li, 'data-id', p.id);
    setAttr(li, 'data-name', p.name);
    setAttr(li, 'title', p.name);
    setAttr(li, 'class', p.status + (p.key === target ? ' selected' : ''));
    setText(li.querySelector('.name'), p.name);
    setText(li.querySelector('.distance'), Number.isFinite(p.d) ? distance(p.d) : '');
    setText(li.querySelector('.status'), p.label);
    return li;
  });
  for (const [k, li] of old) if (!keys.has(k)) li.remove();
  items.forEach((li, i) => { if (ul.children[i] !== li) ul.insertBefore(li, ul.children[i] ?? null); });
  $('#people-empty').hidden = list.length > 0;
  setText($('#people-count'), list.length ? String(list.length) : '');
}

// setAttr and setText write to the DOM only what changed: a write costs the
// browser more than the comparison.
function setAttr(e, attr, value) {
  if (e.getAttribute(attr) !== String(value)) e.setAttribute(attr, value);
}

function setText(e, text) {
  if (e.textContent !== text) e.textContent = text;
}

// shown holds the keys of the messages in #messages, so history does not
// repeat one that came live.
const shown = new Set();
const key = (m) => `${m.time}|${m.name}|${m.text}`;

function addMessage(kind, m, label) {
  const li = document.createElement('li');
  li.className = kind;
  li.classList.toggle('mine', m.from === myId || m.name === myName);
  li.dataset.from = m.from;
  li.dataset.name = m.name;
  li.append(span('time', clock(new Date(m.time))), span('tag', label), span('name', m.name), span('text', m.text));
  shown.add(key(m));
  appendMessage(li);
  if (!panelShown('chat') && !li.classList.contains('mine') && !kind.includes('history')) {
    setText($('#chat-badge'), String(Number($('#chat-badge').textContent) + 1));
  }
}

function addSystem(text) {
  appendMessage(Object.assign(document.createElement('li'), { className: 'system', textContent: text }));
}

function appendMessage(li) {
  $('#messages').append(li);
  settle($('#messages'));
}

// settle scrolls list to its newest message, or back where the user left
// it.
function settle(list) {
  const f = following.get(list);
  if (list.clientHeight === 0) return;
  if (f.stuck) list.scrollTop = list.scrollHeight;
  else if (list.scrollTop !== f.top) list.scrollTop = f.top;
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

// when formats a time in ms: the clock today, else the date too.
function when(ms) {
  const d = new Date(ms);
  return d.toDateString() === new Date().toDateString() ? clock(d) : `${d.toLocaleDateString()} ${clock(d)}`;
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
  get leaflet() { return !!map?.leaflet; },
  project: (lat, lng) => map.project(lat, lng),
  show(lat, lng) {
    map.reveal({ lat, lng });
    declutter();
  },
  fit(points) {
    map.fit(points);
    declutter();
  },
  zoom(z) {
    map.zoom(z);
    declutter();
  },
  me: () => me && { lat: me.lat, lng: me.lng },
  view: () => map?.view(),
};
