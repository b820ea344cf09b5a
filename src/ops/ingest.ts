/**
 * Ingest: register images in the database. Each image's URI, checksum, filter, DATE-OBS and MJD,
 * exposure time, gain, zero point, pointing and detector, size, footprint (outer corners), the
 * sky tile containing its centre and every tile its footprint touches.
 *
 * Sources: folders (searched recursively), glob patterns (* ? **), single files, and
 * s3://bucket/prefix. FITS files are recognised by their names (.fits, .fits.gz, .fit, .fit.gz,
 * .fts, .fz); other files are ignored. Re-ingesting is idempotent: an image already registered
 * with the same checksum is left alone, one whose content changed is updated. An unreadable
 * file is reported and skipped; the others are ingested all the same.
 *
 * What is registered is checked first (issue 17): a file whose values are impossible (zero
 * point, gain, exposure time, MJD out of instrument/exposure.ts's PLAUSIBLE, MJD-OBS against
 * DATE-OBS), whose image is smaller than MIN_IMAGE_SIDE, or whose pixels cannot be decoded or
 * hold no finite value is refused like an unreadable one. For that the pixels are read as stored
 * until one has a value (a gzip-compressed file is inflated under gzip.ts's limits; every tile
 * of a .fz is decompressed, as a job would).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import type { Header } from '../fits/header.ts';
import { anyValidPixel, readFitsBytes } from '../fits/index.ts';
import { checkExposureValues, exposureMetadata, metadataKeys } from '../instrument/exposure.ts';
import { ROMAN_DETECTOR, romanFilter } from '../instrument/roman.ts';
import { effectiveHeader } from '../pipeline/load.ts';
import { DEFAULT_NSIDE, tileCentre, tileOf } from '../sky/tiles.ts';
import { openStore, sha256 } from '../store/index.ts';
import type { ObjectStore } from '../store/store.ts';
import { BadInputError, MissingInputError, RapidError, UsageError } from '../util/errors.ts';
import { Wcs } from '../wcs/index.ts';
import type { Queryable } from './db.ts';
import { dateFromMjd, mjdFromDate, parseDate } from './time.ts';

export const FITS_NAME = /\.(fits|fit|fts)(\.gz)?$|\.fz$/i;

/** One image's record, as ingest registers it. */
export interface ImageRecord {
  uri: string;
  checksum: string;
  bytes: number;
  filter: string;
  dateObs: Date;
  mjd: number;
  exptime: number;
  zeroPoint: number;
  gain: number;
  pointing: number | null;
  sca: number | null;
  width: number;
  height: number;
  hdu: number;
  nside: number;
  tile: number;
  ra: number;
  dec: number;
  /** Outer corners: ra1, dec1, …, ra4, dec4. */
  footprint: number[];
  tiles: number[];
}

function firstNumber(h: Header, keys: string[]): number | undefined {
  for (const k of keys) {
    const v = h.get(k);
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  }
  return undefined;
}

/** Tiles under an image: those of a 9 × 9 grid of points over it (tiles are about the size of an SCA or larger). */
export function tilesUnder(wcs: Wcs, width: number, height: number, nside: number): number[] {
  const set = new Set<number>();
  const n = 9;
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < n; i++) {
      const x = -0.5 + (i * width) / (n - 1);
      const y = -0.5 + (j * height) / (n - 1);
      const p = wcs.pixelToSky(x, y);
      if (Number.isFinite(p.ra) && Number.isFinite(p.dec)) set.add(tileOf(p.ra, p.dec, nside));
    }
  }
  return [...set].sort((a, b) => a - b);
}

/** Images smaller than this on a side are refused (no PSF, background or difference fits in them). */
export const MIN_IMAGE_SIDE = 16;

/**
 * The record of one image from its bytes. Rejects with a BadInputError (with the reason, on
 * one line) when the file is not usable: not FITS, no image, an image smaller than
 * MIN_IMAGE_SIDE, no WCS, no date, unknown filter, impossible values (checkExposureValues),
 * pixels that cannot be decoded or none that is finite.
 */
export async function imageRecord(
  uri: string,
  bytes: Uint8Array,
  options: { nside?: number; warn?: (m: string) => void; checksum?: string } = {},
): Promise<ImageRecord> {
  const nside = options.nside ?? DEFAULT_NSIDE;
  const warn = options.warn ?? (() => {});
  const fits = await readFitsBytes(bytes, { file: uri });
  const hdu = fits.firstImage();
  if (hdu.shape.length !== 2)
    throw new BadInputError(
      `${uri}, HDU ${hdu.index}: expected a 2-D image, got shape ${hdu.shape.join('×')}`,
    );
  const [width, height] = hdu.shape;
  if (width < MIN_IMAGE_SIDE || height < MIN_IMAGE_SIDE)
    throw new BadInputError(
      `${uri}, HDU ${hdu.index}: the image is ${width}×${height} pixels, smaller than ${MIN_IMAGE_SIDE} on a side; too small to process`,
    );
  const h = effectiveHeader(fits, hdu.index);
  const wcs = Wcs.fromHeader(h);

  const meta = exposureMetadata(h);
  const filterName = meta.filter;
  if (!filterName)
    throw new BadInputError(
      `${uri}: no ${metadataKeys(h, 'filter').join(' or ')} card; cannot tell the filter`,
    );
  let filter: ReturnType<typeof romanFilter>;
  try {
    filter = romanFilter(filterName);
  } catch (err) {
    throw new BadInputError(`${uri}: ${(err as Error).message}`);
  }

  let mjd = meta.mjd;
  let dateObs: Date;
  let dateMjd: number | undefined;
  const sources = { ...meta.sources };
  if (meta.dateObs !== undefined) {
    dateObs = parseDate(meta.dateObs, `${uri}: ${meta.sources.date}`, BadInputError);
    dateMjd = mjdFromDate(dateObs);
    if (mjd === undefined) {
      mjd = dateMjd;
      sources.mjd = `from ${meta.sources.date}`;
    }
  } else if (mjd !== undefined) {
    dateObs = dateFromMjd(mjd);
  } else {
    throw new BadInputError(`${uri}: no DATE-OBS or MJD-OBS card; cannot tell when it was observed`);
  }

  let exptime = meta.exptime;
  if (exptime === undefined) {
    exptime = filter.exptime;
    warn(`${uri}: no EXPTIME; assuming ${exptime} s (OpenUniverse's for ${filter.name})`);
  }
  let gain = meta.gain;
  if (gain === undefined) {
    gain = ROMAN_DETECTOR.gain;
    warn(`${uri}: no GAIN; assuming ${gain} e-/DN`);
  }
  let zeroPoint = meta.zeroPoint;
  if (zeroPoint === undefined) {
    zeroPoint = filter.zeropoint + 2.5 * Math.log10(exptime / gain);
    sources.zeroPoint = `no ZPTMAG: ${filter.name}'s AB zero point for ${exptime} s, gain ${gain}`;
    if (Number.isFinite(zeroPoint))
      warn(
        `${uri}: no ZPTMAG; using ${filter.name}'s AB zero point for ${exptime} s: ${zeroPoint.toFixed(3)}`,
      );
  }
  // The values to register, checked (assumed ones too: a zero point derived from EXPTIME = 0 is -Infinity).
  const problems = checkExposureValues({ zeroPoint, gain, exptime, mjd, sources }, { header: h, dateMjd });
  if (problems.length > 0) throw new BadInputError(`${uri}: ${problems.join('; ')}`);
  const fp = wcs.footprint(width, height);
  if (![fp.centre, ...fp.edges].every((p) => Number.isFinite(p.ra) && Number.isFinite(p.dec)))
    throw new BadInputError(`${uri}: the WCS does not map the image corners to the sky`);
  const pointing = firstNumber(h, ['POINTING', 'PNTG', 'OBSID']);
  const sca = firstNumber(h, ['SCA_NUM', 'SCA', 'DETECTOR']);
  // The pixels: at least one must be finite (read as stored; every tile of a .fz decompressed).
  if (!anyValidPixel(hdu))
    throw new BadInputError(`${hdu.where}: no valid pixels (all NaN, infinite or BLANK); nothing to process`);
  return {
    uri,
    checksum: options.checksum ?? sha256(bytes),
    bytes: bytes.length,
    filter: filter.name,
    dateObs,
    mjd,
    exptime,
    zeroPoint,
    gain,
    pointing: pointing === undefined ? null : Math.trunc(pointing),
    sca: sca === undefined ? null : Math.trunc(sca),
    width,
    height,
    hdu: hdu.index,
    nside,
    tile: tileOf(fp.centre.ra, fp.centre.dec, nside),
    ra: fp.centre.ra,
    dec: fp.centre.dec,
    footprint: fp.edges.flatMap((p) => [p.ra, p.dec]),
    tiles: tilesUnder(wcs, width, height, nside),
  };
}

const pgArray = (a: number[]) => `{${a.join(',')}}`;

/**
 * Register image records in one statement (and their tiles in another): new URIs are inserted,
 * changed ones (another checksum) updated, identical ones left alone. Resolves to the counts.
 */
export async function insertImages(
  q: Queryable,
  records: ImageRecord[],
): Promise<{ inserted: number; updated: number; unchanged: number }> {
  if (records.length === 0) return { inserted: 0, updated: 0, unchanged: 0 };
  const tiles = new Map<string, { nside: number; tile: number }>();
  for (const r of records)
    for (const t of [r.tile, ...r.tiles]) tiles.set(`${r.nside}:${t}`, { nside: r.nside, tile: t });
  const tl = [...tiles.values()];
  const centres = tl.map((t) => tileCentre(t.tile, t.nside));
  await q.query(
    `INSERT INTO tiles (nside, tile, ra, dec)
     SELECT * FROM unnest($1::int[], $2::bigint[], $3::float8[], $4::float8[])
     ON CONFLICT DO NOTHING`,
    [tl.map((t) => t.nside), tl.map((t) => t.tile), centres.map((c) => c.ra), centres.map((c) => c.dec)],
  );
  const col = <K extends keyof ImageRecord>(k: K) => records.map((r) => r[k]);
  const rows = await q.query<{ inserted: boolean; changed: boolean }>(
    `WITH input AS (
       SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::timestamptz[], $6::float8[],
         $7::float8[], $8::float8[], $9::float8[], $10::int[], $11::int[], $12::int[], $13::int[], $14::int[],
         $15::int[], $16::bigint[], $17::float8[], $18::float8[], $19::text[], $20::text[])
       AS u(uri, checksum, bytes, filter, date_obs, mjd, exptime, zero_point, gain, pointing, sca, width, height,
         hdu, nside, tile, ra, dec, footprint, tiles)
     ), upserted AS (
       INSERT INTO images (uri, checksum, bytes, filter, date_obs, mjd, exptime, zero_point, gain, pointing, sca,
         width, height, hdu, nside, tile, ra, dec, footprint, tiles)
       SELECT uri, checksum, bytes, filter, date_obs, mjd, exptime, zero_point, gain, pointing, sca, width, height,
         hdu, nside, tile, ra, dec, footprint::float8[], tiles::bigint[] FROM input
       ON CONFLICT (uri) DO UPDATE SET checksum = EXCLUDED.checksum, bytes = EXCLUDED.bytes,
         filter = EXCLUDED.filter, date_obs = EXCLUDED.date_obs, mjd = EXCLUDED.mjd, exptime = EXCLUDED.exptime,
         zero_point = EXCLUDED.zero_point, gain = EXCLUDED.gain, pointing = EXCLUDED.pointing, sca = EXCLUDED.sca,
         width = EXCLUDED.width, height = EXCLUDED.height, hdu = EXCLUDED.hdu, nside = EXCLUDED.nside,
         tile = EXCLUDED.tile, ra = EXCLUDED.ra, dec = EXCLUDED.dec, footprint = EXCLUDED.footprint,
         tiles = EXCLUDED.tiles, ingested_at = now()
       WHERE images.checksum IS DISTINCT FROM EXCLUDED.checksum
       RETURNING (xmax = 0) AS inserted, true AS changed
     )
     SELECT inserted, changed FROM upserted`,
    [
      col('uri'),
      col('checksum'),
      col('bytes'),
      col('filter'),
      col('dateObs'),
      col('mjd'),
      col('exptime'),
      col('zeroPoint'),
      col('gain'),
      col('pointing'),
      col('sca'),
      col('width'),
      col('height'),
      col('hdu'),
      col('nside'),
      col('tile'),
      col('ra'),
      col('dec'),
      records.map((r) => pgArray(r.footprint)),
      records.map((r) => pgArray(r.tiles)),
    ],
  );
  const inserted = rows.filter((r) => r.inserted).length;
  const updated = rows.length - inserted;
  return { inserted, updated, unchanged: records.length - rows.length };
}

// ---- finding the files --------------------------------------------------------------------

/** A glob pattern as a regular expression over absolute paths: * and ? within a name, ** across folders. */
function globRegex(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*' && pattern[i + 1] === '*') {
      re += '.*';
      i++;
      if (pattern[i + 1] === '/') i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

async function* walk(dir: string): AsyncGenerator<string> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw new MissingInputError(`${dir}: cannot list the folder (${(err as Error).message})`);
  }
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else if (e.isFile() || e.isSymbolicLink()) yield p;
  }
}

/** A place to ingest from, and how to read one of its files. */
export interface IngestSource {
  uri: string;
  read(): Promise<Uint8Array>;
}

/**
 * Expand the command's arguments into FITS files: folders recursively, globs, files, and S3
 * prefixes. A named file that does not exist is an error (66); a folder or glob with no FITS
 * file in it yields nothing (the caller says so).
 */
export async function* findImages(
  args: string[],
  s3: { endpoint?: string } = {},
): AsyncGenerator<IngestSource> {
  const stores = new Map<string, ObjectStore>();
  try {
    for (const arg of args) {
      if (arg.startsWith('s3://')) {
        const m = /^s3:\/\/([^/]+)/.exec(arg);
        if (!m) throw new UsageError(`'${arg}' is not s3://bucket/prefix`);
        let store = stores.get(m[1]);
        if (!store) {
          store = openStore(`s3://${m[1]}`, s3);
          stores.set(m[1], store);
        }
        const st = store;
        const found: string[] = [];
        for await (const o of st.list(arg)) if (FITS_NAME.test(o.uri)) found.push(o.uri);
        found.sort();
        for (const uri of found) yield { uri, read: () => st.get(uri) };
        continue;
      }
      if (/[*?]/.test(arg)) {
        const abs = resolve(arg);
        const parts = abs.split(sep);
        const first = parts.findIndex((p) => /[*?]/.test(p));
        const base = parts.slice(0, first).join(sep) || sep;
        const re = globRegex(abs);
        for await (const p of walk(base)) if (re.test(p) && FITS_NAME.test(p)) yield fileSource(p);
        continue;
      }
      const abs = resolve(arg);
      let s: import('node:fs').Stats;
      try {
        s = await stat(abs);
      } catch {
        throw new MissingInputError(`${arg}: no such file or folder; check the path`);
      }
      if (s.isDirectory()) {
        for await (const p of walk(abs)) if (FITS_NAME.test(p)) yield fileSource(p);
      } else yield fileSource(abs);
    }
  } finally {
    for (const s of stores.values()) await s.close();
  }
}

function fileSource(path: string): IngestSource {
  return { uri: path, read: () => readFile(path) };
}

// ---- the whole ingest -----------------------------------------------------------------------

export interface IngestProblem {
  uri: string;
  error: string;
}

export interface IngestSummary {
  files: number;
  inserted: number;
  updated: number;
  unchanged: number;
  unreadable: IngestProblem[];
}

export interface IngestOptions {
  nside?: number;
  s3Endpoint?: string;
  batchSize?: number;
  warn?: (m: string) => void;
  /** Told about each file handled, and each problem. */
  onFile?: (done: number, uri: string, total: number) => void;
  onProblem?: (p: IngestProblem) => void;
}

/** Ingest every FITS file the arguments name. Never stops on a bad file. */
export async function ingest(
  q: Queryable,
  args: string[],
  options: IngestOptions = {},
): Promise<IngestSummary> {
  const batchSize = options.batchSize ?? 200;
  const summary: IngestSummary = { files: 0, inserted: 0, updated: 0, unchanged: 0, unreadable: [] };
  const sources: IngestSource[] = [];
  for await (const src of findImages(args, { endpoint: options.s3Endpoint })) sources.push(src);
  // What is already registered: unchanged files are hashed but not parsed again.
  const known = new Map<string, string>();
  for (let i = 0; i < sources.length; i += 5000) {
    const rows = await q.query<{ uri: string; checksum: string }>(
      'SELECT uri, checksum FROM images WHERE uri = ANY($1::text[])',
      [sources.slice(i, i + 5000).map((s) => s.uri)],
    );
    for (const r of rows) known.set(r.uri, r.checksum);
  }
  const problem = (uri: string, err: unknown) => {
    const p = { uri, error: oneLine(err) };
    summary.unreadable.push(p);
    options.onProblem?.(p);
  };
  let records: ImageRecord[] = [];
  const flush = async () => {
    const r = await insertImages(q, records);
    summary.inserted += r.inserted;
    summary.updated += r.updated;
    summary.unchanged += r.unchanged;
    records = [];
  };
  for (const src of sources) {
    summary.files++;
    try {
      const bytes = await src.read();
      const checksum = sha256(bytes);
      if (known.get(src.uri) === checksum) summary.unchanged++;
      else
        records.push(
          await imageRecord(src.uri, bytes, { nside: options.nside, warn: options.warn, checksum }),
        );
    } catch (err) {
      // A store we cannot reach stops the ingest (retry later); a bad file never does.
      if (err instanceof RapidError && err.exitCode === 75) throw err;
      problem(src.uri, err);
    }
    options.onFile?.(summary.files, src.uri, sources.length);
    if (records.length >= batchSize) await flush();
  }
  await flush();
  return summary;
}

function oneLine(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.split('\n')[0];
}
