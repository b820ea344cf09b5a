/**
 * The AWS Batch executor: each stage is submitted as array jobs whose children run
 * `rapid job run` in the job image; a child reads line AWS_BATCH_JOB_ARRAY_INDEX of the stage's
 * manifest list (manifest-list.ts), whose URI the container environment carries.
 *
 * - A stage's jobs go in lists of at most 10,000 (AWS Batch's largest array); a list of one job
 *   is submitted as a plain job (an array needs at least 2 children).
 * - Science jobs whose reference job is in the same launch depend on every stage-1 job
 *   (dependsOn); the others are submitted without a dependency, so that they need not wait.
 *   AWS Batch fails the dependent jobs when a stage-1 job fails: launching again runs them.
 * - Retries come from the job definition (deploy/aws/job-definition.json): 3 attempts, retrying
 *   exit 75 and host failures, ending on 33 and 65 and anything else.
 * - With `wait`, the executor polls: DescribeJobs (100 ids at a time) for the submitted jobs, and
 *   ListJobs for the children of array jobs; `stop()` cancels the jobs not started yet,
 *   `interrupt()` terminates the running ones too.
 */
import { readFileSync } from 'node:fs';
import {
  BatchClient,
  CancelJobCommand,
  DescribeJobsCommand,
  type JobStatus,
  type JobSummary,
  ListJobsCommand,
  type RegisterJobDefinitionCommandInput,
  SubmitJobCommand,
  TerminateJobCommand,
} from '@aws-sdk/client-batch';
import { joinUri } from '../store/index.ts';
import type { ObjectStore } from '../store/store.ts';
import { ExitCode, UsageError } from '../util/errors.ts';
import { formatManifestList, MANIFEST_LIST_ENV } from './manifest-list.ts';
import type { PlannedJob } from './types.ts';
import { type Executor, type ExecutorEvents, type ExecutorSummary, emptySummary, statusOf } from './types.ts';

/** AWS Batch's largest array job. */
export const MAX_ARRAY_SIZE = 10_000;
/** DescribeJobs takes at most this many ids. */
export const DESCRIBE_BATCH = 100;

export interface BatchSettings {
  jobQueue: string;
  jobDefinition: string;
  region?: string;
  /** Seconds between status polls with `wait` (default 30). */
  pollSeconds?: number;
}

export interface BatchExecutorOptions extends BatchSettings {
  /** Where the manifest lists are written. */
  store: ObjectStore;
  runId: number;
  wait?: boolean;
  /** Endpoint of an S3-compatible store, passed to the jobs (RAPID_S3_ENDPOINT). */
  s3Endpoint?: string;
  /** Children per array job at most (AWS Batch's limit unless smaller). */
  maxArraySize?: number;
  /** A client to use (tests pass one; default a BatchClient for `region`). */
  client?: BatchClient;
}

/** One submission: a plain job or an array job, and the planned jobs it runs, by index. */
export interface Submission {
  name: string;
  batchJobId: string;
  jobs: PlannedJob[];
  array: boolean;
  manifestList: string;
}

interface Part {
  name: string;
  jobs: PlannedJob[];
  dependent: boolean;
}

/** The submissions of a launch: stage 1, stage 2 without dependencies, dependent stage 2. */
export function planSubmissions(jobs: PlannedJob[], runId: number, maxArraySize = MAX_ARRAY_SIZE): Part[] {
  const inRun = new Set(jobs.map((j) => j.jobId));
  const groups: [string, PlannedJob[], boolean][] = [
    ['stage1', jobs.filter((j) => j.stage === 1), false],
    [
      'stage2',
      jobs.filter((j) => j.stage !== 1 && !(j.dependsOn !== undefined && inRun.has(j.dependsOn))),
      false,
    ],
    [
      'stage2-after-stage1',
      jobs.filter((j) => j.stage !== 1 && j.dependsOn !== undefined && inRun.has(j.dependsOn)),
      true,
    ],
  ];
  const parts: Part[] = [];
  for (const [label, list, dependent] of groups)
    for (let i = 0; i < list.length; i += maxArraySize)
      parts.push({
        name: `rapid-run${runId}-${label}-${i / maxArraySize}`,
        jobs: list.slice(i, i + maxArraySize),
        dependent,
      });
  return parts;
}

/** What a finished Batch job (or array child) ended with, as a job exit code. */
export function exitCodeOf(s: {
  container?: { exitCode?: number; reason?: string };
  statusReason?: string;
}): {
  exitCode: number;
  message?: string;
} {
  const code = s.container?.exitCode;
  const reason = [s.statusReason, s.container?.reason].filter(Boolean).join('; ') || undefined;
  if (typeof code === 'number') return { exitCode: code, message: code === 0 ? undefined : reason };
  // No exit code: it never ran (a failed dependency) or its host went away.
  if (/dependent job/i.test(reason ?? ''))
    return { exitCode: ExitCode.MISSING_INPUT, message: `a reference job failed (AWS Batch: ${reason})` };
  return {
    exitCode: ExitCode.TEMPORARY,
    message: `no exit code (AWS Batch: ${reason ?? 'no reason given'})`,
  };
}

export class BatchExecutor implements Executor {
  readonly name = 'batch';
  readonly client: BatchClient;
  readonly submissions: Submission[] = [];
  private stopping = false;
  private interrupting = false;
  private wake: () => void = () => {};

  constructor(private readonly options: BatchExecutorOptions) {
    this.client = options.client ?? new BatchClient(options.region ? { region: options.region } : {});
  }

  stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    void this.cancel('CancelJob');
    this.wake();
  }

  interrupt(): void {
    this.interrupting = true;
    this.stopping = true;
    void this.cancel('TerminateJob');
    this.wake();
  }

  /** Cancel (jobs not started) or terminate (running ones too) every submission. */
  async cancel(how: 'CancelJob' | 'TerminateJob'): Promise<void> {
    const reason = `rapid: run ${this.options.runId} ${how === 'CancelJob' ? 'stopped' : 'interrupted'}`;
    for (const s of this.submissions)
      await this.client.send(
        how === 'CancelJob'
          ? new CancelJobCommand({ jobId: s.batchJobId, reason })
          : new TerminateJobCommand({ jobId: s.batchJobId, reason }),
      );
  }

  async run(jobs: PlannedJob[], events: ExecutorEvents): Promise<ExecutorSummary> {
    const o = this.options;
    const summary = emptySummary();
    const environment = [{ name: 'RAPID_RUN_ID', value: String(o.runId) }];
    if (o.s3Endpoint) environment.push({ name: 'RAPID_S3_ENDPOINT', value: o.s3Endpoint });
    const stage1Ids: string[] = [];
    for (const part of planSubmissions(jobs, o.runId, o.maxArraySize)) {
      const manifestList = joinUri(o.store.root, `batch/run${o.runId}/${part.name}.txt`);
      await o.store.put(manifestList, formatManifestList(part.jobs.map((j) => j.manifestUri)), {
        contentType: 'text/plain',
      });
      const array = part.jobs.length > 1;
      const out = await this.client.send(
        new SubmitJobCommand({
          jobName: part.name,
          jobQueue: o.jobQueue,
          jobDefinition: o.jobDefinition,
          ...(array ? { arrayProperties: { size: part.jobs.length } } : {}),
          ...(part.dependent ? { dependsOn: stage1Ids.map((jobId) => ({ jobId })) } : {}),
          containerOverrides: {
            environment: [{ name: MANIFEST_LIST_ENV, value: manifestList }, ...environment],
          },
        }),
      );
      if (!out.jobId) throw new UsageError(`AWS Batch returned no job id for ${part.name}`);
      if (part.jobs[0].stage === 1) stage1Ids.push(out.jobId);
      this.submissions.push({ name: part.name, batchJobId: out.jobId, jobs: part.jobs, array, manifestList });
    }
    if (!o.wait) {
      summary.submitted = jobs.length;
      return summary;
    }
    await this.follow(events, summary);
    summary.stopped = this.stopping;
    return summary;
  }

  /** Poll until every job has ended (or the run is interrupted). */
  private async follow(events: ExecutorEvents, summary: ExecutorSummary): Promise<void> {
    const started = new Set<number>();
    const ended = new Set<number>();
    const total = this.submissions.reduce((n, s) => n + s.jobs.length, 0);
    const startJob = (job: PlannedJob, xid: string, at?: number) => {
      if (started.has(job.jobId)) return;
      started.add(job.jobId);
      events.onStart?.({ jobId: job.jobId, executorJobId: xid, started: at ? new Date(at) : new Date() });
    };
    const endJob = (job: PlannedJob, xid: string, s: JobSummary) => {
      if (ended.has(job.jobId)) return;
      ended.add(job.jobId);
      // Cancelled before it started: it stays queued for the next launch.
      if (this.stopping && s.startedAt === undefined && s.container?.exitCode === undefined) {
        summary.notStarted++;
        return;
      }
      if (s.startedAt !== undefined) startJob(job, xid, s.startedAt);
      const { exitCode, message } = exitCodeOf(s);
      const status = statusOf(exitCode, this.stopping && exitCode === ExitCode.TEMPORARY);
      summary.ended++;
      summary[status]++;
      events.onEnd?.({
        jobId: job.jobId,
        status,
        exitCode,
        started: s.startedAt ? new Date(s.startedAt) : undefined,
        ended: s.stoppedAt ? new Date(s.stoppedAt) : new Date(),
        executorJobId: xid,
        message,
      });
    };
    const pollMs = (this.options.pollSeconds ?? 30) * 1000;
    while (ended.size < total && !this.interrupting) {
      const open = this.submissions.filter((s) => s.jobs.some((j) => !ended.has(j.jobId)));
      for (let i = 0; i < open.length; i += DESCRIBE_BATCH) {
        const batch = open.slice(i, i + DESCRIBE_BATCH);
        const d = await this.client.send(new DescribeJobsCommand({ jobs: batch.map((s) => s.batchJobId) }));
        for (const detail of d.jobs ?? []) {
          const s = batch.find((x) => x.batchJobId === detail.jobId);
          if (!s) continue;
          if (!s.array) {
            if (detail.status === 'RUNNING') startJob(s.jobs[0], s.batchJobId, detail.startedAt);
            if (detail.status === 'SUCCEEDED' || detail.status === 'FAILED')
              endJob(s.jobs[0], s.batchJobId, detail as JobSummary);
            continue;
          }
          const statuses: JobStatus[] = ['RUNNING', 'SUCCEEDED', 'FAILED'];
          for (const jobStatus of statuses)
            for (const child of await this.listChildren(s.batchJobId, jobStatus)) {
              const index = child.arrayProperties?.index;
              const job = index === undefined ? undefined : s.jobs[index];
              if (!job) continue;
              if (jobStatus === 'RUNNING') startJob(job, child.jobId!, child.startedAt);
              else endJob(job, child.jobId!, child);
            }
        }
      }
      if (ended.size >= total || this.interrupting) break;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, pollMs);
      });
    }
    if (this.interrupting)
      for (const s of this.submissions)
        for (const j of s.jobs)
          if (!ended.has(j.jobId)) {
            if (started.has(j.jobId)) summary.interrupted++;
            else summary.notStarted++;
          }
  }

  /** The children of an array job in one status, every page. */
  private async listChildren(arrayJobId: string, jobStatus: JobStatus): Promise<JobSummary[]> {
    const out: JobSummary[] = [];
    let nextToken: string | undefined;
    do {
      const r = await this.client.send(new ListJobsCommand({ arrayJobId, jobStatus, nextToken }));
      out.push(...(r.jobSummaryList ?? []));
      nextToken = r.nextToken;
    } while (nextToken);
    return out;
  }
}

export interface JobDefinitionSettings {
  /** Job definition name. */
  name?: string;
  /** Container image URI (the Dockerfile's image, pushed to ECR). */
  image: string;
  vcpus?: number;
  memoryMiB?: number;
  /** IAM role the job runs as (reads and writes the bucket). */
  jobRoleArn: string;
}

export const JOB_DEFINITION_TEMPLATE = new URL('../../deploy/aws/job-definition.json', import.meta.url);

/** The job definition template with the settings filled in, ready for RegisterJobDefinition. */
export function renderJobDefinition(s: JobDefinitionSettings): RegisterJobDefinitionCommandInput {
  const values: Record<string, string> = {
    name: s.name ?? 'rapid-job',
    image: s.image,
    vcpus: String(s.vcpus ?? 2),
    memoryMiB: String(s.memoryMiB ?? 8192),
    jobRoleArn: s.jobRoleArn,
  };
  const text = readFileSync(JOB_DEFINITION_TEMPLATE, 'utf8').replace(/\{\{(\w+)\}\}/g, (m, k: string) => {
    if (!(k in values)) throw new UsageError(`job definition template: unknown placeholder ${m}`);
    return values[k];
  });
  return JSON.parse(text) as RegisterJobDefinitionCommandInput;
}
