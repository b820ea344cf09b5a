import { resolve } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_QUEUE } from '../exec/types.ts';
import { UsageError } from '../util/errors.ts';
import { parseIndex } from './options.ts';

/** The worker's store root as launch writes it: an absolute folder, or s3://bucket/prefix. */
export function storeRoot(text: string): string {
  if (/^s3:\/\//i.test(text)) {
    if (!/^s3:\/\/[^/]+/.test(text))
      throw new UsageError(`--store '${text}' has no bucket; write s3://bucket/prefix`);
    return text.replace(/\/+$/, '');
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text) && !/^file:\/\//i.test(text))
    throw new UsageError(`--store '${text}' is neither a folder nor s3://bucket/prefix`);
  return resolve(text.replace(/^file:\/\//i, ''));
}

interface WorkerOptions {
  redis?: string;
  queue: string;
  concurrency: string;
  s3Endpoint?: string;
  store?: string;
  lockDuration: string;
  stalledInterval?: string;
  quiet?: boolean;
  inProcess?: boolean;
}

export function registerWorkerCommands(program: Command): void {
  program
    .command('worker')
    .description(
      'take jobs from the Redis queue (rapid launch --executor queue) and run each as `rapid job run`; start any number, on any machines that reach Redis and the store. Ctrl-C once: finish the running jobs and stop; twice: stop them too (they are retried elsewhere). Exits 0 when stopped, 64 on bad options (and when Redis refuses the password), 75 when Redis cannot be reached',
    )
    .option(
      '--redis <url>',
      'Redis URL: redis://HOST:6379, redis://:PASSWORD@HOST:6379, redis://USER:PASSWORD@HOST:6379, rediss://… for TLS (env RAPID_REDIS)',
    )
    .option('--queue <name>', 'queue name (the same as the launch’s)', DEFAULT_QUEUE)
    .option('--concurrency <n>', 'jobs at once', '1')
    .option('--s3-endpoint <url>', 'endpoint of an S3-compatible store (env RAPID_S3_ENDPOINT)')
    .option(
      '--store <root>',
      'the store jobs read and write, a folder or s3://bucket/prefix (env RAPID_STORE): queue entries naming anything outside it are refused',
    )
    .option(
      '--lock-duration <ms>',
      'a job whose worker stops renewing its lock this long is retried by another worker',
      '30000',
    )
    .option('--stalled-interval <ms>', 'how often to look for such jobs (default: the lock duration)')
    .option(
      '--in-process',
      'run jobs inside the worker, not as child processes: saves a process start per job, but a crashing job takes the worker down',
    )
    .option('--quiet', 'no line per job on standard error')
    .action(async (opts: WorkerOptions) => {
      const redis = opts.redis ?? process.env.RAPID_REDIS;
      if (!redis)
        throw new UsageError('--redis URL is required (or env RAPID_REDIS), e.g. redis://127.0.0.1:6379');
      const concurrency = parseIndex(opts.concurrency, '--concurrency');
      if (concurrency < 1) throw new UsageError('--concurrency must be at least 1');
      // The queue's client libraries load only for the commands that use them (startup time).
      const storeText = opts.store ?? process.env.RAPID_STORE;
      const store =
        storeText === undefined || storeText.trim() === '' ? undefined : storeRoot(storeText.trim());
      const { checkRedis, redisAddress } = await import('../exec/redis.ts');
      const { QueueWorker } = await import('../exec/worker.ts');
      await checkRedis(redis);
      const worker = new QueueWorker({
        redis,
        queue: opts.queue,
        concurrency,
        inProcess: Boolean(opts.inProcess),
        s3Endpoint: opts.s3Endpoint ?? process.env.RAPID_S3_ENDPOINT,
        store,
        lockDurationMs: parseIndex(opts.lockDuration, '--lock-duration'),
        stalledIntervalMs:
          opts.stalledInterval === undefined
            ? undefined
            : parseIndex(opts.stalledInterval, '--stalled-interval'),
        onEvent: opts.quiet
          ? undefined
          : (e) => process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), ...e })}\n`),
      });
      let signals = 0;
      const onSignal = () => {
        signals++;
        if (signals === 1) {
          process.stderr.write(
            'rapid: worker stopping: finishing the running jobs (Ctrl-C again to stop them)\n',
          );
          void worker.close();
        } else worker.interrupt();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        const running = worker.run();
        await worker.ready();
        process.stderr.write(
          `rapid: worker on queue ${opts.queue} at Redis ${redisAddress(redis)}, ${concurrency} job${concurrency === 1 ? '' : 's'} at once, ${store ? `store ${store}` : 'any store (no --store: entries are checked against their manifests only)'}\n`,
        );
        await running;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await worker.close().catch(() => {});
        // Stopped without Redis: BullMQ's timers wait for it; the command ends all the same.
        if (worker.stoppedWithoutRedis) setTimeout(() => process.exit(), 1000).unref();
      }
    });
}
