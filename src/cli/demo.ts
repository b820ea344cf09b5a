import type { Command } from 'commander';
import { DEFAULT_DEMO, runDemo } from '../ops/demo.ts';
import { UsageError } from '../util/errors.ts';
import { handleInterrupts } from './interrupt.ts';
import { parseIndex } from './options.ts';
import { ProgressReporter, progressTo } from './progress.ts';

export function registerDemoCommands(program: Command): void {
  program
    .command('demo')
    .description(
      'the whole system on the embedded defaults: simulate a small survey, ingest, launch the later epochs, run, aggregate, report',
    )
    .option('--dir <dir>', 'folder for everything (simulation, database, store, report)', './rapid-demo')
    .option('--tiles <n>', 'sky tiles', String(DEFAULT_DEMO.tiles))
    .option('--epochs <n>', 'epochs (the first half builds the references)', String(DEFAULT_DEMO.epochs))
    .option('--filters <list>', 'comma-separated filters', DEFAULT_DEMO.filters.join(','))
    .option('--size <px>', 'detector side in pixels', String(DEFAULT_DEMO.size))
    .option('--seed <s>', 'random seed', String(DEFAULT_DEMO.seed))
    .option('--jobs <n>', 'processes for the jobs (default: every core)')
    .option('--database-url <url>', 'PostgreSQL instead of PGlite in DIR (the environment is not consulted)')
    .option('--store <uri>', 'object store instead of DIR/data/store (a folder or s3://bucket/prefix)')
    .option('--s3-endpoint <url>', 'endpoint of an S3-compatible store')
    .action(async (opts: Record<string, string | undefined>) => {
      const filters = String(opts.filters)
        .split(',')
        .map((f) => f.trim())
        .filter((f) => f !== '');
      if (filters.length === 0) throw new UsageError('--filters needs at least one filter');
      const jobs = opts.jobs === undefined ? undefined : parseIndex(opts.jobs, '--jobs');
      const interrupts = handleInterrupts('rapid demo');
      const simulateProgress = new ProgressReporter('simulate');
      let r: Awaited<ReturnType<typeof runDemo>>;
      try {
        r = await runDemo({
          dir: String(opts.dir),
          tiles: parseIndex(String(opts.tiles), '--tiles'),
          epochs: parseIndex(String(opts.epochs), '--epochs'),
          filters,
          size: parseIndex(String(opts.size), '--size'),
          seed: parseIndex(String(opts.seed), '--seed'),
          jobs: jobs === 0 ? undefined : jobs,
          databaseUrl: opts.databaseUrl,
          store: opts.store,
          s3Endpoint: opts.s3Endpoint,
          onExecutor: (e) => interrupts.onExecutor(e),
          checkStop: () => interrupts.check(),
          onSimulateProgress: (done, total) => simulateProgress.update(done, total),
          onJobProgress: progressTo('jobs'),
        });
      } finally {
        interrupts.dispose();
      }
      process.stderr.write(`demo: done; the report is ${r.report}\n`);
      process.stdout.write(`${JSON.stringify(r)}\n`);
      process.exitCode = r.exitCode;
    });
}
