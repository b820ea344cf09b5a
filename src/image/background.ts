/**
 * Mesh background and background noise, as SourceExtractor estimates them (Bertin & Arnouts
 * 1996; SourceExtractor manual, "Background"):
 *
 * 1. The image is cut into meshes of `meshSize` pixels (the last row and column of meshes
 *    may be narrower). In each mesh, pixels that are NaN or masked are ignored; a mesh with
 *    fewer than half of its pixels usable is "bad" and later takes the average of its nearest
 *    good meshes.
 * 2. In each mesh the mean and σ are clipped once at ±2σ, then the pixels are binned in a
 *    fine histogram (±5σ around the mean) that is clipped iteratively at ±3σ around its
 *    median until σ converges. The background is the clipped mode estimate
 *    2.5·median − 1.5·mean, unless |mean − median|/σ > 0.3 (a crowded mesh), where the
 *    median is used instead; the mesh RMS is the clipped σ.
 * 3. The mesh map is median-filtered over `filterSize` meshes (the window shrinks
 *    symmetrically at the map's edges, as in SourceExtractor); a mesh changes only when the
 *    median differs from it by at least `filterThreshold`.
 * 4. The background and RMS at full resolution come from natural bicubic splines through
 *    the mesh centres (pixel (i + 0.5)·meshSize − 0.5 along each axis, 0-based), extrapolated
 *    beyond the outermost centres.
 */
import { BadInputError } from '../util/errors.ts';
import type { Image } from './image.ts';
import { medianInPlace } from './stats.ts';

export interface BackgroundOptions {
  /** Mesh size in pixels: one number for square meshes, or [width, height]. SourceExtractor's BACK_SIZE, default 64. */
  meshSize?: number | readonly [number, number];
  /** Median filter size in meshes (odd): one number or [width, height]. BACK_FILTERSIZE, default 3. */
  filterSize?: number | readonly [number, number];
  /** A mesh is replaced by the filtered value only if they differ by at least this much. BACK_FILTERTHRESH, default 0. */
  filterThreshold?: number;
  /** Mask bits (MaskBit) that exclude a pixel; default: any bit. */
  maskBits?: number;
}

/** The low-resolution background: one value per mesh, row-major (index j * nx + i). */
export interface BackgroundMesh {
  readonly nx: number;
  readonly ny: number;
  readonly meshWidth: number;
  readonly meshHeight: number;
  /** Background level of each mesh, after filling bad meshes and filtering. */
  readonly level: Float32Array;
  /** Background RMS of each mesh, after filling and filtering. */
  readonly rms: Float32Array;
  /** Median of the mesh levels (SourceExtractor's global background). */
  readonly globalLevel: number;
  /** Median of the positive mesh RMS values (SourceExtractor's global RMS). */
  readonly globalRms: number;
  /** Meshes that had too few usable pixels and were filled from their neighbours. */
  readonly badMeshes: number;
}

export interface Background {
  readonly mesh: BackgroundMesh;
  /** Background at every pixel. */
  readonly level: Float32Array;
  /** Background RMS (1σ noise) at every pixel. */
  readonly rms: Float32Array;
}

/** Below this share of usable pixels a mesh is bad (SourceExtractor's BACK_MINGOODFRAC). */
const MIN_GOOD_FRACTION = 0.5;
/** The histogram spans ±5σ around the clipped mean. */
const HISTOGRAM_NSIGMA = 5;
/** At most this many histogram bins. */
const HISTOGRAM_MAX_LEVELS = 4096;
/** Aim for about this many pixels per bin near the mode. */
const HISTOGRAM_MIN_PER_BIN = 4;
/** Above this |mean − median|/σ a mesh is crowded and its median is used instead of the mode. */
const CROWDED_SKEW = 0.3;

function pair(
  v: number | readonly [number, number] | undefined,
  fallback: number,
  what: string,
): [number, number] {
  const p: [number, number] =
    v === undefined ? [fallback, fallback] : typeof v === 'number' ? [v, v] : [v[0], v[1]];
  for (const x of p) {
    if (!Number.isInteger(x) || x < 1) throw new RangeError(`${what} must be a positive integer, got ${x}`);
  }
  return p;
}

/** Running sums over histogram bins: counts, and counts times the bin index and its square. */
interface Cumulative {
  count: Float64Array;
  m1: Float64Array;
  m2: Float64Array;
}

/** Mode and σ of one mesh's usable pixels. */
function meshStatistics(
  values: Float32Array,
  n: number,
  histogram: Int32Array,
  cumulative: Cumulative,
): { mode: number; sigma: number } {
  // A first clip at ±2σ around the mean removes the bright wings before binning.
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    s += v;
    s2 += v * v;
  }
  let mean = s / n;
  let sigma = Math.sqrt(Math.max(0, s2 / n - mean * mean));
  const lcut = Math.fround(mean - 2 * sigma);
  const hcut = Math.fround(mean + 2 * sigma);
  s = 0;
  s2 = 0;
  let kept = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v >= lcut && v <= hcut) {
      s += v;
      s2 += v * v;
      kept++;
    }
  }
  mean = s / kept;
  sigma = Math.sqrt(Math.max(0, s2 / kept - mean * mean));
  if (!(sigma > 0)) return { mode: mean, sigma: 0 };

  // Bin i is centred on qzero + i·qscale.
  const step = (Math.sqrt(2 / Math.PI) * HISTOGRAM_NSIGMA) / HISTOGRAM_MIN_PER_BIN;
  const nlevels = Math.min(HISTOGRAM_MAX_LEVELS, Math.floor(step * kept + 1));
  const qscale = (2 * HISTOGRAM_NSIGMA * sigma) / nlevels;
  const qzero = mean - HISTOGRAM_NSIGMA * sigma;
  histogram.fill(0, 0, nlevels);
  for (let i = 0; i < n; i++) {
    const bin = Math.floor((values[i] - qzero) / qscale + 0.5);
    if (bin >= 0 && bin < nlevels) histogram[bin]++;
  }

  // Clip the histogram at ±3σ around its median until σ (in bins) settles. Cumulative sums
  // of the counts and their first two moments make each iteration cost O(log nlevels).
  const cum = cumulative;
  cum.count[0] = 0;
  cum.m1[0] = 0;
  cum.m2[0] = 0;
  for (let i = 0; i < nlevels; i++) {
    const c = histogram[i];
    cum.count[i + 1] = cum.count[i] + c;
    cum.m1[i + 1] = cum.m1[i] + c * i;
    cum.m2[i + 1] = cum.m2[i] + c * i * i;
  }
  let lo = 0;
  let hi = nlevels - 1;
  let hmean = mean;
  let hmedian = mean;
  let hsigma = 10 * (nlevels - 1);
  let previous = 1;
  for (let it = 0; it < 100 && hsigma >= 0.1 && Math.abs(hsigma / previous - 1) > 1e-4; it++) {
    previous = hsigma;
    const base = cum.count[lo];
    const count = cum.count[hi + 1] - base;
    if (count === 0) break;
    hmean = (cum.m1[hi + 1] - cum.m1[lo]) / count;
    hsigma = Math.sqrt(Math.max(0, (cum.m2[hi + 1] - cum.m2[lo]) / count - hmean * hmean));
    // Interpolated median: bin i covers [i − 0.5, i + 0.5); find the bin where half the count is reached.
    const half = base + count / 2;
    let a = lo;
    let b = hi;
    while (a < b) {
      const m = (a + b) >> 1;
      if (cum.count[m + 1] < half) a = m + 1;
      else b = m;
    }
    const inBin = histogram[a];
    hmedian = inBin > 0 ? a - 0.5 + (half - cum.count[a]) / inBin : a;
    lo = Math.max(0, Math.round(hmedian - 3 * hsigma));
    hi = Math.min(nlevels - 1, Math.round(hmedian + 3 * hsigma));
  }
  let mode: number;
  if (hsigma > 0) {
    mode = Math.abs(hmean - hmedian) / hsigma < CROWDED_SKEW ? 2.5 * hmedian - 1.5 * hmean : hmedian;
  } else {
    mode = hmean;
  }
  return { mode: qzero + mode * qscale, sigma: hsigma * qscale };
}

/** Give each bad mesh (NaN) the average of its nearest good meshes. */
function fillBadMeshes(level: Float32Array, rms: Float32Array, nx: number, ny: number): number {
  const bad: number[] = [];
  for (let k = 0; k < nx * ny; k++) if (Number.isNaN(level[k])) bad.push(k);
  if (bad.length === 0) return 0;
  const good = new Float32Array(level);
  const goodRms = new Float32Array(rms);
  for (const k of bad) {
    const px = k % nx;
    const py = (k - px) / nx;
    let best = Number.POSITIVE_INFINITY;
    let sum = 0;
    let sumRms = 0;
    let count = 0;
    for (let j = 0; j < nx * ny; j++) {
      if (Number.isNaN(good[j])) continue;
      const dx = (j % nx) - px;
      const dy = Math.floor(j / nx) - py;
      const d2 = dx * dx + dy * dy;
      if (d2 < best) {
        best = d2;
        sum = good[j];
        sumRms = goodRms[j];
        count = 1;
      } else if (d2 === best) {
        sum += good[j];
        sumRms += goodRms[j];
        count++;
      }
    }
    level[k] = sum / count;
    rms[k] = sumRms / count;
  }
  return bad.length;
}

/** Median filter of the mesh map; the window shrinks symmetrically near the edges. */
function filterMeshes(
  level: Float32Array,
  rms: Float32Array,
  nx: number,
  ny: number,
  fw: number,
  fh: number,
  threshold: number,
): void {
  const hx = fw >> 1;
  const hy = fh >> 1;
  const outLevel = new Float32Array(level.length);
  const outRms = new Float32Array(rms.length);
  const window = new Float32Array(fw * fh);
  const windowRms = new Float32Array(fw * fh);
  for (let py = 0; py < ny; py++) {
    const ry = Math.min(hy, py, ny - 1 - py);
    for (let px = 0; px < nx; px++) {
      const rx = Math.min(hx, px, nx - 1 - px);
      let n = 0;
      for (let y = py - ry; y <= py + ry; y++) {
        for (let x = px - rx; x <= px + rx; x++) {
          window[n] = level[y * nx + x];
          windowRms[n++] = rms[y * nx + x];
        }
      }
      const k = py * nx + px;
      const med = medianInPlace(window, n);
      if (Math.abs(med - level[k]) >= threshold) {
        outLevel[k] = med;
        outRms[k] = medianInPlace(windowRms, n);
      } else {
        outLevel[k] = level[k];
        outRms[k] = rms[k];
      }
    }
  }
  level.set(outLevel);
  rms.set(outRms);
}

/** Measure the background of each mesh: clipped mode and σ, bad meshes filled, then median-filtered. */
export function measureBackgroundMesh(image: Image, options: BackgroundOptions = {}): BackgroundMesh {
  const { width, height, data, mask } = image;
  const [bw, bh] = pair(options.meshSize, 64, 'background mesh size');
  const [fw, fh] = pair(options.filterSize, 3, 'background filter size');
  const threshold = options.filterThreshold ?? 0;
  const maskBits = options.maskBits ?? 0xff;
  const nx = Math.ceil(width / bw);
  const ny = Math.ceil(height / bh);
  const level = new Float32Array(nx * ny);
  const rms = new Float32Array(nx * ny);
  const values = new Float32Array(bw * bh);
  const histogram = new Int32Array(HISTOGRAM_MAX_LEVELS);
  const cumulative: Cumulative = {
    count: new Float64Array(HISTOGRAM_MAX_LEVELS + 1),
    m1: new Float64Array(HISTOGRAM_MAX_LEVELS + 1),
    m2: new Float64Array(HISTOGRAM_MAX_LEVELS + 1),
  };
  for (let my = 0; my < ny; my++) {
    const y0 = my * bh;
    const y1 = Math.min(height, y0 + bh);
    for (let mx = 0; mx < nx; mx++) {
      const x0 = mx * bw;
      const x1 = Math.min(width, x0 + bw);
      let n = 0;
      for (let y = y0; y < y1; y++) {
        const row = y * width;
        for (let x = x0; x < x1; x++) {
          const v = data[row + x];
          if (!Number.isNaN(v) && (mask === undefined || (mask[row + x] & maskBits) === 0)) values[n++] = v;
        }
      }
      const k = my * nx + mx;
      if (n < (x1 - x0) * (y1 - y0) * MIN_GOOD_FRACTION || n === 0) {
        level[k] = Number.NaN;
        rms[k] = Number.NaN;
        continue;
      }
      const st = meshStatistics(values, n, histogram, cumulative);
      level[k] = st.mode;
      rms[k] = st.sigma;
    }
  }
  let goodMeshes = 0;
  for (let k = 0; k < nx * ny; k++) if (!Number.isNaN(level[k])) goodMeshes++;
  if (goodMeshes === 0) {
    throw new BadInputError(
      `no background mesh has enough usable pixels (all ${width}×${height} pixels masked or NaN, or too few per ${bw}×${bh} mesh)`,
    );
  }
  const badMeshes = fillBadMeshes(level, rms, nx, ny);
  if (fw > 1 || fh > 1) filterMeshes(level, rms, nx, ny, fw, fh, threshold);
  const globalLevel = medianInPlace(new Float32Array(level));
  const positive = rms.filter((v) => v > 0);
  const globalRms = positive.length > 0 ? medianInPlace(positive) : 1;
  return { nx, ny, meshWidth: bw, meshHeight: bh, level, rms, globalLevel, globalRms, badMeshes };
}

/**
 * Second derivatives of the natural cubic spline with unit knot spacing through
 * values[offset + i·stride], i < n (zero at both ends), written to out with the same layout.
 */
function naturalSpline(
  values: Float32Array | Float64Array,
  out: Float64Array,
  n: number,
  offset: number,
  stride: number,
) {
  out[offset] = 0;
  if (n < 3) {
    if (n === 2) out[offset + stride] = 0;
    return;
  }
  // Thomas algorithm on M[i−1] + 4·M[i] + M[i+1] = 6·(y[i+1] − 2·y[i] + y[i−1]).
  const c = new Float64Array(n);
  const d = new Float64Array(n);
  for (let i = 1; i < n - 1; i++) {
    const rhs =
      6 *
      (values[offset + (i + 1) * stride] -
        2 * values[offset + i * stride] +
        values[offset + (i - 1) * stride]);
    const denom = 4 - c[i - 1];
    c[i] = 1 / denom;
    d[i] = (rhs - d[i - 1]) / denom;
  }
  out[offset + (n - 1) * stride] = 0;
  for (let i = n - 2; i >= 1; i--) out[offset + i * stride] = d[i] - c[i] * out[offset + (i + 1) * stride];
}

/** Segment and fraction of a pixel in knot coordinates: knot i is at pixel (i + 0.5)·size − 0.5. */
function knotPosition(pixel: number, size: number, knots: number): { j: number; t: number } {
  const u = (pixel + 0.5) / size - 0.5;
  const j = Math.max(0, Math.min(knots - 2, Math.floor(u)));
  return { j, t: u - j };
}

/**
 * Full-resolution map from mesh values by natural bicubic splines through the mesh centres
 * (as SourceExtractor: a spline along y through each column of meshes, then along x).
 */
export function interpolateMesh(
  mesh: BackgroundMesh,
  values: Float32Array,
  width: number,
  height: number,
): Float32Array {
  const { nx, ny, meshWidth, meshHeight } = mesh;
  const out = new Float32Array(width * height);
  const dy2 = new Float64Array(nx * ny);
  for (let i = 0; i < nx; i++) naturalSpline(values, dy2, ny, i, nx);
  const node = new Float64Array(nx);
  const dx2 = new Float64Array(nx);
  // Per column: the knot segment and the spline weights, shared by every row.
  const xs = new Int32Array(width);
  const xw = new Float64Array(4 * width);
  for (let x = 0; x < width; x++) {
    if (nx < 2) continue;
    const { j, t } = knotPosition(x, meshWidth, nx);
    const ct = 1 - t;
    xs[x] = j;
    xw[4 * x] = ct;
    xw[4 * x + 1] = t;
    xw[4 * x + 2] = (ct * ct * ct - ct) / 6;
    xw[4 * x + 3] = (t * t * t - t) / 6;
  }
  for (let y = 0; y < height; y++) {
    if (ny >= 2) {
      const { j, t } = knotPosition(y, meshHeight, ny);
      const ct = 1 - t;
      const a = (ct * ct * ct - ct) / 6;
      const b = (t * t * t - t) / 6;
      for (let i = 0; i < nx; i++) {
        const lo = j * nx + i;
        const hi = lo + nx;
        node[i] = ct * values[lo] + t * values[hi] + a * dy2[lo] + b * dy2[hi];
      }
    } else {
      for (let i = 0; i < nx; i++) node[i] = values[i];
    }
    const row = y * width;
    if (nx < 2) {
      out.fill(node[0], row, row + width);
      continue;
    }
    naturalSpline(node, dx2, nx, 0, 1);
    for (let x = 0; x < width; x++) {
      const j = xs[x];
      const w = 4 * x;
      out[row + x] = xw[w] * node[j] + xw[w + 1] * node[j + 1] + xw[w + 2] * dx2[j] + xw[w + 3] * dx2[j + 1];
    }
  }
  return out;
}

/** The background and its RMS at every pixel (SourceExtractor's BACKGROUND and BACKGROUND_RMS check images). */
export function estimateBackground(image: Image, options: BackgroundOptions = {}): Background {
  const mesh = measureBackgroundMesh(image, options);
  return {
    mesh,
    level: interpolateMesh(mesh, mesh.level, image.width, image.height),
    rms: interpolateMesh(mesh, mesh.rms, image.width, image.height),
  };
}

/** A copy of the image with its background subtracted (NaN pixels stay NaN; variance and mask carried along). */
export function subtractBackground(image: Image, background: Background | Float32Array): Image {
  const level = background instanceof Float32Array ? background : background.level;
  if (level.length !== image.data.length) {
    throw new RangeError(`background has ${level.length} pixels, image ${image.data.length}`);
  }
  const data = new Float32Array(image.data.length);
  for (let i = 0; i < data.length; i++) data[i] = image.data[i] - level[i];
  return { ...image, data };
}
