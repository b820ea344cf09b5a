/**
 * A small pool of worker threads that run tasks from a queue, one at a time per worker.
 * A worker module answers each message with `{ result }` or `{ error }`.
 *
 * Workers are loaded from the compiled .js beside this module, or from the .ts source when
 * running under tsx (tests, benchmarks): workers inherit the parent's --import flags.
 */
import { availableParallelism } from 'node:os';
import { type TransferListItem, Worker } from 'node:worker_threads';

interface Pending {
  message: unknown;
  transfer: TransferListItem[];
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

/** URL of a worker module next to `base` (an import.meta.url), with the right extension. */
export function workerUrl(base: string, name: string): URL {
  const ext = base.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./${name}${ext}`, base);
}

/**
 * A worker running TypeScript source (tests and benchmarks run under tsx): Node 20 does not
 * apply the parent's --import loader to a worker's entry module, so the worker registers tsx
 * itself before importing its module.
 */
function typeScriptWorker(url: URL): Worker {
  const tsx = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); });`;
  return new Worker(code, { eval: true });
}

/** Threads asked for with RAPID_WORKERS (a positive integer), read here alone; else undefined. */
export function requestedWorkers(): number | undefined {
  const env = Number(process.env.RAPID_WORKERS);
  return Number.isInteger(env) && env > 0 ? env : undefined;
}

/** Threads for a pool: RAPID_WORKERS when set, else one per core. */
export function defaultWorkerCount(): number {
  return requestedWorkers() ?? availableParallelism();
}

export class WorkerPool {
  private readonly idle: Worker[] = [];
  private readonly all: Worker[] = [];
  private readonly queue: Pending[] = [];
  private readonly busy = new Map<Worker, Pending>();
  private closed = false;

  constructor(url: URL, size = defaultWorkerCount()) {
    for (let i = 0; i < Math.max(1, size); i++) {
      const w = url.pathname.endsWith('.ts') ? typeScriptWorker(url) : new Worker(url);
      w.on('message', (msg: { result?: unknown; error?: string }) => this.finish(w, msg));
      w.on('error', (err) => this.fail(w, err));
      w.unref();
      this.all.push(w);
      this.idle.push(w);
    }
  }

  get size(): number {
    return this.all.length;
  }

  run<T>(message: unknown, transfer: TransferListItem[] = []): Promise<T> {
    if (this.closed) return Promise.reject(new Error('worker pool is closed'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ message, transfer, resolve: resolve as (v: unknown) => void, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const w = this.idle.pop()!;
      const task = this.queue.shift()!;
      this.busy.set(w, task);
      w.ref();
      w.postMessage(task.message, task.transfer);
    }
  }

  private finish(w: Worker, msg: { result?: unknown; error?: string }): void {
    const task = this.busy.get(w);
    this.busy.delete(w);
    w.unref();
    this.idle.push(w);
    if (task) {
      if (msg.error !== undefined) task.reject(new Error(msg.error));
      else task.resolve(msg.result);
    }
    this.pump();
  }

  private fail(w: Worker, err: Error): void {
    const task = this.busy.get(w);
    this.busy.delete(w);
    if (task) task.reject(err);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.queue.splice(0)) t.reject(new Error('worker pool closed'));
    await Promise.all(this.all.map((w) => w.terminate()));
  }
}
