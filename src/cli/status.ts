import type { Command } from 'commander';
import { withContext } from '../ops/context.ts';
import { formatStatus, requireRun, status } from '../ops/status.ts';
import { addBackendOptions, parseRunOption, printJson } from './options.ts';

export function registerStatusCommands(program: Command): void {
  addBackendOptions(
    program
      .command('status')
      .description(
        'images, references, runs, jobs by status and exit code, products and difference-image sources',
      )
      .option('--run <id>', 'the run to report (default: the latest)')
      .option('--json', 'machine-readable output'),
  ).action(async (opts: Record<string, string | boolean | undefined>) => {
    const run = parseRunOption(opts.run);
    await withContext(
      opts,
      async (ctx) => {
        const s = await status(ctx.db, run === undefined ? undefined : await requireRun(ctx.db, run));
        if (opts.json) printJson(s);
        else process.stdout.write(formatStatus(s));
      },
      { quiet: false },
    );
  });
}
