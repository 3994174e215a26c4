import { parseArgs } from 'node:util';
import { AgentError, errorMessage } from '../../agent/errors.js';
import { checkManifestTime } from '../../protocol/manifest.js';
import { readBundle } from '../bundle/read.js';
import { BROKER_OPTIONS, KEY_OPTIONS, UsageError, brokerOptions, commandLog, failureLine, loadKeys } from '../rollout/command-options.js';
import { BrokerClient } from '../rollout/connection.js';
import { deliveryPlan, publishBundle, type Via } from './publish.js';

const OPTIONS = {
  ...BROKER_OPTIONS,
  ...KEY_OPTIONS,
  bundle: { type: 'string' },
  via: { type: 'string' },
  'url-base': { type: 'string' },
  replace: { type: 'boolean', default: false },
} as const;

/** `edgectl publish`: verifies a packed bundle and publishes it retained; progress on stderr, what was published on stdout. */
export async function runPublish(argv: string[]): Promise<number> {
  let values;
  let log;
  let via: Via | undefined;
  try {
    values = parseArgs({ args: argv, options: OPTIONS }).values;
    log = commandLog(values['log-level']);
    if (!values.bundle) throw new UsageError('--bundle DIR is required');
    if (values.via !== undefined && values.via !== 'http' && values.via !== 'mqtt' && values.via !== 'both') throw new UsageError(`--via must be http, mqtt or both, got "${values.via}"`);
    via = values.via;
    const urlBase = values['url-base'];
    if (urlBase !== undefined && !/^https?:\/\/[^/]/.test(urlBase)) throw new UsageError(`--url-base must be an http:// or https:// URL, got "${urlBase}"`);
  } catch (err) {
    return usageError(errorMessage(err));
  }
  const say = (line: string) => console.error(`edgectl publish: ${line}`);
  let client: BrokerClient | undefined;
  try {
    const connect = brokerOptions(values, 'publish', log);
    const keys = await loadKeys(values, 'trust');
    for (const w of keys.warnings) say(`warning: ${w}`);
    const bundle = await readBundle(values.bundle!, keys.trust);
    const m = bundle.manifest;
    const fresh = checkManifestTime(m, Date.now());
    if (!fresh.ok) throw new AgentError(fresh.code, `${fresh.reason}; agents would refuse it: pack it again`);
    const plan = deliveryPlan(m, via, values['url-base']);
    for (const w of plan.warnings) say(`warning: ${w}`);
    if (bundle.unknownKeyIds.length > 0) say(`warning: also signed by keys not given here: ${bundle.unknownKeyIds.join(', ')}`);

    client = await BrokerClient.connect(connect);
    const result = await publishBundle({
      client,
      prefix: values.prefix,
      bundle,
      via: plan.via,
      trust: keys.trust,
      replace: values.replace,
      progress: say,
      warn: (line) => say(`warning: ${line}`),
    });
    const lines = [
      `${result.republished ? 'republished' : 'published'} ${m.name} ${m.version} (manifest counter ${m.counter}, signed by ${bundle.keyIds.join(', ')}, expires ${m.expiresAt})`,
      `  manifest   ${result.manifestTopic} (retained)`,
    ];
    for (const c of result.chunks) lines.push(`  ${c.path.padEnd(10)} ${c.count} chunk${c.count > 1 ? 's' : ''} on ${c.first}${c.count > 1 ? ` … ${c.last}` : ''} (retained), sha256 ${c.sha256}`);
    for (const u of result.urls) lines.push(`  ${u.path.padEnd(10)} over HTTP from ${u.urls.join(', ')}`);
    console.log(lines.join('\n'));
    return 0;
  } catch (err) {
    if (err instanceof UsageError) return usageError(err.message);
    console.error(failureLine('publish', err));
    return 1;
  } finally {
    await client?.close();
  }
}

function usageError(message: string): number {
  console.error(`edgectl publish: ${message} (edgectl --help for usage)`);
  return 2;
}
