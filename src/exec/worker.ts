/**
 * `rapid worker`: takes jobs from the queue (queue.ts) and runs each as its own process,
 * `rapid job run MANIFEST_URI`, several at once.
 *
 * Jobs run as child processes, not in the worker's process: a job that crashes, runs out of
 * memory or is killed takes only itself down, its memory goes back when it ends, and it is the
 * same command every other executor runs. The cost is a Node start per job (bench/queue.ts);
 * `inProcess` avoids it for many tiny jobs.
 *
 * - Exit 75, or a job killed by a signal, is retried (3 attempts, exponential backoff); any other
 *   exit code is final. A worker that dies (even by SIGKILL) stops renewing its jobs' locks, and
 *   another worker's stalled-job check puts them back on the queue; the orphaned job processes
 *   see their standard input close and end at once (`--exit-with-parent`).
 * - A job that ends for good without a result record (it crashed every time, or could not read
 *   its manifest) gets one written by the worker: failed, with the exit code and the reason, so
 *   that `rapid aggregate` and `rapid status` see the failure without the launcher.
 * - When a reference job ends, the worker adds the science jobs that waited for it; when it
 *   failed, they are recorded as failed (66, or 33) without running, like the local executor.
 * - Every entry is checked before use (admitEntry): its shape, its manifest next to its result
 *   record, both inside the store root (`store`), and its manifest read, valid and agreeing with
 *   it. An entry that fails the check is refused for good and nothing is written for it: anyone
 *   who can reach Redis can add entries, and an entry must not make the worker write elsewhere.
 * - A job that has already ended in this run (its result record is there, with the manifest's
 *   run id) is not run again: its entry is completed from the record. This happens when Redis
 *   was unreachable as the job ended, for longer than the entry's lock lasts: the entry goes back
 *   to the queue and is taken again, or a reference job's science jobs are added twice.
 */
import type { ChildProcess } from 'node:child_process';
import { type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { parseManifest, parseResult } from '../pipeline/manifest.ts';
import { runJob, writeFailureRecord } from '../pipeline/runner.ts';
import type { Manifest, ResultRecord } from '../pipeline/types.ts';
import { RESULT_NAME } from '../pipeline/types.ts';
import { confineToStore, isInside } from '../store/confine.ts';
import { joinUri } from '../store/index.ts';
import { StoreRouter } from '../store/router.ts';
import { ExitCode, RapidError } from '../util/errors.ts';
import { type JobProcessEnd, signalGroup, startJobProcess } from './process.ts';
import {
  ATTEMPTS,
  addEntries,
  DEFAULT_BACKOFF_MS,
  DEFAULT_QUEUE,
  failureReason,
  parseQueueEntry,
  type QueueJobData,
  type QueueJobReturn,
  queueJobId,
} from './queue.ts';
import { RedisWatch, useRedis } from './redis.ts';

export interface QueueWorkerOptions {
  redis: string;
  queue?: string;
  /** Jobs at once (default 1). */
  concurrency?: number;
  s3Endpoint?: string;
  /**
   * The store root, a folder or s3://bucket/prefix: entries whose manifest, result record or
   * manifest's store lie outside it are refused.
   */
  store?: string;
  /** The job command (default jobCommand()). */
  command?: string[];
  env?: NodeJS.ProcessEnv;
  /** How long a job's lock lasts without renewal: a dead worker's jobs are retried after it. */
  lockDurationMs?: number;
  /** How often workers look for jobs whose lock has expired. */
  stalledIntervalMs?: number;
  /**
   * Run jobs inside the worker instead of as child processes: no process start per job, but a
   * job that crashes takes the worker (and its other jobs) down. For many tiny jobs only.
   */
  inProcess?: boolean;
  /** One event per job start and end (for the worker's log). */
  onEvent?: (e: WorkerEvent) => void;
  /** The worker's one-line messages: Redis lost and back, refused entries (default: standard error). */
  log?: (line: string) => void;
}

export interface WorkerEvent {
  event: 'start' | 'end';
  jobId: number;
  /** The entry's takes so far, this one included (a take after a lost lock counts). */
  attempt: number;
  exitCode?: number;
  message?: string;
  seconds?: number;
  retry?: boolean;
  /** Ended in this run before (its result record says how): completed without running again. */
  fromRecord?: boolean;
}

/** An entry that passed the checks, with its manifest. */
export interface AdmittedEntry {
  entry: QueueJobData;
  manifest: Manifest;
}

/** An entry refused for good: the exit code it fails with and why, in one line. */
export interface RefusedEntry {
  exitCode: number;
  reason: string;
}

/** A queue id as the log shows it: one line, not too long (an entry may carry anything). */
function printable(id: string | undefined): string {
  const s = String(id).replace(/[\u0000-\u001f\u007f]/g, '?');
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** The result record's URI next to a manifest: the manifest's folder + result.json. */
export function resultUriOf(manifestUri: string): string | undefined {
  const i = manifestUri.lastIndexOf('/');
  if (i < 0 || i === manifestUri.length - 1) return undefined;
  return `${manifestUri.slice(0, i + 1)}${RESULT_NAME}`;
}

/**
 * Check a queue entry before anything is run or written for it: its shape; its queue id
 * (`job-<jobId>`); its result record next to its manifest; both inside `store` when given
 * (no symbolic link on the way); its manifest readable, valid, of the same job and pipeline,
 * with the same result record, and its store inside `store`. The run is the manifest's: an entry
 * left on the queue by an earlier launch runs the manifest the latest launch wrote. Resolves to the entry and its
 * manifest, or to why it is refused; throws (to retry) only when the store is unreachable.
 */
export async function admitEntry(
  queueId: string | undefined,
  data: unknown,
  stores: StoreRouter,
  store?: string,
): Promise<AdmittedEntry | RefusedEntry> {
  const refuse = (reason: string, exitCode: number = ExitCode.BAD_INPUT): RefusedEntry => ({
    exitCode,
    reason,
  });
  const parsed = parseQueueEntry(data);
  if (!parsed.ok) return refuse(parsed.reason);
  const d = parsed.entry;
  if (queueId !== queueJobId(d.jobId))
    return refuse(
      `queue id ${printable(queueId)} does not match its job id ${d.jobId} (expected ${queueJobId(d.jobId)})`,
    );
  const expected = resultUriOf(d.manifestUri);
  if (d.resultUri !== expected)
    return refuse(`its result record ${d.resultUri} is not next to its manifest ${d.manifestUri}`);
  if (store !== undefined)
    try {
      await confineToStore(store, d.manifestUri, 'its manifest');
      await confineToStore(store, d.resultUri, 'its result record');
    } catch (err) {
      return refuse((err as Error).message);
    }
  let manifest: Manifest;
  try {
    manifest = parseManifest(await stores.for(d.manifestUri).getText(d.manifestUri), d.manifestUri);
  } catch (err) {
    if (err instanceof RapidError && err.exitCode === ExitCode.TEMPORARY) throw err;
    const code = err instanceof RapidError ? err.exitCode : ExitCode.MISSING_INPUT;
    return refuse(`cannot use its manifest: ${(err as Error).message.split('\n')[0]}`, code);
  }
  if (manifest.jobId !== d.jobId)
    return refuse(`its manifest ${d.manifestUri} is of job ${manifest.jobId}, not ${d.jobId}`);
  if (manifest.pipeline !== d.pipeline)
    return refuse(`its manifest is a ${manifest.pipeline} job, not ${d.pipeline}`);
  if (joinUri(manifest.outputPrefix, RESULT_NAME) !== d.resultUri)
    return refuse(`its manifest writes under ${manifest.outputPrefix}, not next to ${d.resultUri}`);
  if (store !== undefined && !isInside(store, manifest.store.root))
    return refuse(`its manifest's store ${manifest.store.root} is outside the store ${store}`);
  return { entry: d, manifest };
}

/** Disconnect a BullMQ object's Redis clients without waiting for anything. */
async function dropConnections(o: Queue | Worker): Promise<void> {
  const b = o.getBackend() as unknown as { client?: Promise<unknown>; blockingClient?: Promise<unknown> };
  for (const p of [b.client, b.blockingClient]) {
    if (!p) continue;
    const c = await Promise.race([p.catch(() => undefined), new Promise((r) => setTimeout(r, 100))]);
    (c as { disconnect?: () => void } | undefined)?.disconnect?.();
  }
}

const succeeded = (exitCode: number) => exitCode === ExitCode.OK || exitCode === ExitCode.SECONDARY_FAILED;

export class QueueWorker {
  private readonly stores: StoreRouter;
  private readonly queue: Queue;
  private readonly worker: Worker<QueueJobData, QueueJobReturn>;
  private readonly children = new Set<ChildProcess>();
  private readonly log: (line: string) => void;
  private readonly watch: RedisWatch;
  /** Jobs running here (processes, or in this process). */
  private active = 0;
  private closing?: Promise<void>;
  private gaveUp = false;
  private giveUp: () => void = () => {};
  private readonly givenUp = new Promise<void>((resolve) => {
    this.giveUp = resolve;
  });

  constructor(private readonly options: QueueWorkerOptions) {
    const connection = useRedis(options.redis);
    const name = options.queue ?? DEFAULT_QUEUE;
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.stores = new StoreRouter(options.s3Endpoint);
    this.queue = new Queue(name, { connection });
    const lockDuration = options.lockDurationMs ?? 30_000;
    this.worker = new Worker<QueueJobData, QueueJobReturn>(name, (job) => this.process(job), {
      connection,
      concurrency: Math.max(1, options.concurrency ?? 1),
      lockDuration,
      stalledInterval: options.stalledIntervalMs ?? lockDuration,
      // Lost jobs go back to the queue until they have used their attempts; the processor
      // then records them as failed (a job BullMQ failed by itself would leave no record).
      maxStalledCount: ATTEMPTS,
      autorun: false,
    });
    // One line when Redis is lost and one when it is back, not BullMQ's raw error objects.
    this.watch = new RedisWatch(options.redis, 'rapid worker', this.log);
    this.watch.watch(this.worker);
    this.watch.watch(this.queue);
  }

  /** Did the worker stop without Redis (unreachable as it closed)? */
  get stoppedWithoutRedis(): boolean {
    return this.gaveUp;
  }

  /** Start taking jobs; resolves when the worker stops. */
  async run(): Promise<void> {
    await this.worker.waitUntilReady();
    await this.queue.waitUntilReady();
    await Promise.race([this.worker.run(), this.givenUp]);
  }

  /** Resolves once the worker is connected and taking jobs. */
  async ready(): Promise<void> {
    await this.worker.waitUntilReady();
  }

  /** Take no more jobs; running ones finish. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    let closed = false;
    const closing = (async () => {
      await this.worker.close();
      await this.queue.close();
    })().finally(() => {
      closed = true;
    });
    closing.catch(() => {});
    // BullMQ hands the outcomes of the jobs that ended to Redis before it closes: while Redis
    // is unreachable that waits for ever. Once no job runs here any more, stop without it: the
    // entries go back to the queue when their locks expire, and the jobs that ended here are
    // completed from their result records by whichever worker takes them.
    while (!closed) {
      if (this.watch.unreachable && this.active === 0) {
        this.gaveUp = true;
        this.log(
          'rapid worker: stopping without Redis (unreachable): entries of jobs that ran here go back to the queue when their locks expire, and those that ended are completed from their result records',
        );
        // Drop the connections at once (BullMQ's disconnect waits for an 'end' that a
        // connection retrying an unreachable server never emits).
        await Promise.allSettled([dropConnections(this.worker), dropConnections(this.queue)]);
        this.giveUp();
        break;
      }
      await Promise.race([closing.catch(() => {}), new Promise((r) => setTimeout(r, 200))]);
    }
    await this.stores.close();
  }

  /** Stop the running jobs too (they end with 75 and are retried, here or elsewhere). */
  interrupt(): void {
    for (const c of this.children) signalGroup(c, 'SIGTERM');
  }

  /** The entry, checked; a refused one fails for good with a line in the log, nothing written. */
  private async admit(job: Job<QueueJobData, QueueJobReturn>): Promise<AdmittedEntry> {
    let r: AdmittedEntry | RefusedEntry;
    try {
      r = await admitEntry(job.id, job.data, this.stores, this.options.store);
    } catch (err) {
      // The store cannot be reached: retry while attempts are left; never record anything.
      const reason = `cannot check the entry: ${(err as Error).message.split('\n')[0]}`;
      if (job.attemptsStarted < ATTEMPTS) throw new Error(failureReason(ExitCode.TEMPORARY, reason));
      r = { exitCode: ExitCode.TEMPORARY, reason };
    }
    if ('entry' in r) return r;
    this.log(`rapid worker: refused queue entry ${printable(job.id)}: ${r.reason}`);
    throw new UnrecoverableError(failureReason(r.exitCode, `queue entry refused: ${r.reason}`));
  }

  /**
   * The job's result record when the job has already ended in this run (same job and run id as
   * its manifest, and an outcome that is final: not 75, not interrupted).
   */
  private async endedInThisRun(d: QueueJobData, m: Manifest): Promise<ResultRecord | undefined> {
    let r: ResultRecord;
    try {
      r = parseResult(await this.stores.for(d.resultUri).getText(d.resultUri), d.resultUri);
    } catch {
      return undefined;
    }
    if (r.jobId !== m.jobId || r.runId !== m.runId) return undefined;
    if (r.exitCode === ExitCode.TEMPORARY || r.status === 'interrupted') return undefined;
    return r;
  }

  private async process(job: Job<QueueJobData, QueueJobReturn>): Promise<QueueJobReturn> {
    const { entry: d, manifest } = await this.admit(job);
    const attempt = job.attemptsStarted;
    const ev = this.options.onEvent;
    const before = await this.endedInThisRun(d, manifest);
    if (before) {
      const { exitCode } = before;
      ev?.({
        event: 'end',
        jobId: d.jobId,
        attempt,
        exitCode,
        message: `ended before in run ${before.runId} (its result record says so); not run again`,
        fromRecord: true,
      });
      await this.passOn(job, d, exitCode);
      if (succeeded(exitCode)) return before.message ? { exitCode, message: before.message } : { exitCode };
      throw new UnrecoverableError(failureReason(exitCode, before.message ?? `exit ${exitCode}`));
    }
    if (d.referenceFailed) {
      const { jobId, exitCode } = d.referenceFailed;
      const code = exitCode === ExitCode.NO_REFERENCE ? ExitCode.NO_REFERENCE : ExitCode.MISSING_INPUT;
      return this.fail(job, d, code, `its reference job ${jobId} ended with exit ${exitCode}`, true);
    }
    if (attempt > ATTEMPTS)
      return this.fail(
        job,
        d,
        ExitCode.TEMPORARY,
        `no result record after ${ATTEMPTS} attempts: the job was lost with its worker (crashed or killed)`,
        true,
      );
    ev?.({ event: 'start', jobId: d.jobId, attempt });
    // The launcher counts this as a start of the job (not waiting: Redis may be away).
    job.updateProgress({ run: attempt }).catch(() => {});
    this.active++;
    const r = await this.runOnce(d).finally(() => {
      this.active--;
    });
    // A job killed by a signal (the OOM killer, a lost machine) may well succeed next time.
    const exitCode = r.code ?? ExitCode.TEMPORARY;
    const seconds = (r.ended.getTime() - r.started.getTime()) / 1000;
    if (succeeded(exitCode)) {
      await this.passOn(job, d, exitCode);
      ev?.({ event: 'end', jobId: d.jobId, attempt, exitCode, seconds });
      return r.message ? { exitCode, message: r.message } : { exitCode };
    }
    const last = attempt >= ATTEMPTS || job.attemptsMade + 1 >= (job.opts.attempts ?? ATTEMPTS);
    if (exitCode === ExitCode.TEMPORARY && !last) {
      ev?.({ event: 'end', jobId: d.jobId, attempt, exitCode, message: r.message, seconds, retry: true });
      throw new Error(failureReason(exitCode, r.message));
    }
    ev?.({ event: 'end', jobId: d.jobId, attempt, exitCode, message: r.message, seconds });
    const recorded = await this.stores
      .for(d.resultUri)
      .exists(d.resultUri)
      .catch(() => false);
    const message =
      exitCode === ExitCode.TEMPORARY
        ? `no result record after ${attempt} attempts: ${r.message ?? 'exit 75'}`
        : (r.message ?? `exit ${exitCode}`);
    return this.fail(job, d, exitCode, message, !recorded, r.started);
  }

  /** Run the job once: a child process, or in this process with `inProcess`. */
  private async runOnce(d: QueueJobData): Promise<JobProcessEnd> {
    if (this.options.inProcess) {
      const started = new Date();
      const r = await runJob(d.manifestUri, { s3Endpoint: this.options.s3Endpoint, echo: false });
      return { code: r.exitCode, signal: null, message: r.message, started, ended: new Date() };
    }
    const jobArgs = ['--exit-with-parent'];
    if (this.options.s3Endpoint) jobArgs.push('--s3-endpoint', this.options.s3Endpoint);
    const p = startJobProcess(d.manifestUri, {
      command: this.options.command,
      jobArgs,
      env: this.options.env,
      detached: true,
      stdinPipe: true,
    });
    this.children.add(p.child);
    return p.done.finally(() => this.children.delete(p.child));
  }

  /** End a job for good as failed, recording it when it left no result record. */
  private async fail(
    job: Job<QueueJobData, QueueJobReturn>,
    d: QueueJobData,
    exitCode: number,
    message: string,
    record: boolean,
    started?: Date,
  ): Promise<never> {
    if (record)
      await writeFailureRecord({
        manifestUri: d.manifestUri,
        resultUri: d.resultUri,
        jobId: d.jobId,
        runId: d.runId,
        pipeline: d.pipeline,
        exitCode,
        message,
        started,
        stores: this.stores,
      });
    await this.passOn(job, d, exitCode);
    throw new UnrecoverableError(failureReason(exitCode, message));
  }

  /** Add the science jobs that waited for this reference job, with its retry delay. */
  private async passOn(
    job: Job<QueueJobData, QueueJobReturn>,
    d: QueueJobData,
    exitCode: number,
  ): Promise<void> {
    if (!d.dependents?.length) return;
    const next = succeeded(exitCode)
      ? d.dependents
      : d.dependents.map((x) => ({ ...x, referenceFailed: { jobId: d.jobId, exitCode } }));
    const backoff = job.opts.backoff;
    const delay =
      typeof backoff === 'object' && backoff.delay !== undefined ? backoff.delay : DEFAULT_BACKOFF_MS;
    await addEntries(this.queue, next, delay);
  }
}
