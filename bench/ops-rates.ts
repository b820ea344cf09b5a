/**
 * Launch and aggregation rates on PGlite (a data folder, the embedded default) and PostgreSQL
 * (a fresh database, dropped afterwards), with a folder store.
 *
 * - 10,000 images (100 tiles × 100 epochs, registered through ingest's batch insert);
 * - launch rate: jobs planned, recorded and submitted (manifests written) per second, for no-op
 *   jobs (`--pipeline noop --executor none`), and for science planning with references;
 * - aggregation rate: result records registered per second, each with a catalog of 50
 *   difference-image sources (the no-op jobs are run in this process to make them; not timed).
 *
 * Goals (issue 7): launch ≥ 50 jobs/s, aggregation ≥ 500 records/s. RAPID: 1.75 and about 5.
 *
 *   node --import tsx bench/ops-rates.ts [--images 10000] [--sources 50] [--backends pglite,postgres]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aggregate } from '../src/ops/aggregate.ts';
import { type Db, openDatabase } from '../src/ops/db.ts';
import { type ImageRecord, insertImages } from '../src/ops/ingest.ts';
import { launch } from '../src/ops/launch.ts';
import { mjdFromDate } from '../src/ops/time.ts';
import { runJob } from '../src/pipeline/runner.ts';
import { tileCentre, tileOf } from '../src/sky/tiles.ts';
import { openStore } from '../src/store/index.ts';
import { StoreRouter } from '../src/store/router.ts';
import { freshPostgres, postgresAvailable } from '../test/support/ops.ts';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const N = Number(opt('images', '10000'));
const SOURCES = Number(opt('sources', '50'));
const BACKENDS = opt('backends', 'pglite,postgres').split(',');
const EPOCHS = 100;
const TILES = Math.max(1, Math.round(N / EPOCHS));

function images(): ImageRecord[] {
  const first = tileOf(9.6, -44);
  const out: ImageRecord[] = [];
  for (let t = 0; t < TILES; t++) {
    const tile = first + t;
    const c = tileCentre(tile);
    for (let e = 0; e < EPOCHS && out.length < N; e++) {
      const date = new Date(Date.UTC(2028, 0, 1) + e * 5 * 86_400_000 + t * 1000);
      out.push({
        uri: `/bench/images/${tile}/${e}.fits`,
        checksum: `sha256:${(t * EPOCHS + e).toString(16).padStart(64, '0')}`,
        bytes: 50_000_000,
        filter: 'F158',
        dateObs: date,
        mjd: mjdFromDate(date),
        exptime: 302.3,
        zeroPoint: 32.5,
        gain: 1,
        pointing: e,
        sca: 1,
        width: 4088,
        height: 4088,
        hdu: 1,
        nside: 512,
        tile,
        ra: c.ra,
        dec: c.dec,
        footprint: [c.ra, c.dec, c.ra, c.dec, c.ra, c.dec, c.ra, c.dec],
        tiles: [tile],
      });
    }
  }
  return out;
}

async function mapLimit<T>(items: T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

async function bench(name: string, db: Db, dir: string): Promise<Record<string, unknown>> {
  const store = openStore(join(dir, 'store'));
  const stores = new StoreRouter();
  const recs = images();
  let t = performance.now();
  for (let i = 0; i < recs.length; i += 1000) await insertImages(db, recs.slice(i, i + 1000));
  const ingestRate = recs.length / ((performance.now() - t) / 1000);
  const range = { from: new Date('2027-01-01T00:00:00Z'), to: new Date('2030-01-01T00:00:00Z') };

  // Launch: no-op jobs, one per image.
  t = performance.now();
  const noop = await launch(db, {
    ...range,
    pipeline: 'noop',
    executor: 'none',
    store,
    storeConfig: { root: store.root },
    config: { noop: { catalogRows: SOURCES } },
  });
  const launchSeconds = (performance.now() - t) / 1000;

  // Launch: science planning with references (the second half of the epochs as science images).
  const half = new Date(Date.UTC(2028, 0, 1) + (EPOCHS / 2) * 5 * 86_400_000);
  t = performance.now();
  const sci = await launch(db, {
    from: half,
    to: range.to,
    executor: 'none',
    store,
    storeConfig: { root: store.root },
  });
  const sciSeconds = (performance.now() - t) / 1000;

  // Result records of the no-op jobs (made here, not timed), then aggregation.
  t = performance.now();
  await mapLimit(noop.toRun, 8, async (j) => {
    const r = await runJob(j.manifestUri, { echo: false });
    if (r.exitCode !== 0) throw new Error(`noop job ${j.jobId}: ${r.message}`);
  });
  const runSeconds = (performance.now() - t) / 1000;
  t = performance.now();
  const agg = await aggregate(db, { runId: noop.runId, stores, batchSize: 500 });
  const aggSeconds = (performance.now() - t) / 1000;
  await stores.close();
  await store.close();
  return {
    backend: name,
    images: recs.length,
    ingestRowsPerSecond: Math.round(ingestRate),
    launch: {
      jobs: noop.jobs.toRun,
      seconds: Number(launchSeconds.toFixed(2)),
      jobsPerSecond: Math.round(noop.jobs.toRun / launchSeconds),
      timings: noop.timings,
    },
    launchScience: {
      jobs: sci.jobs.total,
      references: sci.references.planned,
      seconds: Number(sciSeconds.toFixed(2)),
      jobsPerSecond: Math.round(sci.jobs.total / sciSeconds),
      timings: sci.timings,
    },
    noopJobsInProcessPerSecond: Math.round(noop.toRun.length / runSeconds),
    aggregate: {
      records: agg.registered,
      sources: agg.sources,
      seconds: Number(aggSeconds.toFixed(2)),
      recordsPerSecond: Math.round(agg.registered / aggSeconds),
    },
  };
}

for (const backend of BACKENDS) {
  const dir = await mkdtemp(join(tmpdir(), `rapid-bench-${backend}-`));
  let drop: (() => Promise<void>) | undefined;
  try {
    let db: Db;
    if (backend === 'postgres') {
      if (!(await postgresAvailable())) {
        console.error('# PostgreSQL not reachable: skipped (set RAPID_TEST_PG_URL)');
        continue;
      }
      const pg = await freshPostgres();
      drop = pg.drop;
      db = await openDatabase({
        home: dir,
        database: { kind: 'postgres', url: pg.url },
        store: join(dir, 'store'),
      });
    } else {
      db = await openDatabase({
        home: dir,
        database: { kind: 'pglite', dataDir: join(dir, 'db') },
        store: join(dir, 'store'),
      });
    }
    try {
      const r = await bench(backend, db, dir);
      console.log(JSON.stringify(r));
    } finally {
      await db.close();
    }
  } finally {
    await drop?.();
    await rm(dir, { recursive: true, force: true });
  }
}
