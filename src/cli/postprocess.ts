import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_STREAM } from '../alerts/index.ts';
import { writeAlerts } from '../ops/alerts.ts';
import { withContext } from '../ops/context.ts';
import { findObject, formatLightCurve, lightCurve, plotLightCurve } from '../ops/lightcurve.ts';
import { DEFAULT_MATCH_RADIUS, postprocess } from '../ops/postprocess.ts';
import { requireRun } from '../ops/status.ts';
import { MissingInputError, UsageError } from '../util/errors.ts';
import { addBackendOptions, parseId, parseIndex, parseNumber, parseRunOption, printJson } from './options.ts';
import { ProgressReporter, progressTo } from './progress.ts';

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
      .option(
        '--method <name>',
        "whose difference-image sources become objects: 'zogy', 'sfft' or 'both'",
        'zogy',
      )
      .option('--executor <name>', 'local (run the jobs now) or none (only plan them)', 'local')
      .option('--jobs <n>', 'processes at once (default: every core)')
      .option('--json', 'print the summary as indented JSON (default: one line of JSON)')
      .addHelpText(
        'after',
        '\nExit codes: 0 done; 64 bad option; 66 no such run; 70 some post-processing jobs failed; 75 stopped early.',
      ),
  ).action(async (opts: Record<string, string | boolean | undefined>) => {
    const run = parseRunOption(opts.run);
    const radius = parseNumber(String(opts.radius), '--radius');
    const executor = String(opts.executor);
    if (executor !== 'local' && executor !== 'none')
      throw new UsageError(`--executor must be local or none, got '${executor}'`);
    const method = String(opts.method);
    if (method !== 'zogy' && method !== 'sfft' && method !== 'both')
      throw new UsageError(`--method must be zogy, sfft or both, got '${method}'`);
    const concurrency = opts.jobs === undefined ? undefined : parseIndex(String(opts.jobs), '--jobs');
    if (concurrency === 0) throw new UsageError('--jobs must be at least 1');
    await withContext(opts, async (ctx) => {
      const s = await postprocess(ctx.db, {
        onProgress: progressTo('post-processing'),
        runId: run === undefined ? undefined : await requireRun(ctx.db, run),
        radiusArcsec: radius,
        allSources: Boolean(opts.allSources),
        method,
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
      .command('alerts')
      .description(
        'write an alert packet (Avro, LSST layout with Roman additions) for every vetted difference-image source of a run, one .avro file per difference image; optionally publish them to NATS JetStream',
      )
      .option('--run <id>', 'the run (default: the latest)')
      .requiredOption('--out <uri>', 'folder or s3://bucket/prefix for the .avro files')
      .option('--publish <url>', 'also publish each packet to NATS JetStream, e.g. nats://127.0.0.1:4222')
      .option('--stream <name>', 'JetStream stream for --publish', DEFAULT_STREAM)
      .option('--json', 'print the summary as indented JSON (default: one line of JSON)')
      .addHelpText(
        'after',
        '\nRun `rapid postprocess` first: packets need objects and cutouts.\nExit codes: 0 done; 64 bad option; 65 a packet does not fit the schema; 66 no such run; 75 NATS unreachable.',
      ),
  ).action(async (opts: Record<string, string | boolean | undefined>) => {
    const run = parseRunOption(opts.run);
    const outOpt = String(opts.out);
    const out = outOpt.startsWith('s3://') ? outOpt : resolve(outOpt);
    const publish = opts.publish === undefined ? undefined : String(opts.publish);
    if (publish !== undefined && !/^nats:\/\/[^/]+$/.test(publish))
      throw new UsageError(`--publish must be nats://HOST:PORT, got '${publish}'`);
    await withContext(opts, async (ctx) => {
      const progress = new ProgressReporter('alerts');
      const s = await writeAlerts(ctx.db, {
        runId: run === undefined ? undefined : await requireRun(ctx.db, run),
        out,
        stores: ctx.stores,
        publish,
        stream: String(opts.stream),
        onImage: (p) => progress.update(p.done, p.total, `${p.packets} packets`),
      });
      process.stderr.write(
        `rapid: run ${s.run}: ${s.packets} alert packets in ${s.files.length} files under ${out}` +
          (s.published
            ? `; ${s.published.published} published, ${s.published.duplicates} already in the stream`
            : '') +
          (s.skipped > 0 ? `; ${s.skipped} sources without cutouts (run \`rapid postprocess\`)` : '') +
          '\n',
      );
      if (opts.json) printJson(s);
      else process.stdout.write(`${JSON.stringify(s)}\n`);
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
    // An id is digits (1 to 2^63 − 1: a usage error otherwise, before the database); a name is not.
    const numeric = /^\d+$/.test(id) ? parseId(id, 'object id') : undefined;
    await withContext(
      opts,
      async (ctx) => {
        if (numeric !== undefined && numeric > BigInt(Number.MAX_SAFE_INTEGER)) {
          // Beyond what a JavaScript number holds exactly: look it up exactly here.
          const rows = await ctx.db.query('SELECT 1 FROM objects WHERE id = $1::bigint', [String(numeric)]);
          if (rows.length === 0)
            throw new MissingInputError(`no object ${id}; run \`rapid postprocess\` first`);
        }
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
