import { SensorWindow } from './sensor-window.js';
import type { TagSample } from './tag-sample.js';

/** What the agent knows about one tag right now, for features and the status page. */
export interface TagState {
  readonly name: string;
  readonly server: string;
  readonly window: SensorWindow;
  /** Samples accepted and duplicates dropped (same source timestamp and value seen twice). */
  samples: number;
  duplicates: number;
  /** The newest sample that was a reading (not a gap marker). */
  lastReading: TagSample | undefined;
}

/** Whether a server's subscription is delivering, and when it last said so. */
export interface LinkState {
  up: boolean;
  /** Monotonic ms of the last notification or keep-alive. */
  confirmedAt: number | undefined;
}

export type SampleListener = (sample: TagSample) => void;

/**
 * The meeting point of sources and consumers: the OPC-UA side writes samples and link
 * changes, feature windows, validators and triggers read them. A listener's error never
 * reaches the source that delivered the sample.
 */
export class TagBoard {
  readonly tags = new Map<string, TagState>();
  readonly links = new Map<string, LinkState>();
  private readonly listeners: SampleListener[] = [];
  listenerErrors = 0;

  /** Declares a tag read from `server`; history kept is extended by `retain`. */
  addTag(name: string, server: string): TagState {
    let t = this.tags.get(name);
    if (!t) {
      t = { name, server, window: new SensorWindow(0), samples: 0, duplicates: 0, lastReading: undefined };
      this.tags.set(name, t);
      if (!this.links.has(server)) this.links.set(server, { up: false, confirmedAt: undefined });
    }
    return t;
  }

  retain(tag: string, ms: number): void {
    this.tags.get(tag)?.window.retain(ms);
  }

  onSample(listener: SampleListener): void {
    this.listeners.push(listener);
  }

  /**
   * Accepts one sample; false when it repeats the newest one (same source timestamp and
   * value), which a re-created or transferred subscription sends as its initial value.
   */
  push(sample: TagSample): boolean {
    const t = this.tags.get(sample.tag);
    if (!t) return false;
    const last = t.lastReading;
    // Compared across gap markers too: after a reconnect the server resends the value it had.
    if (last && !sample.gap && last.sourceTs === sample.sourceTs && last.value === sample.value && last.quality === sample.quality) {
      t.duplicates++;
      const gap = t.window.latest();
      if (gap?.gap) t.window.push({ ...last, sourceTs: Math.max(last.sourceTs, gap.sourceTs), receivedAt: sample.receivedAt, held: true });
      return false;
    }
    if (!sample.gap) t.lastReading = sample;
    t.window.push(sample);
    t.samples++;
    for (const l of this.listeners) {
      try {
        l(sample);
      } catch {
        this.listenerErrors++;
      }
    }
    return true;
  }

  /** The server's subscription delivered or kept alive at monotonic `at`. */
  confirm(server: string, at: number): void {
    const link = this.links.get(server) ?? { up: false, confirmedAt: undefined };
    link.up = true;
    link.confirmedAt = at;
    this.links.set(server, link);
  }

  /** The link broke: every tag of the server gets a gap marker, so no window bridges it as if it were good. */
  lost(server: string, wallNow: number, at: number, status = 'BadNoCommunication'): void {
    const link = this.links.get(server);
    if (link) link.up = false;
    for (const t of this.tags.values()) {
      if (t.server !== server) continue;
      if (t.window.latest()?.gap) continue;
      this.push({ tag: t.name, value: null, quality: 'bad', status, sourceTs: wallNow, receivedAt: at, gap: true });
    }
  }
}
