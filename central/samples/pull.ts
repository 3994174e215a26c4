import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import { errorMessage } from '../../agent/errors.js';
import { DEVICE_ID_PATTERN } from '../../protocol/topics.js';

/** One captured input as ingest stored it. */
interface SampleRow {
  id: number;
  ts: number;
  source: string;
  frame_id: string;
  seq: number | null;
  media_type: string;
  data: Buffer;
  reason: string | null;
}

const EXTENSIONS: Record<string, string> = { 'image/jpeg': 'jpg', 'image/png': 'png', 'image/tiff': 'tif', 'image/webp': 'webp', 'image/gif': 'gif', 'text/csv': 'csv', 'application/json': 'json' };

/**
 * `edgectl samples pull`: the inputs a device captured for retraining (low confidence,
 * shadow disagreements, operator requests,
 * drift alarms), from ingest's database into a folder for labelling: one file per sample
 * and `samples.jsonl` naming each file with its prediction's sequence number.
 */
export async function runSamples(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'pull') return usage(`unknown subcommand "${sub ?? ''}"`);
  let values;
  try {
    ({ values } = parseArgs({ args: rest, options: { db: { type: 'string' }, 'pg-schema': { type: 'string', default: 'public' }, device: { type: 'string' }, out: { type: 'string' }, 'after-id': { type: 'string', default: '0' } } }));
  } catch (err) {
    return usage(errorMessage(err));
  }
  const { db, device, out } = values;
  if (!db || !device || !out) return usage('--db, --device and --out are required');
  if (!DEVICE_ID_PATTERN.test(device)) return usage(`--device "${device}" is not a device id`);
  const afterId = Number(values['after-id']);
  if (!Number.isSafeInteger(afterId) || afterId < 0) return usage(`--after-id must be a whole number, got "${values['after-id']}"`);
  try {
    const rows = db.startsWith('postgres://') || db.startsWith('postgresql://') ? await fromPostgres(db, values['pg-schema'], device, afterId) : fromSqlite(db.replace(/^sqlite:/, ''), device, afterId);
    await mkdir(out, { recursive: true });
    const index: string[] = [];
    for (const r of rows) {
      const file = `${r.id}-${r.frame_id.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 80)}.${EXTENSIONS[r.media_type] ?? 'bin'}`;
      await writeFile(join(out, file), r.data);
      index.push(JSON.stringify({ id: r.id, ts: r.ts, source: r.source, frameId: r.frame_id, seq: r.seq, mediaType: r.media_type, reason: r.reason, file }));
    }
    await writeFile(join(out, 'samples.jsonl'), index.length > 0 ? `${index.join('\n')}\n` : '', { flag: 'a' });
    console.log(`${rows.length} sample${rows.length === 1 ? '' : 's'} of ${device} written to ${out}${rows.length > 0 ? ` (ids ${rows[0]!.id}–${rows.at(-1)!.id}; next time --after-id ${rows.at(-1)!.id})` : ''}`);
    return 0;
  } catch (err) {
    console.error(`edgectl samples pull: ${errorMessage(err)}`);
    return 1;
  }
}

function fromSqlite(file: string, device: string, afterId: number): SampleRow[] {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new Error(`cannot open the ingest database ${file}: ${errorMessage(err)}`);
  }
  try {
    return db.prepare('SELECT id, ts, source, frame_id, seq, media_type, data, reason FROM samples WHERE device = ? AND id > ? ORDER BY id').all(device, afterId) as SampleRow[];
  } finally {
    db.close();
  }
}

async function fromPostgres(url: string, schema: string, device: string, afterId: number): Promise<SampleRow[]> {
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`--pg-schema "${schema}": lower-case letters, digits and _ only`);
  const client = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
  await client.connect();
  try {
    const r = await client.query('SELECT id, ts, source, frame_id, seq, media_type, data, reason FROM samples WHERE device = $1 AND id > $2 ORDER BY id', [device, afterId]);
    return r.rows.map((row: Record<string, unknown>) => ({ ...(row as unknown as SampleRow), id: Number(row.id), ts: Number(row.ts), seq: row.seq === null ? null : Number(row.seq) }));
  } finally {
    await client.end();
  }
}

function usage(message: string): number {
  console.error(`edgectl samples: ${message}\nusage: edgectl samples pull --db sqlite:FILE|postgres://... [--pg-schema S] --device D --out DIR [--after-id N]`);
  return 2;
}
