import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { formatIssues } from '../../protocol/parse.js';
import { AgentError } from '../errors.js';
import { applyEnvOverlay } from './env-overlay.js';
import { type AgentConfig, ConfigSchema } from './schema.js';

export interface LoadedConfig {
  config: AgentConfig;
  /** Directory of the config file; relative paths in the config are resolved against it. */
  baseDir: string;
  /** Environment variables that overrode keys. */
  envApplied: string[];
}

/** A config that could not be used: `problems` lists every one, each as `path: reason`. */
export class ConfigError extends AgentError {
  constructor(readonly file: string, readonly problems: string[]) {
    super('E_CONFIG', `${file}: ${problems.length === 1 ? problems[0] : `${problems.length} problems:\n  ${problems.join('\n  ')}`}`);
  }
}

/** Reads, parses, overlays the environment and validates a config file; throws ConfigError listing all problems. */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'file not found' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory, not a file' : (err as Error).message;
    throw new ConfigError(file, [`cannot read config: ${why}`]);
  }
  if (text.trim() === '') throw new ConfigError(file, ['config file is empty']);
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    // One YAML slip often cascades into many parser errors; the first is the one to fix.
    const first = doc.errors[0]?.message.split('\n')[0]?.replace(/:$/, '');
    const more = doc.errors.length > 1 ? ` (and ${doc.errors.length - 1} more parser errors after it)` : '';
    throw new ConfigError(file, [`not valid YAML: ${first}${more}`]);
  }
  const raw: unknown = doc.toJS();
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(file, ['config must be a YAML mapping of keys to values (deviceId, sources, models, broker, ...)']);
  }
  const envApplied = applyEnvOverlay(raw as Record<string, unknown>, env);
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(file, formatIssues(parsed.error.issues).split('; '));
  const baseDir = dirname(resolve(file));
  return { config: resolvePaths(parsed.data, baseDir), baseDir, envApplied };
}

/** Relative file paths in the config mean "next to the config file", as an operator expects. */
function resolvePaths(cfg: AgentConfig, baseDir: string): AgentConfig {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  const opt = (p: string | undefined) => (p === undefined ? undefined : abs(p));
  return {
    ...cfg,
    sources: cfg.sources.map((s) =>
      s.type === 'folder' ? { ...s, path: abs(s.path), doneDir: opt(s.doneDir), rejectedDir: opt(s.rejectedDir) } : s,
    ),
    models: cfg.models.map((m) => ({ ...m, path: abs(m.path), labelsFile: opt(m.labelsFile) })),
    buffer: { ...cfg.buffer, path: abs(cfg.buffer.path) },
    rollout: {
      ...cfg.rollout,
      dir: abs(cfg.rollout.dir),
      trustedKeys: cfg.rollout.trustedKeys.map((k) => ({ ...k, publicKeyFile: opt(k.publicKeyFile) })),
    },
    broker: cfg.broker.tls
      ? { ...cfg.broker, tls: { ...cfg.broker.tls, ca: opt(cfg.broker.tls.ca), cert: opt(cfg.broker.tls.cert), key: opt(cfg.broker.tls.key) } }
      : cfg.broker,
  };
}
