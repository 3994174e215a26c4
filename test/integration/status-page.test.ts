import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, noBrowser as skip, OUTPUT, RENDERED, shot, until } from '../helpers/browser.js';
import { BinProcess } from '../helpers/child.js';
import { lifo } from '../helpers/teardown.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/** The demo as a user starts it; its page URL is parsed from what it prints. */
async function startDemo(host: { after(fn: () => unknown): unknown }): Promise<{ demo: BinProcess; url: string }> {
  const dir = await tempDir(host, 'status-page-');
  const demo = new BinProcess('edge-agent', ['demo', '--duration', '180', '--dir', dir]).cleanupWith(host);
  const pageLine = /^ {2}page: +(http:\/\/127\.0\.0\.1:\d+)\//m;
  await demo.waitForOutput('the demo to print its page URL', (p) => pageLine.test(p.stdout), 30_000);
  return { demo, url: pageLine.exec(demo.stdout)![1]! };
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

test('the status page in a real browser: live overview, prediction detail, events, refused action', { skip, timeout: 150_000 }, async (t) => {
  const host = lifo(t);
  const { demo, url } = await startDemo(host);
  const browser: Browser = await launchBrowser(host);
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
  assert.equal(await page.locator('#drift-gauges-box').isHidden(), true, 'no gauges without a watched model');
  assert.equal(await page.locator('#alarms').textContent(), 'no active alarms');
  assert.match((await page.locator('#explain-counters').textContent()) ?? '', /^[\d,]+ · [\d,]+ · [\d,]+ · [\d,]+$/, 'explanation counters');
  assert.match((await page.locator('#models tbody').textContent()) ?? '', /defect.*1\.0\.0.*not managed/);
  const before = await number(page, '#predictions-total');
  await until(page, 'the predictions count to grow', `Number(document.getElementById('predictions-total').textContent.replace(/\\D/g, '')) > ${before}`, 6000);
  const after = await number(page, '#predictions-total');
  assert.ok(after > before, `predictions went from ${before} to ${after} without a reload`);
  assert.ok((await number(page, '#throughput')) > 0, 'a throughput');

  // Sources: the simulated plant's OPC-UA server connected, and each tag's quality in words beside its colour.
  await until(page, 'the OPC-UA server to show as connected', "document.querySelector('#opcua-servers tbody tr .badge')?.textContent === 'connected'", 20_000);
  assert.match((await page.locator('#opcua-servers tbody tr td').first().textContent()) ?? '', /^pump1opc\.tcp:\/\/127\.0\.0\.1:\d+$/);
  assert.match((await page.locator('#opcua-servers tbody tr td').nth(2).textContent()) ?? '', /^SignAndEncrypt /);
  await until(page, 'a quality label on every tag',
    "(() => { const q = [...document.querySelectorAll('#opcua-tags tbody tr td:nth-child(3) .badge')].map((b) => b.textContent); return q.length === 4 && q.every((w) => ['good', 'uncertain', 'bad'].includes(w)) && q.includes('good'); })()", 10_000);
  assert.deepEqual((await page.locator('#opcua-tags tbody tr td:first-child').allTextContents()).sort(), ['MotorCurrent', 'Pressure', 'Temperature', 'Vibration']);
  assert.equal(await page.locator('#opcua-none').isHidden(), true);

  // Charts of the last hour, each with its current value written beside it.
  await until(page, 'the throughput chart', "document.querySelector('#chart-throughput svg') !== null", 10_000);
  const firstPoints = Number(await page.locator('#chart-throughput svg').getAttribute('data-points'));
  assert.ok(firstPoints >= 1, `${firstPoints} points`);
  assert.match((await page.locator('#chart-throughput svg').getAttribute('aria-label')) ?? '', /^predictions per second over the last \d+ (s|min), \d+ points$/);
  assert.match((await page.locator('#chart-throughput .chart-now').textContent()) ?? '', /^\d+\.\d \/s$/);
  assert.match((await page.locator('#chart-latency .chart-now').textContent()) ?? '', /^[\d.]+ ms \/ [\d.]+ ms$/);
  assert.match((await page.locator('#chart-outbox .chart-now').textContent()) ?? '', /^[\d,]+$/);
  assert.equal(await page.locator('#drift-charts .chart').count(), 0, 'no drift chart without a watched model');
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

  // Back on the overview, the charts have moved on without a reload: a sample every 10 s.
  await page.click('#nav-overview');
  await until(page, 'a new point on the throughput chart', `Number(document.querySelector('#chart-throughput svg')?.getAttribute('data-points')) > ${firstPoints}`, 30_000);
  const line = (await page.locator('#chart-throughput svg polyline').first().getAttribute('points')) ?? '';
  assert.ok(line.split(' ').length > firstPoints, `a line through the points: ${line}`);
  await page.locator('#charts').scrollIntoViewIfNeeded();
  await shot(page, 'status-charts.png');

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
