import type { SampleStore } from '../buffer/samples.js';
import type { EventSink } from '../events.js';
import type { Frame } from '../frame.js';
import type { ShadowObserver } from '../inference/serving-model.js';
import type { Classification } from '../pipeline/image-pipeline.js';
import { sniffImage } from '../sources/camera/image-sniff.js';

/** Which frame and prediction a live input belongs to. */
interface Origin {
  source: string;
  frameId: string;
  seq: Promise<number>;
}

/**
 * Keeps, for retraining, the live inputs on which a rollout's candidate and the serving
 * model disagree during shadow: those are the inputs where one of them is wrong. The image
 * pipeline tells it which frame and prediction each input belongs to, but only for the model
 * in shadow, so outside a rollout it costs one comparison per answer.
 */
export class ShadowCapture {
  private readonly origins = new WeakMap<Buffer, Origin>();
  private watching: string | undefined;

  constructor(private readonly opts: { samples: SampleStore | undefined; events?: EventSink | undefined }) {}

  /** From the image pipeline, for every answer of the serving model of `model`. */
  note(model: string, frame: Frame, seq: Promise<number>): void {
    if (this.watching !== model) return;
    this.origins.set(frame.data, { source: frame.source, frameId: frame.id, seq });
  }

  /**
   * Wraps the shadow gate of `model`'s candidate `version`: every comparison still goes to
   * `gate`, and up to `limit` inputs the two disagree on are stored as samples.
   * `end()` stops watching and says how many were kept.
   */
  around(gate: ShadowObserver, model: string, version: string, limit: number): ShadowObserver & { end(): number } {
    const samples = this.opts.samples;
    this.watching = limit > 0 && samples ? model : undefined;
    let taken = 0;
    return {
      observe: (serving: Classification, candidate: Classification | Error, image: Buffer) => {
        gate.observe(serving, candidate, image);
        if (!samples || candidate instanceof Error || candidate.label === serving.label || taken >= limit) return;
        const origin = this.origins.get(image);
        if (!origin) return;
        taken++;
        const kind = sniffImage(image);
        const mediaType = kind ? `image/${kind}` : 'application/octet-stream';
        origin.seq.then((seq) => samples.add({ source: origin.source, frameId: origin.frameId, seq, mediaType, data: image, reason: 'shadow-disagreement' }), () => undefined);
      },
      end: () => {
        if (this.watching === model) this.watching = undefined;
        if (taken > 0) {
          this.opts.events?.record({
            level: 'info',
            kind: 'shadow_disagreements_captured',
            source: `rollout:${model}`,
            message: `${model}: ${taken} live inputs where candidate ${version} disagreed with the serving model kept for retraining`,
            detail: { model, candidate: version, captured: taken },
          });
        }
        return taken;
      },
    };
  }
}
