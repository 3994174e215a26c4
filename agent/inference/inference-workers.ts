import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { InferenceSession, Tensor } from 'onnxruntime-node';

/*
 * onnxruntime-node's `session.run` computes on the calling thread: on the event loop it
 * blocks decoding callbacks, the outbox and the broker for every inference, and only one
 * inference runs at a time. Sessions in worker threads run beside each other and beside
 * the event loop, so decode (libuv's pool), inference (the workers) and the store (the
 * event loop) overlap across the cores.
 *
 * The worker is a plain CommonJS script given as source, not a file: it then runs the
 * same whether the agent runs compiled or through tsx (whose loader a worker does not
 * inherit), and it needs nothing of the agent but onnxruntime itself.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ort);
if (workerData.nice) {
  // On Linux a nice value is per thread: this lowers only this worker (and its session,
  // whose single intra-op thread is this one), not the agent.
  try { require('node:os').setPriority(workerData.nice); } catch {}
}
const message = (err) => (err && err.message) || String(err);
// V8 sizes a worker's first full collection from its heap limit, not from what it holds:
// a worker that keeps 5 MB let its garbage pile up by a third of a kilobyte per run, toward
// its 32 MB limit, before the first one. A full collection of so small a heap takes a
// millisecond or two; the worker makes one itself every workerData.collectEvery runs.
const v8 = require('node:v8');
v8.setFlagsFromString('--expose-gc');
const collect = require('node:vm').runInNewContext('gc');
let runs = 0;
ort.InferenceSession.create(workerData.path, workerData.options).then(
  (session) => {
    parentPort.on('message', (m) => {
      if (m.heap) {
        const all = v8.getHeapStatistics();
        const old = v8.getHeapSpaceStatistics().find((sp) => sp.space_name === 'old_space');
        parentPort.postMessage({ id: m.id, heap: { usedBytes: all.used_heap_size, totalBytes: all.total_heap_size, oldBytes: old ? old.space_used_size : 0, buffersBytes: process.memoryUsage().arrayBuffers } });
        return;
      }
      if (m.release) {
        session.release().then(() => process.exit(0), () => process.exit(0));
        return;
      }
      if (++runs % workerData.collectEvery === 0) collect();
      // A moved input goes back with the answer, for the caller to use again.
      const answer = (a) => {
        if (m.moved) parentPort.postMessage({ ...a, id: m.id, input: m.data }, [m.data.buffer]);
        else parentPort.postMessage({ ...a, id: m.id });
      };
      let input;
      try {
        input = new ort.Tensor(m.type, m.data, m.dims);
      } catch (err) {
        answer({ error: message(err) });
        return;
      }
      session.run({ [m.input]: input }, [m.output]).then(
        (out) => {
          const v = out[m.output];
          if (!v) answer({ error: 'output "' + m.output + '" missing from the result' });
          else answer({ type: v.type, data: v.data });
        },
        (err) => answer({ error: message(err) }),
      );
    });
    const { inputNames, inputMetadata, outputNames, outputMetadata } = session;
    parentPort.postMessage({ ready: true, meta: { inputNames, inputMetadata, outputNames, outputMetadata } });
  },
  (err) => parentPort.postMessage({ ready: false, error: message(err) }),
);
`;

/** Runs between the full collections a worker makes of its own heap, unless its pool says otherwise. */
const COLLECT_EVERY = 1000;

/** How a pool's workers run: `nice` > 0 at a lower CPU priority; `collectEvery` runs between their own full collections. */
export interface WorkerTuning {
  nice?: number;
  collectEvery?: number;
}

/** A worker's JS heap: all of it in use, all V8 holds for it, and the old generation, where garbage that outlives a few runs waits for a full collection. */
export interface WorkerHeap {
  usedBytes: number;
  totalBytes: number;
  oldBytes: number;
  /** Outside the heap: the worker's ArrayBuffers (inputs copied in, outputs), live or awaiting collection. */
  buffersBytes: number;
}

/** What a worker's run gives back: the fetched output's type and data, and a moved input's data. */
export interface WorkerOutput {
  type: Tensor.Type;
  data: Tensor.DataType;
  input?: Tensor.DataType;
}

/** A worker's answer as it arrives. */
interface Answer {
  id: number;
  heap?: WorkerHeap;
  type?: Tensor.Type;
  data?: Tensor.DataType;
  input?: Tensor.DataType;
  error?: string;
}

/** The model's declared inputs and outputs, as the worker's session read them. */
export type WorkerMetadata = Pick<InferenceSession, 'inputNames' | 'inputMetadata' | 'outputNames' | 'outputMetadata'>;

interface Pending {
  resolve: (out: WorkerOutput) => void;
  reject: (err: Error) => void;
}

/** One worker thread holding its own session of the model. */
class InferenceWorker {
  readonly pending = new Map<number, Pending>();
  /** Heap queries waiting for their answer, by id. */
  private readonly heapQueries = new Map<number, (heap: WorkerHeap | undefined) => void>();
  /** Runs given to this worker and not answered yet, including those waiting for it to load. */
  private loadCount = 0;
  private readonly worker: Worker;
  /** Resolves with what the model declares once the session is loaded; rejects when it could not be. */
  readonly ready: Promise<WorkerMetadata>;
  dead = false;
  /** Set once the session is loaded. */
  loaded = false;

  constructor(ort: string, path: string, options: InferenceSession.SessionOptions, tuning: WorkerTuning, private readonly onExit: (w: InferenceWorker) => void) {
    const workerData = { ort, path, options, nice: tuning.nice ?? 0, collectEvery: tuning.collectEvery ?? COLLECT_EVERY };
    // A small heap: the worker only wraps buffers; the session's memory is onnxruntime's own.
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData, resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 8 } });
    this.worker.unref();
    this.ready = new Promise<WorkerMetadata>((resolve, reject) => {
      const first = (m: { ready?: boolean; meta?: WorkerMetadata; error?: string }) => {
        if (m.ready && m.meta) resolve(m.meta);
        else reject(new Error(m.error ?? 'the inference worker did not start'));
      };
      this.worker.once('message', first);
      this.worker.once('error', reject);
      this.worker.once('exit', (code) => reject(new Error(`the inference worker exited with code ${code} while loading`)));
    });
    this.ready.then(
      () => {
        this.loaded = true;
        this.worker.on('message', (m: Answer) => this.answer(m));
      },
      // A worker that could not load is done: the next run starts a fresh one.
      (err: Error) => {
        this.fail(err);
        void this.worker.terminate();
      },
    );
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`the inference worker exited with code ${code}`)));
  }

  get load(): number {
    return this.loadCount;
  }

  /**
   * An idle worker does not keep the process alive (a stopped agent exits without releasing
   * its models first); a worker with runs to answer does, or their promises would be lost.
   */
  set load(n: number) {
    if (n > 0 && this.loadCount === 0) this.worker.ref();
    if (n === 0 && this.loadCount > 0) this.worker.unref();
    this.loadCount = n;
  }

  /** `move`: the input's buffer is transferred, not copied, and comes back as the output's `input`. */
  run(id: number, input: Tensor, inputName: string, outputName: string, move: boolean): Promise<WorkerOutput> {
    return new Promise<WorkerOutput>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const message = { id, type: input.type, data: input.data, dims: input.dims, input: inputName, output: outputName, moved: move };
      if (move) this.worker.postMessage(message, [(input.data as ArrayBufferView).buffer as ArrayBuffer]);
      else this.worker.postMessage(message);
    });
  }

  /** The worker's JS heap, undefined while its session loads. */
  heap(id: number): Promise<WorkerHeap | undefined> {
    if (!this.loaded || this.dead) return Promise.resolve(undefined);
    // Counted as load while it waits: an idle worker does not keep the process alive.
    this.load++;
    return new Promise<WorkerHeap | undefined>((resolve) => {
      this.heapQueries.set(id, resolve);
      this.worker.postMessage({ heap: true, id });
    }).finally(() => this.load--);
  }

  async release(): Promise<void> {
    if (this.dead) return;
    // Whoever releases waits for the session to be freed.
    this.worker.ref();
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    try {
      await this.ready;
      this.worker.postMessage({ release: true });
    } catch {
      await this.worker.terminate();
    }
    await exited;
  }

  private answer(m: Answer): void {
    const heapQuery = this.heapQueries.get(m.id);
    if (heapQuery) {
      this.heapQueries.delete(m.id);
      heapQuery(m.heap);
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.error !== undefined || m.type === undefined || m.data === undefined) p.reject(new Error(m.error ?? 'the inference worker gave no output'));
    else p.resolve(m.input === undefined ? { type: m.type, data: m.data } : { type: m.type, data: m.data, input: m.input });
  }

  private fail(err: Error): void {
    if (this.dead) return;
    this.dead = true;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    for (const heapQuery of this.heapQueries.values()) heapQuery(undefined);
    this.heapQueries.clear();
    this.onExit(this);
  }
}

/**
 * A few worker threads, each with its own session of one model file, started on the first
 * run (an idle agent holds none). A run goes to the worker with the fewest runs waiting;
 * a worker that dies fails its runs and is replaced by the next run.
 */
export class InferenceWorkers {
  private readonly workers: Array<InferenceWorker | undefined>;
  private readonly ort = createRequire(import.meta.url).resolve('onnxruntime-node');
  private nextId = 0;
  private released = false;

  /** `tuning.nice` > 0 runs the workers at a lower CPU priority (background work such as explanations). */
  constructor(
    readonly size: number,
    private readonly path: string,
    private readonly options: InferenceSession.SessionOptions,
    private readonly tuning: WorkerTuning = {},
  ) {
    this.workers = Array.from({ length: size }, () => undefined);
  }

  /** Workers running now. */
  get started(): number {
    return this.workers.filter((w) => w && !w.dead).length;
  }

  /**
   * Runs `input` on the least loaded worker; undefined while no worker has its session
   * loaded yet, and the caller runs it itself: a frame never waits for a worker to start.
   * The input is copied to the worker, or with `move` (when its data owns a whole buffer)
   * transferred and given back as the output's `input`: copying a 300 KB image, or a batch
   * of them, would cost the event loop about a millisecond per image. A moved input's data
   * is unusable afterwards, also when the run fails.
   */
  async run(input: Tensor, inputName: string, outputName: string, move = false): Promise<WorkerOutput | undefined> {
    if (this.released) throw new Error('the inference workers were released');
    const worker = this.pick();
    if (!worker) return undefined;
    worker.load++;
    try {
      return await worker.run(this.nextId++, input, inputName, outputName, move && ownsBuffer(input.data));
    } finally {
      worker.load--;
    }
  }

  /** The JS heap of each running worker (how far its garbage has piled up); workers still loading are left out. */
  async heaps(): Promise<WorkerHeap[]> {
    const all = await Promise.all(this.workers.map((w) => w?.heap(this.nextId++)));
    return all.filter((h): h is WorkerHeap => h !== undefined);
  }

  /** Starts a worker (in the background) when none runs, ahead of the first run given to it. */
  prestart(): void {
    if (this.released) return;
    for (const w of this.workers) if (w && !w.dead) return;
    this.pick();
  }

  /** Ends every worker, freeing its session; runs still waiting fail. */
  async release(): Promise<void> {
    this.released = true;
    const all = this.workers.splice(0);
    await Promise.all(all.map((w) => w?.release()));
  }

  /**
   * The least loaded worker with its session loaded; one more starts (in the background)
   * when every loaded worker has work and there is room for another.
   */
  private pick(): InferenceWorker | undefined {
    let best: InferenceWorker | undefined;
    let loading = false;
    let free = -1;
    for (let i = 0; i < this.workers.length; i++) {
      const w = this.workers[i];
      if (!w || w.dead) {
        if (free < 0) free = i;
      } else if (!w.loaded) loading = true;
      else if (!best || w.load < best.load) best = w;
    }
    if ((!best || best.load > 0) && !loading && free >= 0) {
      this.workers[free] = new InferenceWorker(this.ort, this.path, this.options, this.tuning, (dead) => {
        const at = this.workers.indexOf(dead);
        if (at >= 0) this.workers[at] = undefined;
      });
    }
    return best;
  }
}

/** Whether typed-array data spans exactly its own ArrayBuffer, which can then be transferred. */
function ownsBuffer(data: Tensor.DataType): boolean {
  if (!ArrayBuffer.isView(data)) return false;
  return data.buffer instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
}
