import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { pino, type Logger } from 'pino';
import { DEFAULT_TOPIC_PREFIX } from '../protocol/topics.js';
import { Ingest, type IngestOptions } from './ingest.js';
import { runKeygen } from './keys/keygen-command.js';
import { runServe } from './serve.js';

const USAGE = `Usage:
  edgectl ingest --broker URL --db FILE|sqlite:FILE|postgres://... [--pg-schema S] [--share GROUP]
                 [--prefix P] [--mqtt-version 5|4] [--client-id ID]
                 [--username U] [--ca FILE --cert FILE --key FILE] [--servername NAME] [--insecure]
                 [--log-level info]
      store every device's predictions, events, health, explanations, samples and status into SQLite
      or PostgreSQL, once per (device, sequence), until SIGINT/SIGTERM; processes started with the same
      --share GROUP split the load through MQTT 5 shared subscriptions (give each its own --client-id)
      (the broker password is read from EDGECTL_MQTT_PASSWORD, never from the command line)
  edgectl serve --dir DIR [--port 8080] [--host 127.0.0.1] [--rate BYTES_PER_S] [--log-level info]
      serve the bundle folders under DIR read-only over HTTP (GET/HEAD, byte ranges) until SIGINT/SIGTERM
  edgectl keygen --id KEYID [--out DIR]
      write a new Ed25519 signing key pair, DIR/KEYID.key (mode 0600) and DIR/KEYID.pub, and print
      its fingerprint and the lines an agent config needs to trust it; never overwrites a key
  edgectl pack --model FILE.onnx --name N --version V --counter C --settings SETTINGS.yaml
               --key KEYFILE [--key-id ID] --out DIR [--golden IMAGE]... [--reference DIR] [--url-base URL]
               [--expires-in 90d] [--arch x64,arm64] [--task classification] [--min-agent-version V]
               [--tolerance T] [--notes TEXT] [--packed-by WHO] [--commit SHA] [--training-data FILE]...
               [--validation-data FILE] [--metric NAME=VALUE]...
      check the model loads and fits SETTINGS (a models[] entry's input, preprocess, output, labels),
      score the golden images with the agent's own code, measure the drift reference profile on the
      images in --reference DIR, and write DIR/model.onnx and the signed DIR/manifest.json;
      --key-id defaults to the key file's name without .key
      the manifest's lineage (training data checksums, code commit, hyperparameters, validation metrics
      and dataset) comes from SETTINGS' lineage key and these flags; who packed it and when are filled in
  edgectl profile --model FILE.onnx --settings SETTINGS.yaml --reference DIR --out PROFILE.json
      the drift reference profile of a model that is not packed (an agent config's drift.referenceFile)
  edgectl profile --config EDGE-AGENT.yaml --name MODEL --reference DIR|ROWS.csv --out PROFILE.json
      the same for a model of a gateway config: a camera model over images, a sensor model over a CSV
      whose header names each feature as the agent does (Vibration.mean)
  edgectl samples pull --db sqlite:FILE|postgres://... [--pg-schema S] --device D --out DIR [--after-id N]
      the inputs device D captured for retraining (low confidence, drift alarms, shadow disagreements,
      operator requests, wrong predictions), from ingest's database
      into DIR for labelling: one file per sample and samples.jsonl with each one's prediction sequence
  edgectl publish --bundle DIR --broker URL (--trust PUBFILE... | --key KEYFILE [--key-id ID])
                  [--via http|mqtt|both] [--url-base URL] [--replace] [broker options]
      verify a packed bundle and publish its signed manifest retained on <prefix>/models/NAME/VERSION/manifest;
      with --via mqtt|both also its artifacts as retained chunks (default: mqtt when the manifest has no URLs)
  edgectl rollout start --model NAME@VERSION --target device:ID[,ID...]|site:ID|group:ID [--target ...]
                  --broker URL --key KEYFILE [--key-id ID] [--trust PUBFILE]... [--id ROLLOUT_ID]
                  [--waves 5%,25%,100%] [--halt-on-failure 20%] [--rollback-failed] [--wave-timeout 10m]
                  [--devices-from-status] [--approval ROLE:K --approver PUBFILE...] [--rollback-reason TEXT]
                  [broker options]
      roll a published model out in waves of per-device signed desired states; a wave advances once all its
      devices committed, and halts the rollout when failures reach --halt-on-failure (--rollback-failed
      then sends the whole wave back). Progress is retained on <prefix>/rollouts/ID; the same id resumes it.
      Exit 0 done, 1 halted, 3 stopped by a signal.
      With --approval each wave's desired states wait, retained, until K keys of the role (the --approver
      public keys) have signed them with edgectl approve; agents whose trust config requires it refuse less.
  edgectl rollout resume --id ROLLOUT_ID --broker URL --key KEYFILE [--key-id ID] [broker options]
  edgectl rollout status --id ROLLOUT_ID --broker URL [--json] [--trust PUBFILE | --key KEYFILE] [broker options]
  edgectl rollback --target device:ID[,ID...]|site:ID|group:ID --model NAME [--to VERSION] [--reason TEXT]
                  --broker URL --key KEYFILE [--key-id ID] [--trust PUBFILE]... [broker options]
      signed desired states sending the devices back to VERSION (default: the highest published below
      the version each device serves)
      with --approval ROLE:K --approver PUBFILE... (and --to), a one-wave rollout of VERSION marked as a
      rollback that waits for the approvals like rollout start does ([--id ID] [--wave-timeout 10m])
  edgectl approve --rollout ID --key APPROVER.key [--key-id ID] --trust OPS.pub... [--model NAME@VERSION] [--list]
                  [broker options]
      show the desired states of rollout ID that wait for approval and sign each (--list: only show them)
  edgectl models list (--dir BUNDLES_DIR | --broker URL) [--trust PUBFILE... | --key KEYFILE] [--json] [broker options]
      the model versions the registry holds (retained manifests, or the bundle folders under DIR), with lineage
  edgectl models diff NAME@A NAME@B (--dir BUNDLES_DIR | --broker URL) [--trust PUBFILE... | --key KEYFILE] [--json]
      what changed between two versions: preprocessing, labels, thresholds, lineage, metrics, reference profile
  edgectl fleet --broker URL [--json] [--db INGEST.db] [--wait 5s] [broker options]
      every device's status, serving models, rollout state and last seen, from retained messages
  edgectl fleet --segments --db INGEST.db [--since 24h] [--json]
      per-segment statistics (camera, line, product code ...) of every model, side by side per site
  edgectl label --device D --seq N --label L [--by NAME] --broker URL [broker options]
      attach the true label L to prediction N of device D (it counts in the model's live accuracy;
      a wrong prediction's input is captured for retraining)
  broker options: [--prefix edge/v1] [--mqtt-version 5|4] [--client-id ID] [--username U]
                  [--ca FILE --cert FILE --tls-key FILE] [--servername NAME] [--insecure] [--log-level warn]
      (publish, rollout, rollback and fleet: --key is the signing key, so the TLS client key is --tls-key;
      the broker password is read from EDGECTL_MQTT_PASSWORD)`;

type Command = (argv: string[]) => Promise<number>;

/** Subcommands by name; each parses its own arguments. */
const COMMANDS: Record<string, Command> = {
  ingest: runIngest,
  serve: runServe,
  keygen: runKeygen,
  // Loaded on use: pack brings onnxruntime and sharp, which ingest and serve do not need.
  pack: async (argv) => (await import('./bundle/pack-command.js')).runPack(argv),
  publish: async (argv) => (await import('./publish/publish-command.js')).runPublish(argv),
  rollout: async (argv) => (await import('./rollout/rollout-command.js')).runRollout(argv),
  rollback: async (argv) => (await import('./rollout/rollback-command.js')).runRollback(argv),
  fleet: async (argv) => (await import('./fleet/fleet-command.js')).runFleet(argv),
  label: async (argv) => (await import('./feedback/label-command.js')).runLabel(argv),
  models: async (argv) => (await import('./models/models-command.js')).runModels(argv),
  approve: async (argv) => (await import('./rollout/approve-command.js')).runApprove(argv),
  profile: async (argv) => (await import('./bundle/profile-command.js')).runProfile(argv),
  samples: async (argv) => (await import('./samples/pull.js')).runSamples(argv),
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
        'pg-schema': { type: 'string' },
        share: { type: 'string' },
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
  if (!values.db) return usageError('ingest: --db sqlite:FILE or --db postgres://... is required');
  if (values.share !== undefined && !/^[^/+#$]+$/.test(values.share)) return usageError(`ingest: --share must be one topic level without + # $, got "${values.share}"`);
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
  if (values['pg-schema'] !== undefined) options.pgSchema = values['pg-schema'];
  if (values.share !== undefined) options.shareGroup = values.share;
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
    console.error(`edgectl ingest: cannot open ${redactUrl(options.dbPath)}: ${(err as Error).message}`);
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
    log.info({ broker: options.brokerUrl, db: redactUrl(options.dbPath), prefix: options.topicPrefix, share: options.shareGroup }, 'ingest starting');
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

/** A database URL without its password, for logs. */
function redactUrl(db: string): string {
  return db.replace(/^(postgres(?:ql)?:\/\/[^:/@]+):[^@]*@/, '$1:[redacted]@');
}

function usageError(message: string): number {
  console.error(`edgectl: ${message}\n\n${USAGE}`);
  return 2;
}
