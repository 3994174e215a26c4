import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { pino, type Logger } from 'pino';
import { DEFAULT_TOPIC_PREFIX } from '../protocol/topics.js';
import { Ingest, type IngestOptions } from './ingest.js';

const USAGE = `Usage:
  edgectl ingest --broker URL --db FILE [--prefix P] [--mqtt-version 5|4] [--client-id ID]
                 [--username U] [--ca FILE --cert FILE --key FILE] [--servername NAME] [--insecure]
                 [--log-level info]
      store every device's predictions and status into SQLite until SIGINT/SIGTERM
      (the broker password is read from EDGECTL_MQTT_PASSWORD, never from the command line)`;

type Command = (argv: string[]) => Promise<number>;

/** Subcommands by name; each parses its own arguments. */
const COMMANDS: Record<string, Command> = {
  ingest: runIngest,
};

/** Entry point of the `edgectl` command; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) return usageError('no command given');
  if (command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE);
    return 0;
  }
  const run = COMMANDS[command];
  if (!run) return usageError(`unknown command "${command}"`);
  return run(rest);
}

async function runIngest(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        broker: { type: 'string' },
        db: { type: 'string' },
        prefix: { type: 'string', default: DEFAULT_TOPIC_PREFIX },
        'mqtt-version': { type: 'string', default: '5' },
        'client-id': { type: 'string' },
        username: { type: 'string' },
        ca: { type: 'string' },
        cert: { type: 'string' },
        key: { type: 'string' },
        servername: { type: 'string' },
        insecure: { type: 'boolean', default: false },
        'log-level': { type: 'string', default: 'info' },
      },
    }));
  } catch (err) {
    return usageError(`ingest: ${(err as Error).message}`);
  }
  if (!values.broker) return usageError('ingest: --broker URL is required');
  if (!/^(mqtts?|wss?|tcp|ssl):\/\/.+/.test(values.broker)) return usageError(`ingest: --broker must be an mqtt://, mqtts://, ws:// or wss:// URL, got "${values.broker}"`);
  if (!values.db) return usageError('ingest: --db FILE is required');
  const version = values['mqtt-version'];
  if (version !== '5' && version !== '4') return usageError(`ingest: --mqtt-version must be 5 or 4, got "${version}"`);
  const level = values['log-level'];
  if (!pino.levels.values[level]) return usageError(`ingest: --log-level must be one of ${Object.keys(pino.levels.values).join(', ')}`);

  const log = pino({ level, base: { app: 'edgectl' }, redact: ['password', '*.password'] });
  const options: IngestOptions = {
    brokerUrl: values.broker,
    dbPath: values.db,
    topicPrefix: values.prefix,
    protocolVersion: version === '5' ? 5 : 4,
    clientId: values['client-id'] ?? `edgectl-ingest-${hostname()}`,
    log,
  };
  if (values.username !== undefined) options.username = values.username;
  const password = process.env.EDGECTL_MQTT_PASSWORD;
  if (password) options.password = password;
  if (values.ca || values.cert || values.key || values.servername || values.insecure) {
    options.tls = { rejectUnauthorized: !values.insecure };
    if (values.ca) options.tls.ca = values.ca;
    if (values.cert) options.tls.cert = values.cert;
    if (values.key) options.tls.key = values.key;
    if (values.servername) options.tls.servername = values.servername;
  }
  return serve(options, log);
}

async function serve(options: IngestOptions, log: Logger): Promise<number> {
  let ingest: Ingest;
  try {
    ingest = new Ingest(options);
  } catch (err) {
    console.error(`edgectl ingest: cannot open ${options.dbPath}: ${(err as Error).message}`);
    return 1;
  }
  const stop = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    log.info({ signal: sig }, 'stopping');
    stop.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    log.info({ broker: options.brokerUrl, db: options.dbPath, prefix: options.topicPrefix }, 'ingest starting');
    await ingest.start(stop.signal).catch((err: unknown) => {
      if (!stop.signal.aborted) throw err;
    });
    if (!stop.signal.aborted) await new Promise((resolve) => stop.signal.addEventListener('abort', resolve, { once: true }));
    return 0;
  } catch (err) {
    console.error(`edgectl ingest: ${(err as Error).message}`);
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await ingest.stop();
    log.info({ ...ingest.stats }, 'ingest stopped');
  }
}

function usageError(message: string): number {
  console.error(`edgectl: ${message}\n\n${USAGE}`);
  return 2;
}
