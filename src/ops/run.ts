/**
 * A launch from start to end: plan and record (launch.ts), hand the jobs to the executor, write
 * their states as they start and end, and decide the exit code: 0 when every job of the run
 * ended with 0, 4 or 33; 75 when the run was interrupted or jobs are left queued; otherwise the
 * highest exit code among the jobs that failed.
 */
import type { BatchSettings } from '../exec/batch.ts';
import { LocalExecutor } from '../exec/local.ts';
import type { Executor, ExecutorSummary, PlannedJob } from '../exec/types.ts';
import { ExitCode, UsageError } from '../util/errors.ts';
import type { OpsContext } from './context.ts';
import type { Db } from './db.ts';
import { endRun, interruptAbandonedRuns, JobStateWriter } from './jobs.ts';
import { type LaunchOptions, type LaunchResult, launch } from './launch.ts';

/** Jobs ended of the total, and a word on how it goes ("2 failed"). */
export type JobProgress = (done: number, total: number, detail: string) => void;

export const EXECUTORS = ['local', 'queue', 'batch', 'none'] as const;

export interface RunOptions extends Omit<LaunchOptions, 'store' | 'storeConfig'> {
  /** Local executor: processes at once (default every core). */
  concurrency?: number;
  /** Progress of the jobs while this process follows them (local, or queue and Batch with wait). */
  onProgress?: JobProgress;
  /** Queue executor: the Redis URL and queue name. */
  redis?: string;
  queue?: string;
  /** Queue executor: first retry delay, ms. */
  retryDelayMs?: number;
  /** Queue and Batch executors: follow the jobs until they end (default: submit and return). */
  wait?: boolean;
  /** Batch executor: job queue, job definition, and where its client goes. */
  batch?: BatchSettings;
  /** Called with the executor once it exists (to stop or interrupt it, e.g. on Ctrl-C). */
  onExecutor?: (e: Executor) => void;
}

export interface RunOutcome {
  launch: LaunchResult;
  executed?: ExecutorSummary;
  jobs: { byStatus: Record<string, number>; byExitCode: Record<string, number> };
  exitCode: number;
}

/** Check what an executor needs before anything is recorded. */
async function checkExecutor(o: RunOptions): Promise<void> {
  if (!(EXECUTORS as readonly string[]).includes(o.executor))
    throw new UsageError(`--executor must be one of ${EXECUTORS.join(', ')}, got '${o.executor}'`);
  if (o.executor === 'queue') {
    if (!o.redis)
      throw new UsageError('--executor queue needs --redis redis://HOST:6379 (or env RAPID_REDIS)');
    // The queue's client libraries load only when the queue is used (startup time).
    const { checkRedis } = await import('../exec/redis.ts');
    await checkRedis(o.redis);
  }
  if (o.executor === 'batch' && (!o.batch?.jobQueue || !o.batch.jobDefinition))
    throw new UsageError('--executor batch needs --batch-queue and --batch-job-definition');
}

async function makeExecutor(ctx: OpsContext, o: RunOptions, runId: number): Promise<Executor> {
  const jobArgs = ctx.config.s3Endpoint ? ['--s3-endpoint', ctx.config.s3Endpoint] : [];
  if (o.executor === 'queue') {
    const { QueueExecutor } = await import('../exec/queue.ts');
    return new QueueExecutor({
      redis: o.redis!,
      queue: o.queue,
      wait: o.wait,
      runId,
      backoffMs: o.retryDelayMs,
    });
  }
  if (o.executor === 'batch') {
    // AWS's client library loads only when Batch is used (startup time).
    const { BatchExecutor } = await import('../exec/batch.ts');
    return new BatchExecutor({
      ...o.batch!,
      store: ctx.store,
      runId,
      wait: o.wait,
      s3Endpoint: ctx.config.s3Endpoint,
    });
  }
  return new LocalExecutor({ concurrency: o.concurrency, jobArgs });
}

export async function launchAndRun(ctx: OpsContext, o: RunOptions): Promise<RunOutcome> {
  await checkExecutor(o);
  await interruptAbandonedRuns(ctx.db);
  const result = await launch(ctx.db, {
    ...o,
    store: ctx.store,
    storeConfig: {
      root: ctx.store.root,
      ...(ctx.config.s3Endpoint ? { endpoint: ctx.config.s3Endpoint } : {}),
    },
  });
  let executed: ExecutorSummary | undefined;
  if (o.executor !== 'none' && result.toRun.length > 0) {
    const executor = await makeExecutor(ctx, o, result.runId);
    o.onExecutor?.(executor);
    const follows = o.executor === 'local' || o.wait;
    executed = await executeJobs(ctx.db, executor, result.toRun, {
      onProgress: follows ? o.onProgress : undefined,
    });
    // Submitted without waiting: the run goes on elsewhere; aggregation records how it ends.
    if (executed.submitted === undefined)
      await endRun(ctx.db, result.runId, executed.stopped ? 'interrupted' : 'ended');
  } else if (o.executor !== 'none') {
    await endRun(ctx.db, result.runId, 'ended');
  }
  const rows = await ctx.db.query<{ status: string; exit_code: number | null; n: number }>(
    `SELECT j.status, j.exit_code, count(*) AS n FROM run_jobs rj JOIN jobs j ON j.id = rj.job_id
     WHERE rj.run_id = $1 GROUP BY j.status, j.exit_code`,
    [result.runId],
  );
  const byStatus: Record<string, number> = {};
  const byExitCode: Record<string, number> = {};
  let exitCode: number = ExitCode.OK;
  let left = false;
  for (const r of rows) {
    byStatus[r.status] = (byStatus[r.status] ?? 0) + Number(r.n);
    if (r.exit_code !== null)
      byExitCode[String(r.exit_code)] = (byExitCode[String(r.exit_code)] ?? 0) + Number(r.n);
    if (r.status === 'queued' || r.status === 'running' || r.status === 'interrupted') left = true;
    else if (r.exit_code !== null && ![0, 4, 33].includes(r.exit_code))
      exitCode = Math.max(exitCode, r.exit_code);
  }
  if (o.executor === 'none' || executed?.submitted !== undefined) left = false;
  if (left) exitCode = ExitCode.TEMPORARY;
  return { launch: result, executed, jobs: { byStatus, byExitCode }, exitCode };
}

/**
 * Hand planned jobs to an executor and write their states as they start and end, with a
 * progress line on standard error.
 */
export async function executeJobs(
  db: Db,
  executor: Executor,
  jobs: PlannedJob[],
  o: { onProgress?: JobProgress } = {},
): Promise<ExecutorSummary> {
  const writer = new JobStateWriter(db);
  const progress = o.onProgress;
  const total = jobs.length;
  let done = 0;
  let failed = 0;
  let last = 0;
  progress?.(0, total, 'starting');
  const executed = await executor.run(jobs, {
    onStart: (e) => writer.start(e),
    onEnd: (e) => {
      writer.end(e);
      done++;
      if (e.status !== 'succeeded' && e.exitCode !== ExitCode.NO_REFERENCE) failed++;
      const now = Date.now();
      if (progress && (now - last > 500 || done === total)) {
        last = now;
        progress(done, total, `${failed} failed`);
      }
    },
  });
  await writer.flush();
  return executed;
}
