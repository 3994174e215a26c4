import { parseArgs } from 'node:util';
import { AgentError, errorMessage } from '../../agent/errors.js';
import { ApprovalMessageSchema, approvalTopic, pendingDesiredTopic } from '../../protocol/approvals.js';
import { DESIRED_STATE_MAX_BYTES, DesiredState } from '../../protocol/desired-state.js';
import { openSigned } from '../../protocol/signed-message.js';
import { publicKeyFrom, rawPublicKey, signEnvelope } from '../../protocol/signing.js';
import { DEVICE_ID_PATTERN } from '../../protocol/topics.js';
import { BROKER_OPTIONS, KEY_OPTIONS, UsageError, brokerOptions, commandLog, failureLine, loadKeys } from './command-options.js';
import { BrokerClient } from './connection.js';
import { readProgress } from './progress.js';

/*
 * `edgectl approve --rollout ID --key APPROVER.key --trust OPS.pub`: shows the desired
 * states of rollout ID that wait for approval and signs each with the approver's key.
 * The approver signs what is shown, checked first: signed by a trusted key (the rollout's),
 * for the device its topic names, of this rollout, naming the rollout's model. With
 * --model NAME@VERSION the approver also says what they expect to approve, and nothing
 * else is signed. Exit codes: 0 approved (or listed), 1 nothing to approve or failed, 2 bad arguments.
 */

const OPTIONS = {
  ...BROKER_OPTIONS,
  ...KEY_OPTIONS,
  rollout: { type: 'string' },
  model: { type: 'string' },
  list: { type: 'boolean', default: false },
} as const;

/** `edgectl approve`; returns the exit code. */
export async function runApprove(argv: string[]): Promise<number> {
  let values;
  let log;
  try {
    values = parseArgs({ args: argv, options: OPTIONS }).values;
    log = commandLog(values['log-level']);
    if (!values.rollout || !DEVICE_ID_PATTERN.test(values.rollout)) throw new UsageError('--rollout ID is required (the id `edgectl rollout start` printed)');
    if (values.model !== undefined && !/^[^@]+@[^@]+$/.test(values.model)) throw new UsageError(`--model must be NAME@VERSION, got "${values.model}"`);
  } catch (err) {
    return usageError(errorMessage(err));
  }
  let client: BrokerClient | undefined;
  try {
    const connect = brokerOptions(values, 'approve', log);
    const keys = await loadKeys(values, 'signer');
    for (const w of keys.warnings) console.error(`edgectl approve: warning: ${w}`);
    const signer = keys.signer!;
    const id = values.rollout!;
    client = await BrokerClient.connect(connect);
    const read = await readProgress(client, values.prefix, id, keys.trust);
    if (!read.found) throw new AgentError('E_ROLLOUT_NOT_FOUND', `no rollout ${id} is retained under ${values.prefix}`);
    if (!read.ok) throw new AgentError('E_PROGRESS_UNTRUSTED', `the progress of rollout ${id} is refused: ${read.reason}; give the rollout signer's public key with --trust`);
    const p = read.progress;
    if (!p.approval) throw new AgentError('E_NO_APPROVAL', `rollout ${id} does not wait for approvals`);
    const member = p.approval.keys.find((k) => k.id === signer.keyId);
    const memberKey = member && publicKeyFrom(member.publicKey);
    if (!memberKey?.ok || !rawPublicKey(memberKey.key).equals(rawPublicKey(signer.privateKey))) {
      throw new AgentError('E_NOT_APPROVER', `key "${signer.keyId}" is not one of role "${p.approval.role}" of rollout ${id} (${p.approval.keys.map((k) => k.id).join(', ')})`);
    }
    const model = `${p.model.name}@${p.model.version}`;
    if (values.model !== undefined && values.model !== model) throw new AgentError('E_APPROVAL_MODEL', `rollout ${id} rolls out ${model}, not ${values.model}; nothing signed`);

    const pending = await client.readRetained([pendingDesiredTopic(values.prefix, id, '+')]);
    const lines = [`rollout ${id}: ${p.model.name} ${p.model.version} (manifest counter ${p.model.counter}), targets ${p.targets.join(' ')}, wave ${p.currentWave}/${p.waves.length}`];
    let signed = 0;
    for (const m of pending) {
      const device = m.topic.slice(m.topic.lastIndexOf('/') + 1);
      const opened = openSigned(DesiredState, m.payload, keys.trust, { maxBytes: DESIRED_STATE_MAX_BYTES });
      if (!opened.ok) {
        lines.push(`  ${device}: refused, not signed (${opened.code}: ${opened.reason})`);
        continue;
      }
      const d = opened.value;
      const names = d.models.some((x) => x.name === p.model.name && x.version === p.model.version && x.counter === p.model.counter);
      if (d.target.kind !== 'device' || d.target.id !== device || d.rollout?.id !== id || !names) {
        lines.push(`  ${device}: refused, not signed (it is not this rollout's desired state for ${device})`);
        continue;
      }
      const what = `${device}: desired state ${d.counter}, wave ${d.rollout.wave}, models ${d.models.map((x) => `${x.name} ${x.version}`).join(', ')}${d.rollback ? `, a rollback to ${d.rollback.to} (${d.rollback.reason})` : ''}`;
      if (values.list) {
        lines.push(`  ${what}`);
        continue;
      }
      // The payload exactly as the controller signed it, which is what its approvals are checked against.
      const raw = (JSON.parse(m.payload.toString('utf8')) as { payload: unknown }).payload;
      const message = ApprovalMessageSchema.parse({ v: 1, device, counter: d.counter, signature: signEnvelope(raw, signer).signatures[0], approvedAt: new Date().toISOString() });
      await client.publishRetained(approvalTopic(values.prefix, id, device, signer.keyId), JSON.stringify(message));
      lines.push(`  ${what}: approved by ${signer.keyId}`);
      signed++;
    }
    if (pending.length === 0) lines.push('  no desired state waits for approval now (the controller prepares a wave\'s when it reaches it)');
    console.log(lines.join('\n'));
    return values.list || signed > 0 ? 0 : 1;
  } catch (err) {
    if (err instanceof UsageError) return usageError(err.message);
    console.error(failureLine('approve', err));
    return 1;
  } finally {
    await client?.close();
  }
}

function usageError(message: string): number {
  console.error(`edgectl approve: ${message} (edgectl --help for usage)`);
  return 2;
}
