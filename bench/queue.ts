/**
 * Jobs through the queue: no-op jobs (`--pipeline noop`, no pixel work), 4 `rapid worker`
 * processes with one job at a time each, Redis on this machine, a folder store; jobs as child
 * processes (the default) and in the workers (`--in-process`); compared with the local executor
 * running the same jobs 4 at a time.
 *
 * - jobs per second: jobs / wall time of the executor (launch planning excluded);
 * - overhead per job: wall time × 4 / jobs, less the pipeline's own time (the result records'
 *   elapsedSeconds): the process start, the queue, the manifest and result I/O around it;
 * - peak memory: the launcher, each worker (VmHWM), and the largest job (result records).
 *
 * Goal (issue 8): overhead < 200 ms per job. Jobs run as child processes of the workers (the
 * built job entry, dist/cli/job-process.js), as in production; the in-process figures show
 * what that isolation costs.
 *
 *   node --import tsx bench/queue.ts [--jobs 100] [--runs 3] [--redis redis://127.0.0.1:6379]
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RapidConfig } from '../src/config.ts';
import { checkRedis } from '../src/exec/redis.ts';
import { openContext } from '../src/ops/context.ts';
import { launchAndRun, type RunOptions } from '../src/ops/run.ts';
import { parseResult } from '../src/pipeline/manifest.ts';
import { dropQueue, fakeImage } from '../test/support/ops.ts';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const JOBS = Number(opt('jobs', '100'));
const RUNS = Number(opt('runs', '3'));
const REDIS = opt('redis', 'redis://127.0.0.1:6379');
const WORKERS = 4;
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const CLI = join(ROOT, 'bin/rapid.js');

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (x: number, d = 1) => Number(x.toFixed(d));

function peakRss(pid: number): Promise<number> {
  return readFile(`/proc/${pid}/status`, 'utf8').then(
    (s) => Number(/VmHWM:\s+(\d+) kB/.exec(s)?.[1] ?? 0) * 1024,
    () => 0,
  );
}

await checkRedis(REDIS);
// The workers and jobs run the built CLI, as installed; build it from the sources first.
const build = spawnSync(
  process.execPath,
  [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
  {
    cwd: ROOT,
    stdio: 'inherit',
  },
);
if (build.status !== 0) throw new Error('tsc -p tsconfig.build.json failed');
// The local executor's jobs run the same built entry as the workers'.
process.env.RAPID_JOB_COMMAND = `${process.execPath} ${join(ROOT, 'dist/cli/job-process.js')}`;

const dir = await mkdtemp(join(tmpdir(), 'rapid-bench-queue-'));
const queue = `rapid-bench-${process.pid}`;
const queueInProcess = `rapid-bench-${process.pid}-in-process`;
const config: RapidConfig = {
  home: dir,
  database: { kind: 'pglite', dataDir: join(dir, 'db') },
  store: join(dir, 'store'),
};
const workers: ReturnType<typeof spawn>[] = [];
let stopping = false;
try {
  for (let i = 0; i < JOBS; i++) {
    const d = new Date(Date.UTC(2028, 8, 1) + i * 600_000).toISOString().replace('Z', '');
    await writeFile(join(dir, `img${i}.fits`), fakeImage({ ra: 9.6, dec: -44, date: d, size: 16 }));
  }
  const ing = spawnSync(process.execPath, [CLI, 'ingest', dir, '--home', dir], { encoding: 'utf8' });
  if (ing.status !== 0) throw new Error(`ingest failed: ${ing.stderr}`);
  for (const [name, extra] of [
    [queue, []],
    [queueInProcess, ['--in-process']],
  ] as const)
    for (let i = 0; i < WORKERS; i++)
      workers.push(
        spawn(
          process.execPath,
          [CLI, 'worker', '--redis', REDIS, '--queue', name, '--concurrency', '1', '--quiet', ...extra],
          { stdio: ['ignore', 'ignore', 'pipe'] },
        ),
      );
  // A worker that ends would leave the launcher waiting: stop the benchmark with its reason.
  let workerDied: (err: Error) => void = () => {};
  const died = new Promise<never>((_, reject) => {
    workerDied = reject;
  });
  died.catch(() => {});
  for (const w of workers) {
    let err = '';
    w.stderr?.setEncoding('utf8').on('data', (x: string) => {
      err = (err + x).slice(-2000);
    });
    w.on('exit', (code) => {
      if (!stopping) workerDied(new Error(`a worker ended with ${code}: ${err.trim()}`));
    });
  }

  const ctx = await openContext({}, { quiet: true, config });
  const base: RunOptions = {
    from: new Date('2028-09-01T00:00:00Z'),
    to: new Date('2028-12-01T00:00:00Z'),
    pipeline: 'noop',
    executor: 'local',
    force: true,
  };
  const measure = async (o: Partial<RunOptions>) => {
    const t0 = performance.now();
    const out = await Promise.race([launchAndRun(ctx, { ...base, ...o }), died]);
    const wall =
      (performance.now() - t0) / 1000 - Object.values(out.launch.timings).reduce((a, b) => a + b, 0);
    if (out.exitCode !== 0) throw new Error(`run ended with ${out.exitCode}: ${JSON.stringify(out.jobs)}`);
    const records = await Promise.all(
      out.launch.toRun.map(async (j) => parseResult(await readFile(j.resultUri, 'utf8'), j.resultUri)),
    );
    const pipeline = records.reduce((a, r) => a + r.elapsedSeconds, 0) / records.length;
    return {
      jobsPerSecond: JOBS / wall,
      overheadMs: ((wall * WORKERS) / JOBS - pipeline) * 1000,
      pipelineMs: pipeline * 1000,
      jobPeakRss: Math.max(...records.map((r) => r.peakRssBytes)),
    };
  };
  const variants: [string, Partial<RunOptions>][] = [
    ['queue', { executor: 'queue', redis: REDIS, queue, wait: true }],
    ['queueInProcess', { executor: 'queue', redis: REDIS, queue: queueInProcess, wait: true }],
    ['local', { executor: 'local', concurrency: WORKERS }],
  ];
  const results = new Map<string, Awaited<ReturnType<typeof measure>>[]>();
  // One warm-up run of each, not counted (file caches, Redis scripts); then in turn.
  for (const [, o] of variants) await measure(o);
  for (let r = 0; r < RUNS; r++)
    for (const [name, o] of variants) results.set(name, [...(results.get(name) ?? []), await measure(o)]);
  await ctx.close();
  const workerRss = await Promise.all(workers.map((w) => peakRss(w.pid!)));
  const summarize = (xs: Awaited<ReturnType<typeof measure>>[]) => ({
    jobsPerSecond: round(median(xs.map((x) => x.jobsPerSecond))),
    overheadMsPerJob: Math.round(median(xs.map((x) => x.overheadMs))),
    pipelineMsPerJob: round(median(xs.map((x) => x.pipelineMs))),
    jobPeakRssMiB: Math.round(Math.max(...xs.map((x) => x.jobPeakRss)) / 2 ** 20),
    runs: xs.map((x) => round(x.jobsPerSecond)),
  });
  console.log(
    JSON.stringify(
      {
        jobs: JOBS,
        runs: RUNS,
        workers: `${WORKERS} rapid worker processes, --concurrency 1`,
        queue: { ...summarize(results.get('queue')!), jobs: 'child processes' },
        queueInProcess: {
          ...summarize(results.get('queueInProcess')!),
          jobs: 'in the workers (--in-process)',
        },
        local: { ...summarize(results.get('local')!), concurrency: WORKERS },
        peakRssMiB: {
          launcher: Math.round((process.resourceUsage().maxRSS * 1024) / 2 ** 20),
          workers: workerRss.slice(0, WORKERS).map((b) => Math.round(b / 2 ** 20)),
          workersInProcess: workerRss.slice(WORKERS).map((b) => Math.round(b / 2 ** 20)),
        },
      },
      null,
      2,
    ),
  );
} finally {
  stopping = true;
  for (const w of workers) w.kill('SIGTERM');
  await Promise.all(workers.map((w) => new Promise((r) => (w.exitCode !== null ? r(0) : w.on('close', r)))));
  await dropQueue(queue).catch(() => {});
  await dropQueue(queueInProcess).catch(() => {});
  await rm(dir, { recursive: true, force: true });
}
