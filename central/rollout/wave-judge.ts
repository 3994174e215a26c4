import type { ModelRef } from '../../protocol/desired-state.js';
import type { RolloutReport } from '../../protocol/rollout-state.js';
import type { DeviceOutcome, WaveProgress } from './progress.js';

/*
 * When a wave is through. A device has committed when its retained report says committed
 * (or idle: nothing left to do) with the rollout's version serving; it has failed when it
 * reports failed or rolled-back for THIS rollout (its rollout id, or the desired counter
 * sent to it), so a failure left over from an earlier rollout does not count; a device
 * that has done neither when the wave timeout runs out has timed out, which counts as a
 * failure. Failures reaching the halt share halt at once, without waiting for the rest.
 */

export interface WaveInput {
  rolloutId: string;
  model: ModelRef;
  wave: WaveProgress;
  waveCount: number;
  reports: ReadonlyMap<string, RolloutReport>;
  now: number;
  timeoutMs: number;
  haltOnFailurePct: number;
}

export interface WaveJudgement {
  /** Every device that has an outcome: the wave's earlier ones and the new ones. */
  outcomes: Record<string, DeviceOutcome>;
  committed: number;
  /** failed, rolled-back and timed-out. */
  failed: number;
  waiting: string[];
  verdict: 'wait' | 'advance' | 'halt';
  /** Why it halted. */
  reason?: string;
  /** One line for the operator: "wave 1/2: 1/3 committed, 1 failed, 1 waiting". */
  summary: string;
}

/** How one device stands in the wave, from its latest report; undefined while it is still at it. */
export function deviceOutcome(report: RolloutReport | undefined, model: ModelRef, rolloutId: string, counter: number | undefined): DeviceOutcome | undefined {
  if (!report) return undefined;
  const serves = report.serving.some((m) => m.name === model.name && m.version === model.version);
  if (serves && (report.state === 'committed' || report.state === 'idle')) return { result: 'committed' };
  const ours = report.rolloutId === rolloutId || (counter !== undefined && report.desiredCounter === counter);
  if (ours && (report.state === 'failed' || report.state === 'rolled-back')) {
    return report.reason === undefined ? { result: report.state } : { result: report.state, reason: report.reason };
  }
  return undefined;
}

/** Judges the wave from the reports seen so far. Outcomes already recorded stay as they are. */
export function judgeWave(input: WaveInput): WaveJudgement {
  const { wave, model, rolloutId, reports, now } = input;
  const outcomes: Record<string, DeviceOutcome> = { ...wave.outcomes };
  const timedOut = wave.publishedAt !== undefined && now >= wave.publishedAt + input.timeoutMs;
  for (const device of wave.devices) {
    if (outcomes[device]) continue;
    const report = reports.get(device);
    const outcome = deviceOutcome(report, model, rolloutId, wave.counters[device]);
    if (outcome) outcomes[device] = outcome;
    else if (timedOut) outcomes[device] = { result: 'timed-out', reason: `no committed report within ${formatMs(input.timeoutMs)}${report ? ` (last reported ${report.state})` : ' (no report at all)'}` };
  }
  const waiting = wave.devices.filter((d) => !outcomes[d]);
  const failedDevices = wave.devices.filter((d) => outcomes[d] && outcomes[d].result !== 'committed');
  const committed = wave.devices.length - waiting.length - failedDevices.length;
  const failed = failedDevices.length;
  const label = `wave ${wave.wave}/${input.waveCount}`;
  const summary = `${label}: ${committed}/${wave.devices.length} committed${failed ? `, ${failed} failed` : ''}${waiting.length ? `, ${waiting.length} waiting` : ''}`;
  // Multiplied out, so 1 of 5 against 20% is exactly the limit.
  if (failed > 0 && failed * 100 >= input.haltOnFailurePct * wave.devices.length) {
    const pct = Math.round((failed * 1000) / wave.devices.length) / 10;
    const listed = failedDevices.slice(0, 5).map((d) => `${d} ${outcomes[d]!.result}${outcomes[d]!.reason ? ` (${outcomes[d]!.reason})` : ''}`);
    const more = failedDevices.length > 5 ? `; and ${failedDevices.length - 5} more` : '';
    const reason = `${label}: ${failed} of ${wave.devices.length} device${wave.devices.length > 1 ? 's' : ''} failed (${pct}%, the halt limit is ${input.haltOnFailurePct}%): ${listed.join('; ')}${more}`;
    return { outcomes, committed, failed, waiting, verdict: 'halt', reason, summary };
  }
  return { outcomes, committed, failed, waiting, verdict: waiting.length === 0 ? 'advance' : 'wait', summary };
}

/** 600000 → "10m", 90000 → "90s". */
export function formatMs(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${Math.round(ms / 1000)}s`;
}
