import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { DesiredState, DevicePlacement, ModelRef } from '../../protocol/desired-state.js';
import { checkCompatibility, checkManifestTime, MANIFEST_MAX_BYTES, ModelManifest, modelArtifact } from '../../protocol/manifest.js';
import type { ReferenceProfile } from '../../protocol/reference-profile.js';
import { checkManifestCounter } from '../../protocol/replay.js';
import { openSigned } from '../../protocol/signed-message.js';
import { type TrustStore, trustStoreFrom } from '../../protocol/signing.js';
import { desiredStateTopicsOf, manifestTopic } from '../../protocol/topics.js';
import type { SqliteDatabase } from '../buffer/database.js';
import type { Clock } from '../clock.js';
import type { RolloutConfig } from '../config/rollout-schema.js';
import type { ModelConfig } from '../config/schema.js';
import { AgentError, errorMessage } from '../errors.js';
import type { EventSink } from '../events.js';
import { ImageClassifierModel } from '../inference/image-model.js';
import type { ReleasableModel, ServingModel } from '../inference/serving-model.js';
import type { Component } from '../lifecycle/component.js';
import type { MessageHandler } from '../sync/subscriptions.js';
import { AGENT_VERSION } from '../version.js';
import { DesiredWatch, type Refusal } from './desired-watch.js';
import { modelConfigOf, ModelSwitch } from './model-switch.js';
import { type ReportChannel, RolloutReporter } from './reporter.js';
import { RolloutStore } from './rollout-store.js';
import type { ShadowCapture } from './shadow-capture.js';
import { TimeFloor } from './time-floor.js';

/** What rollout needs of the MQTT sync. */
export interface RolloutChannel extends ReportChannel {
  subscribe(filter: string, handler: MessageHandler): void;
  unsubscribe(filter: string): void;
}

export interface RolloutOptions {
  config: RolloutConfig;
  placement: DevicePlacement;
  topicPrefix: string;
  db: SqliteDatabase;
  slots: ReadonlyMap<string, { serving: ServingModel; config: ModelConfig }>;
  channel: RolloutChannel;
  /** `buffer.quota.modelsBytes`: the bundles on disk and the next download stay within it. */
  modelsQuotaBytes?: number;
  /** Keeps the live inputs a candidate disagrees on during shadow. */
  shadowCapture?: ShadowCapture;
  events: EventSink;
  clock: Clock;
  log: Logger;
  random?: () => number;
}

/**
 * Pull-based rollout on the gateway: hears signed desired state for the device, its group
 * and its site, fetches the signed manifest it names, refuses anything unsigned, replayed,
 * expired or incompatible before downloading, and runs one model switch at a time.
 */
export class Rollout implements Component {
  readonly name = 'rollout';
  private readonly store: RolloutStore;
  private readonly reporter: RolloutReporter;
  private readonly log: Logger;
  private readonly stopping = new AbortController();
  private trust: TrustStore = new Map();
  private desired: DesiredWatch | undefined;
  private switcher: ModelSwitch | undefined;
  private running: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private dirty = false;
  private wanted: { topic: string; ref: ModelRef; desired: DesiredState } | undefined;
  /** The clock validity times are checked against; see TimeFloor. */
  private readonly validity: TimeFloor;
  /** Models kept loaded to go back to while a new one is on probation. */
  private readonly fallbacks = new Map<string, ReleasableModel>();

  constructor(private readonly opts: RolloutOptions) {
    this.log = opts.log.child({ component: this.name });
    this.store = new RolloutStore(opts.db);
    this.validity = new TimeFloor(opts.clock);
    this.reporter = new RolloutReporter({
      deviceId: opts.placement.id,
      group: opts.placement.group,
      topicPrefix: opts.topicPrefix,
      channel: opts.channel,
      events: opts.events,
      clock: opts.clock,
      log: this.log,
      serving: () => this.serving(),
    });
  }

  /** Models serving now, with the manifest counter when they came from a bundle (0: the config's). */
  serving(): ModelRef[] {
    return [...this.opts.slots].map(([name, slot]) => ({ name, version: slot.serving.version, counter: this.store.serving(name)?.counter ?? 0 }));
  }

  get report() {
    return this.reporter.current;
  }

  async start(): Promise<void> {
    if (!this.opts.config.enabled) return;
    this.trust = loadTrust(this.opts.config);
    this.desired = new DesiredWatch({ prefix: this.opts.topicPrefix, placement: this.opts.placement, trust: this.trust, store: this.store, clock: this.validity, approvals: this.opts.config.approvals });
    this.switcher = new ModelSwitch({
      store: this.store,
      config: this.opts.config,
      slots: this.opts.slots,
      reporter: this.reporter,
      chunks: { channel: this.opts.channel, topicPrefix: this.opts.topicPrefix },
      ...(this.opts.modelsQuotaBytes === undefined ? {} : { modelsQuotaBytes: this.opts.modelsQuotaBytes }),
      shadowCapture: this.opts.shadowCapture,
      events: this.opts.events,
      clock: this.opts.clock,
      log: this.log,
    });
    await this.restoreServing();
    const job = this.store.job();
    if (job) this.resume(job);
    else this.restoreReport();
    for (const topic of desiredStateTopicsOf(this.opts.topicPrefix, this.opts.placement)) this.opts.channel.subscribe(topic, (t, p) => this.onDesired(t, p));
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    clearTimeout(this.timer);
    await this.running;
    for (const m of this.fallbacks.values()) await m.release();
    this.fallbacks.clear();
  }

  /**
   * A commanded rollback on this gateway (the status page's action): the newest bundle that
   * serves is replaced by the one before it, or by the config's model, from disk, offline.
   * That version is marked failed, so it is not taken again until a new desired state asks.
   */
  async rollback(reason: string): Promise<{ model: string; from: string; to: string }> {
    if (!this.opts.config.enabled) throw new AgentError('E_ROLLBACK', 'rollout is not enabled on this agent');
    if (this.running) throw new AgentError('E_ROLLBACK', 'a model switch is in progress; roll back once it has ended');
    const record = this.store.allServing()[0];
    const slot = record && this.opts.slots.get(record.name);
    if (!record || !slot) throw new AgentError('E_ROLLBACK', 'nothing to roll back: every model is the one from the config file');
    const previous = record.previousCounter === null ? await ImageClassifierModel.load(slot.config, dirname(slot.config.path)) : await this.loadInstall(record.name, record.previousCounter, slot.config);
    const from = slot.serving.version;
    await slot.serving.swap(previous).release();
    this.fallbacks.delete(record.name);
    this.store.restore(record.name, record.previousCounter, { counter: record.counter, reason }, this.opts.clock.now());
    this.reporter.transition('rolled-back', { candidate: { name: record.name, version: from, counter: record.counter }, reason });
    return { model: record.name, from, to: previous.version };
  }

  /** The reference profile a model version was packed with, when it came as a bundle. */
  bundleProfile(name: string, version: string): ReferenceProfile | undefined {
    const install = this.store.installs(name).find((i) => i.version === version);
    return install ? (manifestOf(install.manifest).referenceProfile ?? undefined) : undefined;
  }

  /** Puts back what SQLite says serves: committed bundles, and a bundle on probation with its fallback. */
  private async restoreServing(): Promise<void> {
    for (const record of this.store.allServing()) {
      const slot = this.opts.slots.get(record.name);
      if (!slot) continue;
      try {
        const model = await this.loadInstall(record.name, record.counter, slot.config);
        const configured = slot.serving.swap(model);
        if (record.state === 'committed') await configured.release();
        else if (record.previousCounter === null) this.fallbacks.set(record.name, configured);
        else {
          await configured.release();
          this.fallbacks.set(record.name, await this.loadInstall(record.name, record.previousCounter, slot.config));
        }
        this.log.info({ model: record.name, counter: record.counter, state: record.state }, 'restored the serving model from its bundle');
      } catch (err) {
        const reason = `the bundle serving ${record.name} (counter ${record.counter}) could not be loaded at start: ${errorMessage(err)}`;
        this.store.restore(record.name, null, { counter: record.counter, reason }, this.opts.clock.now());
        this.reporter.transition('rolled-back', { reason });
      }
    }
  }

  /**
   * With no switch to resume, the report says what the last one ended in. A kill between
   * the SQLite commit and its event leaves a last event short of the end: the tables, which
   * were written first, say how it ended.
   */
  private restoreReport(): void {
    const last = this.store.lastTransition();
    if (!last) return;
    const { candidate, reason, desiredCounter, rolloutId } = last;
    if (['committed', 'rolled-back', 'failed', 'idle'].includes(last.to) || !candidate) {
      return this.reporter.restore(last.to, last.from, last.at, { candidate, reason, desiredCounter, rolloutId });
    }
    const record = this.store.serving(candidate.name);
    const failure = this.store.failure(candidate.name, candidate.counter);
    const switched = last.to === 'switching' || last.to === 'probation';
    if (record?.counter === candidate.counter && record.state === 'committed') {
      this.reporter.restore('committed', last.to, record.since, { candidate, reason: 'probation passed; committed just before the agent stopped', desiredCounter, rolloutId });
    } else if (failure !== undefined) {
      this.reporter.restore(switched ? 'rolled-back' : 'failed', last.to, last.at, { candidate, reason: failure, desiredCounter, rolloutId });
    }
  }

  private async loadInstall(name: string, counter: number, base: ModelConfig): Promise<ImageClassifierModel> {
    const install = this.store.install(name, counter);
    if (!install) throw new AgentError('E_BUNDLE_MISSING', `no bundle of ${name} with counter ${counter} on disk`);
    const manifest = manifestOf(install.manifest);
    return ImageClassifierModel.load(modelConfigOf(manifest, join(install.dir, modelArtifact(manifest).path), base), install.dir);
  }

  private onDesired(topic: string, payload: Buffer): void {
    const refusal = this.desired?.accept(topic, payload);
    if (refusal?.desired && !this.running) {
      // Refused for what it says (too few approvals): central reads why in the device's rollout report.
      const candidate = refusal.desired.models.find((m) => this.opts.slots.has(m.name));
      this.reporter.transition('failed', { candidate, reason: refusal.reason, desiredCounter: refusal.desired.counter, rolloutId: refusal.desired.rollout?.id });
    }
    if (refusal) return this.refuse('desired_refused', refusal);
    this.schedule();
  }

  /** Acts after a random delay, so a fleet hearing the same desired state does not move at once. */
  private schedule(): void {
    if (this.stopping.signal.aborted || this.timer) return;
    const delay = Math.round((this.opts.random ?? Math.random)() * this.opts.config.jitterMs);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.reconcile();
    }, delay);
  }

  private reconcile(): void {
    if (this.running) {
      this.dirty = true;
      return;
    }
    const desired = this.desired?.current();
    if (!desired) return;
    for (const ref of desired.models) {
      const slot = this.opts.slots.get(ref.name);
      if (!slot) {
        this.refuse('desired_refused', { code: 'E_UNKNOWN_MODEL', reason: `desired state ${desired.counter} names model "${ref.name}", which this agent does not serve` });
        continue;
      }
      const record = this.store.serving(ref.name);
      if (record ? record.counter === ref.counter : slot.serving.version === ref.version) continue;
      const failed = this.store.failure(ref.name, ref.counter);
      if (failed && !desired.rollback) {
        this.log.debug({ model: ref.name, counter: ref.counter }, 'desired version failed here before; waiting for new desired state');
        continue;
      }
      return this.fetchManifest(ref, desired);
    }
  }

  private fetchManifest(ref: ModelRef, desired: DesiredState): void {
    const topic = manifestTopic(this.opts.topicPrefix, ref.name, ref.version);
    if (this.wanted) this.opts.channel.unsubscribe(this.wanted.topic);
    this.wanted = { topic, ref, desired };
    this.opts.channel.subscribe(topic, (t, payload) => this.onManifest(t, payload));
  }

  private onManifest(topic: string, payload: Buffer): void {
    const wanted = this.wanted;
    if (!wanted || wanted.topic !== topic || payload.length === 0 || this.running) return;
    this.opts.channel.unsubscribe(topic);
    this.wanted = undefined;
    const { ref, desired } = wanted;
    const refused = (r: Refusal) => {
      this.refuse('manifest_refused', r);
      this.reporter.transition('failed', { candidate: ref, reason: r.reason, desiredCounter: desired.counter, rolloutId: desired.rollout?.id });
    };
    const opened = openSigned(ModelManifest, payload, this.trust, { maxBytes: MANIFEST_MAX_BYTES });
    if (!opened.ok) return refused({ code: opened.code, reason: `manifest of ${ref.name} ${ref.version} refused: ${opened.reason}` });
    const m = opened.value;
    if (m.name !== ref.name || m.version !== ref.version || m.counter !== ref.counter) {
      return refused({ code: 'E_MANIFEST_MISMATCH', reason: `manifest on ${topic} is ${m.name} ${m.version} counter ${m.counter}; desired state asks for counter ${ref.counter}` });
    }
    const checks = [
      checkManifestCounter(m, this.store.highest(`model:${m.name}`), desired),
      checkManifestTime(m, this.validity.now(), { skewMs: this.opts.config.clockSkewMs }),
      checkCompatibility(m, { agentVersion: AGENT_VERSION, arch: process.arch }),
    ];
    for (const check of checks) if (!check.ok) return refused(check);
    this.store.accept(`model:${m.name}`, m.counter, m.version);
    const now = this.opts.clock.now();
    this.store.startJob({ name: m.name, counter: m.counter, version: m.version, manifest: payload.toString('utf8'), desiredCounter: desired.counter, rolloutId: desired.rollout?.id ?? null, startedAt: now });
    this.resume(this.store.job()!);
  }

  private resume(job: NonNullable<ReturnType<RolloutStore['job']>>): void {
    const switcher = this.switcher;
    if (!switcher) return;
    const manifest = manifestOf(job.manifest);
    const fallback = this.fallbacks.get(job.name);
    this.fallbacks.delete(job.name);
    this.running = switcher
      .run(job, manifest, fallback, this.stopping.signal)
      .then((outcome) => this.log.info({ model: job.name, version: job.version, outcome }, `model switch ${outcome}`))
      .catch((err: unknown) => this.log.error({ err }, 'model switch failed unexpectedly'))
      .finally(() => {
        this.running = undefined;
        if (this.dirty && !this.stopping.signal.aborted) {
          this.dirty = false;
          this.schedule();
        }
      });
  }

  private refuse(kind: string, r: Refusal): void {
    this.log.warn({ code: r.code }, r.reason);
    this.opts.events.record({ level: 'warn', kind, source: this.name, message: r.reason, detail: { code: r.code } });
  }
}

/** The verified manifest stored with a job or an install (it was checked when accepted). */
function manifestOf(envelopeText: string): ModelManifest {
  const envelope = JSON.parse(envelopeText) as { payload: unknown };
  return ModelManifest.parse(envelope.payload);
}

function loadTrust(config: RolloutConfig): TrustStore {
  const keys = config.trustedKeys.map((k) => {
    if (k.publicKey !== undefined) return { id: k.id, publicKey: k.publicKey };
    try {
      return { id: k.id, publicKey: readFileSync(k.publicKeyFile!, 'utf8') };
    } catch (err) {
      throw new AgentError('E_TRUST_KEY', `rollout.trustedKeys "${k.id}": cannot read ${k.publicKeyFile}: ${errorMessage(err)}`);
    }
  });
  const built = trustStoreFrom(keys);
  if (!built.ok) throw new AgentError('E_TRUST_KEY', `rollout.trustedKeys: ${built.reason}`);
  return built.trust;
}
