/**
 * The AWS Batch executor against a mocked BatchClient (AWS cannot be reached from the tests):
 * the exact SubmitJob, DescribeJobs, ListJobs, CancelJob and TerminateJob inputs; manifest lists
 * that `rapid job run` reads by array index; the job definition template.
 */

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  BatchClient,
  CancelJobCommand,
  DescribeJobsCommand,
  type JobDetail,
  ListJobsCommand,
  SubmitJobCommand,
  TerminateJobCommand,
} from '@aws-sdk/client-batch';
import { mockClient } from 'aws-sdk-client-mock';
import { BatchExecutor, MAX_ARRAY_SIZE, planSubmissions, renderJobDefinition } from '../src/exec/batch.ts';
import type { JobEnded, PlannedJob } from '../src/exec/types.ts';
import { openContext } from '../src/ops/context.ts';
import { launchAndRun } from '../src/ops/run.ts';
import { parseResult } from '../src/pipeline/manifest.ts';
import { FolderStore } from '../src/store/index.ts';
import { fakeImage, rapid, testEnv } from './support/ops.ts';
import { within } from './support/wait.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rapid-batch-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function job(id: number, stage: 1 | 2, dependsOn?: number): PlannedJob {
  return {
    jobId: id,
    pipeline: stage === 1 ? 'reference' : 'science',
    stage,
    manifestUri: `s3://b/p/jid${id}/manifest.json`,
    resultUri: `s3://b/p/jid${id}/result.json`,
    dependsOn,
  };
}

const SETTINGS = { jobQueue: 'rapid-queue', jobDefinition: 'rapid-job:3' };

test('submissions: at most 10,000 children per array job; stage 2 split by dependency', () => {
  const jobs = [
    job(1, 1),
    ...Array.from({ length: MAX_ARRAY_SIZE + 1 }, (_, i) => job(100 + i, 2, 1)),
    job(2, 2),
  ];
  const parts = planSubmissions(jobs, 9);
  assert.deepEqual(
    parts.map((p) => [p.name, p.jobs.length, p.dependent]),
    [
      ['rapid-run9-stage1-0', 1, false],
      ['rapid-run9-stage2-0', 1, false],
      ['rapid-run9-stage2-after-stage1-0', MAX_ARRAY_SIZE, true],
      ['rapid-run9-stage2-after-stage1-1', 1, true],
    ],
  );
  assert.deepEqual(parts[3].jobs[0].jobId, 100 + MAX_ARRAY_SIZE);
});

test('SubmitJob: array jobs per stage, a plain job for one, dependsOn stage 1, the manifest list in the environment', async () => {
  const mock = mockClient(BatchClient);
  try {
    let n = 0;
    mock
      .on(SubmitJobCommand)
      .callsFake((input: { jobName: string }) => ({ jobId: `id-${++n}`, jobName: input.jobName }));
    const store = new FolderStore(join(dir, 'store1'));
    const ex = new BatchExecutor({ ...SETTINGS, store, runId: 7, s3Endpoint: 'http://minio:9000' });
    const jobs = [job(10, 2, 1), job(11, 2, 2), job(12, 2), job(1, 1), job(2, 1), job(13, 2, 1)];
    const s = await ex.run(jobs, {});
    assert.equal(s.submitted, 6);
    const list = (name: string) => join(dir, 'store1', 'batch', 'run7', `${name}.txt`);
    const env = (name: string) => [
      { name: 'RAPID_MANIFEST_LIST', value: list(name) },
      { name: 'RAPID_RUN_ID', value: '7' },
      { name: 'RAPID_S3_ENDPOINT', value: 'http://minio:9000' },
    ];
    assert.deepEqual(
      mock.commandCalls(SubmitJobCommand).map((c) => c.args[0].input),
      [
        {
          jobName: 'rapid-run7-stage1-0',
          jobQueue: 'rapid-queue',
          jobDefinition: 'rapid-job:3',
          arrayProperties: { size: 2 },
          containerOverrides: { environment: env('rapid-run7-stage1-0') },
        },
        {
          jobName: 'rapid-run7-stage2-0',
          jobQueue: 'rapid-queue',
          jobDefinition: 'rapid-job:3',
          containerOverrides: { environment: env('rapid-run7-stage2-0') },
        },
        {
          jobName: 'rapid-run7-stage2-after-stage1-0',
          jobQueue: 'rapid-queue',
          jobDefinition: 'rapid-job:3',
          arrayProperties: { size: 3 },
          dependsOn: [{ jobId: 'id-1' }],
          containerOverrides: { environment: env('rapid-run7-stage2-after-stage1-0') },
        },
      ],
    );
    // Line i of a list is child i's manifest.
    assert.equal(
      await readFile(list('rapid-run7-stage1-0'), 'utf8'),
      's3://b/p/jid1/manifest.json\ns3://b/p/jid2/manifest.json\n',
    );
    assert.equal(
      await readFile(list('rapid-run7-stage2-after-stage1-0'), 'utf8'),
      's3://b/p/jid10/manifest.json\ns3://b/p/jid11/manifest.json\ns3://b/p/jid13/manifest.json\n',
    );
    // Cancellation: every submission, with the run in the reason.
    await ex.cancel('CancelJob');
    assert.deepEqual(
      mock.commandCalls(CancelJobCommand).map((c) => c.args[0].input),
      ['id-1', 'id-2', 'id-3'].map((jobId) => ({ jobId, reason: 'rapid: run 7 stopped' })),
    );
  } finally {
    mock.restore();
  }
});

test('status: DescribeJobs 100 ids at a time, ListJobs for the children of array jobs, exit codes and reasons', async () => {
  const mock = mockClient(BatchClient);
  try {
    let n = 0;
    mock.on(SubmitJobCommand).callsFake(() => ({ jobId: `arr-${++n}`, jobName: 'x' }));
    // 205 jobs in arrays of 2: 102 array jobs and one plain job (the last).
    const jobs = Array.from({ length: 205 }, (_, i) => job(1000 + i, 2));
    mock.on(DescribeJobsCommand).callsFake((input: { jobs: string[] }) => ({
      jobs: input.jobs.map(
        (id): Partial<JobDetail> =>
          id === 'arr-103'
            ? {
                jobId: id,
                status: 'FAILED',
                statusReason: 'Host EC2 (instance i-0abc) terminated.',
                startedAt: 5,
              }
            : { jobId: id, status: 'RUNNING', arrayProperties: { size: 2 } },
      ),
    }));
    mock
      .on(ListJobsCommand)
      .callsFake((input: { arrayJobId: string; jobStatus: string; nextToken?: string }) => {
        const child = (index: number, exitCode: number) => ({
          jobId: `${input.arrayJobId}:${index}`,
          jobName: 'x',
          arrayProperties: { index },
          status: input.jobStatus,
          startedAt: 1000,
          stoppedAt: 2000,
          container: { exitCode, ...(exitCode ? { reason: 'Essential container in task exited' } : {}) },
        });
        if (input.jobStatus === 'SUCCEEDED')
          // Two pages for the first array, to follow nextToken.
          return input.arrayJobId === 'arr-1' && !input.nextToken
            ? { jobSummaryList: [child(0, 0)], nextToken: 't1' }
            : input.arrayJobId === 'arr-1'
              ? { jobSummaryList: [child(1, 0)] }
              : input.arrayJobId === 'arr-2'
                ? { jobSummaryList: [child(0, 0)] }
                : { jobSummaryList: [child(0, 0), child(1, 0)] };
        if (input.jobStatus === 'FAILED' && input.arrayJobId === 'arr-2')
          return { jobSummaryList: [child(1, 65)] };
        return { jobSummaryList: [] };
      });
    const ex = new BatchExecutor({
      ...SETTINGS,
      store: new FolderStore(join(dir, 'store2')),
      runId: 8,
      wait: true,
      maxArraySize: 2,
      pollSeconds: 0.01,
    });
    const ended: JobEnded[] = [];
    const s = await within(ex.run(jobs, { onEnd: (e) => ended.push(e) }), 120_000, 'the 205 jobs to end');
    assert.deepEqual([s.ended, s.succeeded, s.failed], [205, 203, 2]);
    const describes = mock.commandCalls(DescribeJobsCommand).map((c) => c.args[0].input.jobs);
    assert.deepEqual(describes, [
      Array.from({ length: 100 }, (_, i) => `arr-${i + 1}`),
      ['arr-101', 'arr-102', 'arr-103'],
    ]);
    const lists = mock.commandCalls(ListJobsCommand).map((c) => c.args[0].input);
    assert.deepEqual(lists.slice(0, 4), [
      { arrayJobId: 'arr-1', jobStatus: 'RUNNING', nextToken: undefined },
      { arrayJobId: 'arr-1', jobStatus: 'SUCCEEDED', nextToken: undefined },
      { arrayJobId: 'arr-1', jobStatus: 'SUCCEEDED', nextToken: 't1' },
      { arrayJobId: 'arr-1', jobStatus: 'FAILED', nextToken: undefined },
    ]);
    assert.equal(lists.length, 102 * 3 + 1, 'three statuses per array job, one more page');
    const byId = new Map(ended.map((e) => [e.jobId, e]));
    assert.deepEqual([byId.get(1003)!.exitCode, byId.get(1003)!.executorJobId], [65, 'arr-2:1']);
    assert.match(byId.get(1003)!.message!, /Essential container/);
    assert.deepEqual([byId.get(1204)!.status, byId.get(1204)!.exitCode], ['failed', 75]);
    assert.match(byId.get(1204)!.message!, /Host EC2/);
    assert.deepEqual([byId.get(1000)!.status, byId.get(1000)!.started?.getTime()], ['succeeded', 1000]);
  } finally {
    mock.restore();
  }
});

test('interrupt: TerminateJob for every submission; running jobs count as interrupted', async () => {
  const mock = mockClient(BatchClient);
  try {
    mock.on(SubmitJobCommand).resolves({ jobId: 'one', jobName: 'x' });
    // The interrupt comes once the executor has seen the job running (its first DescribeJobs).
    let described: () => void = () => {};
    const firstDescribe = new Promise<void>((resolve) => {
      described = resolve;
    });
    mock.on(DescribeJobsCommand).callsFake(() => {
      described();
      return { jobs: [{ jobId: 'one', status: 'RUNNING', startedAt: 10 } as JobDetail] };
    });
    const ex = new BatchExecutor({
      ...SETTINGS,
      store: new FolderStore(join(dir, 'store3')),
      runId: 9,
      wait: true,
      pollSeconds: 30,
    });
    const started: number[] = [];
    const p = ex.run([job(5, 2)], { onStart: (e) => started.push(e.jobId) });
    await within(firstDescribe, 60_000, 'the executor to describe its job');
    ex.interrupt();
    const s = await within(p, 60_000, 'the interrupted executor to return');
    assert.deepEqual([s.interrupted, s.notStarted, s.stopped], [1, 0, true]);
    assert.deepEqual(started, [5]);
    assert.deepEqual(mock.commandCalls(TerminateJobCommand)[0].args[0].input, {
      jobId: 'one',
      reason: 'rapid: run 9 interrupted',
    });
  } finally {
    mock.restore();
  }
});

test('rapid launch --executor batch, then rapid job run picks its manifest by AWS_BATCH_JOB_ARRAY_INDEX', async (t) => {
  const env = await testEnv(t, 'pglite');
  if (!env) return;
  const mock = mockClient(BatchClient);
  try {
    for (let i = 0; i < 3; i++)
      await writeFile(
        join(env.dir, `img${i}.fits`),
        fakeImage({ ra: 9.6, dec: -44, date: `2028-09-0${i + 1}` }),
      );
    assert.equal(rapid(['ingest', env.dir, ...env.args]).code, 0);
    mock.on(SubmitJobCommand).resolves({ jobId: 'abc', jobName: 'x' });
    const ctx = await openContext({}, { quiet: true, config: env.config });
    let listUri: string;
    let jobs: PlannedJob[];
    try {
      const out = await launchAndRun(ctx, {
        from: new Date('2028-09-01T00:00:00Z'),
        to: new Date('2028-09-30T00:00:00Z'),
        pipeline: 'noop',
        executor: 'batch',
        batch: SETTINGS,
      });
      assert.equal(out.exitCode, 0, 'submitted without --wait: nothing left to do here');
      assert.deepEqual(out.jobs.byStatus, { queued: 3 });
      jobs = out.launch.toRun;
      const input = mock.commandCalls(SubmitJobCommand)[0].args[0].input;
      assert.deepEqual(input.arrayProperties, { size: 3 });
      listUri = input.containerOverrides!.environment!.find((e) => e.name === 'RAPID_MANIFEST_LIST')!.value!;
    } finally {
      await ctx.close();
    }
    // The container: `rapid job run` with only the environment AWS Batch gives it.
    const r = rapid(['job', 'run', '--quiet'], {
      env: { RAPID_MANIFEST_LIST: listUri, AWS_BATCH_JOB_ARRAY_INDEX: '1' },
    });
    assert.equal(r.code, 0, r.stderr);
    const result = parseResult(await readFile(jobs[1].resultUri, 'utf8'), jobs[1].resultUri);
    assert.equal(result.jobId, jobs[1].jobId);
    await assert.rejects(readFile(jobs[0].resultUri), 'child 1 ran job 1 of the list only');
    const beyond = rapid(['job', 'run', '--manifest-list', listUri, '--index', '3']);
    assert.equal(beyond.code, 65);
    assert.match(beyond.stderr, /no line 3 in a list of 3 manifests/);
    // rapid aggregate picks the record up: the job is registered as succeeded.
    const agg = rapid(['aggregate', ...env.args, '--json']);
    assert.equal(JSON.parse(agg.stdout).registered, 1);
  } finally {
    mock.restore();
    await env.cleanup();
  }
});

test('job definition: the template filled in, with the retry strategy for exit codes 75, 33 and 65', () => {
  const d = renderJobDefinition({
    image: '123.dkr.ecr.us-east-1.amazonaws.com/rapid:1',
    jobRoleArn: 'arn:aws:iam::123:role/rapid-job',
    vcpus: 4,
    memoryMiB: 16384,
  });
  assert.equal(d.jobDefinitionName, 'rapid-job');
  assert.equal(d.containerProperties?.image, '123.dkr.ecr.us-east-1.amazonaws.com/rapid:1');
  assert.deepEqual(d.containerProperties?.resourceRequirements, [
    { type: 'VCPU', value: '4' },
    { type: 'MEMORY', value: '16384' },
  ]);
  assert.equal(d.containerProperties?.jobRoleArn, 'arn:aws:iam::123:role/rapid-job');
  assert.deepEqual(d.retryStrategy, {
    attempts: 3,
    evaluateOnExit: [
      { onExitCode: '75', action: 'RETRY' },
      { onStatusReason: 'Host EC2*', action: 'RETRY' },
      { onExitCode: '33', action: 'EXIT' },
      { onExitCode: '65', action: 'EXIT' },
      { onReason: '*', action: 'EXIT' },
    ],
  });
  const cli = rapid(['batch', 'job-definition', '--image', 'img:1', '--job-role', 'arn:r', '--vcpus', '1']);
  assert.equal(cli.code, 0, cli.stderr);
  assert.deepEqual(JSON.parse(cli.stdout).containerProperties.resourceRequirements[0], {
    type: 'VCPU',
    value: '1',
  });
});
