import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { type Artifact, type ModelManifest, modelArtifact } from '../../protocol/manifest.js';
import type { Clock } from '../clock.js';
import type { EventSink } from '../events.js';
import type { RolloutConfig } from '../config/rollout-schema.js';
import type { ModelConfig } from '../config/schema.js';
import { AgentError, errorMessage } from '../errors.js';
import { failpoint } from '../failpoint.js';
import { ImageClassifierModel } from '../inference/image-model.js';
import type { ReleasableModel, ServingModel } from '../inference/serving-model.js';
import { downloadArtifact, type DownloadProgress } from './download.js';
import { type ChunkChannel, downloadArtifactOverMqtt } from './download-mqtt.js';
import { ProbationGate, ShadowGate, type Verdict } from './gates.js';
import type { RolloutReporter } from './reporter.js';
import type { RolloutJob, RolloutStore } from './rollout-store.js';
import { ensureModelsQuota } from './models-quota.js';
import type { ShadowCapture } from './shadow-capture.js';
import { smokeTest } from './smoke-test.js';

export interface ModelSwitchOptions {
  store: RolloutStore;
  config: RolloutConfig;
  /** The serving slots by model name, and the agent config's entry for each (threads, input). */
  slots: ReadonlyMap<string, { serving: ServingModel; config: ModelConfig }>;
  reporter: RolloutReporter;
  /** The broker's retained artifact chunks, for `download.via` mqtt and auto. */
  chunks?: { channel: ChunkChannel; topicPrefix: string };
  modelsQuotaBytes?: number;
  /** Keeps the inputs the candidate disagrees on during shadow. */
  shadowCapture?: ShadowCapture | undefined;
  events?: EventSink;
  clock: Clock;
  log: Logger;
}

export type SwitchOutcome = 'committed' | 'rolled-back' | 'failed' | 'aborted';

/** Where a model version's bundle lives on disk. */
export function installDir(root: string, m: Pick<ModelManifest, 'name' | 'counter' | 'version'>): string {
  return join(root, m.name, `${m.counter}-${m.version}`);
}

/** The agent-config form of a manifest's model, so it loads exactly like a configured one. */
export function modelConfigOf(m: ModelManifest, path: string, base: ModelConfig): ModelConfig {
  return { ...base, version: m.version, path, labels: m.labels, labelsFile: undefined, input: m.inputs[0]?.name, preprocess: m.preprocess, output: { ...m.output, type: 'classifier' } };
}

/**
 * Runs one model switch through its persisted steps: download → verify → load → smoke test
 * → shadow → switch → probation → committed. Any failure before the switch leaves the
 * serving model untouched; any failure after it swaps the previous model back. Each step
 * is written to SQLite before it runs, so after a power cut the job resumes: steps before
 * the switch run again (the download resumes, a verified file is kept), probation resumes
 * with the new model serving and the previous one loaded for a rollback.
 */
export class ModelSwitch {
  constructor(private readonly opts: ModelSwitchOptions) {}

  async run(job: RolloutJob, manifest: ModelManifest, previous: ReleasableModel | undefined, signal: AbortSignal): Promise<SwitchOutcome> {
    const { store, reporter } = this.opts;
    const ref = { name: job.name, version: job.version, counter: job.counter };
    const report = { candidate: ref, desiredCounter: job.desiredCounter ?? undefined, rolloutId: job.rolloutId ?? undefined };
    const slot = this.opts.slots.get(job.name);
    if (!slot) return this.fail(job, report, `no model named "${job.name}" in this agent's config; a rollout can only replace a configured model`);
    let candidate: ImageClassifierModel | undefined;
    const previousCounter = store.serving(job.name)?.counter ?? null;
    try {
      if (job.step !== 'probation') {
        candidate = await this.prepare(job, manifest, slot, report, signal);
        if (!candidate) return signal.aborted ? 'aborted' : 'failed';
        this.step(job, 'switch');
        reporter.transition('switching', report);
        previous = slot.serving.swap(candidate);
        failpoint('rollout:swapped');
        try {
          store.switchTo(job.name, job.counter, previousCounter === job.counter ? null : previousCounter, this.opts.clock.now());
        } catch (err) {
          // Not recorded, so not switched: the model that SQLite says serves goes back.
          slot.serving.swap(previous);
          throw err;
        }
        failpoint('rollout:probation');
      }
      reporter.transition('probation', report);
      const verdict = await this.probation(slot.serving, manifest, job.baselineConfidence ?? 0, signal);
      failpoint('rollout:judged');
      if (signal.aborted) return 'aborted';
      const at = this.opts.clock.now();
      if (verdict.ok) {
        store.commit(job.name, at);
        failpoint('rollout:committed');
        reporter.transition('committed', { ...report, reason: verdict.summary });
        await previous?.release();
        await this.prune(job.name);
        return 'committed';
      }
      const record = store.serving(job.name);
      if (previous) slot.serving.swap(previous).release().catch(() => {});
      store.restore(job.name, record?.previousCounter ?? null, { counter: job.counter, reason: verdict.reason }, at);
      reporter.transition('rolled-back', { ...report, reason: verdict.reason });
      return 'rolled-back';
    } catch (err) {
      if (slot.serving.model !== candidate) await candidate?.release().catch(() => {});
      // Stopped mid-step: the job stays in SQLite and resumes at the next start.
      if (signal.aborted) return 'aborted';
      return this.fail(job, report, errorMessage(err));
    }
  }

  /** Everything before the switch; undefined when the candidate failed (reported) or the stop came first. */
  private async prepare(
    job: RolloutJob,
    manifest: ModelManifest,
    slot: { serving: ServingModel; config: ModelConfig },
    report: { candidate: { name: string; version: string; counter: number } },
    signal: AbortSignal,
  ): Promise<ImageClassifierModel | undefined> {
    const { reporter, config } = this.opts;
    const artifact = modelArtifact(manifest);
    const dir = installDir(config.dir, manifest);
    const path = join(dir, artifact.path);
    await mkdir(dir, { recursive: true });

    this.step(job, 'download');
    if (!(await hasVerifiedFile(path, artifact.bytes, artifact.sha256))) {
      // The bundle on disk is the artifact and the manifest beside it.
      await this.makeRoom(job, artifact.bytes + Buffer.byteLength(job.manifest));
      reporter.transition('downloading', report);
      await this.fetch(artifact, path, job, signal);
    }
    if (signal.aborted) return undefined;

    this.step(job, 'verify');
    reporter.transition('verifying', report);
    // Verified again from disk: the file may have been touched since the download.
    if (!(await hasVerifiedFile(path, artifact.bytes, artifact.sha256))) throw new AgentError('E_DOWNLOAD_SHA256', `${path} does not match the manifest's sha256 and length`);
    await writeFile(join(dir, 'manifest.json'), job.manifest);
    this.opts.store.addInstall({ name: job.name, counter: job.counter, version: job.version, dir, manifest: job.manifest, installedAt: this.opts.clock.now() });

    this.step(job, 'load');
    reporter.transition('loading', report);
    const candidate = await ImageClassifierModel.load(modelConfigOf(manifest, path, slot.config), dir);
    try {
      this.step(job, 'smoke-test');
      reporter.transition('smoke-test', report);
      const smoke = await smokeTest(candidate, manifest, this.latencyBudget(manifest));
      if (!smoke.ok) throw new AgentError('E_SMOKE_TEST', `smoke test failed: ${smoke.reason}`);

      this.step(job, 'shadow');
      reporter.transition('shadow', report);
      const gate = new ShadowGate(config.shadow.count, config.shadow.minAgreement);
      const watched = this.opts.shadowCapture?.around(gate, manifest.name, manifest.version, config.shadow.capture);
      slot.serving.startShadow(candidate, watched ?? gate);
      const shadow = await within(gate.verdict(), config.shadow.timeoutMs, signal, `shadow did not see ${config.shadow.count} live inputs in ${config.shadow.timeoutMs} ms`).finally(() => watched?.end());
      slot.serving.endShadow();
      job.baselineConfidence = gate.baselineConfidence;
      this.opts.store.setBaseline(gate.baselineConfidence);
      if (signal.aborted) {
        await candidate.release();
        return undefined;
      }
      if (!shadow.ok) throw new AgentError('E_SHADOW', `shadow failed: ${shadow.reason}`);
      return candidate;
    } catch (err) {
      slot.serving.endShadow();
      await candidate.release();
      throw err;
    }
  }

  /** Room within the models quota for this download, keeping every bundle that serves or is a fallback. */
  private async makeRoom(job: RolloutJob, bytes: number): Promise<void> {
    const { modelsQuotaBytes, events, store, config, slots, log } = this.opts;
    if (modelsQuotaBytes === undefined || !events) return;
    const keep = new Set<string>([`${job.name}:${job.counter}`]);
    for (const record of store.allServing()) {
      keep.add(`${record.name}:${record.counter}`);
      if (record.previousCounter !== null) keep.add(`${record.name}:${record.previousCounter}`);
    }
    await ensureModelsQuota({ root: config.dir, quotaBytes: modelsQuotaBytes, needBytes: bytes, keep, store, names: [...slots.keys()], events, log });
  }

  /** Over HTTP from the manifest's URLs, or from the artifact's retained chunks on the broker (`download.via`). */
  private async fetch(artifact: Artifact, dest: string, job: RolloutJob, signal: AbortSignal): Promise<void> {
    const { config, reporter, chunks, log } = this.opts;
    const d = config.download;
    const common = { sha256: artifact.sha256, bytes: artifact.bytes, dest, maxAttempts: d.maxAttempts, backoff: d.backoff, minFreeBytes: d.minFreeBytes, signal, log, onProgress: (p: DownloadProgress) => reporter.progress(p.bytes, p.total) };
    const overMqtt = () => {
      if (!chunks) throw new AgentError('E_NO_ARTIFACT_URL', `the manifest of ${job.name} ${job.version} names no URL for ${artifact.path} and this agent has no broker to take chunks from`);
      return downloadArtifactOverMqtt({ ...common, ...chunks, idleTimeoutMs: d.idleTimeoutMs });
    };
    if (d.via === 'mqtt' || (d.via === 'auto' && artifact.urls.length === 0)) return void (await overMqtt());
    if (artifact.urls.length === 0) throw new AgentError('E_NO_ARTIFACT_URL', `the manifest of ${job.name} ${job.version} names no URL for ${artifact.path} (rollout.download.via is http)`);
    try {
      await downloadArtifact({ ...common, urls: artifact.urls, timeoutMs: { connect: d.connectTimeoutMs, idle: d.idleTimeoutMs } });
    } catch (err) {
      if (d.via === 'http' || signal.aborted || !chunks || (err as AgentError).code === 'E_DISK_SPACE') throw err;
      log.warn({ err }, `HTTP download of ${artifact.path} gave up; trying its chunks on the broker`);
      await overMqtt();
    }
  }

  /** Judged against the serving model's confidence during shadow (none when shadow was skipped). */
  private async probation(serving: ServingModel, manifest: ModelManifest, baseline: number, signal: AbortSignal): Promise<Verdict> {
    const p = this.opts.config.probation;
    const gate = new ProbationGate({ count: p.count, maxErrorRate: p.maxErrorRate, minMeanConfidence: baseline * p.minConfidenceRatio, latencyP99Ms: this.latencyBudget(manifest) });
    serving.watch((outcome, ms) => gate.record(outcome, ms));
    try {
      return await within(gate.verdict(), p.timeoutMs, signal, `probation did not see ${p.count} predictions in ${p.timeoutMs} ms`);
    } finally {
      serving.unwatch();
    }
  }

  private latencyBudget(m: ModelManifest): number | undefined {
    return m.budgets?.latencyP99Ms ?? this.opts.config.probation.latencyP99Ms;
  }

  private step(job: RolloutJob, step: RolloutJob['step']): void {
    job.step = step;
    this.opts.store.setStep(step, this.opts.clock.now());
    failpoint(`rollout:${step}`);
  }

  private fail(job: RolloutJob, report: object, reason: string): SwitchOutcome {
    const { store, reporter } = this.opts;
    store.markFailed(job.name, job.counter, reason, this.opts.clock.now());
    store.endJob();
    reporter.transition('failed', { ...report, reason });
    return 'failed';
  }

  /** Keeps the newest `keep` bundles of a model, and always the serving one and its fallback. */
  private async prune(name: string): Promise<void> {
    const { store, config } = this.opts;
    const serving = store.serving(name);
    const protectedCounters = new Set([serving?.counter, serving?.previousCounter]);
    for (const install of store.installs(name).slice(config.keep)) {
      if (protectedCounters.has(install.counter)) continue;
      store.removeInstall(name, install.counter);
      await rm(install.dir, { recursive: true, force: true }).catch((err: unknown) => this.opts.log.warn({ err, dir: install.dir }, 'could not remove an old bundle'));
    }
  }
}

/** Whether `path` exists with exactly `bytes` bytes and this sha256. */
export async function hasVerifiedFile(path: string, bytes: number, sha256: string): Promise<boolean> {
  try {
    if ((await stat(path)).size !== bytes) return false;
  } catch {
    return false;
  }
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex') === sha256.toLowerCase();
}

/** The verdict, a failed one after `timeoutMs`, or the stop. */
function within(verdict: Promise<Verdict>, timeoutMs: number, signal: AbortSignal, timeoutReason: string): Promise<Verdict> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish({ ok: false, reason: timeoutReason }), timeoutMs);
    const onAbort = () => finish({ ok: false, reason: 'stopping' });
    signal.addEventListener('abort', onAbort, { once: true });
    void verdict.then(finish);
    function finish(v: Verdict) {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(v);
    }
  });
}
