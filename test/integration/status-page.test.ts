import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { BinProcess, REPO_ROOT } from '../helpers/child.js';
import { lifo } from '../helpers/teardown.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/** Debian's Chromium; CHROMIUM_PATH points elsewhere (or nowhere, to see the skip). */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const OUTPUT = join(REPO_ROOT, 'test', 'output');
/** Set by the page once its first /api/status answer is on screen. */
const RENDERED = "performance.getEntriesByName('status-rendered').length > 0";

const skip = existsSync(CHROMIUM)
  ? false
  : `browser test skipped: no Chromium at ${CHROMIUM} (apt-get install chromium; .ci/run installs it when it can)`;

/** The demo as a user starts it; its page URL is parsed from what it prints. */
async function startDemo(host: { after(fn: () => unknown): unknown }): Promise<{ demo: BinProcess; url: string }> {
  const dir = await tempDir(host, 'status-page-');
  const demo = new BinProcess('edge-agent', ['demo', '--duration', '90', '--dir', dir]).cleanupWith(host);
  const pageLine = /^ {2}page: +(http:\/\/127\.0\.0\.1:\d+)\//m;
  await demo.waitForOutput('the demo to print its page URL', (p) => pageLine.test(p.stdout), 30_000);
  return { demo, url: pageLine.exec(demo.stdout)![1]! };
}

/**
 * Waits until `expression` holds in the page. Browser code goes as text (the tests compile
 * without DOM types), polled from here: waitForFunction would compile it inside the page,
 * which the page's own Content-Security-Policy forbids, as it should.
 */
async function until(page: Page, what: string, expression: string, timeoutMs = 5000): Promise<void> {
  await waitFor(what, async () => (await page.evaluate(expression)) === true, timeoutMs, 50);
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(OUTPUT, name), fullPage: true });
}

/** The seq of a defect prediction that has its explanation stored, asked of the JSON API. */
async function explainedReject(url: string): Promise<number> {
  let found: number | undefined;
  await waitFor('a reject with its explanation', async () => {
    const list = (await (await fetch(`${url}/api/predictions?label=defect&limit=50`)).json()) as { predictions: Array<{ seq: number }> };
    for (const p of list.predictions) {
      const detail = (await (await fetch(`${url}/api/predictions/${p.seq}`)).json()) as { explanation: unknown };
      if (detail.explanation) {
        found = p.seq;
        return true;
      }
    }
    return false;
  }, 30_000, 250);
  return found!;
}

async function number(page: Page, selector: string): Promise<number> {
  return Number((await page.locator(selector).textContent())?.replace(/[^\d.]/g, '') ?? NaN);
}

test('the status page in a real browser: live overview, prediction detail, events, refused action', { skip, timeout: 90_000 }, async (t) => {
  const host = lifo(t);
  mkdirSync(OUTPUT, { recursive: true });
  const { demo, url } = await startDemo(host);
  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  host.after(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const outside: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(url)) outside.push(r.url());
  });
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));

  // First render: the page and its first live figures within a second.
  await page.goto(`${url}/`, { waitUntil: 'domcontentloaded' });
  await until(page, 'the first live figures', RENDERED);
  const timing = (await page.evaluate(`({
    domContentLoaded: performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd,
    firstData: performance.getEntriesByName('status-rendered')[0].startTime,
  })`)) as { domContentLoaded: number; firstData: number };
  console.log(`# first render: DOMContentLoaded ${timing.domContentLoaded.toFixed(0)} ms, live figures ${timing.firstData.toFixed(0)} ms`);
  assert.ok(timing.domContentLoaded < 1000, `DOMContentLoaded after ${timing.domContentLoaded} ms`);
  assert.ok(timing.firstData < 1000, `first live figures after ${timing.firstData} ms`);

  // Overview: a verdict with its reason, and figures that move without reloading.
  const verdict = (await page.locator('#verdict-state').textContent())?.trim();
  assert.ok(['healthy', 'degraded', 'starting'].includes(verdict ?? ''), `verdict ${verdict}`);
  assert.ok(((await page.locator('#verdict-reason').textContent()) ?? '').length > 10, 'the verdict says why');
  assert.equal(await page.locator('#device').textContent(), 'demo-gw01');
  assert.equal((await page.locator('#sources tbody tr').first().locator('.badge').textContent())?.trim(), 'live', 'the camera is live, in words');
  assert.equal(await page.locator('#drift').textContent(), 'drift not configured');
  assert.equal(await page.locator('#alarms').textContent(), 'no active alarms');
  assert.match((await page.locator('#explain-counters').textContent()) ?? '', /^[\d,]+ · [\d,]+ · [\d,]+ · [\d,]+$/, 'explanation counters');
  assert.match((await page.locator('#models tbody').textContent()) ?? '', /defect.*1\.0\.0.*not managed/);
  const before = await number(page, '#predictions-total');
  await until(page, 'the predictions count to grow', `Number(document.getElementById('predictions-total').textContent.replace(/\\D/g, '')) > ${before}`, 6000);
  const after = await number(page, '#predictions-total');
  assert.ok(after > before, `predictions went from ${before} to ${after} without a reload`);
  assert.ok((await number(page, '#throughput')) > 0, 'a throughput');
  await shot(page, 'status-overview.png');

  // An action without the token is refused, and the page says so.
  await page.getByRole('button', { name: 'Roll back model' }).click();
  await page.locator('#action-result.refused').waitFor({ timeout: 5000 });
  assert.equal(await page.locator('#action-result').textContent(), 'rollback refused (403): actions are disabled: no token configured');
  await page.locator('#action-result').scrollIntoViewIfNeeded();
  await shot(page, 'status-action-refused.png');

  // Predictions: the list, and one prediction's detail with its top scores.
  await page.click('#nav-predictions');
  await page.locator('#prediction-list tbody tr').first().waitFor({ timeout: 5000 });
  // The demo's bearing model predicts beside the camera: filter by class to the camera's "ok" parts.
  await page.fill('#filter-label', 'ok');
  await until(page, 'the list to hold only "ok" predictions',
    "[...document.querySelectorAll('#prediction-list tbody tr')].length > 0 && [...document.querySelectorAll('#prediction-list tbody tr')].every((r) => r.cells[4].textContent === 'ok')");
  await shot(page, 'status-predictions.png');
  await page.locator('#prediction-list tbody tr').first().click();
  await page.waitForURL(/#prediction\/\d+$/);
  await page.locator('#detail-topk tbody tr').first().waitFor({ timeout: 5000 });
  assert.equal(await page.locator('#detail-topk tbody tr').count(), 2, 'ok and defect');
  assert.match((await page.locator('#detail-topk tbody').textContent()) ?? '', /ok.*\d\.\d{3}|defect.*\d\.\d{3}/);
  const firstExplanation = (await page.locator('#detail-explanation').textContent()) ?? '';
  assert.ok(firstExplanation === 'no explanation' || /lowered/.test(firstExplanation), `explanation box: ${firstExplanation}`);
  assert.equal(await page.locator('#detail-thumbnail').textContent(), 'no thumbnail stored');
  assert.match((await page.locator('#detail-title').textContent()) ?? '', /^Prediction #\d+: (ok|defect)$/);
  await shot(page, 'status-prediction-detail.png');

  // A reject with its occlusion map: the overlay the gateway stored, and what it means.
  const seq = await explainedReject(url);
  await page.evaluate(`location.hash = '#prediction/${seq}'`);
  await page.locator('#detail-explanation img.heatmap-overlay').waitFor({ timeout: 5000 });
  await until(page, 'the overlay to load', "document.querySelector('#detail-explanation img.heatmap-overlay').naturalWidth > 0");
  assert.match((await page.locator('#detail-explanation .caption').textContent()) ?? '', /lowered "defect"/);
  await page.locator('#detail-explanation').scrollIntoViewIfNeeded();
  await shot(page, 'status-prediction-heatmap.png');

  // Events: the audit trail, newest first, and the kind filter.
  await page.click('#nav-events');
  await page.locator('#event-list tbody tr').first().waitFor({ timeout: 5000 });
  await page.locator('#filter-kind option[value="agent_started"]').waitFor({ state: 'attached', timeout: 5000 });
  await page.selectOption('#filter-kind', 'agent_started');
  await until(page, 'only agent_started events', `[...document.querySelectorAll('#event-list tbody tr td:nth-child(3)')].every((td) => td.textContent === 'agent_started')`);
  assert.ok((await page.locator('#event-list tbody tr').count()) >= 1);
  await shot(page, 'status-events.png');

  // A phone: readable without sideways scrolling of the page itself.
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  const small = await phone.newPage();
  await small.goto(`${url}/`);
  await until(small, 'the phone page to render', RENDERED);
  const overflow = (await small.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth')) as number;
  assert.ok(overflow <= 1, `the page is ${overflow} px wider than the phone`);
  await small.screenshot({ path: join(OUTPUT, 'status-phone.png'), fullPage: true });
  await phone.close();

  assert.deepEqual(outside, [], 'nothing is fetched from outside the gateway');
  assert.deepEqual(pageErrors, [], 'no script errors');
  assert.equal(await demo.stop('SIGTERM', 20_000), 0, `the demo ends cleanly\n${demo.tail()}`);
});
