import { pino } from 'pino';
import { NativeHeapTrim } from '../../agent/memory/native-heap-trim.js';

/*
 * Run as a child (`node --expose-gc --import tsx`): fills glibc's main heap with 32 KiB
 * buffers, frees seven in eight so that the free pages lie between blocks still in use, then
 * lets NativeHeapTrim run on its timer. Prints one JSON line of RSS readings, in bytes.
 */
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const intervalMs = Number(process.argv[2] ?? 200);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const settle = async () => {
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(50);
  }
};

const SIZE = 32 * 1024; // below glibc's mmap threshold: carved from the heap
const COUNT = 4000;
await settle();
const rssStart = process.memoryUsage.rss();
let blocks: Array<Buffer | undefined> = Array.from({ length: COUNT }, (_, i) => Buffer.alloc(SIZE, i));
const rssFilled = process.memoryUsage.rss();
blocks = blocks.map((b, i) => (i % 8 === 7 ? b : undefined));
await settle();
const rssFreed = process.memoryUsage.rss();

const trim = new NativeHeapTrim({ intervalMs, log: pino({ level: 'silent' }) });
await trim.start();
if (intervalMs > 0) {
  const deadline = Date.now() + 10_000;
  while (trim.trims === 0 && Date.now() < deadline) await sleep(20);
} else await sleep(500);
const rssTrimmed = process.memoryUsage.rss();
await trim.stop();
// Read after the last reading, so the blocks that pin the heap stay alive until then.
const kept = blocks.filter(Boolean).length;
process.stdout.write(`${JSON.stringify({ rssStart, rssFilled, rssFreed, rssTrimmed, trims: trim.trims, last: trim.last, kept })}\n`);
