import { gzip } from 'node:zlib';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import type { CheckedExplanationBatch } from '../../protocol/explanations.js';
import { MAX_TELEMETRY_BYTES, telemetryTopic } from '../../protocol/telemetry.js';
import type { Clock } from '../clock.js';
import { errorMessage } from '../errors.js';
import type { Component } from '../lifecycle/component.js';
import type { ExplanationStore } from './explanation-store.js';

const gzipAsync = promisify(gzip);

export interface ExplanationSyncOptions {
  deviceId: string;
  topicPrefix: string;
  store: ExplanationStore;
  /** The agent's MQTT session: QoS 1 publish resolving on the broker's ack. */
  link: { readonly connected: boolean; publishMessage(topic: string, payload: Buffer): Promise<void> };
  /** Models whose overlays go to central as well; other overlays stay on the device. */
  syncOverlay: ReadonlySet<string>;
  clock: Clock;
  log: Logger;
  /** How often pending explanations are looked for while nothing wakes the sync. */
  intervalMs?: number;
  /** At most this many explanations per message. */
  maxCount?: number;
}

/**
 * Sends stored explanations to central on `<prefix>/<device>/explanations`, oldest first,
 * as gzip ExplanationBatch messages. A row is marked sent only after the broker's ack;
 * central stores each once per (device, seq), so a resend after a loss changes nothing.
 */
export class ExplanationSync implements Component {
  readonly name = 'explanation-sync';
  private timer: NodeJS.Timeout | undefined;
  private busy: Promise<void> | undefined;
  private stopped = false;
  sent = 0;

  constructor(private readonly o: ExplanationSyncOptions) {}

  async start(): Promise<void> {
    this.stopped = false;
    this.schedule();
  }

  /** Something was stored: send soon. */
  wake(): void {
    if (!this.stopped && !this.busy) this.busy = this.flush().finally(() => (this.busy = undefined));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.busy;
    // One last try while the session is still up: the sync stops after this component.
    await this.flush().catch(() => undefined);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.wake();
      this.schedule();
    }, this.o.intervalMs ?? 1000);
    this.timer.unref();
  }

  /** Sends batches until nothing is pending or the link is down. */
  async flush(): Promise<void> {
    const { store, link, log } = this.o;
    while (link.connected) {
      const pending = store.pending(this.o.maxCount ?? 50);
      if (pending.length === 0) return;
      const explanations = [];
      let bytes = 0;
      for (const e of pending) {
        const values = e.method === 'occlusion' && !this.o.syncOverlay.has(e.model) ? { ...e.values, overlay: undefined } : e.values;
        const item = { seq: e.seq, ts: e.ts, model: e.model, method: e.method, values };
        const size = JSON.stringify(item).length;
        // The first always goes, so one large explanation cannot wedge the rest.
        if (explanations.length > 0 && bytes + size > MAX_TELEMETRY_BYTES / 2) break;
        bytes += size;
        explanations.push(item);
      }
      const batch = { v: 1, device: this.o.deviceId, explanations } as CheckedExplanationBatch;
      const payload = await gzipAsync(JSON.stringify(batch));
      try {
        await link.publishMessage(telemetryTopic(this.o.topicPrefix, this.o.deviceId, 'explanations'), payload);
      } catch (err) {
        log.debug({ err }, `explanations not sent: ${errorMessage(err)}`);
        return;
      }
      store.markSent(explanations.map((e) => e.seq), this.o.clock.now());
      this.sent += explanations.length;
    }
  }
}
