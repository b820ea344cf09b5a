import type { Command } from 'commander';
import { runJob } from '../pipeline/runner.ts';

export function registerJobCommands(program: Command): void {
  const job = program.command('job').description('pipeline jobs');
  job
    .command('run')
    .description(
      'run the job a manifest describes (the entry point every executor calls); never touches the database; exits with the job’s exit code',
    )
    .argument('<manifest>', 'manifest URI: a path or s3://bucket/key')
    .option('--s3-endpoint <url>', 'endpoint of an S3-compatible store (env RAPID_S3_ENDPOINT)')
    .option('--quiet', 'do not echo the job log to standard error')
    .option('--json', 'print the result record (default: a one-line summary as JSON)')
    .action(async (manifest: string, opts: { s3Endpoint?: string; quiet?: boolean; json?: boolean }) => {
      const controller = new AbortController();
      const stop = () => controller.abort();
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
      try {
        const r = await runJob(manifest, {
          s3Endpoint: opts.s3Endpoint ?? process.env.RAPID_S3_ENDPOINT,
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
