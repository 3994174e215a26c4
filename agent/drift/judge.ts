/*
 * Warn and alarm levels per statistic, with hysteresis: a statistic goes to alarm when it
 * reaches its alarm level, and comes back only after `recoverWindows` windows in a row
 * below its warn level, so a value hovering at the limit does not flap.
 */

export type Level = 'ok' | 'warn' | 'alarm';

/** Thresholds of one kind of statistic; `lowerIsWorse` for p-values. */
export interface Limits {
  warn: number;
  alarm: number;
  lowerIsWorse?: boolean;
}

/** One judged statistic of a window, e.g. `image.brightness` `psi`. */
export interface Judged {
  /** What was measured: `image.brightness`, `feature.temperature_mean`, `output.classes`, `confidence.top1`. */
  subject: string;
  statistic: string;
  value: number;
  level: Level;
}

/** A change of level, for the event log. */
export interface Transition {
  key: string;
  subject: string;
  statistic: string;
  from: Level;
  to: Level;
  value: number;
}

export class LevelTracker {
  private readonly levels = new Map<string, { level: Level; calm: number; subject: string; statistic: string; value: number }>();

  constructor(private readonly recoverWindows: number) {}

  /** Takes one window's values; returns the statistics whose level changed. */
  update(values: ReadonlyArray<{ subject: string; statistic: string; value: number; limits: Limits }>): { judged: Judged[]; transitions: Transition[] } {
    const judged: Judged[] = [];
    const transitions: Transition[] = [];
    for (const v of values) {
      const key = `${v.subject}:${v.statistic}`;
      const raw = rawLevel(v.value, v.limits);
      const state = this.levels.get(key) ?? { level: 'ok' as Level, calm: 0, subject: v.subject, statistic: v.statistic, value: v.value };
      const from = state.level;
      state.value = v.value;
      if (raw === 'alarm') {
        state.level = 'alarm';
        state.calm = 0;
      } else if (state.level === 'alarm') {
        state.calm = raw === 'ok' ? state.calm + 1 : 0;
        if (state.calm >= this.recoverWindows) state.level = raw;
      } else {
        state.level = raw;
      }
      this.levels.set(key, state);
      judged.push({ subject: v.subject, statistic: v.statistic, value: v.value, level: state.level });
      if (state.level !== from) transitions.push({ key, subject: v.subject, statistic: v.statistic, from, to: state.level, value: v.value });
    }
    return { judged, transitions };
  }

  /** The statistics in alarm now. */
  alarms(): Array<{ subject: string; statistic: string; value: number }> {
    return [...this.levels.values()].filter((s) => s.level === 'alarm').map(({ subject, statistic, value }) => ({ subject, statistic, value }));
  }

  /** The worst level of any statistic. */
  worst(): Level {
    let worst: Level = 'ok';
    for (const s of this.levels.values()) {
      if (s.level === 'alarm') return 'alarm';
      if (s.level === 'warn') worst = 'warn';
    }
    return worst;
  }
}

function rawLevel(value: number, limits: Limits): Level {
  if (!Number.isFinite(value)) return 'ok';
  if (limits.lowerIsWorse) return value <= limits.alarm ? 'alarm' : value <= limits.warn ? 'warn' : 'ok';
  return value >= limits.alarm ? 'alarm' : value >= limits.warn ? 'warn' : 'ok';
}
