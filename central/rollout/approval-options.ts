import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { AgentError, errorMessage } from '../../agent/errors.js';
import { ROLE_NAME_PATTERN } from '../../protocol/approvals.js';
import { KEY_ID_PATTERN, MAX_SIGNATURES, publicKeyFrom, trustStoreFrom } from '../../protocol/signing.js';
import type { Approval } from './approval-gate.js';
import { UsageError } from './command-options.js';

/**
 * `--approval ROLE:K --approver PUBFILE...`: the role whose K signatures every desired state
 * of the rollout waits for, and its members' public keys (a key's id is its file name
 * without .pub, as `edgectl keygen` names it). Undefined when --approval is not given.
 */
export async function approvalFromFlags(approval: string | undefined, approvers: readonly string[], rollbackFailed: boolean): Promise<Approval | undefined> {
  if (approval === undefined) {
    if (approvers.length > 0) throw new UsageError('--approver needs --approval ROLE:K');
    return undefined;
  }
  const m = /^([^:]+):([1-9]\d?)$/.exec(approval);
  if (!m || !ROLE_NAME_PATTERN.test(m[1]!)) throw new UsageError(`--approval must be ROLE:K such as approver:2 (a role of lowercase letters, digits, _ -), got "${approval}"`);
  const minSignatures = Number(m[2]);
  if (approvers.length < minSignatures) throw new UsageError(`--approval ${approval} needs at least ${minSignatures} --approver PUBFILE, got ${approvers.length}`);
  if (approvers.length > MAX_SIGNATURES) throw new UsageError(`at most ${MAX_SIGNATURES} --approver keys`);
  // The halt's rollback would go out unapproved, and agents that require approval refuse it.
  if (rollbackFailed) throw new UsageError('--rollback-failed cannot be combined with --approval: a rollback desired state would need approvals too; devices that fail roll themselves back');
  const keys = [];
  for (const file of approvers) {
    const id = basename(file).replace(/\.pub$/, '');
    if (!KEY_ID_PATTERN.test(id)) throw new UsageError(`--approver ${file}: the file name without .pub is the key id and must be letters, digits, . _ - only`);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new AgentError('E_KEY_READ', `approver key ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : errorMessage(err)}`, { cause: err });
    }
    const read = publicKeyFrom(text);
    if (!read.ok) throw new AgentError('E_KEY_READ', `approver key ${file}: ${read.reason}`);
    keys.push({ id, publicKey: text.trim() });
  }
  const built = trustStoreFrom(keys);
  if (!built.ok) throw new UsageError(`--approver: ${built.reason}`);
  return { role: m[1]!, minSignatures, keys };
}
