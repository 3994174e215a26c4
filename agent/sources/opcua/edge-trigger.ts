import type { TagSample } from '../../features/tag-sample.js';

/** Turns a bit's samples into edges; a Bad reading or a gap resets it, so a reconnect never fakes an edge. */
export class EdgeDetector {
  private level: boolean | undefined;

  constructor(private readonly edge: 'rising' | 'falling') {}

  /** True when `s` completes the configured edge. */
  feed(s: TagSample): boolean {
    if (s.gap || s.quality !== 'good' || s.value === null) {
      this.level = undefined;
      return false;
    }
    if (s.held) return false;
    const level = typeof s.value === 'string' ? s.value === 'true' || s.value === '1' : Boolean(s.value);
    const was = this.level;
    this.level = level;
    if (was === undefined) return false;
    return this.edge === 'rising' ? !was && level : was && !level;
  }
}
