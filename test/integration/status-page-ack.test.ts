import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { Agent } from '../../agent/agent.js';
import { ConfigSchema } from '../../agent/config/schema.js';
import { defectModelEntry, writeDefectModel } from '../../agent/demo/defect-model.js';
import type { StatusSnapshot } from '../../agent/status/snapshot.js';
import { launchBrowser, noBrowser as skip, RENDERED, shot, until } from '../helpers/browser.js';
import { startBroker } from '../helpers/broker.js';
import { silentLog } from '../helpers/rollout-rig.js';
import { lifo } from '../helpers/teardown.js';
import { dimReferenceProfile } from '../helpers/dim-reference.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/*
 * An agent with an action token whose camera has twice the light of its reference: a drift
 * alarm the page charts and lists with an acknowledge button. Without the token the page
 * shows the refusal; with it the alarm leaves the active list and stays listed as seen.
 */

const TOKEN = 'page-ack-token-0123456789';
const ALARM = '#alarms li[data-id="drift:defect"]';
const CHART = '#drift-charts .drift-chart[data-model="defect"]';

test('the status page acknowledges a drift alarm with the token, refuses without it, and charts the drift', { skip, timeout: 90_000 }, async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host, 'status-page-ack-');
  const broker = await startBroker();
  host.after(() => broker.stop());
  const entry = defectModelEntry(await writeDefectModel(join(dir, 'models')));

  // The reference was taken under half the light this camera has now.
  const profileFile = await dimReferenceProfile(entry, dir, 40);

  const config = ConfigSchema.parse({
    deviceId: 'gw-page-ack',
    site: 'plant-f',
    sources: [{ id: 'cam1', type: 'synthetic', fps: 40, width: 320, height: 240, defectRate: 0.2 }],
    models: [{ ...entry, drift: { referenceFile: profileFile, window: { count: 20 }, minSamples: 20, capture: { belowConfidence: 0, duringAlarm: true, perWindow: 1 } } }],
    buffer: { path: join(dir, 'agent.db') },
    broker: { url: broker.url, protocolVersion: broker.protocolVersion },
    status: { host: '127.0.0.1', port: 0, token: TOKEN },
    shutdown: { deadlineMs: 3000 },
  });
  const agent = await Agent.create({ config, baseDir: dir, log: silentLog });
  host.after(() => agent.stop());
  await agent.start();
  const url = agent.status!.url!;
  const status = async () => (await (await fetch(`${url}/api/status`)).json()) as StatusSnapshot;
  await waitFor('a drift alarm', async () => (await status()).alarms.some((a) => a.id === 'drift:defect' && !a.acknowledged), 30_000, 100);

  const browser = await launchBrowser(host);
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await page.goto(`${url}/`, { waitUntil: 'domcontentloaded' });
  await until(page, 'the first live figures', RENDERED);

  // The alarm is active, in words, with its button; the verdict follows it.
  await page.locator(`${ALARM} button.ack`).waitFor({ timeout: 5000 });
  assert.match((await page.locator(ALARM).textContent()) ?? '', /^critical drift on defect: .*psi [\d.]+.* since .*Acknowledge$/);
  assert.equal((await page.locator('#verdict-state').textContent())?.trim(), 'alarm');
  assert.equal(await page.locator('#actions-note').textContent(), 'Actions need the token configured on the gateway.');

  // The drift chart: the largest PSI per window, the alarm level beside it in words, marks on alarm windows.
  await page.locator(`${CHART} svg`).waitFor({ timeout: 10_000 });
  assert.match((await page.locator('#drift').textContent()) ?? '', /^defect: alarm, \d+ windows judged$/);
  await until(page, 'the chart to name the alarm', `document.querySelector('${CHART} .chart-level .badge')?.textContent === 'alarm'`);
  assert.match((await page.locator(`${CHART} .chart-now`).textContent()) ?? '', /^PSI \d+\.\d{3} \([\w.]+\)$/);
  assert.ok((await page.locator(`${CHART} svg rect.mark.alarm`).count()) >= 1, 'alarm windows are marked');
  assert.equal(await page.locator(`${CHART} svg line.level.alarm`).count(), 1, 'the alarm level is drawn');
  assert.match((await page.locator(`${CHART} svg`).getAttribute('aria-label')) ?? '', /^defect drift, largest PSI of \d+ windows over the last \d+ s; warn at 0\.1, alarm at 0\.25$/);
  const firstPoints = Number(await page.locator(`${CHART} svg`).getAttribute('data-points'));
  await page.locator('#drift-gauges-box summary').click();
  await until(page, 'the PSI of each statistic', "[...document.querySelectorAll('#drift-gauges li')].some((li) => /^defect image\\.brightness: \\d+\\.\\d{3} over alarm level$/.test(li.textContent))");

  // Without the token: refused, the refusal shown, the alarm still active.
  await page.locator(`${ALARM} button.ack`).click();
  await page.locator('#alarm-result.refused').waitFor({ timeout: 5000 });
  assert.equal(await page.locator('#alarm-result').textContent(), 'acknowledge drift:defect refused (401): a valid "Authorization: Bearer <token>" header is required');
  assert.equal((await status()).alarms.find((a) => a.id === 'drift:defect')?.acknowledged, false);
  await shot(page, 'status-ack-refused.png');

  // A wrong token is refused the same way.
  await page.fill('#token', `${TOKEN}x`);
  await page.locator(`${ALARM} button.ack`).click();
  await until(page, 'the wrong token refused', "document.getElementById('alarm-result').textContent.startsWith('acknowledge drift:defect refused (401)')");

  // With the token: acknowledged, gone from the active list, listed as seen; the verdict no longer says alarm.
  await page.fill('#token', TOKEN);
  await page.locator(`${ALARM} button.ack`).click();
  await page.locator('#alarm-result.done').waitFor({ timeout: 5000 });
  assert.equal(await page.locator('#alarm-result').textContent(), 'drift:defect: acknowledged');
  await until(page, 'the alarm to leave the active list', `document.querySelector('${ALARM}') === null && document.getElementById('alarms').textContent === 'no active alarms'`);
  await until(page, 'the alarm listed as acknowledged', `document.querySelector('#alarms-acked li[data-id="drift:defect"] .badge')?.textContent === 'acknowledged'`);
  await until(page, 'the verdict to drop the alarm', "document.getElementById('verdict-state').textContent !== 'alarm'");
  assert.equal((await status()).alarms.find((a) => a.id === 'drift:defect')?.acknowledged, true);
  assert.equal(agent.store.events.list({ kind: 'alarm_acknowledged', limit: 5 }).length, 1);

  // The predictions judged during the alarm: filtered, each flagged in words.
  const during = (await (await fetch(`${url}/api/predictions?alarm=true&limit=20`)).json()) as { predictions: Array<{ seq: number; flags: string[] }> };
  assert.ok(during.predictions.length > 0 && during.predictions.every((p) => p.flags.includes('drift_alarm')), JSON.stringify(during.predictions.slice(0, 3)));
  await page.click('#nav-predictions');
  await page.check('#filter-alarm');
  await until(page, 'only predictions judged during the alarm',
    "(() => { const rows = [...document.querySelectorAll('#prediction-list tbody tr')]; return rows.length > 0 && rows.every((r) => [...r.cells[6].querySelectorAll('.badge')].some((b) => b.textContent === 'drift alarm')); })()", 10_000);
  await shot(page, 'status-ack-predictions.png');

  // A prediction whose input was captured during the alarm: its thumbnail, and the window that judged it.
  const captured = agent.store.database.prepare('SELECT seq FROM samples WHERE seq IS NOT NULL ORDER BY id LIMIT 1').get() as { seq: number } | undefined;
  assert.ok(captured, 'inputs are captured during the alarm');
  await page.evaluate(`location.hash = '#prediction/${captured.seq}'`);
  await page.locator('#detail-thumbnail img.thumbnail').waitFor({ timeout: 5000 });
  await until(page, 'the thumbnail to load', "document.querySelector('#detail-thumbnail img.thumbnail').naturalWidth === 320");
  assert.match((await page.locator('#detail-thumbnail .caption').textContent()) ?? '', /^kept for retraining \(drift-alarm\), [\d.]+ KB$/);
  await until(page, 'the drift context', "document.querySelector('#detail-drift .badge')?.textContent === 'alarm'");
  assert.match((await page.locator('#detail-drift').textContent()) ?? '', /window .+ – .+, 20 predictionslargest PSI \d+\.\d{3} \([\w.]+\)/);
  assert.ok((await page.locator('#detail-drift .findings li').count()) >= 1, 'what moved is listed');
  await shot(page, 'status-ack-detail.png');

  // The drift chart keeps moving without a reload: windows close twice a second.
  await page.click('#nav-overview');
  await until(page, 'more points on the drift chart', `Number(document.querySelector('${CHART} svg')?.getAttribute('data-points')) > ${firstPoints}`, 20_000);
  await page.locator('#drift-charts').scrollIntoViewIfNeeded();
  await shot(page, 'status-ack-done.png');
  assert.deepEqual(pageErrors, [], 'no script errors');
});
