/**
 * The queue executor: jobs go to a BullMQ queue in Redis, and `rapid worker` processes on any
 * number of machines run them (worker.ts).
 *
 * - Each job is one queue entry whose id comes from the database job id (`job-<id>`), so
 *   launching again while entries are still waiting adds no duplicates. Finished entries are
 *   removed from Redis: the result record in the store is the lasting outcome.
 * - A science job (stage 2) whose reference job (stage 1) is in the same launch travels inside
 *   the reference job's entry and is added to the queue by the worker when the reference job has
 *   ended (a job has one parent in a BullMQ flow, but a reference serves many science jobs).
 * - Retries: 3 attempts with exponential backoff, for exit 75 and for jobs lost with their
 *   worker (stalled-job detection); never for any other exit code.
 * - With `wait`, the launcher follows the queue's events and reports each job's start (each time
 *   a worker starts the job's process, which it reports as progress) and end;
 *   without it, the launch returns once the jobs are submitted and they stay `queued` in the
 *   database until `rapid aggregate` registers their result records.
 */
import { Queue, QueueEvents } from 'bullmq';
import { z } from 'zod';
import { ExitCode } from '../util/errors.ts';
import { lastStreamId, RedisWatch, useRedis } from './redis.ts';
import type { PlannedJob } from './types.ts';
import {
  type Executor,
  type ExecutorEvents,
  type ExecutorSummary,
  emptySummary,
  type JobEnded,
  statusOf,
} from './types.ts';

export { DEFAULT_QUEUE } from './types.ts';

import { DEFAULT_QUEUE } from './types.ts';
/** Runs of a job at most, counting those lost with a crashed worker. */
export const ATTEMPTS = 3;
export const DEFAULT_BACKOFF_MS = 5000;

/** What a queue entry carries: enough to run the job and to record its failure. */
export interface QueueJobData {
  jobId: number;
  runId?: number;
  pipeline: PlannedJob['pipeline'];
  manifestUri: string;
  resultUri: string;
  /** Science jobs to add when this reference job has ended. */
  dependents?: QueueJobData[];
  /** Set on a dependent whose reference job failed: it is recorded as failed without running. */
  referenceFailed?: { jobId: number; exitCode: number };
}

/**
 * A URI a queue entry may name: an absolute folder path (or file://) or s3://bucket/key, without
 * `.` or `..` segments, control characters or excessive length. Launch writes no other kind.
 */
const EntryUriSchema = z
  .string()
  .min(1)
  .max(4096)
  .refine((u) => !/[\u0000-\u001f\u007f]/.test(u), 'control characters in a path')
  .refine(
    (u) => /^(\/|file:\/\/\/|s3:\/\/[^/]+\/)/.test(u),
    'expected an absolute folder path or s3://bucket/key',
  )
  .refine(
    (u) =>
      !u
        .replace(/^(file|s3):\/\//, '')
        .split('/')
        .some((s) => s === '.' || s === '..'),
    'a path with . or .. segments',
  );

/** A queue entry as a worker accepts it (anything else in Redis is refused before use). */
export const QueueJobDataSchema: z.ZodType<QueueJobData> = z.lazy(() =>
  z.object({
    jobId: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
    runId: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
    pipeline: z.enum(['reference', 'science', 'noop', 'postprocess']),
    manifestUri: EntryUriSchema,
    resultUri: EntryUriSchema,
    dependents: z.array(QueueJobDataSchema).optional(),
    referenceFailed: z
      .object({ jobId: z.number().int().positive(), exitCode: z.number().int().min(1).max(255) })
      .optional(),
  }),
);

/** Validate what a queue entry carries: the entry, or a one-line reason to refuse it. */
export function parseQueueEntry(
  data: unknown,
): { ok: true; entry: QueueJobData } | { ok: false; reason: string } {
  const r = QueueJobDataSchema.safeParse(data);
  if (r.success) return { ok: true, entry: r.data };
  const i = r.error.issues[0];
  const path = i.path.length ? i.path.join('.') : '(top level)';
  const more = r.error.issues.length > 1 ? ` (and ${r.error.issues.length - 1} more)` : '';
  return { ok: false, reason: `malformed entry: ${path}: ${i.message}${more}` };
}

/** What a worker returns for a job that succeeded (0 or 4). */
export interface QueueJobReturn {
  exitCode: number;
  message?: string;
}

export const queueJobId = (jobId: number) => `job-${jobId}`;

export function jobIdOf(queueId: string): number | undefined {
  const m = /^job-(\d+)$/.exec(queueId);
  return m ? Number(m[1]) : undefined;
}

/** A failure reason carries the exit code first: `exit 65: why`. */
export function failureReason(exitCode: number, message: string | undefined): string {
  return `exit ${exitCode}: ${message ?? 'no message'}`;
}

export function parseFailureReason(reason: string | undefined): { exitCode: number; message: string } {
  const m = /^exit (\d+): ([\s\S]*)$/.exec(reason ?? '');
  if (m) return { exitCode: Number(m[1]), message: m[2] };
  // BullMQ's own reasons (e.g. a job stalled too often) mean the job left no outcome.
  return { exitCode: ExitCode.TEMPORARY, message: reason || 'failed in the queue without a reason' };
}

export function entryOptions(jobId: number, backoffMs: number) {
  return {
    jobId: queueJobId(jobId),
    attempts: ATTEMPTS,
    backoff: { type: 'exponential' as const, delay: backoffMs },
    removeOnComplete: true,
    removeOnFail: true,
  };
}

/** Add entries, a thousand at a time. */
export async function addEntries(queue: Queue, data: QueueJobData[], backoffMs: number): Promise<void> {
  for (let i = 0; i < data.length; i += 1000)
    await queue.addBulk(
      data.slice(i, i + 1000).map((d) => ({
        name: d.pipeline,
        data: d,
        opts: entryOptions(d.jobId, backoffMs),
      })),
    );
}

/** The queue's entries: jobs without a dependency in the launch, carrying their dependents. */
export function queueEntries(jobs: PlannedJob[], runId?: number): QueueJobData[] {
  const data = new Map<number, QueueJobData>();
  for (const j of jobs)
    data.set(j.jobId, {
      jobId: j.jobId,
      ...(runId === undefined ? {} : { runId }),
      pipeline: j.pipeline,
      manifestUri: j.manifestUri,
      resultUri: j.resultUri,
    });
  const roots: QueueJobData[] = [];
  for (const j of [...jobs].sort((a, b) => a.stage - b.stage)) {
    const d = data.get(j.jobId)!;
    const parent = j.dependsOn === undefined ? undefined : data.get(j.dependsOn);
    if (!parent) roots.push(d);
    else if (parent.dependents) parent.dependents.push(d);
    else parent.dependents = [d];
  }
  return roots;
}

export interface QueueExecutorOptions {
  /** redis://HOST:PORT */
  redis: string;
  queue?: string;
  /** Follow the jobs until every one has ended. */
  wait?: boolean;
  runId?: number;
  /** First retry delay, doubled for each retry. */
  backoffMs?: number;
  /** Where the launcher's lines about Redis go (default: standard error). */
  log?: (line: string) => void;
}

export class QueueExecutor implements Executor {
  readonly name = 'queue';
  private stopping = false;
  private interrupting = false;
  private wake: () => void = () => {};
  private onStop: () => Promise<void> = async () => {};

  constructor(private readonly options: QueueExecutorOptions) {}

  stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    void this.onStop();
  }

  interrupt(): void {
    this.interrupting = true;
    this.stop();
    this.wake();
  }

  async run(jobs: PlannedJob[], events: ExecutorEvents): Promise<ExecutorSummary> {
    const summary = emptySummary();
    const connection = useRedis(this.options.redis);
    const name = this.options.queue ?? DEFAULT_QUEUE;
    const backoffMs = this.options.backoffMs ?? DEFAULT_BACKOFF_MS;
    // Every job adds a few events; keep them all until this launcher has read them.
    const queue = new Queue(name, {
      connection,
      streams: { events: { maxLen: Math.max(10_000, jobs.length * 10) } },
    });
    // One line when Redis is lost and one when it is back, not BullMQ's raw error objects.
    const watch = new RedisWatch(this.options.redis, 'rapid launch', this.options.log);
    watch.watch(queue);
    const roots = queueEntries(jobs, this.options.runId);
    if (!this.options.wait) {
      try {
        await addEntries(queue, roots, backoffMs);
      } finally {
        await queue.close();
      }
      summary.submitted = jobs.length;
      return summary;
    }

    const byId = new Map(jobs.map((j) => [j.jobId, j]));
    const dependentsOf = new Map<number, number[]>();
    for (const j of jobs)
      if (j.dependsOn !== undefined && byId.has(j.dependsOn))
        dependentsOf.set(j.dependsOn, [...(dependentsOf.get(j.dependsOn) ?? []), j.jobId]);
    const outstanding = new Set(byId.keys());
    const started = new Map<number, Date>();
    const end = (e: JobEnded) => {
      if (!outstanding.delete(e.jobId)) return;
      summary.ended++;
      summary[e.status]++;
      events.onEnd?.(e);
      if (this.stopping) void removeWaiting(dependentsOf.get(e.jobId) ?? []);
      if (outstanding.size === 0) this.wake();
    };
    /**
     * Take entries not started yet off the queue (they stay queued in the database). Science
     * jobs whose reference job is still running are not on the queue yet: they are taken off
     * when it ends (see `end`).
     */
    const removeWaiting = async (ids: number[]) => {
      for (const id of ids) {
        if (!outstanding.has(id) || started.has(id)) continue;
        // Only entries waiting on the queue: `remove` also answers 1 for an entry not there.
        const state = await queue.getJobState(queueJobId(id)).catch(() => 'unknown');
        if (!['waiting', 'delayed', 'prioritized'].includes(state)) continue;
        // 0 when a worker has just taken it (locked); counted once should removals overlap.
        if ((await queue.remove(queueJobId(id)).catch(() => 0)) === 1 && outstanding.delete(id))
          summary.notStarted++;
      }
      if (outstanding.size === 0) this.wake();
    };
    this.onStop = () => removeWaiting([...outstanding]);

    // QueueEvents reads from '$' once its loop has started, which may be after the first jobs
    // have already started or ended; their events would be lost and the launch would wait for
    // ever. Reading from the stream's last entry before anything is added misses nothing.
    let lastEventId: string;
    try {
      lastEventId = await lastStreamId(this.options.redis, queue.keys.events);
    } catch (err) {
      await queue.close();
      throw err;
    }
    const queueEvents = new QueueEvents(name, { connection, lastEventId });
    watch.watch(queueEvents);
    // Taken by a worker: no longer on the queue to take back.
    queueEvents.on('active', ({ jobId }) => {
      const id = jobIdOf(jobId);
      if (id === undefined || !outstanding.has(id)) return;
      if (!started.has(id)) started.set(id, new Date());
    });
    // Run: the worker reports each start of the job's process (an entry completed from the
    // job's result record, or refused, is taken but not run, and is no start).
    const ran = new Map<number, Date>();
    queueEvents.on('progress', ({ jobId, data }) => {
      const id = jobIdOf(jobId);
      if (id === undefined || !outstanding.has(id)) return;
      if (!data || typeof data !== 'object' || !('run' in data)) return;
      const t = new Date();
      ran.set(id, t);
      if (!started.has(id)) started.set(id, t);
      events.onStart?.({ jobId: id, executorJobId: jobId, started: t });
    });
    const finished = (queueId: string, exitCode: number, message: string | undefined) => {
      const id = jobIdOf(queueId);
      if (id === undefined) return;
      end({
        jobId: id,
        status: statusOf(exitCode, false),
        exitCode,
        started: ran.get(id),
        ended: new Date(),
        executorJobId: queueId,
        message,
      });
    };
    queueEvents.on('completed', ({ jobId, returnvalue }) => {
      const r = (typeof returnvalue === 'string' ? JSON.parse(returnvalue) : returnvalue) as QueueJobReturn;
      finished(jobId, typeof r?.exitCode === 'number' ? r.exitCode : ExitCode.OK, r?.message);
    });
    queueEvents.on('failed', ({ jobId, failedReason }) => {
      const { exitCode, message } = parseFailureReason(failedReason);
      finished(jobId, exitCode, message);
    });
    try {
      await queueEvents.waitUntilReady();
      await addEntries(queue, roots, backoffMs);
      // Stopped while submitting: take back what no worker has started.
      if (this.stopping) await removeWaiting([...outstanding]);
      while (outstanding.size > 0 && !this.interrupting) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
      }
    } finally {
      await queueEvents.close();
      await queue.close();
    }
    if (this.interrupting) {
      // Jobs still running on workers stay `running`: aggregation records how they end.
      summary.interrupted += [...outstanding].filter((id) => started.has(id)).length;
      summary.notStarted += [...outstanding].filter((id) => !started.has(id)).length;
    }
    summary.stopped = this.stopping;
    return summary;
  }
}
