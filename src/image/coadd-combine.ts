/**
 * The per-pixel combination of the co-add (coadd.ts), and the task that runs it over rows of
 * a strip on every thread of the pool: each frame's rows of the strip sit in shared memory;
 * the results go straight into the shared output planes.
 */

import { medianInPlace } from './stats.ts';

export type CombineMode = 'clipped-mean' | 'median';

/** Per-thread work arrays for `combineInto`, for up to `frames` values per pixel. */
export class CombineScratch {
  readonly work: Float64Array;
  readonly variance: Float64Array;
  readonly keep: Uint8Array;
  /** The last result: value, 1σ uncertainty, values used. */
  readonly result = new Float64Array(3);
  constructor(frames: number) {
    this.work = new Float64Array(frames);
    this.variance = new Float64Array(frames);
    this.keep = new Uint8Array(frames);
  }
}

/**
 * Combine one pixel's n values v with inverse-variance weights w into `s.result`
 * (value, uncertainty, used). v and w are left as they were.
 */
export function combineInto(
  v: Float64Array,
  w: Float64Array,
  n: number,
  mode: CombineMode,
  kappa: number,
  ampFraction: number,
  s: CombineScratch,
): void {
  const r = s.result;
  if (n === 0) {
    r[0] = Number.NaN;
    r[1] = Number.NaN;
    r[2] = 0;
    return;
  }
  let sumW = 0;
  for (let i = 0; i < n; i++) sumW += w[i];
  if (n === 1) {
    r[0] = v[0];
    r[1] = Math.sqrt(1 / sumW);
    r[2] = 1;
    return;
  }
  const t = s.work;
  for (let i = 0; i < n; i++) t[i] = v[i];
  const median = medianInPlace(t, n);
  if (mode === 'median') {
    r[0] = median;
    r[1] = Math.sqrt(Math.PI / 2 / sumW);
    r[2] = n;
    return;
  }
  const variance = s.variance;
  const keep = s.keep;
  for (let i = 0; i < n; i++) {
    variance[i] = 1 / w[i];
    keep[i] = 1;
  }
  const k2 = kappa * kappa;
  let centre = median;
  let used = n;
  for (let it = 0; it < 4; it++) {
    let changed = false;
    let count = 0;
    let sw = 0;
    let swv = 0;
    const amp = ampFraction * centre;
    const amp2 = amp * amp;
    for (let i = 0; i < n; i++) {
      const d = v[i] - centre;
      const k = d * d <= k2 * (variance[i] + amp2) ? 1 : 0;
      if (k !== keep[i]) changed = true;
      keep[i] = k;
      if (k) {
        count++;
        sw += w[i];
        swv += w[i] * v[i];
      }
    }
    // Nothing agrees (two frames that differ): keep them all.
    if (count === 0) {
      keep.fill(1, 0, n);
      count = n;
      changed = false;
      sw = 0;
      swv = 0;
      for (let i = 0; i < n; i++) {
        sw += w[i];
        swv += w[i] * v[i];
      }
    }
    centre = swv / sw;
    sumW = sw;
    used = count;
    if (!changed && it > 0) break;
  }
  r[0] = centre;
  r[1] = Math.sqrt(1 / sumW);
  r[2] = used;
}

/** Combine one pixel's values with inverse-variance weights (convenience form of `combineInto`). */
export function combinePixel(
  v: Float64Array,
  w: Float64Array,
  n: number,
  mode: CombineMode,
  kappa = 3,
  ampFraction = 0.3,
): { value: number; uncertainty: number; used: number } {
  const s = new CombineScratch(Math.max(1, n));
  combineInto(v, w, n, mode, kappa, ampFraction, s);
  return { value: s.result[0], uncertainty: s.result[1], used: s.result[2] };
}

export interface CombineTask {
  kind: 'combine';
  mode: CombineMode;
  kappa: number;
  ampFraction: number;
  /** Output grid width, and the strip's first row. */
  width: number;
  y0: number;
  /** Rows [start, end) of the grid to combine (within the strip). */
  start: number;
  end: number;
  /** Each frame's part of the strip: grid columns [x0, x0 + width), grid rows [ry0, ry0 + rows). */
  frames: {
    x0: number;
    width: number;
    ry0: number;
    rows: number;
    data: SharedArrayBuffer;
    weight: SharedArrayBuffer;
  }[];
  image: SharedArrayBuffer;
  coverage: SharedArrayBuffer;
  uncertainty: SharedArrayBuffer;
  /** Rejected values are added at index `slot`. */
  rejected: SharedArrayBuffer;
  slot: number;
}

export function runCombineTask(task: CombineTask): void {
  const W = task.width;
  const image = new Float32Array(task.image);
  const coverage = new Uint16Array(task.coverage);
  const uncertainty = new Float32Array(task.uncertainty);
  const frames = task.frames.map((f) => ({
    ...f,
    d: new Float32Array(f.data),
    w: new Float32Array(f.weight),
  }));
  const N = Math.max(1, frames.length);
  // A row's values gathered frame by frame (each frame's row read in order), N slots per pixel.
  const rowValues = new Float64Array(W * N);
  const rowWeights = new Float64Array(W * N);
  const counts = new Uint16Array(W);
  const v = new Float64Array(N);
  const w = new Float64Array(N);
  const scratch = new CombineScratch(N);
  const result = scratch.result;
  let rejected = 0;
  for (let y = task.start; y < task.end; y++) {
    counts.fill(0);
    for (const f of frames) {
      if (y < f.ry0 || y >= f.ry0 + f.rows) continue;
      const base = (y - f.ry0) * f.width;
      const { d, w: fw } = f;
      for (let i = 0; i < f.width; i++) {
        const wt = fw[base + i];
        if (!(wt > 0)) continue;
        const x = f.x0 + i;
        const slot = x * N + counts[x]++;
        rowValues[slot] = d[base + i];
        rowWeights[slot] = wt;
      }
    }
    for (let x = 0; x < W; x++) {
      const n = counts[x];
      const o = y * W + x;
      if (n === 0) {
        image[o] = Number.NaN;
        uncertainty[o] = Number.NaN;
        coverage[o] = 0;
        continue;
      }
      for (let j = 0, s = x * N; j < n; j++, s++) {
        v[j] = rowValues[s];
        w[j] = rowWeights[s];
      }
      combineInto(v, w, n, task.mode, task.kappa, task.ampFraction, scratch);
      image[o] = result[0];
      uncertainty[o] = result[1];
      coverage[o] = result[2];
      rejected += n - result[2];
    }
  }
  new Float64Array(task.rejected)[task.slot] += rejected;
}
