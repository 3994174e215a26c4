import type { Clock } from '../clock.js';
import type { AgentEvent } from '../events.js';
import { Histogram } from './histogram.js';
import { RecentHistogram } from './recent-histogram.js';
import { SlidingCount } from './sliding-count.js';

/** What the agent measured for one model since start. */
export interface ModelMeasures {
  /** Predictions committed to the outbox. */
  predictions: number;
  /** Seconds to classify one frame (decode, preprocess, inference), for Prometheus. */
  readonly inference: Histogram;
  /** The same in ms over the last minute, for the status page's quantiles. */
  readonly recentInference: RecentHistogram;
}

/** The newest error-level audit event, for a health reason that says what went wrong. */
export interface LastError {
  kind: string;
  message: string;
  /** Monotonic ms. */
  at: number;
}

/**
 * The agent's live measurements beyond the plain counters: latency histograms, rates,
 * and what the audit trail said recently. Every `record` method is O(1) and allocation
 * free after a model's first prediction, because the pipeline calls them per frame.
 */
export class AgentMetrics {
  readonly frameToCommit = new Histogram();
  readonly recentFrameToCommit = new RecentHistogram();
  /** Seconds per pipeline stage of a frame (queue, preprocess, inference, commit), by stage. */
  readonly stages = new Map<string, Histogram>();
  readonly models = new Map<string, ModelMeasures>();
  /** Committed predictions per second over the last minute. */
  readonly predictionRate: SlidingCount;
  /** Error-level audit events over the last minute. */
  readonly recentErrors: SlidingCount;
  /** Audit events seen since start, by kind. */
  readonly eventCounts = new Map<string, number>();
  storeWriteErrors = 0;
  lastError: LastError | undefined;
  /** Wall ms of the last broker connect or disconnect event. */
  brokerChangedAt: number | undefined;
  private storeFailure: { at: number; message: string } | undefined;
  private lastCommitAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly clock: Clock) {
    const now = clock.monotonic();
    this.predictionRate = new SlidingCount(now);
    this.recentErrors = new SlidingCount(now);
  }

  model(name: string): ModelMeasures {
    let m = this.models.get(name);
    if (!m) {
      m = { predictions: 0, inference: new Histogram(), recentInference: new RecentHistogram() };
      this.models.set(name, m);
    }
    return m;
  }

  /** A model classified a frame in `ms`. */
  inferred(model: string, ms: number): void {
    const m = this.model(model);
    m.inference.observe(ms / 1000);
    m.recentInference.observe(ms, this.clock.monotonic());
  }

  /** A prediction of `model` is durable in the outbox. */
  committed(model: string): void {
    const now = this.clock.monotonic();
    this.model(model).predictions++;
    this.predictionRate.add(now);
    this.lastCommitAt = now;
  }

  /** A frame's predictions are all committed, `ms` after the frame arrived. */
  frameCommitted(ms: number): void {
    this.frameToCommit.observe(ms / 1000);
    this.recentFrameToCommit.observe(ms, this.clock.monotonic());
  }

  /** One stage of one frame took `ms`. */
  stage(name: string, ms: number): void {
    let h = this.stages.get(name);
    if (!h) {
      h = new Histogram();
      this.stages.set(name, h);
    }
    h.observe(ms / 1000);
  }

  onEvent(event: AgentEvent): void {
    const now = this.clock.monotonic();
    this.eventCounts.set(event.kind, (this.eventCounts.get(event.kind) ?? 0) + 1);
    if (event.level === 'error') {
      this.recentErrors.add(now);
      this.lastError = { kind: event.kind, message: event.message, at: now };
    }
    if (event.kind === 'store_write_failed') {
      this.storeWriteErrors++;
      this.storeFailure = { at: now, message: event.message };
    }
    if (event.kind === 'broker_connected' || event.kind === 'broker_disconnected') this.brokerChangedAt = this.clock.now();
  }

  /** Why the store is failing: its last write failed and nothing was committed since; undefined when fine. */
  get storeFailing(): string | undefined {
    const f = this.storeFailure;
    return f && f.at >= this.lastCommitAt ? f.message : undefined;
  }
}
