import { createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { basename } from 'node:path';
import { pino, type Logger } from 'pino';
import { AgentError, errorMessage } from '../../agent/errors.js';
import { KEY_ID_PATTERN, publicKeyFrom, type Signer, type TrustStore } from '../../protocol/signing.js';
import { DEFAULT_TOPIC_PREFIX } from '../../protocol/topics.js';
import { keyIdOfFile, loadSigner } from '../keys/signer.js';
import type { BrokerConnectOptions } from './connection.js';

/*
 * The options every ops command that talks to the broker shares, parsed one way. TLS
 * client keys are `--tls-key` here because `--key` is the signing key in these commands.
 */

/** parseArgs option specs for the broker connection. */
export const BROKER_OPTIONS = {
  broker: { type: 'string' },
  prefix: { type: 'string', default: DEFAULT_TOPIC_PREFIX },
  'mqtt-version': { type: 'string', default: '5' },
  'client-id': { type: 'string' },
  username: { type: 'string' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  'tls-key': { type: 'string' },
  servername: { type: 'string' },
  insecure: { type: 'boolean', default: false },
  'log-level': { type: 'string', default: 'warn' },
} as const;

/** parseArgs option specs for signing and verifying keys. */
export const KEY_OPTIONS = {
  key: { type: 'string' },
  'key-id': { type: 'string' },
  trust: { type: 'string', multiple: true, default: [] as string[] },
} as const;

export const BROKER_USAGE = `[--prefix edge/v1] [--mqtt-version 5|4] [--client-id ID] [--username U]
      [--ca FILE --cert FILE --tls-key FILE] [--servername NAME] [--insecure] [--log-level warn]`;

/** A command-line mistake: the command prints it with its usage and exits 2. */
export class UsageError extends Error {}

interface BrokerValues {
  broker?: string | undefined;
  prefix: string;
  'mqtt-version': string;
  'client-id'?: string | undefined;
  username?: string | undefined;
  ca?: string | undefined;
  cert?: string | undefined;
  'tls-key'?: string | undefined;
  servername?: string | undefined;
  insecure: boolean;
  'log-level': string;
}

/** Pino on stderr, so that stdout carries only the command's output. */
export function commandLog(level: string): Logger {
  if (!pino.levels.values[level]) throw new UsageError(`--log-level must be one of ${Object.keys(pino.levels.values).join(', ')}`);
  return pino({ level, base: { app: 'edgectl' }, redact: ['password', '*.password'] }, pino.destination(2));
}

/** Connection options from the parsed flags; the password comes from EDGECTL_MQTT_PASSWORD, never the command line. */
export function brokerOptions(values: BrokerValues, command: string, log: Logger): BrokerConnectOptions {
  const url = values.broker;
  if (!url) throw new UsageError('--broker URL is required');
  if (!/^(mqtts?|wss?|tcp|ssl):\/\/.+/.test(url)) throw new UsageError(`--broker must be an mqtt://, mqtts://, ws:// or wss:// URL, got "${url}"`);
  const version = values['mqtt-version'];
  if (version !== '5' && version !== '4') throw new UsageError(`--mqtt-version must be 5 or 4, got "${version}"`);
  if (!/^[^#+]+$/.test(values.prefix) || values.prefix.endsWith('/')) throw new UsageError(`--prefix must be topic levels without wildcards or a trailing /, got "${values.prefix}"`);
  const options: BrokerConnectOptions = {
    url,
    protocolVersion: version === '5' ? 5 : 4,
    // Unique per run: two operators running the same command must not kick each other off.
    clientId: values['client-id'] ?? `edgectl-${command}-${hostname()}-${process.pid}`.slice(0, 64),
    log,
  };
  if (values.username !== undefined) options.username = values.username;
  const password = process.env.EDGECTL_MQTT_PASSWORD;
  if (password) options.password = password;
  if (values.ca || values.cert || values['tls-key'] || values.servername || values.insecure) {
    options.tls = { rejectUnauthorized: !values.insecure };
    if (values.ca) options.tls.ca = values.ca;
    if (values.cert) options.tls.cert = values.cert;
    if (values['tls-key']) options.tls.key = values['tls-key'];
    if (values.servername) options.tls.servername = values.servername;
  }
  return options;
}

/** The keys a command works with: who signs (when --key is given) and whom it trusts. */
export interface CommandKeys {
  signer?: Signer;
  /** The signer's public half and every --trust key. */
  trust: TrustStore;
  /** Things to tell the operator (a key file others can read). */
  warnings: string[];
}

/**
 * Reads `--key FILE [--key-id ID]` and `--trust PUBFILE`... A trusted public key's id is
 * its file name without `.pub`, as `edgectl keygen` names it.
 */
export async function loadKeys(values: { key?: string | undefined; 'key-id'?: string | undefined; trust: string[] }, need: 'signer' | 'trust'): Promise<CommandKeys> {
  const keyId = values['key-id'];
  if (keyId !== undefined && !KEY_ID_PATTERN.test(keyId)) throw new UsageError(`--key-id must be letters, digits, . _ - only (1 to 64), got "${keyId}"`);
  if (need === 'signer' && values.key === undefined) throw new UsageError('--key FILE (the signing key) is required');
  if (need === 'trust' && values.key === undefined && values.trust.length === 0) throw new UsageError('--trust PUBFILE or --key FILE is required to verify signatures');
  const trust = new Map<string, ReturnType<typeof createPublicKey>>();
  const keys: CommandKeys = { trust, warnings: [] };
  if (values.key !== undefined) {
    const loaded = await loadSigner(values.key, keyId ?? keyIdOfFile(values.key));
    keys.signer = loaded.signer;
    if (loaded.warning) keys.warnings.push(loaded.warning);
    trust.set(loaded.signer.keyId, createPublicKey(loaded.signer.privateKey));
  }
  for (const file of values.trust) {
    const id = basename(file).replace(/\.pub$/, '');
    if (!KEY_ID_PATTERN.test(id)) throw new UsageError(`--trust ${file}: the file name without .pub is the key id and must be letters, digits, . _ - only`);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new AgentError('E_KEY_READ', `trusted key ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : errorMessage(err)}`, { cause: err });
    }
    const read = publicKeyFrom(text);
    if (!read.ok) throw new AgentError('E_KEY_READ', `trusted key ${file}: ${read.reason}`);
    if (trust.has(id)) throw new UsageError(`--trust ${file}: key id "${id}" is given twice`);
    trust.set(id, read.key);
  }
  return keys;
}

const DURATION_UNITS_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90s", "10m", "2h", "1d" in milliseconds. */
export function parseDuration(flag: string, text: string): number {
  const m = /^([1-9]\d{0,5})([smhd])$/.exec(text);
  if (!m) throw new UsageError(`${flag} must be a number and a unit s, m, h or d (e.g. 10m), got "${text}"`);
  return Number(m[1]) * DURATION_UNITS_MS[m[2]!]!;
}

/** "20%" (or "20") as a percentage in (0, 100]. */
export function parsePercent(flag: string, text: string): number {
  const m = /^(\d{1,3}(?:\.\d{1,3})?)%?$/.exec(text.trim());
  const pct = m ? Number(m[1]) : NaN;
  if (!(pct > 0 && pct <= 100)) throw new UsageError(`${flag} must be a percentage above 0 and at most 100 (e.g. 20%), got "${text}"`);
  return pct;
}

/** The line an ops command prints for a failure it did not expect from the arguments. */
export function failureLine(command: string, err: unknown): string {
  const code = err instanceof AgentError ? ` [${err.code}]` : '';
  return `edgectl ${command}: ${errorMessage(err)}${code}`;
}

/** Who runs the command, for progress and rollback reasons: user@host. */
export function operatorName(): string {
  try {
    return `${userInfo().username}@${hostname()}`.slice(0, 200);
  } catch {
    // No passwd entry (a container running as an arbitrary uid).
    return hostname().slice(0, 200);
  }
}
