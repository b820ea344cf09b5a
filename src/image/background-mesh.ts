/**
 * The per-thread work of the mesh background (background.ts), over bands of rows of an image
 * in shared memory:
 * - per-mesh statistics: a clipped mean and σ, then the clipped mode of a fine histogram, for
 *   every mesh of a band of mesh rows;
 * - the full-resolution map from the mesh values by bicubic splines, for a band of pixel rows.
 */

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

/** Running sums over histogram bins: counts, and counts times the bin index and its square. */
interface Cumulative {
  count: Float64Array;
  m1: Float64Array;
  m2: Float64Array;
}

/** Mode and σ of one mesh's usable pixels (`s`, `s2`: their sum and sum of squares). */
function meshStatistics(
  values: Float32Array,
  n: number,
  s: number,
  s2: number,
  histogram: Int32Array,
  cumulative: Cumulative,
): { mode: number; sigma: number } {
  // A first clip at ±2σ around the mean removes the bright wings before binning.
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

/** A band of mesh rows: the image (shared), the mesh geometry, and where the results go. */
export interface MeshRows {
  width: number;
  height: number;
  data: Float32Array;
  mask?: Uint8Array;
  meshWidth: number;
  meshHeight: number;
  maskBits: number;
  /** Mesh rows [start, end). */
  start: number;
  end: number;
  /** Per mesh (row-major, nx = ⌈width / meshWidth⌉): clipped mode and σ, NaN for a bad mesh. */
  level: Float32Array;
  rms: Float32Array;
}

/** Level and σ of every mesh in rows [start, end): NaN where too few pixels are usable. */
export function measureMeshRows(r: MeshRows): void {
  const { width, height, data, mask, meshWidth: bw, meshHeight: bh, maskBits, level, rms } = r;
  const nx = Math.ceil(width / bw);
  const values = new Float32Array(bw * bh);
  const histogram = new Int32Array(HISTOGRAM_MAX_LEVELS);
  const cumulative: Cumulative = {
    count: new Float64Array(HISTOGRAM_MAX_LEVELS + 1),
    m1: new Float64Array(HISTOGRAM_MAX_LEVELS + 1),
    m2: new Float64Array(HISTOGRAM_MAX_LEVELS + 1),
  };
  for (let my = r.start; my < r.end; my++) {
    const y0 = my * bh;
    const y1 = Math.min(height, y0 + bh);
    for (let mx = 0; mx < nx; mx++) {
      const x0 = mx * bw;
      const x1 = Math.min(width, x0 + bw);
      // The usable pixels, summed as they are gathered (one pass fewer).
      let n = 0;
      let s = 0;
      let s2 = 0;
      for (let y = y0; y < y1; y++) {
        const row = y * width;
        for (let x = x0; x < x1; x++) {
          const v = data[row + x];
          if (!Number.isNaN(v) && (mask === undefined || (mask[row + x] & maskBits) === 0)) {
            values[n++] = v;
            s += v;
            s2 += v * v;
          }
        }
      }
      const k = my * nx + mx;
      if (n < (x1 - x0) * (y1 - y0) * MIN_GOOD_FRACTION || n === 0) {
        level[k] = Number.NaN;
        rms[k] = Number.NaN;
        continue;
      }
      const st = meshStatistics(values, n, s, s2, histogram, cumulative);
      level[k] = st.mode;
      rms[k] = st.sigma;
    }
  }
}

export interface BackgroundMeshTask {
  kind: 'background-mesh';
  width: number;
  height: number;
  data: SharedArrayBuffer;
  mask?: SharedArrayBuffer;
  meshWidth: number;
  meshHeight: number;
  maskBits: number;
  start: number;
  end: number;
  level: SharedArrayBuffer;
  rms: SharedArrayBuffer;
}

export function runBackgroundMeshTask(t: BackgroundMeshTask): void {
  measureMeshRows({
    ...t,
    data: new Float32Array(t.data),
    mask: t.mask && new Uint8Array(t.mask),
    level: new Float32Array(t.level),
    rms: new Float32Array(t.rms),
  });
}

/**
 * Second derivatives of the natural cubic spline with unit knot spacing through
 * values[offset + i·stride], i < n (zero at both ends), written to out with the same layout.
 * `c` and `d` are scratch of at least n values (allocated when not given).
 */
export function naturalSpline(
  values: Float32Array | Float64Array,
  out: Float64Array,
  n: number,
  offset: number,
  stride: number,
  c: Float64Array = new Float64Array(n),
  d: Float64Array = new Float64Array(n),
): void {
  out[offset] = 0;
  if (n < 3) {
    if (n === 2) out[offset + stride] = 0;
    return;
  }
  // Thomas algorithm on M[i−1] + 4·M[i] + M[i+1] = 6·(y[i+1] − 2·y[i] + y[i−1]).
  c[0] = 0;
  d[0] = 0;
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
export function knotPosition(pixel: number, size: number, knots: number): { j: number; t: number } {
  const u = (pixel + 0.5) / size - 0.5;
  const j = Math.max(0, Math.min(knots - 2, Math.floor(u)));
  return { j, t: u - j };
}

/**
 * The spline's node values along row y (one per mesh column) from the mesh values and their
 * second derivatives along y (natural splines through each column of meshes).
 */
export function rowNodes(
  values: Float32Array,
  dy2: Float64Array,
  nx: number,
  ny: number,
  meshHeight: number,
  y: number,
  node: Float64Array,
): void {
  if (ny < 2) {
    for (let i = 0; i < nx; i++) node[i] = values[i];
    return;
  }
  const { j, t } = knotPosition(y, meshHeight, ny);
  const ct = 1 - t;
  const a = (ct * ct * ct - ct) / 6;
  const b = (t * t * t - t) / 6;
  for (let i = 0; i < nx; i++) {
    const lo = j * nx + i;
    const hi = lo + nx;
    node[i] = ct * values[lo] + t * values[hi] + a * dy2[lo] + b * dy2[hi];
  }
}

/**
 * A row's spline along x as one cubic per knot segment, v = c0 + t·(c1 + t·(c2 + t·c3)) with
 * t = u − j in segment j (u and j as knotPosition gives them), from the row's node values and
 * their second derivatives: four coefficients per segment into `coef`. (The usual form,
 * (1−t)·n[j] + t·n[j+1] + ((1−t)³ − (1−t))/6·d[j] + (t³ − t)/6·d[j+1], expanded in t: a
 * pixel then costs three multiplications and no loads.)
 */
export function segmentCubics(node: Float64Array, dx2: Float64Array, nx: number, coef: Float64Array): void {
  for (let j = 0; j < nx - 1; j++) {
    const a = node[j];
    const c = dx2[j];
    const d = dx2[j + 1];
    coef[4 * j] = a;
    coef[4 * j + 1] = node[j + 1] - a - c / 3 - d / 6;
    coef[4 * j + 2] = c / 2;
    coef[4 * j + 3] = (d - c) / 6;
  }
}

/** Rows [start, end) of a full-resolution map: the spline coefficients from meshSplines (background.ts). */
export interface MeshSplineRows {
  nx: number;
  ny: number;
  meshWidth: number;
  meshHeight: number;
  width: number;
  /** Mesh values (row-major, nx × ny), their second derivatives along y, and the columns' knot segments. */
  values: Float32Array;
  dy2: Float64Array;
  xs: Int32Array;
  out: Float32Array;
  /** Subtract the map from what `out` holds instead of writing it. */
  subtract: boolean;
  start: number;
  end: number;
}

export function interpolateMeshRows(r: MeshSplineRows): void {
  const { nx, ny, meshWidth, meshHeight, width, values, dy2, xs, out } = r;
  const node = new Float64Array(nx);
  const dx2 = new Float64Array(nx);
  const c = new Float64Array(nx);
  const d = new Float64Array(nx);
  const coef = new Float64Array(4 * nx);
  const subtract = r.subtract;
  for (let y = r.start; y < r.end; y++) {
    rowNodes(values, dy2, nx, ny, meshHeight, y, node);
    const row = y * width;
    if (nx < 2) {
      const v = Math.fround(node[0]);
      for (let x = 0; x < width; x++) out[row + x] = subtract ? out[row + x] - v : v;
      continue;
    }
    naturalSpline(node, dx2, nx, 0, 1, c, d);
    segmentCubics(node, dx2, nx, coef);
    let j = -1;
    let c0 = 0;
    let c1 = 0;
    let c2 = 0;
    let c3 = 0;
    for (let x = 0; x < width; x++) {
      if (xs[x] !== j) {
        j = xs[x];
        c0 = coef[4 * j];
        c1 = coef[4 * j + 1];
        c2 = coef[4 * j + 2];
        c3 = coef[4 * j + 3];
      }
      const u = (x + 0.5) / meshWidth - 0.5;
      const t = u - j;
      const v = c0 + t * (c1 + t * (c2 + t * c3));
      // As a float first, so that subtracting gives exactly data − interpolateMesh(…).
      out[row + x] = subtract ? out[row + x] - Math.fround(v) : v;
    }
  }
}

export interface InterpolateMeshTask extends Omit<MeshSplineRows, 'out'> {
  kind: 'interpolate-mesh';
  out: SharedArrayBuffer;
}

export function runInterpolateMeshTask(t: InterpolateMeshTask): void {
  interpolateMeshRows({ ...t, out: new Float32Array(t.out) });
}
