/** What a request's Range header asks of a file of a given size. */
export type RangePlan = { kind: 'full' } | { kind: 'partial'; start: number; end: number } | { kind: 'unsatisfiable' };

/**
 * One `bytes=` range (`a-b`, `a-`, `-n`). Ranges in another unit are ignored (the whole
 * file is sent, as RFC 9110 allows); a malformed, multiple or out-of-file range is
 * unsatisfiable: the downloader asks for one range and must hear plainly when it is wrong.
 */
export function planRange(header: string | undefined, size: number): RangePlan {
  if (header === undefined) return { kind: 'full' };
  const m = /^\s*([A-Za-z]+)\s*=\s*(.*)$/.exec(header);
  if (!m) return { kind: 'unsatisfiable' };
  if ((m[1] ?? '').toLowerCase() !== 'bytes') return { kind: 'full' };
  const spec = /^(\d*)-(\d*)$/.exec((m[2] ?? '').trim());
  if (!spec) return { kind: 'unsatisfiable' };
  const [, first = '', last = ''] = spec;
  if (first === '' && last === '') return { kind: 'unsatisfiable' };
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size || (last !== '' && Number(last) < start)) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end };
}
