import type { Command } from 'commander';
import { readPipelineConfig, redisSetting } from '../config.ts';
import { DEFAULT_QUEUE } from '../exec/types.ts';
import { romanFilter } from '../instrument/roman.ts';
import { withContext } from '../ops/context.ts';
import { type LaunchPipeline, REFERENCE_INPUTS } from '../ops/launch.ts';
import { EXECUTORS, launchAndRun } from '../ops/run.ts';
import { parseDate } from '../ops/time.ts';
import { UsageError } from '../util/errors.ts';
import { handleInterrupts } from './interrupt.ts';
import { addBackendOptions, parseIndex, parseNumber, printJson } from './options.ts';
import { progressTo } from './progress.ts';

export function registerLaunchCommands(program: Command): void {
  addBackendOptions(
    program
      .command('launch')
      .description(
        'plan and run the jobs for a DATE-OBS range: reference builds (stage 1), then one science job per image (stage 2)',
      )
      .requiredOption(
        '--from <time>',
        'start of the DATE-OBS range, inclusive (UTC, e.g. 2028-09-07T00:00:00)',
      )
      .requiredOption('--to <time>', 'end of the DATE-OBS range, exclusive')
      .option('--filter <name>', 'only this filter (F158 or H158 spelling)')
      .option('--ref-from <time>', 'reference window start (like RAPID STARTREFIMMJDOBS); default: no limit')
      .option(
        '--ref-to <time>',
        'reference window end, exclusive (like ENDREFIMMJDOBS); default: before the earliest science image',
      )
      .option(
        '--min-ref-inputs <n>',
        'frames needed for a reference (fewer: exit 33)',
        String(REFERENCE_INPUTS.min),
      )
      .option('--max-ref-inputs <n>', 'most frames co-added into a reference', String(REFERENCE_INPUTS.max))
      .option(
        '--executor <name>',
        `where jobs run: ${EXECUTORS.join(', ')} (local: processes here; queue: rapid worker processes through Redis; batch: AWS Batch array jobs; none: record them as queued)`,
        'local',
      )
      .option('--jobs <n>', 'local executor: processes at once (default: every core)')
      .option(
        '--redis <url>',
        'queue executor: Redis URL: redis://HOST:6379, redis://:PASSWORD@HOST:6379, redis://USER:PASSWORD@HOST:6379, rediss://… for TLS (env RAPID_REDIS)',
      )
      .option('--queue <name>', 'queue executor: queue name (the workers’)', DEFAULT_QUEUE)
      .option(
        '--wait',
        'queue and batch executors: follow the jobs, with progress, until every one has ended (default: submit them and return; rapid aggregate records how they end)',
      )
      .option('--retry-delay <ms>', 'queue executor: first retry delay, doubled for each retry', '5000')
      .option('--batch-queue <name>', 'batch executor: AWS Batch job queue (name or ARN)')
      .option('--batch-job-definition <name>', 'batch executor: job definition (name, name:revision or ARN)')
      .option('--batch-region <region>', 'batch executor: AWS region (default: the AWS SDK’s)')
      .option('--batch-poll <seconds>', 'batch executor with --wait: seconds between status polls', '30')
      .option(
        '--pipeline <name>',
        'science (default) or noop (no pixel work: launch and aggregation benchmarks)',
        'science',
      )
      .option(
        '--config <file>',
        'JSON with pipeline configurations: {"science": {...}, "reference": {...}, "noop": {...}}',
      )
      .option('--force', 'run again the jobs that already succeeded')
      .option('--json', 'print the summary as indented JSON (default: one line of JSON)'),
  ).action(async (opts: Record<string, string | boolean | undefined>) => {
    const from = parseDate(String(opts.from), '--from');
    const to = parseDate(String(opts.to), '--to');
    const refFrom = opts.refFrom === undefined ? undefined : parseDate(String(opts.refFrom), '--ref-from');
    const refTo = opts.refTo === undefined ? undefined : parseDate(String(opts.refTo), '--ref-to');
    const pipeline = String(opts.pipeline) as LaunchPipeline;
    if (pipeline !== 'science' && pipeline !== 'noop')
      throw new UsageError(`--pipeline must be science or noop, got '${pipeline}'`);
    const executor = String(opts.executor);
    if (!(EXECUTORS as readonly string[]).includes(executor))
      throw new UsageError(`--executor must be one of ${EXECUTORS.join(', ')}, got '${executor}'`);
    const concurrency = opts.jobs === undefined ? undefined : parseIndex(String(opts.jobs), '--jobs');
    if (concurrency === 0) throw new UsageError('--jobs must be at least 1');
    // Every option is checked before the database is opened (created, migrated): a usage error
    // leaves nothing behind.
    if (!(from < to))
      throw new UsageError(`--from (${from.toISOString()}) must be before --to (${to.toISOString()})`);
    if (refFrom && refTo && !(refFrom < refTo))
      throw new UsageError(
        `--ref-from (${refFrom.toISOString()}) must be before --ref-to (${refTo.toISOString()})`,
      );
    const minRefInputs = parseIndex(String(opts.minRefInputs), '--min-ref-inputs');
    const maxRefInputs = parseIndex(String(opts.maxRefInputs), '--max-ref-inputs');
    if (!(minRefInputs >= 1 && maxRefInputs >= minRefInputs))
      throw new UsageError(
        `reference inputs: need 1 ≤ --min-ref-inputs (${minRefInputs}) ≤ --max-ref-inputs (${maxRefInputs})`,
      );
    if (opts.filter !== undefined) romanFilter(String(opts.filter));
    const retryDelayMs = parseIndex(String(opts.retryDelay), '--retry-delay');
    const redis = redisSetting(opts.redis as string | undefined);
    if (executor === 'queue' && !redis)
      throw new UsageError('--executor queue needs --redis redis://HOST:6379 (or env RAPID_REDIS)');
    if (executor === 'batch' && (!opts.batchQueue || !opts.batchJobDefinition))
      throw new UsageError('--executor batch needs --batch-queue and --batch-job-definition');
    const batchPoll = parseNumber(String(opts.batchPoll), '--batch-poll');
    if (!(batchPoll > 0)) throw new UsageError(`--batch-poll must be positive, got '${opts.batchPoll}'`);
    const config = await readPipelineConfig(opts.config as string | undefined);
    await withContext(opts, async (ctx) => {
      const interrupts = handleInterrupts('rapid');
      try {
        const out = await launchAndRun(ctx, {
          onProgress: progressTo('jobs'),
          from,
          to,
          filter: opts.filter as string | undefined,
          refFrom,
          refTo,
          pipeline,
          executor,
          force: Boolean(opts.force),
          minRefInputs,
          maxRefInputs,
          config,
          concurrency,
          redis,
          queue: opts.queue as string,
          wait: Boolean(opts.wait),
          retryDelayMs,
          batch:
            executor === 'batch'
              ? {
                  jobQueue: opts.batchQueue as string,
                  jobDefinition: opts.batchJobDefinition as string,
                  region: opts.batchRegion as string | undefined,
                  pollSeconds: batchPoll,
                }
              : undefined,
          onExecutor: (e) => interrupts.onExecutor(e),
        });
        const l = out.launch;
        process.stderr.write(
          `rapid: run ${l.runId}: ${l.images} images; references ${l.references.planned} new, ${l.references.reused} reused; ` +
            `jobs ${l.jobs.total} (${l.jobs.toRun} to run, ${l.jobs.alreadyDone} done before, ${l.jobs.noReference} without a possible reference: exit 33)\n`,
        );
        if (out.executed?.stopped)
          process.stderr.write(
            `rapid: run ${l.runId} stopped: ${out.executed.notStarted} jobs not started, ${out.executed.interrupted} interrupted; launch the same range again to resume\n`,
          );
        const summary = {
          run: l.runId,
          images: l.images,
          references: l.references,
          jobs: { ...l.jobs, byStatus: out.jobs.byStatus, byExitCode: out.jobs.byExitCode },
          timings: l.timings,
          exitCode: out.exitCode,
        };
        if (opts.json) printJson(summary);
        else process.stdout.write(`${JSON.stringify(summary)}\n`);
        process.exitCode = out.exitCode;
      } finally {
        interrupts.dispose();
      }
    });
  });
}
