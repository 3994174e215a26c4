import type { Logger } from 'pino';
import type { Clock } from '../../clock.js';
import type { Counters } from '../../counters.js';
import type { EventSink } from '../../events.js';
import type { FrameOutcome } from '../../frame.js';
import type { FrameQueue } from '../../pipeline/frame-queue.js';
import { type FrameView, withView } from '../../preprocess/frame-view.js';
import { recordEvent } from './folder-filing.js';
import { describeStart, sniffImage } from './image-sniff.js';
import type { CaptureRequest } from './trigger.js';

/** What every network or ffmpeg camera's config has in common, as far as delivery goes. */
export interface CameraDelivery {
  id: string;
  mode: 'free' | 'triggered';
  maxFps?: number | undefined;
  roi?: { left: number; top: number; width: number; height: number } | undefined;
  rotate: 0 | 90 | 180 | 270;
}

export interface CameraOutputOptions {
  config: CameraDelivery;
  queue: FrameQueue;
  counters: Counters;
  events: EventSink;
  clock: Clock;
  log: Logger;
}

/** Triggers waiting for a frame; beyond, a trigger is refused (counted), since each is a part. */
const MAX_PENDING_TRIGGERS = 16;

/** At most one `frame_rejected` audit event per camera in this long; the counter counts all. */
const REJECT_EVENT_GAP_MS = 10_000;

/**
 * The road from a camera's bytes to the pipeline's queue: refuses what is not a whole
 * image (counted, audited without flooding the trail), applies the frame-rate cap or the
 * trigger gate, and marks each frame with the camera's crop and rotation.
 */
export class CameraOutput {
  private readonly view: FrameView | undefined;
  private readonly periodMs: number;
  private due = -Infinity;
  private seq = 0;
  private readonly triggers: CaptureRequest[] = [];
  private lastRejectEventAt = -Infinity;
  private rejectedSinceEvent = 0;
  /** Monotonic ms of the newest whole frame from the camera, delivered or not: the watchdog's clock. */
  lastSeenAt: number | undefined;
  /** Frames skipped by the frame-rate cap or the trigger gate. */
  skipped = 0;
  rejected = 0;

  constructor(private readonly opts: CameraOutputOptions) {
    const { roi, rotate, maxFps } = opts.config;
    this.view = roi || rotate ? { ...(roi ? { crop: roi } : {}), rotate } : undefined;
    this.periodMs = maxFps ? 1000 / maxFps : 0;
  }

  get triggered(): boolean {
    return this.opts.config.mode === 'triggered';
  }

  /** Triggers not yet served by a frame. */
  get pendingTriggers(): number {
    return this.triggers.length;
  }

  /** A triggered camera's next frame goes to the models, carrying the request's part id. */
  trigger(request: CaptureRequest): boolean {
    if (this.triggers.length >= MAX_PENDING_TRIGGERS) {
      this.opts.counters.dropped++;
      this.opts.log.warn({ partId: request.partId }, 'capture trigger refused: too many triggers waiting for a frame');
      return false;
    }
    this.triggers.push(request);
    return true;
  }

  /** One whole encoded picture from the camera. */
  frame(data: Buffer): void {
    const now = this.opts.clock.monotonic();
    this.lastSeenAt = now;
    if (data.length === 0) return this.refuse('E_FRAME_EMPTY', 'empty frame (0 bytes)', 0);
    if (!sniffImage(data)) return this.refuse('E_FRAME_NOT_IMAGE', `not an image: starts ${describeStart(data)}`, data.length);
    let partId: string | undefined;
    if (this.triggered) {
      const request = this.triggers.shift();
      if (!request) return void this.skipped++;
      partId = request.partId;
    } else if (this.periodMs > 0) {
      // A tenth of a period of slack, so a camera at exactly the cap is not halved by jitter.
      if (now + this.periodMs * 0.1 < this.due) return void this.skipped++;
      // Keep the cadence while frames come on time; after a gap, start it afresh from now.
      this.due = now - this.due < this.periodMs ? this.due + this.periodMs : now + this.periodMs;
    }
    this.deliver(data, now, partId);
  }

  /** A frame refused before it reached the queue (truncated, corrupt, too large, not an image). */
  refuse(code: string, reason: string, bytes: number): void {
    const { counters, clock, log, config } = this.opts;
    counters.rejected++;
    this.rejected++;
    this.rejectedSinceEvent++;
    const now = clock.monotonic();
    if (now - this.lastRejectEventAt < REJECT_EVENT_GAP_MS) return;
    const detail = { code, reason, bytes, refusedSinceLastEvent: this.rejectedSinceEvent };
    this.lastRejectEventAt = now;
    this.rejectedSinceEvent = 0;
    log.warn(detail, 'frame rejected');
    recordEvent(this.opts.events, log, { level: 'warn', kind: 'frame_rejected', source: config.id, message: `${config.id}: ${reason}`, detail });
  }

  private deliver(data: Buffer, at: number, partId: string | undefined): void {
    const { config, queue, counters, clock } = this.opts;
    const ts = clock.now();
    const bytes = data.length;
    counters.frameIn(config.id, ts, at);
    queue.offer({
      source: config.id,
      id: `${ts}-${this.seq++}`,
      data: withView(data, this.view),
      ts,
      arrivedAt: at,
      ...(partId === undefined ? {} : { partId }),
      settle: (outcome: FrameOutcome) => {
        // The decoder's verdict on a corrupt body; other failures are the pipeline's to report.
        if (!outcome.ok && outcome.code === 'E_IMAGE_DECODE') this.refuse(outcome.code, outcome.reason, bytes);
      },
    });
  }
}
