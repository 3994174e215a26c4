import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { defectModelEntry, writeDefectModel } from '../../agent/demo/defect-model.js';
import { AgentProcess, writeConfig } from './agent-process.js';
import { startRolloutBench, type RolloutBench } from './rollout-bench.js';
import { waitFor } from './wait.js';

/*
 * Agents as processes with rollout on, for the tests that stop them the hard way in the
 * middle of a model switch: a broker, an artifact server, a signing key, and ways to read
 * what the agent's SQLite file says while the agent is down.
 */

export interface Device {
  id: string;
  dir: string;
  db: string;
  config: string;
}

export interface SwitchRig extends RolloutBench {
  /** Writes the config of one agent with a synthetic camera and rollout on. */
  device(id: string, rollout?: Record<string, unknown>): Promise<Device>;
  /** The agent as a process; EDGE_AGENT_KILL_AT set when `killAt` is given. */
  spawn(d: Device, killAt?: string): AgentProcess;
}

export async function startSwitchRig(name: string): Promise<SwitchRig> {
  const bench = await startRolloutBench(name, 'ops-switch');
  const { broker, root, ops } = bench;
  const configModel = await writeDefectModel(join(root, 'config-model'));
  const processes: AgentProcess[] = [];
  return {
    ...bench,
    async device(id, rollout = {}) {
      const dir = join(root, id);
      const config = await writeConfig(root, {
        deviceId: id,
        site: 'plant-k',
        log: { level: 'info' },
        sources: [{ id: 'cam1', type: 'synthetic', fps: 40, width: 320, height: 240, defectRate: 0.3 }],
        models: [defectModelEntry(configModel)],
        buffer: { path: join(dir, 'agent.db'), lingerMs: 5 },
        broker: { url: broker.url, protocolVersion: broker.protocolVersion, reconnect: { minMs: 100, maxMs: 500 } },
        status: { host: '127.0.0.1', port: 0 },
        shutdown: { deadlineMs: 5000 },
        rollout: {
          enabled: true,
          trustedKeys: [{ id: 'ops-switch', publicKey: ops.publicKeyPem }],
          dir: join(dir, 'bundles'),
          jitterMs: 0,
          shadow: { count: 8 },
          // Generous for a loaded test machine.
          probation: { count: 24, latencyP99Ms: 400 },
          download: { minFreeBytes: 0, idleTimeoutMs: 1000, backoff: { minMs: 50, maxMs: 200 } },
          ...rollout,
        },
      }, `${id}.yaml`);
      return { id, dir, db: join(dir, 'agent.db'), config };
    },
    spawn(d, killAt) {
      const p = new AgentProcess(d.config, { env: { EDGE_AGENT_KILL_AT: killAt } });
      processes.push(p);
      return p;
    },
    async close() {
      for (const p of processes) await p.kill9();
      await bench.close();
    },
  };
}

/** What the agent's SQLite file says, read while the agent is down. */
export function persisted(d: Device) {
  const db = new Database(d.db, { readonly: true });
  try {
    const job = db.prepare('SELECT step, counter FROM rollout_job').get() as { step: string; counter: number } | undefined;
    const serving = db.prepare("SELECT counter, state FROM model_serving WHERE name = 'defect'").get() as { counter: number; state: string } | undefined;
    const failed = db.prepare("SELECT counter, reason FROM failed_models WHERE name = 'defect'").all() as Array<{ counter: number; reason: string }>;
    const predictions = (db.prepare('SELECT COUNT(*) AS n, MAX(seq) AS last FROM predictions').get() as { n: number; last: number | null });
    return { job, serving, failed, predictions, integrity: db.pragma('quick_check', { simple: true }) as string };
  } finally {
    db.close();
  }
}

/** Restarts the agent: one model serves, the report says which and why, and the page and predictions agree. */
export async function settledAfterRestart(rig: SwitchRig, d: Device, expectVersion: string, expectState: 'committed' | 'rolled-back') {
  const agent = rig.spawn(d);
  await agent.ready();
  let last = '';
  await waitFor(`${d.id} to settle on ${expectVersion}`, async () => {
    const s = await agent.status();
    const m = s.models.find((x) => x.name === 'defect');
    last = JSON.stringify(m?.rollout);
    return m?.version === expectVersion && m.rollout.state === expectState;
  }, 30_000).catch((err: Error) => assert.fail(`${err.message}; last rollout view ${last}\n${agent.tail()}`));
  const status = await agent.status();
  assert.deepEqual(status.models.map((m) => `${m.name}@${m.version}`), [`defect@${expectVersion}`], 'exactly one model serves');
  const served = status.models[0]!.predictions;
  await waitFor('predictions from the serving model', async () => (await agent.status()).models[0]!.predictions > served + 5, 10_000);
  assert.equal(await agent.stop('SIGTERM'), 0, agent.tail());
  const db = new Database(d.db, { readonly: true });
  try {
    const versions = db.prepare('SELECT DISTINCT model_version AS v FROM predictions WHERE seq > (SELECT MAX(seq) - 5 FROM predictions)').all() as Array<{ v: string }>;
    assert.deepEqual(versions.map((r) => r.v), [expectVersion], 'the last predictions come from the serving model');
  } finally {
    db.close();
  }
  const after = persisted(d);
  assert.equal(after.integrity, 'ok');
  assert.equal(after.job, undefined, 'no switch left half done');
  return { status, after, agent };
}

/** No partial file anywhere under the bundles, and every model file matches its manifest. */
export async function bundlesIntact(d: Device): Promise<void> {
  const walk = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)])) : []);
  const files = walk(join(d.dir, 'bundles'));
  assert.deepEqual(files.filter((f) => f.endsWith('.part')), [], 'no partial download left');
  for (const model of files.filter((f) => f.endsWith('model.onnx'))) {
    const manifest = JSON.parse(await readFile(join(model, '..', 'manifest.json'), 'utf8')) as { payload: { artifacts: Array<{ sha256: string }> } };
    assert.equal(createHash('sha256').update(await readFile(model)).digest('hex'), manifest.payload.artifacts[0]!.sha256, `${model} is the signed bytes`);
  }
}
