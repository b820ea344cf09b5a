/**
 * Launch: plan the jobs for a DATE-OBS range and write them down, touching the database once to
 * read and once (one transaction of batched statements) to write.
 *
 * 1. One query returns the science images in [from, to) (optionally one filter), the frames that
 *    may build their references, and the existing references of their tiles and filters.
 * 2. Reference planning (plan.ts): existing references, new stage-1 reference builds, or exit 33.
 * 3. One transaction: the run, the new references and their inputs, the job rows (stage 1 and
 *    stage 2, each one multi-row statement; a job keeps its id across launches: one per
 *    pipeline and image or reference), and the run's job list.
 * 4. Manifests for the jobs to run, validated and written to the store.
 *
 * Jobs that ended with 0 or 4 before are not run again unless `force`. The jobs to run, with
 * their dependencies, go to the executor (exec/).
 */
import { hostname } from 'node:os';
import type { PlannedJob } from '../exec/types.ts';
import { romanFilter } from '../instrument/roman.ts';
import { canonicalJson, configHash, validateManifest } from '../pipeline/manifest.ts';
import {
  type ImageInput,
  MANIFEST_VERSION,
  type Manifest,
  REFERENCE_PRODUCTS,
  RESULT_NAME,
  type ReferenceInput,
  SOFTWARE,
  type StoreConfig,
} from '../pipeline/types.ts';
import { joinUri } from '../store/index.ts';
import type { ObjectStore } from '../store/store.ts';
import { UsageError } from '../util/errors.ts';
import { mapLimit } from '../util/map-limit.ts';
import type { Db, Queryable } from './db.ts';
import { type NewReference, type PlanCandidate, type PlanReference, planReferences } from './plan.ts';
import { mjdFromDate, procDate as procDateOf } from './time.ts';

export type LaunchPipeline = 'science' | 'noop';

export interface LaunchOptions {
  from: Date;
  to: Date;
  filter?: string;
  refFrom?: Date;
  refTo?: Date;
  pipeline?: LaunchPipeline;
  executor: string;
  force?: boolean;
  minRefInputs?: number;
  maxRefInputs?: number;
  store: ObjectStore;
  storeConfig: StoreConfig;
  /** Pipeline configurations by pipeline name (recorded in manifests with their hashes). */
  config?: {
    science?: Record<string, unknown>;
    reference?: Record<string, unknown>;
    noop?: Record<string, unknown>;
  };
  /** Processing date (YYYYMMDD); default today (UTC). */
  procDate?: string;
  /** Manifests written at once. */
  concurrency?: number;
}

/** A job the executor should run. */
/** Frames per reference unless the launch says otherwise: fewer than `min` is exit 33 (RAPID: 3 … 25). */
export const REFERENCE_INPUTS = { min: 3, max: 25 } as const;

export interface LaunchResult {
  runId: number;
  images: number;
  references: { planned: number; reused: number };
  jobs: {
    total: number;
    toRun: number;
    alreadyDone: number;
    noReference: number;
    stage1: number;
    stage2: number;
  };
  toRun: PlannedJob[];
  /** Seconds spent in the query, planning, the writes and the manifests. */
  timings: { query: number; plan: number; write: number; manifests: number };
}

export interface ImageRow {
  id: number;
  uri: string;
  checksum: string;
  filter: string;
  date_obs: string;
  mjd: number;
  exptime: number;
  zero_point: number;
  gain: number;
  pointing: number | null;
  sca: number | null;
  width: number;
  height: number;
  hdu: number;
  nside: number;
  tile: number;
}

interface RefRow {
  id: number;
  nside: number;
  tile: number;
  filter: string;
  version: number;
  status: string;
  n_inputs: number;
  min_input_mjd: number;
  max_input_mjd: number;
  prefix: string;
  image_uri: string;
  image_checksum: string | null;
  cov_uri: string;
  cov_checksum: string | null;
  unc_uri: string;
  unc_checksum: string | null;
  psf_uri: string | null;
  psf_checksum: string | null;
  zero_point: number | null;
  inputs: ImageRow[] | null;
}

/** The one query of a launch. */
const PLAN_QUERY = `
WITH sci AS (
  SELECT id, uri, checksum, filter, date_obs, mjd, exptime, zero_point, gain, pointing, sca, width, height, hdu, nside, tile
  FROM images
  WHERE date_obs >= $1 AND date_obs < $2 AND ($3::text IS NULL OR filter = $3)
), keys AS (
  SELECT nside, tile, filter, min(mjd) AS first_mjd FROM sci GROUP BY nside, tile, filter
), cand AS (
  SELECT i.id, i.uri, i.checksum, i.filter, i.date_obs, i.mjd, i.exptime, i.zero_point, i.gain, i.pointing, i.sca,
    i.width, i.height, i.hdu, i.nside, i.tile,
    degrees(acos(least(1.0, greatest(-1.0, sin(radians(t.dec)) * sin(radians(i.dec))
      + cos(radians(t.dec)) * cos(radians(i.dec)) * cos(radians(i.ra - t.ra)))))) AS dist
  FROM keys k
  JOIN tiles t ON t.nside = k.nside AND t.tile = k.tile
  JOIN images i ON i.filter = k.filter AND i.tile = k.tile AND i.nside = k.nside
  WHERE $6::boolean AND CASE WHEN $4::float8 IS NULL AND $5::float8 IS NULL THEN i.mjd < k.first_mjd
    ELSE ($4::float8 IS NULL OR i.mjd >= $4) AND ($5::float8 IS NULL OR i.mjd < $5) END
), refs AS (
  SELECT r.id, r.nside, r.tile, r.filter, r.version, r.status, r.n_inputs, r.min_input_mjd, r.max_input_mjd, r.prefix,
    r.image_uri, r.image_checksum, r.cov_uri, r.cov_checksum, r.unc_uri, r.unc_checksum, r.psf_uri, r.psf_checksum,
    (r.qa->>'zeroPoint')::float8 AS zero_point,
    (SELECT json_agg(json_build_object('id', i.id, 'uri', i.uri, 'checksum', i.checksum, 'filter', i.filter,
        'date_obs', i.date_obs, 'mjd', i.mjd, 'exptime', i.exptime, 'zero_point', i.zero_point, 'gain', i.gain,
        'pointing', i.pointing, 'sca', i.sca, 'width', i.width, 'height', i.height, 'hdu', i.hdu,
        'nside', i.nside, 'tile', i.tile) ORDER BY ri.rank)
     FROM refimage_inputs ri JOIN images i ON i.id = ri.image_id WHERE ri.refimage_id = r.id) AS inputs
  FROM refimages r JOIN keys k ON r.nside = k.nside AND r.tile = k.tile AND r.filter = k.filter
  WHERE $6::boolean
)
SELECT json_build_object(
  'science', coalesce((SELECT json_agg(sci ORDER BY sci.mjd, sci.id) FROM sci), '[]'::json),
  'candidates', coalesce((SELECT json_agg(cand) FROM cand), '[]'::json),
  'references', coalesce((SELECT json_agg(refs) FROM refs), '[]'::json)
) AS plan`;

export function imageInput(r: ImageRow): ImageInput {
  return {
    imageId: Number(r.id),
    uri: r.uri,
    checksum: r.checksum,
    filter: r.filter,
    mjd: r.mjd,
    dateObs: new Date(r.date_obs).toISOString(),
    tile: Number(r.tile),
    nside: r.nside,
    zeroPoint: r.zero_point,
    exptime: r.exptime,
    gain: r.gain,
    pointing: r.pointing ?? undefined,
    sca: r.sca ?? undefined,
    width: r.width,
    height: r.height,
    hdu: r.hdu,
  };
}

interface JobSpec {
  pipeline: string;
  key: string;
  stage: number;
  imageId: number | null;
  refimageId: number | null;
  dependsOn: number | null;
  nRefInputs: number | null;
  status: 'queued' | 'failed';
  exitCode: number | null;
  message: string | null;
}

interface JobRow {
  id: number;
  key: string;
  pipeline: string;
  status: string;
  exit_code: number | null;
  output_prefix: string;
  manifest_uri: string;
  result_uri: string;
}

/**
 * Upsert job rows in one statement. A job that succeeded keeps its state unless `force`, its run
 * too: `run_id` is the run that launched the job last, whose result record is the job's.
 */
async function upsertJobs(
  q: Queryable,
  specs: JobSpec[],
  run: { id: number; executor: string; root: string; procDate: string; force: boolean },
): Promise<JobRow[]> {
  if (specs.length === 0) return [];
  const c = <K extends keyof JobSpec>(k: K) => specs.map((s) => s[k]);
  const redo = "($12::boolean OR jobs.status <> 'succeeded')";
  const keep = (col: string) => `${col} = CASE WHEN ${redo} THEN EXCLUDED.${col} ELSE jobs.${col} END`;
  const clear = (col: string) => `${col} = CASE WHEN ${redo} THEN NULL ELSE jobs.${col} END`;
  return q.query<JobRow>(
    `INSERT INTO jobs (id, pipeline, key, stage, image_id, refimage_id, depends_on, n_ref_inputs, status, exit_code,
       message, run_id, executor, output_prefix, manifest_uri, result_uri)
     SELECT s.id, s.pipeline, s.key, s.stage, s.image_id, s.refimage_id, s.depends_on, s.n_ref, s.status, s.exit_code,
       s.message, $11, $13, $14 || '/' || $15 || '/jid' || s.id || '/', $14 || '/' || $15 || '/jid' || s.id || '/manifest.json',
       $14 || '/' || $15 || '/jid' || s.id || '/${RESULT_NAME}'
     FROM (SELECT nextval(pg_get_serial_sequence('jobs', 'id')) AS id, u.*
           FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::bigint[], $6::bigint[], $7::int[],
             $8::text[], $9::int[], $10::text[])
           AS u(pipeline, key, stage, image_id, refimage_id, depends_on, n_ref, status, exit_code, message)) s
     ON CONFLICT (pipeline, key) DO UPDATE SET
       ${keep('run_id')}, ${keep('executor')},
       ${keep('stage')}, ${keep('refimage_id')}, ${keep('depends_on')}, ${keep('n_ref_inputs')},
       ${keep('status')}, ${keep('exit_code')}, ${keep('message')},
       ${clear('executor_job_id')}, ${clear('steps')}, ${clear('qa')}, ${clear('counts')}, ${clear('started_at')},
       ${clear('ended_at')}, ${clear('elapsed')}, ${clear('peak_rss')}, ${clear('aggregated_at')}, ${clear('result_checksum')},
       updated_at = now()
     RETURNING id, key, pipeline, status, exit_code, output_prefix, manifest_uri, result_uri`,
    [
      c('pipeline'),
      c('key'),
      c('stage'),
      c('imageId'),
      c('refimageId'),
      c('dependsOn'),
      c('nRefInputs'),
      c('status'),
      c('exitCode'),
      c('message'),
      run.id,
      run.force,
      run.executor,
      run.root,
      run.procDate,
    ],
  );
}

export async function launch(db: Db, o: LaunchOptions): Promise<LaunchResult> {
  if (!(o.from < o.to))
    throw new UsageError(`--from (${o.from.toISOString()}) must be before --to (${o.to.toISOString()})`);
  if (o.refFrom && o.refTo && !(o.refFrom < o.refTo))
    throw new UsageError('--ref-from must be before --ref-to');
  const pipeline = o.pipeline ?? 'science';
  const minInputs = o.minRefInputs ?? REFERENCE_INPUTS.min;
  const maxInputs = o.maxRefInputs ?? REFERENCE_INPUTS.max;
  if (
    !(Number.isInteger(minInputs) && minInputs >= 1 && Number.isInteger(maxInputs) && maxInputs >= minInputs)
  )
    throw new UsageError(`reference inputs: need 1 ≤ minimum (${minInputs}) ≤ maximum (${maxInputs})`);
  const filter = o.filter === undefined ? null : romanFilter(o.filter).name;
  const procDate = o.procDate ?? procDateOf();
  const root = o.store.root;
  const refFrom = o.refFrom ? mjdFromDate(o.refFrom) : undefined;
  const refTo = o.refTo ? mjdFromDate(o.refTo) : undefined;
  const configs = {
    science: o.config?.science ?? {},
    // The reference job refuses fewer frames than its minInputs: the minimum launch planned with.
    reference: { minInputs, ...(o.config?.reference ?? {}) },
    noop: o.config?.noop ?? {},
  };
  const t0 = performance.now();

  // 1. The one query.
  const [{ plan: data }] = await db.query<{
    plan: { science: ImageRow[]; candidates: (ImageRow & { dist: number })[]; references: RefRow[] };
  }>(PLAN_QUERY, [o.from, o.to, filter, refFrom ?? null, refTo ?? null, pipeline === 'science']);
  const t1 = performance.now();
  const science = data.science.map((r) => ({ ...r, id: Number(r.id), tile: Number(r.tile) }));
  const scienceById = new Map(science.map((s) => [s.id, s]));

  // 2. Planning.
  const plan =
    pipeline === 'science'
      ? planReferences(
          science,
          data.candidates.map(
            (c) => ({ ...c, id: Number(c.id), tile: Number(c.tile) }) as PlanCandidate & ImageRow,
          ),
          data.references.map(
            (r): PlanReference => ({
              id: Number(r.id),
              nside: r.nside,
              tile: Number(r.tile),
              filter: r.filter,
              version: r.version,
              status: r.status,
              nInputs: r.n_inputs,
              minInputMjd: r.min_input_mjd,
              maxInputMjd: r.max_input_mjd,
            }),
          ),
          { minInputs, maxInputs, refFrom, refTo },
        )
      : { newReferences: [] as NewReference[], assignments: [] };
  const t2 = performance.now();

  // 3. The writes, in one transaction.
  const written = await db.transaction(async (tx) => {
    const [run] = await tx.query<{ id: number }>(
      `INSERT INTO runs (date_from, date_to, filter, ref_from, ref_to, pipeline, executor, force, proc_date, store, params)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
      [
        o.from,
        o.to,
        filter,
        o.refFrom ?? null,
        o.refTo ?? null,
        pipeline,
        o.executor,
        o.force ?? false,
        procDate,
        root,
        canonicalJson({
          minRefInputs: minInputs,
          maxRefInputs: maxInputs,
          config: configs,
          // Who runs it: a later launch tells a local run whose launcher died from a live one.
          launcher: { host: hostname(), pid: process.pid },
        }),
      ],
    );
    const runId = Number(run.id);

    // New references and their inputs.
    const refs = new Map<number, RefRow & { jobInputs: ImageRow[] }>();
    for (const r of data.references)
      refs.set(Number(r.id), { ...r, id: Number(r.id), tile: Number(r.tile), jobInputs: r.inputs ?? [] });
    const newIds: number[] = [];
    if (plan.newReferences.length > 0) {
      const nr = plan.newReferences;
      const prefixes = nr.map((r) =>
        joinUri(root, `refimages/${r.tile}/${romanFilter(r.filter).band}/v${r.version}/`),
      );
      const rows = await tx.query<{ id: number }>(
        `INSERT INTO refimages (nside, tile, filter, version, status, prefix, image_uri, cov_uri, unc_uri, n_inputs,
           min_input_mjd, max_input_mjd, window_from, window_to, run_id)
         SELECT u.nside, u.tile, u.filter, u.version, 'planned', u.prefix, u.prefix || $6, u.prefix || $7, u.prefix || $8,
           u.n_inputs, u.min_mjd, u.max_mjd, $11, $12, $13
         FROM unnest($1::int[], $2::bigint[], $3::text[], $4::int[], $5::text[], $9::int[], $10::float8[], $14::float8[])
           WITH ORDINALITY AS u(nside, tile, filter, version, prefix, n_inputs, min_mjd, max_mjd, ord)
         ORDER BY u.ord
         RETURNING id`,
        [
          nr.map((r) => r.nside),
          nr.map((r) => r.tile),
          nr.map((r) => r.filter),
          nr.map((r) => r.version),
          prefixes,
          REFERENCE_PRODUCTS.refimage,
          REFERENCE_PRODUCTS.refimage_cov,
          REFERENCE_PRODUCTS.refimage_unc,
          nr.map((r) => r.inputs.length),
          nr.map((r) => r.minInputMjd),
          refFrom ?? null,
          refTo ?? null,
          runId,
          nr.map((r) => r.maxInputMjd),
        ],
      );
      rows.forEach((row, i) => {
        const id = Number(row.id);
        newIds.push(id);
        const r = nr[i];
        const prefix = prefixes[i];
        refs.set(id, {
          id,
          nside: r.nside,
          tile: r.tile,
          filter: r.filter,
          version: r.version,
          status: 'planned',
          n_inputs: r.inputs.length,
          min_input_mjd: r.minInputMjd,
          max_input_mjd: r.maxInputMjd,
          prefix,
          image_uri: prefix + REFERENCE_PRODUCTS.refimage,
          image_checksum: null,
          cov_uri: prefix + REFERENCE_PRODUCTS.refimage_cov,
          cov_checksum: null,
          unc_uri: prefix + REFERENCE_PRODUCTS.refimage_unc,
          unc_checksum: null,
          // Written by the reference job when its co-add has stars enough; a science job that finds
          // no such product in the reference's result record estimates the PSF itself.
          psf_uri: prefix + REFERENCE_PRODUCTS.refimage_psf,
          psf_checksum: null,
          zero_point: null,
          inputs: null,
          jobInputs: r.inputs as unknown as ImageRow[],
        });
      });
      const ri = nr.flatMap((r, i) => r.inputs.map((c, k) => [newIds[i], c.id, k + 1]));
      await tx.query(
        `INSERT INTO refimage_inputs (refimage_id, image_id, rank)
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::int[])`,
        [ri.map((x) => x[0]), ri.map((x) => x[1]), ri.map((x) => x[2])],
      );
    }

    // Which reference each science image uses.
    const refOf = new Map<number, number>();
    const noRef = new Map<number, string>();
    for (const a of plan.assignments) {
      if (a.kind === 'existing') refOf.set(a.imageId, a.referenceId);
      else if (a.kind === 'new') refOf.set(a.imageId, newIds[a.newIndex]);
      else noRef.set(a.imageId, a.reason);
    }
    const usedRefs = [...new Set(refOf.values())].sort((a, b) => a - b);
    const runInfo = { id: runId, executor: o.executor, root, procDate, force: o.force ?? false };

    // Stage 1: one build job per reference in use.
    const stage1 = await upsertJobs(
      tx,
      usedRefs.map((id) => ({
        pipeline: 'reference',
        key: `refimage:${id}`,
        stage: 1,
        imageId: null,
        refimageId: id,
        dependsOn: null,
        nRefInputs: refs.get(id)!.n_inputs,
        status: 'queued',
        exitCode: null,
        message: null,
      })),
      runInfo,
    );
    const refJob = new Map(stage1.map((j) => [Number(j.key.slice('refimage:'.length)), j]));

    // Stage 2: one job per science image (exit 33 recorded now when no reference is possible).
    const stage2 = await upsertJobs(
      tx,
      science.map((s): JobSpec => {
        if (pipeline === 'noop')
          return {
            pipeline: 'noop',
            key: `image:${s.id}`,
            stage: 2,
            imageId: s.id,
            refimageId: null,
            dependsOn: null,
            nRefInputs: null,
            status: 'queued',
            exitCode: null,
            message: null,
          };
        const ref = refOf.get(s.id);
        if (ref === undefined)
          return {
            pipeline: 'science',
            key: `image:${s.id}`,
            stage: 2,
            imageId: s.id,
            refimageId: null,
            dependsOn: null,
            nRefInputs: null,
            status: 'failed',
            exitCode: 33,
            message: noRef.get(s.id) ?? 'no reference possible',
          };
        return {
          pipeline: 'science',
          key: `image:${s.id}`,
          stage: 2,
          imageId: s.id,
          refimageId: ref,
          dependsOn: Number(refJob.get(ref)!.id),
          nRefInputs: refs.get(ref)!.n_inputs,
          status: 'queued',
          exitCode: null,
          message: null,
        };
      }),
      runInfo,
    );
    const all = [...stage1, ...stage2];
    if (all.length > 0)
      await tx.query(
        'INSERT INTO run_jobs (run_id, job_id) SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING',
        [runId, all.map((j) => j.id)],
      );
    // 4. The manifests, built and validated before the transaction commits: a manifest this
    // software would refuse must not leave a run, a planned reference and queued jobs behind.
    const created = new Date().toISOString();
    const common = (j: JobRow, config: Record<string, unknown>) => ({
      version: MANIFEST_VERSION as typeof MANIFEST_VERSION,
      jobId: Number(j.id),
      runId,
      procDate,
      outputPrefix: j.output_prefix,
      store: o.storeConfig,
      config,
      configHash: configHash(config),
      created,
      software: SOFTWARE,
    });
    const manifests: { uri: string; manifest: Manifest }[] = [];
    const toRun: PlannedJob[] = [];
    const succeededRefJobs = new Set(stage1.filter((j) => j.status === 'succeeded').map((j) => Number(j.id)));
    for (const j of stage1) {
      if (j.status !== 'queued') continue;
      const refId = Number(j.key.slice('refimage:'.length));
      const r = refs.get(refId)!;
      manifests.push({
        uri: j.manifest_uri,
        manifest: {
          ...common(j, configs.reference),
          pipeline: 'reference',
          tile: Number(r.tile),
          nside: r.nside,
          filter: r.filter,
          referenceId: refId,
          referenceVersion: r.version,
          referencePrefix: r.prefix,
          inputs: r.jobInputs.map(imageInput),
        },
      });
      toRun.push({
        jobId: Number(j.id),
        pipeline: 'reference',
        stage: 1,
        manifestUri: j.manifest_uri,
        resultUri: j.result_uri,
      });
    }
    let noReference = 0;
    let alreadyDone = stage1.filter((j) => j.status === 'succeeded').length;
    for (const j of stage2) {
      if (j.status === 'failed' && j.exit_code === 33) noReference++;
      if (j.status === 'succeeded') alreadyDone++;
      if (j.status !== 'queued') continue;
      const imageId = Number(j.key.slice('image:'.length));
      const s = scienceById.get(imageId)!;
      if (pipeline === 'noop') {
        manifests.push({
          uri: j.manifest_uri,
          manifest: { ...common(j, configs.noop), pipeline: 'noop', science: imageInput(s) },
        });
        toRun.push({
          jobId: Number(j.id),
          pipeline: 'noop',
          stage: 2,
          manifestUri: j.manifest_uri,
          resultUri: j.result_uri,
        });
        continue;
      }
      const refId = refOf.get(imageId)!;
      const r = refs.get(refId)!;
      const rj = refJob.get(refId)!;
      const pending = (uri: string, checksum: string | null) => (checksum ? { uri, checksum } : { uri });
      const reference: ReferenceInput = {
        referenceId: refId,
        tile: Number(r.tile),
        nside: r.nside,
        filter: r.filter,
        version: r.version,
        image: pending(r.image_uri, r.image_checksum),
        coverage: pending(r.cov_uri, r.cov_checksum),
        uncertainty: pending(r.unc_uri, r.unc_checksum),
        psf: r.psf_uri ? pending(r.psf_uri, r.psf_checksum) : undefined,
        nInputs: r.n_inputs,
        maxInputMjd: r.max_input_mjd,
        zeroPoint: r.zero_point ?? undefined,
        resultUri: rj.result_uri,
      };
      if (reference.psf === undefined) delete reference.psf;
      if (reference.zeroPoint === undefined) delete reference.zeroPoint;
      manifests.push({
        uri: j.manifest_uri,
        manifest: { ...common(j, configs.science), pipeline: 'science', science: imageInput(s), reference },
      });
      toRun.push({
        jobId: Number(j.id),
        pipeline: 'science',
        stage: 2,
        manifestUri: j.manifest_uri,
        resultUri: j.result_uri,
        dependsOn: succeededRefJobs.has(Number(rj.id)) ? undefined : Number(rj.id),
      });
    }
    for (const x of manifests) x.manifest = validateManifest(JSON.parse(JSON.stringify(x.manifest)), x.uri);
    return { runId, stage1, stage2, manifests, toRun, noReference, alreadyDone };
  });
  const t3 = performance.now();

  // 5. Manifests written after the commit: a failed write leaves queued jobs that a relaunch
  // writes again.
  const { runId, stage1, stage2, manifests, toRun, noReference, alreadyDone } = written;
  await mapLimit(manifests, o.concurrency ?? 32, async ({ uri, manifest }) => {
    await o.store.put(uri, `${JSON.stringify(manifest, null, 2)}\n`, { contentType: 'application/json' });
  });
  const t4 = performance.now();
  return {
    runId,
    images: science.length,
    references: {
      planned: plan.newReferences.length,
      reused: stage1.length - plan.newReferences.length,
    },
    jobs: {
      total: stage1.length + stage2.length,
      toRun: toRun.length,
      alreadyDone,
      noReference,
      stage1: stage1.length,
      stage2: stage2.length,
    },
    toRun,
    timings: {
      query: (t1 - t0) / 1000,
      plan: (t2 - t1) / 1000,
      write: (t3 - t2) / 1000,
      manifests: (t4 - t3) / 1000,
    },
  };
}
