/**
 * Shared by the whole-job benchmarks: simulate full-size SCAs of one tile, plan their jobs with
 * launch (PGlite and a folder store in a data folder of their own), and run a job as
 * `rapid job run` runs it, in its own process, so that its peak memory is its own.
 */
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PlannedJob } from '../../src/exec/types.ts';
import { openDatabase } from '../../src/ops/db.ts';
import { ingest } from '../../src/ops/ingest.ts';
import { launch } from '../../src/ops/launch.ts';
import type { ResultRecord } from '../../src/pipeline/types.ts';
import { type SimulationSummary, simulateSurvey } from '../../src/sim/simulate.ts';
import { openStore } from '../../src/store/index.ts';

/**
 * `epochs` exposures of one tile in F158; the last is the science image of the benchmarks. A
 * simulation already in `dir` (a kept benchmark folder) with as many images of that size is reused.
 */
export async function simulateEpochs(dir: string, epochs: number, size: number): Promise<SimulationSummary> {
  try {
    const kept = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')) as SimulationSummary;
    if (kept.epochs.length === epochs && kept.options.size === size) {
      console.error(`# reusing the ${epochs} simulated images in ${dir}`);
      return kept;
    }
  } catch {
    // nothing kept: simulate
  }
  const t = performance.now();
  const summary = await simulateSurvey(dir, { tiles: 1, epochs, size, filters: ['F158'], seed: 11 });
  console.error(
    `# simulated ${summary.counts.images} images of ${size}² in ${((performance.now() - t) / 1000).toFixed(0)} s`,
  );
  return summary;
}

/**
 * Ingests the simulated images into a fresh data folder `home` and launches the last epoch
 * with a reference of exactly `inputs` earlier frames: its reference job and its science job.
 */
export async function planLastEpoch(
  home: string,
  sim: string,
  summary: SimulationSummary,
  inputs: number,
  scienceConfig: Record<string, unknown> = {},
): Promise<{ reference: PlannedJob; science: PlannedJob }> {
  const config = {
    home,
    database: { kind: 'pglite' as const, dataDir: join(home, 'db') },
    store: join(home, 'store'),
  };
  const db = await openDatabase(config);
  const store = openStore(config.store);
  try {
    await ingest(db, [sim]);
    const last = summary.epochs[summary.epochs.length - 1];
    const r = await launch(db, {
      from: new Date(last.dateObs),
      to: new Date(new Date(last.dateObs).getTime() + 86_400_000),
      executor: 'none',
      store,
      storeConfig: { root: store.root },
      minRefInputs: Math.min(3, inputs),
      maxRefInputs: inputs,
      config: { science: scienceConfig },
    });
    const reference = r.toRun.find((j) => j.pipeline === 'reference');
    const science = r.toRun.find((j) => j.pipeline === 'science');
    if (!reference || !science)
      throw new Error(`launch planned no reference and science job for ${inputs} inputs`);
    return { reference, science };
  } finally {
    await store.close();
    await db.close();
  }
}

/** Runs one job in a child process; throws unless it exits 0. */
export function runJobProcess(manifestUri: string): { result: ResultRecord; wallSeconds: number } {
  const entry = fileURLToPath(new URL('../../src/cli/entry.ts', import.meta.url));
  const t = performance.now();
  const run = spawnSync(
    process.execPath,
    ['--import', import.meta.resolve('tsx'), entry, 'job', 'run', manifestUri, '--quiet', '--json'],
    { encoding: 'utf8', maxBuffer: 1 << 26 },
  );
  const wallSeconds = (performance.now() - t) / 1000;
  if (run.status !== 0) throw new Error(`job ${manifestUri} failed (${run.status}): ${run.stderr}`);
  return { result: JSON.parse(run.stdout) as ResultRecord, wallSeconds };
}

/** A result record's per-step timings, in seconds to 0.1. */
export function stepSeconds(r: ResultRecord): Record<string, number> {
  return Object.fromEntries(r.steps.map((s) => [s.name, Number(s.seconds.toFixed(1))]));
}
