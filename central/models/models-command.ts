import { parseArgs } from 'node:util';
import { errorMessage } from '../../agent/errors.js';
import { MODEL_NAME_PATTERN, ModelVersionSchema } from '../../protocol/manifest.js';
import type { TrustStore } from '../../protocol/signing.js';
import { BROKER_OPTIONS, KEY_OPTIONS, UsageError, brokerOptions, commandLog, failureLine, loadKeys } from '../rollout/command-options.js';
import { BrokerClient } from '../rollout/connection.js';
import { diffManifests } from './diff.js';
import { diffText, listText } from './models-text.js';
import { findEntry, readRegistryBroker, readRegistryDir, type RegistryListing } from './registry.js';

/*
 * `edgectl models list|diff`: what the registry holds and what changed between two
 * versions. The registry is the broker's retained manifests (--broker) or a folder of
 * bundles (--dir). Exit codes: 0 shown, 1 failed, 2 bad arguments.
 */

const OPTIONS = {
  ...BROKER_OPTIONS,
  ...KEY_OPTIONS,
  dir: { type: 'string' },
  json: { type: 'boolean', default: false },
} as const;

/** `edgectl models SUBCOMMAND ...`; returns the exit code. */
export async function runModels(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'list' && sub !== 'diff') return usageError(`models needs list or diff, got ${sub === undefined ? 'nothing' : `"${sub}"`}`);
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: OPTIONS, allowPositionals: true });
    if ((parsed.values.dir === undefined) === (parsed.values.broker === undefined)) throw new UsageError('give the registry: --dir BUNDLES_DIR or --broker URL (one of them)');
    if (sub === 'list' && parsed.positionals.length > 0) throw new UsageError(`models list takes no positional arguments, got "${parsed.positionals.join(' ')}"`);
    if (sub === 'diff' && parsed.positionals.length !== 2) throw new UsageError('models diff needs two versions: NAME@A NAME@B');
  } catch (err) {
    return usageError(`models ${sub}: ${errorMessage(err)}`);
  }
  const { values, positionals } = parsed;
  try {
    const refs = sub === 'diff' ? positionals.map(modelRef) : [];
    const verify = values.key !== undefined || values.trust.length > 0;
    const trust = verify ? (await loadKeys(values, 'trust')).trust : undefined;
    const listing = await readRegistry(values, trust);
    if (sub === 'list') {
      console.log(values.json ? JSON.stringify(listing, null, 2) : listText(listing, verify));
      return 0;
    }
    const [a, b] = refs.map((r) => findEntry(listing, r.name, r.version).manifest);
    const diff = diffManifests(a!, b!);
    console.log(values.json ? JSON.stringify(diff, null, 2) : diffText(diff));
    if (!verify) console.error('edgectl models diff: signatures not verified (give --trust PUBFILE or --key KEYFILE)');
    return 0;
  } catch (err) {
    if (err instanceof UsageError) return usageError(`models ${sub}: ${err.message}`);
    console.error(failureLine(`models ${sub}`, err));
    return 1;
  }
}

async function readRegistry(values: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'], trust: TrustStore | undefined): Promise<RegistryListing> {
  if (values.dir !== undefined) return readRegistryDir(values.dir, trust);
  const client = await BrokerClient.connect(brokerOptions(values, 'models', commandLog(values['log-level'])));
  try {
    return await readRegistryBroker(client, values.prefix, trust);
  } finally {
    await client.close();
  }
}

function modelRef(text: string): { name: string; version: string } {
  const at = text.lastIndexOf('@');
  const name = text.slice(0, Math.max(at, 0));
  const version = text.slice(at + 1);
  if (at < 1 || !MODEL_NAME_PATTERN.test(name) || !ModelVersionSchema.safeParse(version).success) throw new UsageError(`a model version is NAME@VERSION such as defect@1.5.0, got "${text}"`);
  return { name, version };
}

function usageError(message: string): number {
  console.error(`edgectl ${message} (edgectl --help for usage)`);
  return 2;
}
