import { z } from 'zod';
import { ModelRefSchema } from '../../protocol/desired-state.js';
import { RolloutStateSchema } from '../../protocol/rollout-state.js';
import type { SqliteDatabase } from '../buffer/database.js';

/** The steps of a model switch, in order; each is persisted before it runs. */
export const ROLLOUT_STEPS = ['download', 'verify', 'load', 'smoke-test', 'shadow', 'switch', 'probation'] as const;
export type RolloutStep = (typeof ROLLOUT_STEPS)[number];

/** A transition as the reporter recorded it in the events table. */
const RecordedTransition = z.object({
  from: RolloutStateSchema,
  to: RolloutStateSchema,
  candidate: ModelRefSchema.optional(),
  reason: z.string().optional(),
  desiredCounter: z.number().int().positive().optional(),
  rolloutId: z.string().optional(),
});
export type RecordedTransition = z.infer<typeof RecordedTransition> & { at: number };

/** A model bundle on disk. */
export interface ModelInstall {
  name: string;
  counter: number;
  version: string;
  dir: string;
  /** The signed manifest envelope as received (JSON text). */
  manifest: string;
  installedAt: number;
}

/** Which install serves a model name; none means the model from the agent's config file. */
export interface ServingRecord {
  name: string;
  counter: number;
  /** The install to go back to; null means the config's model. */
  previousCounter: number | null;
  state: 'probation' | 'committed';
  since: number;
}

/** The model switch in progress. */
export interface RolloutJob {
  name: string;
  counter: number;
  version: string;
  step: RolloutStep;
  manifest: string;
  desiredCounter: number | null;
  rolloutId: string | null;
  startedAt: number;
  stepAt: number;
  /** The serving model's mean confidence during shadow, once shadow has run. */
  baselineConfidence: number | null;
}

/**
 * Rollout's memory in the agent's SQLite file, so a power cut at any step resumes from
 * what was committed. Every method is one statement or one transaction.
 */
export class RolloutStore {
  constructor(private readonly db: SqliteDatabase) {}

  job(): RolloutJob | undefined {
    const row = this.db.prepare('SELECT * FROM rollout_job WHERE id = 1').get() as Record<string, unknown> | undefined;
    if (!row) return undefined;
    return {
      name: row.name as string,
      counter: row.counter as number,
      version: row.version as string,
      step: row.step as RolloutStep,
      manifest: row.manifest as string,
      desiredCounter: row.desired_counter as number | null,
      rolloutId: row.rollout_id as string | null,
      startedAt: row.started_at as number,
      stepAt: row.step_at as number,
      baselineConfidence: (row.baseline_confidence as number | null) ?? null,
    };
  }

  startJob(job: Omit<RolloutJob, 'step' | 'stepAt' | 'baselineConfidence'>): void {
    this.db
      .prepare(
        `INSERT OR REPLACE INTO rollout_job (id, name, counter, version, step, manifest, desired_counter, rollout_id, started_at, step_at)
         VALUES (1, @name, @counter, @version, 'download', @manifest, @desiredCounter, @rolloutId, @startedAt, @startedAt)`,
      )
      .run(job);
  }

  setStep(step: RolloutStep, at: number): void {
    this.db.prepare('UPDATE rollout_job SET step = ?, step_at = ? WHERE id = 1').run(step, at);
  }

  setBaseline(confidence: number): void {
    this.db.prepare('UPDATE rollout_job SET baseline_confidence = ? WHERE id = 1').run(confidence);
  }

  endJob(): void {
    this.db.prepare('DELETE FROM rollout_job WHERE id = 1').run();
  }

  install(name: string, counter: number): ModelInstall | undefined {
    const row = this.db.prepare('SELECT * FROM model_installs WHERE name = ? AND counter = ?').get(name, counter) as Record<string, unknown> | undefined;
    return row && toInstall(row);
  }

  /** Installs of `name`, newest counter first. */
  installs(name: string): ModelInstall[] {
    return (this.db.prepare('SELECT * FROM model_installs WHERE name = ? ORDER BY counter DESC').all(name) as Record<string, unknown>[]).map(toInstall);
  }

  addInstall(i: ModelInstall): void {
    this.db
      .prepare('INSERT OR REPLACE INTO model_installs (name, counter, version, dir, manifest, installed_at) VALUES (@name, @counter, @version, @dir, @manifest, @installedAt)')
      .run(i);
  }

  removeInstall(name: string, counter: number): void {
    this.db.prepare('DELETE FROM model_installs WHERE name = ? AND counter = ?').run(name, counter);
  }

  serving(name: string): ServingRecord | undefined {
    const row = this.db.prepare('SELECT * FROM model_serving WHERE name = ?').get(name) as Record<string, unknown> | undefined;
    if (!row) return undefined;
    return { name, counter: row.counter as number, previousCounter: row.previous_counter as number | null, state: row.state as ServingRecord['state'], since: row.since as number };
  }

  allServing(): ServingRecord[] {
    return (this.db.prepare('SELECT name FROM model_serving').all() as Array<{ name: string }>).map((r) => this.serving(r.name)!);
  }

  /** The switch itself: the new model serves (on probation) and the job moves to probation, atomically. */
  switchTo(name: string, counter: number, previousCounter: number | null, at: number): void {
    this.db.transaction(() => {
      this.db
        .prepare('INSERT OR REPLACE INTO model_serving (name, counter, previous_counter, state, since) VALUES (?, ?, ?, ?, ?)')
        .run(name, counter, previousCounter, 'probation', at);
      this.setStep('probation', at);
    })();
  }

  /** Probation passed: the model is committed and the job ends, atomically. */
  commit(name: string, at: number): void {
    this.db.transaction(() => {
      this.db.prepare(`UPDATE model_serving SET state = 'committed', since = ? WHERE name = ?`).run(at, name);
      this.endJob();
    })();
  }

  /** Back to the previous model (null: the config's); marks the candidate failed and ends the job, atomically. */
  restore(name: string, previousCounter: number | null, failed: { counter: number; reason: string }, at: number): void {
    this.db.transaction(() => {
      if (previousCounter === null) this.db.prepare('DELETE FROM model_serving WHERE name = ?').run(name);
      else {
        this.db
          .prepare(`INSERT OR REPLACE INTO model_serving (name, counter, previous_counter, state, since) VALUES (?, ?, NULL, 'committed', ?)`)
          .run(name, previousCounter, at);
      }
      this.markFailed(name, failed.counter, failed.reason, at);
      this.endJob();
    })();
  }

  markFailed(name: string, counter: number, reason: string, at: number): void {
    this.db.prepare('INSERT OR REPLACE INTO failed_models (name, counter, reason, at) VALUES (?, ?, ?, ?)').run(name, counter, reason, at);
  }

  /** The newest rollout transition in the audit trail; undefined when there is none or it cannot be read. */
  lastTransition(): RecordedTransition | undefined {
    const row = this.db.prepare("SELECT ts, detail FROM events WHERE kind LIKE 'rollout\\_%' ESCAPE '\\' ORDER BY id DESC LIMIT 1").get() as { ts: number; detail: string | null } | undefined;
    if (!row?.detail) return undefined;
    try {
      const parsed = RecordedTransition.safeParse(JSON.parse(row.detail));
      return parsed.success ? { ...parsed.data, at: row.ts } : undefined;
    } catch {
      return undefined;
    }
  }

  failure(name: string, counter: number): string | undefined {
    const row = this.db.prepare('SELECT reason FROM failed_models WHERE name = ? AND counter = ?').get(name, counter) as { reason: string } | undefined;
    return row?.reason;
  }

  /** The highest signed counter accepted under `key` (e.g. `model:defect`, `desired:device:gw1`), with its version. */
  highest(key: string): { counter: number; version: string } | undefined {
    const row = this.db.prepare('SELECT counter, version FROM signed_counters WHERE key = ?').get(key) as { counter: number; version: string | null } | undefined;
    return row && { counter: row.counter, version: row.version ?? '' };
  }

  /** Raises the accepted counter (and its version); never lowers it. */
  accept(key: string, counter: number, version = ''): void {
    this.db
      .prepare(
        `INSERT INTO signed_counters (key, counter, version) VALUES (?, ?, ?)
         ON CONFLICT(key) DO UPDATE SET version = CASE WHEN excluded.counter > counter THEN excluded.version ELSE version END,
                                        counter = max(counter, excluded.counter)`,
      )
      .run(key, counter, version);
  }
}

function toInstall(row: Record<string, unknown>): ModelInstall {
  return {
    name: row.name as string,
    counter: row.counter as number,
    version: row.version as string,
    dir: row.dir as string,
    manifest: row.manifest as string,
    installedAt: row.installed_at as number,
  };
}
