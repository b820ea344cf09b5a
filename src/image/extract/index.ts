/**
 * Source extraction, SourceExtractor-compatible (the API of src/image/extract).
 *
 * Stages, one file each: filter.ts (detection filtering) → lutz.ts (thresholding and 8-connected
 * segmentation) → deblend.ts (multi-threshold deblending) → analyse.ts (isophotal moments and
 * measurements) → clean.ts (cleaning) → photometry.ts, aperture.ts, windowed.ts, psffit.ts,
 * classstar.ts (measurements) → catalog.ts (ASCII_HEAD and FITS table). config.ts reads
 * SourceExtractor's .sex/.param/.conv/.nnw files; flags.ts names the FLAGS bits.
 *
 * Inputs are background-subtracted images (the caller estimates the background, e.g. with
 * src/image/background.ts, and passes it along for the BACKGROUND column and saturation). In
 * dual-image mode the detection image (e.g. Scorr, in σ units with noise 1) and the measurement
 * image (e.g. the difference D with its own noise map) share one pixel grid. With `negative`,
 * sources are also detected on −image and measured on −measurement (sign −1), so a difference
 * catalog gets both brighter and fainter sources.
 *
 * Everything is pure: no I/O, no logging; 0-based pixel coordinates (catalogs add 1).
 * `extractSources` runs on the calling thread; `extractSourcesParallel` spreads the detection
 * filter, the components' deblending and analysis, and the measurements over worker threads
 * (the same results: cleaning and numbering stay in scan order on the calling thread).
 *
 * Where this differs from SourceExtractor 2.25, on purpose:
 * - FLUX_APER uses the exact area of each pixel inside the circle (SourceExtractor splits edge
 *   pixels 5 × 5): differences of ≈0.5% (median) for 2-px apertures, < 0.1% from 4 px.
 * - The windowed measurements take the window's edge pixels with a straight-edge area
 *   (SourceExtractor: 11 × 11 sub-pixels); at the edge the window weighs e⁻⁸ (≲ 10⁻⁵ px).
 * - Deblending gives unclaimed pixels to their most probable object (SourceExtractor draws
 *   them at random with the same probabilities), so results are reproducible.
 * - SATURATED (4) looks at the raw value of the brightest pixel, with a float tolerance
 *   (SourceExtractor adds FLUX_MAX to the background at the barycentre in single precision,
 *   which decides pixels exactly at the level by rounding).
 * - The whole image is one buffer: no APERTURE_INCOMPLETE for apertures that merely reach
 *   beyond SourceExtractor's line buffer (MEMORY_BUFSIZE), and EXTRACT_OVERFLOW (128) never
 *   happens (memory is not bounded by MEMORY_PIXSTACK).
 * - NUMBER follows the order in which the scan completes objects (SourceExtractor's own
 *   order also depends on its buffer); a degenerate FWHM fit (one radius) gives 0.
 * - Pixels without data (NaN, or a mask bit) are never detected and are replaced in apertures
 *   as neighbours are (MASK_TYPE), with CROWDED when they cover more than 10% of FLUX_AUTO's.
 * - CLASS_STAR is SourceExtractor's network on SourceExtractor's inputs (exact, given the .nnw).
 */

import { availableParallelism } from 'node:os';
import { requestedWorkers, WorkerPool, workerUrl } from '../../util/pool.ts';
import type { Image } from '../image.ts';
import type { PsfModel } from '../psf/model.ts';
import { backgroundAt, measureFwhms } from './analyse.ts';
import { classStar } from './classstar.ts';
import { Cleaner } from './clean.ts';
import { defaultConfig, type ExtractConfig, type FilterKernel, type NeuralNetwork } from './config.ts';
import {
  type AnalyseOptions,
  type AnalysePlanes,
  analyseComponent,
  type PackedObjects,
  unpackAnalysed,
} from './detect.ts';
import { convolveImage, convolveRows, convolveVariance, invalidPixels } from './filter.ts';
import { Flag } from './flags.ts';
import { SubSegmenter, segmentImage } from './lutz.ts';
import {
  measureObject,
  type ObjectMeasures,
  packObjects,
  photometryOptions,
  resultSize,
  runMeasureTask,
  shared,
  unpackMeasures,
} from './measure.ts';
import type { Noise, Planes, SourceObject } from './object.ts';
import { ALL_MEASUREMENTS, type Measurements, Photometer } from './photometry.ts';
import { fitPsf, type PsfFitOptions } from './psffit.ts';
import type { Source } from './source.ts';

export { meshBackgroundAt } from './backsub.ts';
export {
  type AsciiCatalog,
  asciiHeader,
  type CatalogColumn,
  formatAsciiCatalog,
  formatC,
  parseAsciiCatalog,
  selectColumns,
  tableColumns,
} from './catalog.ts';
export { COLUMNS, isColumn, measurementsFor } from './columns.ts';
export type { ExtractConfig, FilterKernel, NeuralNetwork, ParamRequest } from './config.ts';
export {
  ConfigError,
  DEFAULT_CONFIG,
  defaultConfig,
  parseConv,
  parseNnw,
  parseParams,
  parseSexConfig,
} from './config.ts';
export { Flag, flagNames, PsfFlag, WinFlag } from './flags.ts';
export { ALL_MEASUREMENTS, type Measurements } from './photometry.ts';
export type { PsfFit, PsfFitOptions } from './psffit.ts';
export type { SkyPoint, Source } from './source.ts';

/** One input plane: a background-subtracted image and its noise. */
export interface PlaneInput {
  /** Pixel values with the background subtracted; NaN (or a mask bit in `maskBits`) marks a pixel without data. */
  image: Image;
  /** 1σ noise: one number for the whole image, or a σ per pixel. */
  noise: number | Float32Array;
  /**
   * The background that was subtracted, for BACKGROUND and saturation: one level, a map, or a
   * function of the pixel (x, y) (e.g. meshBackgroundAt); default 0.
   */
  background?: number | Float32Array | ((x: number, y: number) => number);
  /** e⁻ per image unit, for the Poisson term of flux errors; 0 or undefined: none (as GAIN 0). */
  gain?: number;
  /** Saturation level of the raw image (before background subtraction); default: none. */
  saturation?: number;
}

export interface ExtractOptions {
  /** Configuration (SourceExtractor's keys, typed); missing fields take SourceExtractor's defaults. */
  config?: Partial<ExtractConfig>;
  /** Detection filter; default when filtering: SourceExtractor's default.conv (3 × 3, FWHM 2 px). */
  filter?: FilterKernel;
  /** PSF model for FLUX_PSF and friends. */
  psf?: PsfModel;
  psfFit?: PsfFitOptions;
  /** Pixel → sky (0-based pixels, degrees), for ALPHA_J2000 and friends. */
  wcs?: { pixelToSky(x: number, y: number): { ra: number; dec: number } };
  /** CLASS_STAR network; without it CLASS_STAR is not computed. */
  network?: NeuralNetwork;
  /** Pixel scale in arcsec for CLASS_STAR when PIXEL_SCALE is 0 (from the WCS). */
  pixelScale?: number;
  /** Also detect on −image (sources get sign −1). */
  negative?: boolean;
  /** Mask bits that make a pixel unusable (default: any). */
  maskBits?: number;
  /** Return the segmentation and filtered maps. */
  keepMaps?: boolean;
  /**
   * Measurements to make (default: all). `measurementsFor(columns)` gives what a catalog needs;
   * as in SourceExtractor, flags come only from the measurements made.
   */
  measure?: Partial<Measurements>;
}

export interface ExtractResult {
  /** Sources in catalog order (positive sign first). */
  sources: Source[];
  /** Detections before deblending and cleaning (both signs). */
  detections: number;
  /** NUMBER of the object owning each pixel, 0 for none (keepMaps; positive sign). */
  segmentation?: Int32Array;
  /** The same for the negative pass. */
  negativeSegmentation?: Int32Array;
  /** The filtered detection image (keepMaps). */
  filtered?: Float32Array;
}

/** How far (px) the windowed centroid may be from the isophotal one to start the PSF fit. */
const PSF_START_DRIFT = 1;

/** SourceExtractor's default.conv: 3 × 3 "all-ground" kernel, FWHM 2 pixels, normalised. */
export const DEFAULT_FILTER: FilterKernel = {
  width: 3,
  height: 3,
  values: Float32Array.from([1, 2, 1, 2, 4, 2, 1, 2, 1], (v) => v / 16),
};

function checkPlane(p: PlaneInput, what: string, width: number, height: number): void {
  const n = width * height;
  if (p.image.width !== width || p.image.height !== height) {
    throw new RangeError(`${what} image is ${p.image.width}×${p.image.height}, expected ${width}×${height}`);
  }
  if (p.image.data.length !== n)
    throw new RangeError(`${what} image has ${p.image.data.length} pixels, expected ${n}`);
  if (typeof p.noise !== 'number' && p.noise.length !== n)
    throw new RangeError(`${what} noise map has ${p.noise.length} pixels`);
  if (typeof p.noise === 'number' && !(p.noise > 0))
    throw new RangeError(`${what} noise must be > 0, got ${p.noise}`);
  if (p.background instanceof Float32Array && p.background.length !== n) {
    throw new RangeError(`${what} background map has ${p.background.length} pixels`);
  }
}

/** Noise description from σ: one value, or a map (stored as variance) with its median σ. */
function makeNoise(noise: number | Float32Array, share: boolean): Noise {
  if (typeof noise === 'number') return { kind: 'global', sigma: noise };
  const variance = share
    ? new Float32Array(new SharedArrayBuffer(noise.byteLength))
    : new Float32Array(noise.length);
  for (let i = 0; i < noise.length; i++) variance[i] = noise[i] * noise[i];
  // Median σ from a regular sample.
  const step = Math.max(1, Math.floor(noise.length / 100003));
  const sample: number[] = [];
  for (let i = 0; i < noise.length; i += step)
    if (noise[i] > 0 && Number.isFinite(noise[i])) sample.push(noise[i]);
  sample.sort((a, b) => a - b);
  return { kind: 'map', variance, sigma: sample.length ? sample[sample.length >> 1] : 1 };
}

function negate(data: Float32Array, share: boolean): Float32Array {
  const out = share
    ? new Float32Array(new SharedArrayBuffer(data.byteLength))
    : new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = -data[i];
  return out;
}

interface PassResult {
  sources: Source[];
  detections: number;
  segmentation?: Int32Array;
  filtered?: Float32Array;
}

/** Detect and measure sources on this thread. See the module comment. */
export function extractSources(
  detection: PlaneInput,
  options: ExtractOptions = {},
  measurement: PlaneInput = detection,
): ExtractResult {
  const config = prepare(detection, options, measurement);
  const passes: PassResult[] = [];
  for (const sign of options.negative ? ([1, -1] as const) : ([1] as const)) {
    const found = detectPass(detection, measurement, config, options, sign);
    const measures = found.objects.map((obj, i) => measureObject(found.phot, obj, i + 1, found.which));
    passes.push(assemble(found, measures, config, options, sign, passes[0]?.sources.length ?? 0));
  }
  return combine(passes);
}

/**
 * Detect and measure sources, the measurements spread over `threads` threads (default: every
 * core; the calling thread takes a share). Results are those of extractSources.
 */
export async function extractSourcesParallel(
  detection: PlaneInput,
  options: ExtractOptions & { threads?: number; pool?: ExtractionPool } = {},
  measurement: PlaneInput = detection,
): Promise<ExtractResult> {
  const config = prepare(detection, options, measurement);
  const threads = options.pool
    ? options.pool.size + 1
    : Math.max(1, Math.floor(options.threads ?? extractionThreads()));
  const own = options.pool ? undefined : startExtractionPool(threads);
  const pool = options.pool ?? own;
  try {
    const passes: PassResult[] = [];
    for (const sign of options.negative ? ([1, -1] as const) : ([1] as const)) {
      const found = pool
        ? await detectPassParallel(detection, measurement, config, options, sign, pool, threads)
        : detectPass(detection, measurement, config, options, sign);
      const measures = pool
        ? await measureParallel(found, config, pool, threads)
        : found.objects.map((obj, i) => measureObject(found.phot, obj, i + 1, found.which));
      passes.push(assemble(found, measures, config, options, sign, passes[0]?.sources.length ?? 0));
    }
    return combine(passes);
  } finally {
    await own?.close();
  }
}

/**
 * Threads for extraction: RAPID_WORKERS when set; else one thread per core but one from four
 * cores up, and one thread below. (On two cores V8's own background threads, compiling and
 * collecting garbage, already use the second core; a worker thread there only competes with
 * them: measured, no gain.)
 */
export function extractionThreads(): number {
  const requested = requestedWorkers();
  if (requested !== undefined) return requested;
  const cores = availableParallelism();
  return cores >= 4 ? Math.min(8, cores - 1) : 1;
}

/** Worker threads for extractSourcesParallel. */
export type ExtractionPool = WorkerPool;

/**
 * Start `threads − 1` extraction workers (none for one thread), e.g. before reading the images,
 * so that they are ready when detection starts; pass them as `pool` and close them after.
 */
export function startExtractionPool(threads = extractionThreads()): ExtractionPool | undefined {
  return threads > 1 ? new WorkerPool(workerUrl(import.meta.url, 'worker'), threads - 1) : undefined;
}

function prepare(detection: PlaneInput, options: ExtractOptions, measurement: PlaneInput): ExtractConfig {
  const { width, height } = detection.image;
  checkPlane(detection, 'detection', width, height);
  if (measurement !== detection) checkPlane(measurement, 'measurement', width, height);
  return { ...defaultConfig(), ...options.config };
}

function combine(passes: PassResult[]): ExtractResult {
  return {
    sources: passes.length > 1 ? passes.flatMap((p) => p.sources) : passes[0].sources,
    detections: passes.reduce((a, p) => a + p.detections, 0),
    segmentation: passes[0].segmentation,
    negativeSegmentation: passes[1]?.segmentation,
    filtered: passes[0].filtered,
  };
}

/** Interleaved shares (object i to thread i mod n) balance big and small objects. */
async function measureParallel(
  found: Found,
  config: ExtractConfig,
  pool: WorkerPool,
  threads: number,
): Promise<ObjectMeasures[]> {
  const { planes, objects, seg, which } = found;
  const n = objects.length;
  const packed = packObjects(objects);
  const base = {
    width: planes.width,
    height: planes.height,
    meas: planes.meas,
    det: planes.det,
    measBad: planes.measBad,
    measNoise: planes.measNoise,
    gain: planes.gain,
    seg,
    options: photometryOptions(config),
    which,
    objects: packed,
  };
  const shares: Int32Array[] = [];
  for (let t = 0; t < threads; t++) {
    const idx: number[] = [];
    for (let i = t; i < n; i += threads) idx.push(i);
    shares.push(Int32Array.from(idx));
  }
  const naper = config.photApertures.length;
  const nfrac = config.photFluxFrac.length;
  const size = resultSize(naper, nfrac);
  const pending = shares
    .slice(1)
    .map((indices) => pool.run<Float64Array>({ ...base, kind: 'measure', indices }));
  const out: ObjectMeasures[] = new Array(n);
  // This thread's share, while the workers measure theirs.
  const mine = runMeasureTask({ ...base, indices: shares[0] });
  const results = [mine, ...(await Promise.all(pending))];
  results.forEach((buf, t) => {
    const idx = shares[t];
    for (let k = 0; k < idx.length; k++)
      out[idx[k]] = unpackMeasures(buf, k * size, naper, nfrac, which.aper);
  });
  return out;
}

/** What detection leaves for measurement. */
interface Found {
  planes: Planes;
  objects: SourceObject[];
  seg?: Int32Array;
  phot: Photometer;
  which: Measurements;
  detections: number;
}

/** The planes of one pass, the filtered image included. */
function makePlanes(
  detection: PlaneInput,
  measurement: PlaneInput,
  config: ExtractConfig,
  options: ExtractOptions,
  sign: 1 | -1,
  share: boolean,
): { planes: Planes; kernel?: FilterKernel; detInvalid?: Uint8Array } {
  const { width, height } = detection.image;
  const dual = measurement !== detection;
  const maskBits = options.maskBits ?? 0xff;
  const sh = <T extends Float32Array | Int32Array | Uint8Array>(a: T): T => (share ? shared(a) : a);
  const det = sh(sign > 0 ? detection.image.data : negate(detection.image.data, share));
  const meas = dual ? sh(sign > 0 ? measurement.image.data : negate(measurement.image.data, share)) : det;
  const detInvalid = invalidPixels(det, detection.image.mask, maskBits);
  const measInvalidRaw = dual ? invalidPixels(meas, measurement.image.mask, maskBits) : detInvalid;
  const measInvalid = measInvalidRaw ? sh(measInvalidRaw) : undefined;
  const detNoise = makeNoise(detection.noise, share);
  const measNoise = dual ? makeNoise(measurement.noise, share) : detNoise;
  const relative = config.threshType === 'RELATIVE';
  const kernel = config.filter ? (options.filter ?? DEFAULT_FILTER) : undefined;
  let detThreshMap: Float32Array | undefined;
  if (relative && detNoise.kind === 'map') {
    const fv = kernel
      ? convolveVariance(detNoise.variance, width, height, kernel, detInvalid)
      : detNoise.variance;
    detThreshMap = share
      ? new Float32Array(new SharedArrayBuffer(fv.byteLength))
      : new Float32Array(fv.length);
    for (let i = 0; i < fv.length; i++) detThreshMap[i] = config.detectThresh * Math.sqrt(fv[i]);
  }
  const background = measurement.background;
  const planes: Planes = {
    width,
    height,
    det,
    // Filtered below (filterPlanes).
    filt: det,
    meas,
    detNoise,
    measNoise,
    detThreshMap,
    detThresh: relative ? config.detectThresh * detNoise.sigma : config.detectThresh,
    analysisThresh: config.analysisThresh,
    relative,
    measBad: measInvalid,
    background: background instanceof Float32Array ? background : undefined,
    backgroundFn: typeof background === 'function' ? background : undefined,
    backgroundLevel: typeof background === 'number' ? background : 0,
    gain: measurement.gain ?? 0,
    detGain: detection.gain ?? 0,
    saturation: sign > 0 ? (measurement.saturation ?? Number.POSITIVE_INFINITY) : Number.POSITIVE_INFINITY,
  };
  return { planes, kernel, detInvalid };
}

function analyseOptions(config: ExtractConfig): AnalyseOptions {
  return {
    nthresh: config.deblendNThresh,
    mincont: config.deblendMinCont,
    minArea: config.detectMinArea,
    maxArea: config.detectMaxArea,
    clean: config.clean,
  };
}

function detectPass(
  detection: PlaneInput,
  measurement: PlaneInput,
  config: ExtractConfig,
  options: ExtractOptions,
  sign: 1 | -1,
): Found {
  const { planes, kernel, detInvalid } = makePlanes(detection, measurement, config, options, sign, false);
  const filt = kernel
    ? convolveImage(planes.det, planes.width, planes.height, kernel, detInvalid)
    : withInvalid(planes.det, detInvalid);
  const p: Planes = { ...planes, filt };
  const components = segmentImage(filt, p.width, p.height, p.detThresh, p.detThreshMap, config.detectMinArea);
  const segmenter = new SubSegmenter();
  const o = analyseOptions(config);
  const lists = components.map((c) => analyseComponent(c.pixels, c.flag, p, o, segmenter));
  return finishDetection(p, lists, components.length, config, options, false, filt !== planes.det);
}

/** The same, the filtering and the components' analysis spread over the pool's threads. */
async function detectPassParallel(
  detection: PlaneInput,
  measurement: PlaneInput,
  config: ExtractConfig,
  options: ExtractOptions,
  sign: 1 | -1,
  pool: WorkerPool,
  threads: number,
): Promise<Found> {
  const { planes, kernel, detInvalid } = makePlanes(detection, measurement, config, options, sign, true);
  const { width, height } = planes;
  let filt: Float32Array;
  if (kernel) {
    let src = planes.det;
    if (detInvalid) {
      src = new Float32Array(new SharedArrayBuffer(src.byteLength));
      src.set(planes.det);
      for (let i = 0; i < src.length; i++) if (detInvalid[i]) src[i] = 0;
    }
    filt = new Float32Array(new SharedArrayBuffer(width * height * 4));
    const bands = Array.from({ length: threads }, (_, t) => [
      Math.floor((t * height) / threads),
      Math.floor(((t + 1) * height) / threads),
    ]);
    const pending = bands
      .slice(1)
      .map(([y0, y1]) => pool.run({ kind: 'filter', src, out: filt, width, height, kernel, y0, y1 }));
    convolveRows(src, filt, width, height, kernel, bands[0][0], bands[0][1]);
    await Promise.all(pending);
    if (detInvalid)
      for (let i = 0; i < filt.length; i++) if (detInvalid[i]) filt[i] = Number.NEGATIVE_INFINITY;
  } else {
    filt = shared(withInvalid(planes.det, detInvalid));
  }
  const p: Planes = { ...planes, filt };
  const components = segmentImage(filt, width, height, p.detThresh, p.detThreshMap, config.detectMinArea);
  // Components to threads, interleaved; all their pixels in one shared array.
  let total = 0;
  for (const c of components) total += c.pixels.length;
  const pixels = new Int32Array(new SharedArrayBuffer(Math.max(1, total) * 4));
  const offsets = new Int32Array(components.length + 1);
  const flags = new Uint8Array(components.length);
  components.forEach((c, i) => {
    pixels.set(c.pixels, offsets[i]);
    offsets[i + 1] = offsets[i] + c.pixels.length;
    flags[i] = c.flag;
  });
  const o = analyseOptions(config);
  const shares: Int32Array[] = [];
  for (let t = 0; t < threads; t++) {
    const idx: number[] = [];
    for (let i = t; i < components.length; i += threads) idx.push(i);
    shares.push(Int32Array.from(idx));
  }
  const analysePlanes: AnalysePlanes = {
    width,
    height,
    det: p.det,
    filt,
    meas: p.meas,
    detNoise: p.detNoise,
    measNoise: p.measNoise,
    detThreshMap: p.detThreshMap,
    detThresh: p.detThresh,
    analysisThresh: p.analysisThresh,
    relative: p.relative,
    measBad: p.measBad,
    gain: p.gain,
    detGain: p.detGain,
  };
  const pending = shares.slice(1).map((indices) =>
    pool.run<PackedObjects>({
      kind: 'analyse',
      planes: analysePlanes,
      options: o,
      pixels,
      offsets,
      flags,
      indices,
    }),
  );
  const segmenter = new SubSegmenter();
  const lists: SourceObject[][] = new Array(components.length);
  for (const c of shares[0])
    lists[c] = analyseComponent(pixels.subarray(offsets[c], offsets[c + 1]), flags[c], p, o, segmenter);
  const results = await Promise.all(pending);
  results.forEach((r, t) => {
    const unpacked = unpackAnalysed(r);
    shares[t + 1].forEach((c, k) => {
      lists[c] = unpacked[k];
    });
  });
  return finishDetection(p, lists, components.length, config, options, true, filt !== planes.det);
}

/**
 * Cleaning in scan order, the segmentation map, the photometer. With `filtOwned` (the filtered
 * image is detection's own copy), the segmentation map takes its memory once detection is done
 * with it, unless the caller keeps the maps: 67 MB less to fault in on a 4088² image.
 */
function finishDetection(
  planes: Planes,
  lists: SourceObject[][],
  detections: number,
  config: ExtractConfig,
  options: ExtractOptions,
  share: boolean,
  filtOwned: boolean,
): Found {
  const { width, height } = planes;
  const cleaner = config.clean ? new Cleaner(config.cleanParam, width) : undefined;
  const kept: SourceObject[] = [];
  for (const list of lists) {
    for (const obj of list) {
      if (cleaner) cleaner.offer(obj);
      else kept.push(obj);
    }
  }
  const objects = cleaner ? cleaner.survivors() : kept;
  measureFwhms(objects, planes);

  // Segmentation of the surviving objects (for neighbour masking and the check-image).
  const needSeg = config.maskType !== 'NONE' || options.psf !== undefined || options.keepMaps;
  let seg: Int32Array | undefined;
  if (needSeg) {
    if (filtOwned && !options.keepMaps) seg = new Int32Array(planes.filt.buffer, 0, width * height).fill(0);
    else
      seg = share
        ? new Int32Array(new SharedArrayBuffer(width * height * 4))
        : new Int32Array(width * height);
    objects.forEach((o, i) => {
      const px = o.pixels;
      for (let k = 0; k < px.length; k++) seg![px[k]] = i + 1;
    });
  }

  const phot = new Photometer(planes, photometryOptions(config), seg);
  const which: Measurements = { ...ALL_MEASUREMENTS, ...options.measure };
  // Dependencies: the PSF fit starts at the windowed position; windowed needs the half-light
  // radius of the growth curve, which needs FLUX_AUTO.
  if (options.psf) which.windowed = true;
  if (which.windowed) which.growth = true;
  if (which.growth) which.auto = true;
  return { planes, objects, seg, phot, which, detections };
}

/** Sources from the objects and their measurements (PSF fits, CLASS_STAR and sky positions here). */
function assemble(
  found: Found,
  measures: ObjectMeasures[],
  config: ExtractConfig,
  options: ExtractOptions,
  sign: 1 | -1,
  numberOffset: number,
): PassResult {
  const { planes, objects, seg, phot } = found;
  const pixelScale = config.pixelScale > 0 ? config.pixelScale : options.pixelScale;
  const globalAnalysis = planes.relative
    ? config.analysisThresh * planes.measNoise.sigma
    : config.analysisThresh;
  const sources: Source[] = objects.map((obj, i) => {
    const id = i + 1;
    const { ph, win } = measures[i];
    phot.select(id, obj.mx, obj.my);
    let flags = obj.flag | ph.flag | win.flag;
    const bkg = backgroundAt(planes, obj.mx, obj.my);
    if (isSaturated(planes, obj)) flags |= Flag.SATURATED;
    const source: Source = {
      number: numberOffset + id,
      sign,
      flags,
      x: obj.mx,
      y: obj.my,
      xmin: obj.xmin,
      xmax: obj.xmax,
      ymin: obj.ymin,
      ymax: obj.ymax,
      xpeak: obj.peakx,
      ypeak: obj.peaky,
      x2: obj.mx2,
      y2: obj.my2,
      xy: obj.mxy,
      a: obj.a,
      b: obj.b,
      theta: obj.theta,
      cxx: obj.cxx,
      cyy: obj.cyy,
      cxy: obj.cxy,
      errx2: obj.errx2,
      erry2: obj.erry2,
      errxy: obj.errxy,
      isoArea: obj.npix,
      isoAreaF: obj.fdnpix,
      iso: obj.iso,
      fluxIso: { flux: obj.flux, error: Math.sqrt(obj.fluxVar) },
      fluxIsocor: ph.isocor,
      fluxMax: obj.peak,
      background: bkg,
      threshold: obj.dthresh,
      analysisThreshold: obj.thresh,
      fluxAper: ph.aper,
      fluxAuto: ph.auto,
      kronRadius: ph.kronRadius,
      fluxPetro: ph.petro,
      petroRadius: ph.petroRadius,
      fluxBest: flags & Flag.CROWDED ? ph.isocor : ph.auto,
      fluxRadius: ph.fluxRadius,
      fwhm: obj.fwhm,
      win,
    };
    if (options.network && pixelScale && pixelScale > 0) {
      source.classStar = classStar(options.network, obj, config.seeingFwhm, pixelScale, globalAnalysis);
    }
    if (options.psf) {
      // The fit starts at the windowed centroid, unless that has walked more than a pixel from
      // the isophotal one: next to a much brighter neighbour the window slides onto it, and the
      // fit would measure the neighbour.
      const drift = Math.hypot(win.x - obj.mx, win.y - obj.my) > PSF_START_DRIFT;
      source.psf = fitPsf(phot, options.psf, drift ? obj.mx : win.x, drift ? obj.my : win.y, options.psfFit);
    }
    if (options.wcs) {
      source.sky = options.wcs.pixelToSky(obj.mx, obj.my);
      source.skyWin = options.wcs.pixelToSky(win.x, win.y);
      if (source.psf) source.skyPsf = options.wcs.pixelToSky(source.psf.x, source.psf.y);
    }
    return source;
  });
  let segmentation: Int32Array | undefined;
  if (options.keepMaps && seg) {
    segmentation = seg;
    if (numberOffset) for (let i = 0; i < seg.length; i++) if (seg[i]) seg[i] += numberOffset;
  }
  return {
    sources,
    detections: found.detections,
    segmentation,
    filtered: options.keepMaps ? planes.filt : undefined,
  };
}

/**
 * SATURATED: the raw value (measurement + background) of the object's brightest pixel reaches
 * the saturation level, within float rounding. (SourceExtractor compares FLUX_MAX plus the
 * background at the barycentre in single precision, which for pixels exactly at the level is
 * decided by rounding.)
 */
function isSaturated(planes: Planes, obj: SourceObject): boolean {
  if (!Number.isFinite(planes.saturation)) return false;
  const p = obj.peakIndex;
  const bkg = backgroundAt(planes, p % planes.width, Math.floor(p / planes.width));
  return planes.meas[p] + bkg >= planes.saturation - 1e-6 * Math.abs(planes.saturation);
}

function withInvalid(det: Float32Array, invalid: Uint8Array | undefined): Float32Array {
  if (!invalid) return det;
  const out = new Float32Array(det);
  for (let i = 0; i < out.length; i++) if (invalid[i]) out[i] = Number.NEGATIVE_INFINITY;
  return out;
}
