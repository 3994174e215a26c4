/** When a source last handed a frame to the pipeline; the status page tells live from stalled with it. */
export interface SourceActivity {
  frames: number;
  /** Wall-clock ms of the newest frame. */
  lastFrameTs: number;
  /** Monotonic ms of the newest frame. */
  lastFrameAt: number;
}

/** Monotonic counters of what the agent saw and did; `status` reads them, nobody resets them. */
export class Counters {
  framesIn = 0;
  /** Frames refused as corrupt, truncated, empty or not an image. */
  rejected = 0;
  /** Frames a free-running camera dropped because the pipeline was busy. */
  dropped = 0;
  predictions = 0;
  /** Inference or preprocessing failures that were not the frame's fault. */
  errors = 0;
  /** Per source id; an entry appears with the source's first frame. */
  readonly sources = new Map<string, SourceActivity>();

  /** A source handed a frame to the pipeline (`ts` wall ms, `at` monotonic ms). */
  frameIn(source: string, ts: number, at: number): void {
    this.framesIn++;
    const s = this.sources.get(source);
    if (!s) {
      this.sources.set(source, { frames: 1, lastFrameTs: ts, lastFrameAt: at });
      return;
    }
    s.frames++;
    s.lastFrameTs = ts;
    s.lastFrameAt = at;
  }
}
