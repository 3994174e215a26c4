/*
 * Named points where the fault tests kill the agent for real. `EDGE_AGENT_KILL_AT=<name>`
 * makes the process SIGKILL itself when it reaches that point: no handler runs, exactly
 * as in a power cut, but at a chosen step rather than at a lucky moment. Unset (always,
 * in production) a failpoint is one comparison.
 */

const wanted = process.env.EDGE_AGENT_KILL_AT;

/** Kills this process with SIGKILL when `EDGE_AGENT_KILL_AT` names this point. */
export function failpoint(name: string): void {
  if (wanted === undefined || wanted !== name) return;
  process.kill(process.pid, 'SIGKILL');
}
