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
}
