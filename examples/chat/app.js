// The chat page: plain JavaScript on the official socket.io-client (the
// global `io`). Everything the server sends is shown with textContent, never
// as HTML.
'use strict';

const $ = (selector) => document.querySelector(selector);

let socket = null;
let myName = '';
let room = 'lobby'; // the room we are in, sent again when reconnecting
const typers = new Map(); // socket id → {name, timer}: who is typing here

// --- Joining -------------------------------------------------------------

$('#login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  if (typeof io !== 'function') {
    $('#login-error').textContent = 'The Socket.IO client did not load: run `npm ci` in examples/chat.';
    return;
  }
  myName = $('#name').value;
  $('#login-error').textContent = '';
  connect();
});

function connect() {
  if (socket) socket.disconnect(); // a retry after a refused name
  // auth is a function so that every reconnection sends the current room.
  socket = io({ auth: (cb) => cb({ name: myName, room }) });

  socket.on('connect', () => {
    $('#login').hidden = true;
    $('#chat').hidden = false;
    setStatus(`connected as ${myName.trim()}`, true);
    $('#text').focus();
  });

  socket.on('connect_error', (err) => {
    if (socket.active) {
      setStatus('connection lost, retrying…'); // the client retries by itself
      return;
    }
    // Refused by the server's middleware: err.message is its ConnectError.
    $('#login-error').textContent = err.message;
    $('#login').hidden = false;
    $('#chat').hidden = true;
    setStatus('not connected');
  });

  socket.on('disconnect', (reason) => {
    setStatus(socket.active ? `disconnected (${reason}), reconnecting…` : `disconnected (${reason})`);
  });

  // room: the server put us in a room (on connecting, or after "join").
  socket.on('room', (name) => {
    if (name !== room || !$('#room').textContent) {
      $('#messages').replaceChildren();
      addSystem(`You are in #${name}.`);
    }
    room = name;
    $('#room').textContent = '#' + name;
    clearTypers();
  });

  // members: who is in a room, sent to the room whenever it changes.
  socket.on('members', (name, members) => {
    if (name !== room) return;
    $('#members').replaceChildren(...members.map((m) => {
      const li = document.createElement('li');
      li.textContent = m.id === socket.id ? `${m.name} (you)` : m.name;
      li.classList.toggle('me', m.id === socket.id);
      return li;
    }));
    // someone who left cannot still be typing
    const here = new Set(members.map((m) => m.id));
    for (const id of typers.keys()) if (!here.has(id)) dropTyper(id);
  });

  socket.on('message', (m) => {
    dropTyper(m.id);
    const li = document.createElement('li');
    li.classList.toggle('mine', m.id === socket.id);
    const time = new Date(m.time).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    li.append(span('time', time), span('name', m.name), span('text', m.text));
    appendMessage(li);
  });

  socket.on('typing', (id, name, typing) => {
    dropTyper(id);
    if (typing) {
      // a safety net in case the "stopped" hint is lost
      typers.set(id, { name, timer: setTimeout(() => dropTyper(id), 10000) });
      renderTypers();
    }
  });
}

// --- Sending -------------------------------------------------------------

// Acknowledgements: the server answers {ok: true} or {error: "..."}; the
// timeout covers a lost connection.
function request(event, arg, errorBox, onOK) {
  socket.timeout(5000).emit(event, arg, (err, res) => {
    if (err) {
      $(errorBox).textContent = 'No answer from the server.';
    } else if (res.error) {
      $(errorBox).textContent = res.error;
    } else {
      $(errorBox).textContent = '';
      onOK();
    }
  });
}

$('#send-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = $('#text').value;
  if (!text.trim()) return;
  stopTyping();
  request('message', text, '#send-error', () => { $('#text').value = ''; });
});

$('#room-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const name = $('#room-input').value;
  stopTyping();
  request('join', name, '#room-error', () => { $('#room-input').value = ''; });
});

// Typing: "typing" true when we start, false after a 2 s pause or on send.
let typingTimer = null;

$('#text').addEventListener('input', () => {
  if (!$('#text').value) {
    stopTyping();
    return;
  }
  if (typingTimer) clearTimeout(typingTimer);
  else socket.emit('typing', true);
  typingTimer = setTimeout(stopTyping, 2000);
});

function stopTyping() {
  if (!typingTimer) return;
  clearTimeout(typingTimer);
  typingTimer = null;
  socket.emit('typing', false);
}

// --- Showing -------------------------------------------------------------

function setStatus(text, online = false) {
  $('#status').textContent = text;
  $('#status').classList.toggle('online', online);
}

function addSystem(text) {
  const li = document.createElement('li');
  li.className = 'system';
  li.textContent = text;
  appendMessage(li);
}

function appendMessage(li) {
  const list = $('#messages');
  list.append(li);
  list.scrollTop = list.scrollHeight;
}

function span(className, text) {
  return Object.assign(document.createElement('span'), { className, textContent: text });
}

function dropTyper(id) {
  const t = typers.get(id);
  if (!t) return;
  clearTimeout(t.timer);
  typers.delete(id);
  renderTypers();
}

function clearTypers() {
  for (const id of [...typers.keys()]) dropTyper(id);
}

function renderTypers() {
  const names = [...typers.values()].map((t) => t.name);
  let text = '';
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = 'Several people are typing…';
  $('#typing').textContent = text;
}
