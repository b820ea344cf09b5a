/**
 * A reference job with N inputs (default 25) of full-size simulated SCAs (4088², F158): the
 * whole job as `rapid job run` runs it, in its own process, with per-step timings, the time per
 * input frame and peak memory. The inputs are simulated first (not timed), planned by launch
 * (a PGlite database and a folder store in a temporary folder).
 *
 *   node --import tsx bench/job-reference.ts [--inputs 25] [--size 4088] [--keep DIR]
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabase } from '../src/ops/db.ts';
import { ingest } from '../src/ops/ingest.ts';
import { launch } from '../src/ops/launch.ts';
import type { ResultRecord } from '../src/pipeline/types.ts';
import { simulateSurvey } from '../src/sim/simulate.ts';
import { openStore } from '../src/store/index.ts';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const inputs = Number(opt('inputs', '25'));
const size = Number(opt('size', '4088'));
const keep = args.includes('--keep') ? opt('keep', '') : '';

const dir = keep || (await mkdtemp(join(tmpdir(), 'rapid-bench-ref-')));
try {
  const sim = join(dir, 'sim');
  let t = performance.now();
  // One more epoch than inputs: the last is the science image the reference is planned for.
  const summary = await simulateSurvey(sim, {
    tiles: 1,
    epochs: inputs + 1,
    size,
    filters: ['F158'],
    seed: 11,
  });
  console.error(
    `# simulated ${summary.counts.images} images of ${size}² in ${((performance.now() - t) / 1000).toFixed(0)} s`,
  );
  const config = {
    home: dir,
    database: { kind: 'pglite' as const, dataDir: join(dir, 'db') },
    store: join(dir, 'store'),
  };
  const db = await openDatabase(config);
  const store = openStore(config.store);
  let manifest: string;
  try {
    await ingest(db, [sim]);
    const last = summary.epochs[summary.epochs.length - 1];
    const r = await launch(db, {
      from: new Date(last.dateObs),
      to: new Date(new Date(last.dateObs).getTime() + 86_400_000),
      executor: 'none',
      store,
      storeConfig: { root: store.root },
      maxRefInputs: inputs,
    });
    manifest = r.toRun.find((j) => j.pipeline === 'reference')!.manifestUri;
  } finally {
    await store.close();
    await db.close();
  }
  const entry = fileURLToPath(new URL('../src/exec/job-entry.ts', import.meta.url));
  t = performance.now();
  const run = spawnSync(
    process.execPath,
    ['--import', import.meta.resolve('tsx'), entry, 'job', 'run', manifest, '--quiet', '--json'],
    {
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    },
  );
  const wall = (performance.now() - t) / 1000;
  if (run.status !== 0) throw new Error(`reference job failed (${run.status}): ${run.stderr}`);
  const res = JSON.parse(run.stdout) as ResultRecord;
  const out = {
    inputs: res.qa.nInputs,
    size,
    grid: `${res.qa.width}×${res.qa.height}`,
    seconds: Number(res.elapsedSeconds.toFixed(1)),
    wallSeconds: Number(wall.toFixed(1)),
    secondsPerInput: Number((res.elapsedSeconds / Number(res.qa.nInputs)).toFixed(2)),
    steps: Object.fromEntries(res.steps.map((s) => [s.name, Number(s.seconds.toFixed(1))])),
    peakRssMB: Math.round(res.peakRssBytes / 2 ** 20),
    cov5percent: res.qa.cov5percent,
  };
  console.log(JSON.stringify(out));
} finally {
  if (!keep) await rm(dir, { recursive: true, force: true });
}
