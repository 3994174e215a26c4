import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeDefectModel } from '../../agent/demo/defect-model.js';
import { inProcessAgent, startRolloutBench, type RolloutBench } from '../helpers/rollout-bench.js';
import { packDefect, publishRetained, rolloutMessages } from '../helpers/rollout-rig.js';
import { waitFor } from '../helpers/wait.js';

let bench: RolloutBench;
before(async () => {
  bench = await startRolloutBench('shadow-capture');
});
after(() => bench?.close());

test('during shadow, the live inputs the candidate disagrees on are kept as samples with their predictions', { timeout: 60_000 }, async () => {
  const device = 'gw-shadow';
  // Agreement is not required, so the rollout goes on; at most 5 disagreements are kept.
  const agent = await inProcessAgent(bench, device, { rollout: { shadow: { count: 12, minAgreement: 0, capture: 5 } } });
  try {
    // The same network with its classes named the other way round: it disagrees on every input.
    const model = await writeDefectModel(join(bench.root, 'src-swapped'));
    const bundle = await packDefect({ modelFile: model, version: '2.0.0-swapped', counter: 3, signer: bench.ops.signer, root: bench.bundles, urlBase: bench.server.url, goldens: [], labels: ['defect', 'ok'] });
    await publishRetained(bench.broker.url, bench.broker.protocolVersion, rolloutMessages(bundle, device, 1, bench.ops.signer));
    await waitFor('shadow to end', () => agent.store.events.list({ kind: 'shadow_disagreements_captured', limit: 5 }).length > 0, 30_000);
    const db = agent.store.database;
    const samples = () => db.prepare("SELECT id, source, frame_id AS frameId, seq, media_type AS mediaType, reason, data FROM samples WHERE reason = 'shadow-disagreement' ORDER BY id").all() as Array<{ id: number; source: string; frameId: string; seq: number; mediaType: string; reason: string; data: Buffer }>;
    await waitFor('five samples stored', () => samples().length === 5, 10_000);
    for (const s of samples()) {
      assert.equal(s.source, 'cam1');
      assert.equal(s.mediaType, 'image/jpeg');
      assert.deepEqual([...s.data.subarray(0, 3)], [0xff, 0xd8, 0xff]);
      const prediction = db.prepare('SELECT model_version AS version, payload FROM predictions WHERE seq = ?').get(s.seq) as { version: string; payload: string } | undefined;
      assert.ok(prediction, `sample ${s.id} names prediction ${s.seq}, which the serving model committed`);
      assert.equal(prediction.version, '1.0.0', 'the prediction is the serving model’s, made while the candidate was in shadow');
      assert.equal((JSON.parse(prediction.payload) as { frameId: string }).frameId, s.frameId);
    }
    const [event] = agent.store.events.list({ kind: 'shadow_disagreements_captured', limit: 1 });
    assert.match(event!.message, /defect: 5 live inputs where candidate 2\.0\.0-swapped disagreed/);
    // Outside a rollout nothing more is captured.
    await waitFor('the rollout to settle', () => ['committed', 'rolled-back', 'failed'].includes(agent.rollout.report.state), 30_000);
    const settledCount = samples().length;
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(samples().length, settledCount);
  } finally {
    await agent.stop();
  }
});
