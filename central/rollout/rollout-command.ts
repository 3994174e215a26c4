import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { AgentError, errorMessage } from '../../agent/errors.js';
import { MODEL_NAME_PATTERN, ModelVersionSchema } from '../../protocol/manifest.js';
import { DEVICE_ID_PATTERN, rolloutControllerTopic } from '../../protocol/topics.js';
import { BROKER_OPTIONS, KEY_OPTIONS, UsageError, brokerOptions, commandLog, failureLine, loadKeys, parseDuration, parsePercent, type CommandKeys } from './command-options.js';
import { approvalFromFlags } from './approval-options.js';
import { BrokerClient } from './connection.js';
import { RolloutController } from './controller.js';
import { defaultRolloutId, planRollout, type RolloutRequest } from './plan.js';
import { peekProgress, readProgress, writeProgress, type RolloutProgress } from './progress.js';
import { progressText } from './progress-text.js';
import { formatTarget, parseTargets, parseWaves } from './targets.js';
import { formatMs } from './wave-judge.js';

/*
 * `edgectl rollout start|resume|status`. Exit codes: 0 done (status: found), 1 halted or
 * failed, 2 bad arguments, 3 stopped by a signal before the end (resume it).
 */

const OPTIONS = {
  ...BROKER_OPTIONS,
  ...KEY_OPTIONS,
  model: { type: 'string' },
  target: { type: 'string', multiple: true, default: [] as string[] },
  waves: { type: 'string', default: '5%,25%,100%' },
  'halt-on-failure': { type: 'string', default: '20%' },
  'rollback-failed': { type: 'boolean', default: false },
  'wave-timeout': { type: 'string', default: '10m' },
  id: { type: 'string' },
  'devices-from-status': { type: 'boolean', default: false },
  approval: { type: 'string' },
  'rollback-reason': { type: 'string' },
  approver: { type: 'string', multiple: true, default: [] as string[] },
  json: { type: 'boolean', default: false },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>['values'];

/** `edgectl rollout SUBCOMMAND ...`; returns the exit code. */
export async function runRollout(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'start' && sub !== 'resume' && sub !== 'status') return usageError(`rollout needs start, resume or status, got ${sub === undefined ? 'nothing' : `"${sub}"`}`);
  let values: Values;
  let log: Logger;
  try {
    values = parseArgs({ args: rest, options: OPTIONS }).values;
    log = commandLog(values['log-level']);
    if (values.id !== undefined && !DEVICE_ID_PATTERN.test(values.id)) throw new UsageError(`--id must be letters, digits, . _ - (at most 64, starting with a letter or digit), got "${values.id}"`);
    if (sub !== 'start' && values.id === undefined) throw new UsageError(`rollout ${sub}: --id ID is required`);
  } catch (err) {
    return usageError(`rollout ${sub}: ${errorMessage(err)}`);
  }
  try {
    if (sub === 'status') return await status(values, log);
    return await drive(sub, values, log);
  } catch (err) {
    if (err instanceof UsageError) return usageError(`rollout ${sub}: ${err.message}`);
    console.error(failureLine(`rollout ${sub}`, err));
    return 1;
  }
}

/** start and resume: plan or read the progress, then run the controller until it ends. */
async function drive(sub: 'start' | 'resume', values: Values, log: Logger): Promise<number> {
  const request = sub === 'start' ? requestOf(values) : undefined;
  const approval = sub === 'start' ? await approvalFromFlags(values.approval, values.approver, values['rollback-failed']) : undefined;
  if (request && approval) request.approval = approval;
  const connect = brokerOptions(values, 'rollout', log);
  const keys = await loadKeys(values, 'signer');
  for (const w of keys.warnings) console.error(`edgectl rollout: warning: ${w}`);
  const client = await BrokerClient.connect(connect);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const progress = await progressToRun(client, values.prefix, keys, request, values.id);
    if (typeof progress === 'number') return progress;
    if (progress.state !== 'running') {
      console.log(progressText(progress, 'signature verified'));
      return progress.state === 'done' ? 0 : 1;
    }
    const controller = new RolloutController({
      client,
      prefix: values.prefix,
      signer: keys.signer!,
      trust: keys.trust,
      say: (line) => console.log(line),
      warn: (line) => console.error(`edgectl rollout: warning: ${line}`),
      log,
      signal: stop.signal,
    }, progress);
    const end = await controller.run();
    if (end === 'stopped') {
      console.log(`rollout ${progress.id} stopped at wave ${progress.currentWave}/${progress.waves.length}; its progress stays on ${rolloutControllerTopic(values.prefix, progress.id)}`);
      console.log(`  continue with: edgectl rollout resume --id ${progress.id} --broker ${connect.url} --key KEYFILE`);
      return 3;
    }
    return end === 'done' ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await client.close();
  }
}

/** The progress to run: a new rollout's, or the retained one of the same id (an exit code when neither will do). */
async function progressToRun(client: BrokerClient, prefix: string, keys: CommandKeys, request: Omit<RolloutRequest, 'id'> | undefined, givenId: string | undefined): Promise<RolloutProgress | number> {
  const now = Date.now();
  const id = givenId ?? defaultRolloutId(request!.name, request!.version, now);
  const retained = await readProgress(client, prefix, id, keys.trust);
  if (retained.found && !retained.ok) {
    throw new AgentError('E_PROGRESS_UNTRUSTED', `the progress retained for rollout ${id} cannot be resumed: ${retained.reason}; it must verify with the signing key (or a --trust key)`);
  }
  if (retained.found) {
    const p = retained.progress;
    if (request && (p.model.name !== request.name || p.model.version !== request.version)) {
      throw new AgentError('E_ROLLOUT_EXISTS', `rollout ${id} already exists for ${p.model.name} ${p.model.version} (${p.state}); choose another --id`);
    }
    if (request && request.targets.map(formatTarget).join(' ') !== p.targets.join(' ')) {
      console.error(`edgectl rollout: warning: rollout ${id} keeps the targets and waves it was started with (${p.targets.join(' ')}), not this command's`);
    }
    if (p.state === 'running') console.log(`rollout ${id}: resuming at wave ${p.currentWave}/${p.waves.length} (${p.model.name} ${p.model.version}, targets ${p.targets.join(' ')})`);
    return p;
  }
  if (!request) {
    console.error(`edgectl rollout resume: no progress retained for rollout ${id} on ${rolloutControllerTopic(prefix, id)}`);
    return 1;
  }
  const warn = (line: string) => console.error(`edgectl rollout: warning: ${line}`);
  const progress = await planRollout(client, prefix, keys.trust, { ...request, id }, warn, now);
  await writeProgress(client, prefix, progress, keys.signer!, now);
  const waves = progress.waves.map((w) => `${w.sharePct}%: ${w.devices.length}`).join(', ');
  const total = progress.waves.reduce((n, w) => n + w.devices.length, 0);
  console.log(
    `rollout ${id}: ${progress.model.name} ${progress.model.version} (manifest counter ${progress.model.counter}) to ${total} device${total === 1 ? '' : 's'} ` +
      `in ${progress.waves.length} wave${progress.waves.length === 1 ? '' : 's'} (${waves}); halts when ${progress.haltOnFailurePct}% of a wave fails; wave timeout ${formatMs(progress.waveTimeoutMs)}`,
  );
  console.log(`  progress retained on ${rolloutControllerTopic(prefix, id)}`);
  if (progress.approval) console.log(`  each wave waits for ${progress.approval.minSignatures} approval${progress.approval.minSignatures > 1 ? 's' : ''} from role "${progress.approval.role}" (${progress.approval.keys.map((k) => k.id).join(', ')}): edgectl approve --rollout ${id}`);
  return progress;
}

function requestOf(values: Values): Omit<RolloutRequest, 'id'> {
  const model = values.model;
  if (!model) throw new UsageError('--model NAME@VERSION is required');
  const at = model.lastIndexOf('@');
  const name = model.slice(0, Math.max(at, 0));
  const version = model.slice(at + 1);
  if (at < 1 || !MODEL_NAME_PATTERN.test(name) || !ModelVersionSchema.safeParse(version).success) throw new UsageError(`--model must be NAME@VERSION such as defect@1.5.0, got "${model}"`);
  return {
    name,
    version,
    targets: parseTargets(values.target),
    sharesPct: parseWaves(values.waves),
    haltOnFailurePct: parsePercent('--halt-on-failure', values['halt-on-failure']),
    rollbackFailed: values['rollback-failed'],
    waveTimeoutMs: parseDuration('--wave-timeout', values['wave-timeout']),
    knownDevicesOnly: values['devices-from-status'],
    ...(values['rollback-reason'] !== undefined ? { rollback: { reason: rollbackReason(values['rollback-reason']) } } : {}),
  };
}

function rollbackReason(text: string): string {
  if (text.length === 0 || text.length > 1000) throw new UsageError('--rollback-reason must be 1 to 1000 characters');
  return text;
}

/** `rollout status`: the retained progress, verified when keys are given. */
async function status(values: Values, log: Logger): Promise<number> {
  const connect = brokerOptions(values, 'rollout', log);
  const verify = values.key !== undefined || values.trust.length > 0;
  const keys = verify ? await loadKeys(values, 'trust') : undefined;
  const client = await BrokerClient.connect(connect);
  try {
    const id = values.id!;
    const topic = rolloutControllerTopic(values.prefix, id);
    let progress: RolloutProgress;
    let signature: string;
    if (keys) {
      const read = await readProgress(client, values.prefix, id, keys.trust);
      if (!read.found) return notFound(topic);
      if (!read.ok) {
        console.error(`edgectl rollout status: the progress on ${topic} is refused: ${read.reason}`);
        return 1;
      }
      progress = read.progress;
      signature = `signed by ${read.keyIds.join(', ')} (verified)`;
    } else {
      const peeked = await peekProgress(client, values.prefix, id);
      if (peeked === undefined) return notFound(topic);
      if ('reason' in peeked) {
        console.error(`edgectl rollout status: the message on ${topic} is refused: ${peeked.reason}`);
        return 1;
      }
      progress = peeked.progress;
      signature = `signed by ${peeked.signedBy.join(', ') || 'nobody'} (not verified: give --trust PUBFILE or --key)`;
    }
    console.log(values.json ? JSON.stringify(progress, null, 2) : progressText(progress, signature));
    return 0;
  } finally {
    await client.close();
  }
}

function notFound(topic: string): number {
  console.error(`edgectl rollout status: no rollout progress is retained on ${topic}`);
  return 1;
}

function usageError(message: string): number {
  console.error(`edgectl ${message} (edgectl --help for usage)`);
  return 2;
}
