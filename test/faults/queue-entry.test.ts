/**
 * Fault: queue entries added to Redis by someone else (Redis has no password by default, and
 * anyone who reaches it can add entries). A worker checks every entry before using it: its
 * shape, its result record next to its manifest, both inside the store root (`--store`), its
 * manifest readable, valid and of the same job. A refused entry fails for good with a one-line
 * reason, and nothing is created or written for it.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Queue, QueueEvents } from 'bullmq';
import type { QueueJobData } from '../../src/exec/queue.ts';
import { useRedis } from '../../src/exec/redis.ts';
import { type AdmittedEntry, admitEntry, QueueWorker, type RefusedEntry } from '../../src/exec/worker.ts';
import { configHash } from '../../src/pipeline/manifest.ts';
import { MANIFEST_VERSION } from '../../src/pipeline/types.ts';
import { StoreRouter } from '../../src/store/router.ts';
import { dropQueue, REDIS_URL, rapidProcess, requireRedis, uniqueQueue } from '../support/ops.ts';

let dir: string;
let store: string;
const stores = new StoreRouter();

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rapid-entry-'));
  store = join(dir, 'store');
  await mkdir(store);
});
after(async () => {
  await stores.close();
  await rm(dir, { recursive: true, force: true });
});

/** A folder outside every store, which must never be created. */
function outside(what: string): string {
  return join(tmpdir(), `somewhere-outside-${what}-${process.pid}-${Date.now().toString(36)}`);
}

/** A valid noop manifest of job `id`, run `runId`, in `folder`; the entry that names it. */
async function jobIn(folder: string, id: number, runId = 5, over: Record<string, unknown> = {}) {
  await mkdir(folder, { recursive: true });
  const manifestUri = join(folder, 'manifest.json');
  await writeFile(
    manifestUri,
    JSON.stringify({
      version: MANIFEST_VERSION,
      jobId: id,
      runId,
      procDate: '20280901',
      outputPrefix: `${folder}/`,
      store: { root: store },
      config: {},
      configHash: configHash({}),
      created: new Date().toISOString(),
      software: 'test',
      pipeline: 'noop',
      ...over,
    }),
  );
  const entry: QueueJobData = {
    jobId: id,
    runId,
    pipeline: 'noop',
    manifestUri,
    resultUri: join(folder, 'result.json'),
  };
  return entry;
}

function refused(r: AdmittedEntry | RefusedEntry): RefusedEntry {
  assert.ok('reason' in r, `refused, not admitted: ${JSON.stringify(r)}`);
  return r;
}

test('admitEntry: a well-formed entry inside the store, with its manifest, is admitted', async () => {
  const e = await jobIn(join(store, '20280901', 'jid1'), 1);
  const r = await admitEntry('job-1', e, stores, store);
  assert.ok('entry' in r, JSON.stringify(r));
  assert.equal(r.manifest.jobId, 1);
  // Without --store the same entry is admitted too.
  assert.ok('entry' in (await admitEntry('job-1', e, stores)));
  // An entry an earlier launch left on the queue runs the manifest of the latest launch.
  const older = await admitEntry('job-1', { ...e, runId: 4 }, stores, store);
  assert.ok('entry' in older && older.manifest.runId === 5, JSON.stringify(older));
});

test('admitEntry: malformed entries are refused (65) with the first problem', async () => {
  const e = await jobIn(join(store, '20280901', 'jid2'), 2);
  const cases: [unknown, RegExp][] = [
    [null, /malformed entry: \(top level\)/],
    [{ ...e, jobId: '2' }, /malformed entry: jobId/],
    [{ ...e, jobId: -2 }, /malformed entry: jobId/],
    [{ ...e, pipeline: 'rm -rf' }, /malformed entry: pipeline/],
    [{ ...e, manifestUri: 'relative/manifest.json' }, /manifestUri: expected an absolute folder path/],
    [{ ...e, resultUri: `${store}/../x/result.json` }, /resultUri: a path with \. or \.\. segments/],
    [{ ...e, resultUri: 's3:///result.json' }, /resultUri: expected an absolute folder path or s3/],
    [{ ...e, manifestUri: `${store}/a\nb/manifest.json` }, /manifestUri: control characters/],
    [{ ...e, dependents: [{ ...e, jobId: 'x' }] }, /malformed entry: dependents\.0\.jobId/],
    [{ ...e, referenceFailed: { jobId: 1, exitCode: 'x' } }, /malformed entry: referenceFailed\.exitCode/],
  ];
  for (const [data, reason] of cases) {
    const r = refused(await admitEntry('job-2', data, stores, store));
    assert.equal(r.exitCode, 65);
    assert.match(r.reason, reason);
  }
});

test('admitEntry: outside the store, not next to its manifest, or not agreeing with it: refused, nothing created', async () => {
  const out = outside('admit');
  const inStore = await jobIn(join(store, '20280901', 'jid3'), 3);
  const check = async (queueId: string, data: unknown, reason: RegExp, withStore = true, code = 65) => {
    const r = refused(await admitEntry(queueId, data, stores, withStore ? store : undefined));
    assert.match(r.reason, reason);
    assert.equal(r.exitCode, code, r.reason);
  };
  const there = { ...inStore, manifestUri: join(out, 'manifest.json'), resultUri: join(out, 'result.json') };
  await check('job-3', there, /its manifest .* is outside the store/);
  // Without --store: no manifest there, so nothing is believed (and nothing written).
  await check('job-3', there, /cannot use its manifest: .*no such object/, false, 66);
  await check(
    'job-3',
    { ...inStore, resultUri: join(out, 'result.json') },
    /is not next to its manifest/,
    false,
  );
  await check('job-3', { ...inStore, resultUri: join(out, 'result.json') }, /is not next to its manifest/);
  await check('job-4', inStore, /queue id job-4 does not match its job id 3/);
  await check('job-3', { ...inStore, pipeline: 'science' }, /its manifest is a noop job, not science/, false);
  const moved = await jobIn(join(store, '20280901', 'jid7'), 7, 5, { outputPrefix: `${out}/` });
  await check('job-7', moved, /its manifest writes under .*somewhere-outside/, false);
  const foreign = await jobIn(join(store, '20280901', 'jid8'), 8, 5, { store: { root: '/' } });
  await check('job-8', foreign, /its manifest's store \/ is outside the store/);
  const wrongJob = await jobIn(join(store, '20280901', 'jid9'), 10);
  await check('job-9', { ...wrongJob, jobId: 9 }, /is of job 10, not 9/, false);
  // A symbolic link inside the store that leads out of it.
  await mkdir(out, { recursive: true });
  await symlink(out, join(store, 'link'));
  const linked = {
    ...inStore,
    manifestUri: join(store, 'link', 'manifest.json'),
    resultUri: join(store, 'link', 'result.json'),
  };
  await check('job-3', linked, /passes through a symbolic link/);
  assert.deepEqual(await readdir(out), [], 'nothing was created outside the store');
  await rm(out, { recursive: true, force: true });
  await rm(join(store, 'link'));
});

/** The entries of `queue` that failed, as QueueEvents reports them. */
function failures(queue: string) {
  const events = new QueueEvents(queue, { connection: useRedis(REDIS_URL), lastEventId: '0-0' });
  const seen = new Map<string, string>();
  let notify = () => {};
  events.on('failed', ({ jobId, failedReason }) => {
    seen.set(jobId, failedReason);
    notify();
  });
  return {
    events,
    /** Resolves with the reason once `id` has failed; an assertion failure after `ms`. */
    async of(id: string, ms = 60_000): Promise<string> {
      const deadline = Date.now() + ms;
      while (!seen.has(id)) {
        if (Date.now() > deadline) assert.fail(`entry ${id} did not fail within ${ms / 1000} s`);
        await new Promise<void>((r) => {
          notify = r;
          setTimeout(r, 200);
        });
      }
      return seen.get(id)!;
    },
  };
}

test('a crafted entry naming a folder outside the store: refused for good, one line in the log, nothing created there', async (t) => {
  if (!(await requireRedis(t))) return;
  const name = uniqueQueue('crafted');
  const out = outside('crafted');
  const queue = new Queue(name, { connection: useRedis(REDIS_URL) });
  const f = failures(name);
  const lines: string[] = [];
  const w = new QueueWorker({
    redis: REDIS_URL,
    queue: name,
    store,
    inProcess: true,
    log: (l) => lines.push(l),
  });
  const bare = new QueueWorker({ redis: REDIS_URL, queue: name, inProcess: true, log: (l) => lines.push(l) });
  const running = [w.run(), bare.run()];
  try {
    await f.events.waitUntilReady();
    // The most dangerous kind: "its reference failed", which a worker records without running
    // the job, at the entry's result URI; with retries asked for.
    const opts = { attempts: 3, backoff: { type: 'fixed' as const, delay: 10 }, removeOnFail: false };
    const crafted = {
      jobId: 9,
      runId: 1,
      pipeline: 'noop',
      manifestUri: join(out, 'manifest.json'),
      resultUri: join(out, 'result.json'),
      referenceFailed: { jobId: 1, exitCode: 65 },
    };
    await queue.add('noop', crafted, { ...opts, jobId: 'job-9' });
    await queue.add(
      'noop',
      { ...crafted, jobId: 10, resultUri: join(out, 'x', 'result.json') },
      { ...opts, jobId: 'job-10' },
    );
    await queue.add('noop', { evil: true }, { ...opts, jobId: 'job-11' });
    const r9 = await f.of('job-9');
    const r10 = await f.of('job-10');
    const r11 = await f.of('job-11');
    // Either worker may take an entry: with --store the path is outside it; without, there is no manifest to trust.
    assert.match(
      r9,
      /^exit 6[56]: queue entry refused: (its manifest .* is outside the store|cannot use its manifest)/,
    );
    assert.match(r10, /^exit 65: queue entry refused: its result record .* is not next to its manifest/);
    assert.match(r11, /^exit 65: queue entry refused: malformed entry: jobId/);
    for (const id of ['job-9', 'job-10', 'job-11']) {
      const j = await queue.getJob(id);
      assert.equal(j?.attemptsMade, 1, `${id} was not retried`);
    }
    assert.equal(existsSync(out), false, `${out} was not created`);
    assert.equal(lines.length, 3, lines.join('\n'));
    for (const l of lines) assert.match(l, /^rapid worker: refused queue entry job-(9|10|11): [^\n]+$/);
  } finally {
    await Promise.all([w.close(), bare.close()]);
    await Promise.all(running);
    await f.events.close();
    await queue.close();
    await dropQueue(name);
    await rm(out, { recursive: true, force: true });
  }
});

test('rapid worker with RAPID_STORE: the crafted entry is refused with one line on standard error', async (t) => {
  if (!(await requireRedis(t))) return;
  const name = uniqueQueue('crafted-cli');
  const out = outside('cli');
  const queue = new Queue(name, { connection: useRedis(REDIS_URL) });
  const f = failures(name);
  const worker = rapidProcess(['worker', '--redis', REDIS_URL, '--queue', name], {
    env: { RAPID_STORE: store },
  });
  let stderr = '';
  worker.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  try {
    await f.events.waitUntilReady();
    await queue.add(
      'noop',
      {
        jobId: 12,
        pipeline: 'noop',
        manifestUri: join(out, 'manifest.json'),
        resultUri: join(out, 'result.json'),
        referenceFailed: { jobId: 1, exitCode: 65 },
      },
      { jobId: 'job-12', attempts: 3, removeOnFail: false },
    );
    const reason = await f.of('job-12', 120_000);
    assert.match(reason, /^exit 65: queue entry refused: its manifest .* is outside the store /);
    assert.equal(existsSync(out), false, `${out} was not created`);
    worker.kill('SIGTERM');
    await new Promise((r) => worker.on('close', r));
    assert.match(stderr, new RegExp(`store ${store.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    const refusals = stderr.split('\n').filter((l) => l.includes('refused'));
    assert.equal(refusals.length, 1, stderr);
    assert.match(
      refusals[0],
      /^rapid worker: refused queue entry job-12: its manifest \S+ is outside the store \S+; refusing to use it$/,
    );
    assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
  } finally {
    if (worker.exitCode === null && worker.signalCode === null) {
      worker.kill('SIGKILL');
      await new Promise((r) => worker.on('close', r));
    }
    await f.events.close();
    await queue.close();
    await dropQueue(name);
    await rm(out, { recursive: true, force: true });
  }
});
