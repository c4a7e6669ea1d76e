// Drives the web console in headless Chromium (playwright-core, no bundled browser):
// loads every page, waits for real content (selectors, never fixed sleeps), invokes
// functions through the generated forms, watches the live invocation-finished
// event arrive, travels back in a worker's history, presses crash, and saves a
// screenshot of each page. Any JS error in the page fails it.
//
// Run by router/tests/all/console.rs:
//   node console.mjs <router base URL> <screenshot dir>
// with PLAYWRIGHT_CORE (the installed playwright-core package directory) and
// CHROMIUM (the browser binary, default /usr/bin/chromium) in the environment.

import { createRequire } from 'node:module';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, shots] = process.argv.slice(2);
if (!base || !shots) throw new Error('usage: node console.mjs <base url> <screenshot dir>');
const require = createRequire(join(process.env.PLAYWRIGHT_CORE ?? '.', 'package.json'));
const { chromium } = require('playwright-core');

// Only this run's screenshots (and a failure.png only when it failed).
rmSync(shots, { recursive: true, force: true });
mkdirSync(shots, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), 'rvn-console-chromium-'));
// A fresh profile (playwright passes it as --user-data-dir); without the
// background-networking flags a closed network refuses Chromium's connections.
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1400, height: 1000 },
});
const errors = [];
const WAIT = { timeout: 30_000 };

function step(name) { console.log(`console test: ${name}`); }

const page = browser.pages()[0] ?? await browser.newPage();
try {
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    // Chromium logs every non-2xx fetch as "Failed to load resource"; the pages show
    // API errors themselves (asserted below), so only script errors count.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(`console error: ${m.text()}`);
  });
  const text = (sel) => page.locator(sel).first().innerText();
  const shoot = async (name) => {
    await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
    step(`screenshot ${name}.png`);
  };
  // Pages are hash routes: after the first load, going to one is a hash change.
  const visit = async (hash) => {
    await page.evaluate((h) => { location.hash = h; }, hash);
    await page.waitForFunction((h) => location.hash === h && document.getElementById('view').dataset.page, hash, WAIT);
  };
  const noBanner = async () => {
    if (await page.locator('#banner').isVisible()) throw new Error(`error banner: ${await text('#banner')}`);
  };

  step('overview');
  await page.goto(`${base}/#/overview`);
  await page.locator('#stat-executors .value', { hasText: '1' }).waitFor(WAIT);
  await page.locator('.executor .shards span').first().waitFor(WAIT);
  await page.locator('#by-status .card').first().waitFor(WAIT);
  // The rate needs two readings.
  await page.waitForFunction(() => /\d/.test(document.querySelector('#stat-rate .value')?.textContent ?? ''), null, WAIT);
  const invocationsSeen = Number(await text('#stat-invocations .value'));
  if (!(invocationsSeen >= 3)) throw new Error(`overview counts ${invocationsSeen} invocations, expected the seeded ones`);
  await noBanner();
  await shoot('overview');

  step('workers');
  await visit('#/workers');
  await page.locator('#list a', { hasText: 'counter/tt' }).waitFor(WAIT);
  await page.locator('#list a', { hasText: 'shopping-cart/alice' }).waitFor(WAIT);
  await page.selectOption('#f-component', 'counter');
  // The filtered list: counter workers only.
  await page.waitForFunction(() => {
    const names = [...document.querySelectorAll('#list a')].map((a) => a.textContent);
    return location.hash.includes('component=counter') && names.includes('counter/tt')
      && !names.some((n) => n.startsWith('shopping-cart/'));
  }, null, WAIT);
  await page.fill('#f-search', 'zzz-no-such-worker');
  await page.locator('#list', { hasText: 'No worker matches.' }).waitFor(WAIT);
  await page.fill('#f-search', 'tt');
  await page.locator('#list a', { hasText: 'counter/tt' }).waitFor(WAIT);
  await noBanner();
  await shoot('workers');

  step('worker page: invoke through the generated form, live event');
  await visit('#/worker/counter/tt');
  await page.locator('#status-text').waitFor(WAIT);
  await page.locator('tr.oplog-entry').first().waitFor(WAIT);
  await page.waitForFunction(() => document.querySelector('#events')?.dataset.open === 'true', null, WAIT);
  const add = await page.locator('#inv-fn option', { hasText: /\{add\}$/ }).getAttribute('value');
  await page.selectOption('#inv-fn', add);
  await page.locator('.form-row.param[data-param="value"] input[data-kind="integer"]').fill('4');
  await page.click('#inv-go');
  await page.locator('#invoke-result', { hasText: '10' }).waitFor(WAIT);
  await page.locator('#events .event.invocation-finished').first().waitFor(WAIT);

  step('worker page: oplog entry details and time travel');
  await page.locator('tr.oplog-entry', { hasText: 'invocation-completed' }).nth(1).click();
  await page.locator('#entry-json', { hasText: 'invocation-completed' }).waitFor(WAIT);
  await page.locator('tr.oplog-entry', { hasText: 'invocation-completed' }).nth(1).locator('button.as-of').click();
  await page.locator('#time-travel-result .as-of-result', { hasText: '→ 3' }).waitFor(WAIT);
  const travelled = await page.locator('#time-travel-result tr.inspected').count();
  if (travelled !== 2) throw new Error(`time travel to the second completion lists ${travelled} invocations, expected 2`);
  const replayed = await page.locator('#time-travel-result td.replayed', { hasText: 'replayed' }).count();
  if (replayed !== 2) throw new Error(`${replayed} invocations replayed as recorded, expected 2`);

  await noBanner();
  await shoot('worker');

  step('worker page: crash button');
  await page.click('#btn-crash');
  await page.locator('#action-ok, #action-error').first().waitFor(WAIT);
  const crashed = await text('#action-result');
  step(`crash answered: ${crashed}`);
  if (!/recovered by replay in [0-9.]+ ms/.test(crashed)) throw new Error(`the crash button answered ${crashed}`);
  await noBanner();
  await shoot('worker-crash');

  step('worker page: a failed worker, its failing invocation and retry history, time travel');
  await visit('#/worker/faults/f1');
  await page.locator('#failed-error', { hasText: 'giving up' }).waitFor(WAIT);
  await page.locator('#failed-state code', { hasText: '{trap}(["boom"])' }).waitFor(WAIT);
  const retries = await page.locator('#failed-state tbody tr').count();
  if (retries !== 3) throw new Error(`the retry history has ${retries} attempts, expected 3`);
  const lastIndex = await page.locator('tr.oplog-entry').last().getAttribute('data-index');
  await page.fill('#tt-at', lastIndex);
  await page.click('#tt-go');
  await page.locator('#time-travel-result .error-box', { hasText: 'failed by then' }).waitFor(WAIT);
  await page.locator('#time-travel-result td', { hasText: /^failed$/ }).waitFor(WAIT);
  await noBanner();
  await shoot('worker-failed');

  step('worker page: a record parameter');
  await visit('#/worker/shopping-cart/alice');
  const addItem = await page.locator('#inv-fn option', { hasText: /\{add-item\}$/ }).getAttribute('value');
  await page.selectOption('#inv-fn', addItem);
  const field = (name) => page.locator(`.form-row[data-field="${name}"] [data-kind]`).first();
  await field('product-id').fill('p2');
  await field('name').fill('Lamp');
  await field('price').fill('12.5');
  await field('quantity').fill('3');
  await page.click('#inv-go');
  await page.locator('#invoke-result', { hasText: 'null' }).waitFor(WAIT);
  const getCart = await page.locator('#inv-fn option', { hasText: /\{get-cart\}$/ }).getAttribute('value');
  await page.selectOption('#inv-fn', getCart);
  await page.click('#inv-go');
  await page.locator('#invoke-result', { hasText: 'Lamp' }).waitFor(WAIT);
  await noBanner();

  step('components');
  await visit('#/components');
  await page.locator('.component .sig', { hasText: '{add}: func(value: u64) -> u64' }).waitFor(WAIT);
  await page.locator('.component .sig', { hasText: '{add-item}: func(item: product-item)' }).waitFor(WAIT);
  await noBanner();
  await shoot('components');

  step('schedules');
  await visit('#/schedules');
  await page.locator('table td .mono', { hasText: 'c-console-hourly' }).waitFor(WAIT);
  await noBanner();
  await shoot('schedules');

  step('promises');
  await visit('#/promises');
  await page.locator('table td .mono', { hasText: 'counter/tt/1' }).waitFor(WAIT);
  await noBanner();
  await shoot('promises');

  step('subscriptions');
  await visit('#/subscriptions');
  await page.locator('table td b', { hasText: 'console-nums' }).waitFor(WAIT);
  await page.locator('table th', { hasText: 'oldest age' }).waitFor(WAIT);
  await noBanner();
  await shoot('subscriptions');
} catch (e) {
  // What the page showed when it failed, to see why.
  await page.screenshot({ path: join(shots, 'failure.png'), fullPage: true }).catch(() => {});
  console.error(`page ${page.url()} showed:\n${await page.locator('body').innerText().catch(() => '?')}`);
  console.error(errors.join('\n'));
  throw e;
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}

if (errors.length) {
  console.error(errors.join('\n'));
  process.exit(1);
}
console.log('console test: ok');
