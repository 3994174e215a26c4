import type { Logger } from 'pino';
import type { RolloutReport } from '../../protocol/rollout-state.js';
import type { Signer, TrustStore } from '../../protocol/signing.js';
import { deviceOfTopic, deviceTopics, fleetFilters } from '../../protocol/topics.js';
import { parseFleetMessage } from '../fleet/fleet-state.js';
import type { BrokerClient } from './connection.js';
import { ApprovalGate, type ApprovedDesired } from './approval-gate.js';
import { DesiredStatePublisher } from './desired-publisher.js';
import { writeProgress, type RolloutProgress, type WaveProgress } from './progress.js';
import { downloadLine } from './progress-text.js';
import { judgeWave } from './wave-judge.js';

/*
 * Drives one rollout wave by wave. Everything it decides is written to the retained
 * progress before it acts on the next step, and a wave whose desired states were
 * published is never published again: a controller killed at any point and started with
 * the same id picks up the progress and carries on waiting.
 */

export interface ControllerOptions {
  client: BrokerClient;
  prefix: string;
  signer: Signer;
  trust: TrustStore;
  /** Progress lines for the operator (stdout). */
  say: (line: string) => void;
  /** Warnings for the operator (stderr). */
  warn: (line: string) => void;
  log: Logger;
  signal?: AbortSignal;
  now?: () => number;
  /** How often timeouts are checked while no report arrives; default 1 s. */
  tickMs?: number;
}

export type RolloutEnd = 'done' | 'halted' | 'stopped';

export class RolloutController {
  private readonly reports = new Map<string, RolloutReport>();
  private readonly desired: DesiredStatePublisher;
  private readonly now: () => number;
  private wake: () => void = () => undefined;

  constructor(
    private readonly opts: ControllerOptions,
    readonly progress: RolloutProgress,
  ) {
    this.now = opts.now ?? Date.now;
    this.desired = new DesiredStatePublisher({ client: opts.client, prefix: opts.prefix, signer: opts.signer, trust: opts.trust, warn: opts.warn, now: this.now });
  }

  /** Runs until the rollout is done or halted, or the signal stops it (the progress stays retained). */
  async run(): Promise<RolloutEnd> {
    const { client, prefix } = this.opts;
    const warned = new Set<string>();
    const members = new Set(this.progress.waves.flatMap((w) => w.devices));
    const stopWatching = await client.watch([fleetFilters(prefix).rollout], (topic, payload) => {
      const m = parseFleetMessage(prefix, topic, payload);
      if (m.kind === 'report') this.remember(m.report);
      // Only this rollout's devices matter here; `edgectl fleet` shows the rest.
      else if (m.kind === 'refused' && members.has(deviceOfTopic(prefix, topic) ?? '') && !warned.has(topic)) {
        warned.add(topic);
        this.opts.warn(`refused the rollout report on ${topic}: ${m.refused.reason}`);
      }
      this.wake();
    });
    try {
      const p = this.progress;
      while (p.state === 'running') {
        const wave = p.waves[p.currentWave - 1];
        if (!wave) throw new Error(`rollout ${p.id}: no wave ${p.currentWave}`);
        await this.seedReports(wave.devices);
        if (wave.publishedAt === undefined && !(await this.publishWave(wave))) return 'stopped';
        if (!(await this.waitForWave(wave))) return 'stopped';
      }
      return p.state;
    } finally {
      await stopWatching();
    }
  }

  /** The retained reports of these devices, before any judgement: a resumed wave must not time out devices whose reports simply had not arrived yet. */
  private async seedReports(devices: string[]): Promise<void> {
    const messages = await this.opts.client.readRetained(devices.map((d) => deviceTopics(this.opts.prefix, d).rollout));
    for (const m of messages) {
      const parsed = parseFleetMessage(this.opts.prefix, m.topic, m.payload);
      if (parsed.kind === 'report') this.remember(parsed.report);
    }
  }

  private remember(report: RolloutReport): void {
    const known = this.reports.get(report.device);
    // A retained copy read late must not replace a newer live report.
    if (!known || report.ts >= known.ts) this.reports.set(report.device, report);
  }

  /** Publishes the wave's desired states (once approved, when the rollout needs approval); false when stopped while waiting for approvals. */
  private async publishWave(wave: WaveProgress): Promise<boolean> {
    const p = this.progress;
    const label = `wave ${wave.wave}/${p.waves.length}`;
    for (const device of wave.devices) {
      const serving = this.reports.get(device)?.serving.find((m) => m.name === p.model.name);
      if (serving && serving.version !== p.model.version && wave.previous[device] === undefined) wave.previous[device] = serving;
    }
    const current = await this.desired.current(wave.devices);
    const change = { model: p.model, rollout: { id: p.id, wave: wave.wave }, ...(p.rollback ? { rollback: { name: p.model.name, to: p.model.version, reason: p.rollback.reason } } : {}) };
    // Published by a run that was killed before it could record the wave: keep that counter.
    const already = (device: string) => {
      const held = current.get(device)!.state;
      return held?.rollout?.id === p.id && held.rollout.wave === wave.wave && held.models.some((m) => m.name === p.model.name && m.version === p.model.version && m.counter === p.model.counter);
    };
    let approved: Map<string, ApprovedDesired> | undefined;
    let gate: ApprovalGate | undefined;
    if (p.approval) {
      gate = new ApprovalGate(
        { client: this.opts.client, prefix: this.opts.prefix, signer: this.opts.signer, trust: this.opts.trust, say: this.opts.say, log: this.opts.log, ...(this.opts.signal ? { signal: this.opts.signal } : {}), pause: (ms) => this.pause(ms), wake: () => this.wake(), tickMs: this.opts.tickMs ?? 1000 },
        p.id,
        p.approval,
      );
      const pending = await gate.pending(wave, current, wave.devices.filter((d) => !already(d)), change, this.desired);
      approved = await gate.wait(label, pending);
      if (!approved) return false;
    }
    let reused = 0;
    for (const device of wave.devices) {
      const entry = current.get(device)!;
      if (already(device)) {
        wave.counters[device] = entry.state!.counter;
        reused++;
        continue;
      }
      const ready = approved?.get(device);
      const published = ready ? await this.desired.publishSigned(entry, ready.envelope) : await this.desired.publish(entry, change);
      wave.counters[device] = published.state.counter;
      if (ready) {
        wave.approvedBy = { ...wave.approvedBy, [device]: ready.approvedBy };
        await gate?.clear(device);
      }
      this.opts.log.info({ device, counter: published.state.counter, topic: published.topic, approvedBy: ready?.approvedBy }, 'desired state published');
    }
    wave.publishedAt = this.now();
    wave.state = 'waiting';
    await writeProgress(this.opts.client, this.opts.prefix, p, this.opts.signer, this.now());
    const names = wave.devices.length <= 8 ? ` (${wave.devices.join(', ')})` : '';
    this.opts.say(`${label}: desired state ${p.model.name} ${p.model.version} published to ${wave.devices.length} device${wave.devices.length > 1 ? 's' : ''}${names}${reused ? `, ${reused} already had it` : ''}`);
    return true;
  }

  /** Waits until the wave is through or halts; false when stopped by the signal. */
  private async waitForWave(wave: WaveProgress): Promise<boolean> {
    const p = this.progress;
    let said = '';
    let saidDownload: string | undefined;
    for (;;) {
      if (this.opts.signal?.aborted) return false;
      const judged = judgeWave({
        rolloutId: p.id,
        model: p.model,
        wave,
        waveCount: p.waves.length,
        reports: this.reports,
        now: this.now(),
        timeoutMs: p.waveTimeoutMs,
        haltOnFailurePct: p.haltOnFailurePct,
      });
      const changed = Object.keys(judged.outcomes).length !== Object.keys(wave.outcomes).length;
      wave.outcomes = judged.outcomes;
      if (judged.summary !== said) {
        this.opts.say(judged.summary);
        said = judged.summary;
      }
      const downloading = downloadLine(`wave ${wave.wave}/${p.waves.length}`, wave, this.reports);
      if (downloading !== undefined && downloading !== saidDownload) this.opts.say(downloading);
      saidDownload = downloading;
      if (judged.verdict === 'halt') {
        await this.halt(wave, judged.reason ?? 'halted');
        return true;
      }
      if (judged.verdict === 'advance') {
        wave.state = 'committed';
        wave.finishedAt = this.now();
        if (p.currentWave === p.waves.length) p.state = 'done';
        else p.currentWave++;
        await writeProgress(this.opts.client, this.opts.prefix, p, this.opts.signer, this.now());
        if (p.state === 'done') {
          const total = p.waves.reduce((n, w) => n + w.devices.length, 0);
          const failed = p.waves.reduce((n, w) => n + Object.values(w.outcomes).filter((o) => o.result !== 'committed').length, 0);
          this.opts.say(`rollout ${p.id} done: ${total - failed}/${total} devices serve ${p.model.name} ${p.model.version}${failed ? ` (${failed} failed below the halt limit)` : ''}`);
        }
        return true;
      }
      if (changed) await writeProgress(this.opts.client, this.opts.prefix, p, this.opts.signer, this.now());
      await this.pause(this.opts.tickMs ?? 1000);
    }
  }

  /**
   * Halts the rollout. With --rollback-failed the whole wave is commanded back to what each
   * device served before, and only then is the halt recorded: a controller killed in
   * between judges the wave again and sends the rollback again.
   */
  private async halt(wave: WaveProgress, reason: string): Promise<void> {
    const p = this.progress;
    const notes: string[] = [];
    if (p.rollbackFailed) {
      const current = await this.desired.current(wave.devices);
      const back: string[] = [];
      for (const device of wave.devices) {
        const previous = wave.previous[device];
        if (!previous) {
          notes.push(`${device}: not rolled back, it served no earlier version of ${p.model.name} when wave ${wave.wave} started`);
          continue;
        }
        const why = `rollout ${p.id} halted: ${reason}`.slice(0, 1000);
        await this.desired.publish(current.get(device)!, { model: previous, rollback: { name: previous.name, to: previous.version, reason: why } });
        back.push(`${device}→${previous.version}`);
      }
      if (back.length > 0) notes.push(`rolled back wave ${wave.wave}: ${back.join(', ')}`);
    }
    wave.state = 'halted';
    wave.finishedAt = this.now();
    p.state = 'halted';
    p.reasons.push(reason, ...notes);
    await writeProgress(this.opts.client, this.opts.prefix, p, this.opts.signer, this.now());
    this.opts.say(`rollout ${p.id} halted: ${reason}`);
    for (const note of notes) this.opts.say(`  ${note}`);
    if (!p.rollbackFailed) this.opts.say(`  failed devices roll themselves back; the wave's desired state still names ${p.model.name} ${p.model.version} (edgectl rollback to pin them to another version)`);
  }

  /** Sleeps ms, or less when a report arrives or the signal stops the run. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.opts.signal?.removeEventListener('abort', done);
        this.wake = () => undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
      this.opts.signal?.addEventListener('abort', done, { once: true });
    });
  }
}
