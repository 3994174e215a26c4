import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { Agent } from '../../agent/agent.js';
import { ConfigSchema } from '../../agent/config/schema.js';
import { defectModelEntry, writeDefectModel } from '../../agent/demo/defect-model.js';
import type { StatusSnapshot } from '../../agent/status/snapshot.js';
import type { PredictionDetail } from '../../agent/status/store-view.js';
import { launchBrowser, noBrowser as skip, RENDERED, shot, until } from '../helpers/browser.js';
import { startBroker } from '../helpers/broker.js';
import { silentLog } from '../helpers/rollout-rig.js';
import { lifo } from '../helpers/teardown.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/*
 * An agent with an action token whose model is trusted only above 0.99: its "ok" answers
 * (0.982) go to a rule step, its "defect" answers (1.0) stay the serving model's. One
 * camera sees only good parts, the other only defective ones: two segments that differ. The page shows each
 * prediction's step with its reason, attaches a label with the token (refused without it),
 * and once labels exist shows live accuracy, the fallback share and the segment audit.
 */

const TOKEN = 'page-label-token-0123456789';
const ROW = '#accuracy tr[data-model="defect"]';
const CHART = '#accuracy-charts .accuracy-chart[data-model="defect"]';

test('the status page shows fail-safe steps, attaches labels with the token only, and shows live accuracy and the segment audit', { skip, timeout: 90_000 }, async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host, 'status-page-label-');
  const broker = await startBroker();
  host.after(() => broker.stop());
  const entry = defectModelEntry(await writeDefectModel(join(dir, 'models')));
  const config = ConfigSchema.parse({
    deviceId: 'gw-page-label',
    site: 'plant-g',
    sources: [
      { id: 'cam1', type: 'synthetic', fps: 8, width: 320, height: 240, defectRate: 0, seed: 3 },
      { id: 'cam2', type: 'synthetic', fps: 8, width: 320, height: 240, defectRate: 1, seed: 4 },
    ],
    models: [{
      ...entry,
      failsafe: { minConfidence: 0.99, rules: [{ label: 'ok', stat: 'brightness', above: 0 }] },
      feedback: { expectedAccuracy: 0.9, window: 50, minLabels: 5, every: 1 },
    }],
    segments: { periodS: 3, minPredictions: 5 },
    buffer: { path: join(dir, 'agent.db') },
    broker: { url: broker.url, protocolVersion: broker.protocolVersion },
    status: { host: '127.0.0.1', port: 0, token: TOKEN },
    shutdown: { deadlineMs: 3000 },
  });
  const agent = await Agent.create({ config, baseDir: dir, log: silentLog });
  host.after(() => agent.stop());
  await agent.start();
  const url = agent.status!.url!;
  const db = agent.store.database;
  const json = async <T>(path: string) => (await (await fetch(`${url}${path}`)).json()) as T;
  const bySteps = () => db.prepare("SELECT seq, step FROM predictions WHERE step IN ('rule', 'model') ORDER BY seq").all() as Array<{ seq: number; step: string }>;
  await waitFor('rule and model predictions', () => {
    const rows = bySteps();
    return rows.filter((r) => r.step === 'rule').length >= 6 && rows.some((r) => r.step === 'model');
  }, 30_000, 100);
  const rules = bySteps().filter((r) => r.step === 'rule').map((r) => r.seq);
  const byModel = bySteps().find((r) => r.step === 'model')!.seq;
  const first = rules[0]!;
  const labelRow = (seq: number) => db.prepare('SELECT label, correct, by FROM labels WHERE seq = ?').get(seq) as { label: string; correct: number; by: string } | undefined;

  const browser = await launchBrowser(host);
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await page.goto(`${url}/#prediction/${first}`, { waitUntil: 'domcontentloaded' });
  await until(page, 'the first live figures', RENDERED);

  // The step that made it, in words, with the reason; the form offers the model's labels.
  await until(page, 'the step of the prediction', "document.querySelector('#detail-step .badge')?.textContent === 'rule'");
  assert.equal(await page.locator('#detail-step').textContent(), 'rule because low-confidence; rule brightness > 0');
  assert.equal(await page.locator('#detail-truth').textContent(), 'no label attached yet');
  assert.deepEqual(await page.locator('#label-choice option').allTextContents(), ['ok', 'defect']);
  assert.equal(await page.locator('#label-choice').inputValue(), 'ok', 'the predicted label is chosen first');
  assert.equal(await page.locator('#label-text-field').isVisible(), false);

  // Without the token: refused, shown like the other actions, nothing stored.
  await page.selectOption('#label-choice', 'defect');
  await page.fill('#label-by', 'anna');
  await page.click('#label-submit');
  await page.locator('#label-result.refused').waitFor({ timeout: 5000 });
  assert.equal(await page.locator('#label-result').textContent(), 'label refused (401): a valid "Authorization: Bearer <token>" header is required');
  assert.equal(labelRow(first), undefined, 'no label stored without the token');
  assert.equal((await json<PredictionDetail>(`/api/predictions/${first}`)).groundTruth, null);
  await shot(page, 'status-label-refused.png');

  // With the token: stored, and the detail shows it.
  await page.fill('#label-token', TOKEN);
  await page.click('#label-submit');
  await page.locator('#label-result.done').waitFor({ timeout: 5000 });
  assert.equal(await page.locator('#label-result').textContent(), `prediction ${first} labelled "defect" (the prediction was wrong)`);
  await until(page, 'the label in the detail', "document.querySelector('#detail-truth .badge')?.textContent === 'prediction wrong'");
  assert.match((await page.locator('#detail-truth').textContent()) ?? '', /^prediction wrong labelled "defect" by anna, /);
  assert.equal(await page.locator('#label-choice').inputValue(), 'defect', 'the attached label is chosen now');
  assert.deepEqual(labelRow(first), { label: 'defect', correct: 0, by: 'anna' });
  const detail = await json<PredictionDetail>(`/api/predictions/${first}`);
  assert.equal(detail.step, 'rule');
  assert.equal(detail.fallbackReason, 'low-confidence; rule brightness > 0');
  assert.deepEqual({ label: detail.groundTruth?.label, correct: detail.groundTruth?.correct, by: detail.groundTruth?.by }, { label: 'defect', correct: false, by: 'anna' });
  assert.deepEqual(detail.labelChoices, ['ok', 'defect']);
  assert.equal(await page.locator('#token').inputValue(), TOKEN, 'one token for every action');
  await shot(page, 'status-label-detail.png');

  // A prediction of the serving model says so.
  await page.evaluate(`location.hash = '#prediction/${byModel}'`);
  await until(page, 'the serving model step', `document.getElementById('detail-title').textContent.startsWith('Prediction #${byModel}:') && document.getElementById('detail-step')?.textContent === 'serving model'`);
  assert.equal(await page.locator('#label-result').textContent(), '', 'the last result belongs to the other prediction');

  // Five more labels, all confirming: 5 right of 6.
  for (const seq of rules.slice(1, 6)) {
    const res = await fetch(`${url}/api/actions/label`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: JSON.stringify({ seq, label: 'ok', by: 'bert' }) });
    assert.equal(res.status, 200, await res.text());
  }
  const accuracy = (await json<StatusSnapshot>('/api/status')).oversight!.accuracy.find((a) => a.model === 'defect')!;
  assert.equal(accuracy.accuracy, 0.8333);
  assert.ok(accuracy.chart.length >= 1, 'judged');
  assert.equal((accuracy as { window?: number }).window, 50);

  // The overview: live accuracy against the expected figure, its level in words, the control chart, the fallback share.
  await page.click('#nav-overview');
  await until(page, 'live accuracy on the overview', `document.querySelector('${ROW} .accuracy-value')?.textContent === '83.3 %'`);
  const cells = await page.locator(`${ROW} td`).allTextContents();
  assert.equal(cells[2], '6 of 50', 'the labels in the window and how many it holds');
  assert.equal(cells[3], '90.0 % (config)');
  assert.equal(cells[4], accuracy.level, 'the level in words, as the JSON has it');
  assert.match(cells[5]!, /^\d+\.\d % of the last 5 min over limit limit 20\.0 %$/);
  assert.match(cells[6]!, /^serving model \d+ · fallback model 0 · rule \d+ · manual inspection 0$/);
  await page.locator(`${CHART} svg`).waitFor({ timeout: 5000 });
  assert.equal(await page.locator(`${CHART} .chart-now`).textContent(), '83.3 % over 6 labels');
  assert.equal(await page.locator(`${CHART} .chart-level .badge`).textContent(), accuracy.chart.at(-1)!.level);
  assert.equal(await page.locator(`${CHART} svg line.level`).count(), 3, 'expected, warn and alarm lines');
  assert.match((await page.locator(`${CHART} svg`).getAttribute('aria-label')) ?? '', /^defect live accuracy, \d+ judgements; expected 90\.0 %, warn below 85\.0 %, alarm below 80\.0 %$/);

  // The segment audit: both cameras, their class mix, and the disparity flagged in words.
  await until(page, 'the segment audit', "document.querySelectorAll('#segments tbody tr').length === 2 && [...document.querySelectorAll('#segments td.disparity .badge')].some((b) => b.textContent === 'differs')", 20_000);
  const seg = (await json<StatusSnapshot>('/api/status')).oversight!.segments!;
  assert.deepEqual(seg.keys, ['camera']);
  const rows = await page.locator('#segments tbody tr').evaluateAll((trs) => trs.map((tr) => (tr as unknown as { cells: ArrayLike<{ textContent: string }> }).cells).map((c) => Array.from(c, (x) => x.textContent)));
  assert.deepEqual(rows.map((r) => r[1]).sort(), ['camera cam1', 'camera cam2']);
  for (const r of rows) {
    assert.match(r[3]!, /^(ok|defect) \d+\.\d %(, (ok|defect) \d+\.\d %)?$/, r.join(' | '));
    assert.match(r[7]!, /^(in line|differs .*\(limit [\d.]+\))$/, r.join(' | '));
  }
  assert.match((await page.locator('#segments-note').textContent()) ?? '', /^period ended .+ \(every 3 s\), segments by camera; \d+ disparit(y|ies)$/);
  await shot(page, 'status-label-overview.png');

  // On a phone: nothing runs off the side.
  await page.setViewportSize({ width: 390, height: 844 });
  await until(page, 'no sideways overflow on a phone', 'document.documentElement.scrollWidth <= window.innerWidth');
  await page.locator('#oversight-card').scrollIntoViewIfNeeded();
  await shot(page, 'status-label-phone.png');
  assert.deepEqual(pageErrors, [], 'no script errors');
});

test('a model whose labels the gateway does not know is labelled in free text, the top scores suggested', { skip, timeout: 60_000 }, async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host, 'status-page-label-free-');
  const broker = await startBroker();
  host.after(() => broker.stop());
  const { labels: _known, ...entry } = defectModelEntry(await writeDefectModel(join(dir, 'models')));
  const config = ConfigSchema.parse({
    deviceId: 'gw-page-free',
    site: 'plant-g',
    sources: [{ id: 'cam1', type: 'synthetic', fps: 5, width: 320, height: 240, defectRate: 0.5, limit: 10 }],
    models: [entry],
    buffer: { path: join(dir, 'agent.db') },
    broker: { url: broker.url, protocolVersion: broker.protocolVersion },
    status: { host: '127.0.0.1', port: 0, token: TOKEN },
    shutdown: { deadlineMs: 3000 },
  });
  const agent = await Agent.create({ config, baseDir: dir, log: silentLog });
  host.after(() => agent.stop());
  await agent.start();
  const url = agent.status!.url!;
  const db = agent.store.database;
  await waitFor('a prediction', () => db.prepare('SELECT seq FROM predictions LIMIT 1').get() !== undefined, 30_000, 100);
  const seq = (db.prepare('SELECT seq FROM predictions ORDER BY seq LIMIT 1').get() as { seq: number }).seq;
  const detail = (await (await fetch(`${url}/api/predictions/${seq}`)).json()) as PredictionDetail;
  assert.equal(detail.labelChoices, null, 'no labels configured: nothing to choose from');

  const browser = await launchBrowser(host);
  const page = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await page.goto(`${url}/#prediction/${seq}`, { waitUntil: 'domcontentloaded' });
  await until(page, 'the detail', "document.getElementById('detail-step')?.textContent === 'serving model'");
  assert.equal(await page.locator('#label-choice-field').isVisible(), false);
  assert.equal(await page.locator('#label-text').isVisible(), true);
  assert.deepEqual(await page.locator('#label-suggestions option').evaluateAll((os) => os.map((o) => o.getAttribute('value'))), detail.topK.map((k) => k.label));

  await page.fill('#label-token', TOKEN);
  await page.click('#label-submit');
  assert.equal(await page.locator('#label-result.refused').textContent(), 'type the correct label first');
  await page.fill('#label-text', 'scratch on the rim');
  await page.locator('#label-text').press('Enter');
  await page.locator('#label-result.done').waitFor({ timeout: 5000 });
  await until(page, 'the free-text label in the detail', "document.getElementById('detail-truth').textContent.includes('labelled \"scratch on the rim\" by operator')");
  assert.equal(await page.inputValue('#label-text'), 'scratch on the rim');
  assert.deepEqual(db.prepare('SELECT label, correct, by FROM labels WHERE seq = ?').get(seq), { label: 'scratch on the rim', correct: 0, by: 'operator' });
  await until(page, 'no sideways overflow on a phone', 'document.documentElement.scrollWidth <= window.innerWidth');
  await shot(page, 'status-label-free-text.png');
  assert.deepEqual(pageErrors, [], 'no script errors');
});
