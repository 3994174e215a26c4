import type { Logger } from 'pino';
import type { EventLog } from '../buffer/events.js';
import type { DriftWindowStore } from '../drift/window-store.js';
import type { SampleStore } from '../buffer/samples.js';
import type { Clock } from '../clock.js';
import { errorMessage } from '../errors.js';
import type { Component } from '../lifecycle/component.js';
import type { DriftWindowBatch, EventBatch, HealthReport, SampleMessage } from '../../protocol/telemetry.js';
import { telemetryTopic } from '../../protocol/telemetry.js';

/** Events per message; an outage's worth goes in several. */
const EVENTS_PER_MESSAGE = 500;
/** Drift windows per message: a window holds a few dozen statistics. */
const WINDOWS_PER_MESSAGE = 50;

export interface TelemetryOptions {
  deviceId: string;
  topicPrefix: string;
  /** Seconds between health reports (and event sweeps). */
  everyS: number;
  events: EventLog;
  channel: { readonly connected: boolean; publishMessage(topic: string, payload: string, opts?: { retain?: boolean }): Promise<void>; onSession(listener: () => void): void };
  health: () => Omit<HealthReport, 'v' | 'device' | 'ts'>;
  /** Captured inputs (drift, low confidence), one message each, marked sent on PUBACK. */
  samples?: SampleStore | undefined;
  /** Each closed drift window's statistics, sent after the health report and marked sent on PUBACK. */
  driftWindows?: DriftWindowStore | undefined;
  clock: Clock;
  log: Logger;
}

/**
 * Forwards the audit trail and the health verdict to central: events in id order, marked
 * sent on the broker's PUBACK (central stores each (device, id) once), and a health report
 * every `everyS` and at every new session.
 */
export class TelemetryPublisher implements Component {
  readonly name = 'telemetry';
  private timer: NodeJS.Timeout | undefined;
  private busy: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly opts: TelemetryOptions) {
    opts.channel.onSession(() => this.kick());
  }

  async start(_signal: AbortSignal): Promise<void> {
    this.timer = setInterval(() => this.kick(), this.opts.everyS * 1000);
    this.timer.unref();
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.busy;
  }

  /** One sweep at a time; a sweep asked for while one runs is folded into the next timer tick. */
  kick(): void {
    if (this.busy || this.stopped || !this.opts.channel.connected) return;
    this.busy = this.sweep()
      .catch((err: unknown) => this.opts.log.debug({ err }, `telemetry not sent: ${errorMessage(err)}`))
      .finally(() => (this.busy = undefined));
  }

  private async sweep(): Promise<void> {
    const { deviceId, topicPrefix, events, channel, clock } = this.opts;
    const report: HealthReport = { v: 1, device: deviceId, ts: clock.now(), ...this.opts.health() };
    await channel.publishMessage(telemetryTopic(topicPrefix, deviceId, 'health'), JSON.stringify(report));
    await this.sweepDrift();
    await this.sweepEvents();
    await this.sweepSamples();
  }

  private async sweepEvents(): Promise<void> {
    const { deviceId, topicPrefix, events, channel, clock } = this.opts;
    for (;;) {
      const batch = events.unsent(EVENTS_PER_MESSAGE);
      const first = batch[0];
      const last = batch.at(-1);
      if (!first || !last || this.stopped) return;
      const message: EventBatch = {
        v: 1,
        device: deviceId,
        events: batch.map((e) => ({ id: e.id, ts: e.ts, level: e.level, kind: e.kind, message: e.message.slice(0, 4000), ...(e.source ? { source: e.source } : {}), ...(e.detail ? { detail: e.detail } : {}) })),
      };
      await channel.publishMessage(telemetryTopic(topicPrefix, deviceId, 'events'), JSON.stringify(message));
      events.markSent(first.id, last.id, clock.now());
    }
  }

  /** The health stream's drift windows, oldest first; central stores each (device, id) once. */
  private async sweepDrift(): Promise<void> {
    const { deviceId, topicPrefix, channel, clock, driftWindows } = this.opts;
    if (!driftWindows) return;
    for (;;) {
      const windows = driftWindows.unsent(WINDOWS_PER_MESSAGE);
      if (windows.length === 0 || this.stopped) return;
      const message: DriftWindowBatch = { v: 1, device: deviceId, windows };
      await channel.publishMessage(telemetryTopic(topicPrefix, deviceId, 'drift'), JSON.stringify(message));
      driftWindows.markSent(windows.map((w) => w.id), clock.now());
    }
  }

  /** Samples after the events: one per message, as central stores each (device, id) once. */
  private async sweepSamples(): Promise<void> {
    const { deviceId, topicPrefix, channel, clock, samples } = this.opts;
    if (!samples) return;
    for (;;) {
      const batch = samples.unsent(8);
      if (batch.length === 0 || this.stopped) return;
      for (const s of batch) {
        if (this.stopped) return;
        const message: SampleMessage = { v: 1, device: deviceId, id: s.id, ts: s.ts, source: s.source, frameId: s.frameId, ...(s.seq === null ? {} : { seq: s.seq }), mediaType: s.mediaType, ...(s.reason === null ? {} : { reason: s.reason }), data: s.data.toString('base64') };
        await channel.publishMessage(telemetryTopic(topicPrefix, deviceId, 'samples'), JSON.stringify(message));
        samples.markSent(s.id, clock.now());
      }
    }
  }
}
