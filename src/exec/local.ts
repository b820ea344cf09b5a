/**
 * The local executor: a pool of `rapid job run` processes, all cores by default.
 *
 * - Reference builds (stage 1) go first; a science job (stage 2) starts when the reference job
 *   it depends on has succeeded, and fails with 66 without running when that job failed.
 * - Each job is its own process group, so a Ctrl-C at the terminal reaches the launcher only:
 *   `stop()` starts no more jobs and lets the running ones finish; `interrupt()` sends them
 *   SIGTERM (the job stops at its next step with 75, interrupted) and SIGKILL after a grace
 *   period. Jobs not started stay queued, so a later launch resumes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { PlannedJob } from '../ops/launch.ts';
import { ExitCode } from '../util/errors.ts';
import {
  type Executor,
  type ExecutorEvents,
  type ExecutorSummary,
  type JobEnded,
  statusOf,
} from './types.ts';

/** The command that runs `rapid job run`: the built CLI, or the TypeScript entry under tsx. */
export function jobCommand(): string[] {
  const env = process.env.RAPID_JOB_COMMAND;
  if (env && env.trim() !== '') return env.trim().split(/\s+/);
  if (import.meta.url.endsWith('.ts'))
    return [
      process.execPath,
      '--import',
      import.meta.resolve('tsx'),
      fileURLToPath(new URL('./job-entry.ts', import.meta.url)),
    ];
  return [process.execPath, fileURLToPath(new URL('../../bin/rapid.js', import.meta.url))];
}

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
  started: Date;
  stderr: string;
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
    const summary: ExecutorSummary = {
      ended: 0,
      succeeded: 0,
      failed: 0,
      interrupted: 0,
      notStarted: 0,
      stopped: false,
    };
    const inRun = new Set(jobs.map((j) => j.jobId));
    const outcome = new Map<number, JobEnded>();
    const stage1 = jobs.filter((j) => j.stage === 1);
    let stage2 = jobs.filter((j) => j.stage !== 1);
    const command = this.options.command ?? jobCommand();
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
      const args = [
        ...command.slice(1),
        'job',
        'run',
        job.manifestUri,
        '--quiet',
        ...(this.options.jobArgs ?? []),
      ];
      const child = spawn(command[0], args, {
        detached: true,
        stdio: ['ignore', 'ignore', 'pipe'],
        env: this.options.env ?? process.env,
      });
      const r: Running = { job, child, started: new Date(), stderr: '' };
      this.running.set(job.jobId, r);
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (s: string) => {
        r.stderr = (r.stderr + s).slice(-4000);
      });
      events.onStart?.({ jobId: job.jobId, executorJobId: String(child.pid ?? ''), started: r.started });
      let done = false;
      const finish = (code: number | null, signal: NodeJS.Signals | null, error?: Error) => {
        if (done) return;
        done = true;
        this.running.delete(job.jobId);
        const interrupted = this.interrupting && (signal !== null || code === ExitCode.TEMPORARY);
        const exitCode = code ?? (interrupted ? ExitCode.TEMPORARY : ExitCode.INTERNAL);
        const lastLine = r.stderr
          .trim()
          .split('\n')
          .pop()
          ?.replace(/^rapid: /, '');
        const message = error
          ? `cannot start the job: ${error.message}`
          : signal
            ? `killed by ${signal}`
            : exitCode === 0
              ? undefined
              : lastLine;
        end({
          jobId: job.jobId,
          status: statusOf(exitCode, interrupted),
          exitCode,
          started: r.started,
          ended: new Date(),
          executorJobId: String(child.pid ?? ''),
          message,
        });
        this.wake();
      };
      child.on('error', (err) => finish(null, null, err));
      child.on('close', (code, signal) => finish(code, signal));
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

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}
