/**
 * Association rate: difference-image sources associated into objects per second.
 *
 * - in memory: `associate()` on N detections (N/5 objects seen at 5 epochs each, 0.03″ scatter,
 *   over about one square degree);
 * - through the database: `rapid postprocess`'s association step (`associateRun`) on the same
 *   detections stored as diff_sources of one run: the query, the partition into sky tiles
 *   (nside 512), the matching, the inserts of new objects and the per-object statistics.
 *
 * Goal (issue 9): ≥ 20,000 sources/s on 1 million; RAPID cross-matches about 1,200/s.
 *
 *   node --import tsx bench/associate.ts [--sources 1000000] [--backends pglite,postgres] [--runs 3]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { associate, type Detection } from '../src/associate/associate.ts';
import { SOURCE_NSIDE } from '../src/ops/aggregate.ts';
import { type Db, openDatabase } from '../src/ops/db.ts';
import { associateRun } from '../src/ops/postprocess.ts';
import { Random } from '../src/sim/random.ts';
import { tileOf } from '../src/sky/tiles.ts';
import { freshPostgres, postgresAvailable } from '../test/support/ops.ts';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const N = Number(opt('sources', '1000000'));
const RUNS = Number(opt('runs', '3'));
const BACKENDS = opt('backends', 'pglite,postgres').split(',');
const EPOCHS = 5;
const NSIDE = 512;

function detections(): Detection[] {
  const r = new Random(7);
  const out: Detection[] = [];
  const objects = Math.ceil(N / EPOCHS);
  for (let o = 0; o < objects; o++) {
    const dec = -44.5 + r.uniform();
    const ra = 9 + r.uniform() / Math.cos((dec * Math.PI) / 180);
    for (let e = 0; e < EPOCHS && out.length < N; e++)
      out.push({
        id: out.length + 1,
        ra: ra + (r.normal() * 0.03) / 3600 / Math.cos((dec * Math.PI) / 180),
        dec: dec + (r.normal() * 0.03) / 3600,
        mjd: 62000 + 5 * e,
        weight: 1 + 100 * r.uniform(),
      });
  }
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mb = () => Math.round(process.memoryUsage().rss / 2 ** 20);

/** One run, one image, one job per epoch, and the detections as that job's diff_sources. */
async function load(db: Db, det: Detection[]): Promise<number> {
  await db.exec(
    `INSERT INTO tiles (nside, tile, ra, dec) VALUES (${NSIDE}, 0, 0, 0);
     INSERT INTO runs (id, date_from, date_to, pipeline, executor, proc_date, store)
       VALUES (1, now(), now(), 'science', 'none', '20281128', '/tmp')`,
  );
  await db.query(
    `INSERT INTO images (id, uri, checksum, bytes, filter, date_obs, mjd, exptime, zero_point, gain, width, height, hdu,
       nside, tile, ra, dec, footprint, tiles)
     SELECT e, 'img' || e, 'x', 0, 'F158', now(), 62000 + 5 * e, 1, 26, 1, 10, 10, 0, ${NSIDE}, 0, 0, 0, '{}', '{}'
     FROM generate_series(1, ${EPOCHS}) e`,
  );
  await db.exec(
    `INSERT INTO jobs (id, pipeline, key, stage, image_id, status, output_prefix, manifest_uri, result_uri)
     SELECT e, 'science', 'image:' || e, 2, e, 'succeeded', '', '', '' FROM generate_series(1, ${EPOCHS}) e;
     INSERT INTO run_jobs (run_id, job_id) SELECT 1, e FROM generate_series(1, ${EPOCHS}) e`,
  );
  const t0 = performance.now();
  for (let b = 0; b < det.length; b += 50_000) {
    const part = det.slice(b, b + 50_000);
    const epoch = (d: Detection) => Math.round((d.mjd - 62000) / 5) + 1;
    await db.query(
      `INSERT INTO diff_sources (job_id, image_id, number, ra, dec, hpix, mjd, filter, snr_psf, isdiffpos, vetflags)
       SELECT u.j, u.j, u.n, u.ra, u.dec, u.h, u.m, 'F158', u.s, true, 0
       FROM unnest($1::bigint[], $2::int[], $3::float8[], $4::float8[], $5::bigint[], $6::float8[], $7::float8[])
         AS u(j, n, ra, dec, h, m, s)`,
      [
        part.map(epoch),
        part.map((d) => d.id),
        part.map((d) => d.ra),
        part.map((d) => d.dec),
        part.map((d) => tileOf(d.ra, d.dec, SOURCE_NSIDE)),
        part.map((d) => d.mjd),
        part.map((d) => Math.sqrt(d.weight)),
      ],
    );
  }
  return (performance.now() - t0) / 1000;
}

async function main() {
  const det = detections();
  console.log(
    `association benchmark: ${det.length} detections of ${Math.ceil(N / EPOCHS)} objects at ${EPOCHS} epochs`,
  );
  const memory: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    const a = associate(det, [], 0.2);
    const s = (performance.now() - t0) / 1000;
    memory.push(s);
    if (r === 0) console.log(`  in memory: ${a.objects.length} objects`);
  }
  const tm = median(memory);
  console.log(
    `  in memory: median ${tm.toFixed(2)} s = ${Math.round(det.length / tm)} sources/s (runs ${memory.map((x) => x.toFixed(2)).join(', ')}); RSS ${mb()} MB`,
  );
  for (const backend of BACKENDS) {
    if (backend === 'postgres' && !(await postgresAvailable())) {
      console.log('  postgres: skipped (server not reachable)');
      continue;
    }
    const times: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      let db: Db;
      let cleanup: () => Promise<void>;
      if (backend === 'pglite') {
        const dir = await mkdtemp(join(tmpdir(), 'rapid-bench-assoc-'));
        db = await openDatabase({
          database: { kind: 'pglite', dataDir: dir },
          store: dir,
        } as Parameters<typeof openDatabase>[0]);
        cleanup = () => rm(dir, { recursive: true, force: true });
      } else {
        const pg = await freshPostgres();
        db = await openDatabase({ database: { kind: 'postgres', url: pg.url }, store: '/tmp' } as Parameters<
          typeof openDatabase
        >[0]);
        cleanup = pg.drop;
      }
      try {
        const loadSeconds = await load(db, det);
        const t0 = performance.now();
        const s = await associateRun(db, 1, 0.2, {
          allSources: false,
          namePrefix: 'RAPID',
          methods: ['zogy'],
        });
        const seconds = (performance.now() - t0) / 1000;
        times.push(seconds);
        console.log(
          `  ${backend} run ${r + 1}: ${s.sources} sources, ${s.tiles} tiles, ${s.seamSources} at tile edges, ${s.newObjects} objects in ${seconds.toFixed(1)} s (loading took ${loadSeconds.toFixed(1)} s); RSS ${mb()} MB`,
        );
      } finally {
        await db.close();
        await cleanup();
      }
    }
    const t = median(times);
    console.log(
      `  ${backend}: median ${t.toFixed(1)} s = ${Math.round(det.length / t)} sources/s (goal ≥ 20,000)`,
    );
  }
}

await main();
