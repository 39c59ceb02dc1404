// The live view (live.html): a read-only screen of how many people are in
// each area and the latest messages of one area's chat, fed by the
// server's Server-Sent Events (GET /live/events?area=<name>) through an
// EventSource, which reconnects by itself. No Socket.IO client.
//
// Events: "occupancy" {areas: [{name, people}], time}, the counts of every
// area (the last counts come first on a fresh connection); "area-chat"
// {from, name, text, time, area}, a message of the chosen area;
// "stream:reset" (a reason), the server could not resume from our last
// event id: messages may be missing. The page keeps each area's messages
// and last event id in sessionStorage, so a reload shows them again and
// resumes where it was (when the server keeps events for recovery).
(() => {
  'use strict';
  const maxMessages = 50;
  const $ = (id) => document.getElementById(id);
  const el = {
    area: $('area'), status: $('status'), occupancy: $('occupancy'), chat: $('chat'),
    title: $('chat-title'), notice: $('notice'), messages: $('messages'), empty: $('empty'),
  };
  let names = []; // the areas, in the world's order
  const counts = new Map(); // area name → people
  let area = new URLSearchParams(location.search).get('area') || '';
  let source = null;
  let kept = { id: '', messages: [] }; // the chosen area's, as in sessionStorage

  const storeKey = (a) => `nearby.live.${a}`;
  function load(a) {
    try {
      const v = JSON.parse(sessionStorage.getItem(storeKey(a)));
      if (v && typeof v.id === 'string' && Array.isArray(v.messages)) return v;
    } catch { /* unreadable: start afresh */ }
    return { id: '', messages: [] };
  }
  function save() {
    try { sessionStorage.setItem(storeKey(area), JSON.stringify(kept)); } catch { /* full or off: fine */ }
  }

  function setStatus(text, live) {
    el.status.textContent = text;
    el.status.classList.toggle('live', live);
  }

  function renderOccupancy() {
    const all = [...names, ...[...counts.keys()].filter((n) => !names.includes(n))];
    el.occupancy.replaceChildren(...all.map((name) => {
      const li = document.createElement('li');
      li.dataset.area = name;
      li.classList.toggle('selected', name === area);
      const count = document.createElement('span');
      count.className = 'count';
      count.textContent = counts.has(name) ? String(counts.get(name)) : '–';
      const unit = document.createElement('span');
      unit.className = 'unit';
      unit.textContent = counts.get(name) === 1 ? 'person' : 'people';
      const label = document.createElement('span');
      label.className = 'name';
      label.textContent = name;
      li.append(count, unit, label);
      return li;
    }));
    fitNames();
  }

  function renderMessages() {
    el.chat.hidden = !area;
    el.title.textContent = area ? `Latest messages in ${area}` : 'Latest messages';
    el.empty.hidden = kept.messages.length > 0;
    el.messages.replaceChildren(...kept.messages.map((m) => {
      const li = document.createElement('li');
      const who = document.createElement('span');
      who.className = 'who';
      who.textContent = m.name;
      const when = document.createElement('time');
      const t = new Date(m.time);
      when.dateTime = t.toISOString();
      when.textContent = clock(t);
      const text = document.createElement('span');
      text.className = 'text';
      text.textContent = m.text;
      li.append(who, when, text);
      return li;
    }));
  }

  // clock is the app's time format, 24 hours: "15:37".
  const clock = (d) => [d.getHours(), d.getMinutes()].map((n) => String(n).padStart(2, '0')).join(':');

  // fitNames shrinks the font of an area's name that does not fit its box
  // (names wrap at spaces only, never inside a word), down to 60 %.
  function fitNames() {
    for (const e of el.occupancy.querySelectorAll('.name')) {
      e.style.fontSize = '';
      const full = parseFloat(getComputedStyle(e).fontSize);
      for (let size = full; e.scrollWidth > e.clientWidth && size > full * 0.6; size -= 1) e.style.fontSize = `${size - 1}px`;
    }
  }
  addEventListener('resize', fitNames);

  function showNotice(text) {
    el.notice.textContent = text;
    el.notice.hidden = !text;
  }

  // remember keeps the id of an event that has one: where to resume from.
  function remember(e) {
    if (e.lastEventId && e.lastEventId !== kept.id) {
      kept.id = e.lastEventId;
      save();
    }
  }

  function connect() {
    if (source) source.close();
    kept = load(area);
    showNotice('');
    renderMessages();
    renderOccupancy();
    const q = new URLSearchParams();
    if (area) q.set('area', area);
    if (kept.id) q.set('lastEventId', kept.id); // EventSource sends its own Last-Event-ID when it reconnects
    setStatus('connecting…', false);
    const es = new EventSource(`/live/events?${q}`);
    source = es;
    es.onopen = () => setStatus('live', true);
    es.onerror = () => setStatus(es.readyState === EventSource.CLOSED ? 'disconnected' : 'reconnecting…', false);
    es.addEventListener('occupancy', (e) => {
      const v = JSON.parse(e.data);
      counts.clear();
      for (const a of v.areas || []) counts.set(a.name, a.people);
      renderOccupancy();
      remember(e);
    });
    es.addEventListener('area-chat', (e) => {
      const m = JSON.parse(e.data);
      if (m.area === area) {
        kept.messages = [m, ...kept.messages].slice(0, maxMessages);
        save();
        renderMessages();
      }
      remember(e);
    });
    es.addEventListener('stream:reset', () => {
      if (area) showNotice('Reconnected: messages sent meanwhile may be missing.');
    });
  }

  el.area.addEventListener('change', () => {
    area = el.area.value;
    const u = new URL(location.href);
    if (area) u.searchParams.set('area', area); else u.searchParams.delete('area');
    history.replaceState(null, '', u);
    connect();
  });

  fetch('/world.json')
    .then((r) => r.json())
    .then((world) => {
      names = (world.areas || []).map((a) => a.name);
      for (const name of names) el.area.add(new Option(name, name));
      if (!names.includes(area)) area = '';
      el.area.value = area;
      connect();
    })
    .catch(() => setStatus('cannot load the areas: reload the page', false));
})();
