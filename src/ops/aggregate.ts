/**
 * Aggregate: read the result records of launched jobs and register what they produced, in
 * batches: for each batch, the result records (and difference-image catalogs) are read from the
 * store, then one transaction replaces the batch's products and sources with multi-row
 * statements and marks its jobs aggregated. A crash (even SIGKILL) loses at most the batch in
 * flight, which the next run registers again: the rows end up exactly right. Running it again
 * when nothing is new changes nothing.
 *
 * Jobs without a result record yet (still running, or died before writing one) are left for a
 * later run, and so are jobs whose result record was left by an earlier launch (its run id is not
 * the job's current one). A result record or catalog that cannot be read is reported, and its job left
 * unaggregated.
 */
import { type DiffCatalogRow, decodeDiffCatalog } from '../pipeline/catalog.ts';
import { decodeForcedTable, type ForcedRow } from '../pipeline/forcedcat.ts';
import { parseResult, toJson } from '../pipeline/manifest.ts';
import { type ResultRecord, SCIENCE_PRODUCTS } from '../pipeline/types.ts';
import { tileOf } from '../sky/tiles.ts';
import { isInside } from '../store/confine.ts';
import type { StoreRouter } from '../store/router.ts';
import { sha256 } from '../store/store.ts';
import { ExitCode, RapidError } from '../util/errors.ts';
import { mapLimit } from '../util/map-limit.ts';
import type { Db } from './db.ts';

/** HEALPix nside of diff_sources.hpix (about 13″ cells). */
export const SOURCE_NSIDE = 16384;

export interface AggregateOptions {
  runId?: number;
  stores: StoreRouter;
  batchSize?: number;
  /** Result records read at once. */
  concurrency?: number;
  onBatch?: (p: { done: number; total: number; registered: number }) => void;
  onProblem?: (p: { jobId: number; uri: string; error: string }) => void;
}

export interface AggregateSummary {
  /** Jobs that were waiting for aggregation. */
  pending: number;
  registered: number;
  /** Jobs with no result record yet. */
  missing: number;
  /**
   * Jobs whose result record is left from an earlier launch (another run id): not registered;
   * the job's record of its current launch is awaited.
   */
  stale: number;
  unreadable: number;
  products: number;
  /** ZOGY's difference-image sources registered (the primary catalog). */
  sources: number;
  /** SFFT's, registered beside them (diff_sources.method = 'sfft'). */
  sfftSources: number;
  batches: number;
}

interface PendingJob {
  id: number;
  /** The run that launched the job last: only a result record of that run is its result. */
  run_id: number;
  /** That run's store root: every product a result record names must lie inside it. */
  store_root: string | null;
  pipeline: string;
  result_uri: string;
  image_id: number | null;
  refimage_id: number | null;
  mjd: number | null;
  filter: string | null;
  /** For a post-processing job: the science job it measured. */
  depends_on: number | null;
}

interface Loaded {
  job: PendingJob;
  result: ResultRecord;
  checksum: string;
  sources: (DiffCatalogRow & { method: SubtractionMethodName })[];
  forced: ForcedRow[];
}

/** The subtraction method whose catalog a registered source came from (diff_sources.method). */
export type SubtractionMethodName = 'zogy' | 'sfft';

/** The difference-image catalog among a job's products: by its kind, or by its file name. */
export function isDiffCatalog(p: { kind: string; uri: string }): boolean {
  return (
    p.kind === 'diffcat' || p.kind === 'difference-catalog' || p.uri.endsWith(`/${SCIENCE_PRODUCTS.diffcat}`)
  );
}

/** SFFT's difference-image catalog among a job's products (science jobs that ran SFFT). */
export function isSfftCatalog(p: { kind: string; uri: string }): boolean {
  return p.kind === 'sfft_diffcat' || p.uri.endsWith(`/${SCIENCE_PRODUCTS.sfft_diffcat}`);
}

/**
 * Jobs waiting for aggregation. Jobs that failed without ever starting (exit 33 at launch, or a
 * reference job that failed) have no result record and are not waiting.
 */
async function pendingJobs(db: Db, runId: number | undefined): Promise<PendingJob[]> {
  return db.query<PendingJob>(
    `SELECT j.id, j.run_id, r.store AS store_root, j.pipeline, j.result_uri, j.image_id, j.refimage_id, i.mjd,
       i.filter, j.depends_on
     FROM jobs j LEFT JOIN images i ON i.id = j.image_id LEFT JOIN runs r ON r.id = j.run_id
     WHERE j.aggregated_at IS NULL
       AND NOT (j.status = 'failed' AND j.started_at IS NULL)
       AND ($1::bigint IS NULL OR j.id IN (SELECT job_id FROM run_jobs WHERE run_id = $1))
     ORDER BY j.id`,
    [runId ?? null],
  );
}

export async function aggregate(db: Db, o: AggregateOptions): Promise<AggregateSummary> {
  const batchSize = o.batchSize ?? 200;
  const jobs = await pendingJobs(db, o.runId);
  const s: AggregateSummary = {
    pending: jobs.length,
    registered: 0,
    missing: 0,
    stale: 0,
    unreadable: 0,
    products: 0,
    sources: 0,
    sfftSources: 0,
    batches: 0,
  };
  const load = async (batch: PendingJob[]) =>
    mapLimit(batch, o.concurrency ?? 16, async (job): Promise<Loaded | undefined> => {
      const store = o.stores.for(job.result_uri);
      let bytes: Uint8Array;
      try {
        bytes = await store.get(job.result_uri);
      } catch (err) {
        if (err instanceof RapidError && err.exitCode === ExitCode.MISSING_INPUT) {
          s.missing++;
          return undefined;
        }
        if (err instanceof RapidError && err.exitCode === ExitCode.TEMPORARY) throw err;
        s.unreadable++;
        o.onProblem?.({ jobId: job.id, uri: job.result_uri, error: (err as Error).message });
        return undefined;
      }
      try {
        const result = parseResult(Buffer.from(bytes).toString('utf8'), job.result_uri);
        if (result.jobId !== Number(job.id))
          throw new RapidError(
            `${job.result_uri}: result record of job ${result.jobId}, expected job ${job.id}`,
            ExitCode.BAD_INPUT,
          );
        // A record from an earlier launch (a relaunch with --force, or an old job that ended
        // late) describes products this launch will replace: never register it.
        if (result.runId !== Number(job.run_id)) {
          s.stale++;
          return undefined;
        }
        const outside = job.store_root
          ? result.products.find((p) => !isInside(job.store_root!, p.uri))
          : undefined;
        if (outside)
          throw new RapidError(
            `${job.result_uri}: product ${outside.uri} is outside the store ${job.store_root}`,
            ExitCode.BAD_INPUT,
          );
        const sources: Loaded['sources'] = [];
        for (const [method, is] of [
          ['zogy', isDiffCatalog],
          ['sfft', isSfftCatalog],
        ] as const) {
          const cat = result.products.find(is);
          if (!cat) continue;
          const catBytes = await o.stores.for(cat.uri).get(cat.uri, cat.checksum);
          for (const row of decodeDiffCatalog(catBytes, cat.uri)) sources.push({ ...row, method });
        }
        let forced: ForcedRow[] = [];
        const fp = result.products.find((p) => p.kind === 'forced');
        if (fp) forced = decodeForcedTable(await o.stores.for(fp.uri).get(fp.uri, fp.checksum), fp.uri);
        return { job, result, checksum: sha256(bytes), sources, forced };
      } catch (err) {
        if (err instanceof RapidError && err.exitCode === ExitCode.TEMPORARY) throw err;
        s.unreadable++;
        o.onProblem?.({ jobId: job.id, uri: job.result_uri, error: (err as Error).message });
        return undefined;
      }
    });
  // The next batch is read while the database registers the current one.
  let next = jobs.length > 0 ? load(jobs.slice(0, batchSize)) : undefined;
  for (let b = 0; b < jobs.length; b += batchSize) {
    const loaded = await next!;
    next = b + batchSize < jobs.length ? load(jobs.slice(b + batchSize, b + 2 * batchSize)) : undefined;
    // A failed read of the next batch surfaces when it is awaited; keep it from being unhandled meanwhile.
    next?.catch(() => {});
    const ok = loaded.filter((x): x is Loaded => x !== undefined);
    if (ok.length > 0) {
      const registered = await registerBatch(db, ok);
      s.registered += registered.length;
      s.products += registered.reduce((n, l) => n + l.result.products.length, 0);
      for (const l of registered)
        for (const src of l.sources) {
          if (src.method === 'sfft') s.sfftSources++;
          else s.sources++;
        }
    }
    s.batches++;
    o.onBatch?.({ done: Math.min(jobs.length, b + batchSize), total: jobs.length, registered: s.registered });
  }
  return s;
}

/** One transaction: the batch's products, sources, job states and references. */
async function registerBatch(db: Db, loaded: Loaded[]): Promise<Loaded[]> {
  const num = (v: number) => (Number.isFinite(v) ? v : null);
  return db.transaction(async (tx) => {
    // Concurrent aggregations: the batch's job rows are locked (in id order, so no deadlock), and
    // a job another aggregation registered meanwhile with this very record is left alone.
    const locked = await tx.query<{ id: number; aggregated_at: Date | null; result_checksum: string | null }>(
      'SELECT id, aggregated_at, result_checksum FROM jobs WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE',
      [loaded.map((l) => Number(l.job.id))],
    );
    const done = new Set(
      locked.filter((r) => r.aggregated_at !== null).map((r) => `${Number(r.id)} ${r.result_checksum}`),
    );
    const batch = loaded.filter((l) => !done.has(`${Number(l.job.id)} ${l.checksum}`));
    if (batch.length === 0) return batch;
    const ids = batch.map((l) => Number(l.job.id));
    const products = batch.flatMap((l) => l.result.products.map((p) => ({ job: Number(l.job.id), ...p })));
    const sources = batch.flatMap((l) => {
      const seen = new Set<string>();
      return l.sources
        .filter(
          (src) =>
            Number.isFinite(src.ra) &&
            Number.isFinite(src.dec) &&
            !seen.has(`${src.method} ${src.number}`) &&
            seen.add(`${src.method} ${src.number}`),
        )
        .map((src) => ({ l, src }));
    });
    await tx.query('DELETE FROM products WHERE job_id = ANY($1::bigint[])', [ids]);
    await tx.query('DELETE FROM diff_sources WHERE job_id = ANY($1::bigint[])', [ids]);
    await tx.query('DELETE FROM forced_sources WHERE job_id = ANY($1::bigint[])', [ids]);
    const forced = batch.flatMap((l) =>
      l.job.depends_on === null ? [] : l.forced.map((f) => ({ l, f, diffJob: Number(l.job.depends_on) })),
    );
    if (forced.length > 0) {
      const col = (f: (x: (typeof forced)[number]) => unknown) => forced.map(f);
      // Only objects that still exist: a measurement of an object merged away since is dropped.
      await tx.query(
        `INSERT INTO forced_sources (object_id, diff_job_id, job_id, image_id, mjd, filter, x, y, flux, flux_err, flags,
           flux_err_fit, ap_ratio, ap_var)
         SELECT u.object_id, u.diff_job_id, u.job_id, u.image_id, u.mjd, u.filter, u.x, u.y, u.flux, u.flux_err,
           u.flags, u.flux_err, u.ap_ratio, u.ap_var
         FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::float8[], $6::text[],
           $7::float8[], $8::float8[], $9::float8[], $10::float8[], $11::int[], $12::float8[], $13::float8[])
           AS u(object_id, diff_job_id, job_id, image_id, mjd, filter, x, y, flux, flux_err, flags, ap_ratio, ap_var)
         WHERE EXISTS (SELECT 1 FROM objects o WHERE o.id = u.object_id)
         ON CONFLICT (object_id, diff_job_id) DO UPDATE SET job_id = EXCLUDED.job_id, x = EXCLUDED.x,
           y = EXCLUDED.y, flux = EXCLUDED.flux, flux_err = EXCLUDED.flux_err, flags = EXCLUDED.flags,
           flux_err_fit = EXCLUDED.flux_err_fit, ap_ratio = EXCLUDED.ap_ratio, ap_var = EXCLUDED.ap_var`,
        [
          col((x) => x.f.objectId),
          col((x) => x.diffJob),
          col((x) => Number(x.l.job.id)),
          col((x) => x.l.job.image_id),
          col((x) => x.l.job.mjd),
          col((x) => x.l.job.filter),
          col((x) => x.f.x),
          col((x) => x.f.y),
          col((x) => num(x.f.flux)),
          col((x) => num(x.f.fluxErr)),
          col((x) => x.f.flags),
          col((x) => num(x.f.apRatio ?? Number.NaN)),
          col((x) => num(x.f.apVariance ?? Number.NaN)),
        ],
      );
    }
    if (products.length > 0)
      await tx.query(
        `INSERT INTO products (job_id, kind, uri, checksum, bytes)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[])
         ON CONFLICT (job_id, uri) DO UPDATE SET kind = EXCLUDED.kind, checksum = EXCLUDED.checksum, bytes = EXCLUDED.bytes`,
        [
          products.map((p) => p.job),
          products.map((p) => p.kind),
          products.map((p) => p.uri),
          products.map((p) => p.checksum),
          products.map((p) => p.bytes),
        ],
      );
    // Sources by binary COPY (the batch's jobs were cleared above; a catalog's NUMBERs are unique,
    // and a repeated one would keep its first row, as the INSERT's ON CONFLICT DO NOTHING did).
    const col = <T>(f: (x: (typeof sources)[number]) => T) => sources.map(f);
    await tx.copyFrom(
      'diff_sources',
      [
        { name: 'job_id', type: 'int8', values: col((x) => Number(x.l.job.id)) },
        { name: 'image_id', type: 'int8', values: col((x) => x.l.job.image_id) },
        { name: 'refimage_id', type: 'int8', values: col((x) => x.l.job.refimage_id) },
        { name: 'method', type: 'text', values: col((x) => x.src.method) },
        { name: 'number', type: 'int4', values: col((x) => x.src.number) },
        { name: 'x_image', type: 'float8', values: col((x) => num(x.src.x)) },
        { name: 'y_image', type: 'float8', values: col((x) => num(x.src.y)) },
        { name: 'ra', type: 'float8', values: col((x) => x.src.ra) },
        { name: 'dec', type: 'float8', values: col((x) => x.src.dec) },
        { name: 'hpix', type: 'int8', values: col((x) => tileOf(x.src.ra, x.src.dec, SOURCE_NSIDE)) },
        { name: 'mjd', type: 'float8', values: col((x) => x.l.job.mjd) },
        { name: 'filter', type: 'text', values: col((x) => x.l.job.filter) },
        { name: 'flux_psf', type: 'float8', values: col((x) => num(x.src.fluxPsf)) },
        { name: 'fluxerr_psf', type: 'float8', values: col((x) => num(x.src.fluxErrPsf)) },
        { name: 'mag_psf', type: 'float8', values: col((x) => num(x.src.magPsf)) },
        { name: 'magerr_psf', type: 'float8', values: col((x) => num(x.src.magErrPsf)) },
        { name: 'snr_psf', type: 'float8', values: col((x) => num(x.src.snrPsf)) },
        { name: 'scorr_peak', type: 'float8', values: col((x) => num(x.src.scorrPeak)) },
        { name: 'isdiffpos', type: 'bool', values: col((x) => x.src.isDiffPos) },
        { name: 'fwhm_image', type: 'float8', values: col((x) => num(x.src.fwhm)) },
        { name: 'elongation', type: 'float8', values: col((x) => num(x.src.elongation)) },
        { name: 'flags', type: 'int4', values: col((x) => Math.trunc(x.src.flags)) },
        {
          name: 'vetflags',
          type: 'int4',
          values: col((x) => (x.src.vetflags === undefined ? null : Math.trunc(x.src.vetflags))),
        },
      ],
      sources.length,
    );
    await tx.query(
      `UPDATE jobs SET status = u.status, exit_code = u.code, message = u.message, steps = u.steps::jsonb,
         qa = u.qa::jsonb, counts = u.counts::jsonb, started_at = u.started, ended_at = u.ended, elapsed = u.elapsed,
         peak_rss = u.rss, aggregated_at = now(), result_checksum = u.checksum, stamped_at = NULL, updated_at = now()
       FROM unnest($1::bigint[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[],
         $8::timestamptz[], $9::timestamptz[], $10::float8[], $11::bigint[], $12::text[])
         AS u(id, status, code, message, steps, qa, counts, started, ended, elapsed, rss, checksum)
       WHERE jobs.id = u.id`,
      [
        ids,
        batch.map((l) => l.result.status),
        batch.map((l) => l.result.exitCode),
        batch.map((l) => l.result.message ?? null),
        batch.map((l) => toJson(l.result.steps)),
        batch.map((l) => toJson(l.result.qa)),
        batch.map((l) => toJson(l.result.counts)),
        batch.map((l) => l.result.started),
        batch.map((l) => l.result.ended),
        batch.map((l) => l.result.elapsedSeconds),
        batch.map((l) => Math.round(l.result.peakRssBytes)),
        batch.map((l) => l.checksum),
      ],
    );
    const refs = batch.filter((l) => l.job.pipeline === 'reference' && l.job.refimage_id !== null);
    if (refs.length > 0) {
      const productOf = (l: Loaded, kind: string) => l.result.products.find((p) => p.kind === kind);
      await tx.query(
        `UPDATE refimages SET status = u.status, image_checksum = u.img, cov_checksum = u.cov, unc_checksum = u.unc,
           psf_uri = coalesce(u.psf_uri, refimages.psf_uri), psf_checksum = u.psf, qa = u.qa::jsonb,
           n_inputs = coalesce(u.n_inputs, refimages.n_inputs)
         FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
           $9::int[]) AS u(id, status, img, cov, unc, psf_uri, psf, qa, n_inputs)
         WHERE refimages.id = u.id`,
        [
          refs.map((l) => Number(l.job.refimage_id)),
          refs.map((l) =>
            l.result.status === 'succeeded'
              ? 'ready'
              : l.result.status === 'interrupted'
                ? 'planned'
                : 'failed',
          ),
          refs.map((l) => productOf(l, 'refimage')?.checksum ?? null),
          refs.map((l) => productOf(l, 'refimage_cov')?.checksum ?? null),
          refs.map((l) => productOf(l, 'refimage_unc')?.checksum ?? null),
          refs.map((l) => productOf(l, 'refimage_psf')?.uri ?? null),
          refs.map((l) => productOf(l, 'refimage_psf')?.checksum ?? null),
          refs.map((l) => toJson(l.result.qa)),
          refs.map((l) => (typeof l.result.qa.nInputs === 'number' ? l.result.qa.nInputs : null)),
        ],
      );
    }
    return batch;
  });
}
