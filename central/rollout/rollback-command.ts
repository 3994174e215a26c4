import { parseArgs } from 'node:util';
import { errorMessage } from '../../agent/errors.js';
import { MODEL_NAME_PATTERN, ModelVersionSchema } from '../../protocol/manifest.js';
import { BROKER_OPTIONS, KEY_OPTIONS, UsageError, brokerOptions, commandLog, failureLine, loadKeys, operatorName } from './command-options.js';
import { BrokerClient } from './connection.js';
import { rollbackDevices, type RollbackRequest } from './rollback.js';
import { parseTargets } from './targets.js';

const OPTIONS = {
  ...BROKER_OPTIONS,
  ...KEY_OPTIONS,
  target: { type: 'string', multiple: true, default: [] as string[] },
  model: { type: 'string' },
  to: { type: 'string' },
  reason: { type: 'string' },
  approval: { type: 'string' },
  approver: { type: 'string', multiple: true, default: [] as string[] },
  id: { type: 'string' },
  'wave-timeout': { type: 'string' },
} as const;

/** `edgectl rollback`: signed desired states sending the targeted devices back to an older version; returns the exit code. */
export async function runRollback(argv: string[]): Promise<number> {
  let values;
  let log;
  let request: RollbackRequest;
  try {
    values = parseArgs({ args: argv, options: OPTIONS }).values;
    log = commandLog(values['log-level']);
    const name = values.model;
    if (!name) throw new UsageError('--model NAME is required');
    if (!MODEL_NAME_PATTERN.test(name)) throw new UsageError(`--model must be a model name (letters, digits, . _ -), got "${name}"`);
    if (values.to !== undefined && !ModelVersionSchema.safeParse(values.to).success) throw new UsageError(`--to must be a semantic version without +build such as 1.4.0, got "${values.to}"`);
    const reason = values.reason ?? `rollback by ${operatorName()} with edgectl`;
    if (reason.length === 0 || reason.length > 1000) throw new UsageError('--reason must be 1 to 1000 characters');
    request = { targets: parseTargets(values.target), name, reason, ...(values.to === undefined ? {} : { to: values.to }) };
    if (values.approval === undefined && (values.approver.length > 0 || values.id !== undefined || values['wave-timeout'] !== undefined)) throw new UsageError('--approver, --id and --wave-timeout go with --approval ROLE:K');
    if (values.approval !== undefined && values.to === undefined) throw new UsageError('--approval needs --to VERSION: approvers sign one version for every device');
  } catch (err) {
    return usageError(errorMessage(err));
  }
  // Where approval is required the rollback is a one-wave rollout of the older version, run by the controller.
  if (values.approval !== undefined) return (await import('./rollout-command.js')).runRollout(approvedRollbackArgs(values, request));
  let client: BrokerClient | undefined;
  try {
    const connect = brokerOptions(values, 'rollback', log);
    const keys = await loadKeys(values, 'signer');
    for (const w of keys.warnings) console.error(`edgectl rollback: warning: ${w}`);
    client = await BrokerClient.connect(connect);
    const warn = (line: string) => console.error(`edgectl rollback: warning: ${line}`);
    const published = await rollbackDevices({ client, prefix: values.prefix, signer: keys.signer!, trust: keys.trust, warn }, request);
    for (const p of published) {
      const m = p.state.models.find((x) => x.name === request.name)!;
      console.log(`rolled back ${p.device}: ${m.name} ${m.version} (manifest counter ${m.counter}), desired state ${p.state.counter} on ${p.topic}`);
    }
    return 0;
  } catch (err) {
    if (err instanceof UsageError) return usageError(err.message);
    console.error(failureLine('rollback', err));
    return 1;
  } finally {
    await client?.close();
  }
}

/** `rollout start` arguments for a rollback that waits for approvals: every device in one wave, marked as a rollback. */
function approvedRollbackArgs(values: Record<string, string | boolean | string[] | undefined>, request: RollbackRequest): string[] {
  const args = ['start', '--model', `${request.name}@${request.to}`, '--waves', '100%', '--halt-on-failure', '100%', '--rollback-reason', request.reason];
  for (const t of values.target as string[]) args.push('--target', t);
  for (const a of values.approver as string[]) args.push('--approver', a);
  for (const [flag, v] of Object.entries(values)) {
    if (['target', 'approver', 'model', 'to', 'reason'].includes(flag) || v === undefined || v === false) continue;
    if (Array.isArray(v)) for (const x of v) args.push(`--${flag}`, x);
    else args.push(...(v === true ? [`--${flag}`] : [`--${flag}`, v]));
  }
  return args;
}

function usageError(message: string): number {
  console.error(`edgectl rollback: ${message} (edgectl --help for usage)`);
  return 2;
}
