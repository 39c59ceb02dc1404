// Drives the chat page in headless Chromium: two people join, see each
// other, type, talk, switch rooms and leave; a bad nickname is refused.
// Run by chat_test.go, which starts the server and sets CHAT_URL:
//
//	go test ./examples/chat/
//
// or by hand against a running server:
//
//	CHAT_URL=http://127.0.0.1:8080 node --test browser.test.mjs
//
// Screenshots go to CHAT_ARTIFACTS (default <repo>/test-artifacts/chat).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { Problems, artifactsDir, launchChromium, openPage, screenshots } from '../internal/browser.mjs';

const url = process.env.CHAT_URL;
const artifacts = process.env.CHAT_ARTIFACTS || artifactsDir('chat');

test('chat in two browser pages', { skip: !url && 'CHAT_URL is not set' }, async (t) => {
  const shot = screenshots(artifacts);
  const browser = await launchChromium(chromium, t);
  const context = await browser.newContext({ viewport: { width: 900, height: 560 } });

  // Every page's console errors, uncaught exceptions and failed Socket.IO
  // requests, asserted none at the end (see Problems).
  const problems = new Problems();
  const open = (label) => openPage(context, problems, label, url);
  const login = async (page, name) => {
    await page.fill('#name', name);
    await page.click('#login button');
  };
  const member = (page, name) => page.locator('#members li', { hasText: name });
  const messages = (page) => page.locator('#messages li:not(.system)');

  const alice = await open('alice');
  const bob = await open('bob');

  await t.test('a refused nickname shows the error', async () => {
    await login(alice, '   ');
    await alice.locator('#login-error', { hasText: 'name is empty' }).waitFor();
    await login(alice, 'x'.repeat(33));
    await alice.locator('#login-error', { hasText: 'name is longer than 32 characters' }).waitFor();
    assert.ok(await alice.locator('#chat').isHidden(), 'the chat stays hidden');
    await shot(alice, '1-refused-name');
  });

  await t.test('each sees the other in the member list', async () => {
    await login(alice, 'alice');
    await login(bob, 'bob');
    await member(alice, 'bob').waitFor();
    await member(bob, 'alice').waitFor();
    await member(alice, 'alice (you)').waitFor();
    assert.equal(await alice.locator('#room').textContent(), '#lobby');
  });

  await t.test('typing shows an indicator, a message reaches the other', async () => {
    // Record what bob's indicator shows, so that no pause of the test's
    // own can make us miss it.
    await bob.evaluate(() => {
      const el = document.querySelector('#typing');
      window.shown = [];
      new MutationObserver(() => window.shown.push(el.textContent)).observe(el, { childList: true, subtree: true, characterData: true });
    });
    await alice.locator('#text').pressSequentially('hello bob');
    await bob.waitForFunction(() => window.shown.includes('alice is typing…'));
    await shot(bob, '2-typing');
    await alice.press('#text', 'Enter');
    await messages(bob).filter({ hasText: 'hello bob' }).waitFor();
    await messages(alice).filter({ hasText: 'hello bob' }).waitFor(); // the sender sees it too
    await bob.waitForFunction(() => document.querySelector('#typing').textContent === '');
    assert.equal(await alice.inputValue('#text'), '', 'the input is cleared once sent');

    await bob.fill('#text', 'hi alice!');
    await bob.press('#text', 'Enter');
    await messages(alice).filter({ hasText: 'hi alice!' }).waitFor();
    assert.equal(await messages(alice).count(), 2);
    await shot(alice, '3-conversation');
  });

  await t.test('bad input gets an error, not a crash', async () => {
    await alice.fill('#room-input', 'y'.repeat(33));
    await alice.press('#room-input', 'Enter');
    await alice.locator('#room-error', { hasText: 'room is longer than 32 characters' }).waitFor();
    // A wrong type, sent by hand, is answered with an error too.
    const res = await alice.evaluate(() => new Promise((resolve) => socket.emit('message', { text: 1 }, resolve)));
    assert.deepEqual(res, { error: 'message must be a string' });
  });

  await t.test('switching rooms leaves the old one', async () => {
    await alice.fill('#room-input', 'games');
    await alice.press('#room-input', 'Enter');
    await alice.locator('#room', { hasText: '#games' }).waitFor();
    await member(bob, 'alice').waitFor({ state: 'detached' });
    await member(alice, 'bob').waitFor({ state: 'detached' });
    assert.equal(await alice.locator('#room-error').textContent(), '');

    await alice.fill('#text', 'anyone here?');
    await alice.press('#text', 'Enter');
    await messages(alice).filter({ hasText: 'anyone here?' }).waitFor();

    await bob.fill('#room-input', 'games');
    await bob.press('#room-input', 'Enter');
    await member(alice, 'bob').waitFor();
    await member(bob, 'alice').waitFor();
    await bob.fill('#text', 'me!');
    await bob.press('#text', 'Enter');
    await messages(alice).filter({ hasText: 'me!' }).waitFor();
    // bob joined after "anyone here?": rooms do not share messages
    assert.equal(await messages(bob).filter({ hasText: 'anyone here?' }).count(), 0);
    await shot(bob, '4-room-games');
  });

  await t.test('closing a page removes it from the member list', async () => {
    await bob.close();
    await member(alice, 'bob').waitFor({ state: 'detached' });
    await shot(alice, '5-bob-left');
  });

  await t.test('no console errors', (t) => problems.assertNone(t));
});
