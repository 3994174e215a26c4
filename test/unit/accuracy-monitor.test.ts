import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { openDatabase } from '../../agent/buffer/database.js';
import { FeedbackSchema } from '../../agent/config/feedback-schema.js';
import type { AgentEvent } from '../../agent/events.js';
import { AccuracyMonitor } from '../../agent/feedback/accuracy.js';
import { manifestAccuracy } from '../../agent/feedback/manifest-accuracy.js';
import { tempDir } from '../helpers/tmp.js';

/*
 * Live accuracy against the expected accuracy: judged only once enough labels are in,
 * an alarm when the drop passes its limit, recovery only after calm judgements in a row
 * (no flapping), and the expected accuracy read from a bundle's manifest lineage when the
 * serving version came with one.
 */

const clock = { now: () => 1_700_000_000_000, monotonic: () => 0 };

test('the drop below the expected accuracy raises an alarm with hysteresis; too few labels are not judged', () => {
  const events: AgentEvent[] = [];
  const config = FeedbackSchema.parse({ window: 20, minLabels: 20, every: 5, recoverWindows: 2, limits: { warn: 0.05, alarm: 0.1 } });
  const alarms: boolean[] = [];
  const m = new AccuracyMonitor('defect', config, () => ({ value: 0.9, from: 'config' }), { record: (e) => events.push(e) }, clock, (a) => alarms.push(a));
  for (let i = 0; i < 19; i++) m.add('ok', 'defect');
  assert.equal(m.level(), 'ok', 'nineteen labels: not judged yet');
  m.add('ok', 'defect');
  assert.equal(m.level(), 'alarm');
  assert.deepEqual(events.map((e) => e.kind), ['accuracy_alarm']);
  assert.deepEqual(alarms, [true]);
  // Right answers come back: the window of 20 refills; the alarm holds until two calm judgements.
  for (let i = 0; i < 20; i++) m.add('ok', 'ok');
  assert.equal(m.accuracy(), 1);
  assert.equal(m.level(), 'alarm', 'one calm judgement is not enough');
  assert.deepEqual(alarms, [true]);
  for (let i = 0; i < 5; i++) m.add('ok', 'ok');
  assert.equal(m.level(), 'ok');
  assert.deepEqual(events.map((e) => e.kind), ['accuracy_alarm', 'accuracy_recovered']);
  assert.deepEqual(alarms, [true, false]);
  const view = m.view();
  assert.ok(view.chart.length >= 4 && view.chart.every((p) => p.expected === 0.9 && p.alarmAt === 0.8 && p.warnAt === 0.85));
  assert.deepEqual(view.classes.find((c) => c.label === 'ok'), { label: 'ok', predicted: 20, actual: 20, precision: 1, recall: 1 });
});

test('the expected accuracy comes from the serving version\'s manifest lineage when it states one', async (t) => {
  const dir = await tempDir(t, 'accuracy-');
  const db = openDatabase({ path: join(dir, 'agent.db'), busyTimeoutMs: 1000 });
  t.after(() => db.close());
  const install = db.prepare('INSERT INTO model_installs (name, counter, version, dir, manifest, installed_at) VALUES (?, ?, ?, ?, ?, 0)');
  install.run('defect', 3, '1.1.0', '/x', JSON.stringify({ payload: { name: 'defect', lineage: { validation: { dataset: { name: 'val', sha256: 'a'.repeat(64) }, metrics: { accuracy: 0.97 } }, packedBy: 'ops', packedAt: '2026-11-01T00:00:00Z' } } }));
  install.run('defect', 4, '1.2.0', '/y', JSON.stringify({ payload: { name: 'defect' } }));
  install.run('defect', 5, '1.3.0', '/z', '{not json');
  assert.equal(manifestAccuracy(db, 'defect', '1.1.0'), 0.97);
  assert.equal(manifestAccuracy(db, 'defect', '1.2.0'), undefined, 'no lineage: undefined, the config decides');
  assert.equal(manifestAccuracy(db, 'defect', '1.3.0'), undefined);
  assert.equal(manifestAccuracy(db, 'defect', '9.9.9'), undefined);
});
