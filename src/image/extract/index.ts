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
 */
import type { Image } from '../image.ts';
import type { PsfModel } from '../psf/model.ts';
import { backgroundAt, examineIso, preanalyse, preanalyseFast } from './analyse.ts';
import { classStar } from './classstar.ts';
import { Cleaner } from './clean.ts';
import { type ExtractConfig, type FilterKernel, defaultConfig, type NeuralNetwork } from './config.ts';
import { deblend } from './deblend.ts';
import { convolveImage, convolveVariance, invalidPixels } from './filter.ts';
import { Flag } from './flags.ts';
import { segmentImage, SubSegmenter } from './lutz.ts';
import { type Noise, type Planes, SourceObject } from './object.ts';
import { ALL_MEASUREMENTS, type Measurements, Photometer } from './photometry.ts';
import {
  isophotalWindow,
  measureObject,
  type ObjectMeasures,
  packObjects,
  photometryOptions,
  resultSize,
  runMeasureTask,
  shared,
  unpackMeasures,
} from './measure.ts';
import { WorkerPool, workerUrl } from '../../util/pool.ts';
import { availableParallelism } from 'node:os';
import { fitPsf, type PsfFitOptions } from './psffit.ts';
import type { Source } from './source.ts';

export { ConfigError, DEFAULT_CONFIG, defaultConfig, parseConv, parseNnw, parseParams, parseSexConfig } from './config.ts';
export type { ExtractConfig, FilterKernel, NeuralNetwork, ParamRequest } from './config.ts';
export { Flag, PsfFlag, WinFlag, flagNames } from './flags.ts';
export type { Source, SkyPoint } from './source.ts';
export type { PsfFit, PsfFitOptions } from './psffit.ts';
export { COLUMNS, isColumn, measurementsFor } from './columns.ts';
export { ALL_MEASUREMENTS, type Measurements } from './photometry.ts';
export {
  asciiHeader,
  formatAsciiCatalog,
  formatC,
  parseAsciiCatalog,
  selectColumns,
  tableColumns,
  type CatalogColumn,
} from './catalog.ts';

/** One input plane: a background-subtracted image and its noise. */
export interface PlaneInput {
  /** Pixel values with the background subtracted; NaN (or a mask bit in `maskBits`) marks a pixel without data. */
  image: Image;
  /** 1σ noise: one number for the whole image, or a σ per pixel. */
  noise: number | Float32Array;
  /** The background that was subtracted (a map or one level), for BACKGROUND and saturation; default 0. */
  background?: number | Float32Array;
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
  if (p.image.data.length !== n) throw new RangeError(`${what} image has ${p.image.data.length} pixels, expected ${n}`);
  if (typeof p.noise !== 'number' && p.noise.length !== n) throw new RangeError(`${what} noise map has ${p.noise.length} pixels`);
  if (typeof p.noise === 'number' && !(p.noise > 0)) throw new RangeError(`${what} noise must be > 0, got ${p.noise}`);
  if (p.background instanceof Float32Array && p.background.length !== n) {
    throw new RangeError(`${what} background map has ${p.background.length} pixels`);
  }
}

/** Noise description from σ: one value, or a map (stored as variance) with its median σ. */
function makeNoise(noise: number | Float32Array, share: boolean): Noise {
  if (typeof noise === 'number') return { kind: 'global', sigma: noise };
  const variance = share ? new Float32Array(new SharedArrayBuffer(noise.byteLength)) : new Float32Array(noise.length);
  for (let i = 0; i < noise.length; i++) variance[i] = noise[i] * noise[i];
  // Median σ from a regular sample.
  const step = Math.max(1, Math.floor(noise.length / 100003));
  const sample: number[] = [];
  for (let i = 0; i < noise.length; i += step) if (noise[i] > 0 && Number.isFinite(noise[i])) sample.push(noise[i]);
  sample.sort((a, b) => a - b);
  return { kind: 'map', variance, sigma: sample.length ? sample[sample.length >> 1] : 1 };
}

function negate(data: Float32Array, share: boolean): Float32Array {
  const out = share ? new Float32Array(new SharedArrayBuffer(data.byteLength)) : new Float32Array(data.length);
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
    const found = detectPass(detection, measurement, config, options, sign, false);
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
  options: ExtractOptions & { threads?: number } = {},
  measurement: PlaneInput = detection,
): Promise<ExtractResult> {
  const config = prepare(detection, options, measurement);
  const threads = Math.max(1, Math.floor(options.threads ?? availableParallelism()));
  // Workers start while this thread detects.
  const pool = threads > 1 ? new WorkerPool(workerUrl(import.meta.url, 'worker'), threads - 1) : undefined;
  try {
    const passes: PassResult[] = [];
    for (const sign of options.negative ? ([1, -1] as const) : ([1] as const)) {
      const found = detectPass(detection, measurement, config, options, sign, pool !== undefined);
      const measures = pool ? await measureParallel(found, config, pool, threads) : found.objects.map((obj, i) => measureObject(found.phot, obj, i + 1, found.which));
      passes.push(assemble(found, measures, config, options, sign, passes[0]?.sources.length ?? 0));
    }
    return combine(passes);
  } finally {
    await pool?.close();
  }
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
async function measureParallel(found: Found, config: ExtractConfig, pool: WorkerPool, threads: number): Promise<ObjectMeasures[]> {
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
  const pending = shares.slice(1).map((indices) => pool.run<Float64Array>({ ...base, indices }));
  const out: ObjectMeasures[] = new Array(n);
  // This thread's share, while the workers measure theirs.
  const mine = runMeasureTask({ ...base, indices: shares[0] });
  const results = [mine, ...(await Promise.all(pending))];
  results.forEach((buf, t) => {
    const idx = shares[t];
    for (let k = 0; k < idx.length; k++) out[idx[k]] = unpackMeasures(buf, k * size, naper, nfrac, which.aper);
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

function detectPass(
  detection: PlaneInput,
  measurement: PlaneInput,
  config: ExtractConfig,
  options: ExtractOptions,
  sign: 1 | -1,
  share: boolean,
): Found {
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

  // Filtering and thresholds.
  const kernel = config.filter ? (options.filter ?? DEFAULT_FILTER) : undefined;
  const filt = kernel ? convolveImage(det, width, height, kernel, detInvalid) : withInvalid(det, detInvalid);
  let detThreshMap: Float32Array | undefined;
  if (relative && detNoise.kind === 'map') {
    const fv = kernel ? convolveVariance(detNoise.variance, width, height, kernel, detInvalid) : detNoise.variance;
    detThreshMap = new Float32Array(fv.length);
    for (let i = 0; i < fv.length; i++) detThreshMap[i] = config.detectThresh * Math.sqrt(fv[i]);
  }
  const detThresh = relative ? config.detectThresh * detNoise.sigma : config.detectThresh;
  const background = measurement.background;
  const planes: Planes = {
    width,
    height,
    det,
    filt,
    meas,
    detNoise,
    measNoise,
    detThreshMap,
    detThresh,
    analysisThresh: config.analysisThresh,
    relative,
    measBad: measInvalid,
    background: background instanceof Float32Array ? background : undefined,
    backgroundLevel: typeof background === 'number' ? background : 0,
    gain: measurement.gain ?? 0,
    detGain: detection.gain ?? 0,
    saturation: sign > 0 ? (measurement.saturation ?? Number.POSITIVE_INFINITY) : Number.POSITIVE_INFINITY,
  };

  // Detection: connected components above the threshold, in scan order.
  const components = segmentImage(filt, width, height, detThresh, detThreshMap, config.detectMinArea);
  const segmenter = new SubSegmenter();
  const cleaner = config.clean ? new Cleaner(config.cleanParam, width) : undefined;
  const kept: SourceObject[] = [];
  const deblendOptions = { nthresh: config.deblendNThresh, mincont: config.deblendMinCont, minArea: config.detectMinArea };
  for (const comp of components) {
    const root = new SourceObject(comp.pixels);
    root.flag = comp.flag;
    root.dthresh = objectThreshold(comp.pixels, detThresh, detThreshMap);
    preanalyseFast(root, planes);
    const parts = deblend(root, planes, deblendOptions, segmenter);
    for (const obj of parts) {
      preanalyse(obj, planes, true);
      if (config.detectMaxArea > 0 && obj.fdnpix > config.detectMaxArea) continue;
      examineIso(obj, planes, config.detectMinArea, config.clean);
      if (cleaner) cleaner.offer(obj);
      else kept.push(obj);
    }
  }
  const objects = cleaner ? cleaner.survivors() : kept;

  // Segmentation of the surviving objects (for neighbour masking and the check-image).
  const needSeg = config.maskType !== 'NONE' || options.psf !== undefined || options.keepMaps;
  let seg: Int32Array | undefined;
  if (needSeg) {
    seg = share ? new Int32Array(new SharedArrayBuffer(width * height * 4)) : new Int32Array(width * height);
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
  return { planes, objects, seg, phot, which, detections: components.length };
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
  const globalAnalysis = planes.relative ? config.analysisThresh * planes.measNoise.sigma : config.analysisThresh;
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
    if (options.psf) source.psf = fitPsf(phot, options.psf, win.x, win.y, options.psfFit);
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
  const bkg = planes.background ? planes.background[p] : planes.backgroundLevel;
  return planes.meas[p] + bkg >= planes.saturation - 1e-6 * Math.abs(planes.saturation);
}

function withInvalid(det: Float32Array, invalid: Uint8Array | undefined): Float32Array {
  if (!invalid) return det;
  const out = new Float32Array(det);
  for (let i = 0; i < out.length; i++) if (invalid[i]) out[i] = Number.NEGATIVE_INFINITY;
  return out;
}

function objectThreshold(pixels: Int32Array, thresh: number, map: Float32Array | undefined): number {
  if (!map) return thresh;
  let t = Number.POSITIVE_INFINITY;
  for (let k = 0; k < pixels.length; k++) if (map[pixels[k]] < t) t = map[pixels[k]];
  return t;
}
