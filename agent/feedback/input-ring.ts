/** A camera input kept in memory until its label may come. */
export interface HeldInput {
  source: string;
  frameId: string;
  mediaType: string;
  data: Buffer;
}

/**
 * The latest `capacity` inputs of one model by prediction sequence number: the frame's own
 * buffer is held (no copy), and the oldest goes when a new one comes.
 */
export class InputRing {
  private readonly held = new Map<number, HeldInput>();

  constructor(private readonly capacity: number) {}

  put(seq: number, input: HeldInput): void {
    if (this.capacity === 0) return;
    this.held.set(seq, input);
    if (this.held.size > this.capacity) {
      const oldest = this.held.keys().next().value;
      if (oldest !== undefined) this.held.delete(oldest);
    }
  }

  get(seq: number): HeldInput | undefined {
    return this.held.get(seq);
  }
}
