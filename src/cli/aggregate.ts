import type { Command } from 'commander';
import { aggregate } from '../ops/aggregate.ts';
import { addBackendOptions, withContext } from '../ops/context.ts';
import { ExitCode } from '../util/errors.ts';
import { parseIndex, printJson } from './options.ts';
import { ProgressReporter } from './progress.ts';

export function registerAggregateCommands(program: Command): void {
  addBackendOptions(
    program
      .command('aggregate')
      .description(
        'register the result records of launched jobs (products, QA, difference-image sources) in batches; safe to rerun',
      )
      .option('--run <id>', 'only the jobs of this run (default: every job not yet aggregated)')
      .option('--batch-size <n>', 'result records per transaction', '200')
      .option('--json', 'print the summary as indented JSON (default: one line of JSON)'),
  ).action(async (opts: Record<string, string | boolean | undefined>) => {
    const runId = opts.run === undefined ? undefined : parseIndex(String(opts.run), '--run');
    const batchSize = parseIndex(String(opts.batchSize), '--batch-size');
    await withContext(opts, async (ctx) => {
      const progress = new ProgressReporter('aggregate');
      const t0 = performance.now();
      const s = await aggregate(ctx.db, {
        runId,
        stores: ctx.stores,
        batchSize: Math.max(1, batchSize),
        onBatch: (p) => progress.update(p.done, p.total, `${p.registered} registered`),
        onProblem: (p) => process.stderr.write(`rapid: job ${p.jobId}: ${p.error}\n`),
      });
      const seconds = (performance.now() - t0) / 1000;
      process.stderr.write(
        `rapid: ${s.registered} result records registered (${s.products} products, ${s.sources} sources) in ${seconds.toFixed(2)} s; ${s.missing} jobs without a result yet, ${s.unreadable} unreadable\n`,
      );
      const out = { ...s, seconds: Number(seconds.toFixed(3)) };
      if (opts.json) printJson(out);
      else process.stdout.write(`${JSON.stringify(out)}\n`);
      if (s.unreadable > 0) process.exitCode = ExitCode.BAD_INPUT;
    });
  });
}
