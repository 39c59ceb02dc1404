// Drives the live view (/live, live.html and live.js) in headless Chromium,
// with a person driven by the official Socket.IO client from node. Run by
// browser_live_test.go, which starts the server without bots and sets
// NEARBY_URL:
//
//	go test -run TestBrowserLive ./examples/nearby/
//
// A screen opens /live: every area's count, live. It picks an area; a
// person walks into it, which the screen counts, and says something in the
// area's chat, which the screen shows. A reload keeps what it showed and
// goes on live; a message said while it was away arrives when it comes
// back if the server keeps events for recovery (else the reload goes on
// live without it). The person leaves; the count drops. On a phone the
// page fits the screen. No console errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { io } from 'socket.io-client';
import { Problems, artifactsDir, launchChromium, openPage, screenshots } from '../internal/browser.mjs';

const url = process.env.NEARBY_URL;
const skip = !url && 'NEARBY_URL is not set';
const shot = screenshots(process.env.NEARBY_ARTIFACTS || artifactsDir('nearby'));

// person connects a new user with a fresh name, and resolves on welcome.
function person(name) {
  const socket = io(url, { auth: { name }, transports: ['websocket'], reconnection: false });
  return new Promise((resolve, reject) => {
    socket.once('welcome', () => resolve(socket));
    socket.once('connect_error', (err) => reject(new Error(`${name}: ${err.message}`)));
  });
}

// request emits event with an acknowledgement and fails on {error}.
async function request(socket, event, arg) {
  const answer = await socket.timeout(5000).emitWithAck(event, arg);
  assert.ok(!answer?.error, `${event}: ${answer?.error}`);
  return answer;
}

const count = (page, area) => page.locator(`#occupancy li[data-area="${area}"] .count`);
const messages = (page) => page.locator('#messages li .text');

test('the live view', { skip, timeout: 90_000 }, async (t) => {
  const browser = await launchChromium(chromium, t);
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const problems = new Problems();
  const world = await (await fetch(`${url}/world.json`)).json();
  const area = world.areas.find((a) => a.circle); // a circle: its center is inside
  assert.ok(area, 'an area with a circle');
  const others = world.areas.filter((a) => a !== area);

  // The screen: every area counted, live.
  const page = await openPage(context, problems, 'screen', `${url}/live`);
  await page.locator('#status.live').waitFor();
  for (const a of world.areas) await assert.doesNotReject(count(page, a.name).filter({ hasText: /^\d+$/ }).waitFor(), a.name);
  assert.equal(await page.locator('#chat').isVisible(), false, 'no area chosen: counts only');
  await page.selectOption('#area', area.name);
  await page.locator('#status.live').waitFor();
  assert.equal(new URL(page.url()).searchParams.get('area'), area.name, 'the area is in the URL');
  await page.locator('#chat-title', { hasText: area.name }).waitFor();
  await page.locator(`#occupancy li.selected[data-area="${area.name}"]`).waitFor();
  const before = Number(await count(page, area.name).textContent());

  // A person walks in: counted; says something: shown.
  const name = `live${Date.now() % 1e8}`;
  const socket = await person(name);
  t.after(() => socket.close());
  const entered = new Promise((resolve) => socket.once('area:enter', resolve));
  socket.emit('location', { lat: area.circle.center.lat, lng: area.circle.center.lng, accuracy: 5 });
  assert.equal((await entered).area, area.name);
  await count(page, area.name).filter({ hasText: String(before + 1) }).waitFor();
  await request(socket, 'area-chat', { area: area.name, text: 'hello, screen' });
  await messages(page).filter({ hasText: 'hello, screen' }).waitFor();
  await page.locator('#messages li .who', { hasText: name }).first().waitFor();
  assert.equal(await page.locator('#empty').isVisible(), false);
  assert.match(await page.locator('#messages li time').first().textContent(), /^\d\d:\d\d$/, "the app's 24 h time");
  for (const a of others) assert.equal(await count(page, a.name).textContent(), '0', `${a.name} is empty`);
  await shot(page, 'live-desktop');

  // A reload shows the messages again and goes on live.
  await page.reload();
  await page.locator('#status.live').waitFor();
  assert.equal(await page.locator('#area').inputValue(), area.name, 'the area survives a reload');
  await messages(page).filter({ hasText: 'hello, screen' }).waitFor();
  await count(page, area.name).filter({ hasText: String(before + 1) }).waitFor();
  await request(socket, 'area-chat', { area: area.name, text: 'after the reload' });
  await messages(page).filter({ hasText: 'after the reload' }).waitFor();
  assert.equal(await messages(page).count(), 2, 'each message once');

  // Away and back: the events have ids, so what was said meanwhile arrives.
  const kept = await page.evaluate((a) => JSON.parse(sessionStorage.getItem(`nearby.live.${a}`)), area.name);
  await page.goto('about:blank');
  await request(socket, 'area-chat', { area: area.name, text: 'while you were away' });
  await page.goto(`${url}/live?area=${encodeURIComponent(area.name)}`);
  await page.locator('#status.live').waitFor();
  await request(socket, 'area-chat', { area: area.name, text: 'back live' });
  await messages(page).filter({ hasText: 'back live' }).waitFor();
  assert.ok(kept.id, 'events have ids: the server recovers connections');
  assert.deepEqual(await messages(page).allTextContents(), ['back live', 'while you were away', 'after the reload', 'hello, screen']);

  // The person leaves: the count drops (after the leave delay).
  socket.close();
  await count(page, area.name).filter({ hasText: String(before) }).waitFor();

  // On a phone: everything fits the width.
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const small = await openPage(phone, problems, 'phone', `${url}/live?area=${encodeURIComponent(area.name)}`);
  await small.locator('#status.live').waitFor();
  await count(small, area.name).filter({ hasText: /^\d+$/ }).waitFor();
  assert.ok(await small.locator('#area').isVisible());
  const overflow = await small.evaluate(() => document.scrollingElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no horizontal scrolling (${overflow}px too wide)`);
  const box = await small.locator('#area').boundingBox();
  assert.ok(box.height >= 44, `the picker is a large tap target (${box.height}px)`);
  await shot(small, 'live-phone');
  // At 360 px, names wrap at spaces only: a word that does not fit shrinks.
  await small.setViewportSize({ width: 360, height: 640 });
  const broken = await small.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => resolve(
    [...document.querySelectorAll('#occupancy .name')].flatMap((e) => {
      const out = e.scrollWidth > e.clientWidth ? [`${e.textContent} overflows`] : [];
      let at = 0;
      for (const word of e.textContent.split(' ')) {
        const r = document.createRange();
        r.setStart(e.firstChild, at);
        r.setEnd(e.firstChild, at + word.length);
        if (new Set([...r.getClientRects()].map((b) => Math.round(b.top))).size > 1) out.push(`${word} is broken`);
        at += word.length + 1;
      }
      return out;
    })))));
  assert.deepEqual(broken, []);
  await shot(small, 'live-phone-360');

  // An unknown area is refused by the server, and the page falls back.
  assert.equal((await fetch(`${url}/live/events?area=nowhere`)).status, 404);
  await page.goto(`${url}/live?area=nowhere`);
  await page.locator('#status.live').waitFor();
  assert.equal(await page.locator('#area').inputValue(), '');
  problems.assertNone(t);
});
