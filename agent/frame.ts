/** What happened to a frame: the pipeline tells its source so the source can file it. */
export type FrameOutcome =
  | { ok: true }
  | { ok: false; code: string; reason: string };

/** One image from a camera, still encoded (JPEG, PNG, ...). */
export interface Frame {
  /** The source (camera) id from the config. */
  readonly source: string;
  /** Unique within the source: a file name, a counter. */
  readonly id: string;
  readonly data: Buffer;
  /** Wall-clock ms when the frame arrived. */
  readonly ts: number;
  /** Monotonic ms when the frame arrived; latencies are measured from here. */
  readonly arrivedAt: number;
  /** The part the frame shows, when a PLC trigger named it. */
  readonly partId?: string;
  /** Called exactly once, after the prediction is committed or the frame is refused. */
  settle(outcome: FrameOutcome): void;
}
