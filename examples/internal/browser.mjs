// What the examples' browser tests (examples/*/browser.test.mjs) share:
// launching Chromium, opening pages that report their errors, screenshots.
// Import it with a relative path ('../internal/browser.mjs'). It does not
// import playwright-core: node would look for it next to this file, where
// no node_modules is; each test passes in its own chromium.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

// launchChromium launches headless Chromium (CHROMIUM, default
// /usr/bin/chromium) with playwright-core's chromium, and closes it after
// the test t.
export async function launchChromium(chromium, t) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  t.after(() => browser.close());
  return browser;
}

// artifactsDir is where the example's screenshots go by default:
// <repo>/test-artifacts/<example>.
export const artifactsDir = (example) => path.resolve(here, '../../test-artifacts', example);

// screenshots creates dir and returns shot(page, name), which saves a
// screenshot of page as dir/name.png.
export function screenshots(dir) {
  mkdirSync(dir, { recursive: true });
  return (page, name) => page.screenshot({ path: path.join(dir, `${name}.png`) });
}

// Problems collects every watched page's console errors, uncaught
// exceptions and Socket.IO requests answered 400 or more, for assertNone
// to assert there are none at the end, but for one the official client
// causes with any server: when the server refuses a connection over
// long-polling, the client closes the session while its next GET is in
// flight; a GET that arrives after the close gets 400 "Session ID unknown"
// (the Node.js server answers so too). Those sessions are known by the
// connect_error ("44") they carried.
export class Problems {
  #list = []; // {text, url?}
  #refused = new Set(); // Engine.IO session ids
  #allowed = []; // {why, test(problem)}

  // allow makes assertNone ignore the problems test(problem) accepts
  // (problem is {text, url?}), counted under why in a diagnostic: a test
  // that makes the map's tiles fail expects their failed requests.
  allow(why, test) {
    this.#allowed.push({ why, test });
  }

  // watch records page's problems, each with label (a person's name).
  watch(page, label) {
    page.on('console', (m) => {
      if (m.type() === 'error') this.#list.push({ text: `${label} console: ${m.text()}`, url: m.location().url });
    });
    page.on('pageerror', (e) => this.#list.push({ text: `${label} pageerror: ${e.message}` }));
    page.on('response', async (r) => {
      if (!r.url().includes('/socket.io/')) return;
      if (r.status() >= 400) this.#list.push({ text: `${label} ${r.request().method()} ${r.url()}: ${r.status()}`, url: r.url() });
      else if (r.request().method() === 'GET' && (await r.text().catch(() => '')).match(/(^|\x1e)44\{/)) this.#refused.add(sid(r.url()));
    });
  }

  // assertNone asserts that no problem but the late GETs of refused
  // sessions was recorded; t is the test, for a diagnostic.
  assertNone(t) {
    const late = (p) => p.url?.includes('/socket.io/?') && this.#refused.has(sid(p.url));
    t.diagnostic(`${this.#list.filter(late).length} late polling GETs of refused sessions ignored`);
    for (const a of this.#allowed) t.diagnostic(`${this.#list.filter(a.test).length} ${a.why} ignored`);
    const allowed = (p) => this.#allowed.some((a) => a.test(p));
    assert.deepEqual(this.#list.filter((p) => !late(p) && !allowed(p)).map((p) => p.text), []);
  }
}

const sid = (u) => new URL(u).searchParams.get('sid');

// openPage opens url in a new page of the browser context, with a 10s
// default timeout and its problems watched under label.
export async function openPage(context, problems, label, url) {
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  problems.watch(page, label);
  await page.goto(url);
  return page;
}
