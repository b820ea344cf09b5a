/**
 * The per-pixel combination of the co-add (coadd.ts), and the task that runs it over rows of
 * a strip on every thread of the pool: each frame's rows of the strip sit in shared memory;
 * the results go straight into the shared output planes.
 */

export type CombineMode = 'clipped-mean' | 'median';

/** Sort the first n values ascending with their weights (insertion sort: n is small). */
function sortPairs(v: Float64Array, w: Float64Array, n: number): void {
  for (let i = 1; i < n; i++) {
    const x = v[i];
    const y = w[i];
    let j = i - 1;
    while (j >= 0 && v[j] > x) {
      v[j + 1] = v[j];
      w[j + 1] = w[j];
      j--;
    }
    v[j + 1] = x;
    w[j + 1] = y;
  }
}

interface Combined {
  value: number;
  uncertainty: number;
  used: number;
}

/** Combine one pixel's values (sorted in place) with inverse-variance weights. */
export function combinePixel(
  v: Float64Array,
  w: Float64Array,
  n: number,
  mode: CombineMode,
  kappa = 3,
  ampFraction = 0.3,
  keep: Uint8Array = new Uint8Array(n),
): Combined {
  if (n === 0) return { value: Number.NaN, uncertainty: Number.NaN, used: 0 };
  sortPairs(v, w, n);
  const median = n % 2 === 1 ? v[n >> 1] : 0.5 * (v[(n >> 1) - 1] + v[n >> 1]);
  let sumW = 0;
  for (let i = 0; i < n; i++) sumW += w[i];
  if (mode === 'median') return { value: median, uncertainty: Math.sqrt(Math.PI / 2 / sumW), used: n };
  let centre = median;
  let used = n;
  keep.fill(1, 0, n);
  for (let it = 0; it < 4; it++) {
    let changed = false;
    let count = 0;
    const amp = ampFraction * centre;
    for (let i = 0; i < n; i++) {
      const tol = kappa * kappa * (1 / w[i] + amp * amp);
      const k = (v[i] - centre) ** 2 <= tol ? 1 : 0;
      if (k !== keep[i]) changed = true;
      keep[i] = k;
      count += k;
    }
    // Nothing agrees (two frames that differ): keep them all.
    if (count === 0) {
      keep.fill(1, 0, n);
      count = n;
      changed = false;
    }
    let sw = 0;
    let swv = 0;
    for (let i = 0; i < n; i++) {
      if (!keep[i]) continue;
      sw += w[i];
      swv += w[i] * v[i];
    }
    centre = swv / sw;
    sumW = sw;
    used = count;
    if (!changed && it > 0) break;
  }
  return { value: centre, uncertainty: Math.sqrt(1 / sumW), used };
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
  const v = new Float64Array(N);
  const w = new Float64Array(N);
  const keep = new Uint8Array(N);
  let rejected = 0;
  for (let y = task.start; y < task.end; y++) {
    const live = frames.filter((f) => y >= f.ry0 && y < f.ry0 + f.rows);
    const rowBase = live.map((f) => (y - f.ry0) * f.width - f.x0);
    const xs = live.map((f) => f.x0);
    const xe = live.map((f) => f.x0 + f.width);
    for (let x = 0; x < W; x++) {
      let n = 0;
      for (let j = 0; j < live.length; j++) {
        if (x < xs[j] || x >= xe[j]) continue;
        const k = rowBase[j] + x;
        const wt = live[j].w[k];
        if (wt > 0) {
          v[n] = live[j].d[k];
          w[n++] = wt;
        }
      }
      const o = y * W + x;
      if (n === 0) {
        image[o] = Number.NaN;
        uncertainty[o] = Number.NaN;
        coverage[o] = 0;
        continue;
      }
      const c = combinePixel(v, w, n, task.mode, task.kappa, task.ampFraction, keep);
      image[o] = c.value;
      uncertainty[o] = c.uncertainty;
      coverage[o] = c.used;
      rejected += n - c.used;
    }
  }
  new Float64Array(task.rejected)[task.slot] += rejected;
}
