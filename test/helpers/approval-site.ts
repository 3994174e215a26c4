import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Agent } from '../../agent/agent.js';
import { writeDefectModel } from '../../agent/demo/defect-model.js';
import { generateSigningKey, type GeneratedKey } from '../../central/keys/keygen.js';
import { loadSigner } from '../../central/keys/signer.js';
import { trustStoreFrom, type Signer, type TrustStore } from '../../protocol/signing.js';
import { manifestTopic } from '../../protocol/topics.js';
import { inProcessAgent, startRolloutBench, type RolloutBench } from './rollout-bench.js';
import { packDefect, PREFIX, publishRetained } from './rollout-rig.js';

/*
 * A site, plant-a, that requires two signatures from the approver role (ds-alice, qe-bob)
 * on every desired state its devices take: a broker, an artifact server, key files made
 * by edgectl's keygen (ops signs, carol is trusted but in no role), and one real agent in
 * this process trusting them.
 */

export interface ApprovalSite {
  bench: RolloutBench;
  keys: Record<'ops' | 'alice' | 'bob' | 'carol', GeneratedKey>;
  signers: Record<'ops' | 'alice' | 'bob', Signer>;
  opsTrust: TrustStore;
  agent: Agent;
  device: string;
  /** The version of `defect` the agent serves. */
  serving(): string | undefined;
  /** Packs the defect model as `version` (signed by ops) and retains its manifest. */
  publishVersion(version: string, counter: number): Promise<void>;
  close(): Promise<void>;
}

export async function startApprovalSite(name: string, device: string): Promise<ApprovalSite> {
  const bench = await startRolloutBench(name);
  const dir = join(bench.root, 'keys');
  const keys = {
    ops: await generateSigningKey('ops', dir),
    alice: await generateSigningKey('ds-alice', dir),
    bob: await generateSigningKey('qe-bob', dir),
    carol: await generateSigningKey('carol', dir),
  };
  const signers = { ops: (await loadSigner(keys.ops.keyFile)).signer, alice: (await loadSigner(keys.alice.keyFile)).signer, bob: (await loadSigner(keys.bob.keyFile)).signer };
  const trusted = trustStoreFrom([{ id: 'ops', publicKey: await readFile(keys.ops.publicKeyFile, 'utf8') }]);
  assert.ok(trusted.ok);
  const agent = await inProcessAgent(bench, device, {
    site: 'plant-a',
    rollout: {
      trustedKeys: [keys.ops, keys.alice, keys.bob, keys.carol].map((k) => ({ id: k.keyId, publicKeyFile: k.publicKeyFile })),
      approvals: { roles: { approver: ['ds-alice', 'qe-bob'] }, rules: [{ target: 'site:plant-a', role: 'approver', minSignatures: 2 }] },
      // The same model goes out each time: short, lenient gates keep a loaded machine from failing it.
      shadow: { count: 4 },
      probation: { count: 8, latencyP99Ms: 5000 },
    },
  });
  const model = await writeDefectModel(join(bench.root, 'src'));
  return {
    bench,
    keys,
    signers,
    opsTrust: trusted.trust,
    agent,
    device,
    serving: () => agent.rollout.serving().find((m) => m.name === 'defect')?.version,
    async publishVersion(version, counter) {
      const bundle = await packDefect({ modelFile: model, version, counter, signer: signers.ops, root: bench.bundles, urlBase: bench.server.url, goldens: bench.goldens });
      await publishRetained(bench.broker.url, bench.broker.protocolVersion, [{ topic: manifestTopic(PREFIX, 'defect', version), payload: JSON.stringify(bundle.envelope) }]);
    },
    async close() {
      await agent.stop();
      await bench.close();
    },
  };
}
