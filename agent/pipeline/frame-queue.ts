import type { Frame } from '../frame.js';

/**
 * A bounded queue between a source and the pipeline.
 * `offer` (free-running cameras) keeps the newest frame and drops the oldest when full;
 * `put` (folder, where every file matters) waits for room instead.
 */
export class FrameQueue {
  private readonly items: Frame[] = [];
  private readonly takers: Array<(f: Frame | undefined) => void> = [];
  private readonly roomWaiters: Array<() => void> = [];
  private closed = false;
  dropped = 0;

  constructor(readonly capacity: number, private readonly onDrop: (frame: Frame) => void = () => {}) {}

  get size(): number {
    return this.items.length;
  }

  /** Adds a frame; when full, drops (and reports) the oldest waiting frame. */
  offer(frame: Frame): void {
    if (this.closed) return frame.settle({ ok: false, code: 'E_STOPPING', reason: 'agent is stopping' });
    if (this.hand(frame)) return;
    if (this.items.length >= this.capacity) {
      const old = this.items.shift()!;
      this.dropped++;
      this.onDrop(old);
    }
    this.items.push(frame);
  }

  /** Adds a frame, waiting while the queue is full. */
  async put(frame: Frame): Promise<void> {
    while (!this.closed && this.items.length >= this.capacity && this.takers.length === 0) {
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    }
    if (this.closed) return frame.settle({ ok: false, code: 'E_STOPPING', reason: 'agent is stopping' });
    if (!this.hand(frame)) this.items.push(frame);
  }

  /** The next frame, or undefined once the queue is closed and empty. */
  take(): Promise<Frame | undefined> {
    const next = this.items.shift();
    if (next) {
      this.roomWaiters.shift()?.();
      return Promise.resolve(next);
    }
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => this.takers.push(resolve));
  }

  /** No more frames are accepted; frames already queued are still handed out. */
  close(): void {
    this.closed = true;
    for (const t of this.takers.splice(0)) t(undefined);
    for (const w of this.roomWaiters.splice(0)) w();
  }

  private hand(frame: Frame): boolean {
    const taker = this.takers.shift();
    if (!taker) return false;
    taker(frame);
    return true;
  }
}
