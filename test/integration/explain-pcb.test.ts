import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { CheckedExplanation, OcclusionMap, occlusionHeat } from '../../protocol/explanations.js';
import { agentConfig, writeConfig } from '../helpers/agent-process.js';
import { startRig } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait.js';

const DATA = join(process.cwd(), '..', 'shared', 'data');
const PCB = ['Defective_02.png', 'Defective_25.png', 'Normal_33.png', 'Normal_35.png'];

test('PCB photos through SqueezeNet: occlusion maps stored beside the predictions, synced to central and returned by the API', { timeout: 180_000 }, async (t) => {
  const model = join(DATA, 'models', 'winml_SqueezeNet_fp16.onnx');
  if (!existsSync(model) || !PCB.every((f) => existsSync(join(DATA, 'images', 'pcb_winml', f)))) return t.skip(`skipped: ${DATA} is absent (the real third-party models and images)`);
  const rig = await startRig(t);
  const device = 'explain-pcb';
  const config = agentConfig({ deviceId: device, broker: rig.broker, modelPath: rig.modelPath });
  config.models = [
    {
      name: 'squeezenet',
      version: '1.1.0',
      path: model,
      labelsFile: join(DATA, 'models', 'imagenet_labels_winml.txt'),
      preprocess: { width: 224, height: 224, channels: 'BGR', scale: 1, dtype: 'float16' },
      explain: { sampleRate: 1, grid: 6, overlay: true, syncOverlay: true, cpuShare: 200 },
    },
  ];
  const agent = await rig.startAgent(await writeConfig(rig.dir, config));
  await mkdir(rig.inbox, { recursive: true });
  for (const f of PCB) {
    // Written beside and moved in, as a camera would: the folder never sees a half file.
    await copyFile(join(DATA, 'images', 'pcb_winml', f), join(rig.dir, f));
    await rename(join(rig.dir, f), join(rig.inbox, f));
  }

  const count = (sql: string) => rig.ingest.database.prepare<[string], number>(sql).pluck().get(device) ?? 0;
  const arrived = () => count('SELECT count(*) FROM predictions WHERE device = ?') === 4 && count('SELECT count(*) FROM explanations WHERE device = ?') === 4;
  await waitFor('4 predictions and 4 explanations at central', arrived, 120_000, 100).catch(async (err: Error) => {
    throw new Error(`${err.message}: ${JSON.stringify((await agent.status()).explanations)}\n${agent.tail()}`);
  });

  const central = rig.ingest.database
    .prepare<[string], { seq: number; model: string; method: string; values: string }>('SELECT seq, model, method, "values" FROM explanations WHERE device = ? ORDER BY seq')
    .all(device);
  for (const row of central) {
    const e = CheckedExplanation.parse({ seq: row.seq, ts: 0, model: row.model, method: row.method, values: JSON.parse(row.values) });
    assert.equal(e.method, 'occlusion');
    const map = OcclusionMap.parse(e.values);
    assert.equal(map.rows * map.cols, 36);
    assert.equal(occlusionHeat(map).length, 36);
    assert.ok(map.overlay, 'the overlay went along (syncOverlay)');
    assert.equal((await sharp(Buffer.from(map.overlay, 'base64')).metadata()).format, 'png');
    assert.equal(map.batched, false, 'SqueezeNet takes one image per run');

    // The same prediction, with its explanation, from the gateway's API.
    const res = await fetch(`${agent.statusUrl}/api/predictions/${row.seq}`);
    assert.equal(res.status, 200);
    const detail = (await res.json()) as { seq: number; label: string; frameId: string; explanation: { method: string; values: unknown; sentAt: number | null } | null };
    assert.ok(detail.explanation, `prediction ${row.seq} has its explanation`);
    assert.equal(detail.explanation.method, 'occlusion');
    assert.deepEqual(detail.explanation.values, map, 'what central holds is what the gateway stored');
    assert.ok(detail.explanation.sentAt !== null, 'marked sent after the broker acknowledged it');
    assert.equal(map.label, detail.label, 'the map explains the class the prediction named');
    assert.ok(PCB.includes(detail.frameId), detail.frameId);
  }
  const status = await agent.status();
  assert.equal(status.explanations?.explained, 4);
  const metrics = await (await fetch(`${agent.statusUrl}/metrics`)).text();
  assert.match(metrics, /^edge_agent_explanations_total 4$/m);
  assert.equal(await agent.stop('SIGTERM'), 0, agent.tail());

  // On the gateway, beside the prediction, and kept longer under the quota (eviction class "explained").
  const db = new Database(rig.dbPath, { readonly: true });
  t.after(() => db.close());
  const rows = db.prepare<[], { seq: number; keep: number; sent: number }>('SELECT p.seq, p.keep, e.sent_at IS NOT NULL AS sent FROM predictions p JOIN explanations e ON e.seq = p.seq').all();
  assert.equal(rows.length, 4);
  assert.ok(rows.every((r) => r.keep === 2 && r.sent === 1), JSON.stringify(rows));
});
