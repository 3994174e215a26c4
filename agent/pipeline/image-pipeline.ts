import type { Logger } from 'pino';
import type { PredictionRecord, PredictionStep, ScoredLabel } from '../../protocol/predictions.js';
import type { Clock } from '../clock.js';
import type { Counters } from '../counters.js';
import { AgentError, errorMessage } from '../errors.js';
import type { EventSink } from '../events.js';
import type { Frame } from '../frame.js';
import type { Component } from '../lifecycle/component.js';
import type { FrameQueue } from './frame-queue.js';
import type { InputStats } from '../drift/input-stats.js';
import { Cadence } from './cadence.js';
import { Slots } from './slots.js';

/** What a model says about one image. */
export interface Classification {
  label: string;
  score: number;
  topK: ScoredLabel[];
  /** What drift watches of the input and the answer, when the model measures it. */
  inputs?: InputStats;
  /** Where the model's time went, when it measures it (per-stage metrics). */
  timings?: { preprocessMs: number; inferenceMs: number };
  /** Set by a fail-safe chain: the step that answered and why the serving model did not. */
  step?: PredictionStep;
  fallbackReason?: string;
}

/** A loaded model the pipeline can ask; it throws AgentError `E_IMAGE_DECODE` for an image that cannot be decoded. */
export interface ImageModel {
  readonly name: string;
  readonly version: string;
  classify(image: Buffer): Promise<Classification>;
}

/** Where committed predictions go: resolves with the sequence number once the row is committed. */
export interface PredictionSink {
  add(record: Omit<PredictionRecord, 'seq'>): Promise<number>;
}

/** One model's answer for one frame, for work that follows the prediction (explanations). */
export interface ClassifiedFrame {
  frame: Frame;
  model: ImageModel;
  result: Classification;
  /** Resolves with the prediction's sequence number once committed. */
  seq: Promise<number>;
  inferenceMs: number;
}

/**
 * The stages of a frame, as per-stage timings: waiting in its queue for a slot, decoding and
 * preprocessing, inference, and waiting for the outbox to commit its predictions.
 */
export type PipelineStage = 'queue' | 'preprocess' | 'inference' | 'commit';

export interface Route {
  source: string;
  queue: FrameQueue;
  models: ImageModel[];
}

export interface ImagePipelineOptions {
  routes: Route[];
  sink: PredictionSink;
  events: EventSink;
  counters: Counters;
  clock: Clock;
  log: Logger;
  /** Frames in flight at once across all sources. */
  concurrency: number;
  /** Called with frame-arrival → commit latency in ms. */
  onLatency?: (ms: number) => void;
  /** Called with each stage's time of each frame (preprocess and inference once per model), in ms. */
  onStage?: (stage: PipelineStage, ms: number) => void;
  /** Called after each model's answer; must return at once. */
  onClassified?: (c: ClassifiedFrame) => void;
  /** Sees every answer with its frame and the commit of its prediction (drift, capture). */
  onAnswer?: (model: ImageModel, result: Classification, frame: Frame, seq: Promise<number>) => void;
}

/**
 * Takes frames from each source's queue, runs every model routed to that source and
 * commits one prediction per model. Up to `concurrency` frames are in flight, so one
 * frame decodes while the previous one is in inference.
 */
export class ImagePipeline implements Component {
  readonly name = 'pipeline';
  private readonly slots: Slots;
  private pumps: Promise<void>[] = [];
  private readonly committing = new Set<Promise<void>>();
  private readonly cadences = new Map<Route, Cadence>();

  constructor(private readonly opts: ImagePipelineOptions) {
    this.slots = new Slots(opts.concurrency);
  }

  async start(): Promise<void> {
    this.pumps = this.opts.routes.map((r) => this.pump(r));
  }

  /** Stops taking new frames once the queues are empty and waits for frames in flight and their commits. */
  async stop(): Promise<void> {
    for (const r of this.opts.routes) r.queue.close();
    await Promise.all(this.pumps);
    await this.slots.idle();
    await Promise.all(this.committing);
  }

  /**
   * A slot for background work, given only while no frame is in flight or waiting, and (when
   * `forMs` says how long the work takes) not when a steady source's next frame is due before
   * it would be done; undefined otherwise. A frame arriving meanwhile takes another slot (with
   * one slot, it waits for this one) and shares the CPU with one piece of background work at
   * most. The caller must call the release it returns.
   */
  tryIdle(forMs = 0): (() => void) | undefined {
    if (this.slots.inFlight > 0) return undefined;
    if (this.opts.routes.some((r) => r.queue.size > 0)) return undefined;
    const now = this.opts.clock.monotonic();
    if (forMs > 0 && [...this.cadences.values()].some((c) => c.overlapsNext(now, forMs))) return undefined;
    void this.slots.acquire();
    return () => this.slots.release();
  }

  /**
   * A frame leaves its queue only once a slot is free: while the pipeline is busy it waits
   * in the queue, where a free-running camera's newer frame replaces it, rather than here.
   */
  private async pump(route: Route): Promise<void> {
    while (await route.queue.waitForFrame()) {
      await this.slots.acquire();
      const frame = route.queue.takeNow();
      if (!frame) {
        this.slots.release();
        continue;
      }
      this.opts.onStage?.('queue', this.opts.clock.monotonic() - frame.arrivedAt);
      this.cadenceOf(route).arrived(frame.arrivedAt);
      void this.process(frame, route.models);
    }
  }

  private cadenceOf(route: Route): Cadence {
    let c = this.cadences.get(route);
    if (!c) this.cadences.set(route, (c = new Cadence()));
    return c;
  }

  /**
   * A slot covers the CPU work (decode, inference) only: waiting for the commit does not
   * hold back the next frame, so the outbox's group commit never throttles the camera.
   */
  private async process(frame: Frame, models: ImageModel[]): Promise<void> {
    let commits: Promise<number>[];
    try {
      commits = await this.classify(frame, models);
    } catch (err) {
      return this.fail(frame, err);
    } finally {
      this.slots.release();
    }
    const done = this.settleAfterCommit(frame, commits, this.opts.clock.monotonic());
    this.committing.add(done);
    void done.finally(() => this.committing.delete(done));
  }

  private async classify(frame: Frame, models: ImageModel[]): Promise<Promise<number>[]> {
    const commits: Promise<number>[] = [];
    for (const model of models) {
      const t0 = this.opts.clock.monotonic();
      const result = await model.classify(frame.data);
      const inferenceMs = this.opts.clock.monotonic() - t0;
      if (result.timings) {
        this.opts.onStage?.('preprocess', result.timings.preprocessMs);
        this.opts.onStage?.('inference', result.timings.inferenceMs);
      }
      const commit = this.opts.sink.add({
        ts: frame.ts,
        source: frame.source,
        frameId: frame.id,
        model: model.name,
        modelVersion: model.version,
        label: result.label,
        score: result.score,
        topK: result.topK,
        latencyMs: Math.max(0, Math.round((this.opts.clock.monotonic() - frame.arrivedAt) * 100) / 100),
        ...(frame.partId === undefined ? {} : { partId: frame.partId }),
        ...(result.step === undefined ? {} : { step: result.step, fallbackReason: result.fallbackReason }),
      });
      // Handled in settleAfterCommit; this keeps a failure while a later model runs from going unhandled.
      commit.catch(() => {});
      commits.push(commit);
      this.opts.onClassified?.({ frame, model, result, seq: commit, inferenceMs });
      this.opts.onAnswer?.(model, result, frame, commit);
    }
    return commits;
  }

  private async settleAfterCommit(frame: Frame, commits: Promise<number>[], classifiedAt: number): Promise<void> {
    const { counters, clock } = this.opts;
    try {
      await Promise.all(commits);
    } catch (err) {
      return this.fail(frame, err);
    }
    this.opts.onStage?.('commit', clock.monotonic() - classifiedAt);
    counters.predictions += commits.length;
    this.opts.onLatency?.(clock.monotonic() - frame.arrivedAt);
    frame.settle({ ok: true });
  }

  private fail(frame: Frame, err: unknown): void {
    const code = err instanceof AgentError ? err.code : 'E_PIPELINE';
    if (code === 'E_IMAGE_DECODE') {
      frame.settle({ ok: false, code, reason: errorMessage(err) });
      return;
    }
    // Not the frame's fault (a model or store failure): the frame is refused so it is
    // not lost silently, and the error is audited.
    this.opts.counters.errors++;
    this.opts.log.error({ err, source: frame.source, frame: frame.id }, 'frame could not be processed');
    this.opts.events.record({ level: 'error', kind: 'pipeline_error', source: frame.source, message: `${frame.id}: ${errorMessage(err)}`, detail: { code } });
    frame.settle({ ok: false, code, reason: errorMessage(err) });
  }
}
