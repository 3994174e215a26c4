import type { InferenceSession } from 'onnxruntime-node';
import { AgentError } from '../errors.js';

/**
 * An onnxruntime session shared by concurrent runs: each run holds it, and `release`
 * frees it only once the runs in flight are done (a rollout swaps models between frames).
 */
export class SessionLease<S extends { release(): Promise<void> } = InferenceSession> {
  private inFlight = 0;
  private idle: (() => void) | undefined;
  private released: Promise<void> | undefined;

  constructor(
    private readonly session: S,
    private readonly model: string,
  ) {}

  /** Runs `fn` holding the session; refused once the session was released. */
  async hold<T>(fn: (session: S) => Promise<T>): Promise<T> {
    if (this.released) throw new AgentError('E_MODEL_RELEASED', `model "${this.model}" has been released`);
    this.inFlight++;
    try {
      return await fn(this.session);
    } finally {
      if (--this.inFlight === 0) this.idle?.();
    }
  }

  /** Frees the session once runs in flight are done. Safe to call twice. */
  release(): Promise<void> {
    this.released ??= (async () => {
      if (this.inFlight > 0) await new Promise<void>((done) => (this.idle = done));
      await this.session.release();
    })();
    return this.released;
  }
}
