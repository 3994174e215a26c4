import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { writeDefectModel } from '../../agent/demo/defect-model.js';
import { startFlakyServer } from '../helpers/flaky-http.js';
import { packDefect, publishRetained, rolloutMessages } from '../helpers/rollout-rig.js';
import { bundlesIntact, persisted, settledAfterRestart, startSwitchRig, type Device, type SwitchRig } from '../helpers/switch-rig.js';
import { waitFor } from '../helpers/wait.js';

/*
 * Fault 22 for rollout: SIGTERM while a model switch is under way. The agent stops within
 * its deadline with exit code 0, exactly one model is active, every prediction it
 * committed is still in SQLite, and the switch resumes at the next start.
 */

const DEADLINE_MS = 5000;
let rig: SwitchRig;
before(async () => {
  rig = await startSwitchRig('rollout-sigterm');
});
after(() => rig?.close());

function step(d: Device): { step: string; serving: string | null } | undefined {
  const db = new Database(d.db, { readonly: true, fileMustExist: true });
  try {
    const job = db.prepare('SELECT step FROM rollout_job').get() as { step: string } | undefined;
    const serving = db.prepare("SELECT state FROM model_serving WHERE name = 'defect'").get() as { state: string } | undefined;
    return job ? { step: job.step, serving: serving?.state ?? null } : undefined;
  } finally {
    db.close();
  }
}

/** SIGTERM, timed; the exit code and how long the stop took. */
async function terminate(agent: ReturnType<SwitchRig['spawn']>): Promise<{ code: number | null; ms: number }> {
  const t0 = performance.now();
  const code = await agent.stop('SIGTERM', DEADLINE_MS + 5000);
  return { code, ms: performance.now() - t0 };
}

test('SIGTERM during a stalled download: a clean stop in the deadline, the partial kept, the download resumed at the next start', { timeout: 90_000 }, async (t) => {
  const d = await rig.device('term-download');
  const model = await writeDefectModel(join(rig.root, 'src-dl'));
  const body = await readFile(model);
  const half = Math.floor(body.length / 2);
  const flaky = await startFlakyServer(t, body, (n) => (n === 0 ? { kind: 'stall', afterBytes: half } : { kind: 'ok' }));
  const bundle = await packDefect({ modelFile: model, version: '8.0.0', counter: 80, signer: rig.ops.signer, root: rig.bundles, urlBase: flaky.url, goldens: rig.goldens });
  const agent = rig.spawn(d);
  await agent.ready();
  await publishRetained(rig.broker.url, rig.broker.protocolVersion, rolloutMessages(bundle, d.id, 1, rig.ops.signer));
  const part = join(d.dir, 'bundles', 'defect', '80-8.0.0', 'model.onnx.part');
  await waitFor('half the model on disk', async () => existsSync(part) && (await readFile(part)).length === half, 15_000);
  const committedBefore = (await agent.status()).models[0]!.predictions;

  const stop = await terminate(agent);
  assert.equal(stop.code, 0, agent.tail());
  assert.ok(stop.ms < DEADLINE_MS, `stopped in ${stop.ms.toFixed(0)} ms, deadline ${DEADLINE_MS} ms`);
  const down = persisted(d);
  assert.equal(down.integrity, 'ok');
  assert.equal(down.job?.step, 'download', 'the job waits for the next start');
  assert.equal(down.serving, undefined, "the config's model is the one active");
  assert.ok(down.predictions.n >= committedBefore, `${down.predictions.n} predictions in SQLite, ${committedBefore} committed before the stop`);
  assert.equal(down.predictions.n, down.predictions.last, 'sequence numbers without a gap');
  assert.equal((await readFile(part)).length, half, 'the partial is kept for a resume');

  await settledAfterRestart(rig, d, '8.0.0', 'committed');
  assert.ok(flaky.requests.some((r) => r.range === `bytes=${half}-`), 'resumed with a Range request');
  await bundlesIntact(d);
});

test('SIGTERM during probation: a clean stop in the deadline with the new model active, probation resumed at the next start', { timeout: 90_000 }, async () => {
  // A long probation, so the stop surely lands in it.
  const d = await rig.device('term-probation', { probation: { count: 4000, latencyP99Ms: 400 } });
  const bundle = await packDefect({ modelFile: await writeDefectModel(join(rig.root, 'src-prob')), version: '8.1.0', counter: 81, signer: rig.ops.signer, root: rig.bundles, urlBase: rig.server.url, goldens: rig.goldens });
  const agent = rig.spawn(d);
  await agent.ready();
  await publishRetained(rig.broker.url, rig.broker.protocolVersion, rolloutMessages(bundle, d.id, 1, rig.ops.signer));
  await waitFor('probation', () => step(d)?.step === 'probation', 20_000);
  const committedBefore = (await agent.status()).models[0]!.predictions;

  const stop = await terminate(agent);
  assert.equal(stop.code, 0, agent.tail());
  assert.ok(stop.ms < DEADLINE_MS, `stopped in ${stop.ms.toFixed(0)} ms, deadline ${DEADLINE_MS} ms`);
  const down = persisted(d);
  assert.equal(down.integrity, 'ok');
  assert.deepEqual(down.serving, { counter: 81, state: 'probation' }, 'one model active: the new one, still on probation');
  assert.equal(down.job?.step, 'probation');
  assert.ok(down.predictions.n >= committedBefore);
  assert.equal(down.predictions.n, down.predictions.last, 'sequence numbers without a gap');

  // A shorter probation at the next start, so the test need not wait for 4000 frames.
  const shorter = await rig.device('term-probation');
  assert.equal(shorter.config, d.config);
  const { after } = await settledAfterRestart(rig, d, '8.1.0', 'committed');
  assert.deepEqual(after.serving, { counter: 81, state: 'committed' });
});
