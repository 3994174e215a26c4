import { createRequire } from 'node:module';

/*
 * glibc's allocator, reached through koffi (an FFI library with prebuilt binaries for every
 * platform the agent runs on): `malloc_trim` for NativeHeapTrim, `mallinfo2` for the metrics
 * and the soak's readings. Loaded at first use; on musl or off Linux both are undefined.
 */

type TrimFn = ((pad: number) => number) & { async: (pad: number, done: (err: unknown, result: number) => void) => void };

interface MallInfo2 {
  hblkhd: number;
  uordblks: number;
  fordblks: number;
}

interface Glibc {
  mallocTrim: TrimFn;
  mallinfo2: () => MallInfo2;
}

let cached: Glibc | null | undefined;

/** glibc's allocator functions, or undefined where there is no glibc (musl, macOS) or koffi cannot load. */
function glibc(): Glibc | undefined {
  if (cached === undefined) {
    cached = null;
    if (process.platform === 'linux') {
      try {
        const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
        const libc = koffi.load('libc.so.6');
        const info = koffi.struct('mallinfo2', Object.fromEntries(['arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks', 'fsmblks', 'uordblks', 'fordblks', 'keepcost'].map((f) => [f, 'size_t'])));
        cached = { mallocTrim: libc.func('int malloc_trim(size_t pad)') as TrimFn, mallinfo2: libc.func('mallinfo2', info, []) as () => MallInfo2 };
      } catch {
        cached = null;
      }
    }
  }
  return cached ?? undefined;
}

/** glibc's `malloc_trim`, or undefined where there is none. */
export function mallocTrim(): TrimFn | undefined {
  return glibc()?.mallocTrim;
}

/** What glibc's allocator holds, over all its heaps, in bytes. */
export interface NativeHeap {
  /** In blocks the process uses: carved from the heaps, and mmap'd one by one. */
  inUseBytes: number;
  mmappedBytes: number;
  /** Free inside the heaps: what fragmentation and a trim are about. */
  freeBytes: number;
}

/** glibc's `mallinfo2`, or undefined where there is none. It locks every heap in turn: for readings, not for the hot path. */
export function nativeHeap(): NativeHeap | undefined {
  const fn = glibc()?.mallinfo2;
  if (!fn) return undefined;
  const m = fn();
  return { inUseBytes: m.uordblks + m.hblkhd, mmappedBytes: m.hblkhd, freeBytes: m.fordblks };
}
