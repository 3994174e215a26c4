import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { CleanupHost } from './tmp.js';

/** The PostgreSQL server the tests use (trust auth on loopback); PG_URL overrides it. */
export const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface PgSchema {
  url: string;
  schema: string;
  /** Runs `sql` with the schema on the search path. */
  query<T extends pg.QueryResultRow = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
}

/** A schema of its own for one test, dropped with everything in it when `host` ends. */
export async function pgSchema(host: CleanupHost, prefix = 'ingest_test'): Promise<PgSchema> {
  const schema = `${prefix}_${randomBytes(4).toString('hex')}`;
  const pool = new pg.Pool({ connectionString: PG_URL, max: 1, options: `-c search_path=${schema}` });
  host.after(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await pool.end();
  });
  return {
    url: PG_URL,
    schema,
    query: async <T extends pg.QueryResultRow>(sql: string, params: unknown[] = []) => (await pool.query<T>(sql, params)).rows,
  };
}
