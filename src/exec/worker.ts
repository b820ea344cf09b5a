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
 */
import type { ChildProcess } from 'node:child_process';
import { type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { runJob, StoreRouter, writeFailureRecord } from '../pipeline/runner.ts';
import { ExitCode } from '../util/errors.ts';
import { type JobProcessEnd, signalGroup, startJobProcess } from './process.ts';
import {
  ATTEMPTS,
  addEntries,
  DEFAULT_BACKOFF_MS,
  DEFAULT_QUEUE,
  failureReason,
  type QueueJobData,
  type QueueJobReturn,
} from './queue.ts';
import { useRedis } from './redis.ts';

export interface QueueWorkerOptions {
  redis: string;
  queue?: string;
  /** Jobs at once (default 1). */
  concurrency?: number;
  s3Endpoint?: string;
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
}

export interface WorkerEvent {
  event: 'start' | 'end';
  jobId: number;
  attempt: number;
  exitCode?: number;
  message?: string;
  seconds?: number;
  retry?: boolean;
}

export class QueueWorker {
  private readonly stores: StoreRouter;
  private readonly queue: Queue;
  private readonly worker: Worker<QueueJobData, QueueJobReturn>;
  private readonly children = new Set<ChildProcess>();

  constructor(private readonly options: QueueWorkerOptions) {
    const connection = useRedis(options.redis);
    const name = options.queue ?? DEFAULT_QUEUE;
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
    this.worker.on('error', (err) => {
      process.stderr.write(`rapid: worker: ${err.message}\n`);
    });
  }

  /** Start taking jobs; resolves when the worker stops. */
  async run(): Promise<void> {
    await this.worker.waitUntilReady();
    await this.queue.waitUntilReady();
    await this.worker.run();
  }

  /** Resolves once the worker is connected and taking jobs. */
  async ready(): Promise<void> {
    await this.worker.waitUntilReady();
  }

  /** Take no more jobs; running ones finish. */
  async close(): Promise<void> {
    await this.worker.close();
    await this.queue.close();
    await this.stores.close();
  }

  /** Stop the running jobs too (they end with 75 and are retried, here or elsewhere). */
  interrupt(): void {
    for (const c of this.children) signalGroup(c, 'SIGTERM');
  }

  private async process(job: Job<QueueJobData, QueueJobReturn>): Promise<QueueJobReturn> {
    const d = job.data;
    const attempt = job.attemptsStarted;
    const ev = this.options.onEvent;
    if (d.referenceFailed) {
      const { jobId, exitCode } = d.referenceFailed;
      const code = exitCode === ExitCode.NO_REFERENCE ? ExitCode.NO_REFERENCE : ExitCode.MISSING_INPUT;
      return this.fail(job, code, `its reference job ${jobId} ended with exit ${exitCode}`, true);
    }
    if (attempt > ATTEMPTS)
      return this.fail(
        job,
        ExitCode.TEMPORARY,
        `no result record after ${ATTEMPTS} attempts: the job was lost with its worker (crashed or killed)`,
        true,
      );
    ev?.({ event: 'start', jobId: d.jobId, attempt });
    const r = await this.runOnce(d);
    // A job killed by a signal (the OOM killer, a lost machine) may well succeed next time.
    const exitCode = r.code ?? ExitCode.TEMPORARY;
    const seconds = (r.ended.getTime() - r.started.getTime()) / 1000;
    if (exitCode === ExitCode.OK || exitCode === ExitCode.SECONDARY_FAILED) {
      await this.passOn(job, exitCode);
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
    return this.fail(job, exitCode, message, !recorded, r.started);
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
    exitCode: number,
    message: string,
    record: boolean,
    started?: Date,
  ): Promise<never> {
    const d = job.data;
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
    await this.passOn(job, exitCode);
    throw new UnrecoverableError(failureReason(exitCode, message));
  }

  /** Add the science jobs that waited for this reference job, with its retry delay. */
  private async passOn(job: Job<QueueJobData, QueueJobReturn>, exitCode: number): Promise<void> {
    const d = job.data;
    if (!d.dependents?.length) return;
    const ok = exitCode === ExitCode.OK || exitCode === ExitCode.SECONDARY_FAILED;
    const next = ok
      ? d.dependents
      : d.dependents.map((x) => ({ ...x, referenceFailed: { jobId: d.jobId, exitCode } }));
    const backoff = job.opts.backoff;
    const delay =
      typeof backoff === 'object' && backoff.delay !== undefined ? backoff.delay : DEFAULT_BACKOFF_MS;
    await addEntries(this.queue, next, delay);
  }
}
