import type { Logger } from 'pino';
import { errorMessage } from '../errors.js';
import type { CpuBudget } from './cpu-budget.js';
import type { Turn } from './occlusion.js';

/**
 * The live pipeline's consent: a slot when one can be spared and no frame waits (nor, given
 * how long the work takes, is due before it is done), with its release.
 */
export interface IdleGate {
  tryIdle(forMs?: number): (() => void) | undefined;
}

/** One explanation to compute; `run` does its model work inside `turn`s. */
export interface ExplainJob {
  model: string;
  seq: Promise<number>;
  estimateMs: number;
  budget: CpuBudget;
  run(turn: Turn, seq: number): Promise<void>;
}

/** What explanation work did since start; the status page and /metrics show it. */
export interface ExplainStats {
  /** Explanations stored. */
  explained: number;
  /** Not computed because the CPU budget was spent. */
  skippedBudget: number;
  /** Not computed because the low-priority queue was full (live frames kept every slot busy). */
  skippedBusy: number;
  /** Failed (the model was swapped or released, the prediction was evicted, an error). */
  failed: number;
  /** Milliseconds of model work spent on explanations. */
  workMs: number;
}

export interface ExplainQueueOptions {
  gate: IdleGate;
  capacity: number;
  log: Logger;
  /** How often a waiting job asks the gate again. */
  pollMs?: number;
  /** How long a turn waits for a gap as long as itself before it takes any idle moment. */
  patienceMs?: number;
}

/** A quarter of a second: at 30 frames/s, seven or eight frames' gaps. */
const DEFAULT_PATIENCE_MS = 250;

/**
 * The low-priority queue: jobs wait here and run one at a time, each piece of model work
 * only when the live pipeline has a free slot and no frame waiting. A job that finds the
 * queue full or its model's budget spent is skipped and counted, never queued.
 */
export class ExplainQueue {
  readonly stats: ExplainStats = { explained: 0, skippedBudget: 0, skippedBusy: 0, failed: 0, workMs: 0 };
  private readonly jobs: ExplainJob[] = [];
  private running: Promise<void> | undefined;
  private readonly stopping = new AbortController();
  private wakeUp: (() => void) | undefined;

  constructor(private readonly o: ExplainQueueOptions) {}

  get size(): number {
    return this.jobs.length;
  }

  offer(job: ExplainJob): 'queued' | 'budget' | 'busy' {
    if (this.stopping.signal.aborted || this.jobs.length >= this.o.capacity) {
      this.stats.skippedBusy++;
      return 'busy';
    }
    if (!job.budget.affords(job.estimateMs)) {
      this.stats.skippedBudget++;
      return 'budget';
    }
    // Reserve the estimate now, so a burst cannot admit more than the credit covers.
    job.budget.spend(job.estimateMs);
    this.jobs.push(job);
    this.wakeUp?.();
    return 'queued';
  }

  start(): void {
    this.running ??= this.loop();
  }

  /** Drops waiting jobs (counted as busy skips) and waits for the one running. */
  async stop(): Promise<void> {
    this.stopping.abort();
    this.stats.skippedBusy += this.jobs.splice(0).length;
    this.wakeUp?.();
    await this.running;
  }

  /**
   * Runs `work` once the gate gives a slot; the time it takes is the job's. A turn asks for a
   * gap as long as it takes; one that has waited `patienceMs` for such a gap takes the next
   * moment no frame is in flight or waiting, and a frame arriving meanwhile shares the CPU with
   * it: a steady camera whose gaps are all shorter than a turn would otherwise starve the
   * explanations for good.
   */
  private readonly turn: Turn = async <T>(work: () => Promise<T>): Promise<T> => {
    const since = performance.now();
    for (;;) {
      if (this.stopping.signal.aborted) throw new Error('the agent is stopping');
      const patient = performance.now() - since < (this.o.patienceMs ?? DEFAULT_PATIENCE_MS);
      const release = this.o.gate.tryIdle(patient ? this.turnMs : 0);
      if (release) {
        const t0 = performance.now();
        try {
          return await work();
        } finally {
          release();
          const took = performance.now() - t0;
          this.spent += took;
          this.turnMs += (took - this.turnMs) / 8;
        }
      }
      await new Promise((r) => setTimeout(r, this.o.pollMs ?? 2));
    }
  };

  private spent = 0;
  /** Moving mean of one turn's time, ms: how long the next one is expected to hold the CPU. */
  private turnMs = 0;

  private async loop(): Promise<void> {
    while (!this.stopping.signal.aborted) {
      const job = this.jobs.shift();
      if (!job) {
        await new Promise<void>((r) => (this.wakeUp = r));
        this.wakeUp = undefined;
        continue;
      }
      this.spent = 0;
      try {
        const seq = await job.seq;
        await job.run(this.turn, seq);
        this.stats.explained++;
      } catch (err) {
        if (!this.stopping.signal.aborted) {
          this.stats.failed++;
          this.o.log.warn({ err, model: job.model }, `explanation failed: ${errorMessage(err)}`);
        }
      } finally {
        // The reservation is settled against what the work really took.
        job.budget.spend(this.spent - job.estimateMs);
        this.stats.workMs += this.spent;
      }
    }
  }
}
