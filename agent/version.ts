import { readFileSync } from 'node:fs';

/** The agent's version, from package.json (read once at start-up, not per use). */
export const AGENT_VERSION: string = (() => {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'edge-inference-agent' && pkg.version) return pkg.version;
    } catch {
      // try the next location: sources and the compiled dist/ sit at different depths
    }
  }
  return '0.0.0';
})();
