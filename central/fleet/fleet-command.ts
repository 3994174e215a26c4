import { parseArgs } from 'node:util';
import { errorMessage } from '../../agent/errors.js';
import { BROKER_OPTIONS, UsageError, brokerOptions, commandLog, failureLine, parseDuration } from '../rollout/command-options.js';
import { BrokerClient } from '../rollout/connection.js';
import { lastSeenFromIngest } from './fleet-db.js';
import { readFleet } from './fleet-state.js';
import { fleetJson, fleetRows, fleetTable } from './fleet-table.js';
import { segmentsFromIngest } from './segments-db.js';
import { segmentsTable } from './segments-table.js';

const OPTIONS = {
  ...BROKER_OPTIONS,
  json: { type: 'boolean', default: false },
  db: { type: 'string' },
  wait: { type: 'string', default: '5s' },
  segments: { type: 'boolean', default: false },
  since: { type: 'string', default: '24h' },
} as const;

/** `edgectl fleet`: every device's status, serving models and rollout state, from the broker's retained messages; returns the exit code. */
export async function runFleet(argv: string[]): Promise<number> {
  let values;
  let log;
  let maxMs: number;
  try {
    values = parseArgs({ args: argv, options: OPTIONS }).values;
    log = commandLog(values['log-level']);
    maxMs = parseDuration('--wait', values.wait);
  } catch (err) {
    return usageError(errorMessage(err));
  }
  if (values.segments) return showSegments(values.db, values.since, values.json);
  let client: BrokerClient | undefined;
  try {
    const connect = brokerOptions(values, 'fleet', log);
    // Before connecting, so a wrong path fails at once.
    const seen = values.db === undefined ? undefined : lastSeenFromIngest(values.db);
    client = await BrokerClient.connect(connect);
    // Retained messages come right after the subscription; half a second of silence means they are all in.
    const fleet = await readFleet(client, values.prefix, { quietMs: 500, maxMs });
    for (const r of fleet.refused) console.error(`edgectl fleet: warning: refused the retained message on ${r.topic}: ${r.reason}`);
    const rows = fleetRows(fleet.devices.values(), seen);
    const now = Date.now();
    if (rows.length === 0 && !values.json) console.error(`edgectl fleet: no device has a retained status or rollout report under ${values.prefix}/`);
    console.log(values.json ? fleetJson(rows, now) : fleetTable(rows, now));
    return 0;
  } catch (err) {
    if (err instanceof UsageError) return usageError(err.message);
    console.error(failureLine('fleet', err));
    return 1;
  } finally {
    await client?.close();
  }
}

/** `--segments`: per-segment statistics from ingest's database, per model, segment key and site; no broker needed. */
function showSegments(db: string | undefined, since: string, json: boolean): number {
  let sinceMs: number;
  try {
    if (db === undefined) throw new Error('--segments needs --db INGEST.db');
    sinceMs = parseDuration('--since', since);
  } catch (err) {
    return usageError(errorMessage(err));
  }
  try {
    const rows = segmentsFromIngest(db, Date.now() - sinceMs);
    console.log(json ? JSON.stringify({ segments: rows }, null, 2) : segmentsTable(rows));
    return 0;
  } catch (err) {
    console.error(failureLine('fleet', err));
    return 1;
  }
}

function usageError(message: string): number {
  console.error(`edgectl fleet: ${message} (edgectl --help for usage)`);
  return 2;
}
