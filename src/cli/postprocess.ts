import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { addBackendOptions, withContext } from '../ops/context.ts';
import { findObject, formatLightCurve, lightCurve, plotLightCurve } from '../ops/lightcurve.ts';
import { DEFAULT_MATCH_RADIUS, postprocess } from '../ops/postprocess.ts';
import { UsageError } from '../util/errors.ts';
import { parseIndex, parseNumber, printJson } from './options.ts';

export function registerPostprocessCommands(program: Command): void {
  addBackendOptions(
    program
      .command('postprocess')
      .description(
        'after aggregation: stamp database ids into the products, associate difference-image sources into objects, and run forced photometry and cutouts as jobs',
      )
      .option('--run <id>', 'the run to post-process (default: the latest)')
      .option('--radius <arcsec>', 'cross-match radius', String(DEFAULT_MATCH_RADIUS))
      .option(
        '--all-sources',
        'associate every source, not only those passing the vetting cuts (VETFLAGS = 0)',
      )
      .option('--executor <name>', 'local (run the jobs now) or none (only plan them)', 'local')
      .option('--jobs <n>', 'processes at once (default: every core)')
      .option('--json', 'print the summary as indented JSON (default: one line of JSON)')
      .addHelpText(
        'after',
        '\nExit codes: 0 done; 64 bad option; 66 no such run; 70 some post-processing jobs failed; 75 stopped early.',
      ),
  ).action(async (opts: Record<string, string | boolean | undefined>) => {
    const runId = opts.run === undefined ? undefined : parseIndex(String(opts.run), '--run');
    const radius = parseNumber(String(opts.radius), '--radius');
    const executor = String(opts.executor);
    if (executor !== 'local' && executor !== 'none')
      throw new UsageError(`--executor must be local or none, got '${executor}'`);
    const concurrency = opts.jobs === undefined ? undefined : parseIndex(String(opts.jobs), '--jobs');
    if (concurrency === 0) throw new UsageError('--jobs must be at least 1');
    await withContext(opts, async (ctx) => {
      const s = await postprocess(ctx.db, {
        runId,
        radiusArcsec: radius,
        allSources: Boolean(opts.allSources),
        executor,
        concurrency,
        store: ctx.store,
        storeConfig: {
          root: ctx.store.root,
          ...(ctx.config.s3Endpoint ? { endpoint: ctx.config.s3Endpoint } : {}),
        },
        stores: ctx.stores,
        jobArgs: ctx.config.s3Endpoint ? ['--s3-endpoint', ctx.config.s3Endpoint] : [],
      });
      const a = s.association;
      process.stderr.write(
        `rapid: run ${s.run}: ${s.stamped.jobs} jobs stamped; ${a.sources} sources associated (${a.newObjects} new objects, ${a.updatedObjects} updated); ` +
          `${s.forced.planned} forced-photometry jobs (${s.forced.unchanged} unchanged), ${s.forced.measurements} measurements\n`,
      );
      if (opts.json) printJson(s);
      else process.stdout.write(`${JSON.stringify(s)}\n`);
      process.exitCode = s.exitCode;
    });
  });

  addBackendOptions(
    program
      .command('object')
      .description(
        'an object: its summary and light curve (detections and forced photometry) as a table and a PNG plot',
      )
      .argument('<id>', 'object id or name')
      .option('--plot <file>', 'write the light-curve plot here (PNG)')
      .option('--json', 'print the object and its light curve as JSON instead of a table'),
  ).action(async (id: string, opts: Record<string, string | boolean | undefined>) => {
    await withContext(
      opts,
      async (ctx) => {
        const o = await findObject(ctx.db, id);
        const points = await lightCurve(ctx.db, o.id);
        if (opts.plot) {
          await writeFile(String(opts.plot), await plotLightCurve(o, points));
          process.stderr.write(`rapid: wrote ${opts.plot}\n`);
        }
        if (opts.json) printJson({ object: o, lightCurve: points });
        else process.stdout.write(formatLightCurve(o, points));
      },
      { quiet: true },
    );
  });
}
