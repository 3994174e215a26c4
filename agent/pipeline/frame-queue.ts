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
  private readonly frameWaiters: Array<(any: boolean) => void> = [];
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

  /**
   * Resolves true once a frame is waiting, without taking it; false once the queue is closed
   * and empty. With `takeNow` it lets the pipeline take a frame only when it can start on it,
   * so a frame that waits for the pipeline waits here, where a newer one can still replace it.
   */
  waitForFrame(): Promise<boolean> {
    if (this.items.length > 0) return Promise.resolve(true);
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => this.frameWaiters.push(resolve));
  }

  /** The oldest waiting frame, or undefined when none is waiting. */
  takeNow(): Frame | undefined {
    const next = this.items.shift();
    if (next) this.roomWaiters.shift()?.();
    return next;
  }

  /** No more frames are accepted; frames already queued are still handed out. */
  close(): void {
    this.closed = true;
    for (const t of this.takers.splice(0)) t(undefined);
    for (const w of this.roomWaiters.splice(0)) w();
    for (const w of this.frameWaiters.splice(0)) w(this.items.length > 0);
  }

  private hand(frame: Frame): boolean {
    const taker = this.takers.shift();
    if (!taker) {
      // Queued by the caller right after this returns; waiters look once the current task is done.
      if (this.frameWaiters.length > 0) queueMicrotask(() => this.wakeFrameWaiters());
      return false;
    }
    taker(frame);
    return true;
  }

  private wakeFrameWaiters(): void {
    if (this.items.length === 0) return;
    for (const w of this.frameWaiters.splice(0)) w(true);
  }
}
