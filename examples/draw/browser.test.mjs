// Drives the drawing page in headless Chromium: a stroke drawn in one page
// appears in another, a page opened later gets the picture, the room is the
// URL's hash, and Clear clears every page. Run by draw_test.go, which
// starts the server and sets DRAW_URL:
//
//	go test ./examples/draw/
//
// or by hand against a running server:
//
//	DRAW_URL=http://127.0.0.1:8081 node --test browser.test.mjs
//
// Screenshots go to DRAW_ARTIFACTS (default <repo>/test-artifacts/draw).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { Problems, artifactsDir, launchChromium, openPage, screenshots } from '../internal/browser.mjs';

const url = process.env.DRAW_URL;
const artifacts = process.env.DRAW_ARTIFACTS || artifactsDir('draw');

const RED = '#e03131';
const BLUE = '#1971c2';

test('drawing together in browser pages', { skip: !url && 'DRAW_URL is not set' }, async (t) => {
  const shot = screenshots(artifacts);
  const browser = await launchChromium(chromium, t);
  const context = await browser.newContext({ viewport: { width: 900, height: 700 } });

  // Every page's console errors, uncaught exceptions and failed Socket.IO
  // requests, asserted none at the end (see Problems).
  const problems = new Problems();
  const open = async (label, room) => {
    const page = await openPage(context, problems, label, `${url}/#${room}`);
    await inRoom(page, room);
    return page;
  };
  // inRoom waits until the page is connected and has the room's picture.
  const inRoom = async (page, room) => {
    await page.locator('#room', { hasText: `#${room}` }).waitFor();
    await page.locator('#status.online').waitFor();
  };
  // Chromium delivers input to a page in the background slowly: the page
  // that is used comes to the front first, as it would for a person.
  const click = async (page, selector) => {
    await page.bringToFront();
    await page.click(selector);
  };

  // pixel returns [r, g, b, a] of a canvas at x, y (fractions of its size).
  const pixel = (page, canvas, x, y) => page.evaluate(([canvas, x, y]) => {
    const c = document.querySelector(canvas);
    return [...c.getContext('2d').getImageData(Math.round(x * c.width), Math.round(y * c.height), 1, 1).data];
  }, [canvas, x, y]);
  // waitForPixel waits until the canvas's pixels at x, y (or at each [x, y]
  // of x) are red, blue, any color or blank. It polls on a timer, as
  // requestAnimationFrame is slowed in pages in the background.
  const waitForPixel = (page, canvas, x, y, want) => page.waitForFunction(([canvas, points, want]) => {
    const c = document.querySelector(canvas);
    return points.every(([x, y]) => {
      const [r, g, b, a] = c.getContext('2d').getImageData(Math.round(x * c.width), Math.round(y * c.height), 1, 1).data;
      if (want === 'red') return a > 200 && r > 200 && g < 80 && b < 80;
      if (want === 'blue') return a > 200 && r < 80 && b > 150;
      if (want === 'any') return a > 200;
      return a === 0;
    });
  }, [canvas, Array.isArray(x) ? x : [[x, y]], want], { polling: 50 });

  // drag moves the mouse, button down, along points (fractions of the
  // canvas), calling during(page) half way through.
  const drag = async (page, [x0, y0], [x1, y1], during = async () => {}) => {
    await page.bringToFront();
    const box = await page.locator('#ink').boundingBox();
    const at = (x, y) => [box.x + x * box.width, box.y + y * box.height];
    await page.mouse.move(...at(x0, y0));
    await page.mouse.down();
    await page.mouse.move(...at((x0 + x1) / 2, (y0 + y1) / 2), { steps: 12 });
    await during();
    await page.mouse.move(...at(x1, y1), { steps: 12 });
    await page.mouse.up();
  };

  const alice = await open('alice', 'art');
  const bob = await open('bob', 'art');

  // alice's red stroke goes from (0.2, 0.3) to (0.6, 0.7), through the
  // middle point (0.4, 0.5), and (0.3, 0.4) on its first half.
  const [mx, my] = [0.4, 0.5];
  await t.test('a stroke drawn in one page appears in the other, live', async () => {
    await click(alice, `#palette [data-color="${RED}"]`);
    assert.deepEqual(await pixel(bob, '#picture', mx, my), [0, 0, 0, 0], 'blank to begin with');
    await drag(alice, [0.2, 0.3], [0.6, 0.7], async () => {
      // the button is still down: the first half is there already
      await waitForPixel(bob, '#picture', 0.3, 0.4, 'red');
    });
    await waitForPixel(bob, '#picture', mx, my, 'red');
    // In alice's page the stroke moves from #ink to #picture once the
    // server sent it back.
    await waitForPixel(alice, '#picture', mx, my, 'red');
    await waitForPixel(alice, '#ink', mx, my, 'blank');

    // And the other way round, in blue, from (0.3, 0.7) to (0.7, 0.3).
    await click(bob, `#palette [data-color="${BLUE}"]`);
    await drag(bob, [0.3, 0.7], [0.7, 0.3]);
    await waitForPixel(alice, '#picture', 0.6, 0.4, 'blue');
    await shot(alice, '1-drawn');
    await shot(bob, '2-received');
  });

  let carol;
  await t.test('a page opened later gets the picture', async () => {
    carol = await open('carol', 'art');
    await waitForPixel(carol, '#picture', mx, my, 'red');
    await waitForPixel(carol, '#picture', 0.6, 0.4, 'blue');
    await shot(carol, '3-late-joiner');
  });

  await t.test('the hash is the room', async () => {
    const dave = await open('dave', 'elsewhere');
    assert.deepEqual(await pixel(dave, '#picture', mx, my), [0, 0, 0, 0], 'another room, another picture');
    await dave.evaluate(() => { location.hash = 'art'; });
    await inRoom(dave, 'art');
    await waitForPixel(dave, '#picture', mx, my, 'red');
    await dave.close();
  });

  await t.test('bad input gets an error, not a crash', async () => {
    const res = await alice.evaluate(() => new Promise((resolve) => {
      socket.emit('draw', { stroke: 1, color: 'red', width: 3, points: [[0, 0]] }, resolve);
    }));
    assert.deepEqual(res, { error: 'color must be "#rrggbb"' });
  });

  await t.test('a long stroke goes on as several', async () => {
    // A stroke holds maxPoints points (2000): make it 5 to get there.
    await alice.evaluate(() => { maxPoints = 5; });
    const before = await bob.evaluate(() => strokes.size);
    await click(alice, '#palette [data-color="#2f9e44"]');
    await drag(alice, [0.1, 0.9], [0.9, 0.9]); // about 25 points
    const line = Array.from({ length: 41 }, (_, i) => [0.1 + i * 0.02, 0.9]);
    await waitForPixel(bob, '#picture', line, null, 'any'); // no gap
    assert.ok(await bob.evaluate(() => strokes.size) >= before + 5, 'five strokes at least');
    await waitForPixel(alice, '#ink', 0.5, 0.9, 'blank');
    await alice.evaluate(() => { maxPoints = 2000; });
  });

  await t.test('Clear clears every page', async () => {
    await click(bob, '#clear');
    for (const page of [alice, bob, carol]) {
      await waitForPixel(page, '#picture', mx, my, 'blank');
      await waitForPixel(page, '#picture', 0.6, 0.4, 'blank');
    }
    await shot(alice, '4-cleared');
  });

  await t.test('no console errors', (t) => problems.assertNone(t));
});
