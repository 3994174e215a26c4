import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { openDatabase } from '../../agent/buffer/database.js';
import { MAX_LABEL_CHOICES, PredictionLabels } from '../../agent/status/prediction-labels.js';
import { tempDir } from '../helpers/tmp.js';

test('label choices come from the installed manifest, else the config; none when unknown or too many', async (t) => {
  const dir = await tempDir(t, 'prediction-labels-');
  const db = openDatabase({ path: join(dir, 'agent.db'), busyTimeoutMs: 1000 });
  t.after(() => db.close());
  const install = db.prepare('INSERT INTO model_installs (name, counter, version, dir, manifest, installed_at) VALUES (?, ?, ?, ?, ?, 0)');
  install.run('defect', 3, '1.1.0', '/x', JSON.stringify({ payload: { name: 'defect', labels: ['good', 'scratch', 'dent', ''] } }));
  install.run('defect', 4, '1.2.0', '/y', JSON.stringify({ payload: { name: 'defect' } }));
  install.run('defect', 5, '1.3.0', '/z', '{not json');
  install.run('big', 1, '1.0.0', '/b', JSON.stringify({ payload: { labels: Array.from({ length: MAX_LABEL_CHOICES + 1 }, (_, i) => `class${i}`) } }));
  const labels = new PredictionLabels(db, [{ name: 'defect', labels: ['ok', 'defect', 'ok'] }, { name: 'sensor' }]);

  assert.deepEqual(labels.choices('defect', '1.1.0'), ['good', 'scratch', 'dent'], 'the manifest of that version, blank lines left out');
  assert.deepEqual(labels.choices('defect', '1.2.0'), ['ok', 'defect'], 'a manifest without labels: the config, each once');
  assert.deepEqual(labels.choices('defect', '1.3.0'), ['ok', 'defect'], 'an unreadable manifest: the config');
  assert.deepEqual(labels.choices('defect', '1.0.0'), ['ok', 'defect'], 'the version from the config itself');
  assert.equal(labels.choices('sensor', '1.0.0'), null, 'no labels known: free text');
  assert.equal(labels.choices('big', '1.0.0'), null, `more than ${MAX_LABEL_CHOICES}: free text`);
  assert.equal(labels.choices('unknown', '1'), null);

  // A version installed after it was first asked about is read then.
  assert.deepEqual(labels.choices('defect', '2.0.0'), ['ok', 'defect']);
  install.run('defect', 6, '2.0.0', '/w', JSON.stringify({ payload: { labels: ['pass', 'fail'] } }));
  assert.deepEqual(labels.choices('defect', '2.0.0'), ['pass', 'fail']);
});

test('the ground truth of a prediction is the label stored for it', async (t) => {
  const dir = await tempDir(t, 'prediction-truth-');
  const db = openDatabase({ path: join(dir, 'agent.db'), busyTimeoutMs: 1000 });
  t.after(() => db.close());
  db.prepare("INSERT INTO labels (seq, ts, model, model_version, source, predicted, label, correct, by, sample_id) VALUES (7, 1000, 'defect', '1.0.0', 'cam1', 'ok', 'defect', 0, 'anna', 3)").run();
  db.prepare("INSERT INTO labels (seq, ts, model, model_version, source, predicted, label, correct, by, sample_id) VALUES (8, 2000, 'defect', '1.0.0', 'cam1', 'ok', 'ok', 1, 'central', NULL)").run();
  const labels = new PredictionLabels(db, []);
  assert.deepEqual(labels.groundTruth(7), { label: 'defect', correct: false, by: 'anna', ts: 1000, sampleId: 3 });
  assert.deepEqual(labels.groundTruth(8), { label: 'ok', correct: true, by: 'central', ts: 2000, sampleId: null });
  assert.equal(labels.groundTruth(9), null);
});
