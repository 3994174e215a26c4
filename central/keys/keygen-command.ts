import { parseArgs } from 'node:util';
import { errorMessage } from '../../agent/errors.js';
import { KEY_ID_PATTERN } from '../../protocol/signing.js';
import { generateSigningKey, trustSnippet } from './keygen.js';

const KEYGEN_USAGE = 'usage: edgectl keygen --id KEYID [--out DIR]';

/** `edgectl keygen`: writes a new Ed25519 signing key pair and prints what an agent needs to trust it; returns the exit code. */
export async function runKeygen(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { id: { type: 'string' }, out: { type: 'string', default: '.' } } }));
  } catch (err) {
    return usageError(errorMessage(err));
  }
  if (!values.id) return usageError('--id KEYID is required');
  if (!KEY_ID_PATTERN.test(values.id)) return usageError(`--id must be letters, digits, . _ - only (1 to 64), got "${values.id}"`);
  try {
    const key = await generateSigningKey(values.id, values.out);
    console.log(
      [
        `key id:      ${key.keyId}`,
        `fingerprint: ${key.fingerprint}`,
        `private key: ${key.keyFile} (mode 0600: keep it on the signing machine, never on a gateway)`,
        `public key:  ${key.publicKeyFile}`,
        '',
        'To trust this key, add to each agent config:',
        '',
        trustSnippet(key),
      ].join('\n'),
    );
    return 0;
  } catch (err) {
    console.error(`edgectl keygen: ${errorMessage(err)}`);
    return 1;
  }
}

function usageError(message: string): number {
  console.error(`edgectl keygen: ${message}\n${KEYGEN_USAGE}`);
  return 2;
}
