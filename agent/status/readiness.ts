import type { AgentPhase } from './snapshot.js';

export interface Readiness {
  ready: boolean;
  /** Every check that failed, for the 503 body. */
  reasons: string[];
}

export interface ReadinessInputs {
  phase: AgentPhase;
  models: ReadonlyArray<{ name: string; loaded: boolean }>;
  /** Why the store cannot take a write right now; undefined when it can. */
  storeProblem: string | undefined;
}

/**
 * `/readyz`: ready to do its job, which is narrower than healthy. A gateway whose broker
 * is away is ready (it buffers); one whose models or store are gone is not.
 */
export function judgeReadiness(i: ReadinessInputs): Readiness {
  const reasons: string[] = [];
  if (i.phase === 'starting') reasons.push('sources not started yet: the agent is starting');
  else if (i.phase !== 'running') reasons.push(`sources stopped: the agent is ${i.phase}`);
  if (i.models.length === 0) reasons.push('no model is loaded');
  for (const m of i.models) if (!m.loaded) reasons.push(`model ${m.name} is not loaded`);
  if (i.storeProblem) reasons.push(`store not writable: ${i.storeProblem}`);
  return { ready: reasons.length === 0, reasons };
}
