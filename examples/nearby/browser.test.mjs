// Drives the nearby page in headless Chromium. Run by browser_test.go,
// which starts the server without bots, with map tiles from a local tile
// server (tiles_test.go), and sets NEARBY_URL:
//
//	go test -run TestBrowser ./examples/nearby/
//
// 1. The story, at desktop size: a bad name is refused; alice and bob place
//    themselves by clicking the map (tiles shown), see each other, walk
//    apart and back (dragging), shout, message each other (the DMs view
//    keeps the conversation), meet in an area's chat (with its history),
//    hide, go away; a reload signs alice in again where she was; a held
//    name is refused; signing out frees it; bob closes his page.
// 2. On a phone (390×844, touch): the map fills most of the screen, each
//    tab shows its panel on screen, taps place you, a touch drag moves
//    your marker, typing and sending works, Call calls window.Calls.
// 3. Without tiles (a tile server that is down, none configured) the map
//    is drawn plain; without Leaflet, the page's own SVG map.
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
// Screenshots go to NEARBY_ARTIFACTS (default <repo>/test-artifacts/nearby);
// with NEARBY_SCREENSHOTS set (make screenshots), the README's two go to
// that directory: nearby-desktop.png and nearby-phone.png.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { Problems, artifactsDir, launchChromium, openPage, screenshots } from '../internal/browser.mjs';

const url = process.env.NEARBY_URL;
const url2 = process.env.NEARBY_URL2 || url; // bob's node
const artifacts = process.env.NEARBY_ARTIFACTS || artifactsDir('nearby');
const docs = process.env.NEARBY_SCREENSHOTS; // the README's screenshots
const skip = !url && 'NEARBY_URL is not set';
const desktop = { viewport: { width: 1100, height: 700 } };

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
// spot finds a place near the world's center, away from the areas, with
// another 200 m east of it just as clear; skip such places are passed over.
const spot = (world, skip = 0) => {
  const spots = [];
  for (let n = -600; n <= 600; n += 100) {
    for (let e = -600; e <= 400; e += 100) spots.push(offset(world.center, e, n));
  }
  spots.sort((p, q) => haversine(world.center, p) - haversine(world.center, q));
  return spots.filter((p) => clear(world.areas, p) && clear(world.areas, offset(p, 200, 0)))[skip];
};

// What the tests do on a page.
const front = (page) => page.bringToFront(); // Chromium slows animation frames in the others
const login = async (page, name) => {
  await front(page);
  await page.fill('#name', name);
  await page.click('#login button');
};
const person = (page, name) => page.locator(`#people li[data-name="${name}"]`);
const message = (page, kind, text) => page.locator(`#messages li.${kind}`, { hasText: text });
const me = (page) => page.evaluate(() => window.nearby.me());
// tab shows a panel by its tab (from 900 px, people are always listed).
const tab = async (page, name) => {
  const b = page.locator(`#tab-${name}`);
  if (await b.isVisible()) await b.click();
  await page.locator(`#panel-${name}`).waitFor();
};
// walk clicks the map at p (panning there first) and waits until the page
// has moved there (within a pixel or two: some 10 m).
const walk = async (page, p) => {
  await front(page);
  const { x, y } = await page.evaluate(([lat, lng]) => {
    window.nearby.show(lat, lng);
    return window.nearby.project(lat, lng);
  }, [p.lat, p.lng]);
  await page.mouse.click(x, y);
  await near(page, p);
};
const near = (page, p) => page.waitForFunction(([lat, lng]) => {
  const me = window.nearby.me();
  return me && Math.abs(me.lat - lat) < 2e-4 && Math.abs(me.lng - lng) < 3e-4;
}, [p.lat, p.lng], { polling: 50 });
const send = async (page, button, text) => {
  await front(page);
  await tab(page, 'chat');
  await page.fill('#text', text);
  await page.click(button);
  await page.waitForFunction(() => document.querySelector('#text').value === '', null, { polling: 50 }); // cleared once sent
};
// overlaps lists the pairs of labels shown on the map that overlap.
const overlaps = (page) => page.evaluate(() => {
  const shown = [...document.querySelectorAll('#map .marker .label:not(.clash)')]
    .filter((e) => e.textContent && e.getBoundingClientRect().width > 0);
  const boxes = shown.map((e) => e.getBoundingClientRect());
  const out = [];
  boxes.forEach((a, i) => boxes.slice(i + 1).forEach((b, j) => {
    if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) out.push(`${shown[i].textContent} × ${shown[i + 1 + j].textContent}`);
  }));
  return { shown: shown.length, out };
});
// docShot saves one of the README's screenshots, small.
const docShot = async (page, name) => {
  if (!docs) return;
  const file = path.join(docs, `${name}.png`);
  await page.screenshot({ path: file, scale: 'css' });
  assert.ok(statSync(file).size <= 200 * 1024, `${file} is at most 200 KB`);
};
// inViewport asserts that the element sel is shown, whole, on screen.
const inViewport = async (page, sel) => {
  const box = await page.locator(sel).boundingBox();
  const vp = page.viewportSize();
  assert.ok(box, `${sel} is shown`);
  assert.ok(box.width > 0 && box.height > 0 && box.x >= 0 && box.y >= 0 &&
    box.x + box.width <= vp.width + 0.5 && box.y + box.height <= vp.height + 0.5, `${sel} is on screen: ${JSON.stringify(box)}`);
  return box;
};

test('nearby in two browser pages', { skip }, async (t) => {
  const shot = screenshots(artifacts);
  const browser = await launchChromium(chromium, t);
  // Every page's console errors, uncaught exceptions and failed Socket.IO
  // requests, asserted none at the end (see Problems).
  const problems = new Problems();
  // One browser context each: each person's device keeps its own sign-in.
  // No geolocation permission: the page starts unplaced, as in a browser
  // that said no.
  const open = async (label, at = url, options = desktop) => {
    const context = await browser.newContext(options);
    t.after(() => context.close());
    return openPage(context, problems, label, at);
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
    assert.equal(await alice.evaluate(() => localStorage.getItem('nearby.name')), 'alice');
    assert.ok(await alice.evaluate(() => localStorage.getItem('nearby.token')), 'the page keeps its sign-in');
    assert.equal(await alice.evaluate(() => window.nearby.me()), null, 'not placed yet');
    // The map itself says how to get placed.
    await alice.locator('#place-prompt', { hasText: 'Tap the map to place yourself' }).waitFor();
    await inViewport(alice, '#allow-location');
    world = await alice.evaluate(() => window.nearby.world);
    const v = await alice.evaluate(() => window.nearby.view());
    assert.ok(haversine(v, world.center) < 10, 'the map starts on world.center');
    a = spot(world);
    assert.ok(a, 'a place away from the areas');
    b = offset(a, 200, 0);

    await walk(alice, a);
    await walk(bob, b);
    await alice.locator('#place-prompt').waitFor({ state: 'hidden' });
    await person(alice, 'bob').filter({ hasText: /\d+ m/ }).waitFor();
    await person(bob, 'alice').filter({ hasText: /\d+ m/ }).waitFor();
    await person(alice, 'bob').filter({ hasText: 'online' }).waitFor();
    await alice.locator('#map .person[data-name="bob"] .label', { hasText: 'bob' }).waitFor();
    await tab(alice, 'you');
    assert.match(await alice.locator('#me-pos').textContent(), /\d+\.\d+, \d+\.\d+/);

    // An arrow key walks 25 m when no text field has the focus: after a
    // click on the map too (Leaflet's keyboard would pan the map); + and -
    // zoom.
    await walk(alice, a);
    const before = await me(alice);
    await alice.keyboard.press('ArrowUp');
    const after = await me(alice);
    assert.ok(Math.abs(haversine(before, after) - 25) < 1, `ArrowUp walked ${haversine(before, after)} m`);
    await alice.keyboard.press('ArrowDown');
    await alice.evaluate(() => document.activeElement?.blur());
    await alice.keyboard.press('ArrowRight');
    assert.ok(Math.abs(haversine(before, await me(alice)) - 25) < 1, 'ArrowRight walked 25 m');
    await alice.keyboard.press('ArrowLeft');
    const z0 = (await alice.evaluate(() => window.nearby.view())).zoom;
    await alice.keyboard.press('+');
    await alice.waitForFunction((z) => window.nearby.view().zoom === z, z0 + 1, { polling: 50 });
    await alice.keyboard.press('-');
    await alice.waitForFunction((z) => window.nearby.view().zoom === z, z0, { polling: 50 });
    await shot(alice, '2-placed');
  });

  await t.test('the map shows tiles from world.json', async () => {
    assert.match(world.tiles.url, /^http:\/\/127\.0\.0\.1:\d+\/\{z\}\/\{x\}\/\{y\}\.png$/, 'the test tile server');
    await alice.waitForFunction(() => [...document.querySelectorAll('#map img.leaflet-tile-loaded')]
      .some((img) => img.naturalWidth === 256), null, { polling: 100 });
    assert.ok(await alice.evaluate(() => window.nearby.leaflet), 'Leaflet draws the map');
    assert.equal(await alice.locator('#map.plain').count(), 0, 'not the plain map');
    const hits = Number(await (await fetch(world.tiles.url.replace('/{z}/{x}/{y}.png', '/hits'))).text());
    assert.ok(hits > 0, `the tile server served ${hits} tiles`);
    await alice.locator('.leaflet-control-attribution', { hasText: 'OpenStreetMap' }).waitFor();
  });

  await t.test('labels on the map never overlap', async () => {
    await front(alice);
    const z = (await alice.evaluate(() => window.nearby.view())).zoom;
    await alice.evaluate((z) => window.nearby.zoom(z), z - 4); // alice and bob 12 px apart
    const far = await overlaps(alice);
    assert.deepEqual(far.out, [], 'zoomed out: no label over another');
    const hidden = await alice.locator('#map .marker .label.clash').count();
    assert.ok(hidden > 0, 'zoomed out, some labels give way');
    await alice.evaluate((z) => window.nearby.zoom(z), z);
    const close = await overlaps(alice);
    assert.deepEqual(close.out, []);
    assert.ok(close.shown >= 3, `zoomed in: you, bob and the areas labeled (${close.shown})`);
    // The zoom buttons work.
    await alice.click('.leaflet-control-zoom-out');
    await alice.waitForFunction((want) => window.nearby.view().zoom === want, z - 1, { polling: 50 });
    await alice.evaluate((z) => window.nearby.zoom(z), z);
  });

  await t.test("others' markers glide to where they moved", async () => {
    // Positions come on a grid (world.precision): a marker that jumped
    // would show two places only; a glide goes through the ones between.
    await front(alice);
    await alice.waitForFunction(() => !document.querySelector('.leaflet-zoom-anim'), null, { polling: 50 });
    const id = await person(alice, 'bob').getAttribute('data-id');
    // Bob's marker's place from alice's marker (the same whether the map
    // pans or not), each frame: the last before his move arrives, then 90.
    await alice.evaluate((id) => {
      const place = () => Math.round(document.querySelector('#map .person[data-name="bob"]').getBoundingClientRect().top -
        document.querySelector('#me').getBoundingClientRect().top);
      const lat = people.get(id).lat;
      const after = [];
      let before = place();
      window.track = new Promise((resolve) => {
        const tick = () => {
          if (people.get(id).lat === lat) before = place();
          else after.push(place());
          if (after.length < 90) requestAnimationFrame(tick);
          else resolve({ before, after });
        };
        requestAnimationFrame(tick);
      });
    }, id);
    const to = offset(b, 0, 150);
    await bob.evaluate(([lat, lng]) => moveTo(lat, lng), [to.lat, to.lng]); // bob stays in the background
    const { before, after } = await alice.evaluate(() => window.track);
    const between = new Set(after.filter((y) => y !== before && y !== after.at(-1))).size;
    assert.ok(after.at(-1) < before - 20, `bob's marker moved up: ${before} → ${after.at(-1)}`);
    assert.ok(between >= 3, `bob's marker went through ${between} places between: ${before}, ${[...new Set(after)]}`);
    await walk(bob, b);
  });

  await t.test('two tabs of one person are one entry, one marker', async () => {
    const tab2 = await openPage(alice.context(), problems, 'alice-tab2', url);
    await tab2.locator('#status', { hasText: 'connected as alice' }).waitFor();
    await front(bob);
    await bob.waitForFunction(() => [...people.keys()].filter((id) => names.get(id) === 'alice').length === 2, null, { polling: 50 });
    await bob.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
    assert.equal(await person(bob, 'alice').count(), 1, 'one entry');
    assert.equal(await bob.locator('#map .person[data-name="alice"]').count(), 1, 'one marker');
    const ids = await bob.evaluate(() => [...people.keys()].filter((id) => names.get(id) === 'alice'));
    assert.ok(ids.includes(await person(bob, 'alice').getAttribute('data-id')), 'a call goes to one of her sockets');
    await tab2.close();
    await bob.waitForFunction(() => [...people.keys()].filter((id) => names.get(id) === 'alice').length === 1, null, { polling: 50 });
    await person(bob, 'alice').filter({ hasText: 'online' }).waitFor();
  });

  await t.test('the desktop lists enough people', async () => {
    await front(alice);
    await alice.setViewportSize({ width: 1280, height: 800 });
    const fits = await alice.evaluate(() => {
      const panel = document.querySelector('#panel-people');
      const li = document.querySelector('#people li');
      return (panel.clientHeight - document.querySelector('#people').offsetTop + panel.offsetTop) / li.offsetHeight;
    });
    assert.ok(fits >= 6, `the people panel fits ${fits.toFixed(1)} people at 1280×800`);
    await alice.setViewportSize(desktop.viewport);
  });

  await t.test('walking beyond the radius leaves the list, walking back returns', async () => {
    const far = offset(b, 0, b.lat > world.center.lat ? -1800 : 1800);
    await walk(bob, far);
    await person(alice, 'bob').waitFor({ state: 'detached' });
    await person(bob, 'alice').waitFor({ state: 'detached' });
    await shot(bob, '3-bob-far');

    // Back by dragging his marker.
    await front(bob);
    await bob.evaluate(([p, q]) => window.nearby.fit([p, q]), [far, b]);
    const box = await bob.locator('#me').boundingBox();
    const to = await bob.evaluate(([lat, lng]) => window.nearby.project(lat, lng), [b.lat, b.lng]);
    await bob.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await bob.mouse.down();
    await bob.mouse.move(to.x, to.y, { steps: 8 });
    await bob.mouse.up();
    await person(alice, 'bob').filter({ hasText: /\d+ m/ }).waitFor();
    await person(bob, 'alice').waitFor();
    assert.ok(haversine(await me(bob), b) < 60, 'bob dragged himself back');
    await walk(bob, b); // exactly
  });

  await t.test('◎ brings the map back to you', async () => {
    await front(alice);
    await alice.evaluate(([lat, lng]) => window.nearby.show(lat, lng), [world.center.lat + 0.05, world.center.lng]);
    assert.ok(haversine(await alice.evaluate(() => window.nearby.view()), a) > 3000, 'the map is elsewhere');
    await alice.click('#locate');
    assert.ok(haversine(await alice.evaluate(() => window.nearby.view()), a) < 30, 'the map is on alice again');
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
    await bob.locator('#selection', { hasText: 'alice' }).waitFor();
    await bob.locator('#map .person.selected[data-name="alice"]').waitFor();
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
    await docShot(alice, 'nearby-desktop');
  });

  await t.test('the DMs view keeps the conversation', async () => {
    await front(alice);
    await tab(alice, 'dms');
    const conv = alice.locator('#conversations li[data-with="bob"]');
    await conv.filter({ hasText: 'enter goes to alice' }).waitFor();
    await conv.filter({ hasText: 'online' }).waitFor();
    await conv.click();
    await alice.locator('#conversation').waitFor();
    const said = alice.locator('#conv-messages li');
    await said.filter({ hasText: 'hi alice, just you' }).waitFor();
    await said.filter({ hasText: 'enter goes to alice' }).waitFor();
    await alice.fill('#conv-text', 'hi bob, from the DMs');
    await alice.click('#conv-send');
    await message(bob, 'dm', 'hi bob, from the DMs').filter({ hasText: 'alice' }).waitFor();
    await said.filter({ hasText: 'hi bob, from the DMs' }).waitFor();
    await alice.locator('#conv-messages li.mine', { hasText: 'hi bob, from the DMs' }).waitFor();
    await shot(alice, '5-dms');
    await alice.click('#conv-back');
    await tab(alice, 'chat');
  });

  await t.test('a dropped connection comes back with what was sent meanwhile', async () => {
    // Bob has their conversation open: its head follows her presence.
    await front(bob);
    if (!(await bob.locator('#people li.selected[data-name="alice"]').count())) await person(bob, 'alice').click();
    await bob.click('#sel-message');
    await bob.locator('#conv-seen', { hasText: /^online$/ }).waitFor();
    const id = await alice.evaluate(() => socket.id);
    // alice's transport drops (a tunnel); her client waits 3 s to come back.
    await alice.evaluate(() => {
      socket.io.reconnectionDelay(3000);
      socket.io.reconnectionDelayMax(3000);
      socket.io.engine.close();
    });
    await person(bob, 'alice').filter({ hasText: 'offline' }).waitFor();
    await front(bob);
    await bob.locator('#conv-seen', { hasText: /^last seen \d\d:\d\d$/ }).waitFor();
    await tab(bob, 'chat');
    await bob.locator('#dm:not([disabled])').waitFor(); // offline: the server keeps it for her
    await send(bob, '#dm', 'sent while you were away');
    await front(alice);
    await message(alice, 'dm', 'sent while you were away').filter({ hasText: 'bob' }).waitFor();
    assert.ok(await alice.evaluate(() => socket.recovered), 'recovered: the server replayed what she missed');
    assert.equal(await alice.evaluate(() => socket.id), id, 'the same socket');
    assert.equal(await message(alice, 'dm', 'sent while you were away').count(), 1, 'once');
    await person(bob, 'alice').filter({ hasText: 'online' }).waitFor();
    await alice.locator('#status', { hasText: 'connected as alice' }).waitFor();
    await front(bob);
    await tab(bob, 'dms');
    await bob.locator('#conv-seen', { hasText: /^online$/ }).waitFor();
    await bob.click('#conv-back');
    await tab(bob, 'chat');
  });

  await t.test('walking into an area opens its chat, with what was said there', async () => {
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
    // Sent before bob came: he sees it as the area's history.
    await message(bob, 'area.history', 'anyone at the fountain?').waitFor();
    await send(bob, `#areas [data-area="${area.name}"]`, 'by the clock!');
    await message(alice, 'area', 'by the clock!').waitFor();
    await message(bob, 'area:not(.history)', 'by the clock!').waitFor();
    await shot(alice, '6-area-chat');

    await walk(bob, offset(area.circle, area.circle.radius / 3 + 400, 0)); // out again
    await chat(bob).waitFor({ state: 'detached' });
    await walk(bob, offset(area.circle, area.circle.radius / 3, 0));
    await chat(bob).waitFor();
  });

  await t.test('hiding leaves the others\' lists', async () => {
    await front(bob);
    await tab(bob, 'you');
    await bob.check('#hide');
    await person(alice, 'bob').waitFor({ state: 'detached' });
    await person(bob, 'alice').waitFor(); // bob still sees alice
    await shot(bob, '7-hidden');
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
    await tab(bob, 'chat');
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
    await shot(alice, '8-bob-away');
    await visible(bob, true);
    await alice.locator('#people li.online[data-name="bob"]', { hasText: 'online' }).waitFor();
  });

  await t.test('geolocation places a page, and its map, without a click', async () => {
    const at = offset(a, 0, -150);
    const carol = await open('carol', url, {
      ...desktop,
      permissions: ['geolocation'],
      geolocation: { latitude: at.lat, longitude: at.lng, accuracy: 20 },
    });
    await login(carol, 'carol');
    await near(carol, at);
    assert.ok(haversine(await carol.evaluate(() => window.nearby.view()), at) < 30, 'the map starts on her');
    await person(alice, 'carol').filter({ hasText: /\d+ m/ }).waitFor();
    await person(carol, 'alice').waitFor();
    await shot(carol, '9-geolocated');
    // (Chromium does not call watchPosition back when Playwright changes
    // the emulated position, so moving the device is not tested here.)
    await carol.close();
  });

  await t.test('a reload signs in again, where you were', async () => {
    const was = await me(alice);
    await alice.reload();
    await alice.locator('#app').waitFor();
    assert.ok(await alice.locator('#login').isHidden(), 'no login form');
    await alice.locator('#status', { hasText: 'connected as alice' }).waitFor();
    await near(alice, was);
    await person(bob, 'alice').filter({ hasText: 'online' }).waitFor();
    await person(alice, 'bob').waitFor();
  });

  await t.test('a name someone holds is refused; signing out frees it', async () => {
    const mallory = await open('mallory');
    await login(mallory, 'Alice');
    await mallory.locator('#login-error', { hasText: /name Alice is taken/i }).waitFor();
    assert.ok(await mallory.locator('#app').isHidden());

    // A device whose sign-in the server does not know is asked to sign in.
    await mallory.evaluate(() => {
      localStorage.setItem('nearby.token', 'no-such-token');
      localStorage.setItem('nearby.name', 'alice');
    });
    await mallory.reload();
    await mallory.locator('#login-error', { hasText: 'sign in again' }).waitFor();
    assert.equal(await mallory.evaluate(() => localStorage.getItem('nearby.token')), null, 'the token is forgotten');

    await front(alice);
    await tab(alice, 'you');
    await alice.click('#sign-out');
    await alice.locator('#login').waitFor();
    assert.equal(await alice.evaluate(() => localStorage.getItem('nearby.token')), null);
    await person(bob, 'alice').filter({ hasText: 'offline' }).waitFor();

    await login(mallory, 'Alice');
    await mallory.locator('#status', { hasText: 'connected as Alice' }).waitFor();
    await mallory.close();
  });

  await t.test('a closed page shows offline with last seen', async () => {
    await login(alice, 'ally'); // alice is Alice's now

    await alice.locator('#app').waitFor();
    await person(alice, 'bob').waitFor();
    await bob.close();
    await alice.locator('#people li.offline[data-name="bob"]', { hasText: /offline · last seen \d\d:\d\d$/ }).waitFor();
    await shot(alice, '10-bob-offline');
  });

  await t.test('no console errors', (t) => problems.assertNone(t));
});

test('nearby on a phone', { skip }, async (t) => {
  const shot = screenshots(artifacts);
  const browser = await launchChromium(chromium, t);
  const problems = new Problems();
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  const other = await browser.newContext(desktop);
  t.after(() => Promise.all([phone.close(), other.close()]));
  const dave = await openPage(phone, problems, 'dave', url);
  const erin = await openPage(other, problems, 'erin', url);
  // calls.js is another test's (calls.test.mjs): here a stand-in records
  // what the page asks of window.Calls.
  await dave.route('**/calls.js', (r) => r.fulfill({ contentType: 'text/javascript', body: '' }));
  await dave.addInitScript(() => {
    window.callsLog = [];
    window.Calls = {
      attach: (socket, o) => window.callsLog.push(['attach', !!socket, Array.isArray(o.iceServers), typeof o.getName]),
      call: (id, name, o) => window.callsLog.push(['call', id, name, o]),
      setBlocked: (b) => window.callsLog.push(['setBlocked', b]),
    };
  });
  await dave.reload();
  const vp = dave.viewportSize();
  const tap = async (sel) => {
    await front(dave);
    await dave.tap(sel);
  };

  await front(dave);
  await dave.tap('#name');
  await dave.fill('#name', 'dave');
  await tap('#login button');
  await dave.locator('#app').waitFor();
  await login(erin, 'erin');
  await erin.locator('#app').waitFor();
  const world = await dave.evaluate(() => window.nearby.world);
  const d = spot(world, 3);
  const e = offset(d, 200, 0);
  await walk(erin, e);

  await t.test('the map fills most of the screen', async () => {
    const map = await inViewport(dave, '#map');
    assert.ok(map.height > vp.height * 0.5, `the map is ${map.height} px of ${vp.height}`);
    assert.ok(map.width >= vp.width - 1, 'the map is as wide as the screen');
    for (const sel of ['#tabs', '#locate', '#tab-people', '#tab-chat', '#tab-dms', '#tab-you', '.leaflet-control-zoom-in', '.leaflet-control-zoom-out']) {
      const box = await inViewport(dave, sel);
      assert.ok(box.height >= 44 && box.width >= 44, `${sel} is big enough to tap: ${box.width}×${box.height}`);
    }
    const scrolls = await dave.evaluate(() => document.documentElement.scrollWidth > innerWidth);
    assert.equal(scrolls, false, 'nothing is wider than the screen');
  });

  await t.test('a tap places you; a touch drag moves you', async () => {
    await front(dave);
    const at = await dave.evaluate(([lat, lng]) => {
      window.nearby.show(lat, lng);
      return window.nearby.project(lat, lng);
    }, [d.lat, d.lng]);
    await dave.touchscreen.tap(at.x, at.y);
    await near(dave, d);
    await person(dave, 'erin').filter({ hasText: /\d+ m/ }).waitFor();
    await person(erin, 'dave').waitFor();

    // A finger on the marker, moved 60 px up.
    const box = await dave.locator('#me').boundingBox();
    const x = box.x + box.width / 2;
    const y = box.y + box.height / 2;
    const cdp = await phone.newCDPSession(dave);
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [{ x, y }] });
    for (let i = 1; i <= 10; i++) {
      await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: [{ x, y: y - 6 * i }] });
    }
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
    const moved = haversine(await me(dave), d);
    const north = (await me(dave)).lat > d.lat;
    assert.ok(moved > 60 && north, `dragged ${moved} m north`);
    await walk(dave, d);
  });

  await t.test('each tab shows its panel on screen', async () => {
    for (const name of ['people', 'chat', 'dms', 'you', 'people']) {
      await tap(`#tab-${name}`);
      await dave.locator(`#panel-${name}`).waitFor();
      const panel = await inViewport(dave, `#panel-${name}`);
      assert.ok(panel.height >= 150, `the ${name} panel is ${panel.height} px tall`);
      assert.equal(await dave.locator(`#tab-${name}`).getAttribute('aria-selected'), 'true');
      for (const other of ['people', 'chat', 'dms', 'you'].filter((o) => o !== name)) {
        assert.ok(await dave.locator(`#panel-${other}`).isHidden(), `${other} is hidden under ${name}`);
      }
    }
    await inViewport(dave, '#people li[data-name="erin"]');
  });

  await t.test('typing and sending works', async () => {
    await tap('#tab-chat');
    await tap('#text');
    await dave.fill('#text', 'hello from my phone');
    await inViewport(dave, '#shout');
    await tap('#shout');
    await message(erin, 'shout', 'hello from my phone').filter({ hasText: 'dave' }).waitFor();
    await message(dave, 'shout.mine', 'hello from my phone').waitFor();

    // Shouts while the chat is not shown: its tab counts them, and shows
    // the newest when opened.
    await tap('#tab-people');
    for (let i = 1; i <= 3; i++) await send(erin, '#shout', `${i}: ${'a long shout that takes lines, '.repeat(8)}`);
    await send(erin, '#shout', 'hi dave');
    await dave.locator('#chat-badge', { hasText: '4' }).waitFor();
    await tap('#tab-chat');
    await message(dave, 'shout', 'hi dave').waitFor();
    assert.equal(await dave.textContent('#chat-badge'), '');
    const scroll = () => dave.evaluate(() => {
      const l = document.querySelector('#messages');
      return { top: l.scrollTop, bottom: l.scrollHeight > l.clientHeight && l.scrollTop + l.clientHeight >= l.scrollHeight - 8 };
    });
    assert.equal((await scroll()).bottom, true, 'the chat opens on its newest message');
    await inViewport(dave, '#messages li:last-child');
    // Scrolled up by hand, it stays there, whatever comes or whichever tab
    // is shown meanwhile.
    await dave.evaluate(() => { document.querySelector('#messages').scrollTop = 40; });
    await dave.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
    await send(erin, '#shout', 'one more');
    await message(dave, 'shout', 'one more').waitFor();
    await tap('#tab-people');
    await tap('#tab-chat');
    assert.equal((await scroll()).top, 40, 'where the user scrolled to');
    await dave.evaluate(() => { const l = document.querySelector('#messages'); l.scrollTop = l.scrollHeight; });
  });

  await t.test('a selected person: message and call', async () => {
    await tap('#tab-people');
    await tap('#people li[data-name="erin"]');
    await dave.locator('#selection', { hasText: 'erin' }).waitFor();
    const bar = await inViewport(dave, '#selection');
    assert.ok(bar.height >= 44);
    for (const sel of ['#sel-message', '#call', '#sel-close']) {
      const box = await inViewport(dave, sel);
      assert.ok(box.height >= 44 && box.width >= 44, `${sel} is big enough to tap`);
    }
    await tap('#call');
    const log = await dave.evaluate(() => window.callsLog);
    const id = await dave.locator('#people li[data-name="erin"]').getAttribute('data-id');
    assert.deepEqual(log.find((c) => c[0] === 'attach'), ['attach', true, true, 'function']);
    assert.deepEqual(log.find((c) => c[0] === 'call'), ['call', id, 'erin', { video: false }]);

    await tap('#sel-message');
    await dave.locator('#conversation').waitFor();
    await inViewport(dave, '#conv-send');
    await tap('#conv-text');
    await dave.fill('#conv-text', 'just you, erin');
    await tap('#conv-send');
    await message(erin, 'dm', 'just you, erin').filter({ hasText: 'dave' }).waitFor();
    await dave.locator('#conv-messages li.mine', { hasText: 'just you, erin' }).waitFor();

    await tap('#tab-you');
    await inViewport(dave, '#no-calls');
    await tap('#no-calls');
    assert.deepEqual((await dave.evaluate(() => window.callsLog)).at(-1), ['setBlocked', true]);
    await tap('#no-calls');
    await tap('#tab-people');
    await shot(dave, 'phone');
    await docShot(dave, 'nearby-phone');
  });

  await t.test('long names fit a 360 px screen', async () => {
    await dave.setViewportSize({ width: 360, height: 640 });
    const name = 'Maximilianewolkensteiner'; // 24 characters, no space to wrap at
    const third = await browser.newContext(desktop);
    t.after(() => third.close());
    const max = await openPage(third, problems, 'max', url);
    await login(max, name);
    await max.locator('#app').waitFor();
    const m = offset(d, 0, -120);
    await walk(max, m);
    await tap('#tab-people');
    await tap(`#people li[data-name="${name}"]`);
    await dave.locator('#selection', { hasText: name.slice(0, 8) }).waitFor();
    assert.equal(await dave.getAttribute('#sel-name', 'title'), name, 'the whole name in a title');
    for (const sel of ['#selection', '#sel-message', '#call', '#sel-close', '#tabs', '#tab-people', '#people-count']) await inViewport(dave, sel);
    // The People count sits in its tab's line, as the others' badges do.
    const tabBox = await dave.locator('#tab-people').boundingBox();
    const count = await dave.locator('#people-count').boundingBox();
    assert.ok(Math.abs(count.y + count.height / 2 - (tabBox.y + tabBox.height / 2)) < 6, `the count is inline: ${JSON.stringify([count, tabBox])}`);
    // The selected person's label: ellipsized, clear of my dot.
    const label = await dave.locator('#map .person.selected .label').boundingBox();
    const map = await dave.locator('#map').boundingBox();
    assert.ok(label.width < map.width / 2, `the label is ${label.width} px wide`);
    const dot = await dave.locator('#me .dot').boundingBox();
    const labels = await dave.locator('#map .marker .label:not(.clash)').evaluateAll((es) => es.map((e) => e.getBoundingClientRect().toJSON()));
    assert.ok(labels.every((l) => !(l.left < dot.x + dot.width && dot.x < l.right && l.top < dot.y + dot.height && dot.y < l.bottom)), 'no label covers my dot');

    await tap('#tab-chat');
    const dm = await inViewport(dave, '#dm');
    assert.ok(dm.height < 50, `the DM button is one line: ${dm.height} px`);
    assert.match(await dave.getAttribute('#dm', 'title'), new RegExp(name));
    await inViewport(dave, '#shout');
    await tap('#sel-message');
    await dave.locator('#conversation').waitFor();
    for (const sel of ['#conv-back', '#conv-name', '#conv-seen', '#conv-send']) await inViewport(dave, sel);
    assert.equal(await dave.getAttribute('#conv-name', 'title'), name);
    const scrolls = await dave.evaluate(() => document.documentElement.scrollWidth > innerWidth);
    assert.equal(scrolls, false, 'nothing is wider than the screen');
    await shot(dave, 'phone-360-long-name');
    await dave.click('#conv-back');
    await max.close();
    await dave.setViewportSize(vp);
  });

  await t.test('DMs that came while away show unread', async () => {
    await dave.goto('about:blank');
    await person(erin, 'dave').filter({ hasText: 'offline' }).waitFor();
    const res = await erin.evaluate(() => new Promise((resolve) => socket.emit('dm', { to: 'dave', text: 'while you were out' }, resolve)));
    assert.deepEqual(res, { ok: true });
    await dave.goto(url);
    await dave.locator('#dms-badge', { hasText: '1' }).waitFor();
    await tap('#tab-dms');
    await dave.locator('#conversations li.unread[data-with="erin"]', { hasText: 'while you were out' }).waitFor();
    await tap('#conversations li[data-with="erin"]');
    await dave.locator('#conv-messages li', { hasText: 'while you were out' }).waitFor();
    assert.equal(await dave.textContent('#dms-badge'), '');
    // Read, it stays read.
    await dave.reload();
    await dave.locator('#conversations li[data-with="erin"]').waitFor({ state: 'attached' });
    assert.equal(await dave.textContent('#dms-badge'), '');
    assert.equal(await dave.locator('#conversations li.unread').count(), 0);
  });

  await t.test('no console errors', (t) => problems.assertNone(t));
});

test('the map without tiles, or without Leaflet', { skip }, async (t) => {
  const browser = await launchChromium(chromium, t);
  const problems = new Problems();
  const down = 'http://127.0.0.1:9'; // nothing listens on the discard port
  problems.allow('failed tiles of a tile server that is down', (p) => p.url?.startsWith(`${down}/`));
  problems.allow('Leaflet answered 500', (p) => p.url?.endsWith('/vendor/leaflet/leaflet.js'));
  // page opens the app, on a device of its own, with world.json's tiles
  // set to tiles.
  const page = async (label, tiles, setup = async () => {}) => {
    const context = await browser.newContext(desktop);
    t.after(() => context.close());
    const p = await context.newPage();
    p.setDefaultTimeout(10_000);
    problems.watch(p, label);
    const requested = [];
    p.on('request', (r) => { if (r.url().endsWith('.png')) requested.push(r.url()); });
    await p.route('**/world.json', async (route) => {
      const res = await route.fetch();
      const w = await res.json();
      w.tiles.url = tiles;
      await route.fulfill({ response: res, json: w });
    });
    await setup(p);
    await p.goto(url);
    await login(p, label);
    await p.locator('#app').waitFor();
    return { p, requested };
  };
  const placeAndCheck = async (p) => {
    const world = await p.evaluate(() => window.nearby.world);
    const at = spot(world, 5);
    await walk(p, at);
    await p.locator('#me').waitFor();
  };

  await t.test('tiles that cannot load: a plain map, still usable', async () => {
    const { p, requested } = await page('frank', `${down}/{z}/{x}/{y}.png`);
    await p.locator('#map.plain').waitFor();
    assert.ok(requested.length > 0, 'the tiles were tried');
    assert.ok(await p.evaluate(() => window.nearby.leaflet));
    await p.locator('.leaflet-control-attribution', { hasText: 'plain map' }).waitFor();
    await placeAndCheck(p);
    const tried = requested.length;
    await p.evaluate(() => window.nearby.show(window.nearby.me().lat + 0.03, window.nearby.me().lng));
    await p.waitForTimeout(200);
    assert.equal(requested.length, tried, 'no more tiles asked for once they failed');
    await p.close();
  });

  await t.test('no tile server: a plain map, no tile asked for', async () => {
    const { p, requested } = await page('gina', '');
    await p.locator('#map.plain').waitFor();
    await placeAndCheck(p);
    assert.deepEqual(requested, []);
    await p.close();
  });

  await t.test('no Leaflet: the page draws its own map', async () => {
    const { p } = await page('hugo', '', (p) => p.route('**/vendor/leaflet/leaflet.js', (r) => r.fulfill({ status: 500, body: 'leaflet is not installed' })));
    assert.equal(await p.evaluate(() => window.nearby.leaflet), false);
    await p.locator('#map svg').waitFor();
    await placeAndCheck(p);
    await p.locator('#map .me-marker').waitFor();
    await p.close();
  });

  await t.test('no console errors', (t) => problems.assertNone(t));
});
