/**
 * The main job, on the embedded defaults in one go: simulate a small survey with truth, ingest
 * it, launch the later epochs (the earlier ones build the references), run the jobs, aggregate,
 * report. Everything lives under one folder; a second run reuses the simulation.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { RapidConfig } from '../config.ts';
import type { Executor } from '../exec/types.ts';
import { type SimulationSummary, simulateSurvey } from '../sim/simulate.ts';
import { UsageError } from '../util/errors.ts';
import { aggregate } from './aggregate.ts';
import { withContext } from './context.ts';
import { ingest } from './ingest.ts';
import { writeReport } from './report.ts';
import { type JobProgress, launchAndRun } from './run.ts';

export interface DemoOptions {
  dir: string;
  tiles: number;
  epochs: number;
  filters: string[];
  size: number;
  seed: number;
  /** Processes for the jobs (default every core). */
  jobs?: number;
  /** Backends: default PGlite and a folder inside `dir`. */
  databaseUrl?: string;
  store?: string;
  s3Endpoint?: string;
  log?: (line: string) => void;
  /** Called with the executor while the jobs run (to stop or interrupt it on Ctrl-C), then undefined. */
  onExecutor?: (e: Executor | undefined) => void;
  /** Called between steps: throws to stop the demo there (a Ctrl-C). */
  checkStop?: () => void;
  /** Progress of the simulation (images done of total). */
  onSimulateProgress?: (done: number, total: number) => void;
  /** Progress of the jobs. */
  onJobProgress?: JobProgress;
}

export const DEFAULT_DEMO = { tiles: 2, epochs: 6, filters: ['F158', 'F106'], size: 1024, seed: 1 };

export interface DemoResult {
  dir: string;
  report: string;
  runId: number;
  images: number;
  exitCode: number;
  seconds: Record<string, number>;
}

async function existingSimulation(dir: string, o: DemoOptions): Promise<SimulationSummary | undefined> {
  try {
    const s = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')) as SimulationSummary;
    const same =
      s.options.tiles === o.tiles &&
      s.options.epochs === o.epochs &&
      s.options.size === o.size &&
      s.seed === o.seed &&
      s.options.filters.join(',') === o.filters.join(',');
    return same ? s : undefined;
  } catch {
    return undefined;
  }
}

export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  if (o.epochs < 4)
    throw new UsageError('--epochs must be at least 4 (3 to build references, 1 to difference)');
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const dir = resolve(o.dir);
  const simDir = join(dir, 'sim');
  const seconds: Record<string, number> = {};
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    o.checkStop?.();
    const t0 = performance.now();
    const out = await fn();
    seconds[name] = Number(((performance.now() - t0) / 1000).toFixed(2));
    return out;
  };

  // 1. Simulate (or reuse).
  let sim = await existingSimulation(simDir, o);
  if (sim) log(`demo: 1/6 reusing the simulated survey in ${simDir}`);
  else {
    log(
      `demo: 1/6 simulating ${o.tiles} tiles × ${o.filters.length} filters × ${o.epochs} epochs at ${o.size}² in ${simDir}`,
    );
    sim = await timed('simulate', () =>
      simulateSurvey(
        simDir,
        { tiles: o.tiles, epochs: o.epochs, filters: o.filters, size: o.size, seed: o.seed },
        (p) => o.onSimulateProgress?.(p.done, p.total),
      ),
    );
  }
  const config: RapidConfig = {
    home: join(dir, 'data'),
    database: o.databaseUrl
      ? { kind: 'postgres', url: o.databaseUrl }
      : { kind: 'pglite', dataDir: join(dir, 'data', 'db') },
    store: o.store ?? join(dir, 'data', 'store'),
    s3Endpoint: o.s3Endpoint,
  };
  return withContext(
    {},
    async (ctx) => {
      // 2. Ingest.
      log('demo: 2/6 ingesting');
      const ing = await timed('ingest', () => ingest(ctx.db, [join(simDir, 'images')]));
      log(
        `demo: ${ing.inserted} new images, ${ing.unchanged} already registered, ${ing.unreadable.length} unreadable`,
      );

      // 3–4. Launch the later epochs and run them.
      const epochs = [...sim!.epochs].sort((a, b) => a.mjd - b.mjd);
      const first = epochs[Math.max(3, Math.floor(epochs.length / 2))];
      const from = new Date(first.dateObs);
      const to = new Date(new Date(epochs[epochs.length - 1].dateObs).getTime() + 86_400_000);
      log(`demo: 3/6 launching ${from.toISOString()} to ${to.toISOString()}; 4/6 running the jobs`);
      const run = await timed('launch', () =>
        launchAndRun(ctx, {
          from,
          to,
          executor: 'local',
          concurrency: o.jobs,
          onExecutor: o.onExecutor,
          onProgress: o.onJobProgress,
        }),
      );
      o.onExecutor?.(undefined);
      const l = run.launch;
      log(
        `demo: run ${l.runId}: ${l.images} science images, ${l.references.planned} references built, ${l.jobs.toRun} jobs run; by exit code ${JSON.stringify(run.jobs.byExitCode)}`,
      );

      // 5. Aggregate.
      log('demo: 5/6 aggregating');
      const agg = await timed('aggregate', () => aggregate(ctx.db, { runId: l.runId, stores: ctx.stores }));
      log(
        `demo: ${agg.registered} result records, ${agg.products} products, ${agg.sources} sources registered (ZOGY's; SFFT's ${agg.sfftSources})`,
      );

      // 6. Report.
      log('demo: 6/6 writing the report');
      const report = await timed('report', () =>
        writeReport(ctx.db, { out: join(dir, 'report'), runId: l.runId, truth: simDir, stores: ctx.stores }),
      );
      return { dir, report: report.index, runId: l.runId, images: l.images, exitCode: run.exitCode, seconds };
    },
    { config },
  );
}
