import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../../agent/agent.js';
import type { Clock } from '../../agent/clock.js';
import { ConfigSchema } from '../../agent/config/schema.js';
import { defectModelEntry, writeDefectModel } from '../../agent/demo/defect-model.js';
import { startArtifactServer, type ArtifactServer } from '../../central/serve.js';
import { startBroker, type TestBroker } from './broker.js';
import { goldenFiles, makeKey, silentLog } from './rollout-rig.js';

/*
 * What in-process rollout tests share: a broker, an artifact server over a bundles folder,
 * golden images, a trusted signing key, and agents with a synthetic camera and rollout on.
 */

export interface RolloutBench {
  broker: TestBroker;
  server: ArtifactServer;
  root: string;
  bundles: string;
  goldens: string[];
  ops: ReturnType<typeof makeKey>;
  close(): Promise<void>;
}

export async function startRolloutBench(name: string, keyId = 'ops-test'): Promise<RolloutBench> {
  const broker = await startBroker();
  const root = await mkdtemp(join(tmpdir(), `${name}-`));
  const bundles = join(root, 'bundles');
  await mkdir(bundles, { recursive: true });
  const goldens = await goldenFiles(join(root, 'goldens'));
  const server = await startArtifactServer({ dir: bundles, log: silentLog });
  return {
    broker,
    server,
    root,
    bundles,
    goldens,
    ops: makeKey(keyId),
    async close() {
      await server.close();
      await broker.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}

export interface InProcessAgentSpec {
  site?: string;
  /** Merged over the defaults (quick gates, no jitter); nested objects are replaced whole. */
  rollout?: Record<string, unknown>;
  status?: Record<string, unknown>;
  /** Merged over the store's defaults (path in the device's folder). */
  buffer?: Record<string, unknown>;
  clock?: Clock;
}

/** A started agent in this process, with one synthetic camera and rollout trusting the bench's key. */
export async function inProcessAgent(bench: RolloutBench, device: string, spec: InProcessAgentSpec = {}): Promise<Agent> {
  const dir = join(bench.root, device);
  const config = ConfigSchema.parse({
    deviceId: device,
    site: spec.site ?? 'plant-a',
    log: { level: 'silent' },
    sources: [{ id: 'cam1', type: 'synthetic', fps: 40, width: 320, height: 240, defectRate: 0.3 }],
    models: [defectModelEntry(await writeDefectModel(join(dir, 'models')))],
    buffer: { path: join(dir, 'agent.db'), ...spec.buffer },
    broker: { url: bench.broker.url, protocolVersion: bench.broker.protocolVersion, reconnect: { minMs: 100, maxMs: 1000 } },
    status: spec.status ?? { enabled: false },
    rollout: {
      enabled: true,
      trustedKeys: [{ id: bench.ops.signer.keyId, publicKey: bench.ops.publicKeyPem }],
      dir: join(dir, 'bundles'),
      jitterMs: 0,
      shadow: { count: 8 },
      // Generous: a loaded test machine must not fail good models on latency.
      probation: { count: 16, latencyP99Ms: 400 },
      download: { minFreeBytes: 0, backoff: { minMs: 50, maxMs: 200 } },
      ...spec.rollout,
    },
  });
  const agent = await Agent.create({ config, baseDir: dir, log: silentLog, ...(spec.clock ? { clock: spec.clock } : {}) });
  await agent.start();
  return agent;
}
