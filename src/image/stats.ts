/** Small robust statistics shared by the image modules (pure, no allocation beyond scratch). */

/** k-th smallest of values[0..n) (0-based), reordering values in place (Hoare's selection). */
export function selectInPlace(values: Float32Array | Float64Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const pivot = values[(lo + hi) >>> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i] < pivot) i++;
      while (values[j] > pivot) j--;
      if (i <= j) {
        const t = values[i];
        values[i] = values[j];
        values[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return values[k];
}

/** Median of values[0..n), reordering them; the mean of the two middle values when n is even. NaN when n = 0. */
export function medianInPlace(values: Float32Array | Float64Array, n = values.length): number {
  if (n <= 0) return Number.NaN;
  const half = n >>> 1;
  const upper = selectInPlace(values, n, half);
  if (n % 2 === 1) return upper;
  // After selection every value below index `half` is <= upper: the lower middle is their maximum.
  let lower = values[0];
  for (let i = 1; i < half; i++) if (values[i] > lower) lower = values[i];
  return 0.5 * (lower + upper);
}

/** Median of finite values (a copy is sorted; the input is untouched). */
export function median(values: ArrayLike<number>): number {
  const scratch = new Float64Array(values.length);
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isFinite(v)) scratch[n++] = v;
  }
  return medianInPlace(scratch, n);
}

/**
 * The half-sample mode (Bickel & Frühwirth 2006): the densest value, found by keeping, again
 * and again, the half of the sorted values with the smallest range. Unlike the median it is not
 * pulled by a one-sided tail (up to nearly half the values), e.g. variable sources among stars.
 */
export function halfSampleMode(values: ArrayLike<number>): number {
  const v = Float64Array.from(values).sort();
  let lo = 0;
  let n = v.length;
  if (n === 0) return Number.NaN;
  while (n > 3) {
    const h = Math.ceil(n / 2);
    let best = lo;
    let width = Number.POSITIVE_INFINITY;
    for (let i = lo; i + h - 1 < lo + n; i++) {
      const w = v[i + h - 1] - v[i];
      if (w < width) {
        width = w;
        best = i;
      }
    }
    lo = best;
    n = h;
  }
  if (n === 3) {
    // The pair that is closer, and its middle.
    const a = v[lo + 1] - v[lo];
    const b = v[lo + 2] - v[lo + 1];
    return a < b ? (v[lo] + v[lo + 1]) / 2 : a > b ? (v[lo + 1] + v[lo + 2]) / 2 : v[lo + 1];
  }
  return n === 2 ? (v[lo] + v[lo + 1]) / 2 : v[lo];
}

/** 1.4826 × median absolute deviation of finite values: σ of a normal distribution, robustly (0 for fewer than 2). */
export function robustSigma(v: ArrayLike<number>): number {
  if (v.length < 2) return 0;
  const m = median(v);
  return 1.4826 * median(Array.from(v, (x) => Math.abs(x - m)));
}

/** About `target` finite values taken at a regular step through `data` (all of them when fewer). */
export function regularSample(data: ArrayLike<number>, target = 100_003): number[] {
  const step = Math.max(1, Math.floor(data.length / target));
  const out: number[] = [];
  for (let i = 0; i < data.length; i += step) if (Number.isFinite(data[i])) out.push(data[i]);
  return out;
}

/**
 * Sigma-clipped mean and standard deviation of finite values: iterate `iterations` times
 * around the median, rejecting points beyond `nsigma` standard deviations.
 */
export function sigmaClippedStats(
  values: ArrayLike<number>,
  nsigma = 3,
  iterations = 5,
): { mean: number; median: number; std: number; count: number } {
  const kept = new Float64Array(values.length);
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isFinite(v)) kept[n++] = v;
  }
  let centre = Number.NaN;
  let mean = Number.NaN;
  let std = Number.NaN;
  for (let it = 0; it <= iterations && n > 0; it++) {
    const sorted = kept.slice(0, n);
    centre = medianInPlace(sorted, n);
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      s += kept[i];
      s2 += kept[i] * kept[i];
    }
    mean = s / n;
    std = Math.sqrt(Math.max(0, s2 / n - mean * mean));
    if (it === iterations || std === 0) break;
    let m = 0;
    const lo = centre - nsigma * std;
    const hi = centre + nsigma * std;
    for (let i = 0; i < n; i++) if (kept[i] >= lo && kept[i] <= hi) kept[m++] = kept[i];
    if (m === n) break;
    n = m;
  }
  return { mean, median: centre, std, count: n };
}
