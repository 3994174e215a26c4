import { Agent } from './agent.js';
import { ConfigError, loadConfig } from './config/load.js';
import { redact } from './config/redact.js';
import { errorMessage } from './errors.js';
import { createLogger } from './log.js';
import { AGENT_VERSION } from './version.js';

/**
 * `edge-agent run`: load and validate the config before anything starts, build the agent,
 * start it, and stop it gracefully on SIGTERM/SIGINT. Returns the process exit code.
 */
export async function runAgent(configFile: string): Promise<number> {
  let loaded;
  try {
    loaded = loadConfig(configFile);
  } catch (err) {
    console.error(`edge-agent: config ${err instanceof ConfigError ? err.message : errorMessage(err)}`);
    return 1;
  }
  const { config, baseDir, envApplied } = loaded;
  const log = createLogger(config.log.level);
  log.info({ version: AGENT_VERSION, config: redact(config), envApplied }, 'edge-agent starting');

  let agent: Agent;
  try {
    agent = await Agent.create({ config, baseDir, log });
    await agent.start();
  } catch (err) {
    log.fatal({ err }, `edge-agent could not start: ${errorMessage(err)}`);
    return 1;
  }
  log.info({ status: agent.status?.url }, 'edge-agent running');

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log.info({ signal, deadlineMs: config.shutdown.deadlineMs }, 'stopping');
  // A second signal while draining means "now": leave with what is committed.
  const force = () => {
    log.warn('second signal: exiting without waiting for the drain');
    process.exit(1);
  };
  process.once('SIGTERM', force);
  process.once('SIGINT', force);
  await agent.stop();
  log.info({ counters: agent.counters }, 'edge-agent stopped');
  return 0;
}
