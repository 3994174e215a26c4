import type { RolloutReport } from '../../protocol/rollout-state.js';
import type { RolloutProgress, WaveProgress } from './progress.js';
import { formatMs } from './wave-judge.js';

/** The retained progress as an operator reads it: one block, a line per wave. */
export function progressText(p: RolloutProgress, signature: string): string {
  const total = p.waves.reduce((n, w) => n + w.devices.length, 0);
  const lines = [
    `rollout ${p.id}: ${p.state}, wave ${p.currentWave}/${p.waves.length} — ${p.model.name} ${p.model.version} (manifest counter ${p.model.counter}) to ${total} device${total === 1 ? '' : 's'}`,
    `  targets ${p.targets.join(' ')}; halts when ${p.haltOnFailurePct}% of a wave fails; wave timeout ${formatMs(p.waveTimeoutMs)}; on halt: ${p.rollbackFailed ? 'roll the wave back' : 'failed devices roll themselves back'}`,
    `  started ${new Date(p.startedAt).toISOString()} by ${p.startedBy}, updated ${new Date(p.updatedAt).toISOString()}; ${signature}`,
  ];
  if (p.approval) lines.push(`  each wave waits for ${p.approval.minSignatures} approval${p.approval.minSignatures > 1 ? 's' : ''} from role "${p.approval.role}" (${p.approval.keys.map((k) => k.id).join(', ')}): edgectl approve --rollout ${p.id}`);
  for (const w of p.waves) {
    const devices = w.devices.map((d) => {
      const o = w.outcomes[d];
      if (o) return `${d} ${o.result}${o.reason ? ` (${o.reason})` : ''}${w.approvedBy?.[d] ? `, approved by ${w.approvedBy[d].join(', ')}` : ''}`;
      if (w.publishedAt === undefined) return `${d} ${p.approval && w.wave === p.currentWave && p.state === 'running' ? 'waiting for approval' : 'not yet asked'}`;
      return `${d} waiting${w.approvedBy?.[d] ? ` (approved by ${w.approvedBy[d].join(', ')})` : ''}`;
    });
    lines.push(`  wave ${w.wave} (${w.sharePct}%): ${w.state}${w.publishedAt ? `, published ${new Date(w.publishedAt).toISOString()}` : ''}`);
    // A wave of thousands would bury the rest; the JSON form (--json) has them all.
    for (const d of devices.slice(0, 50)) lines.push(`    ${d}`);
    if (devices.length > 50) lines.push(`    … and ${devices.length - 50} more (--json lists all)`);
  }
  if (p.reasons.length > 0) {
    lines.push('  reasons:');
    for (const r of p.reasons) lines.push(`    ${r}`);
  }
  return lines.join('\n');
}

/**
 * The wave's devices that are downloading the model, with how far they are in steps of 10%
 * (so the line changes, and is printed, at most ten times per device); undefined when none is.
 */
export function downloadLine(label: string, wave: WaveProgress, reports: ReadonlyMap<string, RolloutReport>): string | undefined {
  const parts: string[] = [];
  for (const device of wave.devices) {
    const r = reports.get(device);
    if (r?.state !== 'downloading' || !r.progress || wave.outcomes[device]) continue;
    parts.push(`${device} ${Math.floor((r.progress.bytes * 10) / r.progress.total) * 10}%`);
  }
  if (parts.length === 0) return undefined;
  const shown = parts.slice(0, 8).join(', ');
  return `${label}: downloading ${shown}${parts.length > 8 ? ` and ${parts.length - 8} more` : ''}`;
}
