import { Worker } from 'node:worker_threads';

/*
 * A thread that only burns CPU, at the lowest priority (nice 19): live throughput
 * beside it is what any background work costs a gateway whose camera path is flat out.
 */
const BODY = `
const { readlinkSync } = require('node:fs');
const { setPriority } = require('node:os');
const { parentPort } = require('node:worker_threads');
try { setPriority(Number(readlinkSync('/proc/thread-self').split('/').pop()), 19); } catch {}
let stop = false;
parentPort.on('message', () => { stop = true; });
let x = 0;
function spin() {
  const end = Date.now() + 50;
  while (Date.now() < end) x += Math.sqrt(x + 1);
  if (!stop) setImmediate(spin); else parentPort.close();
}
spin();
`;

/** Runs `fn` with the busy thread beside it. */
export async function idleBusyThread<T>(fn: () => Promise<T>): Promise<T> {
  const worker = new Worker(BODY, { eval: true });
  try {
    return await fn();
  } finally {
    worker.postMessage('stop');
    await worker.terminate();
  }
}
