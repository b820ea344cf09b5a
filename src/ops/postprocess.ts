/**
 * Post-processing of a run, after aggregation (architecture.md, step 5):
 *
 * 1. Header stamping: the database ids (JOBID, SCIIMID, REFIMID, DIFIMID) go into the primary
 *    header of every FITS product of the run's science jobs; the products' checksums, the
 *    products table and the result record are updated to match. Stamping again changes nothing.
 * 2. Association: the run's vetted difference-image sources join objects within the
 *    cross-match radius, one sky tile at a time (tiles are independent); sources near a tile
 *    edge are associated last, against the objects of every tile they touch. Object positions
 *    and per-filter statistics are then recomputed in the database from all their detections.
 * 3. Forced photometry and cutouts, as jobs (stage 3, pipeline `postprocess`), one per difference
 *    image that covers an object touched by the run: the executor runs them and the aggregator
 *    registers their `forced.fits` rows. A job whose inputs are unchanged is not run again.
 * 4. The PSF model's floor: the jobs' checks of PSF fluxes against apertures, pooled over every
 *    image of a filter (psfFluxFloor; checks of objects detected twice or more, so that no cosmic
 *    ray counts), give the models' relative flux error; each forced error
 *    becomes the job's error (flux_err_fit) and that share of the flux in quadrature. Computed
 *    from the stored checks every time, so running again changes nothing.
 *
 * Everything here is catalog and bookkeeping work; pixels are touched only by the jobs.
 */

import { alertName } from '../alerts/names.ts';
import { type Association, associate, type Detection, seamTiles } from '../associate/associate.ts';
import { LocalExecutor } from '../exec/local.ts';
import type { ExecutorSummary } from '../exec/types.ts';
import { setHeaderCards } from '../fits/edit.ts';
import { type ApertureRatio, type PsfFluxFloor, psfFluxFloor } from '../image/forced.ts';
import { canonicalJson, configHash, parseResult, toJson, validateManifest } from '../pipeline/manifest.ts';
import {
  MANIFEST_VERSION,
  type PostprocessManifest,
  type ProductRecord,
  RESULT_NAME,
  SCIENCE_PRODUCTS,
  SOFTWARE,
  type StoreConfig,
} from '../pipeline/types.ts';
import { tileOf } from '../sky/tiles.ts';
import type { StoreRouter } from '../store/router.ts';
import type { ObjectStore } from '../store/store.ts';
import { sha256 } from '../store/store.ts';
import { ExitCode, MissingInputError, RapidError, UsageError } from '../util/errors.ts';
import { aggregate, SOURCE_NSIDE } from './aggregate.ts';
import type { Db, Queryable } from './db.ts';
import { type ImageRow, imageInput } from './launch.ts';
import { executeJobs, type JobProgress } from './run.ts';
import { dateFromMjd, procDate as procDateOf } from './time.ts';

export const DEFAULT_MATCH_RADIUS = 0.2;

export interface PostprocessOptions {
  /** The run (default: the latest). */
  runId?: number;
  store: ObjectStore;
  storeConfig: StoreConfig;
  stores: StoreRouter;
  /** Cross-match radius, arcseconds (default 0.2). */
  radiusArcsec?: number;
  /** Associate every source, not only those that pass the vetting cuts. */
  allSources?: boolean;
  /**
   * Whose difference-image sources become objects (and their cutouts): ZOGY's (default), SFFT's,
   * or both (one detection per method and image then).
   */
  method?: 'zogy' | 'sfft' | 'both';
  /** local (default) runs the forced-photometry jobs; none only plans them (status queued). */
  executor?: 'local' | 'none';
  concurrency?: number;
  /** Extra arguments for each job (e.g. --s3-endpoint URL). */
  jobArgs?: string[];
  /** Object name prefix (default RAPID: RAPID2028abc). */
  namePrefix?: string;
  /** Progress of the forced-photometry jobs. */
  onProgress?: JobProgress;
  procDate?: string;
}

export interface PostprocessSummary {
  run: number;
  stamped: { jobs: number; products: number };
  association: {
    radiusArcsec: number;
    sources: number;
    tiles: number;
    seamSources: number;
    newObjects: number;
    updatedObjects: number;
  };
  forced: {
    planned: number;
    unchanged: number;
    executed?: ExecutorSummary;
    registered: number;
    measurements: number;
    /** Per filter: the PSF model's relative flux error added to forced errors, and its checks. */
    psfFloor?: Record<string, PsfFluxFloor>;
  };
  seconds: { stamp: number; associate: number; forced: number };
  exitCode: number;
}

/** An object's name: the prefix, the year of its first detection and a base-26 counter (its id). */
export function objectName(prefix: string, firstMjd: number, id: number): string {
  return alertName(prefix, dateFromMjd(firstMjd).getUTCFullYear(), id);
}

/** The run asked for, or the latest; 66 when there is none. */
export async function resolveRun(db: Queryable, runId?: number): Promise<number> {
  const rows = await db.query<{ id: number }>(
    runId === undefined ? 'SELECT max(id) AS id FROM runs' : 'SELECT id FROM runs WHERE id = $1',
    runId === undefined ? [] : [runId],
  );
  const id = rows[0]?.id;
  if (id === null || id === undefined)
    throw new MissingInputError(
      runId === undefined ? 'no runs in the database yet; run `rapid launch` first' : `no run ${runId}`,
    );
  return Number(id);
}

/** diff_sources.method values of a --method choice. */
function sourceMethods(method: PostprocessOptions['method']): string[] {
  return method === 'both' ? ['zogy', 'sfft'] : [method ?? 'zogy'];
}

export async function postprocess(db: Db, o: PostprocessOptions): Promise<PostprocessSummary> {
  const radius = o.radiusArcsec ?? DEFAULT_MATCH_RADIUS;
  if (!(radius > 0 && radius <= 60))
    throw new UsageError(`--radius must be in (0, 60] arcsec, got ${radius}`);
  const run = await resolveRun(db, o.runId);
  const t0 = performance.now();
  const stamped = await stampHeaders(db, o.stores, run);
  const t1 = performance.now();
  const association = await associateRun(db, run, radius, {
    allSources: o.allSources ?? false,
    methods: sourceMethods(o.method),
    namePrefix: o.namePrefix ?? 'RAPID',
  });
  const t2 = performance.now();
  const forced = await forcedPhotometry(db, run, o);
  forced.psfFloor = await applyPsfFloor(db);
  const t3 = performance.now();
  const failed = forced.executed ? forced.executed.failed + forced.executed.interrupted : 0;
  return {
    run,
    stamped,
    association,
    forced,
    seconds: { stamp: (t1 - t0) / 1000, associate: (t2 - t1) / 1000, forced: (t3 - t2) / 1000 },
    exitCode: forced.executed?.stopped ? ExitCode.TEMPORARY : failed > 0 ? ExitCode.INTERNAL : ExitCode.OK,
  };
}

// ---- 1. header stamping ----------------------------------------------------------------------

interface StampJob {
  id: number;
  image_id: number;
  refimage_id: number | null;
  result_uri: string;
}

/** The ids written into each science product's primary header. */
function stampCards(job: StampJob, differenceId: number | null) {
  const cards = [
    { key: 'JOBID', value: Number(job.id), comment: 'database id of the science job' },
    { key: 'SCIIMID', value: Number(job.image_id), comment: 'database id of the science image' },
  ];
  if (job.refimage_id !== null)
    cards.push({ key: 'REFIMID', value: Number(job.refimage_id), comment: 'database id of the reference' });
  if (differenceId !== null)
    cards.push({ key: 'DIFIMID', value: differenceId, comment: 'database id of the difference image' });
  return cards;
}

export async function stampHeaders(
  db: Db,
  stores: StoreRouter,
  runId: number,
): Promise<{ jobs: number; products: number }> {
  const jobs = await db.query<StampJob>(
    `SELECT j.id, j.image_id, j.refimage_id, j.result_uri FROM jobs j JOIN run_jobs rj ON rj.job_id = j.id
     WHERE rj.run_id = $1 AND j.pipeline = 'science' AND j.status = 'succeeded'
       AND j.aggregated_at IS NOT NULL AND j.stamped_at IS NULL ORDER BY j.id`,
    [runId],
  );
  let products = 0;
  for (const job of jobs) {
    const rows = await db.query<{ id: number; kind: string; uri: string; checksum: string }>(
      'SELECT id, kind, uri, checksum FROM products WHERE job_id = $1 ORDER BY id',
      [job.id],
    );
    const diff = rows.find((p) => p.uri.endsWith(`/${SCIENCE_PRODUCTS.diffimage}`));
    const cards = stampCards(job, diff ? Number(diff.id) : null);
    const changed = new Map<string, { checksum: string; bytes: number }>();
    for (const p of rows) {
      if (!p.uri.endsWith('.fits')) continue;
      const store = stores.for(p.uri);
      // No checksum on this read: after a stamping that stopped half-way the file may already
      // be stamped; its header then has the values and is left as it is.
      const bytes = await store.get(p.uri);
      const stamped = setHeaderCards(bytes, 0, cards, p.uri);
      if (stamped !== bytes) await store.put(p.uri, stamped);
      const checksum = sha256(stamped);
      if (checksum !== p.checksum) changed.set(p.uri, { checksum, bytes: stamped.length });
      products++;
    }
    // The result record lists the products with their checksums: it is rewritten to match.
    const rstore = stores.for(job.result_uri);
    const result = parseResult(
      Buffer.from(await rstore.get(job.result_uri)).toString('utf8'),
      job.result_uri,
    );
    result.products = result.products.map((p: ProductRecord) => ({ ...p, ...(changed.get(p.uri) ?? {}) }));
    const text = `${JSON.stringify(result, null, 2)}\n`;
    await rstore.put(job.result_uri, text, { contentType: 'application/json' });
    await db.transaction(async (tx) => {
      for (const [uri, c] of changed)
        await tx.query('UPDATE products SET checksum = $3, bytes = $4 WHERE job_id = $1 AND uri = $2', [
          job.id,
          uri,
          c.checksum,
          c.bytes,
        ]);
      await tx.query(
        'UPDATE jobs SET stamped_at = now(), result_checksum = $2, updated_at = now() WHERE id = $1',
        [job.id, sha256(Buffer.from(text))],
      );
    });
  }
  return { jobs: jobs.length, products };
}

// ---- 2. association --------------------------------------------------------------------------

interface DetectionRow {
  id: number;
  ra: number;
  dec: number;
  mjd: number | null;
  snr_psf: number | null;
  scorr_peak: number | null;
}

interface ObjectRow {
  id: number;
  ra: number;
  dec: number;
  weight: number;
}

/** Weight of a detection's position: (S/N)², from the PSF fit or else from Scorr. */
function weightOf(s: DetectionRow): number {
  const snr = Number.isFinite(s.snr_psf) && s.snr_psf !== 0 ? s.snr_psf! : (s.scorr_peak ?? 1);
  return Math.max(snr * snr, 1e-6);
}

/** The tiles' nside: that of the run's images (the tile a source falls in is its hpix's parent). */
async function runNside(db: Queryable, runId: number): Promise<number> {
  const r = await db.query<{ nside: number }>(
    `SELECT i.nside FROM jobs j JOIN run_jobs rj ON rj.job_id = j.id JOIN images i ON i.id = j.image_id
     WHERE rj.run_id = $1 GROUP BY i.nside ORDER BY count(*) DESC LIMIT 1`,
    [runId],
  );
  return r[0] ? Number(r[0].nside) : 64;
}

export async function associateRun(
  db: Db,
  runId: number,
  radiusArcsec: number,
  o: { allSources: boolean; namePrefix: string; methods: string[] },
): Promise<PostprocessSummary['association']> {
  const nside = await runNside(db, runId);
  const shift = 2n * BigInt(Math.round(Math.log2(SOURCE_NSIDE / nside)));
  const sources = await db.query<DetectionRow & { hpix: string | number }>(
    `SELECT s.id, s.ra, s.dec, s.mjd, s.snr_psf, s.scorr_peak, s.hpix FROM diff_sources s
     JOIN run_jobs rj ON rj.job_id = s.job_id
     WHERE rj.run_id = $1 AND s.object_id IS NULL AND ($2 OR coalesce(s.vetflags, 0) = 0)
       AND s.method = ANY($3::text[])
     ORDER BY s.id`,
    [runId, o.allSources, o.methods],
  );
  const tileOfSource = (s: { hpix: string | number }) => Number(BigInt(s.hpix) >> shift);
  const byTile = new Map<number, DetectionRow[]>();
  const seam: DetectionRow[] = [];
  const seamTileSet = new Set<number>();
  for (const s of sources) {
    const tiles = seamTiles(s.ra, s.dec, radiusArcsec, (ra, dec) => tileOf(ra, dec, nside));
    if (tiles.length > 1) {
      seam.push(s);
      for (const t of tiles) seamTileSet.add(t);
      continue;
    }
    const t = tileOfSource(s);
    const list = byTile.get(t);
    if (list) list.push(s);
    else byTile.set(t, [s]);
  }
  let newObjects = 0;
  const touched = new Set<number>();
  // Tiles are associated independently; their results are written in batches (one transaction
  // per batch of about 100,000 sources) because a round trip per tile costs more than the work.
  let pending: { a: Association; members: DetectionRow[]; detections: Detection[] }[] = [];
  let pendingSources = 0;
  const flush = async () => {
    if (pending.length === 0) return;
    newObjects += await writeAssociation(db, nside, pending, touched);
    pending = [];
    pendingSources = 0;
  };
  // The objects already known in these tiles, read in one query.
  const knownOf = new Map<number, ObjectRow[]>();
  for (const k of await db.query<ObjectRow & { tile: number }>(
    'SELECT id, ra, dec, weight, tile FROM objects WHERE nside = $1 AND tile = ANY($2::bigint[])',
    [nside, [...byTile.keys()]],
  ))
    knownOf.set(Number(k.tile), [...(knownOf.get(Number(k.tile)) ?? []), k]);
  const runTiles = async (tiles: number[], members: DetectionRow[], loaded: boolean) => {
    const known = loaded
      ? tiles.flatMap((t) => knownOf.get(t) ?? [])
      : await db.query<ObjectRow>(
          'SELECT id, ra, dec, weight FROM objects WHERE nside = $1 AND tile = ANY($2::bigint[])',
          [nside, tiles],
        );
    const detections: Detection[] = members.map((s) => ({
      id: Number(s.id),
      ra: s.ra,
      dec: s.dec,
      mjd: s.mjd ?? 0,
      weight: weightOf(s),
    }));
    const a = associate(
      detections,
      known.map((k) => ({ id: Number(k.id), ra: k.ra, dec: k.dec, weight: k.weight })),
      radiusArcsec,
    );
    pending.push({ a, members, detections });
    pendingSources += members.length;
    if (pendingSources >= 100_000) await flush();
  };
  for (const [tile, members] of byTile) await runTiles([tile], members, true);
  await flush();
  // Sources at tile edges last, against the objects (now stored) of every tile they touch.
  if (seam.length > 0) await runTiles([...seamTileSet], seam, false);
  await flush();
  const updated = await refreshObjects(db, [...touched], nside, o.namePrefix);
  return {
    radiusArcsec,
    sources: sources.length,
    tiles: byTile.size,
    seamSources: seam.length,
    newObjects,
    updatedObjects: updated - newObjects,
  };
}

/** Insert the new objects and point the sources at their objects; resolves to the number inserted. */
async function writeAssociation(
  db: Db,
  nside: number,
  batch: { a: Association; members: DetectionRow[]; detections: Detection[] }[],
  touched: Set<number>,
): Promise<number> {
  const fresh = batch.flatMap(({ a, detections }) =>
    a.objects.filter((x) => x.id === undefined).map((x) => ({ x, detections })),
  );
  return db.transaction(async (tx) => {
    if (fresh.length > 0) {
      const ids = await tx.query<{ id: number }>(
        "SELECT nextval(pg_get_serial_sequence('objects', 'id')) AS id FROM generate_series(1, $1)",
        [fresh.length],
      );
      fresh.forEach(({ x }, i) => {
        x.id = Number(ids[i].id);
      });
      await tx.query(
        `INSERT INTO objects (id, nside, tile, ra, dec, weight, n_detections, first_mjd, last_mjd)
         SELECT u.id, $1, u.tile, u.ra, u.dec, u.weight, u.n, u.first, u.last
         FROM unnest($2::bigint[], $3::bigint[], $4::float8[], $5::float8[], $6::float8[], $7::int[], $8::float8[],
           $9::float8[]) AS u(id, tile, ra, dec, weight, n, first, last)`,
        [
          nside,
          fresh.map(({ x }) => x.id),
          fresh.map(({ x }) => tileOf(x.ra, x.dec, nside)),
          fresh.map(({ x }) => x.ra),
          fresh.map(({ x }) => x.dec),
          fresh.map(({ x }) => x.weight),
          fresh.map(({ x }) => x.members.length),
          fresh.map(({ x, detections }) => detections[x.members[0]].mjd),
          fresh.map(({ x, detections }) => detections[x.members[x.members.length - 1]].mjd),
        ],
      );
    }
    const sourceIds: number[] = [];
    const objectIds: number[] = [];
    for (const { a, members } of batch)
      members.forEach((s, i) => {
        sourceIds.push(Number(s.id));
        objectIds.push(a.objects[a.objectOf[i]].id!);
      });
    for (const id of objectIds) touched.add(id);
    await tx.query(
      `UPDATE diff_sources SET object_id = u.object FROM unnest($1::bigint[], $2::bigint[]) AS u(id, object)
       WHERE diff_sources.id = u.id`,
      [sourceIds, objectIds],
    );
    return fresh.length;
  });
}

/**
 * Recompute objects from all their detections (position as the S/N²-weighted mean direction,
 * counts, first and last detection, per-filter flux statistics), their tile, and names for new
 * ones. Resolves to the number of objects refreshed.
 */
async function refreshObjects(db: Db, ids: number[], nside: number, prefix: string): Promise<number> {
  if (ids.length === 0) return 0;
  await db.query(
    `WITH m AS (
       SELECT object_id, coalesce(filter, 'unknown') AS filter, mjd, flux_psf, mag_psf, ra, dec,
         greatest(coalesce(nullif(snr_psf, 'NaN'), scorr_peak, 1) ^ 2, 1e-6) AS w
       FROM diff_sources WHERE object_id = ANY($1::bigint[])),
     pos AS (
       SELECT object_id, sum(w * cos(radians(dec)) * cos(radians(ra))) AS sx,
         sum(w * cos(radians(dec)) * sin(radians(ra))) AS sy, sum(w * sin(radians(dec))) AS sz,
         sum(w) AS sw, count(*) AS n, min(mjd) AS first, max(mjd) AS last
       FROM m GROUP BY object_id),
     flt AS (
       SELECT object_id, jsonb_object_agg(filter, s) AS stats FROM (
         SELECT object_id, filter, jsonb_build_object('n', count(*), 'fluxMean', avg(flux_psf),
           'fluxSigma', stddev_samp(flux_psf), 'fluxMin', min(flux_psf), 'fluxMax', max(flux_psf),
           'magMin', min(mag_psf), 'magMax', max(mag_psf), 'firstMjd', min(mjd), 'lastMjd', max(mjd)) AS s
         FROM m GROUP BY object_id, filter) x
       GROUP BY object_id)
     UPDATE objects o SET ra = mod(degrees(atan2(pos.sy, pos.sx))::numeric + 360, 360)::float8,
       dec = degrees(atan2(pos.sz, sqrt(pos.sx * pos.sx + pos.sy * pos.sy))), weight = pos.sw,
       n_detections = pos.n, first_mjd = coalesce(pos.first, o.first_mjd), last_mjd = coalesce(pos.last, o.last_mjd),
       stats = flt.stats, updated_at = now()
     FROM pos JOIN flt USING (object_id) WHERE o.id = pos.object_id`,
    [ids],
  );
  const rows = await db.query<{
    id: number;
    ra: number;
    dec: number;
    tile: number;
    name: string | null;
    first_mjd: number;
  }>('SELECT id, ra, dec, tile, name, first_mjd FROM objects WHERE id = ANY($1::bigint[])', [ids]);
  const moved = rows.filter((r) => tileOf(r.ra, r.dec, nside) !== Number(r.tile) || r.name === null);
  if (moved.length > 0)
    await db.query(
      `UPDATE objects SET tile = u.tile, name = coalesce(objects.name, u.name)
       FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS u(id, tile, name) WHERE objects.id = u.id`,
      [
        moved.map((r) => Number(r.id)),
        moved.map((r) => tileOf(r.ra, r.dec, nside)),
        moved.map((r) => objectName(prefix, r.first_mjd, Number(r.id))),
      ],
    );
  return rows.length;
}

// ---- 3. forced photometry and cutouts, as jobs ------------------------------------------------

interface DiffJobRow extends ImageRow {
  job_id: number;
  image_tiles: (string | number)[];
}

async function forcedPhotometry(
  db: Db,
  runId: number,
  o: PostprocessOptions,
): Promise<PostprocessSummary['forced']> {
  // The difference images to measure: the run's, and every earlier one covering an object the
  // run touched (so each light curve has every epoch). Candidates by tile; the job checks the WCS.
  const diffJobs = await db.query<DiffJobRow>(
    `WITH touched AS (
       SELECT DISTINCT o.nside, o.tile FROM objects o JOIN diff_sources s ON s.object_id = o.id
       JOIN run_jobs rj ON rj.job_id = s.job_id WHERE rj.run_id = $1)
     SELECT j.id AS job_id, i.*, i.tiles AS image_tiles FROM jobs j JOIN images i ON i.id = j.image_id
     WHERE j.pipeline = 'science' AND j.status = 'succeeded' AND j.aggregated_at IS NOT NULL
       AND (j.id IN (SELECT job_id FROM run_jobs WHERE run_id = $1)
            OR EXISTS (SELECT 1 FROM touched t WHERE t.nside = i.nside AND t.tile = ANY(i.tiles)))
     ORDER BY j.id`,
    [runId],
  );
  const summary: PostprocessSummary['forced'] = { planned: 0, unchanged: 0, registered: 0, measurements: 0 };
  if (diffJobs.length === 0) return summary;
  const products = await db.query<{ job_id: number; uri: string; checksum: string }>(
    'SELECT job_id, uri, checksum FROM products WHERE job_id = ANY($1::bigint[])',
    [diffJobs.map((j) => Number(j.job_id))],
  );
  const productOf = new Map<string, { uri: string; checksum: string }>();
  for (const p of products) productOf.set(`${p.job_id}/${p.uri.slice(p.uri.lastIndexOf('/') + 1)}`, p);
  const procDate = o.procDate ?? procDateOf();
  const created = new Date().toISOString();
  const planned: {
    job: DiffJobRow;
    manifest: Omit<PostprocessManifest, 'jobId' | 'outputPrefix'>;
    hash: string;
  }[] = [];
  for (const j of diffJobs) {
    const objects = await db.query<{ id: number; ra: number; dec: number }>(
      'SELECT id, ra, dec FROM objects WHERE nside = $1 AND tile = ANY($2::bigint[]) ORDER BY id',
      [j.nside, j.image_tiles.map(Number)],
    );
    const cutouts = await db.query<{ id: number; x: number; y: number }>(
      `SELECT id, x_image - 1 AS x, y_image - 1 AS y FROM diff_sources
       WHERE job_id = $1 AND coalesce(vetflags, 0) = 0 AND x_image IS NOT NULL AND method = ANY($2::text[])
       ORDER BY id`,
      [j.job_id, sourceMethods(o.method)],
    );
    if (objects.length === 0 && cutouts.length === 0) continue;
    const need = (name: string) => {
      const p = productOf.get(`${j.job_id}/${name}`);
      if (!p)
        throw new RapidError(
          `science job ${j.job_id} has no ${name} registered; run \`rapid aggregate\``,
          66,
        );
      return { uri: p.uri, checksum: p.checksum };
    };
    const body = {
      diffJobId: Number(j.job_id),
      science: imageInput(j),
      difference: need(SCIENCE_PRODUCTS.diffimage),
      uncertainty: need(SCIENCE_PRODUCTS.diffimage_uncert),
      psf: need(SCIENCE_PRODUCTS.diffpsf),
      template: need(SCIENCE_PRODUCTS.refimage_resampled),
      objects: objects.map((x) => ({ objectId: Number(x.id), ra: x.ra, dec: x.dec })),
      cutouts: cutouts.map((c) => ({ sourceId: Number(c.id), x: c.x, y: c.y })),
    };
    const hash = sha256(Buffer.from(canonicalJson(body)));
    const config = { inputsHash: hash };
    planned.push({
      job: j,
      hash,
      manifest: {
        version: MANIFEST_VERSION,
        runId,
        procDate,
        store: o.storeConfig,
        config,
        configHash: configHash(config),
        created,
        software: SOFTWARE,
        pipeline: 'postprocess',
        ...body,
      },
    });
  }
  // Jobs whose last run measured exactly these inputs are left alone.
  const existing = await db.query<{ key: string; status: string; hash: string | null }>(
    `SELECT key, status, qa->>'inputsHash' AS hash FROM jobs WHERE pipeline = 'postprocess' AND key = ANY($1::text[])`,
    [planned.map((p) => `postprocess:${p.job.job_id}`)],
  );
  const done = new Set(
    existing.filter((e) => e.status === 'succeeded' && e.hash !== null).map((e) => `${e.key}=${e.hash}`),
  );
  const todo = planned.filter((p) => !done.has(`postprocess:${p.job.job_id}=${p.hash}`));
  summary.unchanged = planned.length - todo.length;
  summary.planned = todo.length;
  if (todo.length === 0) return summary;
  const root = o.store.root;
  const rows = await db.query<{
    id: number;
    key: string;
    manifest_uri: string;
    result_uri: string;
    output_prefix: string;
  }>(
    `INSERT INTO jobs (id, pipeline, key, stage, image_id, depends_on, status, run_id, executor, output_prefix,
       manifest_uri, result_uri)
     SELECT s.id, 'postprocess', s.key, 3, s.image_id, s.depends_on, 'queued', $4, $5,
       $6 || '/' || $7 || '/jid' || s.id || '/', $6 || '/' || $7 || '/jid' || s.id || '/manifest.json',
       $6 || '/' || $7 || '/jid' || s.id || '/${RESULT_NAME}'
     FROM (SELECT nextval(pg_get_serial_sequence('jobs', 'id')) AS id, u.*
           FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS u(key, image_id, depends_on)) s
     ON CONFLICT (pipeline, key) DO UPDATE SET status = 'queued', exit_code = NULL, message = NULL, run_id = $4,
       executor = $5, depends_on = EXCLUDED.depends_on, qa = NULL, counts = NULL, steps = NULL, started_at = NULL,
       ended_at = NULL, aggregated_at = NULL, result_checksum = NULL, updated_at = now()
     RETURNING id, key, manifest_uri, result_uri, output_prefix`,
    [
      todo.map((p) => `postprocess:${p.job.job_id}`),
      todo.map((p) => Number(p.job.id)),
      todo.map((p) => Number(p.job.job_id)),
      runId,
      o.executor ?? 'local',
      root,
      procDate,
    ],
  );
  await db.query(
    `INSERT INTO run_jobs (run_id, job_id) SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING`,
    [runId, rows.map((r) => Number(r.id))],
  );
  const byKey = new Map(rows.map((r) => [r.key, r]));
  const jobs = [];
  for (const p of todo) {
    const r = byKey.get(`postprocess:${p.job.job_id}`)!;
    const m = validateManifest(
      JSON.parse(toJson({ ...p.manifest, jobId: Number(r.id), outputPrefix: r.output_prefix })),
      r.manifest_uri,
    );
    // The record of an earlier measurement (same run, other inputs) must not pass for this one's.
    await o.store.delete(r.result_uri);
    await o.store.put(r.manifest_uri, `${JSON.stringify(m, null, 2)}\n`, { contentType: 'application/json' });
    jobs.push({
      jobId: Number(r.id),
      pipeline: 'postprocess' as const,
      stage: 3 as const,
      manifestUri: r.manifest_uri,
      resultUri: r.result_uri,
    });
  }
  if ((o.executor ?? 'local') === 'none') return summary;
  const executor = new LocalExecutor({ concurrency: o.concurrency, jobArgs: o.jobArgs ?? [] });
  summary.executed = await executeJobs(db, executor, jobs, { onProgress: o.onProgress });
  const agg = await aggregate(db, { runId, stores: o.stores });
  summary.registered = agg.registered;
  const n = await db.query<{ n: number }>(
    'SELECT count(*) AS n FROM forced_sources WHERE job_id = ANY($1::bigint[])',
    [jobs.map((j) => j.jobId)],
  );
  summary.measurements = Number(n[0].n);
  return summary;
}

// ---- 4. the PSF model's floor ------------------------------------------------------------------

/** Detections an object needs before its aperture checks count towards the floor. */
export const FLOOR_MIN_DETECTIONS = 2;

/**
 * Pool the aperture checks per filter and set every forced error to the job's (+) the floor.
 *
 * Only the checks of objects detected at FLOOR_MIN_DETECTIONS epochs or more count: the floor is
 * the PSF model's error on point sources of the sky, and an object seen once may be a cosmic ray
 * (single-epoch by nature), which no PSF fits. On the demo survey (5 transients per image,
 * unmasked cosmic-ray tracks passing the vetting cuts) 75 of 83 checks were of objects seen once,
 * with PSF fluxes up to 66% off their apertures: the floor was 19% (F158) and 38% (F106).
 */
async function applyPsfFloor(db: Db): Promise<Record<string, PsfFluxFloor>> {
  const rows = await db.query<{ filter: string; ap_ratio: number; ap_var: number }>(
    `SELECT f.filter, f.ap_ratio, f.ap_var FROM forced_sources f JOIN objects o ON o.id = f.object_id
     WHERE f.ap_ratio IS NOT NULL AND f.ap_ratio = f.ap_ratio AND f.ap_var IS NOT NULL AND f.ap_var = f.ap_var
       AND o.n_detections >= $1`,
    [FLOOR_MIN_DETECTIONS],
  );
  const byFilter = new Map<string, ApertureRatio[]>();
  for (const r of rows)
    byFilter.set(r.filter, [...(byFilter.get(r.filter) ?? []), { ratio: r.ap_ratio, variance: r.ap_var }]);
  const floors: Record<string, PsfFluxFloor> = {};
  for (const [filter, checks] of byFilter) floors[filter] = psfFluxFloor(checks);
  const filters = Object.keys(floors);
  // Only rows whose error changes are written: at survey scale most keep theirs from run to run.
  await db.query(
    `UPDATE forced_sources f SET flux_err = e.err
     FROM (SELECT s.id, sqrt(s.flux_err_fit ^ 2 + (coalesce(u.fraction, 0) * coalesce(s.flux, 0)) ^ 2) AS err
           FROM forced_sources s
           LEFT JOIN unnest($1::text[], $2::float8[]) AS u(filter, fraction) ON u.filter = s.filter
           WHERE s.flux_err_fit IS NOT NULL) e
     WHERE f.id = e.id AND f.flux_err IS DISTINCT FROM e.err`,
    [filters, filters.map((k) => floors[k].fraction)],
  );
  return floors;
}
