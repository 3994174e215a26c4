import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import sharp, { type Sharp } from 'sharp';
import { openDatabase, type SqliteDatabase } from '../../agent/buffer/database.js';
import { EventLog } from '../../agent/buffer/events.js';
import { systemClock } from '../../agent/clock.js';
import { DriftSchema } from '../../agent/config/drift-schema.js';
import { ModelSchema } from '../../agent/config/schema.js';
import { defectModelEntry, writeDefectModel } from '../../agent/demo/defect-model.js';
import { PlantSignals } from '../../agent/demo/plant-signals.js';
import { DriftMonitor } from '../../agent/drift/monitor.js';
import { ProfileBuilder } from '../../agent/drift/profile-builder.js';
import { DriftWindowStore } from '../../agent/drift/window-store.js';
import type { DriftSample } from '../../agent/drift/window.js';
import { ImageClassifierModel } from '../../agent/inference/image-model.js';
import { mulberry32 } from '../../agent/sources/camera/prng.js';
import { encodePartJpeg, renderPart } from '../../agent/sources/camera/synthetic-part.js';
import type { ReferenceProfile } from '../../protocol/reference-profile.js';
import { tempDir } from '../helpers/tmp.js';

/*
 * Drift on real inferences: the generated defect model on frames of the synthetic camera,
 * and plant sensor signals. A long stationary stream must raise nothing; each real shift
 * (darker light, blur, more defects, a sensor offset) must raise an alarm within one
 * window that names the statistic and what it measured.
 */

const log = pino({ level: 'silent' });
const WINDOW = 500;
let db: SqliteDatabase;
let events: EventLog;
let model: ImageClassifierModel;
let profile: ReferenceProfile;
/** Stationary frames (another seed than the reference), measured once and replayed in random order. */
let pool: DriftSample[];
let frames: Buffer[];

/** Renders `count` camera frames from `seed`, optionally altered by sharp, and measures them with the model. */
async function measure(count: number, seed: number, defectRate: number, alter?: (img: Sharp) => Sharp): Promise<DriftSample[]> {
  const out: DriftSample[] = [];
  for (let i = 0; i < count; i++) {
    let jpeg = await encodePartJpeg(renderPart(i, { width: 320, height: 240, defectRate, seed }));
    if (alter) jpeg = await alter(sharp(jpeg)).jpeg({ quality: 85 }).toBuffer();
    const r = await model.classify(jpeg);
    out.push({ image: r.inputs!.image, label: r.label, top1: r.score, entropy: r.inputs!.entropy });
    if (seed === 2 && !alter) frames.push(jpeg);
  }
  return out;
}

function monitor(p: ReferenceProfile, name: string) {
  return new DriftMonitor({
    model: name,
    version: () => '1.0.0',
    profile: p,
    config: DriftSchema.parse({ window: { count: WINDOW } }),
    windows: new DriftWindowStore(db),
    samples: undefined,
    events,
    clock: systemClock,
    log,
  });
}

const alarmsOf = (name: string) => events.list({ limit: 10_000 }).filter((e) => e.kind === 'drift_alarm' && e.source === `drift:${name}`);

before(async () => {
  const dir = await tempDir({ after }, 'drift-detect-');
  db = openDatabase({ path: join(dir, 'agent.db'), busyTimeoutMs: 1000 });
  events = new EventLog({ db, log });
  const entry = defectModelEntry(await writeDefectModel(join(dir, 'models')));
  model = await ImageClassifierModel.load(ModelSchema.parse(entry), dir);
  frames = [];
  const builder = new ProfileBuilder({ labels: entry.labels });
  for (const s of await measure(400, 1, 0.2)) builder.add({ image: s.image!, label: s.label!, top1: s.top1, entropy: s.entropy });
  profile = builder.build();
  pool = await measure(600, 2, 0.2);
});
after(async () => {
  await model?.release();
  db?.close();
});

test('10,000 stationary camera samples raise no alarm; darker light then raises one within a window, naming image.brightness', { timeout: 120_000 }, async () => {
  const m = monitor(profile, 'defect-steady');
  const random = mulberry32(7);
  for (let i = 0; i < 10_000; i++) m.observe(pool[Math.floor(random() * pool.length)]!);
  assert.deepEqual(alarmsOf('defect-steady').map((e) => e.message), [], 'no alarm on a stationary stream');
  assert.equal(m.state().windows, 20);
  assert.equal(m.state().level === 'alarm', false);

  const darker = await measure(WINDOW, 3, 0.2, (img) => img.linear(0.7, 0));
  for (const s of darker) m.observe(s);
  const alarms = alarmsOf('defect-steady');
  assert.ok(alarms.length > 0, 'the brightness drop raised an alarm in one window');
  assert.ok(alarms.some((e) => /image\.brightness psi/.test(e.message)), alarms.map((e) => e.message).join('\n'));
  assert.equal(m.state().level, 'alarm');
  const stored = new DriftWindowStore(db).since('defect-steady', 0);
  assert.equal(stored.length, 21, 'every window stored');
  assert.equal(stored.at(-1)?.level, 'alarm');

  // Back to normal light: recovery after the configured calm windows, as an event.
  for (let i = 0; i < 3 * WINDOW; i++) m.observe(pool[Math.floor(random() * pool.length)]!);
  assert.ok(events.list({ limit: 10_000 }).some((e) => e.kind === 'drift_recovered' && e.source === 'drift:defect-steady' && /image\.brightness/.test(e.message)));
});

test('blur and a class-mix change each raise an alarm naming what moved', { timeout: 120_000 }, async () => {
  const blurred = monitor(profile, 'defect-blur');
  for (const s of await measure(WINDOW, 4, 0.2, (img) => img.blur(2.5))) blurred.observe(s);
  assert.ok(alarmsOf('defect-blur').some((e) => /image\.sharpness/.test(e.message)), alarmsOf('defect-blur').map((e) => e.message).join('\n'));

  const mix = monitor(profile, 'defect-mix');
  for (const s of await measure(WINDOW, 5, 0.9)) mix.observe(s);
  assert.ok(alarmsOf('defect-mix').some((e) => /output\.classes/.test(e.message)), alarmsOf('defect-mix').map((e) => e.message).join('\n'));
});

test('plant sensors: 10,000 stationary readings raise nothing, a temperature sensor offset raises an alarm naming the feature', { timeout: 60_000 }, () => {
  const read = (plant: PlantSignals, t: number, offset = 0) => ({
    temperature: plant.read('Temperature', t).value + offset,
    vibration: plant.read('Vibration', t).value,
    pressure: plant.read('Pressure', t).value,
  });
  const reference = new PlantSignals(11);
  const builder = new ProfileBuilder({});
  for (let i = 0; i < 3000; i++) builder.add({ features: read(reference, i * 1000), score: 0, top1: 1, entropy: 0 });
  const sensorProfile = builder.build();
  const m = monitor(sensorProfile, 'bearing');
  const live = new PlantSignals(12);
  let t = 5_000_000;
  for (let i = 0; i < 10_000; i++) m.observe({ features: read(live, (t += 1000)), score: 0, top1: 1, entropy: 0 });
  assert.deepEqual(alarmsOf('bearing').map((e) => e.message), []);
  for (let i = 0; i < WINDOW; i++) m.observe({ features: read(live, (t += 1000), 1.5), score: 0, top1: 1, entropy: 0 });
  const alarms = alarmsOf('bearing');
  assert.ok(alarms.some((e) => /feature\.temperature/.test(e.message)), alarms.map((e) => e.message).join('\n'));
  assert.ok(!alarms.some((e) => /feature\.(vibration|pressure)/.test(e.message)), 'only the offset sensor is named');
});

test('an alarm that lasts asks for retraining once, with the statistics as evidence', { timeout: 60_000 }, async () => {
  const m = monitor(profile, 'defect-retrain');
  const darker = await measure(100, 6, 0.2, (img) => img.linear(0.6, 0));
  for (let w = 0; w < 7; w++) for (let i = 0; i < WINDOW; i++) m.observe(darker[i % darker.length]!);
  const asks = events.list({ limit: 10_000 }).filter((e) => e.kind === 'retrain_requested' && e.source === 'drift:defect-retrain');
  assert.equal(asks.length, 1);
  const detail = asks[0]!.detail as { windows: number; statistics: Array<{ subject: string }> };
  assert.equal(detail.windows, 6);
  assert.ok(detail.statistics.some((s) => s.subject === 'image.brightness'));
});
