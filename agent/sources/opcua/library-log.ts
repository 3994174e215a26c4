import { setDebugLogger, setErrorLogger, setWarningLogger } from 'node-opcua';
import type { Logger } from 'pino';

/**
 * node-opcua writes its own multi-line diagnostics straight to the console; the agent
 * logs JSON lines only, so they go to the agent's log at debug level. The agent's own
 * messages (connection refused, lost, certificate rejected) carry what an operator needs.
 * The hooks are process-wide in node-opcua, hence one call for the whole process.
 */
export function routeLibraryLogs(log: Logger): void {
  const child = log.child({ component: 'node-opcua' });
  const write = (...args: unknown[]) => child.debug(args.map((a) => (typeof a === 'string' ? a : String(a))).join(' '));
  setDebugLogger(write);
  setWarningLogger(write);
  setErrorLogger(write);
}
