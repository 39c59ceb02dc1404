// Calls between people near each other: WebRTC, browser to browser (audio,
// video if asked, and a data channel "chat"), introduced by the server,
// which relays the call's signals between the two pages and nobody else
// (calls.go). This file owns the call overlay and its style; app.js gives
// it the socket and starts calls:
//
//   Calls.attach(socket, {iceServers, getName})  on each new socket
//   Calls.call(peerId, peerName, {video})         the Call button of a person
//   Calls.setBlocked(bool)                        take no calls (until told otherwise);
//                                                 a promise of the server's error, '' if none
//
// A call, as the caller sees it: ring → (the callee accepts) → offer →
// answer, ICE candidates both ways → connected. Only the caller offers;
// the callee answers. One call at a time; a second ring is declined.
//
// Stable selectors (calls.test.mjs relies on them): #calls, the overlay,
// with data-state idle | outgoing | incoming | connecting | connected;
// #calls-title, #calls-accept, #calls-decline, #calls-cancel,
// #calls-mute, #calls-camera, #calls-hangup, #calls-text and #calls-send
// (the chat), #calls-messages li (.mine for your own), #calls-notice (why
// the last call ended or was refused) and #calls-close; the remote media
// #calls-remote-audio and #calls-remote-video.
// Test hook: Calls.state() → {state, me, peerId, peerName, video,
// connection (the RTCPeerConnection's connectionState), notice, muted,
// messages}.
'use strict';

window.Calls = (() => {
  const ringTimeout = 30_000; // ms an unanswered call rings
  const maxChat = 500; // characters of a chat message
  const keptChat = 100; // chat messages shown

  let socket = null;
  let iceServers = [];
  let getName = () => '';
  const attached = new WeakSet();
  let blocked = false; // the page remembers the choice and says it again

  // call is the call in progress, or null: {peerId, peerName, video,
  // outgoing, state, pc, media (a promise of the local MediaStream or
  // null), local, channel, pending (candidates before the remote
  // description), startedAt, timers}.
  let call = null;
  let notice = '';
  let messages = []; // {mine, text} of the current call's chat
  let signals = Promise.resolve(); // incoming signals, handled in order

  // --- the overlay ---------------------------------------------------
  const el = (tag, props = {}, ...children) => {
    const e = Object.assign(document.createElement(tag), props);
    e.append(...children);
    return e;
  };
  const ui = {};
  function build() {
    document.head.append(el('style', { textContent: css }));
    ui.title = el('h2', { id: 'calls-title' });
    ui.audio = el('audio', { id: 'calls-remote-audio', autoplay: true });
    ui.video = el('video', { id: 'calls-remote-video', autoplay: true, muted: true, playsInline: true });
    ui.preview = el('video', { id: 'calls-local-video', autoplay: true, muted: true, playsInline: true });
    ui.messages = el('ul', { id: 'calls-messages' });
    ui.messages.setAttribute('aria-live', 'polite');
    ui.text = el('input', { id: 'calls-text', autocomplete: 'off', maxLength: maxChat, placeholder: 'Message…' });
    ui.chat = el('form', { className: 'calls-chat' }, ui.messages,
      el('div', { className: 'calls-row' }, ui.text, el('button', { id: 'calls-send', type: 'submit', textContent: 'Send' })));
    const button = (id, text, cls, onclick) => el('button', { id, type: 'button', textContent: text, className: cls, onclick });
    ui.accept = button('calls-accept', 'Accept', 'calls-go', () => accept());
    ui.decline = button('calls-decline', 'Decline', 'calls-stop', () => end('', 'decline'));
    ui.cancel = button('calls-cancel', 'Cancel', 'calls-stop', () => end('', 'hangup'));
    ui.mute = button('calls-mute', 'Mute', '', () => toggle('audio'));
    ui.camera = button('calls-camera', 'Camera off', '', () => toggle('video'));
    ui.hangup = button('calls-hangup', 'Hang up', 'calls-stop', () => end('', 'hangup'));
    ui.notice = el('p', { id: 'calls-notice' });
    ui.notice.setAttribute('role', 'status');
    ui.close = button('calls-close', '✕', 'calls-x', () => { notice = ''; render(); });
    ui.close.setAttribute('aria-label', 'Close');
    ui.media = el('div', { className: 'calls-media' }, ui.video, ui.preview, ui.audio);
    ui.card = el('div', { className: 'calls-card' },
      ui.title, ui.media, ui.chat,
      el('div', { className: 'calls-row calls-actions' }, ui.accept, ui.decline, ui.cancel, ui.mute, ui.camera, ui.hangup));
    ui.card.setAttribute('role', 'dialog');
    ui.card.setAttribute('aria-label', 'Call');
    ui.bar = el('div', { className: 'calls-bar' }, ui.notice, ui.close);
    ui.root = el('div', { id: 'calls' }, ui.card, ui.bar);
    ui.chat.addEventListener('submit', (e) => { e.preventDefault(); chat(); });
    document.body.append(ui.root);
    render();
    setInterval(() => call?.state === 'connected' && render(), 1000); // the duration
  }

  function render() {
    const state = call ? call.state : 'idle';
    ui.root.dataset.state = state;
    ui.card.hidden = !call;
    ui.bar.hidden = !notice;
    ui.notice.textContent = notice;
    if (!call) return;
    const who = call.peerName || 'someone';
    ui.title.textContent = {
      outgoing: `Calling ${who}…`,
      incoming: `${who} is calling${call.video ? ' (video)' : ''}`,
      connecting: `Connecting to ${who}…`,
      connected: `${who} · ${duration(Date.now() - call.startedAt)}`,
    }[state];
    const show = (e, on) => { e.hidden = !on; };
    show(ui.accept, state === 'incoming');
    show(ui.decline, state === 'incoming');
    show(ui.cancel, state === 'outgoing');
    const live = state === 'connecting' || state === 'connected';
    show(ui.mute, live);
    show(ui.camera, live && call.video);
    show(ui.hangup, live);
    show(ui.chat, state === 'connected');
    show(ui.media, live && call.video);
    ui.mute.textContent = muted() ? 'Unmute' : 'Mute';
    ui.mute.setAttribute('aria-pressed', String(muted()));
    ui.camera.textContent = tracks('video').some((t) => !t.enabled) ? 'Camera on' : 'Camera off';
  }

  const duration = (ms) => {
    const s = Math.floor(ms / 1000);
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  };
  const tracks = (kind) => (call?.local ? call.local.getTracks().filter((t) => t.kind === kind) : []);
  const muted = () => tracks('audio').some((t) => !t.enabled);

  function clearChat() {
    messages = [];
    ui.messages.replaceChildren();
  }

  function showMessage(mine, text) {
    messages.push({ mine, text });
    if (messages.length > keptChat) messages = messages.slice(-keptChat);
    ui.messages.replaceChildren(...messages.map((m) =>
      el('li', { className: m.mine ? 'mine' : '', textContent: `${m.mine ? 'you' : call?.peerName || 'them'}: ${m.text}` })));
    ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  // --- signalling ----------------------------------------------------

  // send sends a signal of kind to the peer and resolves to the server's
  // error ('' when relayed).
  function send(kind, data, to = call?.peerId) {
    return new Promise((resolve) => {
      if (!socket?.connected || !to) return resolve('not connected');
      const msg = data === undefined ? { to, kind } : { to, kind, data };
      socket.timeout(5000).emit('call:signal', msg, (err, res) => resolve(err ? 'no answer from the server' : res?.error || ''));
    });
  }

  function onSignal(m) {
    if (!m || typeof m.from !== 'string' || typeof m.kind !== 'string') return;
    signals = signals.then(() => handle(m)).catch((e) => end(`the call failed: ${e.message || e}`, 'hangup'));
  }

  async function handle({ from, name, kind, data }) {
    if (kind === 'ring') {
      if (call || blocked) { // busy: the server lets rings cross between nodes
        send('decline', undefined, from);
        return;
      }
      call = { peerId: from, peerName: name || getName(from) || '', video: !!data?.video, outgoing: false, state: 'incoming', pending: [], timers: [] };
      clearChat();
      notice = '';
      call.timers.push(setTimeout(() => end(`Missed call from ${call?.peerName}`, 'decline'), ringTimeout));
      render();
      return;
    }
    if (!call || from !== call.peerId) return; // not this call's
    const who = call.peerName || 'they';
    switch (kind) {
      case 'accept':
        if (call.outgoing && call.state === 'outgoing') await offer();
        break;
      case 'decline':
        end(`${who} declined`);
        break;
      case 'hangup':
        end(call.state === 'incoming' ? `Missed call from ${who}` : `${who} hung up`);
        break;
      case 'offer':
        if (call.outgoing || !call.pc) return;
        await call.pc.setRemoteDescription(data);
        await flushCandidates();
        await call.pc.setLocalDescription(await call.pc.createAnswer());
        await relay('answer', { type: 'answer', sdp: call.pc.localDescription.sdp });
        break;
      case 'answer':
        if (!call.outgoing || !call.pc) return;
        await call.pc.setRemoteDescription(data);
        await flushCandidates();
        break;
      case 'candidate':
        if (call.pc?.remoteDescription) await call.pc.addIceCandidate(data);
        else if (call.pending.length < 100) call.pending.push(data);
        break;
    }
  }

  async function flushCandidates() {
    const pending = call.pending.splice(0);
    for (const c of pending) await call.pc.addIceCandidate(c);
  }

  // relay sends a signal of the call in progress; a refusal ends it.
  async function relay(kind, data) {
    const c = call;
    const err = await send(kind, data);
    if (err && call === c) end(err, 'hangup');
  }

  // --- the call --------------------------------------------------------

  async function start(peerId, peerName, { video = false } = {}) {
    if (!socket?.connected) { notice = 'Not connected'; render(); return; }
    if (call) { notice = 'Hang up first'; render(); return; }
    if (typeof peerId !== 'string' || !peerId || peerId === socket.id) return;
    call = { peerId, peerName: peerName || getName(peerId) || '', video: !!video, outgoing: true, state: 'outgoing', pending: [], timers: [] };
    clearChat();
    notice = '';
    const c = call;
    c.media = getMedia(c.video); // asks for the microphone while it rings
    render();
    const err = await send('ring', { video: c.video });
    if (call !== c) return;
    if (err) { end(err); return; }
    c.timers.push(setTimeout(() => call === c && c.state === 'outgoing' && end(`${c.peerName || 'They'} did not answer`, 'hangup'), ringTimeout));
  }

  async function accept() {
    const c = call;
    if (!c || c.state !== 'incoming') return;
    clearTimers(c);
    c.state = 'connecting';
    render();
    c.media = getMedia(c.video);
    const local = await c.media;
    if (call !== c) return;
    connect(c, local);
    await relay('accept');
  }

  // offer: the callee accepted; the caller makes the connection and offers.
  async function offer() {
    const c = call;
    clearTimers(c);
    c.state = 'connecting';
    render();
    const local = await c.media;
    if (call !== c) return;
    connect(c, local);
    if (!local) { // no microphone: hear the other anyway
      c.pc.addTransceiver('audio', { direction: 'recvonly' });
      if (c.video) c.pc.addTransceiver('video', { direction: 'recvonly' });
    }
    useChannel(c, c.pc.createDataChannel('chat'));
    await c.pc.setLocalDescription(await c.pc.createOffer());
    await relay('offer', { type: 'offer', sdp: c.pc.localDescription.sdp });
  }

  // connect makes the call's RTCPeerConnection, with the local media.
  function connect(c, local) {
    c.local = local;
    const pc = c.pc = new RTCPeerConnection({ iceServers });
    for (const t of local ? local.getTracks() : []) pc.addTrack(t, local);
    if (local && c.video) ui.preview.srcObject = local;
    pc.onicecandidate = (e) => { if (e.candidate && call === c) relay('candidate', e.candidate.toJSON()); };
    pc.ontrack = (e) => {
      const stream = e.streams[0] || new MediaStream([e.track]);
      for (const m of [ui.audio, ui.video]) {
        if (m.srcObject !== stream) m.srcObject = stream;
        m.play().catch(() => {}); // autoplay may need a tap; the call goes on
      }
    };
    pc.ondatachannel = (e) => { if (e.channel.label === 'chat') useChannel(c, e.channel); };
    pc.onconnectionstatechange = () => {
      if (call !== c) return;
      if (pc.connectionState === 'connected' && c.state !== 'connected') {
        c.state = 'connected';
        c.startedAt = Date.now();
        render();
      } else if (pc.connectionState === 'failed') {
        end('The connection failed', 'hangup');
      }
    };
  }

  function useChannel(c, channel) {
    c.channel = channel;
    channel.onmessage = (e) => {
      if (call === c && typeof e.data === 'string') showMessage(false, e.data.slice(0, maxChat));
    };
  }

  function chat() {
    const text = ui.text.value.trim().slice(0, maxChat);
    if (!text || call?.channel?.readyState !== 'open') return;
    call.channel.send(text);
    showMessage(true, text);
    ui.text.value = '';
  }

  function toggle(kind) {
    for (const t of tracks(kind)) t.enabled = !t.enabled;
    render();
  }

  // getMedia resolves to the microphone's (and camera's) stream, or to
  // the microphone's alone, or to null: a call without them still hears
  // and chats.
  async function getMedia(video) {
    if (!navigator.mediaDevices?.getUserMedia) return null;
    for (const want of video ? [{ audio: true, video: true }, { audio: true }] : [{ audio: true }]) {
      try {
        return await navigator.mediaDevices.getUserMedia(want);
      } catch { /* denied or missing: try less */ }
    }
    return null;
  }

  const clearTimers = (c) => { c.timers.forEach(clearTimeout); c.timers = []; };

  // end ends the call in progress with a notice (why), telling the peer
  // with a signal of kind (hangup or decline) if given.
  function end(why, kind) {
    const c = call;
    if (!c) return;
    call = null;
    if (kind) send(kind, undefined, c.peerId);
    clearTimers(c);
    c.channel?.close();
    c.pc?.close();
    c.local?.getTracks().forEach((t) => t.stop());
    c.media?.then((s) => { if (s !== c.local) s?.getTracks().forEach((t) => t.stop()); });
    for (const m of [ui.audio, ui.video, ui.preview]) m.srcObject = null;
    ui.text.value = '';
    notice = why;
    render();
  }

  // --- the API ---------------------------------------------------------
  function attach(s, options = {}) {
    if (socket !== s) end('The connection was lost');
    socket = s;
    iceServers = Array.isArray(options.iceServers) ? options.iceServers : [];
    if (typeof options.getName === 'function') getName = options.getName;
    if (attached.has(s)) return;
    attached.add(s);
    s.on('call:signal', (m) => { if (socket === s) onSignal(m); });
    // A new connection is a new socket on the server: its call is over
    // (the peer heard a hangup), and it takes calls until told otherwise.
    s.on('disconnect', () => { if (socket === s) end('The connection was lost'); });
    s.on('connect', () => { if (socket === s && blocked) s.emit('calls', false); });
    if (s.connected && blocked) s.emit('calls', false);
  }

  // setBlocked resolves to the server's error ('' once it knows).
  function setBlocked(on) {
    blocked = !!on;
    return new Promise((resolve) => {
      if (!socket?.connected) return resolve(''); // said on connecting
      socket.timeout(5000).emit('calls', !blocked, (err, res) => resolve(err ? 'no answer from the server' : res?.error || ''));
    });
  }

  const state = () => ({
    state: call ? call.state : 'idle',
    me: socket?.id || '',
    peerId: call?.peerId || '',
    peerName: call?.peerName || '',
    video: !!call?.video,
    connection: call?.pc?.connectionState || '',
    notice,
    muted: muted(),
    blocked,
    messages: messages.map((m) => ({ ...m })),
  });

  // The overlay sits on the map's top left corner, under the page's header:
  // never over the composer (on the right from 900 px) nor the tab bar
  // (at the bottom on a phone), and never taller than the map is.
  const css = `
#calls { position: fixed; left: 16px; top: 52px; z-index: 2000; width: min(360px, calc(100vw - 32px));
  max-height: calc(100dvh - 52px - 64px); overflow-y: auto;
  display: flex; flex-direction: column; gap: 8px; font: 15px/1.4 system-ui, sans-serif; pointer-events: none; }
#calls > * { pointer-events: auto; }
#calls [hidden] { display: none !important; }
#calls .calls-card, #calls .calls-bar { background: #fff; color: #1c2430; border-radius: 14px;
  box-shadow: 0 6px 28px rgba(0, 0, 0, .25); padding: 14px; }
#calls .calls-bar { display: flex; align-items: center; gap: 8px; padding: 8px 8px 8px 14px; }
#calls-notice { flex: 1; margin: 0; }
#calls-title { font-size: 18px; margin: 0 0 10px; overflow-wrap: anywhere; }
#calls .calls-row { display: flex; gap: 8px; flex-wrap: wrap; }
#calls button { min-height: 48px; min-width: 48px; padding: 0 12px; white-space: nowrap; border: 0; border-radius: 24px;
  font: inherit; font-weight: 600; background: #e7ebf0; color: inherit; cursor: pointer; flex: 1; }
#calls button.calls-go { background: #1f9d55; color: #fff; }
#calls button.calls-stop { background: #d64545; color: #fff; }
#calls button.calls-x { flex: 0; background: transparent; }
#calls .calls-media { position: relative; background: #111; border-radius: 10px; overflow: hidden; margin-bottom: 10px; }
#calls-remote-video { display: block; width: 100%; max-height: 40vh; object-fit: cover; }
#calls-local-video { position: absolute; right: 8px; bottom: 8px; width: 28%; border-radius: 6px; border: 2px solid #fff; }
#calls .calls-chat { margin-bottom: 10px; }
#calls-messages { list-style: none; margin: 0 0 8px; padding: 0; max-height: 24vh; overflow-y: auto; }
#calls-messages li { padding: 2px 0; overflow-wrap: anywhere; }
#calls-messages li.mine { color: #2a5db0; }
#calls-text { flex: 3; min-height: 44px; padding: 0 12px; font: inherit; border: 1px solid #c5ccd6; border-radius: 22px; min-width: 0; }
@media (max-width: 600px) {
  #calls { left: 8px; right: 8px; width: auto; }
}`;

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', build);
  else build();

  return { attach, call: start, setBlocked, state };
})();
