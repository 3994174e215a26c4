import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Clock } from '../../clock.js';
import type { FolderSourceConfig } from '../../config/schema.js';
import { errorMessage } from '../../errors.js';
import type { AgentEvent, EventSink } from '../../events.js';
import type { FrameOutcome } from '../../frame.js';
import { deleteFile, hasErrorCode, moveInto, writeReasonNote } from './file-settle.js';

export interface FolderFilingOptions {
  /** The hot folder files are filed out of. */
  folder: string;
  doneDir: string;
  rejectedDir: string;
  afterProcess: FolderSourceConfig['afterProcess'];
  source: string;
  events: EventSink;
  log: Logger;
  clock: Clock;
  /** Told when a file has left the hot folder, or vanished, and may be forgotten. */
  forget: (file: string) => void;
}

/**
 * Takes settled files out of the hot folder: done/ or deleted when committed,
 * rejected/ with a reason note when refused. Moves run one at a time so two files
 * can never pick the same free name. A move that fails (permissions, a full
 * disk) is retried on every poll and reported once; until it succeeds the file
 * stays in flight, so it is never handed to the pipeline a second time.
 */
export class FolderFiling {
  readonly doneDir: string;
  readonly rejectedDir: string;
  private chain: Promise<void> = Promise.resolve();
  private readonly failed = new Map<string, FrameOutcome>();
  private readonly queued = new Set<string>();

  constructor(private readonly opts: FolderFilingOptions) {
    this.doneDir = opts.doneDir;
    this.rejectedDir = opts.rejectedDir;
  }

  /** Files `name` by its outcome; resolves after this attempt, whether or not it worked. */
  file(name: string, outcome: FrameOutcome): Promise<void> {
    this.queued.add(name);
    const attempt = this.chain.then(() => this.attempt(name, outcome));
    // Whatever one attempt throws must not wedge the files queued behind it.
    this.chain = attempt.catch((err: unknown) => this.opts.log.error({ err, file: name }, 'filing failed unexpectedly'));
    return this.chain;
  }

  /** Queues another attempt for every file whose filing failed before. */
  retryFailed(): void {
    for (const [name, outcome] of this.failed) if (!this.queued.has(name)) void this.file(name, outcome);
  }

  /** Resolves once every queued move has been attempted. */
  idle(): Promise<void> {
    return this.chain;
  }

  private async attempt(name: string, outcome: FrameOutcome): Promise<void> {
    const src = join(this.opts.folder, name);
    try {
      if (outcome.ok && this.opts.afterProcess === 'delete') await deleteFile(src);
      else if (outcome.ok) await moveInto(src, this.doneDir, name);
      else await this.reject(src, name, outcome);
      if (this.failed.delete(name)) this.opts.log.info({ file: name }, 'filed after earlier failures');
      this.opts.forget(name);
    } catch (err) {
      if (hasErrorCode(err, 'ENOENT')) {
        // Someone took it away by hand; nothing is left to file.
        this.opts.log.warn({ file: name }, 'file vanished before it could be filed');
        this.failed.delete(name);
        this.opts.forget(name);
      } else {
        this.failedOnce(name, outcome, err);
      }
    } finally {
      this.queued.delete(name);
    }
  }

  private async reject(src: string, name: string, outcome: Extract<FrameOutcome, { ok: false }>): Promise<void> {
    const dest = await moveInto(src, this.rejectedDir, name);
    try {
      await writeReasonNote(dest, {
        file: name,
        source: this.opts.source,
        code: outcome.code,
        reason: outcome.reason,
        rejectedAt: new Date(this.opts.clock.now()).toISOString(),
      });
    } catch (err) {
      // The file is already where it belongs; a missing note is not worth a retry.
      this.opts.log.warn({ err, file: name }, 'could not write the reason note');
    }
  }

  private failedOnce(name: string, outcome: FrameOutcome, err: unknown): void {
    if (this.failed.has(name)) return;
    this.failed.set(name, outcome);
    const where = outcome.ok ? (this.opts.afterProcess === 'delete' ? 'delete' : `move to ${this.doneDir}`) : `move to ${this.rejectedDir}`;
    this.opts.log.error({ err, file: name }, `could not ${where}: ${errorMessage(err)}; retrying every poll`);
    this.record({
      level: 'error',
      kind: 'file_move_failed',
      source: this.opts.source,
      message: `${name}: could not ${where}: ${errorMessage(err)}`,
      detail: { file: name, code: (err as NodeJS.ErrnoException).code ?? 'unknown', ok: outcome.ok },
    });
  }

  private record(event: AgentEvent): void {
    recordEvent(this.opts.events, this.opts.log, event);
  }
}

/** Records an audit event; the audit trail failing must not stop the folder from being worked. */
export function recordEvent(events: EventSink, log: Logger, event: AgentEvent): void {
  try {
    events.record(event);
  } catch (err) {
    log.error({ err, event }, 'could not record event');
  }
}
