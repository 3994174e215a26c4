import type { Logger } from 'pino';
import type { ModelRef } from '../../protocol/desired-state.js';
import { type RolloutReport, type RolloutState } from '../../protocol/rollout-state.js';
import { deviceTopics } from '../../protocol/topics.js';
import type { Clock } from '../clock.js';
import type { EventSink } from '../events.js';

/** What the reporter needs of the MQTT sync. */
export interface ReportChannel {
  publishMessage(topic: string, payload: string, opts: { retain?: boolean }): Promise<void>;
  onSession(listener: () => void): void;
}

export interface TransitionDetail {
  candidate?: ModelRef | undefined;
  reason?: string | undefined;
  desiredCounter?: number | undefined;
  rolloutId?: string | undefined;
  progress?: { bytes: number; total: number } | undefined;
}

/**
 * Tells central and the audit trail where rollout stands: every transition is an event in
 * SQLite and a retained report on the device's rollout topic, republished on every new
 * session so a report made while offline still reaches central.
 */
export class RolloutReporter {
  private report: RolloutReport;
  private readonly topic: string;

  constructor(
    private readonly opts: { deviceId: string; group?: string | undefined; topicPrefix: string; channel: ReportChannel; events: EventSink; clock: Clock; log: Logger; serving: () => ModelRef[] },
  ) {
    this.topic = deviceTopics(opts.topicPrefix, opts.deviceId).rollout;
    const at = opts.clock.now();
    this.report = { v: 1, device: opts.deviceId, ...this.groupField(), ts: at, serving: opts.serving(), state: 'idle', lastTransition: { from: 'idle', to: 'idle', at } };
    opts.channel.onSession(() => this.publish());
  }

  get state(): RolloutState {
    return this.report.state;
  }

  get current(): RolloutReport {
    return this.report;
  }

  /** Moves to `to`, records the event and publishes the report. */
  transition(to: RolloutState, detail: TransitionDetail = {}): void {
    const at = this.opts.clock.now();
    const from = this.report.state;
    this.report = {
      v: 1,
      device: this.opts.deviceId,
      ...this.groupField(),
      ts: at,
      serving: this.opts.serving(),
      state: to,
      lastTransition: { from, to, at },
      ...defined(detail),
    };
    const model = detail.candidate ? `${detail.candidate.name} ${detail.candidate.version}` : '';
    const failed = to === 'failed' || to === 'rolled-back';
    this.opts.events.record({
      level: failed ? 'warn' : 'info',
      kind: `rollout_${to.replace('-', '_')}`,
      source: 'rollout',
      message: `${model}${model ? ': ' : ''}${from} → ${to}${detail.reason ? `: ${detail.reason}` : ''}`,
      detail: { from, to, ...defined(detail) },
    });
    this.opts.log[failed ? 'warn' : 'info']({ from, to, ...defined(detail) }, `rollout ${to}`);
    this.publish();
  }

  /** Takes up the report where it stood before a restart: no transition, so no event; published. */
  restore(state: RolloutState, from: RolloutState, at: number, detail: TransitionDetail): void {
    this.report = { v: 1, device: this.opts.deviceId, ...this.groupField(), ts: this.opts.clock.now(), serving: this.opts.serving(), state, lastTransition: { from, to: state, at }, ...defined(detail) };
    this.publish();
  }

  /**
   * Updates download progress in the report without an event per chunk, and publishes it
   * each time it passes another tenth, so central sees a long download move.
   */
  progress(bytes: number, total: number): void {
    const before = this.report.progress;
    const tenth = (b: number) => Math.floor((b * 10) / total);
    this.report = { ...this.report, ts: this.opts.clock.now(), progress: { bytes: Math.min(bytes, total), total } };
    if (!before || before.total !== total || tenth(bytes) > tenth(before.bytes)) this.publish();
  }

  private groupField(): { group?: string } {
    return this.opts.group === undefined ? {} : { group: this.opts.group };
  }

  publish(): void {
    this.report = { ...this.report, serving: this.opts.serving() };
    this.opts.channel.publishMessage(this.topic, JSON.stringify(this.report), { retain: true }).catch((err: unknown) => {
      // Offline: the next session republishes the latest report.
      this.opts.log.debug({ err }, 'rollout report not published now');
    });
  }
}

function defined(detail: TransitionDetail): Partial<RolloutReport> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(detail)) if (v !== undefined) out[k] = v;
  return out as Partial<RolloutReport>;
}
