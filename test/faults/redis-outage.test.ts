/**
 * Fault: Redis goes away while jobs run, for longer than the entries' locks last, and comes back
 * with its data (a private redis-server with an append-only file, killed and started again).
 * The jobs that ended meanwhile lose their entries' locks: the entries go back to the queue
 * and are taken again. Each must be completed from its result record, not run a second time;
 * the workers and `launch --wait` say in one line that Redis is unreachable and in one that it
 * is back, without BullMQ's raw error objects; `rapid aggregate` registers every job once.
 */

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { storeAndDatabaseDisagree } from '../support/consistency.ts';
import { fakeImage, rapidAsync, rapidProcess, testEnv } from '../support/ops.ts';
import { PrivateRedis, requireRedisServer } from '../support/redis.ts';

const JOB_PROCESS = fileURLToPath(new URL('../../src/cli/job-process.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
/** How long an entry's lock lasts: the outage is made longer than this. */
const LOCK_MS = 3000;

/**
 * The job command: notes each start of a job process in STARTS_LOG (the evidence of how often a
 * job ran, independent of the worker), then runs `rapid job run` itself.
 */
const WRAPPER = `
import { appendFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
appendFileSync(process.env.STARTS_LOG, JSON.stringify({ uri: process.argv[4], t: Date.now() }) + '\\n');
const child = spawn(process.execPath, ['--import', ${JSON.stringify(TSX)}, ${JSON.stringify(JOB_PROCESS)}, ...process.argv.slice(2)], { stdio: 'inherit' });
child.on('exit', (code) => process.exit(code ?? 75));
`;

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rapid-outage-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Resolves when `check()` holds (checked every 100 ms); an assertion failure after `ms`. */
async function until(check: () => boolean | Promise<boolean>, ms: number, what: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${ms / 1000} s waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function starts(log: string): Promise<string[]> {
  if (!existsSync(log)) return [];
  return (await readFile(log, 'utf8'))
    .split('\n')
    .filter((l) => l)
    .map((l) => JSON.parse(l).uri as string);
}

const jsonLines = (s: string) =>
  s
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { event: string; jobId: number; fromRecord?: boolean });

test('Redis lost while jobs run and back with its data: every job runs once, is registered once; one line each way', async (t) => {
  if (!requireRedisServer(t)) return;
  const env = await testEnv(t, 'pglite');
  if (!env) return;
  const redis = await PrivateRedis.start({ persist: true });
  const url = redis.url();
  const store = join(env.dir, 'store');
  const startsLog = join(dir, 'starts.log');
  const wrapper = join(dir, 'job-wrapper.mjs');
  await writeFile(wrapper, WRAPPER);
  const procs: ReturnType<typeof rapidProcess>[] = [];
  try {
    const n = 6;
    for (let i = 0; i < n; i++)
      await writeFile(
        join(env.dir, `img${i}.fits`),
        fakeImage({ ra: 9.6, dec: -44, date: `2028-09-${String(i + 1).padStart(2, '0')}` }),
      );
    const ing = await rapidAsync(['ingest', env.dir, ...env.args]);
    assert.equal(ing.code, 0, ing.stderr);
    await writeFile(join(env.dir, 'config.json'), JSON.stringify({ noop: { sleepMs: 1500 } }));

    // Two workers, two jobs at once each: four jobs run when Redis goes, two wait.
    const logs = ['', ''];
    for (let i = 0; i < 2; i++) {
      const p = rapidProcess(
        [
          'worker',
          '--redis',
          url,
          '--queue',
          'outage',
          '--concurrency',
          '2',
          '--store',
          store,
          '--lock-duration',
          String(LOCK_MS),
          '--stalled-interval',
          '1000',
        ],
        { env: { RAPID_JOB_COMMAND: `${process.execPath} ${wrapper}`, STARTS_LOG: startsLog } },
      );
      p.stderr.setEncoding('utf8').on('data', (s: string) => {
        logs[i] += s;
      });
      procs.push(p);
    }
    await until(
      () => {
        const gone = procs.findIndex((p) => p.exitCode !== null || p.signalCode !== null);
        if (gone >= 0) assert.fail(`worker ${gone} exited at start: ${logs[gone]}`);
        return logs.every((l) => /worker on queue/.test(l));
      },
      120_000,
      () => `the workers to start: ${logs.join(' | ')}`,
    );
    let launchErr = '';
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
      url,
      '--queue',
      'outage',
      '--retry-delay',
      '200',
      '--wait',
      ...env.args,
    ]);
    procs.push(launchProc);
    let launchOut = '';
    launchProc.stdout.setEncoding('utf8').on('data', (s: string) => {
      launchOut += s;
    });
    launchProc.stderr.setEncoding('utf8').on('data', (s: string) => {
      launchErr += s;
    });
    const launched = new Promise<number | null>((r) => launchProc.on('close', r));

    // Redis goes once jobs run; it stays away until they have ended and their locks expired.
    await until(
      () => logs.some((l) => /"event":"start"/.test(l)),
      180_000,
      () => 'a job to start',
    );
    await redis.stop('SIGKILL');
    const down = Date.now();
    const ranDuringOutage = () => starts(startsLog);
    const recorded = async () =>
      (await ranDuringOutage()).every((uri) => existsSync(join(dirname(uri), 'result.json')));
    await until(
      async () => Date.now() - down > LOCK_MS + 1000 && (await recorded()),
      120_000,
      () => 'the running jobs to end while Redis is away',
    );
    const endedMeanwhile = new Set(await ranDuringOutage());
    assert.ok(endedMeanwhile.size >= 1, 'jobs ended while Redis was away');
    await redis.restart();

    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      launched,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(new assert.AssertionError({ message: `the launch did not end in 300 s: ${launchErr}` })),
          300_000,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    assert.equal(code, 0, launchErr);
    assert.deepEqual(JSON.parse(launchOut).jobs.byStatus, { succeeded: n });

    // Every job process started once: the wrapper's notes, and the workers' start events.
    const all = await starts(startsLog);
    assert.equal(all.length, n, `job process starts:\n${all.join('\n')}`);
    assert.equal(new Set(all).size, n, 'no job ran twice');
    const events = logs.flatMap(jsonLines);
    const startsById = new Map<number, number>();
    for (const e of events)
      if (e.event === 'start') startsById.set(e.jobId, (startsById.get(e.jobId) ?? 0) + 1);
    assert.deepEqual([...startsById.values()], Array(n).fill(1), 'one start per job in the workers’ logs');

    // rapid aggregate registers each job once.
    const agg = await rapidAsync(['aggregate', ...env.args, '--json']);
    assert.equal(agg.code, 0, agg.stderr);
    assert.equal(JSON.parse(agg.stdout).registered, n);
    const again = await rapidAsync(['aggregate', ...env.args, '--json']);
    assert.equal(JSON.parse(again.stdout).registered, 0, 'a second aggregation registers nothing');
    const db = await env.open();
    try {
      assert.deepEqual(await storeAndDatabaseDisagree(db), []);
    } finally {
      await db.close();
    }

    // A handful of one-line messages, no raw error objects.
    for (const [who, text] of [
      ['rapid worker', logs[0]],
      ['rapid worker', logs[1]],
      ['rapid launch', launchErr],
    ] as const) {
      assert.doesNotMatch(text, /^\s+at |^Error|errno:|^\s*\}$/m, `${who} printed raw errors:\n${text}`);
      const redisLines = text.split('\n').filter((l) => l.startsWith(`${who}: `));
      t.diagnostic(`${who} said:\n${redisLines.join('\n')}`);
      assert.ok(redisLines.length <= 6, `${who}: at most a handful of lines:\n${redisLines.join('\n')}`);
      // The first failure names the outage: ECONNREFUSED, or ECONNRESET / EPIPE as Redis died.
      assert.equal(
        redisLines.filter((l) =>
          new RegExp(
            `^${who}: Redis at 127\\.0\\.0\\.1:${redis.port} unreachable \\(E[A-Z]+\\); retrying$`,
          ).test(l),
        ).length,
        1,
        `${who}: one line for the outage:\n${text}`,
      );
      assert.equal(
        redisLines.filter((l) => /Redis at \S+ reachable again after/.test(l)).length,
        1,
        `${who}: one line when Redis is back:\n${text}`,
      );
    }
  } finally {
    // Whatever still runs (a failed assertion, Redis perhaps away) is ended at once; their job
    // processes end with them (--exit-with-parent).
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await Promise.all(
      procs.map(
        (p) => new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r(0) : p.on('close', r))),
      ),
    );
    await redis.close();
    await env.cleanup();
  }
});

test('a worker asked to stop while Redis is away stops (it used to wait for Redis for ever)', async (t) => {
  if (!requireRedisServer(t)) return;
  const redis = await PrivateRedis.start({ persist: false });
  const worker = rapidProcess(['worker', '--redis', redis.url(), '--queue', 'stop-away']);
  let stderr = '';
  worker.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  const exited = new Promise<number | null>((r) => worker.on('close', r));
  try {
    await until(
      () => /worker on queue/.test(stderr),
      120_000,
      () => `the worker to start: ${stderr}`,
    );
    await redis.stop('SIGKILL');
    await until(
      () => /unreachable/.test(stderr),
      60_000,
      () => `the worker to see Redis go: ${stderr}`,
    );
    worker.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      exited,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new assert.AssertionError({ message: `the worker did not stop in 30 s:\n${stderr}` })),
          30_000,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    assert.equal(code, 0, stderr);
    assert.match(stderr, /^rapid worker: stopping without Redis \(unreachable\)/m);
    assert.doesNotMatch(stderr, /^\s+at |^Error/m);
  } finally {
    if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
    await exited;
    await redis.close();
  }
});
