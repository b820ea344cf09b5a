/**
 * Redis with a password (and TLS): `rapid worker` and `rapid launch` accept
 * redis://:PASSWORD@HOST:6379, redis://USER:PASSWORD@HOST:6379 and rediss://… (TLS). Against a
 * private redis-server started with --requirepass (and an ACL user): a queue run with either
 * form; a wrong or missing password ends with one line and exit 64 (a setting to fix, not a
 * failure to retry), never showing the password. TLS: rediss:// yields TLS options, and the
 * client opens with a TLS handshake (checked against a plain socket: no TLS server needed).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { QueueExecutor } from '../../src/exec/queue.ts';
import {
  checkRedis,
  parseRedisUrl,
  RedisWatch,
  redactRedisUrl,
  redisAddress,
  useRedis,
} from '../../src/exec/redis.ts';
import type { PlannedJob } from '../../src/exec/types.ts';
import { QueueWorker } from '../../src/exec/worker.ts';
import { configHash, parseResult } from '../../src/pipeline/manifest.ts';
import { MANIFEST_VERSION } from '../../src/pipeline/types.ts';
import type { RapidError } from '../../src/util/errors.ts';
import { fakeImage, rapidAsync, testEnv } from '../support/ops.ts';
import { PrivateRedis, requireRedisServer } from '../support/redis.ts';

const PASSWORD = 's3cret:with/odd@chars';
const ENCODED = encodeURIComponent(PASSWORD);

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rapid-redis-auth-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('URLs: password, user, database, rediss:// (TLS); messages never show the password', () => {
  assert.deepEqual(parseRedisUrl(`redis://:${ENCODED}@redis.example.org:6380/2`), {
    host: 'redis.example.org',
    port: 6380,
    username: undefined,
    password: PASSWORD,
    db: 2,
    tls: false,
  });
  assert.deepEqual(parseRedisUrl('redis://rapid:pw@10.0.0.5'), {
    host: '10.0.0.5',
    port: 6379,
    username: 'rapid',
    password: 'pw',
    db: undefined,
    tls: false,
  });
  const tls = useRedis(`rediss://rapid:${ENCODED}@redis.example.org:6380`);
  assert.deepEqual(
    [tls.host, tls.port, tls.username, tls.password, tls.tls],
    ['redis.example.org', 6380, 'rapid', PASSWORD, { servername: 'redis.example.org' }],
  );
  assert.deepEqual(useRedis('rediss://10.0.0.5:6380').tls, {}, 'no SNI for an IP address');
  assert.equal(useRedis('redis://h:1').tls, undefined, 'redis:// is plain');
  assert.equal(useRedis('redis://h:1').maxRetriesPerRequest, null);
  assert.equal(redisAddress(`rediss://:${ENCODED}@h:6380`), 'h:6380');
  assert.equal(redactRedisUrl(`redis://u:${ENCODED}@h:1`), 'redis://u:***@h:1');
  for (const bad of [`http://:${ENCODED}@h:1`, `redis://:${ENCODED}@h:1/x`, 'not a url'])
    assert.throws(
      () => parseRedisUrl(bad),
      (err: RapidError) =>
        err.exitCode === 64 && !err.message.includes(ENCODED) && !err.message.includes(PASSWORD),
    );
  assert.throws(() => parseRedisUrl('http://h:1'), /redis:\/\/ or rediss:\/\/ \(TLS\)/);
});

test('rediss:// opens the connection with a TLS handshake', async () => {
  let received: (b: Buffer) => void = () => {};
  const first = new Promise<Buffer>((resolve) => {
    received = resolve;
  });
  const server = createServer((socket) => {
    socket.once('data', (b) => {
      received(b);
      socket.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const a = server.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  let c: Redis | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    c = new Redis({
      ...useRedis(`rediss://:pw@127.0.0.1:${port}`),
      lazyConnect: true,
      retryStrategy: () => null,
    });
    c.on('error', () => {});
    c.connect().catch(() => {});
    const b = await Promise.race([
      first,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new assert.AssertionError({ message: 'no bytes from the client in 30 s' })),
          30_000,
        );
      }),
    ]);
    assert.equal(b[0], 0x16, 'a TLS handshake record');
    assert.equal(b[5], 0x01, 'a ClientHello');
  } finally {
    clearTimeout(timer);
    c?.disconnect();
    server.close();
  }
});

/** Noop jobs with real manifests (run in the worker's process), writing real result records. */
async function noopJobs(ids: number[], runId: number): Promise<PlannedJob[]> {
  const jobs: PlannedJob[] = [];
  for (const id of ids) {
    const folder = join(dir, 'store', '20280901', `jid${id}`);
    await mkdir(folder, { recursive: true });
    await writeFile(
      join(folder, 'manifest.json'),
      JSON.stringify({
        version: MANIFEST_VERSION,
        jobId: id,
        runId,
        procDate: '20280901',
        outputPrefix: `${folder}/`,
        store: { root: join(dir, 'store') },
        config: {},
        configHash: configHash({}),
        created: new Date().toISOString(),
        software: 'test',
        pipeline: 'noop',
      }),
    );
    jobs.push({
      jobId: id,
      pipeline: 'noop',
      stage: 2,
      manifestUri: join(folder, 'manifest.json'),
      resultUri: join(folder, 'result.json'),
    });
  }
  return jobs;
}

test('a Redis with a password: a queue run with redis://:PASSWORD@ and redis://USER:PASSWORD@; wrong or missing passwords: one line, exit 64', async (t) => {
  if (!requireRedisServer(t)) return;
  const redis = await PrivateRedis.start({ password: PASSWORD });
  try {
    const withPassword = redis.url();
    const admin = new Redis(useRedis(withPassword));
    await admin.call('ACL', 'SETUSER', 'rapid', 'on', '>rapid-pw', '~*', '&*', '+@all');
    admin.disconnect();
    const asUser = redis.url('rapid:rapid-pw');
    await checkRedis(withPassword);
    await checkRedis(asUser);

    const lines: string[] = [];
    const w = new QueueWorker({
      redis: withPassword,
      queue: 'auth',
      store: join(dir, 'store'),
      inProcess: true,
      log: (l) => lines.push(l),
    });
    const running = w.run();
    try {
      const jobs = await noopJobs([1, 2], 3);
      const s = await new QueueExecutor({ redis: asUser, queue: 'auth', wait: true, runId: 3 }).run(jobs, {});
      assert.deepEqual([s.ended, s.succeeded], [2, 2]);
      for (const j of jobs)
        assert.equal(parseResult(await readFile(j.resultUri, 'utf8'), j.resultUri).exitCode, 0);
      assert.deepEqual(lines, [], 'nothing to say');
    } finally {
      await w.close();
      await running;
    }

    // Wrong, missing: refused credentials are a setting to fix (64), said in one line.
    for (const [url, why] of [
      [redis.url(':wrong-password'), /WRONGPASS/],
      [redis.url('rapid:wrong-password'), /WRONGPASS/],
      [redis.url(''), /NOAUTH/],
    ] as const) {
      await assert.rejects(checkRedis(url), (err: RapidError) => {
        assert.equal(err.exitCode, 64, err.message);
        assert.match(err.message, why);
        assert.match(
          err.message,
          new RegExp(`^Redis at 127\\.0\\.0\\.1:${redis.port} refused the credentials`),
        );
        assert.doesNotMatch(err.message, /wrong-password|\n/);
        return true;
      });
    }

    const worker = await rapidAsync(['worker', '--redis', redis.url(':wrong-password'), '--queue', 'auth']);
    assert.equal(worker.code, 64, worker.stderr);
    assert.equal(worker.stderr.trim().split('\n').length, 1, worker.stderr);
    assert.match(worker.stderr, /^rapid: Redis at 127\.0\.0\.1:\d+ refused the credentials \(WRONGPASS/);
    assert.doesNotMatch(worker.stderr, /wrong-password|\n\s+at /);

    const env = await testEnv(t, 'pglite');
    assert.ok(env);
    try {
      await writeFile(join(env.dir, 'img.fits'), fakeImage({ ra: 9.6, dec: -44, date: '2028-09-01' }));
      assert.equal((await rapidAsync(['ingest', env.dir, ...env.args])).code, 0);
      const launch = await rapidAsync([
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
        redis.url('rapid:wrong-password'),
        ...env.args,
      ]);
      assert.equal(launch.code, 64, launch.stderr);
      // Launch names its database and store first; then the one line.
      const said = launch.stderr
        .trim()
        .split('\n')
        .filter((l) => !/^rapid: database: /.test(l));
      assert.equal(said.length, 1, launch.stderr);
      assert.match(said[0], /^rapid: Redis at 127\.0\.0\.1:\d+ refused the credentials \(WRONGPASS/);
      assert.doesNotMatch(launch.stderr, /wrong-password|\n\s+at /);
    } finally {
      await env.cleanup();
    }
  } finally {
    await redis.close();
  }
});

test('RedisWatch: one line when Redis is lost, one when it is back; other errors once', () => {
  const lines: string[] = [];
  const w = new RedisWatch(`redis://:${ENCODED}@h:6379`, 'rapid worker', (l) => lines.push(l));
  const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:6379'), { code: 'ECONNREFUSED' });
  for (let i = 0; i < 50; i++) w.error(refused);
  w.ready();
  w.ready();
  w.error(refused); // a connection still retrying as Redis came back: not a new outage
  for (let i = 0; i < 3; i++) w.error(new Error('Missing lock for job job-3. moveToFinished'));
  w.error(new Error('could not renew lock for job job-3'));
  assert.equal(lines.length, 3, lines.join('\n'));
  assert.equal(lines[0], 'rapid worker: Redis at h:6379 unreachable (ECONNREFUSED); retrying');
  assert.match(lines[1], /^rapid worker: Redis at h:6379 reachable again after \d+\.\d s$/);
  assert.match(
    lines[2],
    /^rapid worker: queue entry job-3 lost its lock \(Missing lock for job job-3\. moveToFinished\)/,
  );
  assert.ok(lines.every((l) => !l.includes('s3cret')));
});
