import type { Command } from 'commander';
import { withContext } from '../ops/context.ts';
import { ingest } from '../ops/ingest.ts';
import { checkNside, DEFAULT_NSIDE } from '../sky/tiles.ts';
import { ExitCode } from '../util/errors.ts';
import { addBackendOptions, parseIndex, printJson } from './options.ts';
import { ProgressReporter } from './progress.ts';

export function registerIngestCommands(program: Command): void {
  addBackendOptions(
    program
      .command('ingest')
      .description(
        "register images: folders (recursively), globs, FITS files or s3://bucket/prefix (OpenUniverse's layout or plain FITS)",
      )
      .argument(
        '<sources...>',
        'folders, globs (quote them), .fits/.fits.gz/.fit/.fz files, s3://bucket/prefix',
      )
      .option('--nside <n>', 'HEALPix nside of the sky tiles', String(DEFAULT_NSIDE))
      .option('--json', 'print the summary as indented JSON (default: one line of JSON)'),
  ).action(async (sources: string[], opts: Record<string, string | boolean | undefined>) => {
    // A usage error (64) before any file is read or the database opened: not every file "unreadable".
    const nside = checkNside(parseIndex(String(opts.nside), '--nside'));
    await withContext(opts, async (ctx) => {
      const progress = new ProgressReporter('ingest');
      let last = 0;
      const summary = await ingest(ctx.db, sources, {
        nside,
        s3Endpoint: ctx.config.s3Endpoint,
        warn: (m) => process.stderr.write(`rapid: warning: ${m}\n`),
        onProblem: (p) => process.stderr.write(`rapid: skipped ${p.uri}: ${p.error}\n`),
        onFile: (done, _uri, total) => {
          const now = Date.now();
          if (now - last > 1000 || done === total) {
            last = now;
            progress.update(done, total, 'files');
          }
        },
      });
      process.stderr.write(
        `rapid: ${summary.files} FITS files: ${summary.inserted} new, ${summary.updated} updated, ${summary.unchanged} already registered, ${summary.unreadable.length} unreadable\n`,
      );
      if (summary.files === 0)
        process.stderr.write('rapid: warning: no FITS files found in the sources given\n');
      if (opts.json) printJson(summary);
      else process.stdout.write(`${JSON.stringify(summary)}\n`);
      if (summary.unreadable.length > 0) process.exitCode = ExitCode.BAD_INPUT;
    });
  });
}
