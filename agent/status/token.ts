import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { AgentError, errorMessage } from '../errors.js';

/** Shorter secrets can be guessed over the plant network. */
export const MIN_TOKEN_LENGTH = 16;

/**
 * The token that unlocks status actions: `status.token`, or the first line of
 * `status.tokenFile` (relative to the config file). Undefined when neither is set:
 * actions are then disabled. An unreadable or too short file stops the start.
 */
export function actionToken(status: { token?: string | undefined; tokenFile?: string | undefined }, baseDir: string): string | undefined {
  if (status.token !== undefined) return status.token;
  if (status.tokenFile === undefined) return undefined;
  const file = isAbsolute(status.tokenFile) ? status.tokenFile : resolve(baseDir, status.tokenFile);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new AgentError('E_STATUS_TOKEN', `status.tokenFile ${file} cannot be read: ${errorMessage(err)}`, { cause: err });
  }
  const token = text.split('\n')[0]?.trim() ?? '';
  if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
    throw new AgentError('E_STATUS_TOKEN', `status.tokenFile ${file} must hold one token of at least ${MIN_TOKEN_LENGTH} characters without spaces`);
  }
  return token;
}
