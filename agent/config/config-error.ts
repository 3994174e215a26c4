import { AgentError } from '../errors.js';

/** A config that could not be used: `problems` lists every one, each as `path: reason`. */
export class ConfigError extends AgentError {
  constructor(readonly file: string, readonly problems: string[]) {
    super('E_CONFIG', `${file}: ${problems.length === 1 ? problems[0] : `${problems.length} problems:\n  ${problems.join('\n  ')}`}`);
  }
}
