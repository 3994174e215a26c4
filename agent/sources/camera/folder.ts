import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../../clock.js';
import type { FolderSourceConfig } from '../../config/schema.js';
import type { Counters } from '../../counters.js';
import { AgentError, errorMessage } from '../../errors.js';
import type { AgentEvent, EventSink } from '../../events.js';
import type { Frame, FrameOutcome } from '../../frame.js';
import type { Component } from '../../lifecycle/component.js';
import type { FrameQueue } from '../../pipeline/frame-queue.js';
import { FileStability, type FileSighting } from './file-stability.js';
import { classifyName } from './folder-names.js';
import { FolderFiling, recordEvent } from './folder-filing.js';
import { readUnchanged, refusalBeforeReading, refusalOfContent, sightFile, type Candidate, type Refusal } from './folder-intake.js';
import { PollPause } from './poll-pause.js';

export { FolderRejectCode } from './folder-intake.js';

export interface FolderSourceOptions {
  config: FolderSourceConfig;
  queue: FrameQueue;
  events: EventSink;
  counters: Counters;
  log: Logger;
  clock?: Clock;
}

/** The queue refuses frames with this code once the pipeline is closing. */
const QUEUE_CLOSED = 'E_STOPPING';

/** One burst of fs.watch notifications becomes one listing this long after the first. */
const NUDGE_GAP_MS = 20;

/**
 * The hot folder a vision controller drops images into.
 *
 * Every file matters, so frames go to the pipeline with `queue.put` and files wait
 * in the folder while it is busy. A file leaves the folder only after its frame is
 * settled: into done/ (or deleted) when the prediction is committed, into
 * rejected/ when refused. A crash with a frame in flight therefore leaves the file
 * where it was and it is read again after restart: delivery is at-least-once.
 *
 * Files with an extension that is not an image are moved to rejected/ with a reason
 * rather than left alone: a folder that silently fills with what nobody reads is
 * how a gateway's disk runs full on a night shift.
 */
export class FolderSource implements Component {
  readonly name: string;
  private readonly config: FolderSourceConfig;
  private readonly queue: FrameQueue;
  private readonly record: (event: AgentEvent) => void;
  private readonly counters: Counters;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly stability: FileStability;
  private readonly filing: FolderFiling;
  private readonly pause = new PollPause(NUDGE_GAP_MS);
  /** Files handed over or refused whose file has not left the folder yet. */
  private readonly inFlight = new Set<string>();
  /** Resolves per frame once it is settled and its file filed (or given up on). */
  private readonly unsettled = new Set<Promise<void>>();
  /** Read failures already reported, by file and what it looked like, so a stuck file is one event, not one per poll. */
  private readonly readFailures = new Map<string, string>();
  private folderFailure: string | undefined;
  private watcher: FSWatcher | undefined;
  private loop: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private halted = true;

  constructor(opts: FolderSourceOptions) {
    this.config = opts.config;
    this.queue = opts.queue;
    this.counters = opts.counters;
    this.clock = opts.clock ?? systemClock;
    this.name = `folder:${opts.config.id}`;
    this.log = opts.log.child({ component: 'folder-source', source: opts.config.id });
    this.record = (event) => recordEvent(opts.events, this.log, event);
    this.stability = new FileStability(opts.config.stableMs);
    this.filing = new FolderFiling({
      folder: opts.config.path,
      doneDir: opts.config.doneDir ?? join(opts.config.path, 'done'),
      rejectedDir: opts.config.rejectedDir ?? join(opts.config.path, 'rejected'),
      afterProcess: opts.config.afterProcess,
      source: opts.config.id,
      events: opts.events,
      log: this.log,
      clock: this.clock,
      forget: (file) => this.release(file),
    });
  }

  async start(signal: AbortSignal): Promise<void> {
    if (this.loop) return;
    await this.stopping;
    this.stopping = undefined;
    if (signal.aborted) return;
    for (const dir of [this.config.path, this.filing.doneDir, this.filing.rejectedDir]) {
      try {
        await mkdir(dir, { recursive: true });
      } catch (err) {
        throw new AgentError('E_FOLDER_SOURCE', `${this.name}: cannot create ${dir}: ${errorMessage(err)}`, { retryable: true, cause: err });
      }
    }
    // stop() may have come while the directories were being made; it wins.
    if (this.stopping || signal.aborted) return;
    this.halted = false;
    this.pause.resume();
    this.watch();
    signal.addEventListener('abort', () => this.halt(), { once: true });
    this.loop = this.run();
    this.log.info({ path: this.config.path }, 'watching hot folder');
  }

  /** Stops listing, then waits until every frame already handed over is settled and filed. */
  stop(): Promise<void> {
    this.stopping ??= this.drain();
    return this.stopping;
  }

  private async drain(): Promise<void> {
    this.halt();
    // A frame waiting in queue.put cannot be taken back; the pipeline drains it like the rest.
    await this.loop;
    this.loop = undefined;
    await Promise.all([...this.unsettled]);
    await this.filing.idle();
  }

  private halt(): void {
    this.halted = true;
    this.pause.halt();
    this.watcher?.close();
    this.watcher = undefined;
  }

  private watch(): void {
    try {
      this.watcher = watch(this.config.path, { persistent: false }, () => this.pause.nudge());
      this.watcher.on('error', (err) => {
        this.log.warn({ err }, 'fs.watch failed; polling alone from now on');
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (err) {
      // Network filesystems often cannot be watched; polling finds everything anyway.
      this.log.info({ err }, 'fs.watch unavailable; polling alone');
    }
  }

  private async run(): Promise<void> {
    while (!this.halted) {
      let waitMs = this.config.pollMs;
      try {
        waitMs = Math.min(waitMs, await this.scan());
      } catch (err) {
        this.log.error({ err }, `hot folder scan failed: ${errorMessage(err)}`);
      }
      await this.pause.wait(Math.max(1, waitMs));
    }
  }

  /** Lists the folder, hands over every complete file oldest first; returns when a listing is next worth doing. */
  private async scan(): Promise<number> {
    this.filing.retryFailed();
    const startedAt = this.clock.monotonic();
    const names = await this.list();
    if (!names) return this.config.pollMs;
    const present = new Set<string>();
    const sightings: Candidate[] = [];
    for (const name of names) {
      const verdict = classifyName(name, this.config.extensions);
      if (verdict === 'ignore') continue;
      present.add(name);
      if (this.inFlight.has(name)) continue;
      const seen = await sightFile(this.config.path, name).catch((err: unknown) => this.readFailed({ name, size: -1, mtimeMs: -1 }, err));
      if (seen) sightings.push({ ...seen, verdict });
    }
    for (const name of this.readFailures.keys()) if (!present.has(name)) this.readFailures.delete(name);
    const { complete, nextMs } = this.stability.review(sightings, startedAt, this.clock.monotonic());
    for (const file of complete) {
      if (this.halted) break;
      await this.take(file);
    }
    return nextMs;
  }

  private async list(): Promise<string[] | undefined> {
    try {
      const names = await readdir(this.config.path);
      if (this.folderFailure) this.log.info('hot folder readable again');
      this.folderFailure = undefined;
      return names;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unknown';
      if (this.folderFailure !== code) {
        this.folderFailure = code;
        this.log.error({ err }, `cannot list hot folder: ${errorMessage(err)}`);
        const message = `${this.config.path}: ${errorMessage(err)}`;
        this.record({ level: 'error', kind: 'folder_unreadable', source: this.config.id, message, detail: { path: this.config.path, code } });
      }
      return undefined;
    }
  }

  private async take(file: Candidate): Promise<void> {
    const early = refusalBeforeReading(file, this.config.maxBytes);
    if (early) return this.refuse(file, early);
    const read = await readUnchanged(join(this.config.path, file.name), file);
    if ('failed' in read) return this.readFailed(file, read.failed);
    this.readFailures.delete(file.name);
    if ('changed' in read) return this.stability.forget(file.name);
    const refusal = refusalOfContent(read.data);
    if (refusal) return this.refuse(file, refusal);
    await this.handOver(file, read.data);
  }

  private async handOver(file: Candidate, data: Buffer): Promise<void> {
    let outcome: FrameOutcome | undefined;
    const settledOnce = this.track(file.name);
    const frame: Frame = {
      source: this.config.id,
      id: file.name,
      data,
      ts: this.clock.now(),
      arrivedAt: this.clock.monotonic(),
      settle: (o) => {
        if (outcome) return this.log.warn({ file: file.name, outcome: o }, 'frame settled twice; second outcome ignored');
        outcome = o;
        this.settled(file, o, settledOnce);
      },
    };
    await this.queue.put(frame);
    if (outcome && !outcome.ok && outcome.code === QUEUE_CLOSED) return;
    this.counters.frameIn(this.config.id, frame.ts, frame.arrivedAt);
  }

  /** Refusals found here travel the same road as the pipeline's, so rejected/ and the audit trail hold both. */
  private refuse(file: Candidate, refusal: Refusal): void {
    this.settled(file, { ok: false, ...refusal }, this.track(file.name));
  }

  private settled(file: Candidate, outcome: FrameOutcome, done: () => void): void {
    if (!outcome.ok && outcome.code === QUEUE_CLOSED) {
      // Not the frame's fault: the file stays for the next start.
      this.log.info({ file: file.name }, 'pipeline closed; file left in the folder');
      this.halt();
      this.release(file.name);
      return done();
    }
    if (!outcome.ok) {
      this.counters.rejected++;
      const detail = { file: file.name, reason: outcome.reason, code: outcome.code, bytes: file.size };
      this.log.warn(detail, 'frame rejected');
      this.record({ level: 'warn', kind: 'frame_rejected', source: this.config.id, message: `${file.name}: ${outcome.reason}`, detail });
    }
    void this.filing.file(file.name, outcome).finally(done);
  }

  /** Marks a file as in flight; the returned function is called once it is settled and filed. */
  private track(name: string): () => void {
    this.inFlight.add(name);
    let done!: () => void;
    const settled = new Promise<void>((resolve) => (done = resolve));
    this.unsettled.add(settled);
    void settled.then(() => this.unsettled.delete(settled));
    return done;
  }

  /** The file left the folder (or is left for the next start): it may be seen afresh. */
  private release(name: string): void {
    this.inFlight.delete(name);
    this.stability.forget(name);
  }

  private readFailed(file: FileSighting, err: unknown): void {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown';
    const key = `${file.size}:${file.mtimeMs}:${code}`;
    if (this.readFailures.get(file.name) === key) return;
    this.readFailures.set(file.name, key);
    this.log.warn({ err, file: file.name }, `cannot read ${file.name}; retrying on a later poll`);
    const message = `${file.name}: ${errorMessage(err)}`;
    this.record({ level: 'warn', kind: 'file_read_failed', source: this.config.id, message, detail: { file: file.name, code } });
  }
}
