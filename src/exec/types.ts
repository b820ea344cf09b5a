/**
 * Executors run jobs: each job is `rapid job run MANIFEST_URI` wherever the executor puts it.
 * The local executor (a process pool) runs them now; a queue that workers on any number of
 * machines pull from, and AWS Batch (array jobs with a dependency between the stages), fit the
 * same interface: they take the planned jobs with their dependencies and report back when jobs
 * start and end. The `none` executor only records the jobs as queued.
 */

/** The Redis queue's name unless --queue says otherwise. */
export const DEFAULT_QUEUE = 'rapid-jobs';

/** A job as launch hands it to an executor. */
export interface PlannedJob {
  jobId: number;
  pipeline: 'reference' | 'science' | 'noop' | 'postprocess';
  /** 1 reference builds, 2 science jobs, 3 post-processing. */
  stage: 1 | 2 | 3;
  manifestUri: string;
  resultUri: string;
  /** The reference build this job waits for, when it is being run too (or has not succeeded). */
  dependsOn?: number;
}

export type JobEndStatus = 'succeeded' | 'failed' | 'interrupted';

export interface JobStarted {
  jobId: number;
  /** The executor's own id for the job (a process id, a queue message id, a Batch job id). */
  executorJobId: string;
  started: Date;
}

export interface JobEnded {
  jobId: number;
  status: JobEndStatus;
  exitCode: number;
  started?: Date;
  ended: Date;
  executorJobId?: string;
  message?: string;
}

export interface ExecutorEvents {
  onStart?(e: JobStarted): void;
  onEnd?(e: JobEnded): void;
}

export interface ExecutorSummary {
  /** Jobs that ended, by status; jobs never started are left out (they stay queued). */
  ended: number;
  succeeded: number;
  failed: number;
  interrupted: number;
  notStarted: number;
  /** True when the run was stopped before every job had ended. */
  stopped: boolean;
  /** Jobs handed over to run elsewhere without waiting for them (they stay queued meanwhile). */
  submitted?: number;
}

export interface Executor {
  readonly name: string;
  /** Run (or hand over) the jobs; resolves when the executor is done with them. */
  run(jobs: PlannedJob[], events: ExecutorEvents): Promise<ExecutorSummary>;
  /** Start no more jobs; running ones finish. */
  stop(): void;
  /** Stop running jobs too (they end as interrupted). */
  interrupt(): void;
}

/** A summary with nothing ended yet. */
export function emptySummary(): ExecutorSummary {
  return { ended: 0, succeeded: 0, failed: 0, interrupted: 0, notStarted: 0, stopped: false };
}

export function statusOf(exitCode: number, interrupted: boolean): JobEndStatus {
  if (exitCode === 0 || exitCode === 4) return 'succeeded';
  if (interrupted) return 'interrupted';
  return 'failed';
}
