import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { ConfigError, loadConfig } from './config/load.js';
import { redact } from './config/redact.js';
import { errorMessage } from './errors.js';
import { AGENT_VERSION } from './version.js';
import { OPCUA_USAGE } from './sources/opcua/opcua-usage.js';

const USAGE = `edge-agent ${AGENT_VERSION}

Usage:
  edge-agent run --config FILE            run the agent
  edge-agent check-config --config FILE   print the resolved config (secrets redacted) or every error
  edge-agent demo [--duration S]          run a self-contained demo (embedded broker, synthetic camera,
                                          generated model, agent and central ingest)
${OPCUA_USAGE}
  edge-agent --version

Environment variables EDGE_AGENT__<KEY>__<KEY>=value override config keys (see README).`;

/** Entry point of the `edge-agent` command; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        duration: { type: 'string' },
        dir: { type: 'string' },
        pki: { type: 'string' },
        'security-mode': { type: 'string' },
        'security-policy': { type: 'string' },
        depth: { type: 'string' },
        version: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    console.error(`edge-agent: ${errorMessage(err)}`);
    return 2;
  }
  const { values, positionals } = args;
  if (values.version) {
    console.log(AGENT_VERSION);
    return 0;
  }
  const command = positionals[0];
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!command) return usageError('no command given');
  switch (command) {
    case 'check-config':
      return checkConfig(values.config);
    case 'run': {
      if (!values.config) return usageError('run needs --config FILE');
      const { runAgent } = await import('./main.js');
      return runAgent(values.config);
    }
    case 'demo': {
      const duration = values.duration === undefined ? 0 : Number(values.duration);
      if (!Number.isFinite(duration) || duration < 0) return usageError(`--duration must be a number of seconds, got "${values.duration}"`);
      const { runDemo } = await import('./demo/run-demo.js');
      return runDemo({ durationS: duration, dir: values.dir });
    }
    case 'opcua': {
      const { opcuaCommand } = await import('./sources/opcua/opcua-command.js');
      return opcuaCommand({ positionals, config: values.config, pki: values.pki, securityMode: values['security-mode'], securityPolicy: values['security-policy'], depth: values.depth });
    }
    default:
      return usageError(`unknown command "${command}"`);
  }
}

function usageError(message: string): number {
  console.error(`edge-agent: ${message}\n\n${USAGE}`);
  return 2;
}

function checkConfig(file: string | undefined): number {
  if (!file) return usageError('check-config needs --config FILE');
  try {
    const { config, envApplied } = loadConfig(file);
    if (envApplied.length > 0) console.log(`# overridden from the environment: ${envApplied.join(', ')}`);
    process.stdout.write(stringify(redact(config)));
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`edge-agent: config ${err.message}`);
      return 1;
    }
    console.error(`edge-agent: ${errorMessage(err)}`);
    return 1;
  }
}
