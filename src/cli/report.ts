import type { Command } from 'commander';
import { withContext } from '../ops/context.ts';
import { writeReport } from '../ops/report.ts';
import { requireRun } from '../ops/status.ts';
import { addBackendOptions, parseNumber, parseRunOption, printJson } from './options.ts';

export function registerReportCommands(program: Command): void {
  addBackendOptions(
    program
      .command('report')
      .description(
        'figures (PNG and SVG) and an index.html: job times, time against reference inputs, throughput, failures, and completeness and false positives against truth',
      )
      .requiredOption('--out <dir>', 'output folder')
      .option('--run <id>', 'the run to report (default: the latest)')
      .option(
        '--truth <dir>',
        "simulation folder holding truth/ (default: beside the images, in OpenUniverse's layout)",
      )
      .option('--match-radius <px>', 'radius for matching sources with truth, pixels', '2')
      .option('--json', 'print the summary as indented JSON (default: one line with the index path)'),
  ).action(async (opts: Record<string, string | boolean | undefined>) => {
    const run = parseRunOption(opts.run);
    const matchRadius = parseNumber(String(opts.matchRadius), '--match-radius');
    await withContext(opts, async (ctx) => {
      const s = await writeReport(ctx.db, {
        out: String(opts.out),
        runId: run === undefined ? undefined : await requireRun(ctx.db, run),
        truth: opts.truth as string | undefined,
        stores: ctx.stores,
        matchRadius,
      });
      process.stderr.write(`rapid: report written: ${s.index} (${s.figures.length} figures)\n`);
      if (opts.json) printJson(s);
      else
        process.stdout.write(`${JSON.stringify({ index: s.index, figures: s.figures.map((f) => f.png) })}\n`);
    });
  });
}
