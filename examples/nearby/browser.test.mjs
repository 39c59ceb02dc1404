// Drives the nearby page in headless Chromium: a bad name is refused; alice
// and bob place themselves by clicking the map, see each other, walk apart
// and back, shout, message each other, meet in an area's chat, hide, and
// bob closes his page. Run by browser_test.go, which starts the server
// without bots and sets NEARBY_URL:
//
//	go test -run TestBrowser ./examples/nearby/
//
// With NEARBY_URL2 set too (browser_test.go's TestBrowserTwoNodes), bob's
// page is on that server, another node of the same cluster, and the whole
// story must still hold: people, presence, areas and messages cross nodes.
//
// or by hand against a running server (bots may then crowd the lists):
//
//	NEARBY_URL=http://127.0.0.1:8080 node --test browser.test.mjs
//
// The page's test hook, window.nearby (see app.js), gives the world and
// projects a lat/lng to client pixels, so the test clicks real places.
// Screenshots go to NEARBY_ARTIFACTS (default <repo>/test-artifacts/nearby).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { Problems, artifactsDir, launchChromium, openPage, screenshots } from '../internal/browser.mjs';

const url = process.env.NEARBY_URL;
const url2 = process.env.NEARBY_URL2 || url; // bob's node
const artifacts = process.env.NEARBY_ARTIFACTS || artifactsDir('nearby');

// Geometry in meters, as the page does it.
const perDegree = 6371008.8 * Math.PI / 180;
const offset = (p, east, north) => ({
  lat: p.lat + north / perDegree,
  lng: p.lng + east / (perDegree * Math.cos(p.lat * Math.PI / 180)),
});
const haversine = (a, b) => {
  const rad = Math.PI / 180;
  const h = Math.sin((b.lat - a.lat) * rad / 2) ** 2 +
    Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin((b.lng - a.lng) * rad / 2) ** 2;
  return 2 * 6371008.8 * Math.asin(Math.min(1, Math.sqrt(h)));
};
// inside reports whether p is in area a (a polygon by ray casting on lng/lat).
const inside = (a, p) => {
  if (a.circle) return haversine(a.circle, p) <= a.circle.radius;
  let in_ = false;
  for (let i = 0, j = a.polygon.length - 1; i < a.polygon.length; j = i++) {
    const [u, v] = [a.polygon[i], a.polygon[j]];
    if ((u.lat > p.lat) !== (v.lat > p.lat) && p.lng < u.lng + (p.lat - u.lat) / (v.lat - u.lat) * (v.lng - u.lng)) in_ = !in_;
  }
  return in_;
};
// clear reports whether no area is within 150 m of p.
const clear = (areas, p) => [0, 45, 90, 135, 180, 225, 270, 315].every((deg) => {
  const q = offset(p, 150 * Math.sin(deg * Math.PI / 180), 150 * Math.cos(deg * Math.PI / 180));
  return !areas.some((a) => inside(a, p) || inside(a, q));
});

test('nearby in two browser pages', { skip: !url && 'NEARBY_URL is not set' }, async (t) => {
  const shot = screenshots(artifacts);
  const browser = await launchChromium(chromium, t);
  // No geolocation permission: the page starts unplaced, as in a browser
  // that said no.
  const context = await browser.newContext({ viewport: { width: 1000, height: 650 } });

  // Every page's console errors, uncaught exceptions and failed Socket.IO
  // requests, asserted none at the end (see Problems).
  const problems = new Problems();
  const open = (label, at = url) => openPage(context, problems, label, at);
  // Each action brings its page to the front first: Chromium slows down
  // animation frames, which Playwright's clicks wait for, in the others.
  const front = (page) => page.bringToFront();
  const login = async (page, name) => {
    await front(page);
    await page.fill('#name', name);
    await page.click('#login button');
  };
  const person = (page, name) => page.locator(`#people li[data-name="${name}"]`);
  const message = (page, kind, text) => page.locator(`#messages li.${kind}`, { hasText: text });
  // walk clicks the map at p and waits until the page has moved there
  // (within a pixel or two of the map: some 10 m).
  const walk = async (page, p) => {
    await front(page);
    const { x, y } = await page.evaluate(([lat, lng]) => window.nearby.project(lat, lng), [p.lat, p.lng]);
    await page.mouse.click(x, y);
    await page.waitForFunction(([lat, lng]) => {
      const me = window.nearby.me();
      return me && Math.abs(me.lat - lat) < 2e-4 && Math.abs(me.lng - lng) < 3e-4;
    }, [p.lat, p.lng], { polling: 50 });
  };
  const send = async (page, button, text) => {
    await front(page);
    await page.fill('#text', text);
    await page.click(button);
    await page.waitForFunction(() => document.querySelector('#text').value === '', null, { polling: 50 }); // cleared once sent
  };

  const alice = await open('alice');
  const bob = await open('bob', url2);
  let world;
  let a, b; // where alice and bob stand: 200 m apart, away from every area

  await t.test('a refused name shows the error', async () => {
    await login(alice, '   ');
    await alice.locator('#login-error', { hasText: 'name is empty' }).waitFor();
    await login(alice, 'x'.repeat(25));
    await alice.locator('#login-error', { hasText: 'name is longer than 24 characters' }).waitFor();
    assert.ok(await alice.locator('#app').isHidden(), 'the app stays hidden');
    await shot(alice, '1-refused-name');
  });

  await t.test('two people place themselves and see each other', async () => {
    await login(alice, 'alice');
    await login(bob, 'bob');
    await alice.locator('#app').waitFor();
    await bob.locator('#app').waitFor();
    await alice.locator('#me-pos', { hasText: 'click the map to place yourself' }).waitFor();
    world = await alice.evaluate(() => window.nearby.world);
    const spots = [];
    for (let n = -600; n <= 600; n += 100) {
      for (let e = -600; e <= 400; e += 100) spots.push(offset(world.center, e, n));
    }
    spots.sort((p, q) => haversine(world.center, p) - haversine(world.center, q));
    a = spots.find((p) => clear(world.areas, p) && clear(world.areas, offset(p, 200, 0)));
    assert.ok(a, 'a place away from the areas');
    b = offset(a, 200, 0);

    await walk(alice, a);
    await walk(bob, b);
    await person(alice, 'bob').filter({ hasText: /\d+ m/ }).waitFor();
    await person(bob, 'alice').filter({ hasText: /\d+ m/ }).waitFor();
    await person(alice, 'bob').filter({ hasText: 'online' }).waitFor();
    assert.match(await alice.locator('#me-pos').textContent(), /\d+\.\d+, \d+\.\d+/);

    // An arrow key walks 25 m when no text field has the focus.
    await front(alice);
    await alice.evaluate(() => document.activeElement?.blur());
    const before = await alice.evaluate(() => window.nearby.me());
    await alice.keyboard.press('ArrowUp');
    const after = await alice.evaluate(() => window.nearby.me());
    assert.ok(Math.abs(haversine(before, after) - 25) < 1, `ArrowUp walked ${haversine(before, after)} m`);
    await alice.keyboard.press('ArrowDown');
    await shot(alice, '2-placed');
  });

  await t.test('walking beyond the radius leaves the list, walking back returns', async () => {
    const far = offset(b, 0, b.lat > world.center.lat ? -1800 : 1800);
    await walk(bob, far);
    await person(alice, 'bob').waitFor({ state: 'detached' });
    await person(bob, 'alice').waitFor({ state: 'detached' });
    await shot(bob, '3-bob-far');

    // Back by dragging his marker.
    await front(bob);
    const box = await bob.locator('#me').boundingBox();
    const to = await bob.evaluate(([lat, lng]) => window.nearby.project(lat, lng), [b.lat, b.lng]);
    await bob.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await bob.mouse.down();
    await bob.mouse.move(to.x, to.y, { steps: 8 });
    await bob.mouse.up();
    await person(alice, 'bob').filter({ hasText: /\d+ m/ }).waitFor();
    await person(bob, 'alice').waitFor();
    assert.ok(haversine(await bob.evaluate(() => window.nearby.me()), b) < 30, 'bob dragged himself back');
  });

  await t.test('a shout and a DM arrive', async () => {
    assert.ok(await bob.locator('#dm').isDisabled(), 'no DM without a person selected');
    await send(alice, '#shout', 'hello, neighbours');
    await message(bob, 'shout', 'hello, neighbours').filter({ hasText: 'alice' }).waitFor();
    await message(alice, 'shout.mine', 'hello, neighbours').waitFor(); // the page shows its own
    // Enter, with nobody selected, shouts.
    await front(alice);
    await alice.fill('#text', 'enter shouts');
    await alice.press('#text', 'Enter');
    await message(bob, 'shout', 'enter shouts').filter({ hasText: 'alice' }).waitFor();

    await front(bob);
    await person(bob, 'alice').click();
    await bob.locator('#people li.selected[data-name="alice"]').waitFor();
    await send(bob, '#dm', 'hi alice, just you');
    await message(alice, 'dm', 'hi alice, just you').filter({ hasText: 'bob' }).waitFor();
    await message(bob, 'dm.mine', 'hi alice, just you').waitFor();
    assert.equal(await message(alice, 'shout', 'hi alice').count(), 0, 'a DM is no shout');
    // Enter, with alice selected, sends bob's text to her, not to everyone.
    await front(bob);
    await bob.fill('#text', 'enter goes to alice');
    await bob.press('#text', 'Enter');
    await message(alice, 'dm', 'enter goes to alice').filter({ hasText: 'bob' }).waitFor();
    await message(bob, 'dm.mine', 'enter goes to alice').waitFor();
    assert.equal(await message(alice, 'shout', 'enter goes to alice').count(), 0, 'Enter with a person selected is a DM');
    await shot(alice, '4-shout-and-dm');
  });

  await t.test('walking into an area opens its chat', async () => {
    const area = world.areas.find((x) => x.circle);
    assert.ok(area, 'world.json has a circular area');
    const chat = (page) => page.locator(`#areas [data-area="${area.name}"]`);
    assert.equal(await chat(alice).count(), 0);
    await walk(alice, area.circle);
    await chat(alice).waitFor();
    await send(alice, `#areas [data-area="${area.name}"]`, 'anyone at the fountain?');
    await message(alice, 'area', 'anyone at the fountain?').waitFor(); // from the server: she is in the area

    // Outside the area, the server says no.
    const res = await bob.evaluate((name) => new Promise((resolve) => socket.emit('area-chat', { area: name, text: 'x' }, resolve)), area.name);
    assert.deepEqual(res, { error: `you are not in ${area.name}` });

    await walk(bob, offset(area.circle, area.circle.radius / 3, 0));
    await chat(bob).waitFor();
    await send(bob, `#areas [data-area="${area.name}"]`, 'by the clock!');
    await message(alice, 'area', 'by the clock!').waitFor();
    await message(bob, 'area', 'by the clock!').waitFor();
    assert.equal(await message(bob, 'area', 'anyone at the fountain?').count(), 0, 'sent before bob came');
    await shot(alice, '5-area-chat');

    await walk(bob, offset(area.circle, area.circle.radius / 3 + 400, 0)); // out again
    await chat(bob).waitFor({ state: 'detached' });
    await walk(bob, offset(area.circle, area.circle.radius / 3, 0));
    await chat(bob).waitFor();
  });

  await t.test('hiding leaves the others\' lists', async () => {
    await front(bob);
    await bob.check('#hide');
    await person(alice, 'bob').waitFor({ state: 'detached' });
    await person(bob, 'alice').waitFor(); // bob still sees alice
    await shot(bob, '6-hidden');
    await bob.uncheck('#hide');
    await person(alice, 'bob').waitFor();
  });

  await t.test('blurring my home keeps me listed, at a fixed point', async () => {
    await front(bob);
    await bob.check('#home');
    await bob.waitForTimeout(300); // the answer
    assert.ok(await bob.isChecked('#home'), 'the server took the zone');
    assert.equal(await bob.textContent('#send-error'), '');
    await person(alice, 'bob').waitFor(); // still seen, near home
    await bob.uncheck('#home');
    await bob.waitForTimeout(300);
    assert.equal(await bob.textContent('#send-error'), '');
  });

  await t.test('a page in the background shows away', async () => {
    // Headless pages stay visible: tell bob's page it was hidden, then shown.
    const visible = (page, shown) => page.evaluate((shown) => {
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => !shown });
      document.dispatchEvent(new Event('visibilitychange'));
    }, shown);
    await front(alice);
    await visible(bob, false);
    await alice.locator('#people li.away[data-name="bob"]', { hasText: 'away' }).waitFor();
    await shot(alice, '7-bob-away');
    await visible(bob, true);
    await alice.locator('#people li.online[data-name="bob"]', { hasText: 'online' }).waitFor();
  });

  await t.test('geolocation places a page without a click', async () => {
    const at = offset(a, 0, -150);
    const geo = await browser.newContext({
      viewport: { width: 1000, height: 650 },
      permissions: ['geolocation'],
      geolocation: { latitude: at.lat, longitude: at.lng, accuracy: 20 },
    });
    t.after(() => geo.close());
    const carol = await openPage(geo, problems, 'carol', url);
    await login(carol, 'carol');
    await carol.locator('#me-pos', { hasText: /\d+\.\d+, \d+\.\d+/ }).waitFor();
    await person(alice, 'carol').filter({ hasText: /\d+ m/ }).waitFor();
    await person(carol, 'alice').waitFor();
    await shot(carol, '8-geolocated');
    // (Chromium does not call watchPosition back when Playwright changes
    // the emulated position, so moving the device is not tested here.)
    await carol.close();
  });

  await t.test('a closed page shows offline with last seen', async () => {
    await bob.close();
    await alice.locator('#people li.offline[data-name="bob"]', { hasText: /offline · last seen \d\d:\d\d:\d\d/ }).waitFor();
    await shot(alice, '9-bob-offline');
  });

  await t.test('no console errors', (t) => problems.assertNone(t));
});
