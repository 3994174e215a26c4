import { generateKeyPairSync } from 'node:crypto';
import { access, mkdir, open, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { AgentError, errorMessage } from '../../agent/errors.js';
import { KEY_ID_PATTERN, keyFingerprint, rawPublicKey } from '../../protocol/signing.js';

/** A freshly written signing key pair. */
export interface GeneratedKey {
  keyId: string;
  /** KEYID.key: PKCS#8 PEM, mode 0600. */
  keyFile: string;
  /** KEYID.pub: SPKI PEM. */
  publicKeyFile: string;
  fingerprint: string;
  /** The raw 32-byte public key in base64: one line that fits in a YAML file. */
  publicKeyBase64: string;
}

/**
 * Writes a new Ed25519 key pair as `<outDir>/<keyId>.key` and `.pub`. Refuses to replace
 * either file: overwriting a signing key orphans every gateway that trusts the old one.
 */
export async function generateSigningKey(keyId: string, outDir: string): Promise<GeneratedKey> {
  if (!KEY_ID_PATTERN.test(keyId)) throw new AgentError('E_KEY_ID', `key id "${keyId}": letters, digits, . _ - only (1 to 64)`);
  const dir = resolve(outDir);
  const keyFile = join(dir, `${keyId}.key`);
  const publicKeyFile = join(dir, `${keyId}.pub`);
  for (const file of [keyFile, publicKeyFile]) {
    if (await exists(file)) throw new AgentError('E_KEY_EXISTS', `${file} already exists; refusing to overwrite a key (choose another --id or remove it yourself)`);
  }
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new AgentError('E_KEY_WRITE', `cannot create ${dir}: ${errorMessage(err)}`, { cause: err });
  }

  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  await writeNew(keyFile, privatePem, 0o600);
  try {
    await writeNew(publicKeyFile, publicPem, 0o644);
  } catch (err) {
    // A private key without its public half is useless and must not linger.
    await unlink(keyFile).catch(() => undefined);
    throw err;
  }
  return { keyId, keyFile, publicKeyFile, fingerprint: keyFingerprint(publicKey), publicKeyBase64: rawPublicKey(publicKey).toString('base64') };
}

/** The lines to add to an agent's config so that it trusts this key (shape of protocol's TrustedKeySchema). */
export function trustSnippet(key: Pick<GeneratedKey, 'keyId' | 'fingerprint' | 'publicKeyBase64'>): string {
  return [
    'rollout:',
    '  trustedKeys:',
    `    - id: ${key.keyId}`,
    `      publicKey: ${key.publicKeyBase64}  # fingerprint ${key.fingerprint}`,
  ].join('\n');
}

/** 'wx' fails if the file exists, so a second keygen racing this one cannot be overwritten either. */
async function writeNew(file: string, text: string, mode: number): Promise<void> {
  let handle;
  try {
    handle = await open(file, 'wx', mode);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new AgentError('E_KEY_EXISTS', `${file} already exists; refusing to overwrite a key`, { cause: err });
    throw new AgentError('E_KEY_WRITE', `cannot write ${file}: ${errorMessage(err)}`, { cause: err });
  }
  try {
    // The umask may have taken bits away from `mode`; set exactly what was asked.
    await handle.chmod(mode);
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await unlink(file).catch(() => undefined);
    throw new AgentError('E_KEY_WRITE', `cannot write ${file}: ${errorMessage(err)}`, { cause: err });
  }
  await handle.close();
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}
