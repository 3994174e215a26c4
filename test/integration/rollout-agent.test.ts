import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Agent } from '../../agent/agent.js';
import { writeDefectModel } from '../../agent/demo/defect-model.js';
import { publishArtifactChunks } from '../../central/publish/artifact-chunks.js';
import { BrokerClient } from '../../central/rollout/connection.js';
import type { ArtifactServer } from '../../central/serve.js';
import type { RolloutReport } from '../../protocol/rollout-state.js';
import { desiredStateTopic, deviceTopics, manifestTopic } from '../../protocol/topics.js';
import type { TestBroker } from '../helpers/broker.js';
import { writeFailingModel } from '../helpers/failing-models.js';
import { inProcessAgent, startRolloutBench, type RolloutBench } from '../helpers/rollout-bench.js';
import { desiredFor, makeKey, packDefect, PREFIX, publishRetained, rolloutMessages, silentLog } from '../helpers/rollout-rig.js';
import { waitFor } from '../helpers/wait.js';

const PCB_AOI = new URL('../../../shared/data/models/pcb-aoi.onnx', import.meta.url).pathname;

let bench: RolloutBench;
let broker: TestBroker;
let server: ArtifactServer;
let root: string;
let bundles: string;
let goldens: string[];
let ops: RolloutBench['ops'];
const stranger = makeKey('ops-test');

before(async () => {
  bench = await startRolloutBench('rollout-agent');
  ({ broker, server, root, bundles, goldens, ops } = bench);
});
after(() => bench?.close());

/** An agent with one synthetic camera and rollout on, in-process. */
function startAgent(device: string, rollout: Record<string, unknown> = {}, status: Record<string, unknown> = { enabled: false }) {
  return inProcessAgent(bench, device, { rollout, status });
}

async function settled(agent: Agent, version: string): Promise<RolloutReport> {
  await waitFor(`rollout of ${version} to settle`, () => {
    const r = agent.rollout.report;
    return r.candidate?.version === version && ['committed', 'rolled-back', 'failed'].includes(r.state);
  }, 60_000);
  return agent.rollout.report;
}

function servingVersion(agent: Agent): string | undefined {
  return agent.rollout.serving().find((m) => m.name === 'defect')?.version;
}

function events(agent: Agent, kind: string) {
  return agent.store.events.list({ kind, limit: 50 });
}

test('a signed model passes download, smoke test, shadow and probation, and serves; an operator can roll it back', async () => {
  const token = 'operator-token-0123456789';
  const agent = await startAgent('gw-good', {}, { host: '127.0.0.1', port: 0, token });
  try {
    const model = await writeDefectModel(join(root, 'src-good'));
    const bundle = await packDefect({ modelFile: model, version: '1.1.0', counter: 2, signer: ops.signer, root: bundles, urlBase: server.url, goldens });
    await publishRetained(broker.url, broker.protocolVersion, rolloutMessages(bundle, 'gw-good', 1, ops.signer));
    const report = await settled(agent, '1.1.0');
    assert.equal(report.state, 'committed', report.reason);
    assert.equal(servingVersion(agent), '1.1.0');
    const shown = agent.snapshot().models.find((m) => m.name === 'defect');
    assert.equal(shown?.version, '1.1.0', 'the status page shows the serving version');
    assert.equal(shown?.rollout.state, 'committed');
    const steps = agent.store.events.list({ limit: 100 }).filter((e) => e.kind.startsWith('rollout_')).map((e) => e.kind).reverse();
    for (const step of ['rollout_downloading', 'rollout_verifying', 'rollout_loading', 'rollout_smoke_test', 'rollout_shadow', 'rollout_switching', 'rollout_probation', 'rollout_committed']) {
      assert.ok(steps.includes(step), `${step} in ${steps.join(', ')}`);
    }
    assert.ok(existsSync(join(root, 'gw-good', 'bundles', 'defect', '2-1.1.0', 'model.onnx')));

    const metrics = await (await fetch(`${agent.status?.url}/metrics`)).text();
    assert.match(metrics, /^edge_agent_rollout_state\{model="defect",state="committed"\} 1$/m);
    assert.match(metrics, /^edge_agent_rollout_state\{model="defect",state="failed"\} 0$/m);

    const rollback = (auth?: string) => fetch(`${agent.status?.url}/api/actions/rollback`, { method: 'POST', headers: auth ? { authorization: `Bearer ${auth}` } : {} });
    assert.equal((await rollback()).status, 401, 'no token, no rollback');
    assert.equal(servingVersion(agent), '1.1.0');
    const done = await rollback(token);
    assert.equal(done.status, 200, await done.clone().text());
    assert.deepEqual(((await done.json()) as { result: unknown }).result, { model: 'defect', from: '1.1.0', to: '1.0.0' });
    assert.equal(servingVersion(agent), '1.0.0');
    assert.equal(agent.rollout.report.state, 'rolled-back');
    assert.equal((await rollback(token)).status, 409, 'nothing left to roll back');
  } finally {
    await agent.stop();
  }
});

for (const kind of ['nan', 'collapsed', 'slow', 'pcb-aoi'] as const) {
  test(`a model that ${kind === 'pcb-aoi' ? 'does not load' : kind === 'nan' ? 'outputs NaN' : kind === 'slow' ? 'is too slow' : 'collapses confidence'} never keeps serving, with the reason reported`, async (t) => {
    if (kind === 'pcb-aoi' && !existsSync(PCB_AOI)) return t.skip(`../shared/data absent: ${PCB_AOI}`);
    const device = `gw-${kind}`;
    // Shadow agreement off for the collapsed model, so that probation's confidence gate is
    // what judges it; a tight latency budget for the slow one (about 100 ms a frame).
    const gates = { collapsed: { shadow: { count: 8, minAgreement: 0 } }, slow: { probation: { count: 16, latencyP99Ms: 40 } }, nan: {}, 'pcb-aoi': {} }[kind];
    const agent = await startAgent(device, gates);
    try {
      const model = kind === 'pcb-aoi' ? PCB_AOI : await writeFailingModel(join(root, `src-${kind}`), kind);
      // pack refuses a model that does not load, so the bad bundle is assembled by hand from a good one.
      const bundle = await packDefect({ modelFile: kind === 'pcb-aoi' ? await writeDefectModel(join(root, 'src-aoi')) : model, version: `9.0.0-${kind}`, counter: 5, signer: ops.signer, root: bundles, urlBase: server.url, goldens: kind === 'collapsed' || kind === 'nan' ? [] : goldens });
      if (kind === 'pcb-aoi') await swapArtifact(bundle, PCB_AOI, ops.signer);
      await publishRetained(broker.url, broker.protocolVersion, rolloutMessages(bundle, device, 1, ops.signer));
      const report = await settled(agent, `9.0.0-${kind}`);
      assert.ok(['failed', 'rolled-back'].includes(report.state), `state ${report.state}`);
      const expected = { nan: /NaN/, collapsed: /confidence collapsed/, slow: /too slow/, 'pcb-aoi': /could not be loaded/ }[kind];
      assert.match(report.reason ?? '', expected);
      assert.equal(servingVersion(agent), '1.0.0', 'the previous model serves');
    } finally {
      await agent.stop();
    }
  });
}

test('where only the broker is reachable the model arrives as retained chunks: no URL at all, or after HTTP gives up', async () => {
  const ops2 = await BrokerClient.connect({ url: broker.url, protocolVersion: broker.protocolVersion, clientId: 'ops-chunks', log: silentLog });
  const agent = await startAgent('gw-chunks', { download: { minFreeBytes: 0, maxAttempts: 2, connectTimeoutMs: 500, backoff: { minMs: 20, maxMs: 50 } } });
  // What central sees of the download: the device's reports, as they are published.
  const reports: RolloutReport[] = [];
  const stopWatching = await ops2.watch([deviceTopics(PREFIX, 'gw-chunks').rollout], (_topic, payload) => reports.push(JSON.parse(payload.toString()) as RolloutReport));
  try {
    const model = await writeDefectModel(join(root, 'src-chunks'));
    let desiredCounter = 1;
    for (const [version, counter, urlBase] of [['4.0.0', 40, undefined], ['4.1.0', 41, 'http://127.0.0.1:9/never']] as const) {
      const bundle = await packDefect({ modelFile: model, version, counter, signer: ops.signer, root: bundles, urlBase, goldens });
      const artifact = bundle.manifest.artifacts[0]!;
      await publishArtifactChunks(ops2, PREFIX, { file: bundle.modelFile, path: artifact.path, sha256: artifact.sha256, bytes: artifact.bytes }, () => undefined);
      await publishRetained(broker.url, broker.protocolVersion, rolloutMessages(bundle, 'gw-chunks', desiredCounter++, ops.signer));
      const report = await settled(agent, version);
      assert.equal(report.state, 'committed', report.reason);
      assert.equal(servingVersion(agent), version);
      assert.ok(existsSync(join(root, 'gw-chunks', 'bundles', 'defect', `${counter}-${version}`, 'model.onnx')));
      const progress = reports.filter((r) => r.candidate?.version === version && r.state === 'downloading' && r.progress).map((r) => r.progress!);
      assert.ok(progress.some((p) => p.bytes === p.total && p.total === artifact.bytes), `central saw the download complete: ${JSON.stringify(progress)}`);
    }
  } finally {
    await stopWatching();
    await agent.stop();
    await ops2.close();
  }
});

test('a download that does not fit the models quota is refused before it starts, naming the quota', async () => {
  const model = await writeDefectModel(join(root, 'src-quota'));
  const packed = [];
  for (const [i, version] of ['5.0.0', '5.1.0', '5.2.0'].entries()) packed.push(await packDefect({ modelFile: model, version, counter: 50 + i, signer: ops.signer, root: bundles, urlBase: server.url, goldens }));
  // An installed bundle is its model and its manifest. Room for two and a half: the third
  // cannot come while two are kept, one serving and one to fall back to.
  const perBundle = (await stat(packed[0]!.modelFile)).size + (await stat(packed[0]!.manifestFile)).size;
  const agent = await inProcessAgent(bench, 'gw-quota', { buffer: { quota: { modelsBytes: Math.floor(perBundle * 2.5) } } });
  try {
    for (const [i, bundle] of packed.entries()) {
      const version = bundle.manifest.version;
      await publishRetained(broker.url, broker.protocolVersion, rolloutMessages(bundle, 'gw-quota', i + 1, ops.signer));
      const report = await settled(agent, version);
      if (i < 2) assert.equal(report.state, 'committed', report.reason);
      else {
        assert.equal(report.state, 'failed');
        assert.match(report.reason ?? '', /models quota \(buffer\.quota\.modelsBytes\)/);
      }
    }
    assert.equal(servingVersion(agent), '5.1.0');
    assert.ok(!existsSync(join(root, 'gw-quota', 'bundles', 'defect', '52-5.2.0', 'model.onnx')), 'nothing downloaded');
  } finally {
    await agent.stop();
  }
});

test('manifests that are unsigned, signed by an unknown key, replayed or expired are refused before download', async () => {
  const agent = await startAgent('gw-refuse');
  try {
    const model = await writeDefectModel(join(root, 'src-refuse'));
    const good = await packDefect({ modelFile: model, version: '3.0.0', counter: 30, signer: ops.signer, root: bundles, urlBase: server.url, goldens });
    await publishRetained(broker.url, broker.protocolVersion, rolloutMessages(good, 'gw-refuse', 1, ops.signer));
    assert.equal((await settled(agent, '3.0.0')).state, 'committed');

    const cases: Array<{ version: string; counter: number; make: () => Promise<string>; code: RegExp }> = [
      { version: '3.1.0', counter: 31, code: /signatures is empty/, make: async () => JSON.stringify({ payload: (await pack('3.1.0', 31)).manifest, signatures: [] }) },
      { version: '3.2.0', counter: 32, code: /signature/i, make: async () => JSON.stringify((await pack('3.2.0', 32, stranger.signer)).envelope) },
      { version: '2.0.0', counter: 20, code: /below 30|replay/i, make: async () => JSON.stringify((await pack('2.0.0', 20)).envelope) },
      { version: '3.3.0', counter: 33, code: /expired/, make: async () => JSON.stringify((await pack('3.3.0', 33, ops.signer, { expiresInMs: 1000, now: () => Date.now() - 3_600_000 })).envelope) },
    ];
    async function pack(version: string, counter: number, signer = ops.signer, extra: { expiresInMs?: number; now?: () => number } = {}) {
      return packDefect({ modelFile: model, version, counter, signer, root: bundles, urlBase: `http://127.0.0.1:9/never`, goldens, ...extra });
    }
    let desiredCounter = 2;
    for (const c of cases) {
      const manifest = await c.make();
      await publishRetained(broker.url, broker.protocolVersion, [
        { topic: manifestTopic(PREFIX, 'defect', c.version), payload: manifest },
        { topic: desiredStateTopic(PREFIX, 'device', 'gw-refuse'), payload: JSON.stringify(desiredFor('gw-refuse', desiredCounter++, ops.signer, [{ name: 'defect', version: c.version, counter: c.counter }])) },
      ]);
      const report = await settled(agent, c.version);
      assert.equal(report.state, 'failed');
      assert.match(report.reason ?? '', c.code);
      assert.equal(servingVersion(agent), '3.0.0');
      assert.ok(events(agent, 'manifest_refused').some((e) => e.message.includes(c.version)), `manifest_refused event for ${c.version}`);
      assert.ok(!existsSync(join(root, 'gw-refuse', 'bundles', 'defect', `${c.counter}-${c.version}`, 'model.onnx')), 'nothing downloaded');
    }

    // A replayed desired state (lower counter) is refused and audited; nothing changes.
    await publishRetained(broker.url, broker.protocolVersion, [
      { topic: desiredStateTopic(PREFIX, 'device', 'gw-refuse'), payload: JSON.stringify(desiredFor('gw-refuse', 1, ops.signer, [{ name: 'defect', version: '1.0.0', counter: 1 }])) },
    ]);
    await waitFor('the replayed desired state to be refused', () => events(agent, 'desired_refused').some((e) => /older than/.test(e.message)), 5000);
    assert.equal(servingVersion(agent), '3.0.0');
  } finally {
    await agent.stop();
  }
});

/** Replaces a bundle's model with another file and re-signs: a signed model that does not load. */
async function swapArtifact(bundle: Awaited<ReturnType<typeof packDefect>>, file: string, signer: typeof ops.signer) {
  const { copyFile, readFile, writeFile } = await import('node:fs/promises');
  const { createHash } = await import('node:crypto');
  const { signEnvelope } = await import('../../protocol/signing.js');
  await copyFile(file, bundle.modelFile);
  const bytes = await readFile(bundle.modelFile);
  const artifact = bundle.manifest.artifacts[0]!;
  bundle.manifest = { ...bundle.manifest, goldens: [], artifacts: [{ ...artifact, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') }] };
  bundle.envelope = signEnvelope(bundle.manifest, signer);
  await writeFile(bundle.manifestFile, JSON.stringify(bundle.envelope));
}
