import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
import { PLANT_NODES } from '../../agent/demo/plant-server.js';
import { TABULAR_MODEL, vibrationReference, writeTabularModel } from '../../agent/demo/tabular-model.js';
import { plantTags, startSensorAgent } from '../helpers/opcua-agent.js';
import { PredictionRecord } from '../../protocol/predictions.js';
import { PlantProcess, trustCertificate } from '../helpers/opcua-plant.js';
import { lifo } from '../helpers/teardown.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const MODELS = fileURLToPath(new URL('../../../shared/data/models', import.meta.url));
const haveRealModels = existsSync(`${MODELS}/skl_sk_OCSVM.onnx`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The generated bearing classifier over window features, in its input order. */
const BEARING_FEATURES = [
  { tag: 'Vibration', fn: 'mean' },
  { tag: 'Vibration', fn: 'max' },
  { tag: 'Temperature', fn: 'mean' },
  { tag: 'MotorCurrent', fn: 'mean' },
];

/**
 * One plant, one agent over SignAndEncrypt, several models with different policies; the
 * test walks the plant through normal running and injected faults and checks what each
 * model committed in each phase.
 */
test('sensor windows from a SignAndEncrypt OPC-UA server become predictions; faults are flagged or skipped, never presented as good', async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host, 'edge-sensor-');
  const plant = await PlantProcess.start(host, { pkiDir: join(dir, 'plant-pki'), partCycleMs: 0 });
  trustCertificate(join(dir, 'pki'), plant.certificate);
  const modelPath = await writeTabularModel(join(dir, 'models'));
  const window = { sizeMs: 1000, everyMs: 500, graceMs: 150, staleMs: 3000 };
  const bearing = (name: string, extra: Record<string, unknown>) => ({ name, path: modelPath, labels: [...TABULAR_MODEL.labels], features: BEARING_FEATURES, window, ...extra });
  const sensorModels: Array<Record<string, unknown>> = [
    bearing('bearing', {
      validation: { onViolation: 'flag', rules: [{ tag: 'Vibration', max: 6 }, { tag: 'Pressure', stuckSamples: 6 }] },
      writeBack: { server: 'plant', nodeId: PLANT_NODES.HealthScore, value: 'score' },
    }),
    bearing('bearing-strict', { validation: { onViolation: 'skip', rules: [{ tag: 'Vibration', max: 6 }] } }),
    bearing('bearing-impute', {
      features: [...BEARING_FEATURES.slice(0, 2), { tag: 'Temperature', fn: 'mean', impute: 45 }, BEARING_FEATURES[3]],
      window: { ...window, onMissing: 'impute' },
      writeBack: { server: 'plant', nodeId: PLANT_NODES.Locked, value: 'score', retries: 1, retryMs: 20 },
    }),
  ];
  if (haveRealModels) {
    sensorModels.push({
      name: 'pump-ocsvm',
      path: `${MODELS}/skl_sk_OCSVM.onnx`,
      features: [{ tag: 'Vibration', fn: 'std' }, { tag: 'Pressure', fn: 'slope' }, { tag: 'MotorCurrent', fn: 'count' }],
      output: { kind: 'anomaly' },
      window,
    });
  }
  const s = await startSensorAgent(host, {
    dir,
    config: {
      opcua: {
        pkiDir: 'pki',
        servers: [{ id: 'plant', endpoint: plant.endpoint, securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256', tags: plantTags(['Vibration', 'Temperature', 'Pressure', 'MotorCurrent']), reconnect: { minMs: 200, maxMs: 1000 } }],
      },
      sensorModels,
    },
  });

  await t.test('normal running: aligned windows, features from the plant, the model computes what its reference says', async () => {
    await waitFor('4 clean bearing predictions', () => s.predictions('bearing').filter((p) => !p.flags).length >= 4, 20_000);
    const clean = s.predictions('bearing').filter((p) => !p.flags);
    for (const p of clean) {
      assert.equal(p.ts % 500, 0, `window end ${p.ts} is on the 500 ms grid`);
      assert.equal(p.frameId, `window-${p.ts}`);
      const f = p.features!;
      assert.deepEqual(Object.keys(f), ['Vibration.mean', 'Vibration.max', 'Temperature.mean', 'MotorCurrent.mean']);
      assert.ok(f['Vibration.mean']! > 1 && f['Vibration.mean']! < 3.5, JSON.stringify(f));
      assert.ok(f['Vibration.max']! >= f['Vibration.mean']!);
      assert.ok(f['Temperature.mean']! > 40 && f['Temperature.mean']! < 50, JSON.stringify(f));
      const [normal, worn] = vibrationReference([f['Vibration.mean']!, f['Vibration.max']!, f['Temperature.mean']!, f['MotorCurrent.mean']!]);
      assert.equal(p.label, worn > normal ? 'worn' : 'normal');
      assert.ok(Math.abs(p.score - Math.max(normal, worn)) < 1e-3, `score ${p.score} vs reference ${Math.max(normal, worn)}`);
    }
    const view = s.agent.snapshot().opcua!;
    assert.equal(view.servers[0]!.state, 'connected');
    assert.equal(view.servers[0]!.securityMode, 'SignAndEncrypt');
    for (const tag of view.tags) assert.equal(tag.quality, 'good', JSON.stringify(tag));
    if (haveRealModels) {
      await waitFor('an OCSVM prediction', () => s.predictions('pump-ocsvm').length > 0, 10_000);
      const a = s.predictions('pump-ocsvm').at(-1)!;
      assert.equal(typeof a.anomalyScore, 'number');
      assert.equal(a.anomaly, a.anomalyScore! < 0);
    }
  });

  await t.test('results are written back to the PLC; a node that refuses writes is reported and inference goes on', async () => {
    await waitFor('health scores written to the plant', async () => ((await plant.send({ type: 'stats' })).writes?.[PLANT_NODES.HealthScore]?.length ?? 0) >= 3, 10_000);
    const written = (await plant.send({ type: 'stats' })).writes![PLANT_NODES.HealthScore] as number[];
    const scores = new Set(s.predictions('bearing').map((p) => Math.round(p.score * 1e4)));
    assert.ok(written.every((w) => scores.has(Math.round(w * 1e4))), 'every written value is a committed score');
    await waitFor('a write failure event', () => s.events('opcua_write_failed').length > 0, 10_000);
    const e = s.events('opcua_write_failed')[0]!;
    assert.match(e.message, /Plant\.Locked failed after 2 attempts: Bad/);
    const before = s.predictions('bearing-impute').length;
    await waitFor('bearing-impute keeps predicting', () => s.predictions('bearing-impute').length >= before + 2, 5000);
    assert.ok(s.agent.opcua.writeBack.stats.failed >= 1 && s.agent.opcua.writeBack.stats.written >= 3);
  });

  await t.test('a Bad-status sensor: skipped by default, imputed and flagged when configured, shown bad on the status page', async () => {
    await plant.send({ type: 'inject', signal: 'Temperature', fault: 'bad' });
    const from = Date.now();
    await sleep(3500);
    const tag = s.agent.snapshot().opcua!.tags.find((x) => x.name === 'Temperature')!;
    assert.equal(tag.quality, 'bad');
    assert.equal(tag.status, 'BadSensorFailure');
    assert.equal(tag.value, null, 'a bad reading is never shown as a value');
    await plant.send({ type: 'inject', signal: 'Temperature', fault: 'clear' });
    const to = Date.now();
    const during = (m: string) => s.predictions(m).filter((p) => p.ts > from + 700 && p.ts < to);
    assert.equal(during('bearing').length, 0, 'no prediction from a window whose temperature is Bad');
    const imputed = during('bearing-impute');
    assert.ok(imputed.length >= 2, `imputed windows: ${imputed.length}`);
    for (const p of imputed) {
      assert.ok(p.flags?.includes('imputed:Temperature.mean'), JSON.stringify(p.flags));
      assert.equal(p.features!['Temperature.mean'], 45);
    }
    assert.ok(s.events('sensor_window_skipped').some((e) => e.source === 'bearing' && /Temperature\.mean missing/.test(e.message)));
    await waitFor('bearing predicts again', () => s.predictions('bearing').some((p) => p.ts > to + 1200), 10_000);
    assert.ok(s.events('sensor_window_resumed').some((e) => e.source === 'bearing'));
  });

  await t.test('validation: an out-of-range spike flags one model and makes the strict one skip; a stuck sensor is flagged', async () => {
    await plant.send({ type: 'inject', signal: 'Vibration', fault: 'spike' });
    const from = Date.now();
    await sleep(2500);
    await plant.send({ type: 'inject', signal: 'Vibration', fault: 'clear' });
    const to = Date.now();
    const inside = (m: string) => s.predictions(m).filter((p) => p.ts > from + 600 && p.ts < to);
    const flagged = inside('bearing');
    assert.ok(flagged.length >= 1, 'predictions during the spike');
    for (const p of flagged) assert.ok(p.flags?.includes('range:Vibration'), JSON.stringify(p.flags));
    assert.equal(inside('bearing-strict').length, 0, 'onViolation skip makes no prediction');
    const v = s.events('sensor_validation').find((e) => e.source === 'bearing' && (e.detail as { rule?: string })?.rule === 'range');
    assert.ok(v, 'a validation event names the rule');
    assert.match(v.message, /Vibration: .* is above the maximum 6/);
    await waitFor('range violation cleared', () => s.events('sensor_validation_cleared').some((e) => e.source === 'bearing'), 5000);

    await plant.send({ type: 'inject', signal: 'Pressure', fault: 'stuck' });
    await waitFor('a stuck-sensor flag', () => s.predictions('bearing').some((p) => p.flags?.includes('stuck:Pressure')), 10_000);
    await plant.send({ type: 'inject', signal: 'Pressure', fault: 'clear' });
    assert.ok(s.events('sensor_validation').some((e) => /Pressure: the same value .* 6 samples in a row/.test(e.message)));
  });

  // The committed records are what central receives: the optional fields parse with the wire schema.
  const all = s.predictions();
  for (const p of all) PredictionRecord.parse(p);
  assert.ok(all.some((p) => p.features && p.flags), 'flagged sensor predictions carry their features');
});
