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
  } catch (err) {
    return usageError(errorMessage(err));
  }
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

function usageError(message: string): number {
  console.error(`edgectl rollback: ${message} (edgectl --help for usage)`);
  return 2;
}
