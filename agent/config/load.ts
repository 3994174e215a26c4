import { dirname, isAbsolute, resolve } from 'node:path';
import { formatIssues } from '../../protocol/parse.js';
import { ConfigError } from './config-error.js';
import { applyEnvOverlay } from './env-overlay.js';
import { type AgentConfig, ConfigSchema } from './schema.js';
import { readYamlMapping } from './yaml-file.js';

export interface LoadedConfig {
  config: AgentConfig;
  /** Directory of the config file; relative paths in the config are resolved against it. */
  baseDir: string;
  /** Environment variables that overrode keys. */
  envApplied: string[];
}

export { ConfigError };

/** Reads, parses, overlays the environment and validates a config file; throws ConfigError listing all problems. */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const raw = readYamlMapping(file, 'config', 'of keys to values (deviceId, sources, models, broker, ...)');
  const envApplied = applyEnvOverlay(raw, env);
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
