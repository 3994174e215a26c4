import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { openDatabase } from '../../agent/buffer/database.js';
import { EventLog } from '../../agent/buffer/events.js';
import { systemClock } from '../../agent/clock.js';
import { DriftSchema } from '../../agent/config/drift-schema.js';
import { TabularModelSchema } from '../../agent/config/sensor-schema.js';
import { defectModelEntry, writeDefectModel } from '../../agent/demo/defect-model.js';
import { PlantSignals } from '../../agent/demo/plant-signals.js';
import { TABULAR_MODEL, writeTabularModel } from '../../agent/demo/tabular-model.js';
import { DriftMonitor } from '../../agent/drift/monitor.js';
import { tabularSample } from '../../agent/drift/tabular-sample.js';
import { DriftWindowStore } from '../../agent/drift/window-store.js';
import { TabularModel } from '../../agent/inference/tabular-model.js';
import { ReferenceProfileSchema } from '../../protocol/reference-profile.js';
import { runBin } from '../helpers/child.js';
import { tempDir } from '../helpers/tmp.js';

/*
 * A sensor model's reference profile from a CSV file of feature rows, with the model of a
 * gateway config, by `edgectl profile`; then the agent's own drift monitor judges live
 * feature windows against it: stationary readings raise nothing, a temperature offset
 * raises an alarm naming that feature.
 */

const FEATURES = [
  { tag: 'Vibration', fn: 'mean' },
  { tag: 'Vibration', fn: 'max' },
  { tag: 'Temperature', fn: 'mean' },
  { tag: 'MotorCurrent', fn: 'mean' },
] as const;
const KEYS = FEATURES.map((f) => `${f.tag}.${f.fn}`);

/** One 2 s feature window of the simulated pump at `t`, as the agent computes it from four readings. */
function windowAt(plant: PlantSignals, t: number, temperatureOffset = 0): number[] {
  const at = (signal: 'Vibration' | 'Temperature' | 'MotorCurrent') => [0, 500, 1000, 1500].map((d) => plant.read(signal, t + d).value);
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const vibration = at('Vibration');
  return [mean(vibration), Math.max(...vibration), mean(at('Temperature')) + temperatureOffset, mean(at('MotorCurrent'))];
}

async function gatewayConfig(dir: string): Promise<string> {
  const modelPath = await writeTabularModel(join(dir, 'models'));
  const file = join(dir, 'edge-agent.yaml');
  const tags = ['Vibration', 'Temperature', 'MotorCurrent'].map((name) => ({ name, nodeId: `ns=1;s=${name}` }));
  await writeFile(file, stringify({
    deviceId: 'gw-profile',
    sources: [{ id: 'cam1', type: 'synthetic', fps: 1 }],
    models: [defectModelEntry(await writeDefectModel(join(dir, 'models')))],
    opcua: { servers: [{ id: 'pump1', endpoint: 'opc.tcp://127.0.0.1:4840', securityMode: 'None', securityPolicy: 'None', tags }] },
    sensorModels: [{ name: 'bearing', path: 'models/' + modelPath.split('/').at(-1), labels: [...TABULAR_MODEL.labels], features: FEATURES }],
    buffer: { path: join(dir, 'agent.db') },
    broker: { url: 'mqtt://127.0.0.1:1' },
  }));
  return file;
}

test('edgectl profile --reference CSV profiles a sensor model of the gateway config; live windows are judged against it', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t, 'profile-csv-');
  const config = await gatewayConfig(dir);
  const reference = new PlantSignals(21);
  const rows = Array.from({ length: 400 }, (_, i) => windowAt(reference, i * 2000));
  const csv = join(dir, 'bearing-reference.csv');
  // Extra columns (a timestamp) are ignored; columns may come in any order.
  await writeFile(csv, [['ts', ...KEYS.slice().reverse()].join(','), ...rows.map((r, i) => [i * 2000, ...r.slice().reverse()].join(','))].join('\n') + '\n');
  const out = join(dir, 'bearing.profile.json');
  const run = await runBin('edgectl', ['profile', '--config', config, '--name', 'bearing', '--reference', csv, '--out', out]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /reference profile of 400 feature rows/);
  const profile = ReferenceProfileSchema.parse(JSON.parse(await readFile(out, 'utf8')));
  assert.equal(profile.samples, 400);
  assert.deepEqual(Object.keys(profile.features ?? {}).sort(), [...KEYS].sort());
  const temperatures = rows.map((r) => r[2]!);
  const edges = profile.features!['Temperature.mean']!.edges;
  assert.ok(Math.abs(edges[0]! - Math.min(...temperatures)) < 1e-3 && Math.abs(edges.at(-1)! - Math.max(...temperatures)) < 1e-3, 'the range is the reference range');
  assert.equal(profile.outputs.kind, 'classes');
  assert.deepEqual(profile.outputs.kind === 'classes' && profile.outputs.labels, ['normal', 'worn']);
  assert.equal(profile.outputs.kind === 'classes' && profile.outputs.counts.reduce((a, b) => a + b, 0), 400);
  assert.equal(profile.background?.length, 100, 'Shapley background rows from the reference');

  // The agent's monitor, the agent's model: stationary windows, then a temperature sensor offset.
  const log = pino({ level: 'silent' });
  const db = openDatabase({ path: join(dir, 'drift.db'), busyTimeoutMs: 1000 });
  t.after(() => db.close());
  const events = new EventLog({ db, log });
  const monitor = new DriftMonitor({ model: 'bearing', version: () => '1.0.0', profile, config: DriftSchema.parse({ window: { count: 200 } }), windows: new DriftWindowStore(db), samples: undefined, events, clock: systemClock, log });
  const model = await TabularModel.load(TabularModelSchema.parse({ name: 'bearing', path: join(dir, 'models', 'vibration-classifier.onnx'), labels: [...TABULAR_MODEL.labels], features: FEATURES }), dir);
  t.after(() => model.release());
  const live = new PlantSignals(22);
  const observe = async (from: number, count: number, offset: number) => {
    for (let i = 0; i < count; i++) {
      const row = windowAt(live, (from + i) * 2000, offset);
      const result = await model.predict(Float32Array.from(row));
      monitor.observe(tabularSample(Object.fromEntries(KEYS.map((k, j) => [k, row[j]!])), result));
    }
  };
  const alarms = () => events.list({ kind: 'drift_alarm', limit: 100 }).map((e) => e.message);
  await observe(10_000, 1000, 0);
  assert.deepEqual(alarms(), [], 'stationary readings raise no alarm');
  await observe(20_000, 200, 8);
  assert.ok(alarms().some((m) => /feature\.Temperature\.mean/.test(m)), alarms().join('\n'));
});

test('edgectl profile refuses a CSV it cannot trust, naming the column, the line or the model', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t, 'profile-csv-bad-');
  const config = await gatewayConfig(dir);
  const good = Array.from({ length: 30 }, (_, i) => [1 + i / 100, 5, 45, 12].join(','));
  const cases: Array<[string, string, RegExp]> = [
    ['missing-column', [KEYS.slice(0, 3).join(','), ...good.map((l) => l.split(',').slice(0, 3).join(','))].join('\n'), /the header has no column "MotorCurrent\.mean"/],
    ['bad-cell', [KEYS.join(','), ...good.slice(0, 7), '1.2,5,hot,12', ...good.slice(7)].join('\n'), /line 9, column "Temperature\.mean": "hot" is not a number/],
    ['empty-cell', [KEYS.join(','), ...good.slice(0, 3), '1.2,5,,12', ...good.slice(3)].join('\n'), /line 5, column "Temperature\.mean": "" is not a number/],
    ['too-few', [KEYS.join(','), ...good.slice(0, 5)].join('\n'), /5 rows; a reference profile needs at least 20/],
  ];
  for (const [name, text, expected] of cases) {
    const csv = join(dir, `${name}.csv`);
    await writeFile(csv, `${text}\n`);
    const run = await runBin('edgectl', ['profile', '--config', config, '--name', 'bearing', '--reference', csv, '--out', join(dir, `${name}.json`)]);
    assert.equal(run.code, 1, `${name}: ${run.stderr}`);
    assert.match(run.stderr, expected, name);
    assert.ok(run.stderr.includes(csv), `${name}: the refusal names the file`);
  }
  await mkdir(join(dir, 'a-folder'));
  const folder = await runBin('edgectl', ['profile', '--config', config, '--name', 'bearing', '--reference', join(dir, 'a-folder'), '--out', join(dir, 'f.json')]);
  assert.equal(folder.code, 1);
  assert.match(folder.stderr, /sensor model "bearing" takes a CSV file of feature rows \(columns Vibration\.mean, Vibration\.max, Temperature\.mean, MotorCurrent\.mean\), not a folder/);
  const unknown = await runBin('edgectl', ['profile', '--config', config, '--name', 'pump', '--reference', join(dir, 'bad-cell.csv'), '--out', join(dir, 'u.json')]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /has no model named "pump" \(it has "defect", "bearing"\)/);
});
