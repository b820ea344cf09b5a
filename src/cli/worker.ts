import type { Command } from 'commander';
import { DEFAULT_QUEUE } from '../exec/types.ts';
import { UsageError } from '../util/errors.ts';
import { parseIndex } from './options.ts';

interface WorkerOptions {
  redis?: string;
  queue: string;
  concurrency: string;
  s3Endpoint?: string;
  lockDuration: string;
  stalledInterval?: string;
  quiet?: boolean;
  inProcess?: boolean;
}

export function registerWorkerCommands(program: Command): void {
  program
    .command('worker')
    .description(
      'take jobs from the Redis queue (rapid launch --executor queue) and run each as `rapid job run`; start any number, on any machines that reach Redis and the store. Ctrl-C once: finish the running jobs and stop; twice: stop them too (they are retried elsewhere). Exits 0 when stopped, 64 on bad options, 75 when Redis cannot be reached',
    )
    .option('--redis <url>', 'Redis URL, redis://HOST:6379 (env RAPID_REDIS)')
    .option('--queue <name>', 'queue name (the same as the launch’s)', DEFAULT_QUEUE)
    .option('--concurrency <n>', 'jobs at once', '1')
    .option('--s3-endpoint <url>', 'endpoint of an S3-compatible store (env RAPID_S3_ENDPOINT)')
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
      const { checkRedis } = await import('../exec/redis.ts');
      const { QueueWorker } = await import('../exec/worker.ts');
      await checkRedis(redis);
      const worker = new QueueWorker({
        redis,
        queue: opts.queue,
        concurrency,
        inProcess: Boolean(opts.inProcess),
        s3Endpoint: opts.s3Endpoint ?? process.env.RAPID_S3_ENDPOINT,
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
          `rapid: worker on queue ${opts.queue} at ${redis}, ${concurrency} job${concurrency === 1 ? '' : 's'} at once\n`,
        );
        await running;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await worker.close().catch(() => {});
      }
    });
}
