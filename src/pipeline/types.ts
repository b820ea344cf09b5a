/**
 * The job contract: what a pipeline job receives (the manifest), what it may use while it runs
 * (the JobContext), and what it returns (the JobOutcome). The runner (runner.ts) turns the
 * outcome into the result record (`result.json`), written last.
 *
 * A job never opens a database connection: everything it needs is in the manifest, everything
 * it produces goes to the object store (architecture.md, "The one rule that makes it scale").
 *
 * ## The science job (src/pipeline/science.ts)
 *
 * ```ts
 * export async function runScienceJob(manifest: ScienceManifest, ctx: JobContext): Promise<JobOutcome>
 * ```
 * - Inputs: `manifest.science` (the new image: URI, checksum, filter, MJD, tile, zero point,
 *   exposure time, gain) and `manifest.reference` (URIs and checksums of the reference image, its
 *   coverage and uncertainty maps, and its PSF when stored). Read them through `ctx.fetch(ref)`
 *   (a verified local path) or `ctx.read(ref)` (verified bytes): both check the checksum and
 *   throw exit 65 on a mismatch, 66 when the object is missing. The runner has already resolved
 *   the reference's checksums (from its build job's result record) before calling the job.
 * - Configuration: `manifest.config` (a plain object; the science job parses it with its own zod
 *   schema and defaults). Its hash is `manifest.configHash`; the runner records both.
 * - Steps: wrap each named step in `ctx.step('name', () => …)`; the runner times it and records
 *   it in the result record. Errors thrown from a step end the job with the error's exit code
 *   (a RapidError's `exitCode`; 66 for a missing file; 70 otherwise). Check `ctx.signal` between
 *   steps if a step is long (the runner aborts it on SIGTERM/SIGINT; exit 75, status interrupted).
 * - Products: `ctx.writeProduct(name, bytesOrFile, kind?)` writes one file under
 *   `manifest.outputPrefix` (which is `<store>/<procdate>/jid<jid>/`) atomically, with its
 *   checksum, and records it; every product written this way is listed in the result record
 *   (the outcome's `products` need not repeat them). Use the names of SCIENCE_PRODUCTS below;
 *   the aggregator reads the `diffcat` product (`diffimage_masked.cat.fits`, a FITS binary table
 *   in HDU 1 with at least the columns of DIFF_CATALOG_COLUMNS) to register the difference-image
 *   sources. `job.log` and `result.json` are written by the runner.
 * - Outcome: `{ exitCode: 0 }` (or 4 when a secondary method failed and the primary products are
 *   complete), with `qa` values (numbers, strings, booleans; e.g. `nSciStars`, `fluxScale`,
 *   `diffRms`, `fwhmSci`) and `counts` (e.g. `sources`, `positive`, `negative`).
 * - Logging: `ctx.log.info(message, fields?)` writes a JSON line to job.log (and to standard
 *   error); nothing is printed to standard output.
 * - Temporary files: under `ctx.tmpDir` (removed by the runner when the job ends).
 */
import { z } from 'zod';
import type { ExitCode } from '../util/errors.ts';
import { VERSION } from '../version.ts';

/** What wrote a manifest or a result record. */
export const SOFTWARE = `rapid-ts ${VERSION}`;
/** Each job's result record and log, under its output prefix. */
export const RESULT_NAME = 'result.json';
export const LOG_NAME = 'job.log';

/** The manifest format's version; the runner refuses other versions (exit 65). */
export const MANIFEST_VERSION = 1;
/** The result record format's version. */
export const RESULT_VERSION = 1;

export const PIPELINES = ['reference', 'science', 'noop', 'postprocess'] as const;
export type PipelineName = (typeof PIPELINES)[number];

/** `sha256:` and 64 lowercase hex digits: how every checksum is written. */
export const ChecksumSchema = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'expected sha256:<64 hex digits>');

/** An object in the store: its URI (an absolute folder path or s3://bucket/key) and its checksum. */
export const ObjectRefSchema = z.object({
  uri: z.string().min(1),
  checksum: ChecksumSchema,
});
export type ObjectRef = z.infer<typeof ObjectRefSchema>;

/** An object whose checksum may not be known at launch (a reference being built in stage 1). */
export const PendingObjectRefSchema = z.object({
  uri: z.string().min(1),
  checksum: ChecksumSchema.optional(),
});
export type PendingObjectRef = z.infer<typeof PendingObjectRefSchema>;

/** One registered exposure, as the database knows it at launch. */
export const ImageInputSchema = z.object({
  /** The database's image id. */
  imageId: z.number().int().positive(),
  uri: z.string().min(1),
  checksum: ChecksumSchema,
  /** Filter, WFI spelling (F158). */
  filter: z.string().min(1),
  mjd: z.number(),
  /** DATE-OBS as written in the header (ISO 8601, UTC). */
  dateObs: z.string(),
  /** Sky tile (HEALPix nested) containing the image centre, and its nside. */
  tile: z.number().int().nonnegative(),
  nside: z.number().int().positive(),
  /** AB magnitude of one count (header ZPTMAG or the like). */
  zeroPoint: z.number(),
  exptime: z.number().nonnegative(),
  /** e⁻ per DN. */
  gain: z.number().positive(),
  pointing: z.number().int().optional(),
  sca: z.number().int().optional(),
  /** Image size in pixels, and the HDU holding the pixels. */
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  hdu: z.number().int().nonnegative(),
});
export type ImageInput = z.infer<typeof ImageInputSchema>;

/** The reference a science job subtracts: built in stage 1, under refimages/<tile>/<filter>/v<version>/. */
export const ReferenceInputSchema = z.object({
  referenceId: z.number().int().positive(),
  tile: z.number().int().nonnegative(),
  nside: z.number().int().positive(),
  filter: z.string().min(1),
  version: z.number().int().positive(),
  image: PendingObjectRefSchema,
  coverage: PendingObjectRefSchema,
  uncertainty: PendingObjectRefSchema,
  /** The reference's PSF (PSFEx-style or image), when the reference job stores one. */
  psf: PendingObjectRefSchema.optional(),
  nInputs: z.number().int().nonnegative(),
  /** MJD of its latest input: always earlier than the science image's. */
  maxInputMjd: z.number(),
  zeroPoint: z.number().optional(),
  /**
   * The result record of the job that builds it, when the checksums were not known at launch:
   * the runner reads it and fills in the checksums before the science job starts.
   */
  resultUri: z.string().optional(),
});
export type ReferenceInput = z.infer<typeof ReferenceInputSchema>;

/** Where the job runs its object store (no credentials: those come from the environment). */
export const StoreConfigSchema = z.object({
  /** The store's root: a folder path or s3://bucket/prefix. */
  root: z.string().min(1),
  /** Endpoint of an S3-compatible store, when not AWS. */
  endpoint: z.string().optional(),
  region: z.string().optional(),
});
export type StoreConfig = z.infer<typeof StoreConfigSchema>;

const common = {
  version: z.literal(MANIFEST_VERSION),
  /** Stable job id (the same for the same pipeline and image across launches). */
  jobId: z.number().int().positive(),
  runId: z.number().int().positive(),
  /** Processing date, YYYYMMDD: the first part of the output prefix. */
  procDate: z.string().regex(/^\d{8}$/),
  /** Where this job writes: `<store>/<procdate>/jid<jid>/` (ends with a slash). */
  outputPrefix: z.string().min(1),
  store: StoreConfigSchema,
  /** The pipeline's configuration, and the hash (sha256 of its canonical JSON). */
  config: z.record(z.string(), z.unknown()),
  configHash: ChecksumSchema,
  /** When the manifest was written (ISO 8601) and by which software. */
  created: z.string(),
  software: z.string(),
};

export const ScienceManifestSchema = z.object({
  ...common,
  pipeline: z.literal('science'),
  science: ImageInputSchema,
  reference: ReferenceInputSchema,
});
export type ScienceManifest = z.infer<typeof ScienceManifestSchema>;

export const ReferenceManifestSchema = z.object({
  ...common,
  pipeline: z.literal('reference'),
  tile: z.number().int().nonnegative(),
  nside: z.number().int().positive(),
  filter: z.string().min(1),
  referenceId: z.number().int().positive(),
  /** The reference's version (`version` is the manifest format's). */
  referenceVersion: z.number().int().positive(),
  /** Where the reference's files go: `<store>/refimages/<tile>/<filter>/v<version>/`. */
  referencePrefix: z.string().min(1),
  /** The frames to co-add, nearest to the tile centre first (3 … 25 by default). */
  inputs: z.array(ImageInputSchema).min(1),
});
export type ReferenceManifest = z.infer<typeof ReferenceManifestSchema>;

/** A job that does nothing but read its manifest and write a result: launch/aggregation benchmarks. */
export const NoopManifestSchema = z.object({
  ...common,
  pipeline: z.literal('noop'),
  science: ImageInputSchema.optional(),
});
export type NoopManifest = z.infer<typeof NoopManifestSchema>;

/**
 * A post-processing job (stage 3), one per difference image: forced PSF photometry at the
 * positions of the objects that image covers, and cutouts around its vetted detections.
 */
export const PostprocessManifestSchema = z.object({
  ...common,
  pipeline: z.literal('postprocess'),
  /** The science job whose products are measured. */
  diffJobId: z.number().int().positive(),
  science: ImageInputSchema,
  /** The science job's difference image, its uncertainty, its PSF and the resampled reference. */
  difference: ObjectRefSchema,
  uncertainty: ObjectRefSchema,
  psf: ObjectRefSchema,
  template: ObjectRefSchema,
  /** Objects to measure (degrees). */
  objects: z.array(z.object({ objectId: z.number().int().positive(), ra: z.number(), dec: z.number() })),
  /** Detections to cut stamps around (0-based pixels of the difference image). */
  cutouts: z.array(z.object({ sourceId: z.number().int().positive(), x: z.number(), y: z.number() })),
});
export type PostprocessManifest = z.infer<typeof PostprocessManifestSchema>;

export const ManifestSchema = z.discriminatedUnion('pipeline', [
  ScienceManifestSchema,
  ReferenceManifestSchema,
  NoopManifestSchema,
  PostprocessManifestSchema,
]);
export type Manifest = z.infer<typeof ManifestSchema>;

/** A product as the result record lists it. */
export interface ProductRecord {
  kind: string;
  uri: string;
  checksum: string;
  bytes: number;
}

/** Product names of a science job (architecture.md, "Products"), by kind. */
export const SCIENCE_PRODUCTS = {
  diffimage: 'diffimage_masked.fits',
  diffimage_uncert: 'diffimage_uncert_masked.fits',
  scorr: 'scorrimage_masked.fits',
  diffpsf: 'diffpsf.fits',
  refimage_resampled: 'refimage_resampled.fits',
  refimage_resampled_cov: 'refimage_resampled_cov.fits',
  refimage_resampled_unc: 'refimage_resampled_unc.fits',
  diffcat_txt: 'diffimage_masked.txt',
  diffcat: 'diffimage_masked.cat.fits',
  scicat_txt: 'sciimage.cat.txt',
  // SFFT's (when it ran; RAPID's names). Cross-convolution writes cconv, direct writes
  // sfft_diffimage; both write the decorrelated difference, which the catalog measures.
  sfft_diffimage: 'sfftdiffimage_masked.fits',
  sfft_diffimage_cconv: 'sfftdiffimage_cconv_masked.fits',
  sfft_diffimage_dconv: 'sfftdiffimage_dconv_masked.fits',
  sfft_diffimage_uncert: 'sfftdiffimage_uncert_masked.fits',
  sfft_diffpsf: 'sfftdiffpsf.fits',
  sfft_soln: 'sfftsoln.fits',
  sfft_diffcat_txt: 'sfftdiffimage_masked.txt',
  sfft_diffcat: 'sfftdiffimage_masked.cat.fits',
} as const;

/** Product names of a reference job, under its reference prefix. */
export const REFERENCE_PRODUCTS = {
  refimage: 'refimage.fits',
  refimage_cov: 'refimage_cov.fits',
  refimage_unc: 'refimage_unc.fits',
  refimage_psf: 'refimage_psf.fits',
} as const;

/** Product names of a post-processing job. */
export const POSTPROCESS_PRODUCTS = {
  forced: 'forced.fits',
  cutouts: 'cutouts.json',
} as const;

/** Columns the aggregator needs from `diffimage_masked.cat.fits` (SourceExtractor names, 1-based pixels). */
export const DIFF_CATALOG_COLUMNS = [
  'NUMBER',
  'X_IMAGE',
  'Y_IMAGE',
  'ALPHA_J2000',
  'DELTA_J2000',
  'FLUX_PSF',
  'FLUXERR_PSF',
  'MAG_PSF',
  'MAGERR_PSF',
  'SNR_PSF',
  'SCORR_PEAK',
  'ISDIFFPOS',
  'FWHM_IMAGE',
  'ELONGATION',
  'FLAGS',
] as const;

/** The kind recorded for a product file name (its SCIENCE_PRODUCTS or REFERENCE_PRODUCTS key), else the name. */
export function productKind(name: string): string {
  for (const table of [SCIENCE_PRODUCTS, REFERENCE_PRODUCTS, POSTPROCESS_PRODUCTS] as const) {
    for (const [kind, file] of Object.entries(table)) if (file === name) return kind;
  }
  return name === 'job.log' ? 'log' : name;
}

export type QaValue = number | string | boolean | null;

/** A structured logger: one JSON line per call in job.log (also echoed to standard error). */
export interface JobLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** What a pipeline may use while it runs. */
export interface JobContext {
  readonly manifest: Manifest;
  readonly log: JobLogger;
  /** A private temporary folder, removed when the job ends. */
  readonly tmpDir: string;
  /** Aborted when the job is asked to stop (SIGTERM, SIGINT): the job then ends with 75, interrupted. */
  readonly signal: AbortSignal;
  /** Run a named step; its wall time (and errors) are recorded in the result record. */
  step<T>(name: string, fn: () => Promise<T> | T): Promise<T>;
  /** The verified bytes of an input (checksum checked: 65 on mismatch, 66 when missing). */
  read(ref: ObjectRef): Promise<Uint8Array>;
  /** A verified local path to an input (the file itself for a folder store, a download in tmpDir for S3). */
  fetch(ref: ObjectRef): Promise<string>;
  /** Write a product under the output prefix, atomically, with its checksum; recorded in the result. */
  writeProduct(
    name: string,
    data: Uint8Array | string | { path: string },
    kind?: string,
  ): Promise<ProductRecord>;
  /** Write an object at a full URI (reference products under refimages/), atomically; recorded in the result. */
  writeObject(
    uri: string,
    data: Uint8Array | string | { path: string },
    kind: string,
  ): Promise<ProductRecord>;
}

/** What a pipeline returns. */
export interface JobOutcome {
  /** 0, or 4 when a secondary method failed but the primary products are complete. */
  exitCode: ExitCode;
  /** Products written other than through ctx.writeProduct/writeObject (normally none). */
  products?: ProductRecord[];
  qa?: Record<string, QaValue>;
  counts?: Record<string, number>;
  /** One line on what happened, for the result record and the logs. */
  message?: string;
}

export type JobStatus = 'succeeded' | 'failed' | 'interrupted';

export interface StepTiming {
  name: string;
  /** ISO 8601 start time. */
  start: string;
  seconds: number;
  ok: boolean;
}

/** result.json: written last; its presence means the products are complete. */
export const ResultRecordSchema = z.object({
  version: z.literal(RESULT_VERSION),
  jobId: z.number().int(),
  runId: z.number().int(),
  pipeline: z.enum(PIPELINES),
  status: z.enum(['succeeded', 'failed', 'interrupted']),
  exitCode: z.number().int(),
  message: z.string().optional(),
  started: z.string(),
  ended: z.string(),
  elapsedSeconds: z.number(),
  steps: z.array(z.object({ name: z.string(), start: z.string(), seconds: z.number(), ok: z.boolean() })),
  products: z.array(
    z.object({ kind: z.string(), uri: z.string(), checksum: ChecksumSchema, bytes: z.number().int() }),
  ),
  qa: z.record(z.string(), z.union([z.number(), z.string(), z.boolean(), z.null()])),
  counts: z.record(z.string(), z.number()),
  software: z.string(),
  config: z.record(z.string(), z.unknown()),
  configHash: z.string(),
  inputs: z.array(z.object({ uri: z.string(), checksum: z.string() })),
  manifestUri: z.string(),
  host: z.string(),
  pid: z.number().int(),
  peakRssBytes: z.number(),
});
export type ResultRecord = z.infer<typeof ResultRecordSchema>;
