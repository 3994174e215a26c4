import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { Agent } from '../../agent/agent.js';
import { openDatabase } from '../../agent/buffer/database.js';
import { ConfigSchema } from '../../agent/config/schema.js';
import { defectModelEntry, writeDefectModel } from '../../agent/demo/defect-model.js';
import type { Judged, Level } from '../../agent/drift/judge.js';
import { DriftWindowStore } from '../../agent/drift/window-store.js';
import { DRIFT_POINTS, DriftHistory } from '../../agent/status/drift-history.js';
import type { HistoryView } from '../../agent/status/history.js';
import { startBroker } from '../helpers/broker.js';
import { lifo } from '../helpers/teardown.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
const HOUR = 3_600_000;

function stats(psi: number, level: Level): Judged[] {
  return [
    { subject: 'image.brightness', statistic: 'psi', value: psi, level },
    { subject: 'image.contrast', statistic: 'psi', value: psi / 2, level: 'ok' },
    { subject: 'output.classes', statistic: 'chiSquareP', value: 0.5, level: 'ok' },
  ];
}

test('drift charts from the drift_windows table: at most DRIFT_POINTS per model, the worst window of each bucket kept', async (t) => {
  const dir = await tempDir(t, 'status-history-');
  const db = openDatabase({ path: join(dir, 'agent.db'), busyTimeoutMs: 1000 });
  t.after(() => db.close());
  const store = new DriftWindowStore(db);
  const now = 1_800_000_000_000;
  const add = (model: string, endedAt: number, psi: number, level: Level) =>
    store.add({ model, modelVersion: '1.0.0', startedAt: endedAt - 500, endedAt, samples: 20, level, stats: stats(psi, level) });
  db.transaction(() => {
    // Two windows a second for the whole hour: 7,200 windows, far more than a chart can show.
    for (let i = 0; i < 7200; i++) add('cam', now - HOUR + i * 500, 0.01 + (i % 7) / 1000, 'ok');
    // One alarm window inside an otherwise calm stretch, and windows outside the span or of another model.
    add('cam', now - HOUR / 2 + 250, 0.61, 'alarm');
    for (let i = 0; i < 50; i++) add('cam', now - 2 * HOUR + i * 1000, 0.9, 'alarm');
    for (let i = 0; i < 50; i++) add('pump', now - 1000 * i, 0.3, 'warn');
    // A window stamped after "now" (a clock stepped back) stays out of the chart.
    add('cam', now + 5000, 0.9, 'alarm');
    // A model watched for 20 s only: its chart spans those 20 s, not the empty hour.
    for (let i = 0; i < 200; i++) add('young', now - 20_000 + i * 100, 0.05, 'ok');
  })();

  const history = new DriftHistory(db);
  const s = history.series('cam', now - HOUR, now, { psiWarn: 0.1, psiAlarm: 0.25 });
  assert.equal(s.windows, 7201, 'every window in the span is counted, none from before it or of another model');
  assert.ok(s.ts.length <= DRIFT_POINTS && s.ts.length >= DRIFT_POINTS - 1, `${s.ts.length} points`);
  assert.ok(s.ts.every((ts, i) => ts >= now - HOUR && (i === 0 || ts > s.ts[i - 1]!)), 'in time order, within the span');
  assert.deepEqual([s.psiWarn, s.psiAlarm], [0.1, 0.25]);
  const alarms = s.level.flatMap((l, i) => (l === 'alarm' ? [i] : []));
  assert.equal(alarms.length, 1, 'the one alarm window is not averaged away');
  assert.equal(s.psi[alarms[0]!], 0.61, 'its largest PSI');
  assert.equal(s.subject[alarms[0]!], 'image.brightness');
  assert.ok(s.psi.every((p, i) => i === alarms[0] || (p !== null && p >= 0.01 && p <= 0.017)), 'the calm buckets show their own PSI');
  assert.ok(JSON.stringify(s).length < 12_000, `a model's hour is ${JSON.stringify(s).length} bytes`);

  const pump = history.series('pump', now - 60_000, now, { psiWarn: null, psiAlarm: null });
  assert.equal(pump.windows, 50);
  assert.ok(pump.level.every((l) => l === 'warn') && pump.psi.every((p) => p === 0.3));
  const young = history.series('young', now - HOUR, now, { psiWarn: null, psiAlarm: null });
  assert.equal(young.windows, 200);
  assert.ok(young.ts.length >= 100 && young.ts.length <= DRIFT_POINTS, `a young history is drawn in detail: ${young.ts.length} points`);
  assert.deepEqual(history.series('nobody', now - HOUR, now, { psiWarn: null, psiAlarm: null }).ts, [], 'an unknown model has an empty chart');
});

test('GET /api/history on a running agent: a reading now, bounded, and a clear 400 for a bad ?minutes=', { timeout: 60_000 }, async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host, 'status-history-api-');
  const broker = await startBroker();
  host.after(() => broker.stop());
  const config = ConfigSchema.parse({
    deviceId: 'history-gw',
    site: 'line-9',
    sources: [{ id: 'cam1', type: 'synthetic', fps: 20, width: 320, height: 240 }],
    models: [defectModelEntry(await writeDefectModel(join(dir, 'models')))],
    buffer: { path: join(dir, 'agent.db') },
    broker: { url: broker.url, protocolVersion: broker.protocolVersion },
    status: { port: 0 },
    shutdown: { deadlineMs: 3000 },
  });
  const agent = await Agent.create({ config, baseDir: dir, log });
  host.after(() => agent.stop());
  await agent.start();
  const url = agent.status!.url!;

  let h: HistoryView | undefined;
  await waitFor('predictions and their latency to show in the reading now', async () => {
    const res = await fetch(`${url}/api/history?minutes=5`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    h = (await res.json()) as HistoryView;
    return (h.metrics.predictionsPerS.at(-1) ?? 0) > 0 && h.metrics.p50Ms.at(-1) != null;
  }, 20_000);
  assert.equal(h!.minutes, 5);
  assert.ok(Math.abs(h!.ts - Date.now()) < 5000);
  const m = h!.metrics;
  assert.equal(m.stepS, 10);
  assert.ok(m.ts.length >= 1 && m.ts.length <= 31, `${m.ts.length} points in 5 minutes at one per 10 s, plus now`);
  assert.equal(m.ts.at(-1), h!.ts, 'the last point is the reading now');
  for (const column of [m.predictionsPerS, m.p50Ms, m.p99Ms, m.outboxPending]) assert.equal(column.length, m.ts.length);
  assert.ok(m.p99Ms.at(-1)! >= m.p50Ms.at(-1)!, 'p99 is at least p50');
  assert.deepEqual(h!.drift, [], 'no watched model: no drift chart');

  for (const [query, value] of [['minutes=0', '0'], ['minutes=61', '61'], ['minutes=abc', 'abc'], ['minutes=2.5', '2.5'], ['minutes=-1', '-1']] as const) {
    const res = await fetch(`${url}/api/history?${query}`);
    assert.equal(res.status, 400, query);
    assert.deepEqual(await res.json(), { error: `minutes must be a whole number from 1 to 60, got "${value}"` });
  }
  assert.equal((await fetch(`${url}/api/history`, { method: 'POST' })).status, 405, 'read-only');
  const hour = (await (await fetch(`${url}/api/history`)).json()) as HistoryView;
  assert.equal(hour.minutes, 60, 'an hour by default');
});
