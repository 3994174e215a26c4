import type { FeatureConfig, WindowConfig } from '../config/sensor-schema.js';
import { featureValue, windowStats, type WindowStats } from './features.js';
import type { TagBoard } from './tag-board.js';
import { goodNumber } from './tag-sample.js';

/** One model input row built from the tags, with what was not quite right about it. */
export interface AssembledWindow {
  /** Wall ms of the window's end (source time). */
  end: number;
  values: Float32Array;
  /** `tag.fn` → value, for the prediction record. */
  features: Record<string, number>;
  /** e.g. `stale:temperature`, `gap:vibration`, `quality:pressure`, `imputed:current.mean`. */
  flags: string[];
  /** Set when the missing-value policy says not to predict from this window. */
  skip?: string;
}

/** Builds a model's feature rows from the tag board at aligned window ends. */
export class FeatureAssembler {
  private readonly keys: string[];
  private readonly tags: string[];

  constructor(
    private readonly board: TagBoard,
    private readonly features: readonly FeatureConfig[],
    private readonly window: WindowConfig,
  ) {
    this.keys = features.map((f) => `${f.tag}.${f.fn}`);
    this.tags = [...new Set(features.map((f) => f.tag))];
    // A second more than the window needs, so a window computed late still has its samples.
    for (const tag of this.tags) board.retain(tag, window.sizeMs + window.graceMs + 1000);
  }

  /** The window ending at wall ms `end`, judged at monotonic `now` for staleness. */
  assemble(end: number, now: number): AssembledWindow {
    const { sizeMs, staleMs, onMissing } = this.window;
    const flags = new Set<string>();
    const stats = new Map<string, WindowStats | undefined>();
    const stale = new Set<string>();
    for (const tag of this.tags) {
      const state = this.board.tags.get(tag);
      const link = state ? this.board.links.get(state.server) : undefined;
      if (!state || !link?.up || link.confirmedAt === undefined || now - link.confirmedAt > staleMs) stale.add(tag);
      const s = state ? windowStats(state.window, end, sizeMs) : undefined;
      stats.set(tag, s);
      if (stale.has(tag)) flags.add(`stale:${tag}`);
      if (s?.gap) flags.add(`gap:${tag}`);
      if (s && s.notGood > 0) flags.add(`quality:${tag}`);
    }
    const values = new Float32Array(this.features.length);
    const out: Record<string, number> = {};
    let skip: string | undefined;
    this.features.forEach((f, i) => {
      const s = stats.get(f.tag);
      let v = s && s.currentGood && !stale.has(f.tag) ? featureValue(s, f.fn) : NaN;
      if (!Number.isFinite(v)) {
        const why = stale.has(f.tag) ? 'stale' : s?.gap ? 'in a gap' : 'no good value';
        if (onMissing === 'skip') {
          skip ??= `${this.keys[i]} missing (${why})`;
        } else {
          const fallback = f.impute ?? lastKnown(this.board, f.tag);
          if (fallback === undefined) skip ??= `${this.keys[i]} missing (${why}) and nothing to impute`;
          else {
            v = fallback;
            flags.add(`imputed:${this.keys[i]}`);
          }
        }
      }
      values[i] = v;
      out[this.keys[i]!] = v;
    });
    return { end, values, features: out, flags: [...flags], ...(skip ? { skip } : {}) };
  }
}

function lastKnown(board: TagBoard, tag: string): number | undefined {
  const r = board.tags.get(tag)?.lastReading;
  return r ? goodNumber(r) : undefined;
}
