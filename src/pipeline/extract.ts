/**
 * SourceExtractor-compatible source extraction as a program (`rapid extract IMAGE` calls it):
 * reads SourceExtractor's .sex and .param files, the image (and a measurement image), estimates
 * the background, detects and measures (image/extract), and writes the catalog as
 * SourceExtractor's ASCII_HEAD text and optionally as a FITS binary table, with check images.
 *
 * - The image is .fits, .fits.gz or .fz; the pixels come from the first HDU with image data (or
 *   `hdu`). Header keywords (GAIN_KEY, SATUR_KEY, WCS) are looked up in that HDU, then in the
 *   primary HDU (OpenUniverse keeps its WCS there).
 * - `measureOn`: dual-image mode, detection on the image, measurements on the second (same grid),
 *   each with its own background and noise.
 * - `psf`: the PSF for FLUX_PSF etc. (loadPsf: any FITS PSF image or PSFEx .psf).
 * - Relative file names in the configuration (PARAMETERS_NAME, FILTER_NAME, STARNNW_NAME) are
 *   looked up in the working folder, then beside the configuration file.
 *
 * Errors: UsageError (64) for a configuration this tool does not support (the key is named);
 * BadInputError (65) for bad input data (unreadable FITS, an image without valid pixels, world
 * columns without a WCS); MissingInputError (66) for a missing file.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import type { Header } from '../fits/header.ts';
import { writeFits } from '../fits/index.ts';
import {
  type BackgroundMesh,
  interpolateMesh,
  interpolateMeshThreaded,
  measureBackgroundMeshThreaded,
} from '../image/background.ts';
import {
  type CatalogColumn,
  ConfigError,
  DEFAULT_FILTER,
  defaultConfig,
  type ExtractConfig,
  type ExtractionPool,
  extractSourcesParallel,
  type FilterKernel,
  formatAsciiCatalog,
  isColumn,
  measurementsFor,
  meshBackgroundAt,
  type ParamRequest,
  type PlaneInput,
  parseConv,
  parseNnw,
  parseParams,
  parseSexConfig,
  selectColumns,
  startExtractionPool,
  tableColumns,
} from '../image/extract/index.ts';
import type { Image } from '../image/image.ts';
import type { PsfModel } from '../image/psf/model.ts';
import { defaultPool, isShared, sharedFloat32 } from '../image/workers.ts';
import { BadInputError, MissingInputError, UsageError } from '../util/errors.ts';
import { hasCelestialAxes, Wcs } from '../wcs/index.ts';
import { loadImage as loadExposure, loadPsf } from './load.ts';

/** The columns written when neither --params nor --config is given. */
export const DEFAULT_PARAMS = [
  'NUMBER',
  'X_IMAGE',
  'Y_IMAGE',
  'XWIN_IMAGE',
  'YWIN_IMAGE',
  'FLUX_APER',
  'FLUXERR_APER',
  'FLUX_AUTO',
  'FLUXERR_AUTO',
  'MAG_AUTO',
  'MAGERR_AUTO',
  'FLUX_RADIUS',
  'FWHM_IMAGE',
  'ELONGATION',
  'FLAGS',
];

function readText(path: string, what: string): string {
  try {
    if (statSync(path).isDirectory()) throw new BadInputError(`${path}: is a directory, not a ${what}`);
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw new MissingInputError(`${path}: no such file (${what}); check the path`);
    throw err;
  }
}

/** A file named in the configuration: as given, else beside the configuration file. */
function resolveConfigFile(name: string, configDir: string | undefined): string {
  if (isAbsolute(name) || existsSync(name) || !configDir) return name;
  const beside = join(configDir, name);
  return existsSync(beside) ? beside : name;
}

/** Parse repeated --set KEY=VALUE options. */
function overrides(list: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list ?? []) {
    const m = /^([A-Za-z0-9_]+)=(.*)$/.exec(item);
    if (!m) throw new UsageError(`--set takes KEY=VALUE, got '${item}'`);
    out[m[1].toUpperCase()] = m[2];
  }
  return out;
}

interface LoadedImage {
  image: Image;
  header: Header;
  primary: Header;
  file: string;
}

/** The exposure as every command reads it (loadImage), with the headers to search. */
async function loadImage(path: string, hdu: number | undefined): Promise<LoadedImage> {
  // In shared memory: the background's threads read it without a copy.
  const loaded = await loadExposure(path, hdu, { shared: true });
  return { image: loaded.image, header: loaded.header, primary: loaded.fits.hdus[0].header, file: path };
}

/** A header value from the image HDU, else the primary HDU. */
function headerNumber(img: LoadedImage, key: string): number | undefined {
  if (!key) return undefined;
  for (const h of [img.header, img.primary]) {
    const v = h.get(key);
    if (typeof v === 'number' && Number.isFinite(v)) return v;
  }
  return undefined;
}

function loadWcs(img: LoadedImage): Wcs | undefined {
  for (const h of [img.header, img.primary]) {
    if (!hasCelestialAxes(h)) continue;
    try {
      return Wcs.fromHeader(h);
    } catch {
      // Try the next header.
    }
  }
  return undefined;
}

/**
 * The PSF model for --psf, read as every command reads one (psfFromFits): a FITS image of a PSF
 * of any size and normalisation (oversampled with OVERSAMP or PSF_SAMP), or PSFEx's .psf; the
 * per-source stamp is cut where it holds the light, so a 205-px model costs what a 25-px one does.
 */

interface ImagePlane {
  plane: PlaneInput;
  mesh: BackgroundMesh;
  /** The background: one level (MANUAL), or the mesh's interpolation at a pixel. */
  level: number | ((x: number, y: number) => number);
  /** The background RMS map, when the configuration needs it. */
  rms?: Float32Array;
}

/**
 * Background and noise of one image per the configuration; the image's pixels are replaced by
 * the background-subtracted ones.
 */
async function plane(img: LoadedImage, config: ExtractConfig, needRms: boolean): Promise<ImagePlane> {
  const { width, height } = img.image;
  let mesh: BackgroundMesh;
  try {
    mesh = await measureBackgroundMeshThreaded(img.image, {
      meshSize: config.backSize,
      filterSize: config.backFilterSize,
      filterThreshold: config.backFiltThresh,
    });
  } catch (err) {
    if (err instanceof BadInputError) throw new BadInputError(`${img.file}: ${err.message}`);
    throw err;
  }
  const manual = config.backType === 'MANUAL';
  const rms = needRms || config.weightType === 'BACKGROUND' ? sharedFloat32(width * height) : undefined;
  if (rms) await interpolateMeshThreaded(mesh, mesh.rms, width, height, rms);
  let noise: number | Float32Array;
  if (config.weightType === 'NONE') noise = mesh.globalRms;
  else if (config.weightType === 'BACKGROUND') noise = rms!;
  else {
    throw new ConfigError(
      `WEIGHT_TYPE ${config.weightType} is not supported by rapid extract (NONE or BACKGROUND; the API takes noise maps)`,
    );
  }
  if (!(mesh.globalRms > 0) && typeof noise === 'number') {
    throw new BadInputError(
      `${img.file}: the background noise is zero (a constant image?); nothing can be detected`,
    );
  }
  // Background-subtracted pixels in shared memory (for the measurement threads), the background
  // interpolated a row at a time by the pool's threads and never stored whole. The pixels are
  // ours (loadImage): when already shared, they are replaced in place.
  const raw = img.image.data;
  const data = isShared(raw) ? raw : sharedFloat32(raw.length);
  if (manual) for (let i = 0; i < data.length; i++) data[i] = raw[i] - config.backValue;
  else {
    if (data !== raw) data.set(raw);
    await interpolateMeshThreaded(mesh, mesh.level, width, height, data, { subtract: true });
  }
  img.image = { ...img.image, data };
  const level = manual ? config.backValue : meshBackgroundAt(mesh);
  return {
    plane: {
      image: img.image,
      noise,
      background: level,
      gain: headerNumber(img, config.gainKey) ?? config.gain,
      saturation: headerNumber(img, config.saturKey) ?? config.saturLevel,
    },
    mesh,
    level,
    rms,
  };
}

export interface ExtractCommandOptions {
  measureOn?: string;
  config?: string;
  params?: string;
  psf?: string;
  out: string;
  fitsOut?: string;
  hdu?: number;
  set?: string[];
  negative?: boolean;
  psfFitPosition?: boolean;
}

/** The whole command, callable without commander (tests, pipeline). Returns the number of sources. */
export async function runExtract(
  imagePath: string,
  o: ExtractCommandOptions,
): Promise<{ sources: number; warnings: string[] }> {
  const warnings: string[] = [];
  const configDir = o.config ? dirname(o.config) : undefined;
  const config = o.config
    ? parseSexConfig(readText(o.config, 'configuration'), o.config, overrides(o.set))
    : parseSexConfig('', 'defaults', overrides(o.set), defaultConfig());
  let params: ParamRequest[];
  if (o.params) params = parseParams(readText(o.params, 'parameter list'), o.params, isColumn);
  else if (o.config) {
    const p = resolveConfigFile(config.parametersName, configDir);
    params = parseParams(readText(p, 'parameter list (PARAMETERS_NAME)'), p, isColumn);
  } else params = DEFAULT_PARAMS.map((name, i) => ({ name, line: i + 1 }));
  let filter: FilterKernel | undefined;
  if (config.filter) {
    const f = resolveConfigFile(config.filterName, configDir);
    if (o.config || existsSync(f)) filter = parseConv(readText(f, 'filter (FILTER_NAME)'), f);
    else filter = DEFAULT_FILTER;
  }
  const columns = selectColumns(
    params,
    { aper: config.photApertures.length, fluxfrac: config.photFluxFrac.length },
    warnings,
  );
  const needs = new Set(columns.map((c) => c.def.requires).filter((r) => r !== undefined));

  // Threads start now, while the images are read: the background's (shared, kept for the
  // process) and extraction's.
  defaultPool();
  const pool = startExtractionPool();
  try {
    return await extractWith(imagePath, o, config, columns, filter, needs, warnings, configDir, pool);
  } finally {
    await pool?.close();
  }
}

async function extractWith(
  imagePath: string,
  o: ExtractCommandOptions,
  config: ExtractConfig,
  columns: CatalogColumn[],
  filter: FilterKernel | undefined,
  needs: Set<string>,
  warnings: string[],
  configDir: string | undefined,
  pool: ExtractionPool | undefined,
): Promise<{ sources: number; warnings: string[] }> {
  const det = await loadImage(imagePath, o.hdu);
  const meas = o.measureOn ? await loadImage(o.measureOn, o.hdu) : det;
  if (meas.image.width !== det.image.width || meas.image.height !== det.image.height) {
    throw new BadInputError(
      `${o.measureOn}: ${meas.image.width}×${meas.image.height} pixels, but the detection image ${imagePath} has ${det.image.width}×${det.image.height}; dual-image mode needs one grid`,
    );
  }
  const needRms = config.checkImageType.includes('BACKGROUND_RMS');
  const detPlane = await plane(det, config, needRms);
  const measPlane = meas === det ? detPlane : await plane(meas, config, needRms);

  const wcs = loadWcs(meas) ?? loadWcs(det);
  if (needs.has('wcs') && !wcs) {
    const names = columns.filter((c) => c.def.requires === 'wcs').map((c) => c.def.name);
    throw new BadInputError(
      `${meas.file}: no celestial WCS in the header, so ${names.join(', ')} cannot be computed`,
    );
  }
  let psf: PsfModel | undefined;
  if (o.psf) psf = await loadPsf(o.psf);
  else if (needs.has('psf')) {
    const names = columns.filter((c) => c.def.requires === 'psf').map((c) => c.def.name);
    throw new UsageError(`${names.join(', ')} need a PSF: give --psf PSF.fits`);
  }
  let network: ReturnType<typeof parseNnw> | undefined;
  if (needs.has('nnw')) {
    const f = resolveConfigFile(config.starNnwName, configDir);
    network = parseNnw(readText(f, 'star/galaxy network (STARNNW_NAME)'), f);
  }
  const pixelScale =
    config.pixelScale > 0
      ? config.pixelScale
      : wcs?.pixelScale((det.image.width - 1) / 2, (det.image.height - 1) / 2);
  if (needs.has('nnw') && !(pixelScale && pixelScale > 0)) {
    throw new BadInputError(
      `${det.file}: PIXEL_SCALE is 0 and there is no WCS to take the pixel scale from (CLASS_STAR)`,
    );
  }

  const result = await extractSourcesParallel(
    detPlane.plane,
    {
      config,
      filter,
      psf,
      psfFit: { fitPosition: o.psfFitPosition === true },
      pool,
      threads: pool ? pool.size + 1 : 1,
      wcs,
      network,
      pixelScale,
      negative: o.negative === true,
      measure: measurementsFor(columns.map((c) => c.def.name)),
      keepMaps: config.checkImageType.some(
        (t) => t === 'SEGMENTATION' || t === 'FILTERED' || t === 'OBJECTS' || t === '-OBJECTS',
      ),
    },
    meas === det ? undefined : measPlane.plane,
  );
  const ctx = { zeropoint: config.magZeropoint };
  if (config.catalogType === 'FITS_1.0') {
    await writeFits(o.out, [
      { data: [], shape: [] },
      { kind: 'bintable', columns: tableColumns(columns, result.sources, ctx), name: 'OBJECTS' },
    ]);
  } else if (config.catalogType !== 'NONE') {
    await writeFile(
      o.out,
      formatAsciiCatalog(columns, result.sources, ctx, config.catalogType === 'ASCII_HEAD'),
    );
  }
  if (o.fitsOut) {
    await writeFits(o.fitsOut, [
      { data: [], shape: [] },
      { kind: 'bintable', columns: tableColumns(columns, result.sources, ctx), name: 'OBJECTS' },
    ]);
  }
  await writeCheckImages(config, det, detPlane, measPlane, result.segmentation, result.filtered);
  return { sources: result.sources.length, warnings };
}

async function writeCheckImages(
  config: ExtractConfig,
  det: LoadedImage,
  detPlane: ImagePlane,
  measPlane: ImagePlane,
  segmentation: Int32Array | undefined,
  filtered: Float32Array | undefined,
): Promise<void> {
  const types = config.checkImageType.filter((t) => t !== 'NONE');
  if (types.length === 0) return;
  if (config.checkImageName.length < types.length) {
    throw new ConfigError(
      `CHECKIMAGE_NAME lists ${config.checkImageName.length} names for ${types.length} CHECKIMAGE_TYPE values`,
    );
  }
  const { width, height } = det.image;
  const full = (v: ImagePlane['level']) =>
    typeof v === 'number'
      ? new Float32Array(width * height).fill(v)
      : interpolateMesh(measPlane.mesh, measPlane.mesh.level, width, height);
  for (let k = 0; k < types.length; k++) {
    const name = config.checkImageName[k];
    let data: Float32Array | Int32Array;
    let shape = [width, height];
    const m = measPlane.mesh;
    switch (types[k]) {
      case 'BACKGROUND':
        data = full(measPlane.level);
        break;
      case 'BACKGROUND_RMS':
        data = measPlane.rms!;
        break;
      case 'MINIBACKGROUND':
        data = m.level;
        shape = [m.nx, m.ny];
        break;
      case 'MINIBACK_RMS':
        data = m.rms;
        shape = [m.nx, m.ny];
        break;
      case '-BACKGROUND':
        data = measPlane.plane.image.data;
        break;
      case 'FILTERED':
        data = filtered ?? detPlane.plane.image.data;
        break;
      case 'SEGMENTATION':
        data = segmentation ?? new Int32Array(width * height);
        break;
      case 'OBJECTS':
      case '-OBJECTS': {
        const src = measPlane.plane.image.data;
        const out = new Float32Array(src.length);
        const seg = segmentation;
        for (let i = 0; i < out.length; i++) {
          const inObj = seg ? seg[i] !== 0 : false;
          out[i] = types[k] === 'OBJECTS' ? (inObj ? src[i] : 0) : inObj ? 0 : src[i];
        }
        data = out;
        break;
      }
      default:
        throw new ConfigError(`CHECKIMAGE_TYPE ${types[k]} is not supported`);
    }
    await writeFits(name, [{ data, shape }]);
  }
}
