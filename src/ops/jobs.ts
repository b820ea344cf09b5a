/**
 * Job states as executors report them, written to the jobs table in batches (one statement per
 * flush) by the launching process: the executor tells when a job starts and ends; the details
 * (per-step timings, QA, products) come later from the result records, at aggregation.
 */

import { hostname } from 'node:os';
import type { JobEnded, JobStarted } from '../exec/types.ts';
import { processAlive } from '../util/pid.ts';
import type { Db } from './db.ts';

export class JobStateWriter {
  private started: JobStarted[] = [];
  private ended: JobEnded[] = [];
  private timer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Db,
    private readonly intervalMs = 1000,
  ) {}

  start(e: JobStarted): void {
    this.started.push(e);
    this.schedule();
  }

  end(e: JobEnded): void {
    this.ended.push(e);
    this.schedule();
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.intervalMs);
  }

  /** Write what is buffered (the jobs that started, then those that ended). */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const started = this.started;
    const ended = this.ended;
    this.started = [];
    this.ended = [];
    this.flushing = this.flushing.then(async () => {
      if (started.length > 0)
        await this.db.query(
          // Every start of a job's process counts as an attempt (a retry while it shows running too).
          `UPDATE jobs SET status = CASE WHEN jobs.status IN ('queued', 'interrupted', 'failed') THEN 'running' ELSE jobs.status END,
             executor_job_id = u.xid, started_at = u.started, attempts = attempts + 1, updated_at = now()
           FROM unnest($1::bigint[], $2::text[], $3::timestamptz[]) AS u(id, xid, started)
           WHERE jobs.id = u.id AND jobs.status IN ('queued', 'interrupted', 'failed', 'running')`,
          [started.map((e) => e.jobId), started.map((e) => e.executorJobId), started.map((e) => e.started)],
        );
      if (ended.length > 0)
        await this.db.query(
          `UPDATE jobs SET status = u.status, exit_code = u.code, message = u.message,
             started_at = coalesce(u.started, jobs.started_at), ended_at = u.ended,
             executor_job_id = coalesce(u.xid, jobs.executor_job_id), updated_at = now()
           FROM unnest($1::bigint[], $2::text[], $3::int[], $4::text[], $5::timestamptz[], $6::timestamptz[], $7::text[])
             AS u(id, status, code, message, started, ended, xid)
           WHERE jobs.id = u.id`,
          [
            ended.map((e) => e.jobId),
            ended.map((e) => e.status),
            ended.map((e) => e.exitCode),
            ended.map((e) => e.message ?? null),
            ended.map((e) => e.started ?? null),
            ended.map((e) => e.ended),
            ended.map((e) => e.executorJobId ?? null),
          ],
        );
    });
    return this.flushing;
  }
}

/** Mark a run ended (or interrupted). */
export async function endRun(db: Db, runId: number, status: 'ended' | 'interrupted'): Promise<void> {
  await db.query('UPDATE runs SET ended_at = now(), status = $2 WHERE id = $1', [runId, status]);
}

/**
 * Runs of the local executor whose launcher died (killed, or the machine reset) stay "launched"
 * with jobs "running" that no process runs any more (their jobs end with their launcher). Mark
 * them interrupted, on this machine, where a launcher's process id can be checked; their jobs
 * run again at the next launch of their range. Resolves to the runs so marked.
 */
export async function interruptAbandonedRuns(db: Db): Promise<number[]> {
  const runs = await db.query<{ id: number; pid: string | null }>(
    `SELECT id, params->'launcher'->>'pid' AS pid FROM runs
     WHERE status = 'launched' AND executor = 'local' AND params->'launcher'->>'host' = $1`,
    [hostname()],
  );
  const dead = runs
    .filter((r) => r.pid !== null && Number(r.pid) !== process.pid && !processAlive(Number(r.pid)))
    .map((r) => Number(r.id));
  if (dead.length === 0) return [];
  await db.transaction(async (tx) => {
    await tx.query(
      `UPDATE jobs SET status = 'interrupted', exit_code = 75, ended_at = coalesce(ended_at, now()), updated_at = now(),
         message = 'its launcher ended before it did'
       WHERE run_id = ANY($1::bigint[]) AND status = 'running'`,
      [dead],
    );
    await tx.query(
      `UPDATE runs SET status = 'interrupted', ended_at = coalesce(ended_at, now()) WHERE id = ANY($1::bigint[])`,
      [dead],
    );
  });
  return dead;
}
