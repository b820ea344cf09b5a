import { fstatSync } from 'node:fs';
import type { Command } from 'commander';
import { s3EndpointSetting } from '../config.ts';
import { arrayIndexFromEnv, MANIFEST_LIST_ENV, manifestAt } from '../exec/manifest-list.ts';
import { runJob } from '../pipeline/runner.ts';
import { StoreRouter } from '../store/router.ts';
import { ExitCode, UsageError } from '../util/errors.ts';
import { parseIndex } from './options.ts';

interface JobRunOptions {
  s3Endpoint?: string;
  quiet?: boolean;
  json?: boolean;
  manifestList?: string;
  index?: string;
  exitWithParent?: boolean;
}

/** The manifest to run: the argument, or line AWS_BATCH_JOB_ARRAY_INDEX of a manifest list. */
async function manifestToRun(manifest: string | undefined, opts: JobRunOptions): Promise<string> {
  const list = opts.manifestList ?? (manifest === undefined ? process.env[MANIFEST_LIST_ENV] : undefined);
  if (manifest !== undefined && opts.manifestList !== undefined)
    throw new UsageError('give a manifest URI or --manifest-list, not both');
  if (list === undefined) {
    if (manifest === undefined)
      throw new UsageError(`give a manifest URI, or --manifest-list URI (env ${MANIFEST_LIST_ENV})`);
    return manifest;
  }
  const index = opts.index === undefined ? arrayIndexFromEnv() : parseIndex(opts.index, '--index');
  const stores = new StoreRouter(s3EndpointSetting(opts.s3Endpoint));
  try {
    return manifestAt(await stores.for(list).getText(list), index, list);
  } finally {
    await stores.close();
  }
}

export function registerJobCommands(program: Command): void {
  const job = program.command('job').description('pipeline jobs');
  job
    .command('run')
    .description(
      'run the job a manifest describes (the entry point every executor calls); never touches the database; exits with the job’s exit code',
    )
    .argument('[manifest]', 'manifest URI: a path or s3://bucket/key')
    .option(
      '--manifest-list <uri>',
      `run the manifest on line AWS_BATCH_JOB_ARRAY_INDEX (0 when unset) of this list (env ${MANIFEST_LIST_ENV} when no manifest is given)`,
    )
    .option('--index <n>', 'with --manifest-list: this line instead of AWS_BATCH_JOB_ARRAY_INDEX')
    .option('--s3-endpoint <url>', 'endpoint of an S3-compatible store (env RAPID_S3_ENDPOINT)')
    .option('--quiet', 'do not echo the job log to standard error')
    .option('--json', 'print the result record (default: a one-line summary as JSON)')
    .option(
      '--exit-with-parent',
      'end at once with 75 when standard input, a pipe from the worker that started the job, closes: the worker died, and another one retries the job',
    )
    .action(async (arg: string | undefined, opts: JobRunOptions) => {
      // Only a pipe from the worker can tell it died (a terminal or /dev/null would end at once).
      const piped = (() => {
        try {
          const st = fstatSync(0);
          return st.isFIFO() || st.isSocket();
        } catch {
          return false;
        }
      })();
      if (opts.exitWithParent && piped) {
        // A job whose worker died is retried elsewhere: stop now rather than race the retry.
        process.stdin.on('end', () => process.exit(ExitCode.TEMPORARY));
        process.stdin.on('error', () => process.exit(ExitCode.TEMPORARY));
        process.stdin.resume();
        (process.stdin as { unref?: () => void }).unref?.();
      }
      const manifest = await manifestToRun(arg, opts);
      const controller = new AbortController();
      const stop = () => controller.abort();
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
      try {
        const r = await runJob(manifest, {
          s3Endpoint: s3EndpointSetting(opts.s3Endpoint),
          signal: controller.signal,
          echo: !opts.quiet,
        });
        if (opts.json && r.result) process.stdout.write(`${JSON.stringify(r.result, null, 2)}\n`);
        else if (r.result)
          process.stdout.write(
            `${JSON.stringify({ jobId: r.result.jobId, status: r.result.status, exitCode: r.exitCode, result: r.resultUri })}\n`,
          );
        // With --quiet the log was not echoed: say why the job failed in one line.
        if (opts.quiet && r.exitCode !== 0)
          process.stderr.write(`rapid: ${r.message ?? `job ended with exit ${r.exitCode}`}\n`);
        process.exitCode = r.exitCode;
      } finally {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
      }
    });
}
