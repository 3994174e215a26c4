import { createPrivateKey } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { AgentError, errorMessage } from '../../agent/errors.js';
import { KEY_ID_PATTERN, keyFingerprint, type Signer } from '../../protocol/signing.js';

/** A signing key read from disk, with what an operator should see about it. */
export interface LoadedSigner {
  signer: Signer;
  fingerprint: string;
  /** Set when the key file can be read by other users. */
  warning?: string;
}

/** The key id keygen gave a key file: its name without `.key`. */
export function keyIdOfFile(keyFile: string): string {
  return basename(keyFile).replace(/\.key$/, '');
}

/** Reads a PKCS#8 PEM Ed25519 private key (as `edgectl keygen` writes it); keyId defaults to the file's name without `.key`. */
export async function loadSigner(keyFile: string, keyId: string = keyIdOfFile(keyFile)): Promise<LoadedSigner> {
  if (!KEY_ID_PATTERN.test(keyId)) throw new AgentError('E_KEY_ID', `key id "${keyId}": letters, digits, . _ - only (1 to 64)`);
  let pem: string;
  let mode: number;
  try {
    pem = await readFile(keyFile, 'utf8');
    mode = (await stat(keyFile)).mode;
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : errorMessage(err);
    throw new AgentError('E_KEY_READ', `signing key ${keyFile}: ${reason}`, { cause: err });
  }
  let privateKey;
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new AgentError('E_KEY_READ', `signing key ${keyFile}: not a PEM private key (${errorMessage(err)})`, { cause: err });
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new AgentError('E_KEY_READ', `signing key ${keyFile}: an ${privateKey.asymmetricKeyType ?? 'unknown'} key; models are signed with Ed25519 (edgectl keygen)`);
  }
  const loaded: LoadedSigner = { signer: { keyId, privateKey }, fingerprint: keyFingerprint(privateKey) };
  // Warn rather than refuse: CI secret mounts are often 0644 inside a private container.
  if ((mode & 0o077) !== 0) loaded.warning = `signing key ${keyFile} can be read by other users (mode ${(mode & 0o777).toString(8)}); chmod 600 it`;
  return loaded;
}
