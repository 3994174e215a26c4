import { Transform, type TransformCallback } from 'node:stream';

/** Pieces small enough that the rate is smooth at a tenth of a second's resolution. */
const SLICES_PER_SECOND = 10;

/**
 * Passes bytes on no faster than `bytesPerS` on average, as a slow plant uplink would,
 * so downloads can be tested against a throttled server.
 */
export class Throttle extends Transform {
  private readonly slice: number;
  private sent = 0;
  private readonly startedAt = performance.now();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly bytesPerS: number) {
    super({ highWaterMark: Math.max(1024, Math.ceil(bytesPerS / SLICES_PER_SECOND)) });
    this.slice = Math.max(1, Math.ceil(bytesPerS / SLICES_PER_SECOND));
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.pace(chunk, 0, callback);
  }

  override _destroy(err: Error | null, callback: (err: Error | null) => void): void {
    clearTimeout(this.timer);
    callback(err);
  }

  private pace(chunk: Buffer, offset: number, callback: TransformCallback): void {
    if (offset >= chunk.length) return callback();
    const dueAt = this.startedAt + (this.sent / this.bytesPerS) * 1000;
    const wait = dueAt - performance.now();
    if (wait > 0) {
      this.timer = setTimeout(() => this.pace(chunk, offset, callback), wait);
      return;
    }
    const piece = chunk.subarray(offset, offset + this.slice);
    this.sent += piece.length;
    this.push(piece);
    this.pace(chunk, offset + piece.length, callback);
  }
}
