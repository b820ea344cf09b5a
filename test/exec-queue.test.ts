/**
 * The queue executor and `rapid worker` against a real Redis: stages and dependencies, retries
 * (exit 75 and lost workers, never 33 or 65), result records for jobs that left none, jobs that
 * ended already in this run not run again, launching twice without duplicates, and the whole
 * path through the CLI with several worker processes on an S3 store, one of them killed mid-job.
 *
 * Nothing here waits for a fixed time: each test waits for the event it needs (a job's start,
 * its end, a record written), with a deadline that fails with a clear assertion.
 */

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { Queue, QueueEvents } from 'bullmq';
import { QueueExecutor, queueEntries } from '../src/exec/queue.ts';
import { useRedis } from '../src/exec/redis.ts';
import type { JobEnded, PlannedJob } from '../src/exec/types.ts';
import { QueueWorker, type WorkerEvent } from '../src/exec/worker.ts';
import { configHash, parseResult } from '../src/pipeline/manifest.ts';
import { MANIFEST_VERSION, RESULT_VERSION, type ResultRecord } from '../src/pipeline/types.ts';
import { openStore } from '../src/store/index.ts';
import {
  dropQueue,
  fakeImage,
  REDIS_URL,
  rapid,
  rapidAsync,
  rapidProcess,
  requireRedis,
  startS3,
  testEnv,
  uniqueQueue,
} from './support/ops.ts';
import { within } from './support/wait.ts';

let dir: string;
let script: string;

/**
 * A stand-in for `rapid job run URI`: the URI's folder lists the exit code of each attempt
 * (…/job-7-75.0/manifest.json: 75, then 0); each attempt lasts FAKE_MS milliseconds (100), or,
 * with FAKE_GATE, until that file exists; it writes no result record.
 */
const FAKE_JOB = `
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
const uri = process.argv[4];
const [, id, spec] = /job-(\\d+)-([\\d.]+)\\/manifest\\.json$/.exec(uri);
const log = process.env.FAKE_LOG;
let runs = 0;
try { runs = readFileSync(log, 'utf8').split('\\n').filter((l) => l.includes('"id":"' + id + '","event":"start"')).length; } catch {}
appendFileSync(log, JSON.stringify({ id, event: 'start', t: Date.now() }) + '\\n');
const codes = spec.split('.').map(Number);
const code = codes[Math.min(runs, codes.length - 1)];
const end = () => {
  appendFileSync(log, JSON.stringify({ id, event: 'end', code, t: Date.now() }) + '\\n');
  if (code !== 0) process.stderr.write('rapid: fake job ' + id + ' ends with ' + code + '\\n');
  process.exit(code);
};
const gate = process.env.FAKE_GATE;
if (gate) {
  const wait = () => (existsSync(gate) ? end() : setTimeout(wait, 20));
  wait();
} else setTimeout(end, Number(process.env.FAKE_MS ?? 100));
`;

/** Resolves when `check()` holds, checking each time `subscribe` calls back; fails after `ms`. */
function when(subscribe: (notify: () => void) => void, check: () => boolean, ms: number, what: string) {
  return within(
    new Promise<void>((resolve) => {
      if (check()) return resolve();
      subscribe(() => {
        if (check()) resolve();
      });
    }),
    ms,
    what,
  );
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rapid-queue-'));
  script = join(dir, 'fake-job.mjs');
  await writeFile(script, FAKE_JOB);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * A planned job whose manifest (a valid noop manifest of run `runId`) is written by `manifests`;
 * its folder's name tells the fake job its exit codes. Workers refuse entries without one.
 */
function job(id: number, stage: 1 | 2, codes: string, dependsOn?: number): PlannedJob {
  const folder = join(dir, 'jobs', `job-${id}-${codes}`);
  return {
    jobId: id,
    pipeline: 'noop',
    stage,
    manifestUri: join(folder, 'manifest.json'),
    resultUri: join(folder, 'result.json'),
    dependsOn,
  };
}

async function manifests(jobs: PlannedJob[], runId: number): Promise<PlannedJob[]> {
  for (const j of jobs) {
    await mkdir(dirname(j.manifestUri), { recursive: true });
    const manifest = {
      version: MANIFEST_VERSION,
      jobId: j.jobId,
      runId,
      procDate: '20280901',
      outputPrefix: `${dirname(j.manifestUri)}/`,
      store: { root: dir },
      config: {},
      configHash: configHash({}),
      created: new Date().toISOString(),
      software: 'test',
      pipeline: 'noop',
    };
    await writeFile(j.manifestUri, JSON.stringify(manifest));
  }
  return jobs;
}

/** A result record of a job (as `rapid job run` writes it). */
async function writeRecord(j: PlannedJob, runId: number, exitCode: number): Promise<void> {
  const now = new Date().toISOString();
  const r: ResultRecord = {
    version: RESULT_VERSION,
    jobId: j.jobId,
    runId,
    pipeline: 'noop',
    status: exitCode === 0 || exitCode === 4 ? 'succeeded' : 'failed',
    exitCode,
    message: exitCode === 0 ? undefined : `recorded with ${exitCode}`,
    started: now,
    ended: now,
    elapsedSeconds: 0,
    steps: [],
    products: [],
    qa: {},
    counts: {},
    software: 'test',
    config: {},
    configHash: configHash({}),
    inputs: [],
    manifestUri: j.manifestUri,
    host: 'test',
    pid: 1,
    peakRssBytes: 0,
  };
  await writeFile(j.resultUri, JSON.stringify(r));
}

async function events(log: string): Promise<{ id: string; event: string; code?: number; t: number }[]> {
  return (await readFile(log, 'utf8'))
    .trim()
    .split('\n')
    .filter((l) => l)
    .map((l) => JSON.parse(l));
}

async function waitingCount(name: string): Promise<number> {
  const q = new Queue(name, { connection: useRedis(REDIS_URL) });
  try {
    return await q.getWaitingCount();
  } finally {
    await q.close();
  }
}

function workers(queue: string, log: string, n: number, onEvent?: (e: WorkerEvent) => void): QueueWorker[] {
  return Array.from(
    { length: n },
    () =>
      new QueueWorker({
        redis: REDIS_URL,
        queue,
        concurrency: 2,
        store: dir,
        command: [process.execPath, script],
        env: { ...process.env, FAKE_LOG: log },
        onEvent,
      }),
  );
}

test('queue entries: science jobs travel with the reference job they wait for', () => {
  const roots = queueEntries([job(10, 2, '0', 1), job(1, 1, '0'), job(11, 2, '0', 99), job(12, 2, '0')], 5);
  assert.deepEqual(
    roots.map((r) => [r.jobId, r.runId, (r.dependents ?? []).map((d) => d.jobId)]),
    [
      [1, 5, [10]],
      [11, 5, []],
      [12, 5, []],
    ],
  );
});

test('stages, retries and failures through Redis: 75 retried, 33/65 not, failed references fail their jobs', async (t) => {
  if (!(await requireRedis(t))) return;
  const queue = uniqueQueue('stages');
  const log = join(dir, 'stages.log');
  const ws = workers(queue, log, 2);
  const running = ws.map((w) => w.run());
  try {
    const ex = new QueueExecutor({ redis: REDIS_URL, queue, wait: true, runId: 3, backoffMs: 100 });
    const ended: JobEnded[] = [];
    const started: number[] = [];
    const jobs = await manifests(
      [
        job(10, 2, '0', 1),
        job(11, 2, '0', 1),
        job(12, 2, '0', 2),
        job(13, 2, '0', 3),
        job(1, 1, '0'),
        job(2, 1, '65'),
        job(3, 1, '33'),
        job(20, 2, '75.0'),
        job(21, 2, '75.75.75.0'),
        job(22, 2, '65'),
      ],
      3,
    );
    const s = await within(
      ex.run(jobs, { onStart: (e) => started.push(e.jobId), onEnd: (e) => ended.push(e) }),
      180_000,
      'the ten jobs to end',
    );
    assert.deepEqual(
      { ended: s.ended, succeeded: s.succeeded, failed: s.failed, stopped: s.stopped },
      { ended: 10, succeeded: 4, failed: 6, stopped: false },
    );
    const byId = new Map(ended.map((e) => [e.jobId, e]));
    const outcome = (id: number) => [byId.get(id)?.status, byId.get(id)?.exitCode];
    assert.deepEqual(outcome(10), ['succeeded', 0]);
    assert.deepEqual(outcome(11), ['succeeded', 0]);
    assert.deepEqual(outcome(12), ['failed', 66]);
    assert.deepEqual(outcome(13), ['failed', 33]);
    assert.deepEqual(outcome(2), ['failed', 65]);
    assert.deepEqual(outcome(20), ['succeeded', 0]);
    assert.deepEqual(outcome(21), ['failed', 75]);
    assert.deepEqual(outcome(22), ['failed', 65]);
    assert.match(byId.get(12)!.message!, /reference job 2 ended with exit 65/);
    assert.match(byId.get(21)!.message!, /no result record after 3 attempts/);
    assert.match(byId.get(22)!.message!, /fake job 22 ends with 65/);

    const ev = await events(log);
    const runs = (id: number) => ev.filter((e) => e.id === String(id) && e.event === 'start').length;
    assert.deepEqual(
      [runs(1), runs(2), runs(3), runs(10), runs(12), runs(13), runs(20), runs(21), runs(22)],
      [1, 1, 1, 1, 0, 0, 2, 3, 1],
      'runs per job: 75 is retried up to 3 attempts, 33 and 65 never, jobs of failed references not at all',
    );
    const t = (id: number, e: string) => ev.find((x) => x.id === String(id) && x.event === e)!.t;
    assert.ok(t(10, 'start') >= t(1, 'end') && t(11, 'start') >= t(1, 'end'), 'stage 2 waits for stage 1');
    assert.ok(started.includes(1) && started.includes(21));

    // Jobs that ended for good without a result record have one now, written by the worker.
    const uriOf = (id: number) => jobs.find((j) => j.jobId === id)!.resultUri;
    const record = async (id: number) => parseResult(await readFile(uriOf(id), 'utf8'), uriOf(id));
    const r21 = await record(21);
    assert.deepEqual([r21.jobId, r21.runId, r21.status, r21.exitCode], [21, 3, 'failed', 75]);
    assert.match(r21.message!, /no result record after 3 attempts/);
    assert.deepEqual(
      [(await record(12)).exitCode, (await record(13)).exitCode, (await record(22)).exitCode],
      [66, 33, 65],
    );
    await assert.rejects(readFile(uriOf(20)), 'a job that succeeded keeps its own record (none here)');
  } finally {
    await Promise.all(ws.map((w) => w.close()));
    await Promise.all(running);
    await dropQueue(queue);
  }
});

test('a job that ended already in this run (its entry lost with Redis) is completed from its result record, not run again', async (t) => {
  if (!(await requireRedis(t))) return;
  // What a worker sees when Redis was unreachable as a job ended: the entry comes back (its lock
  // expired) or a reference job's science jobs are added a second time, with a result record
  // of this run already there. Records of another run, and 75 (retry), do not count.
  const queue = uniqueQueue('ended');
  const log = join(dir, 'ended.log');
  const ws = workers(queue, log, 1);
  const running = ws.map((w) => w.run());
  try {
    const jobs = await manifests(
      [
        job(70, 1, '0'),
        job(71, 2, '0', 70),
        job(72, 2, '0'),
        job(73, 2, '0'),
        job(74, 2, '0'),
        job(75, 2, '0'),
      ],
      7,
    );
    const [j70, j71, j72, j73, j74] = jobs;
    await writeRecord(j70, 7, 0); // the reference job ended: its science job 71 is passed on
    await writeRecord(j71, 7, 0); // ... and had ended too
    await writeRecord(j72, 7, 65); // ended for good with 65
    await writeRecord(j73, 6, 0); // a record of an earlier run: runs again
    await writeRecord(j74, 7, 75); // asked for a retry: runs again
    const ended: JobEnded[] = [];
    const ex = new QueueExecutor({ redis: REDIS_URL, queue, wait: true, runId: 7, backoffMs: 100 });
    const s = await within(ex.run(jobs, { onEnd: (e) => ended.push(e) }), 120_000, 'the six jobs to end');
    assert.deepEqual([s.ended, s.succeeded, s.failed], [6, 5, 1]);
    const byId = new Map(ended.map((e) => [e.jobId, [e.status, e.exitCode]]));
    assert.deepEqual(byId.get(72), ['failed', 65]);
    assert.match(ended.find((e) => e.jobId === 72)!.message!, /recorded with 65/);
    const ev = await events(log);
    const runs = (id: number) => ev.filter((e) => e.id === String(id) && e.event === 'start').length;
    assert.deepEqual(
      [70, 71, 72, 73, 74, 75].map(runs),
      [0, 0, 0, 1, 1, 1],
      'jobs that ended in this run are not run again',
    );
  } finally {
    await Promise.all(ws.map((w) => w.close()));
    await Promise.all(running);
    await dropQueue(queue);
  }
});

test('a launcher whose event reader starts late still sees every start and end (no hang)', async (t) => {
  if (!(await requireRedis(t))) return;
  // Under load the reader's first read of the event stream can come after the first jobs have
  // started and ended (CI saw a start go missing); a lost end would leave the launch waiting
  // for ever. Here the reader is held back on purpose while jobs end at once.
  const proto = QueueEvents.prototype as unknown as { consumeEvents: () => Promise<void> };
  const consume = proto.consumeEvents;
  t.after(() => {
    proto.consumeEvents = consume;
  });
  proto.consumeEvents = async function (this: unknown) {
    await new Promise((r) => setTimeout(r, 1500));
    return consume.call(this);
  };
  const queue = uniqueQueue('late-reader');
  const w = new QueueWorker({ redis: REDIS_URL, queue, concurrency: 2, inProcess: true });
  const running = w.run();
  try {
    await w.ready();
    // Noop jobs run inside the worker: they start and end at once.
    const jobs = await manifests(
      [1, 2, 3].map((id) => job(60 + id, 2, '0')),
      4,
    );
    const started: number[] = [];
    const ex = new QueueExecutor({ redis: REDIS_URL, queue, wait: true, runId: 4, backoffMs: 10 });
    const s = await within(
      ex.run(jobs, { onStart: (e) => started.push(e.jobId) }),
      120_000,
      'the launch to see its three jobs end',
    );
    assert.deepEqual([s.ended, s.succeeded], [3, 3]);
    assert.deepEqual(started.sort(), [61, 62, 63]);
  } finally {
    await w.close();
    await running;
    await dropQueue(queue);
  }
});

test('launching the same jobs twice adds no duplicates; without --wait the launch only submits', async (t) => {
  if (!(await requireRedis(t))) return;
  const queue = uniqueQueue('dedup');
  const log = join(dir, 'dedup.log');
  try {
    const jobs = await manifests([job(40, 2, '0'), job(41, 2, '0'), job(42, 1, '0'), job(43, 2, '0', 42)], 1);
    for (let i = 0; i < 2; i++) {
      const s = await new QueueExecutor({ redis: REDIS_URL, queue }).run(jobs, {});
      assert.equal(s.submitted, 4);
    }
    assert.equal(await waitingCount(queue), 3, 'three entries: job 43 travels with job 42');
    let ends = 0;
    let notify = () => {};
    const [w] = workers(queue, log, 1, (e) => {
      if (e.event === 'end') ends++;
      notify();
    });
    const running = w.run();
    await when(
      (n) => {
        notify = n;
      },
      () => ends >= 4,
      120_000,
      'the worker to end the four jobs',
    );
    await w.close();
    await running;
    const ev = await events(log);
    assert.deepEqual(
      ev
        .filter((e) => e.event === 'start')
        .map((e) => e.id)
        .sort(),
      ['40', '41', '42', '43'],
      'each job ran once',
    );
  } finally {
    await dropQueue(queue);
  }
});

test('stop (Ctrl-C on a launch with --wait): entries not started leave the queue, the running one finishes', async (t) => {
  if (!(await requireRedis(t))) return;
  const queue = uniqueQueue('stop');
  const log = join(dir, 'stop.log');
  const gate = join(dir, 'stop.gate');
  const w = new QueueWorker({
    redis: REDIS_URL,
    queue,
    concurrency: 1,
    store: dir,
    command: [process.execPath, script],
    // The first job runs until the stop has taken the other entries off the queue: it cannot
    // end (and the worker cannot take the next) before, however loaded the machine.
    env: { ...process.env, FAKE_LOG: log, FAKE_GATE: gate },
  });
  const running = w.run();
  try {
    const ex = new QueueExecutor({ redis: REDIS_URL, queue, wait: true });
    const ended: JobEnded[] = [];
    const jobs = await manifests([job(50, 2, '0'), job(51, 2, '0'), job(52, 2, '0'), job(53, 2, '0')], 1);
    let opened: Promise<void> | undefined;
    const s = await within(
      ex.run(jobs, {
        onStart: () => {
          ex.stop();
          opened ??= (async () => {
            const deadline = Date.now() + 120_000;
            while ((await waitingCount(queue)) > 0 && Date.now() < deadline)
              await new Promise((r) => setTimeout(r, 50));
            await writeFile(gate, '');
          })();
        },
        onEnd: (e) => ended.push(e),
      }),
      180_000,
      'the stopped launch to return',
    );
    await opened;
    assert.deepEqual([s.ended, s.succeeded, s.notStarted, s.stopped], [1, 1, 3, true]);
    assert.equal(ended.length, 1);
    assert.equal(await waitingCount(queue), 0, 'nothing left on the queue');
    assert.equal((await events(log)).filter((e) => e.event === 'start').length, 1);
  } finally {
    await w.close();
    await running;
    await dropQueue(queue);
  }
});

/** The output of a `rapid` process, once it has ended. */
function collect(
  p: ReturnType<typeof rapidProcess>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  p.stdout.setEncoding('utf8').on('data', (s: string) => {
    stdout += s;
  });
  p.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  return new Promise((resolve) => p.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** Resolves once `n` result records are in a folder store; an assertion failure after `ms`. */
async function recordsIn(root: string, n: number, ms: number): Promise<string[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = existsSync(root)
      ? (await readdir(root, { recursive: true })).filter((f) => f.endsWith('/result.json'))
      : [];
    if (found.length >= n) return found;
    if (Date.now() > deadline)
      assert.fail(
        `timed out after ${ms / 1000} s waiting for ${n} result records in ${root} (found ${found.length})`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Ingest `n` small images into a fresh PGlite data folder with an S3 store. */
async function ingested(t: Parameters<typeof testEnv>[0], n: number, store?: string) {
  const env = await testEnv(t, 'pglite');
  if (!env) return undefined;
  for (let i = 0; i < n; i++)
    await writeFile(
      join(env.dir, `img${i}.fits`),
      fakeImage({ ra: 9.6, dec: -44, date: `2028-09-${String(i + 1).padStart(2, '0')}` }),
    );
  const args = store ? [...env.args.slice(0, -2), '--store', store] : env.args;
  return { env, args };
}

test('rapid worker × 3 on an S3 store: a worker killed mid-job loses nothing; records and aggregation once each', async (t) => {
  if (!(await requireRedis(t))) return;
  const s3 = await startS3();
  const queue = uniqueQueue('cli');
  const setup = await ingested(t, 6, 's3://rapid/store');
  if (!setup) return s3.close();
  const { env } = setup;
  const args = [...setup.args, '--s3-endpoint', s3.endpoint];
  const procs: ReturnType<typeof rapidProcess>[] = [];
  try {
    const ing = await rapidAsync(['ingest', env.dir, ...args]);
    assert.equal(ing.code, 0, ing.stderr);
    await writeFile(join(env.dir, 'config.json'), JSON.stringify({ noop: { sleepMs: 2500 } }));
    const logs: string[] = [];
    let notify = () => {};
    for (let i = 0; i < 3; i++) {
      const p = rapidProcess([
        'worker',
        '--redis',
        REDIS_URL,
        '--queue',
        queue,
        '--s3-endpoint',
        s3.endpoint,
        '--store',
        's3://rapid/store',
        // Long enough that a worker slowed down by the load keeps its locks (renewed every 1.5
        // to 3 s); the killed worker's job is taken again within 6 s plus two stalled checks.
        '--lock-duration',
        '6000',
        '--stalled-interval',
        '1000',
      ]);
      logs.push('');
      p.stderr.setEncoding('utf8').on('data', (s: string) => {
        logs[i] += s;
        notify();
      });
      procs.push(p);
    }
    const subscribe = (n: () => void) => {
      notify = n;
    };
    // Every worker waits for jobs before the launch, so that the first takes one of the first six.
    await when(
      subscribe,
      () => logs.every((l) => /worker on queue/.test(l)),
      120_000,
      `the three workers to start (${logs.map((l) => l.trim()).join(' | ')})`,
    );
    const launchProc = rapidProcess([
      'launch',
      '--from',
      '2028-09-01',
      '--to',
      '2028-09-30',
      '--pipeline',
      'noop',
      '--config',
      join(env.dir, 'config.json'),
      '--executor',
      'queue',
      '--redis',
      REDIS_URL,
      '--queue',
      queue,
      '--retry-delay',
      '200',
      '--wait',
      ...args,
    ]);
    procs.push(launchProc);
    const launched = collect(launchProc);
    // Kill the first worker by SIGKILL once it has started a job.
    await when(subscribe, () => /"event":"start"/.test(logs[0]), 180_000, 'the first worker to start a job');
    const killedJob = Number(/"event":"start","jobId":(\d+)/.exec(logs[0])?.[1]);
    procs[0].kill('SIGKILL');
    const out = await within(launched, 300_000, 'the launch to end');
    assert.equal(out.code, 0, out.stderr);
    const summary = JSON.parse(out.stdout);
    assert.deepEqual(summary.jobs.byStatus, { succeeded: 6 });

    // The killed worker's job ran again elsewhere and ended there.
    const ends = logs
      .slice(1)
      .join('')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
    const again = ends.find((e) => e.jobId === killedJob && e.event === 'end');
    assert.ok(again, `job ${killedJob} ended on another worker`);
    assert.equal(again.exitCode, 0);
    assert.ok(again.attempt >= 2, 'it was its second start');
    assert.ok(!/"event":"end","jobId":\d+/.test(logs[0]), 'the killed worker finished no job');

    // One result record per job, each registered once.
    const store = openStore('s3://rapid/store', { endpoint: s3.endpoint });
    const keys: string[] = [];
    for await (const o of store.list('s3://rapid/store/')) keys.push(o.uri);
    await store.close();
    const records = keys.filter((k) => k.endsWith('/result.json'));
    assert.equal(records.length, 6);
    assert.equal(new Set(records).size, 6);
    const agg = await rapidAsync(['aggregate', ...args, '--json']);
    assert.equal(agg.code, 0, agg.stderr);
    assert.equal(JSON.parse(agg.stdout).registered, 6);
    const again2 = await rapidAsync(['aggregate', ...args, '--json']);
    assert.equal(JSON.parse(again2.stdout).registered, 0, 'a second aggregation registers nothing');
  } finally {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
    await Promise.all(
      procs.map(
        (p) => new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r(0) : p.on('close', r))),
      ),
    );
    await dropQueue(queue);
    await env.cleanup();
    await s3.close();
  }
});

test('without --wait: a job that crashes every time is recorded failed (75) by the worker; aggregate and status show it', async (t) => {
  if (!(await requireRedis(t))) return;
  const queue = uniqueQueue('crash');
  const setup = await ingested(t, 2);
  if (!setup) return;
  const { env, args } = setup;
  const crash = join(dir, 'crash.mjs');
  await writeFile(crash, "process.stderr.write('rapid: out of memory\\n'); process.exit(75);\n");
  const worker = rapidProcess(
    ['worker', '--redis', REDIS_URL, '--queue', queue, '--quiet', '--store', join(env.dir, 'store')],
    {
      env: { RAPID_JOB_COMMAND: `${process.execPath} ${crash}` },
    },
  );
  try {
    assert.equal(rapid(['ingest', env.dir, ...args]).code, 0);
    const launch = rapid([
      'launch',
      '--from',
      '2028-09-01',
      '--to',
      '2028-09-30',
      '--pipeline',
      'noop',
      '--executor',
      'queue',
      '--redis',
      REDIS_URL,
      '--queue',
      queue,
      '--retry-delay',
      '100',
      ...args,
    ]);
    assert.equal(launch.code, 0, launch.stderr);
    assert.deepEqual(JSON.parse(launch.stdout).jobs.byStatus, { queued: 2 });
    // Wait for the worker to record both jobs (the event aggregation needs), then register them.
    await recordsIn(join(env.dir, 'store'), 2, 180_000);
    const agg = rapid(['aggregate', ...args, '--json']);
    assert.equal(agg.code, 0, agg.stderr);
    assert.equal(JSON.parse(agg.stdout).registered, 2);
    const st = rapid(['status', ...args, '--json']);
    const status = JSON.parse(st.stdout);
    assert.equal(status.jobs.byStatus.failed, 2);
    assert.deepEqual(status.jobs.byExitCode, { '75': 2 });
  } finally {
    worker.kill('SIGTERM');
    await new Promise((r) => worker.on('close', r));
    await dropQueue(queue);
    await env.cleanup();
  }
});
