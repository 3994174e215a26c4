import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { stringify } from 'yaml';
import { Agent } from '../../agent/agent.js';
import { ConfigSchema } from '../../agent/config/schema.js';
import { defectModelEntry, writeDefectModel } from '../../agent/demo/defect-model.js';
import { encodePartJpeg, renderPart } from '../../agent/sources/camera/synthetic-part.js';
import { startBroker } from '../helpers/broker.js';
import { startIngest } from '../helpers/central.js';
import { runBin } from '../helpers/child.js';
import { silentLog } from '../helpers/rollout-rig.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/*
 * From a reference folder to a labelling folder: `edgectl profile` measures the config
 * model's reference, the running agent watches drift against it and captures inputs, the
 * captured inputs reach central ingest, and `edgectl samples pull` writes them out with
 * the sequence numbers of their predictions.
 */

test('profile, watch, capture, forward and pull: captured inputs reach a labelling folder', { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t, 'drift-capture-');
  const broker = await startBroker();
  t.after(() => broker.stop());
  const ingestDb = join(dir, 'central', 'ingest.db');
  await mkdir(join(dir, 'central'), { recursive: true });
  await startIngest(t, broker, ingestDb);

  const entry = defectModelEntry(await writeDefectModel(join(dir, 'models')));
  const reference = join(dir, 'reference');
  await mkdir(reference, { recursive: true });
  for (let i = 0; i < 40; i++) await writeFile(join(reference, `part-${String(i).padStart(3, '0')}.jpg`), await encodePartJpeg(renderPart(i, { width: 320, height: 240, defectRate: 0.2, seed: 9 })));
  const settings = join(dir, 'defect.settings.yaml');
  await writeFile(settings, stringify({ input: entry.input, preprocess: entry.preprocess, output: entry.output, labels: entry.labels }));
  const profileFile = join(dir, 'defect.profile.json');
  const profiled = await runBin('edgectl', ['profile', '--model', entry.path, '--settings', settings, '--reference', reference, '--out', profileFile, '--name', 'defect']);
  assert.equal(profiled.code, 0, profiled.stderr);
  assert.match(profiled.stdout, /reference profile of 40 images/);
  const profile = JSON.parse(await readFile(profileFile, 'utf8')) as { samples: number; image: Record<string, unknown> };
  assert.equal(profile.samples, 40);
  assert.ok(profile.image.brightness && profile.image.sharpness);

  const config = ConfigSchema.parse({
    deviceId: 'gw-capture',
    site: 'plant-d',
    log: { level: 'silent' },
    sources: [{ id: 'cam1', type: 'synthetic', fps: 40, width: 320, height: 240, defectRate: 0.2, seed: 5 }],
    // Capture every input (below confidence 1), at most 5 per window of 20.
    models: [{ ...entry, drift: { referenceFile: profileFile, window: { count: 20 }, minSamples: 20, capture: { belowConfidence: 1, perWindow: 5 } } }],
    buffer: { path: join(dir, 'agent.db') },
    broker: { url: broker.url, protocolVersion: broker.protocolVersion, telemetryS: 1, reconnect: { minMs: 100, maxMs: 1000 } },
    status: { enabled: false },
  });
  const agent = await Agent.create({ config, baseDir: dir, log: silentLog });
  await agent.start();
  try {
    await waitFor('three drift windows', () => (agent.snapshot().drift.models?.[0]?.windows ?? 0) >= 3, 20_000);
    const view = agent.snapshot().drift;
    assert.equal(view.configured, true);
    assert.ok(view.gauges.some((g) => g.name === 'image.brightness' && g.threshold === 0.25), JSON.stringify(view.gauges));
    const windows = agent.store.database.prepare("SELECT COUNT(*) AS n FROM drift_windows WHERE model = 'defect'").get() as { n: number };
    assert.ok(windows.n >= 3);
    await waitFor('captured samples at central', () => {
      const db = new Database(ingestDb, { readonly: true });
      try {
        return (db.prepare("SELECT COUNT(*) AS n FROM samples WHERE device = 'gw-capture'").get() as { n: number }).n >= 10;
      } finally {
        db.close();
      }
    }, 20_000);
    // Each closed window's statistics travel with the health stream, stored once per (device, id).
    const sent = () => agent.store.database.prepare("SELECT id, model, samples, level, stats FROM drift_windows WHERE sent_at IS NOT NULL ORDER BY id").all() as Array<{ id: number; model: string; samples: number; level: string; stats: string }>;
    await waitFor('drift windows marked sent', () => sent().length >= 3, 20_000);
    const atCentral = new Database(ingestDb, { readonly: true });
    try {
      for (const w of sent()) {
        const row = atCentral.prepare("SELECT model, samples, level, stats FROM drift_windows WHERE device = 'gw-capture' AND id = ?").get(w.id) as typeof w | undefined;
        assert.ok(row, `drift window ${w.id} reached central`);
        assert.deepEqual({ ...row, stats: JSON.parse(row.stats) as unknown }, { model: w.model, samples: w.samples, level: w.level, stats: JSON.parse(w.stats) as unknown });
      }
      const stats = JSON.parse(sent()[0]!.stats) as Array<{ subject: string; statistic: string }>;
      assert.ok(stats.some((x) => x.subject === 'image.brightness' && x.statistic === 'psi'), JSON.stringify(stats.slice(0, 5)));
    } finally {
      atCentral.close();
    }
  } finally {
    await agent.stop();
  }
  const out = join(dir, 'to-label');
  const pulled = await runBin('edgectl', ['samples', 'pull', '--db', `sqlite:${ingestDb}`, '--device', 'gw-capture', '--out', out]);
  assert.equal(pulled.code, 0, pulled.stderr);
  const index = (await readFile(join(out, 'samples.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { id: number; seq: number; file: string; mediaType: string; reason: string });
  assert.ok(index.length >= 10);
  const local = new Database(join(dir, 'agent.db'), { readonly: true });
  try {
    for (const s of index) {
      assert.equal(s.mediaType, 'image/jpeg');
      assert.ok(['low-confidence', 'drift-alarm'].includes(s.reason), `captured for a reason drift gives: ${s.reason}`);
      const jpeg = await readFile(join(out, s.file));
      assert.deepEqual([...jpeg.subarray(0, 3)], [0xff, 0xd8, 0xff], `${s.file} is a JPEG`);
      const row = local.prepare('SELECT seq FROM predictions WHERE seq = ?').get(s.seq) as { seq: number } | undefined;
      assert.ok(row, `sample ${s.id} names prediction ${s.seq}, which the agent committed`);
    }
  } finally {
    local.close();
  }
});
