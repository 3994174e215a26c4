import type { Classification, ImageModel } from '../pipeline/image-pipeline.js';

/** A model that can be released once nothing uses it any more. */
export interface ReleasableModel extends ImageModel {
  release(): Promise<void>;
}

/** Sees every answer of the serving model (or its error) with its inference time, for probation. */
export type ResultWatcher = (outcome: Classification | Error, ms: number) => void;

/** What the candidate said next to the serving model, for the shadow phase. */
export interface ShadowObserver {
  /** Called with both answers for the same input; `candidate` is an Error when it failed. */
  observe(serving: Classification, candidate: Classification | Error, image: Buffer): void;
}

/**
 * The model a route serves, behind one indirection so rollout can swap it between two
 * inferences: a frame uses the model that was serving when its inference started, and
 * the previous model is released only after its last inference finished.
 * During shadow, a candidate also answers for each input, off the frame's critical path
 * and at most one at a time (inputs arriving while it is busy are skipped and counted).
 */
export class ServingModel implements ImageModel {
  private shadow: { model: ImageModel; observer: ShadowObserver; busy: boolean } | undefined;
  private watcher: ResultWatcher | undefined;
  shadowSkipped = 0;

  constructor(private current: ReleasableModel) {}

  /** Reports every answer to `watcher` until `unwatch` (one watcher at a time). */
  watch(watcher: ResultWatcher): void {
    this.watcher = watcher;
  }

  unwatch(): void {
    this.watcher = undefined;
  }

  get name(): string {
    return this.current.name;
  }

  get version(): string {
    return this.current.version;
  }

  get model(): ReleasableModel {
    return this.current;
  }

  async classify(image: Buffer): Promise<Classification> {
    const t0 = performance.now();
    let result: Classification;
    try {
      result = await this.current.classify(image);
    } catch (err) {
      this.watcher?.(err instanceof Error ? err : new Error(String(err)), performance.now() - t0);
      throw err;
    }
    this.watcher?.(result, performance.now() - t0);
    const shadow = this.shadow;
    if (shadow) {
      if (shadow.busy) this.shadowSkipped++;
      else {
        shadow.busy = true;
        shadow.model
          .classify(image)
          .then((c) => shadow.observer.observe(result, c, image), (err: unknown) => shadow.observer.observe(result, err instanceof Error ? err : new Error(String(err)), image))
          .finally(() => (shadow.busy = false));
      }
    }
    return result;
  }

  /** Runs `candidate` beside the serving model until `endShadow`. */
  startShadow(candidate: ImageModel, observer: ShadowObserver): void {
    this.shadow = { model: candidate, observer, busy: false };
  }

  endShadow(): void {
    this.shadow = undefined;
  }

  /** Serves `next` from the next inference on; returns the model it replaced (not released). */
  swap(next: ReleasableModel): ReleasableModel {
    const previous = this.current;
    this.current = next;
    if (this.shadow?.model === next) this.shadow = undefined;
    return previous;
  }

  release(): Promise<void> {
    return this.current.release();
  }
}
