import type { DriftConfig } from '../config/drift-schema.js';
import type { DriftState } from '../drift/monitor.js';
import type { AlarmView, DriftView } from './snapshot.js';

type DriftSource = { states: DriftState[]; unwatched: string[]; limits: (model: string) => DriftConfig['limits'] | undefined; acknowledged?: (model: string) => boolean } | undefined;

/** The drift part of the status snapshot: one gauge per statistic's PSI, the model levels; `configured` once a model is watched. */
export function driftView(d: DriftSource): DriftView {
  if (!d || (d.states.length === 0 && d.unwatched.length === 0)) return { configured: false, gauges: [] };
  const gauges: DriftView['gauges'] = [];
  for (const s of d.states) {
    const threshold = d.limits(s.model)?.psi.alarm ?? null;
    for (const stat of s.lastWindow?.stats ?? []) {
      if (stat.statistic === 'psi') gauges.push({ model: s.model, name: stat.subject, value: round(stat.value), threshold });
    }
  }
  return {
    configured: d.states.length > 0,
    gauges,
    models: d.states.map((s) => ({ model: s.model, level: s.level, windows: s.windows, samplesInWindow: s.samplesInWindow, captured: s.captured, lastWindowAt: s.lastWindow?.endedAt ?? null })),
    unwatched: d.unwatched,
  };
}

/** One alarm per model in drift alarm, naming what drifted; `unacknowledged` leaves out those an operator has seen (for the LED and the verdict). */
export function driftAlarms(d: DriftSource, opts: { unacknowledged?: boolean } = {}): AlarmView[] {
  if (!d) return [];
  return d.states
    .filter((s) => s.level === 'alarm' && !(opts.unacknowledged && d.acknowledged?.(s.model)))
    .map((s) => ({
      id: `drift:${s.model}`,
      severity: 'critical' as const,
      message: `drift on ${s.model}: ${named(s.alarms)}`,
      since: s.lastWindow?.endedAt ?? 0,
      acknowledged: d.acknowledged?.(s.model) ?? false,
    }));
}

/** Statistics named in an alarm's message; the rest are counted, so a line stays readable on a phone. */
const NAMED = 3;

/** The alarmed statistics, PSI first (the page charts it), e.g. "image.brightness psi 0.41, ... and 12 more". */
function named(alarms: ReadonlyArray<{ subject: string; statistic: string; value: number }>): string {
  const ordered = [...alarms.filter((a) => a.statistic === 'psi'), ...alarms.filter((a) => a.statistic !== 'psi')];
  const shown = ordered.slice(0, NAMED).map((a) => `${a.subject} ${a.statistic} ${round(a.value)}`).join(', ');
  return ordered.length > NAMED ? `${shown} and ${ordered.length - NAMED} more` : shown;
}

function round(v: number): number {
  return Math.round(v * 10_000) / 10_000;
}
