/** The local executor: a process pool with stages, dependencies, stop and interrupt; Ctrl-C on launch. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { LocalExecutor } from '../src/exec/local.ts';
import type { JobEnded, PlannedJob } from '../src/exec/types.ts';
import { noopSurvey, rapid, rapidProcess, testEnv } from './support/ops.ts';
import { jobTmpDirs, waitFor } from './support/wait.ts';

let dir: string;
let script: string;
let logFile: string;

/** A stand-in for `rapid job run URI`: the URI says how long to take and how to end. */
const FAKE_JOB = `
import { appendFileSync } from 'node:fs';
const [, , , , uri] = process.argv;
const m = /job-(\\d+)-exit(\\d+)-sleep(\\d+)/.exec(uri);
const [id, code, ms] = [m[1], Number(m[2]), Number(m[3])];
appendFileSync(process.env.FAKE_LOG, JSON.stringify({ id, event: 'start', t: Date.now() }) + '\\n');
process.on('SIGTERM', () => { appendFileSync(process.env.FAKE_LOG, JSON.stringify({ id, event: 'term', t: Date.now() }) + '\\n'); process.exit(75); });
setTimeout(() => {
  appendFileSync(process.env.FAKE_LOG, JSON.stringify({ id, event: 'end', t: Date.now() }) + '\\n');
  process.exit(code);
}, ms);
`;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rapid-exec-'));
  script = join(dir, 'fake-job.mjs');
  await writeFile(script, FAKE_JOB);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function job(id: number, stage: 1 | 2, exit = 0, sleep = 100, dependsOn?: number): PlannedJob {
  return {
    jobId: id,
    pipeline: stage === 1 ? 'reference' : 'science',
    stage,
    manifestUri: `/m/job-${id}-exit${exit}-sleep${sleep}`,
    resultUri: '',
    dependsOn,
  };
}

async function events(): Promise<{ id: string; event: string; t: number }[]> {
  return (await readFile(logFile, 'utf8'))
    .trim()
    .split('\n')
    .filter((l) => l)
    .map((l) => JSON.parse(l));
}

/** Resolves once n fake jobs have logged their start (and so installed their SIGTERM handler). */
async function started(n: number): Promise<void> {
  await waitFor(
    async () =>
      (await readFile(logFile, 'utf8').catch(() => '')).split('\n').filter((l) => l.includes('"start"'))
        .length >= n,
    `${n} fake jobs to start`,
  );
}

function executor(concurrency: number, name: string): LocalExecutor {
  logFile = join(dir, `${name}.log`);
  return new LocalExecutor({
    concurrency,
    command: [process.execPath, script],
    env: { ...process.env, FAKE_LOG: logFile },
    graceMs: 2000,
  });
}

test('stage 2 starts after its reference job succeeded; at most N at once; failed references fail their jobs (66)', async () => {
  const ex = executor(2, 'stages');
  const ended: JobEnded[] = [];
  const started: number[] = [];
  const s = await ex.run(
    [
      job(10, 2, 0, 50, 1),
      job(11, 2, 0, 50, 1),
      job(12, 2, 0, 50, 2),
      job(13, 2, 0, 50),
      job(1, 1, 0, 300),
      job(2, 1, 65, 100),
    ],
    { onStart: (e) => started.push(e.jobId), onEnd: (e) => ended.push(e) },
  );
  assert.deepEqual(
    { ended: s.ended, succeeded: s.succeeded, failed: s.failed, stopped: s.stopped },
    { ended: 6, succeeded: 4, failed: 2, stopped: false },
  );
  const ev = await events();
  const t = (id: string, e: string) => ev.find((x) => x.id === id && x.event === e)?.t;
  assert.ok(t('10', 'start')! >= t('1', 'end')!, 'job 10 waits for reference job 1');
  assert.ok(t('11', 'start')! >= t('1', 'end')!);
  assert.equal(t('12', 'start'), undefined, 'job 12 never runs: its reference failed');
  const j12 = ended.find((e) => e.jobId === 12)!;
  assert.deepEqual([j12.status, j12.exitCode], ['failed', 66]);
  assert.match(j12.message!, /reference job 2 ended with exit 65/);
  // Never more than two at once.
  let running = 0;
  let most = 0;
  for (const e of [...ev].sort((a, b) => a.t - b.t)) {
    running += e.event === 'start' ? 1 : -1;
    most = Math.max(most, running);
  }
  assert.ok(most <= 2, `at most 2 at once, saw ${most}`);
  assert.ok(started.includes(1) && started.includes(2));
  assert.equal(ended.find((e) => e.jobId === 2)!.exitCode, 65);
});

test('stop: running jobs finish, no new ones start; interrupt: running jobs end interrupted (75)', async () => {
  const ex = executor(1, 'stop');
  const ended: JobEnded[] = [];
  const p = ex.run([job(1, 2, 0, 1000), job(2, 2, 0, 1000), job(3, 2, 0, 1000)], {
    onEnd: (e) => ended.push(e),
  });
  await started(1);
  ex.stop();
  const s = await p;
  assert.deepEqual([s.ended, s.notStarted, s.stopped], [1, 2, true]);
  assert.deepEqual([ended[0].jobId, ended[0].status], [1, 'succeeded']);

  const ex2 = executor(2, 'interrupt');
  const ended2: JobEnded[] = [];
  const p2 = ex2.run([job(1, 2, 0, 5000), job(2, 2, 0, 5000), job(3, 2, 0, 5000)], {
    onEnd: (e) => ended2.push(e),
  });
  await started(2);
  ex2.interrupt();
  const s2 = await p2;
  assert.deepEqual([s2.interrupted, s2.notStarted], [2, 1]);
  assert.ok(ended2.every((e) => e.status === 'interrupted' && e.exitCode === 75));
  const ev = await events();
  assert.equal(ev.filter((e) => e.event === 'term').length, 2);
});

test('Ctrl-C on rapid launch: running jobs finish, the rest stay queued (exit 75); launching again resumes', async (t) => {
  const env = await testEnv(t, 'pglite');
  if (!env) return;
  try {
    const survey = await noopSurvey(env, 4, { sleepMs: 4000 });
    const args = [...survey, '--jobs', '1', ...env.args];
    // The job's start is seen as its temporary folder appearing in the TMPDIR given to it.
    const tmp = join(env.dir, 'tmp');
    await mkdir(tmp);
    const child = rapidProcess(args, { env: { TMPDIR: tmp } });
    let stderr = '';
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    await waitFor(async () => (await jobTmpDirs(tmp)).length > 0, 'the first job to start');
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 75, stderr);
    assert.match(stderr, /stopping: no new jobs/);
    assert.match(stderr, /launch the same range again to resume/);
    const summary = JSON.parse(stdout);
    assert.equal(summary.jobs.byStatus.succeeded, 1);
    assert.equal(summary.jobs.byStatus.queued, 3);
    // Launch again: only the three left run.
    const again = rapid([...survey.slice(0, -2), ...env.args]);
    assert.equal(again.code, 0, again.stderr);
    const s2 = JSON.parse(again.stdout);
    assert.deepEqual([s2.jobs.toRun, s2.jobs.alreadyDone, s2.jobs.byStatus.succeeded], [3, 1, 4]);
  } finally {
    await env.cleanup();
  }
});
