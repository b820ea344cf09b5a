import type { Command } from 'commander';
import { aggregate } from '../ops/aggregate.ts';
import { type OpsContext, withContext } from '../ops/context.ts';
import { requireRun } from '../ops/status.ts';
import { ExitCode, RapidError } from '../util/errors.ts';
import { addBackendOptions, parseIndex, parseRunOption, printJson } from './options.ts';
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
    const run = parseRunOption(opts.run);
    const batchSize = parseIndex(String(opts.batchSize), '--batch-size');
    await withContext(opts, async (ctx) => {
      try {
        await aggregateRun(ctx, run, batchSize, Boolean(opts.json));
      } catch (err) {
        // A temporary failure part-way (a lost connection, a full disk): the batches committed
        // are whole, and a rerun registers the rest exactly once.
        if (err instanceof RapidError && err.exitCode === ExitCode.TEMPORARY)
          throw new RapidError(`${err.message} (aggregation is safe to run again)`, err.exitCode, {
            cause: err,
          });
        throw err;
      }
    });
  });
}

async function aggregateRun(
  ctx: OpsContext,
  run: bigint | undefined,
  batchSize: number,
  json: boolean,
): Promise<void> {
  // A run that does not exist is 66, as in every command taking --run (not "nothing to do").
  const runId = run === undefined ? undefined : await requireRun(ctx.db, run);
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
    `rapid: ${s.registered} result records registered (${s.products} products, ${s.sources} sources${s.sfftSources ? `, ${s.sfftSources} SFFT sources` : ''}) in ${seconds.toFixed(2)} s; ${s.missing} jobs without a result yet, ${s.stale} with one left by an earlier launch, ${s.unreadable} unreadable\n`,
  );
  const out = { ...s, seconds: Number(seconds.toFixed(3)) };
  if (json) printJson(out);
  else process.stdout.write(`${JSON.stringify(out)}\n`);
  if (s.unreadable > 0) process.exitCode = ExitCode.BAD_INPUT;
}
