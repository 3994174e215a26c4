import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import sharp from 'sharp';
import { openDatabase } from '../../agent/buffer/database.js';
import { EventLog } from '../../agent/buffer/events.js';
import { systemClock } from '../../agent/clock.js';
import { DriftSchema } from '../../agent/config/drift-schema.js';
import { ModelSchema } from '../../agent/config/schema.js';
import { DriftMonitor } from '../../agent/drift/monitor.js';
import { ProfileBuilder } from '../../agent/drift/profile-builder.js';
import { DriftWindowStore } from '../../agent/drift/window-store.js';
import type { DriftSample } from '../../agent/drift/window.js';
import { ImageClassifierModel } from '../../agent/inference/image-model.js';
import { mulberry32 } from '../../agent/sources/camera/prng.js';
import { tempDir } from '../helpers/tmp.js';

/*
 * Drift on real photographs: magnetic tiles from ../shared/data, seen by SqueezeNet (its
 * answers mean little on tiles; the image statistics are what is judged). The reference is
 * the defect-free tiles in many crops and mirror images, as a camera sees the same part
 * slightly differently each time. Criterion: the same good tiles through the same crops
 * raise no alarm; darkened, they raise a brightness alarm within one window; the defect
 * tiles move the image statistics further than the good ones do.
 */

const DATA = fileURLToPath(new URL('../../../shared/data/', import.meta.url));
const TILES = join(DATA, 'images', 'magnetic_tile');
const MODEL = join(DATA, 'models', 'winml_SqueezeNet_fp16.onnx');
const skip = existsSync(TILES) && existsSync(MODEL) ? false : `${DATA} absent: real-image tests need ../shared/data`;
const log = pino({ level: 'silent' });

/** Crops (a 70–95% window at varying offsets) and mirror images of one photo, as JPEGs. */
async function views(file: string, count: number, seed: number): Promise<Buffer[]> {
  const bytes = await readFile(file);
  const { width = 0, height = 0 } = await sharp(bytes).metadata();
  const out: Buffer[] = [];
  const random = mulberry32(seed * 1000 + file.length);
  for (let i = 0; i < count; i++) {
    const share = 0.7 + 0.25 * random();
    const w = Math.floor(width * share);
    const h = Math.floor(height * share);
    const left = Math.floor((width - w) * random());
    const top = Math.floor((height - h) * random());
    let view = sharp(bytes).extract({ left, top, width: w, height: h });
    if (i % 2 === 1) view = view.flop();
    out.push(await view.jpeg({ quality: 90 }).toBuffer());
  }
  return out;
}

test('magnetic tiles: good tiles stay quiet, darkened ones raise a brightness alarm, defect tiles move the statistics', { skip, timeout: 180_000 }, async (t) => {
  const dir = await tempDir(t, 'drift-tiles-');
  const db = openDatabase({ path: join(dir, 'agent.db'), busyTimeoutMs: 1000 });
  t.after(() => db.close());
  const events = new EventLog({ db, log });
  const model = await ImageClassifierModel.load(
    ModelSchema.parse({
      name: 'squeezenet',
      path: MODEL,
      labelsFile: join(DATA, 'models', 'imagenet_labels_winml.txt'),
      preprocess: { width: 224, height: 224, channels: 'BGR', layout: 'NCHW', scale: 1, mean: [0], std: [1], dtype: 'float16' },
    }),
    dir,
  );
  t.after(() => model.release());
  const measure = async (jpegs: Buffer[]): Promise<DriftSample[]> => {
    const out: DriftSample[] = [];
    for (const jpeg of jpegs) {
      const r = await model.classify(jpeg);
      out.push({ image: r.inputs!.image, label: r.label, top1: r.score, entropy: r.inputs!.entropy });
    }
    return out;
  };
  const all = readdirSync(TILES).filter((f) => f.endsWith('.jpg'));
  const good = all.filter((f) => f.startsWith('MT_Free')).map((f) => join(TILES, f));
  const defects = all.filter((f) => !f.startsWith('MT_Free')).map((f) => join(TILES, f));
  assert.ok(good.length >= 3 && defects.length >= 10, `${good.length} good and ${defects.length} defect tiles`);

  const reference: DriftSample[] = [];
  for (const f of good) reference.push(...(await measure(await views(f, 100, 1))));
  const builder = new ProfileBuilder({});
  for (const s of reference) builder.add({ image: s.image!, top1: s.top1, entropy: s.entropy });
  const profile = builder.build();
  // Windows of 200: with 10 bins, a smaller window's PSI is noisy even on an unchanged stream.
  const config = DriftSchema.parse({ window: { count: 200 }, minSamples: 150 });
  const monitor = (name: string) => new DriftMonitor({ model: name, version: () => '1', profile, config, windows: new DriftWindowStore(db), samples: undefined, events, clock: systemClock, log });
  const alarms = (name: string) => events.list({ limit: 1000 }).filter((e) => e.kind === 'drift_alarm' && e.source === `drift:${name}`).map((e) => e.message);
  const psi = (m: DriftMonitor, subject: string) => m.state().lastWindow?.stats.find((s) => s.subject === subject && s.statistic === 'psi')?.value ?? NaN;

  // Good tiles, other crops (another seed): quiet.
  const steady = monitor('tiles-good');
  // Interleaved, as parts come down a line: every window holds each tile alike.
  const perTile: DriftSample[][] = [];
  for (const f of good) perTile.push(await measure(await views(f, 67, 2)));
  for (let i = 0; i < 67; i++) for (const tile of perTile) steady.observe(tile[i]!);
  assert.equal(steady.state().windows, 1);
  assert.deepEqual(alarms('tiles-good'), []);
  const steadyPsi = psi(steady, 'image.brightness');

  // The same good tiles under a weaker light.
  const dark = monitor('tiles-dark');
  const darkened: Buffer[] = [];
  for (const f of good) for (const v of await views(f, 67, 3)) darkened.push(await sharp(v).linear(0.6, 0).jpeg({ quality: 90 }).toBuffer());
  for (const s of await measure(darkened)) dark.observe(s);
  assert.ok(alarms('tiles-dark').some((m) => /image\.brightness psi/.test(m)), alarms('tiles-dark').join('\n'));

  // Defect tiles (blowholes, breaks, cracks, frays, uneven): their statistics are further from the reference.
  const faulty = monitor('tiles-defects');
  const defectViews: Buffer[] = [];
  for (const f of defects) defectViews.push(...(await views(f, Math.ceil(200 / defects.length), 4)));
  for (const s of await measure(defectViews.slice(0, 200))) faulty.observe(s);
  const moved = ['image.brightness', 'image.contrast', 'image.sharpness'].map((subject) => ({ subject, good: steadyPsi, defects: psi(faulty, subject) }));
  assert.ok(moved.some((m) => m.defects > 0.25), `defect tiles move at least one statistic past the alarm level: ${JSON.stringify(moved)}`);
  assert.ok(psi(faulty, 'image.brightness') > steadyPsi || psi(faulty, 'image.sharpness') > steadyPsi, JSON.stringify(moved));
});
