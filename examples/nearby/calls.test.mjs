// A WebRTC call between two nearby pages in headless Chromium, with fake
// camera and microphone: alice selects bob and presses Call, bob accepts,
// both connect peer to peer, a chat message goes over the data channel
// both ways, alice hangs up; then bob declines, a video call, bob takes
// no calls, and dave, far away, cannot call. Run by browser_calls_test.go, which starts
// the server without bots and sets NEARBY_URL:
//
//	go test -run TestBrowserCalls ./examples/nearby/
//
// With NEARBY_URL2 set too (TestBrowserCallsTwoNodes), bob's page is on
// that server, another node of the same cluster.
//
// or by hand against a running server:
//
//	NEARBY_URL=http://127.0.0.1:8080 node --test calls.test.mjs
//
// Each person has a browser context of their own, placed by its emulated
// geolocation (the page uses it when granted), so the test needs nothing
// of the map but the page's own behaviour. The page's call overlay is
// calls.js's: #calls[data-state] and window.Calls.state() are its hooks.
// Requests off the loopback (map tiles, when run by hand against a server
// with OpenStreetMap's) get an empty tile, so the test runs offline. Screenshots go to NEARBY_ARTIFACTS (default
// <repo>/test-artifacts/nearby).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { Problems, artifactsDir, openPage, screenshots } from '../internal/browser.mjs';

const url = process.env.NEARBY_URL;
const url2 = process.env.NEARBY_URL2 || url; // bob's node
const artifacts = process.env.NEARBY_ARTIFACTS || artifactsDir('nearby');

const perDegree = 6371008.8 * Math.PI / 180;
const offset = (p, east, north) => ({
  lat: p.lat + north / perDegree,
  lng: p.lng + east / (perDegree * Math.cos(p.lat * Math.PI / 180)),
});

// A transparent 1×1 PNG: the tile for every request off the loopback.
const emptyTile = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=', 'base64');

test('a call between two nearby pages', { skip: !url && 'NEARBY_URL is not set' }, async (t) => {
  const shot = screenshots(artifacts);
  // launchChromium's flags (examples/internal/browser.mjs), and fake
  // media devices that need no permission prompt.
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'],
  });
  t.after(() => browser.close());
  const world = await (await fetch(new URL('/world.json', url))).json();
  const problems = new Problems();

  // join opens a page for name at p (its geolocation), signs in and
  // waits until the page is placed there and calls.js has its socket.
  const desktop = { viewport: { width: 1000, height: 650 } };
  const phone = { viewport: { width: 390, height: 800 }, isMobile: true, hasTouch: true };
  const join = async (name, p, device = desktop, at = url) => {
    const context = await browser.newContext({
      ...device,
      permissions: ['geolocation', 'microphone', 'camera'],
      geolocation: { latitude: p.lat, longitude: p.lng, accuracy: 10 },
    });
    t.after(() => context.close());
    await context.route((u) => u.hostname !== '127.0.0.1', (route) => route.fulfill({ contentType: 'image/png', body: emptyTile }));
    const page = await openPage(context, problems, name, at);
    await page.fill('#name', name);
    await page.click('#login button');
    await page.waitForFunction(() => window.Calls?.state().me && window.nearby?.me(), null, { polling: 50 });
    return page;
  };
  const state = (page) => page.evaluate(() => window.Calls.state());
  // clear asserts that the call's overlay covers none of sels (those shown).
  const clear = async (page, sels) => {
    const calls = await page.locator('#calls').boundingBox();
    for (const sel of sels) {
      const b = await page.locator(sel).boundingBox();
      if (!b || !calls) continue;
      const over = calls.x < b.x + b.width && b.x < calls.x + calls.width && calls.y < b.y + b.height && b.y < calls.y + calls.height;
      assert.ok(!over, `the call covers ${sel}: ${JSON.stringify([calls, b])}`);
    }
  };
  const waitState = (page, want) => page.locator(`#calls[data-state="${want}"]`).waitFor({ state: 'attached' });
  const waitNotice = (page, text) => page.locator('#calls-notice', { hasText: text }).waitFor();

  // Alice and bob 200 m apart, within each other's kilometer; dave 5 km
  // away. Bob is on a phone.
  const a = world.center;
  const alice = await join('alice', a);
  const bob = await join('bob', offset(a, 200, 0), phone, url2);
  const dave = await join('dave', offset(a, 0, 5000));
  const bobId = (await state(bob)).me;

  await t.test('alice selects bob and calls; bob accepts on his phone', async () => {
    const inList = alice.locator(`#people li[data-name="bob"]`);
    await inList.waitFor({ state: 'attached' });
    assert.equal(await inList.getAttribute('data-id'), bobId, "alice's list has bob's socket");
    await alice.bringToFront();
    const tab = alice.locator('#tabs [data-tab="people"]');
    if (await tab.isVisible()) await tab.click();
    await inList.click();
    await alice.locator('#call').click();
    await waitState(alice, 'outgoing');
    assert.match(await alice.locator('#calls-title').textContent(), /Calling bob/);

    await waitState(bob, 'incoming');
    assert.equal(await bob.locator('#calls-title').textContent(), 'alice is calling');
    const accept = await bob.locator('#calls-accept').boundingBox();
    assert.ok(accept.height >= 44 && accept.width >= 44, `a large tap target: ${JSON.stringify(accept)}`);
    await shot(bob, 'call-1-incoming');
    await bob.bringToFront();
    await bob.locator('#calls-accept').tap();
  });

  await t.test('both connect peer to peer, with audio', async () => {
    for (const page of [alice, bob]) {
      await page.waitForFunction(() => {
        const s = window.Calls.state();
        return s.state === 'connected' && s.connection === 'connected';
      }, null, { polling: 50 });
      const tracks = await page.evaluate(() => document.querySelector('#calls-remote-audio').srcObject?.getAudioTracks().length);
      assert.ok(tracks > 0, 'the remote audio plays the peer\'s microphone');
    }
    assert.equal((await state(alice)).peerId, bobId);
    assert.equal((await state(bob)).peerName, 'alice');
  });

  await t.test('a chat message goes over the data channel', async () => {
    await alice.bringToFront();
    await alice.fill('#calls-text', 'hello bob, over WebRTC');
    await alice.click('#calls-send');
    await bob.locator('#calls-messages li', { hasText: 'alice: hello bob, over WebRTC' }).waitFor();
    await bob.bringToFront();
    await bob.fill('#calls-text', 'hi alice');
    await bob.click('#calls-send');
    await alice.locator('#calls-messages li', { hasText: 'bob: hi alice' }).waitFor();
    assert.deepEqual((await state(alice)).messages, [
      { mine: true, text: 'hello bob, over WebRTC' },
      { mine: false, text: 'hi alice' },
    ]);
    await alice.click('#calls-mute');
    assert.equal((await state(alice)).muted, true);
    await alice.locator('#shout').waitFor();
    await clear(alice, ['#shout', '#dm', '#text']);
    await bob.locator('#tabs').waitFor();
    await clear(bob, ['#tabs']);
    await shot(alice, 'call-2-in-call');
    await shot(bob, 'call-3-in-call-phone');
  });

  await t.test('alice hangs up: the call ends for both', async () => {
    await alice.click('#calls-hangup');
    await waitState(alice, 'idle');
    await waitState(bob, 'idle');
    await waitNotice(bob, 'alice hung up');
    assert.equal((await state(bob)).connection, '');
  });

  await t.test('bob declines', async () => {
    await alice.evaluate((id) => window.Calls.call(id, 'bob', { video: true }), bobId);
    await waitState(bob, 'incoming');
    assert.equal(await bob.locator('#calls-title').textContent(), 'alice is calling (video)');
    await bob.click('#calls-decline');
    await waitNotice(alice, 'bob declined');
    await waitState(alice, 'idle');
  });

  await t.test("a video call shows each the other's camera; bob hangs up", async () => {
    await alice.evaluate((id) => window.Calls.call(id, 'bob', { video: true }), bobId);
    await waitState(bob, 'incoming');
    await bob.click('#calls-accept');
    for (const page of [alice, bob]) {
      await waitState(page, 'connected');
      assert.equal(await page.locator('#calls-messages li').count(), 0, 'a new call, a new chat');
      // The fake camera's frames arrive: the remote video has a size.
      await page.waitForFunction(() => document.querySelector('#calls-remote-video').videoWidth > 0, null, { polling: 50 });
      assert.ok(await page.locator('#calls-remote-video').isVisible());
    }
    await shot(alice, 'call-4-video');
    await bob.click('#calls-hangup');
    await waitNotice(alice, 'bob hung up');
    await waitState(alice, 'idle');
  });

  await t.test('bob takes no calls', async () => {
    assert.equal(await bob.evaluate(() => window.Calls.setBlocked(true)), '');
    await alice.evaluate((id) => window.Calls.call(id, 'bob'), bobId);
    await waitNotice(alice, 'bob does not take calls');
    await clear(alice, ['#shout', '#dm', '#text']);
    assert.equal((await state(alice)).state, 'idle');
    assert.equal((await state(bob)).state, 'idle', 'bob never rang');
    assert.equal(await bob.evaluate(() => window.Calls.setBlocked(false)), '');
  });

  await t.test('dave, far away, cannot call bob', async () => {
    // Dave's list does not show bob, so there is no Call button to press:
    // he calls bob's socket directly, as a crafted page could.
    await dave.evaluate((id) => window.Calls.call(id, 'bob'), bobId);
    await waitNotice(dave, 'you can only call people near you');
    assert.equal((await state(dave)).state, 'idle');
    assert.equal((await state(bob)).state, 'idle', 'bob never rang');
  });

  await t.test('no console errors', (t) => problems.assertNone(t));
});
