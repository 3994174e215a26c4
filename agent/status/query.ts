import type { PredictionFilter } from './store-view.js';

/** A query string the API cannot use; answered with 400 and this message. */
export class BadQuery extends Error {}

const MAX_LIMIT = 500;

export function predictionQuery(q: URLSearchParams): PredictionFilter {
  return { label: text(q, 'label'), flagged: flag(q, 'flagged'), alarm: flag(q, 'alarm'), limit: limit(q, 50) };
}

export function eventQuery(q: URLSearchParams): { kind: string | undefined; limit: number } {
  return { kind: text(q, 'kind'), limit: limit(q, 100) };
}

function text(q: URLSearchParams, name: string): string | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (v.length > 200) throw new BadQuery(`${name} is too long`);
  return v;
}

function flag(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  if (v === null || v === '' || v === '0' || v === 'false') return false;
  if (v === '1' || v === 'true') return true;
  throw new BadQuery(`${name} must be true or false, got "${v}"`);
}

function limit(q: URLSearchParams, fallback: number): number {
  const v = q.get('limit');
  if (v === null || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > MAX_LIMIT) throw new BadQuery(`limit must be a whole number from 1 to ${MAX_LIMIT}, got "${v}"`);
  return n;
}

/** The charts cover at most the hour the agent keeps in memory. */
export const MAX_HISTORY_MINUTES = 60;

export function historyQuery(q: URLSearchParams): { minutes: number } {
  const v = q.get('minutes');
  if (v === null || v === '') return { minutes: MAX_HISTORY_MINUTES };
  const n = Number(v);
  if (!/^\d{1,3}$/.test(v) || n < 1 || n > MAX_HISTORY_MINUTES) throw new BadQuery(`minutes must be a whole number from 1 to ${MAX_HISTORY_MINUTES}, got "${v.slice(0, 40)}"`);
  return { minutes: n };
}
