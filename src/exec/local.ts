/**
 * The local executor: a pool of `rapid job run` processes, all cores by default.
 *
 * - Reference builds (stage 1) go first; a science job (stage 2) starts when the reference job
 *   it depends on has succeeded, and fails with 66 without running when that job failed.
 * - Each job is its own process group, so a Ctrl-C at the terminal reaches the launcher only:
 *   `stop()` starts no more jobs and lets the running ones finish; `interrupt()` sends them
 *   SIGTERM (the job stops at its next step with 75, interrupted) and SIGKILL after a grace
 *   period. Jobs not started stay queued, so a later launch resumes.
 * - A job ends at once (75) when the launcher dies, even by SIGKILL: its standard input is a
 *   pipe from the launcher (`--exit-with-parent`), which closes then. The next launch marks the
 *   dead launcher's run interrupted and runs its unfinished jobs again.
 */
import type { ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { ExitCode } from '../util/errors.ts';
import { signalGroup, startJobProcess } from './process.ts';
import {
  type Executor,
  type ExecutorEvents,
  type ExecutorSummary,
  emptySummary,
  type JobEnded,
  type PlannedJob,
  statusOf,
} from './types.ts';

export { jobCommand } from './process.ts';

export interface LocalExecutorOptions {
  /** Processes at once; default every core. */
  concurrency?: number;
  /** The job command (default jobCommand()); 'job run URI' is appended. */
  command?: string[];
  /** Extra arguments after the manifest URI (e.g. --s3-endpoint URL). */
  jobArgs?: string[];
  env?: NodeJS.ProcessEnv;
  /** Time between SIGTERM and SIGKILL on interrupt, ms. */
  graceMs?: number;
}

interface Running {
  job: PlannedJob;
  child: ChildProcess;
}

export class LocalExecutor implements Executor {
  readonly name = 'local';
  readonly concurrency: number;
  private stopping = false;
  private interrupting = false;
  private readonly running = new Map<number, Running>();
  private wake: () => void = () => {};

  constructor(private readonly options: LocalExecutorOptions = {}) {
    this.concurrency = Math.max(1, options.concurrency ?? availableParallelism());
  }

  stop(): void {
    this.stopping = true;
    this.wake();
  }

  interrupt(): void {
    this.stopping = true;
    this.interrupting = true;
    for (const r of this.running.values()) {
      signalGroup(r.child, 'SIGTERM');
      const t = setTimeout(() => signalGroup(r.child, 'SIGKILL'), this.options.graceMs ?? 10_000);
      t.unref();
    }
    this.wake();
  }

  async run(jobs: PlannedJob[], events: ExecutorEvents): Promise<ExecutorSummary> {
    const summary = emptySummary();
    const inRun = new Set(jobs.map((j) => j.jobId));
    const outcome = new Map<number, JobEnded>();
    const stage1 = jobs.filter((j) => j.stage === 1);
    let stage2 = jobs.filter((j) => j.stage !== 1);
    const end = (e: JobEnded) => {
      outcome.set(e.jobId, e);
      summary.ended++;
      summary[e.status]++;
      events.onEnd?.(e);
    };

    const next = (): PlannedJob | undefined => {
      if (stage1.length > 0) return stage1.shift();
      for (let i = 0; i < stage2.length; i++) {
        const j = stage2[i];
        const dep = j.dependsOn;
        if (dep === undefined || !inRun.has(dep) || outcome.get(dep)?.status === 'succeeded') {
          stage2.splice(i, 1);
          return j;
        }
      }
      return undefined;
    };
    /** Science jobs whose reference job failed end now, without running. */
    const failOrphans = () => {
      stage2 = stage2.filter((j) => {
        const d = j.dependsOn === undefined ? undefined : outcome.get(j.dependsOn);
        if (!d || d.status === 'succeeded') return true;
        if (d.status === 'interrupted') return true; // stays queued for the next launch
        end({
          jobId: j.jobId,
          status: 'failed',
          exitCode: d.exitCode === ExitCode.NO_REFERENCE ? ExitCode.NO_REFERENCE : ExitCode.MISSING_INPUT,
          ended: new Date(),
          message: `its reference job ${j.dependsOn} ended with exit ${d.exitCode}`,
        });
        return false;
      });
    };

    const start = (job: PlannedJob) => {
      const p = startJobProcess(job.manifestUri, {
        command: this.options.command,
        // A job ends with its launcher: its standard input, a pipe from here, closes then.
        jobArgs: ['--exit-with-parent', ...(this.options.jobArgs ?? [])],
        env: this.options.env,
        detached: true,
        stdinPipe: true,
      });
      const xid = String(p.child.pid ?? '');
      this.running.set(job.jobId, { job, child: p.child });
      events.onStart?.({ jobId: job.jobId, executorJobId: xid, started: p.started });
      void p.done.then((r) => {
        this.running.delete(job.jobId);
        const interrupted = this.interrupting && (r.signal !== null || r.code === ExitCode.TEMPORARY);
        // Killed by a signal (the out-of-memory killer, an operator): not the job's bug; running
        // it again may succeed (75, as under the queue, which retries it).
        const exitCode = r.code ?? ExitCode.TEMPORARY;
        end({
          jobId: job.jobId,
          status: statusOf(exitCode, interrupted),
          exitCode,
          started: r.started,
          ended: r.ended,
          executorJobId: xid,
          message: exitCode === 0 ? undefined : r.message,
        });
        this.wake();
      });
    };

    for (;;) {
      failOrphans();
      while (!this.stopping && this.running.size < this.concurrency) {
        const j = next();
        if (!j) break;
        start(j);
      }
      if (this.running.size === 0) {
        // Nothing running and nothing could start: done, stopped, or left waiting on a
        // reference job that was interrupted (those stay queued for the next launch).
        summary.notStarted = stage1.length + stage2.length;
        summary.stopped = this.stopping;
        return summary;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }
}
