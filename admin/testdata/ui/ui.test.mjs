// The real Socket.IO Admin UI (@socket.io/admin-ui's ui/dist), in headless
// Chromium, against a vicinity server instrumented by package admin: run
// by ui_test.go, which serves both and passes their addresses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ui = process.env.ADMIN_UI; // the page
const server = process.env.ADMIN_SERVER; // the server's URL: the UI adds the namespace
const sockets = (process.env.ADMIN_SOCKETS || '').split(',');
const room = process.env.ADMIN_ROOM;
const shots = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test-artifacts/admin');

test('the Admin UI lists the sockets and rooms of a vicinity server', async (t) => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  // the page asks for web fonts and icons from CDNs, which this machine cannot reach
  await page.route(/fonts\.googleapis|cdn\.jsdelivr/, (r) => r.abort());
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  mkdirSync(shots, { recursive: true });

  await page.goto(ui);
  await page.getByLabel('Server URL').fill(server);
  await page.getByRole('button', { name: 'Connect' }).click();
  await page.getByLabel('Server URL').waitFor({ state: 'hidden' }).catch(async (e) => {
    await page.screenshot({ path: path.join(shots, 'connect-failed.png') });
    throw e;
  });

  await page.goto(ui + '#/sockets/');
  for (const id of sockets) {
    await page.getByText(id, { exact: true }).first().waitFor();
  }
  await page.screenshot({ path: path.join(shots, 'sockets.png') });

  await page.goto(ui + '#/rooms/');
  await page.getByText(room, { exact: true }).first().waitFor();
  await page.screenshot({ path: path.join(shots, 'rooms.png') });

  // the dashboard, from the server_stats every 2 s: the namespaces and
  // their sockets (the two clients on "/", the UI on "/admin")
  await page.goto(ui + '#/');
  await page.getByRole('cell', { name: '/admin', exact: true }).waitFor();
  const row = page.getByRole('row').filter({ has: page.getByRole('cell', { name: '/', exact: true }) });
  await row.getByRole('cell', { name: String(sockets.length), exact: true }).waitFor();
  await page.screenshot({ path: path.join(shots, 'dashboard.png') });
  assert.deepEqual(errors, [], 'no uncaught errors in the page');
});
