import type { Logger } from 'pino';
import type { WriteBackConfig } from '../../config/sensor-schema.js';
import { errorMessage } from '../../errors.js';
import type { EventSink } from '../../events.js';
import { sleep } from '../../lifecycle/backoff.js';
import type { OpcuaLink } from './opcua-link.js';

export type WriteValue = number | string | boolean;

export interface WriteBackOptions {
  links: ReadonlyMap<string, OpcuaLink>;
  events: EventSink;
  log: Logger;
  /** Writes waiting per target; beyond it the oldest is dropped, since a newer result replaces it. */
  maxPending?: number;
}

interface Job {
  target: WriteBackConfig;
  model: string;
  value: WriteValue;
}

/** Counters of the write-back, shown on the status page. */
export interface WriteBackStats {
  written: number;
  failed: number;
  retried: number;
  dropped: number;
}

/**
 * Writes results to PLC nodes off the inference path: `send` only queues. One writer per
 * target node keeps writes in order; a failed write is retried `retries` times, then
 * reported as an event and given up, so a PLC that refuses never slows predictions.
 */
export class WriteBack {
  readonly stats: WriteBackStats = { written: 0, failed: 0, retried: 0, dropped: 0 };
  private readonly queues = new Map<string, Job[]>();
  private readonly running = new Map<string, Promise<void>>();
  private stopped = false;
  private readonly abort = new AbortController();

  constructor(private readonly o: WriteBackOptions) {}

  send(target: WriteBackConfig, model: string, value: WriteValue): void {
    if (this.stopped) return;
    const key = `${target.server}|${target.nodeId}`;
    const q = this.queues.get(key) ?? [];
    this.queues.set(key, q);
    q.push({ target, model, value });
    if (q.length > (this.o.maxPending ?? 16)) {
      q.shift();
      this.stats.dropped++;
    }
    if (!this.running.has(key)) {
      const run = this.drain(q).finally(() => this.running.delete(key));
      this.running.set(key, run);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    await Promise.all(this.running.values());
  }

  private async drain(q: Job[]): Promise<void> {
    for (let job = q.shift(); job && !this.stopped; job = q.shift()) await this.write(job);
  }

  private async write(job: Job): Promise<void> {
    const { target } = job;
    let last = '';
    for (let attempt = 0; attempt <= target.retries && !this.stopped; attempt++) {
      if (attempt > 0) {
        this.stats.retried++;
        await sleep(target.retryMs * 2 ** (attempt - 1), this.abort.signal);
      }
      try {
        await this.once(job);
        this.stats.written++;
        return;
      } catch (err) {
        last = errorMessage(err);
      }
    }
    if (this.stopped) return;
    this.stats.failed++;
    this.o.log.warn({ server: target.server, nodeId: target.nodeId, model: job.model, err: last }, 'write-back failed');
    this.o.events.record({
      level: 'warn',
      kind: 'opcua_write_failed',
      source: target.server,
      message: `writing ${JSON.stringify(job.value)} to ${target.nodeId} failed after ${target.retries + 1} attempts: ${last}`,
      detail: { model: job.model, nodeId: target.nodeId, value: job.value, attempts: target.retries + 1, reason: last },
    });
  }

  private async once(job: Job): Promise<void> {
    const session = this.o.links.get(job.target.server)?.session;
    if (!session) throw new Error(`server "${job.target.server}" is not connected`);
    // Loaded here, not at the top: a camera-only agent never loads node-opcua.
    const { AttributeIds, DataType, StatusCodes, Variant } = await import('node-opcua');
    const status = await session.write({
      nodeId: job.target.nodeId,
      attributeId: AttributeIds.Value,
      value: { value: new Variant({ dataType: DataType[job.target.dataType], value: coerce(job.value, job.target.dataType) }) },
    });
    if (status !== StatusCodes.Good && !status.isGood()) throw new Error(status.name);
  }
}

function coerce(v: WriteValue, type: WriteBackConfig['dataType']): WriteValue {
  switch (type) {
    case 'Boolean':
      return typeof v === 'boolean' ? v : typeof v === 'number' ? v !== 0 : v === 'true';
    case 'String':
      return String(v);
    case 'Int32':
      return Math.round(Number(v));
    default:
      return Number(v);
  }
}
