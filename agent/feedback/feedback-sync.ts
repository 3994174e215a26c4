import type { Logger } from 'pino';
import type { LabelBatch, SegmentStatsBatch } from '../../protocol/feedback.js';
import type { Clock } from '../clock.js';
import { errorMessage } from '../errors.js';
import type { Component } from '../lifecycle/component.js';
import type { SegmentStatsStore } from '../segments/segment-store.js';
import type { LabelStore } from './label-store.js';

const PER_MESSAGE = 200;

export interface FeedbackSyncOptions {
  deviceId: string;
  topicPrefix: string;
  /** Seconds between sweeps (the health stream's period); a new label or period also wakes it. */
  everyS: number;
  labels: LabelStore;
  segments: SegmentStatsStore;
  channel: { readonly connected: boolean; publishMessage(topic: string, payload: string): Promise<void>; onSession(listener: () => void): void };
  clock: Clock;
  log: Logger;
}

/**
 * Sends labels and per-segment statistics to central beside the health stream, on
 * `<prefix>/<device>/labels` and `/segments`; rows are marked sent on the broker's PUBACK
 * and central stores each (device, seq) label and (device, id) segment row once.
 */
export class FeedbackSync implements Component {
  readonly name = 'feedback-sync';
  private timer: NodeJS.Timeout | undefined;
  private busy: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(private readonly o: FeedbackSyncOptions) {
    o.channel.onSession(() => this.wake());
  }

  async start(): Promise<void> {
    this.timer = setInterval(() => this.wake(), this.o.everyS * 1000);
    this.timer.unref();
    this.wake();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.busy;
  }

  wake(): void {
    if (this.stopped || !this.o.channel.connected) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = this.sweep()
      .catch((err: unknown) => this.o.log.debug({ err }, `labels and segment statistics not sent: ${errorMessage(err)}`))
      .finally(() => {
        this.busy = undefined;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }

  private async sweep(): Promise<void> {
    const { deviceId, topicPrefix, channel, clock, labels, segments } = this.o;
    for (;;) {
      const batch = labels.unsent(PER_MESSAGE);
      if (batch.length === 0 || this.stopped) break;
      const message: LabelBatch = { v: 1, device: deviceId, labels: batch };
      await channel.publishMessage(`${topicPrefix}/${deviceId}/labels`, JSON.stringify(message));
      labels.markSent(batch.map((l) => l.seq), clock.now());
    }
    for (;;) {
      const batch = segments.unsent(PER_MESSAGE);
      if (batch.length === 0 || this.stopped) break;
      const message: SegmentStatsBatch = { v: 1, device: deviceId, segments: batch };
      await channel.publishMessage(`${topicPrefix}/${deviceId}/segments`, JSON.stringify(message));
      segments.markSent(batch.map((s) => s.id), clock.now());
    }
  }
}
