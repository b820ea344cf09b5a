/**
 * A pool of worker threads for the pixel work of the image modules: a job is cut into one
 * task per thread, the calling thread running the first, the others in workers, all over
 * arrays in SharedArrayBuffers. Workers are unreferenced while idle, so a pool never keeps a
 * process alive by itself. Tasks are plain objects naming a kind (see tasks.ts).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { runTask, type Task } from './tasks.ts';

/**
 * A worker running worker.js beside this module. From source (under tsx), Node 20 does not
 * apply the parent's module hooks to worker threads, so a small bootstrap loads the
 * TypeScript worker through tsx's API.
 */
function startWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./worker.js', import.meta.url));
  const api = import.meta.resolve('tsx/esm/api');
  const target = new URL('./worker.ts', import.meta.url).href;
  const boot = `import(${JSON.stringify(api)}).then((m) => m.tsImport(${JSON.stringify(target)}, ${JSON.stringify(import.meta.url)}))`;
  return new Worker(boot, { eval: true });
}

interface Pending {
  resolve: () => void;
  reject: (e: Error) => void;
}

export class WorkerPool {
  /** Threads per job, the calling thread included. */
  readonly threads: number;
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private busy = 0;

  constructor(threads = availableParallelism()) {
    this.threads = Math.max(1, Math.floor(threads));
    for (let i = 1; i < this.threads; i++) {
      const w = startWorker();
      w.on('message', (m: { id: number; error?: string }) => {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.error) p.reject(new Error(`worker task failed: ${m.error}`));
        else p.resolve();
      });
      w.on('error', (e) => {
        for (const p of this.pending.values()) p.reject(e);
        this.pending.clear();
      });
      w.unref();
      this.workers.push(w);
    }
  }

  private send(worker: Worker, task: Task): Promise<void> {
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, task });
    });
  }

  /** Run tasks (at most one per thread): the first here, the others in the workers. */
  async run(tasks: Task[]): Promise<void> {
    if (tasks.length > this.threads)
      throw new RangeError(`${tasks.length} tasks for ${this.threads} threads`);
    if (tasks.length === 0) return;
    if (this.busy++ === 0) for (const w of this.workers) w.ref();
    try {
      const jobs = tasks.slice(1).map((t, i) => this.send(this.workers[i], t));
      try {
        runTask(tasks[0]);
      } finally {
        await Promise.allSettled(jobs);
      }
      await Promise.all(jobs);
    } finally {
      if (--this.busy === 0) for (const w of this.workers) w.unref();
    }
  }

  /** Split [0, count) into one range per thread and run a task per range. */
  async runRanges(count: number, make: (start: number, end: number) => Task): Promise<void> {
    const n = Math.min(this.threads, Math.max(1, count));
    const bounds = Array.from({ length: n + 1 }, (_, i) => Math.round((i * count) / n));
    await this.run(Array.from({ length: n }, (_, i) => make(bounds[i], bounds[i + 1])));
  }

  /** Stop the worker threads. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}

let shared: WorkerPool | undefined;

/** The process-wide pool (one thread per core), created on first use. */
export function defaultPool(): WorkerPool {
  shared ??= new WorkerPool();
  return shared;
}

/** True when worker threads can see this array's memory (a whole SharedArrayBuffer, as tasks address it). */
export function isShared(a: Float32Array | Float64Array | Uint8Array): boolean {
  return a.buffer instanceof SharedArrayBuffer && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength;
}

/** True when the array starts at the first byte of a SharedArrayBuffer: enough for tasks that address rows from the buffer's start with their own sizes. */
export function startsShared(a: Float32Array | Float64Array | Uint8Array): boolean {
  return a.buffer instanceof SharedArrayBuffer && a.byteOffset === 0;
}

export function sharedFloat64(length: number): Float64Array {
  return new Float64Array(new SharedArrayBuffer(8 * length));
}

export function sharedFloat32(length: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(4 * length));
}

export function sharedUint8(length: number): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(length));
}

/** The array itself when shared, else a shared copy. */
export function toShared<T extends Float32Array | Float64Array | Uint8Array>(a: T): T {
  if (isShared(a)) return a;
  const C = a.constructor as new (b: SharedArrayBuffer) => T;
  const copy = new C(new SharedArrayBuffer(a.byteLength));
  copy.set(a as never);
  return copy;
}
