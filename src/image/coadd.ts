/**
 * Co-addition of frames into a reference image (RAPID's reference build, done our way):
 *
 * 1. Each input, one at a time, is background-subtracted (mesh background, background.ts),
 *    scaled to the common photometric zero point (from its header's zero point, or from the
 *    median flux ratio of stars matched with the first input), and resampled onto the target
 *    grid (resample.ts, flux-conserving) over the part of the grid it reaches. Its resampled
 *    pixels and inverse-variance weights go to a frame store, and the input is released.
 * 2. The target grid is then combined in horizontal strips: for each strip the overlapping
 *    rows of every stored frame are read and each pixel's values are combined.
 *
 * So memory holds one input (and its resampled copy) in the first pass, and one strip of
 * every frame in the second: 25 inputs of 4088² need no more than a few of them do.
 *
 * Combination, per pixel (frames with no data there left out):
 * - 'clipped-mean' (default): inverse-variance weighted mean with outlier rejection. Start
 *   from the median; reject values farther than κ·√(σᵢ² + (f·centre)²) from the centre
 *   (σᵢ the frame's noise, f `clipAmpFraction` allowing for PSF and undersampling differences
 *   on stars, as SWarp's CLIPPED combine); re-centre on the weighted mean of the rest; repeat.
 * - 'median': the plain median (uncertainty √(π/2) times the weighted mean's).
 * Outputs: the image, the coverage (frames used per pixel) and the 1σ uncertainty, NaN
 * where no frame has data.
 *
 * The module does no I/O: inputs come through `CoaddFrame.load()`, and the frame store is
 * either in memory (`memoryFrameStore`) or provided by the caller (the CLI keeps it on disk).
 */

import { tileCentre, tileCorners, tileSize } from '../sky/tiles.ts';
import { BadInputError } from '../util/errors.ts';
import { Wcs } from '../wcs/index.ts';
import {
  type BackgroundOptions,
  interpolateMeshThreaded,
  measureBackgroundMeshThreaded,
} from './background.ts';
import type { CombineMode, CombineTask } from './coadd-combine.ts';

export { type CombineMode, combinePixel } from './coadd-combine.ts';

import type { Image } from './image.ts';
import { blankSaturated } from './masks.ts';
import {
  overlapRegion,
  type Region,
  type ResampleKernelName,
  ResampleScratch,
  resampleRegion,
} from './resample.ts';
import { medianInPlace, sigmaClippedStats } from './stats.ts';
import { defaultPool, sharedFloat32, sharedFloat64, type WorkerPool } from './workers.ts';

/** Roman's detector width in pixels: the default grid covers a tile plus this margin. */
export const DETECTOR_WIDTH = 4088;
/** Default pixel scale of reference grids, arcsec. */
export const REFERENCE_PIXEL_SCALE = 0.11;

/** An input frame: a name, and how to load it (once, when its turn comes). */
export interface CoaddFrame {
  name: string;
  load(): Promise<LoadedFrame>;
}

export interface LoadedFrame {
  image: Image;
  wcs: Wcs;
  /** Magnitude of one count (ZPTMAG and the like), when the header gives it. */
  zeroPoint?: number;
  /**
   * Saturation level (SATURATE): pixels at or above it are left out, so that a clipped core is
   * filled by the other inputs, or the coverage says none could.
   */
  saturation?: number;
}

/** Where resampled frames wait between the two passes. */
export interface FrameStore {
  /** Keep frame `index`: values and weights over a region of the target grid (the arrays are reused after the call). */
  put(index: number, region: Region, data: Float32Array, weight: Float32Array): Promise<void>;
  /** Rows [y0, y1) of the region (region-relative) of frame `index`. */
  rows(index: number, y0: number, y1: number): Promise<{ data: Float32Array; weight: Float32Array }>;
  /** Release everything. */
  close(): Promise<void>;
}

export interface TargetGrid {
  wcs: Wcs;
  width: number;
  height: number;
  /** The sky tile this grid is centred on, for QA over the tile's own pixels. */
  tile?: { id: number; nside: number };
}

export interface CoaddOptions {
  combine?: CombineMode;
  /** Rejection threshold κ in σ; default 3. */
  clipSigma?: number;
  /** Allowed fractional deviation f on bright pixels; default 0.3 (SWarp's CLIP_AMPFRAC). */
  clipAmpFraction?: number;
  /** Photometric scaling: 'header' (zero points; default) or 'stars' (matched stars' flux ratios). */
  photometry?: 'header' | 'stars';
  /** The common zero point; default the first input's (or 0 when none has one). */
  zeroPoint?: number;
  kernel?: ResampleKernelName;
  /** Background subtraction options, or false when the inputs are already background-free. */
  background?: BackgroundOptions | false;
  /** Rows per strip in the combination pass; default 128. */
  stripHeight?: number;
  store?: FrameStore;
  pool?: WorkerPool;
  /** Called after each input is resampled (for progress reports). */
  onFrame?: (info: FrameInfo) => void;
}

export interface FrameInfo {
  index: number;
  name: string;
  /** Multiplicative scale applied to reach the common zero point. */
  scale: number;
  zeroPoint?: number;
  /** Background RMS of the input (global, before scaling). */
  backgroundRms: number;
  /** Target pixels this frame reached, or 0 when it does not overlap the grid. */
  pixels: number;
  /** Stars used when the scale came from matched stars. */
  matchedStars?: number;
}

export interface CoaddQa {
  /** Inputs that overlapped the grid and were combined. */
  nInputs: number;
  /** Percentage of the tile's pixels (or the grid's) covered by at least 5 frames. */
  cov5percent: number;
  /** Effective PSF FWHM from second moments of bright isolated peaks, pixels and arcsec (NaN if none). */
  fwhmPixels: number;
  fwhmArcsec: number;
  starsForFwhm: number;
  zeroPoint: number;
  /** Robust standard deviation of the co-add's background pixels. */
  backgroundRms: number;
  /** Median uncertainty over covered pixels. */
  medianUncertainty: number;
  /** Values rejected by the clipping, all frames together. */
  rejectedValues: number;
}

export interface CoaddResult {
  width: number;
  height: number;
  image: Float32Array;
  /** Frames used per pixel. */
  coverage: Uint16Array;
  /** 1σ uncertainty per pixel. */
  uncertainty: Float32Array;
  frames: FrameInfo[];
  qa: CoaddQa;
  timings: CoaddTimings;
}

/** Seconds spent per phase, all frames together. */
export interface CoaddTimings {
  load: number;
  /** Background subtraction and photometric scaling. */
  background: number;
  /** Resampling and weights. */
  resample: number;
  /** Putting resampled frames into the frame store. */
  store: number;
  /** Reading the strips back. */
  strips: number;
  combine: number;
  qa: number;
}

/**
 * The default reference grid of a sky tile: north-up TAN centred on the tile, covering the
 * tile plus a detector's width (≈ 7,835² at 0.11″/px for nside 512).
 */
export function tileGrid(
  tile: number,
  nside: number,
  options: { pixelScale?: number; margin?: number; width?: number; height?: number } = {},
): TargetGrid {
  const scale = options.pixelScale ?? REFERENCE_PIXEL_SCALE;
  const side = Math.ceil((tileSize(nside) * 3600) / scale) + (options.margin ?? DETECTOR_WIDTH);
  const width = options.width ?? side;
  const height = options.height ?? side;
  const c = tileCentre(tile, nside);
  const s = scale / 3600;
  const wcs = new Wcs({
    axes: ['RA', 'DEC'],
    projection: 'TAN',
    crpix: [(width + 1) / 2, (height + 1) / 2],
    crval: [c.ra, c.dec],
    cd: [-s, 0, 0, s],
    radesys: 'ICRS',
    width,
    height,
  });
  return { wcs, width, height, tile: { id: tile, nside } };
}

/** Keeps resampled frames in memory (tests, small co-adds). */
export function memoryFrameStore(): FrameStore {
  const frames = new Map<number, { region: Region; data: Float32Array; weight: Float32Array }>();
  return {
    async put(index, region, data, weight) {
      // Copies: the arrays given may be reused by the caller.
      frames.set(index, { region, data: data.slice(), weight: weight.slice() });
    },
    async rows(index, y0, y1) {
      const f = frames.get(index)!;
      const w = f.region.width;
      return { data: f.data.subarray(y0 * w, y1 * w), weight: f.weight.subarray(y0 * w, y1 * w) };
    },
    async close() {
      frames.clear();
    },
  };
}

// ---- photometry --------------------------------------------------------------------------

interface StarRef {
  ra: number;
  dec: number;
  flux: number;
}

const APERTURE_RADIUS = 3;

function apertureSum(
  data: Float32Array,
  width: number,
  height: number,
  x: number,
  y: number,
  r: number,
): number {
  let s = 0;
  const x0 = Math.floor(x - r);
  const y0 = Math.floor(y - r);
  if (x0 < 0 || y0 < 0 || x + r >= width - 1 || y + r >= height - 1) return Number.NaN;
  for (let yy = y0; yy <= Math.ceil(y + r); yy++) {
    for (let xx = x0; xx <= Math.ceil(x + r); xx++) {
      if ((xx - x) ** 2 + (yy - y) ** 2 <= r * r) s += data[yy * width + xx];
    }
  }
  return s;
}

/**
 * Bright isolated peaks of a background-subtracted image: local maxima above `threshold`,
 * with nothing above a fifth of the peak between 4 and 8 pixels away, and no NaN nearby.
 */
export function brightIsolatedPeaks(
  data: Float32Array,
  width: number,
  height: number,
  threshold: number,
  max = 200,
): { x: number; y: number; peak: number }[] {
  const found: { x: number; y: number; peak: number }[] = [];
  const R = 8;
  for (let y = R; y < height - R; y++) {
    for (let x = R; x < width - R; x++) {
      const k = y * width + x;
      const v = data[k];
      if (!(v > threshold)) continue;
      if (
        !(v > data[k - 1] && v >= data[k + 1] && v > data[k - width] && v >= data[k + width]) ||
        !(
          v > data[k - width - 1] &&
          v >= data[k + width + 1] &&
          v >= data[k - width + 1] &&
          v > data[k + width - 1]
        )
      ) {
        continue;
      }
      let isolated = true;
      for (let dy = -R; dy <= R && isolated; dy++) {
        for (let dx = -R; dx <= R; dx++) {
          const d2 = dx * dx + dy * dy;
          const u = data[k + dy * width + dx];
          if (Number.isNaN(u) || (d2 >= 16 && d2 <= R * R && u > 0.2 * v)) {
            isolated = false;
            break;
          }
        }
      }
      if (isolated) found.push({ x, y, peak: v });
    }
  }
  found.sort((a, b) => b.peak - a.peak);
  return found.slice(0, max);
}

/** Effective PSF FWHM (pixels) from second moments of bright isolated peaks: the median over stars. */
export function estimateFwhm(
  data: Float32Array,
  width: number,
  height: number,
  noise: number,
): { fwhm: number; stars: number } {
  const peaks = brightIsolatedPeaks(data, width, height, 30 * noise, 100);
  const values: number[] = [];
  const r = 4;
  for (const p of peaks) {
    let s = 0;
    let sx = 0;
    let sy = 0;
    for (let dy = -r; dy <= r; dy++) {
      for (let dx = -r; dx <= r; dx++) {
        if (dx * dx + dy * dy > r * r) continue;
        const v = data[(p.y + dy) * width + p.x + dx];
        s += v;
        sx += v * dx;
        sy += v * dy;
      }
    }
    const cx = sx / s;
    const cy = sy / s;
    let mxx = 0;
    let myy = 0;
    for (let dy = -r; dy <= r; dy++) {
      for (let dx = -r; dx <= r; dx++) {
        if (dx * dx + dy * dy > r * r) continue;
        const v = data[(p.y + dy) * width + p.x + dx];
        mxx += v * (dx - cx) ** 2;
        myy += v * (dy - cy) ** 2;
      }
    }
    const sigma2 = (mxx + myy) / (2 * s);
    if (sigma2 > 0) values.push(2 * Math.sqrt(2 * Math.log(2)) * Math.sqrt(sigma2));
  }
  if (values.length === 0) return { fwhm: Number.NaN, stars: 0 };
  values.sort((a, b) => a - b);
  return { fwhm: values[values.length >> 1], stars: values.length };
}

/** Reference stars of the first frame: bright isolated peaks with their aperture fluxes. */
function referenceStars(
  data: Float32Array,
  width: number,
  height: number,
  noise: number,
  wcs: Wcs,
): StarRef[] {
  return brightIsolatedPeaks(data, width, height, 20 * noise).flatMap((p) => {
    const flux = apertureSum(data, width, height, p.x, p.y, APERTURE_RADIUS);
    if (!(flux > 0)) return [];
    const sky = wcs.pixelToSky(p.x, p.y);
    return [{ ra: sky.ra, dec: sky.dec, flux }];
  });
}

/** Median flux ratio reference / this frame over the reference stars that land on it. */
function matchedScale(
  data: Float32Array,
  width: number,
  height: number,
  wcs: Wcs,
  stars: StarRef[],
): { scale: number; count: number } {
  const ratios: number[] = [];
  for (const s of stars) {
    const p = wcs.skyToPixel(s.ra, s.dec);
    // Re-centre on the local peak: the reference position is good to a fraction of a pixel.
    const f = apertureSum(data, width, height, p.x, p.y, APERTURE_RADIUS);
    if (f > 0) ratios.push(s.flux / f);
  }
  if (ratios.length === 0) return { scale: Number.NaN, count: 0 };
  ratios.sort((a, b) => a - b);
  return { scale: ratios[ratios.length >> 1], count: ratios.length };
}

// ---- combination -------------------------------------------------------------------------

/** Columns [x0, x1) of row y inside a polygon (pixel coordinates), clipped to [0, width). */
function rowSpan(y: number, px: Float64Array, py: Float64Array, width: number): [number, number] {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (let i = 0, j = px.length - 1; i < px.length; j = i++) {
    if (py[i] > y !== py[j] > y) {
      const x = ((px[j] - px[i]) * (y - py[i])) / (py[j] - py[i]) + px[i];
      lo = Math.min(lo, x);
      hi = Math.max(hi, x);
    }
  }
  if (!(hi >= lo)) return [0, 0];
  const x0 = Math.max(0, Math.ceil(lo));
  const x1 = Math.min(width, Math.floor(hi) + 1);
  return x1 > x0 ? [x0, x1] : [0, 0];
}

/** Co-add frames onto a target grid. */
export async function coadd(
  frames: CoaddFrame[],
  grid: TargetGrid,
  options: CoaddOptions = {},
): Promise<CoaddResult> {
  if (frames.length === 0) throw new BadInputError('no input frames to co-add');
  const { width: W, height: H, wcs: target } = grid;
  const store = options.store ?? memoryFrameStore();
  const mode = options.combine ?? 'clipped-mean';
  const kappa = options.clipSigma ?? 3;
  const amp = options.clipAmpFraction ?? 0.3;
  const photometry = options.photometry ?? 'header';
  let zpRef = options.zeroPoint;
  const infos: FrameInfo[] = [];
  const regions: (Region | undefined)[] = [];
  let stars: StarRef[] | undefined;
  const scratch = new ResampleScratch();
  // Resampled planes alternate between two sets of buffers, so that one frame's put into the
  // store (file writes, in the background) overlaps the next frame's work.
  const outputs = [new ResampleScratch(), new ResampleScratch()];
  let putting: Promise<void> | undefined;
  const timings: CoaddTimings = {
    load: 0,
    background: 0,
    resample: 0,
    store: 0,
    strips: 0,
    combine: 0,
    qa: 0,
  };
  let mark = performance.now();
  const lap = (step: keyof CoaddTimings) => {
    const now = performance.now();
    timings[step] += (now - mark) / 1000;
    mark = now;
  };

  try {
    // ---- pass 1: one frame at a time ----
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i];
      const { image: img, wcs, zeroPoint, saturation } = await f.load();
      lap('load');
      // The common zero point: as asked, else the first input's that has one.
      if (zpRef === undefined && zeroPoint !== undefined) zpRef = zeroPoint;
      const region = overlapRegion(wcs, img.width, img.height, target, W, H);
      regions.push(region);
      if (!region) {
        infos.push({
          index: i,
          name: f.name,
          scale: Number.NaN,
          zeroPoint,
          backgroundRms: Number.NaN,
          pixels: 0,
        });
        options.onFrame?.(infos[i]);
        continue;
      }
      const n = img.width * img.height;
      // Per-frame planes live in reused buffers: fresh 67 MB arrays per frame cost more in page
      // faults than the arithmetic on them.
      const data = scratch.float32('input', n);
      // Without a variance plane a frame's noise is its background RMS: its weight is then one
      // number, and no variance needs resampling.
      const variance = img.variance?.slice();
      let backgroundRms: number;
      data.set(img.data);
      if (saturation !== undefined) blankSaturated(data, saturation);
      if (options.background === false) {
        backgroundRms = sigmaClippedStats(img.data.filter((_, k) => k % 17 === 0)).std;
      } else {
        const mesh = await measureBackgroundMeshThreaded({ ...img, data }, options.background, options.pool);
        await interpolateMeshThreaded(mesh, mesh.level, img.width, img.height, data, {
          subtract: true,
          pool: options.pool,
        });
        backgroundRms = mesh.globalRms;
      }
      let scale: number;
      let matchedStars: number | undefined;
      if (photometry === 'stars') {
        if (stars === undefined) {
          stars = referenceStars(data, img.width, img.height, backgroundRms, wcs);
          scale = zeroPoint !== undefined && zpRef !== undefined ? 10 ** (0.4 * (zpRef - zeroPoint)) : 1;
          for (const s of stars) s.flux *= scale;
          matchedStars = stars.length;
        } else {
          const m = matchedScale(data, img.width, img.height, wcs, stars);
          if (!(m.count >= 3))
            throw new BadInputError(
              `${f.name}: only ${m.count} stars matched the first input; cannot scale its photometry`,
            );
          scale = m.scale;
          matchedStars = m.count;
        }
      } else {
        scale = zeroPoint !== undefined && zpRef !== undefined ? 10 ** (0.4 * (zpRef - zeroPoint)) : 1;
      }
      for (let k = 0; k < n; k++) data[k] *= scale;
      if (variance) for (let k = 0; k < n; k++) variance[k] *= scale * scale;
      lap('background');
      const r = await resampleRegion(
        { width: img.width, height: img.height, data, variance, mask: img.mask },
        wcs,
        target,
        region,
        {
          kernel: options.kernel,
          pool: options.pool,
          scratch: outputs[i % 2],
        },
      );
      const weight = outputs[i % 2].float32('weight', r.data.length);
      const frameWeight = backgroundRms > 0 ? 1 / (backgroundRms * scale) ** 2 : 1;
      const { coverage: cov, data: rd, variance: rv } = r;
      for (let k = 0; k < weight.length; k++) {
        const c = cov[k];
        if (!(c > 0) || Number.isNaN(rd[k])) weight[k] = 0;
        else if (rv) weight[k] = rv[k] > 0 ? c / rv[k] : 0;
        else weight[k] = c * frameWeight;
      }
      lap('resample');
      await putting;
      putting = store.put(i, region, r.data, weight);
      // Its failure surfaces at the next await; until then it must not count as unhandled.
      putting.catch(() => {});
      lap('store');
      infos.push({
        index: i,
        name: f.name,
        scale,
        zeroPoint,
        backgroundRms,
        pixels: r.validPixels,
        matchedStars,
      });
      options.onFrame?.(infos[i]);
    }
    await putting;
    lap('store');
    const used = regions.filter((r) => r !== undefined).length;
    if (used === 0)
      throw new BadInputError(`none of the ${frames.length} inputs overlaps the ${W}×${H} target grid`);

    // ---- pass 2: strips of the target grid, rows shared among the threads ----
    const pool = options.pool ?? defaultPool();
    const image = sharedFloat32(W * H);
    const coverage = new Uint16Array(new SharedArrayBuffer(2 * W * H));
    const uncertainty = sharedFloat32(W * H);
    const rejectedCounts = sharedFloat64(pool.threads);
    const S = options.stripHeight ?? 128;
    // Each strip's rows, read while the previous strip is being combined.
    const readStrip = (y0: number) => {
      const y1 = Math.min(H, y0 + S);
      const parts: Promise<{
        i: number;
        ry0: number;
        ry1: number;
        data: Float32Array;
        weight: Float32Array;
      }>[] = [];
      for (let i = 0; i < frames.length; i++) {
        const r = regions[i];
        if (!r || r.y0 >= y1 || r.y0 + r.height <= y0) continue;
        const ry0 = Math.max(y0, r.y0);
        const ry1 = Math.min(y1, r.y0 + r.height);
        parts.push(store.rows(i, ry0 - r.y0, ry1 - r.y0).then((rows) => ({ i, ry0, ry1, ...rows })));
      }
      const all = Promise.all(parts);
      all.catch(() => {});
      return all;
    };
    let next = readStrip(0);
    for (let y0 = 0; y0 < H; y0 += S) {
      const y1 = Math.min(H, y0 + S);
      const parts = await next;
      if (y1 < H) next = readStrip(y1);
      const strip: CombineTask['frames'] = [];
      for (const { i, ry0, ry1, data: rowData, weight: rowWeight } of parts) {
        const r = regions[i]!;
        // Reused shared buffers, one pair per frame (workers free shared memory only when they collect garbage).
        const d = scratch.float32(`strip${i}`, rowData.length);
        const wt = scratch.float32(`stripWeight${i}`, rowWeight.length);
        d.set(rowData);
        wt.set(rowWeight);
        strip.push({
          x0: r.x0,
          width: r.width,
          ry0,
          rows: ry1 - ry0,
          data: d.buffer as SharedArrayBuffer,
          weight: wt.buffer as SharedArrayBuffer,
        });
      }
      lap('strips');
      let slot = 0;
      await pool.runRanges(y1 - y0, (start, end) => ({
        kind: 'combine',
        mode,
        kappa,
        ampFraction: amp,
        width: W,
        y0,
        start: y0 + start,
        end: y0 + end,
        frames: strip,
        image: image.buffer as SharedArrayBuffer,
        coverage: coverage.buffer as SharedArrayBuffer,
        uncertainty: uncertainty.buffer as SharedArrayBuffer,
        rejected: rejectedCounts.buffer as SharedArrayBuffer,
        slot: slot++,
      }));
      lap('combine');
    }
    const rejected = rejectedCounts.reduce((a, b) => a + b, 0);

    // ---- QA ----
    // The tile's pixels, row by row: the span between the crossings of its outline (in pixels).
    let span: (y: number) => [number, number] = () => [0, W];
    if (grid.tile) {
      const corners = tileCorners(grid.tile.id, grid.tile.nside);
      const p = target.skyToPixel(
        Float64Array.from(corners, (c) => c.ra),
        Float64Array.from(corners, (c) => c.dec),
      );
      span = (y) => rowSpan(y, p.x, p.y, W);
    }
    let tilePixels = 0;
    let deep = 0;
    for (let y = 0; y < H; y++) {
      const [x0, x1] = span(y);
      tilePixels += x1 - x0;
      for (let k = y * W + x0; k < y * W + x1; k++) if (coverage[k] >= 5) deep++;
    }
    const step = 13;
    const sample = new Float64Array(Math.ceil((W * H) / step));
    const uncSample = new Float64Array(sample.length);
    let m = 0;
    for (let k = 0; k < W * H; k += step) {
      if (coverage[k] === 0) continue;
      sample[m] = image[k];
      uncSample[m++] = uncertainty[k];
    }
    const bg = sigmaClippedStats(sample.subarray(0, m), 3, 5);
    const fw = estimateFwhm(image, W, H, bg.std);
    const medianUncertainty = m > 0 ? medianInPlace(uncSample, m) : Number.NaN;
    const qa: CoaddQa = {
      nInputs: used,
      cov5percent: tilePixels > 0 ? (100 * deep) / tilePixels : 0,
      fwhmPixels: fw.fwhm,
      fwhmArcsec: fw.fwhm * target.pixelScale(W / 2, H / 2),
      starsForFwhm: fw.stars,
      zeroPoint: zpRef ?? 0,
      backgroundRms: bg.std,
      medianUncertainty,
      rejectedValues: rejected,
    };
    lap('qa');
    return { width: W, height: H, image, coverage, uncertainty, frames: infos, qa, timings };
  } finally {
    await putting?.catch(() => {});
    await store.close();
  }
}
