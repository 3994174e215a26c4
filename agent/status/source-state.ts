import type { SourceConfig } from '../config/schema.js';
import type { AgentPhase, SourceState } from './snapshot.js';

/*
 * A free-running camera sends frames all the time, so silence means it stalled; a hot
 * folder sends when the line drops a file, so silence only means nothing to do.
 */
const FREE_RUNNING: Record<SourceConfig['type'], boolean> = { synthetic: true, folder: false, snapshot: true, mjpeg: true, rtsp: true, usb: true, video: true };

export interface SourceStateInputs {
  type: SourceConfig['type'];
  phase: AgentPhase;
  /** Monotonic ms of the newest frame, undefined before the first. */
  lastFrameAt: number | undefined;
  /** Monotonic ms when the agent started running, undefined while starting. */
  runningSince: number | undefined;
  now: number;
  staleS: number;
}

export function sourceState(i: SourceStateInputs): SourceState {
  if (i.phase === 'starting') return 'starting';
  if (i.phase !== 'running') return 'stopped';
  const quietFor = i.now - (i.lastFrameAt ?? i.runningSince ?? i.now);
  if (quietFor <= i.staleS * 1000) return i.lastFrameAt === undefined ? (FREE_RUNNING[i.type] ? 'starting' : 'idle') : 'live';
  return FREE_RUNNING[i.type] ? 'stalled' : 'idle';
}
