import type { DataValue, StatusCode } from 'node-opcua';
import { z } from 'zod';
import type { Quality, TagSample, TagValue } from '../../features/tag-sample.js';

/** The status's class from its severity bits (OPC-UA Part 4, 7.39): 00 good, 01 uncertain, 1x bad. */
export function qualityOf(status: StatusCode): Quality {
  const severity = status.value >>> 30;
  return severity === 0 ? 'good' : severity === 1 ? 'uncertain' : 'bad';
}

/** What a tag may carry into windows, rules and triggers: one scalar, strings kept short. */
const TagValueSchema = z.union([z.number(), z.boolean(), z.string().max(1024, 'a string longer than 1024 characters'), z.null()]);

function plainValue(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  // Int64 / UInt64 arrive as [high, low] 32-bit words.
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number')) return v[0]! * 2 ** 32 + v[1]!;
  return v ?? null;
}

function describe(v: unknown): string {
  if (Array.isArray(v) || ArrayBuffer.isView(v)) return 'an array';
  if (v instanceof Date) return 'a date';
  return typeof v === 'object' ? 'a structure' : typeof v;
}

/** A sample, or why the value cannot be one (the sample is then marked Bad with BadTypeMismatch). */
export interface Reading {
  sample: TagSample;
  refused?: string;
}

/** One data change as a sample; without a source timestamp the server's stands in, then the agent's. */
export function sampleOf(tag: string, dv: DataValue, wallNow: number, at: number): Reading {
  const sourceTs = dv.sourceTimestamp?.getTime() ?? dv.serverTimestamp?.getTime() ?? wallNow;
  const raw = plainValue(dv.value?.value);
  const parsed = TagValueSchema.safeParse(raw);
  if (!parsed.success) {
    const refused = typeof raw === 'string' ? parsed.error.issues[0]!.message : `${describe(raw)}, not a number, boolean or string`;
    return { sample: { tag, value: null, quality: 'bad', status: 'BadTypeMismatch', sourceTs, receivedAt: at }, refused };
  }
  return { sample: { tag, value: parsed.data as TagValue, quality: qualityOf(dv.statusCode), status: dv.statusCode.name, sourceTs, receivedAt: at } };
}

/** The server dropped samples because the item's queue overflowed (the Overflow info bit). */
export function overflowed(dv: DataValue): boolean {
  return dv.statusCode.hasOverflowBit;
}
