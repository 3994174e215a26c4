import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { AgentError } from '../errors.js';
import type { EventSink } from '../events.js';
import type { RolloutStore } from './rollout-store.js';

/** Bytes of every file below `dir` (0 when it does not exist). */
export async function folderBytes(dir: string): Promise<number> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  let total = 0;
  for (const e of entries) {
    const path = join(dir, e.name);
    total += e.isDirectory() ? await folderBytes(path) : (await stat(path).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

export interface ModelsQuotaCheck {
  /** The bundles folder (`rollout.dir`). */
  root: string;
  quotaBytes: number;
  /** Bytes the coming download needs beyond what is on disk. */
  needBytes: number;
  /** Installs that must stay: the serving bundles, their fallbacks, the one being brought in. */
  keep: ReadonlySet<string>;
  store: RolloutStore;
  names: readonly string[];
  events: EventSink;
  log: Logger;
}

/**
 * Makes room for a model download within `buffer.quota.modelsBytes`: the oldest bundles
 * nobody serves or falls back to are removed first (each an event), and when that is not
 * enough the download is refused before a byte is fetched, with what it would need.
 */
export async function ensureModelsQuota(c: ModelsQuotaCheck): Promise<void> {
  let used = await folderBytes(c.root);
  if (used + c.needBytes <= c.quotaBytes) return;
  const candidates = c.names.flatMap((name) => c.store.installs(name)).filter((i) => !c.keep.has(`${i.name}:${i.counter}`)).sort((a, b) => a.installedAt - b.installedAt);
  for (const install of candidates) {
    if (used + c.needBytes <= c.quotaBytes) break;
    const bytes = await folderBytes(install.dir);
    c.store.removeInstall(install.name, install.counter);
    await rm(install.dir, { recursive: true, force: true });
    used -= bytes;
    c.log.info({ model: install.name, counter: install.counter, bytes }, 'removed an old model bundle to stay within the models quota');
    c.events.record({ level: 'info', kind: 'store_evicted', source: 'rollout', message: `removed bundle ${install.name} ${install.version} (${bytes} bytes) to stay within the models quota of ${c.quotaBytes} bytes`, detail: { class: 'models', model: install.name, counter: install.counter, bytes } });
  }
  if (used + c.needBytes > c.quotaBytes) {
    throw new AgentError('E_MODELS_QUOTA', `the model needs ${c.needBytes} bytes but the models quota (buffer.quota.modelsBytes) is ${c.quotaBytes} bytes with ${used} in use by bundles that serve or are kept to fall back to`, { retryable: true });
  }
}
