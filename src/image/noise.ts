/**
 * Correlated noise: how much more noise a matched filter sees than the per-pixel σ says.
 *
 * Drizzled mosaics (JWST, HST), resampled references and co-adds spread each input pixel's
 * noise over a few output pixels. Each pixel's variance drops (σ²Σk² for a footprint k), while
 * the noise on the scales a PSF-sized filter sums over does not; ZOGY and PSF photometry take
 * neighbouring pixels' noise as independent, so with the per-pixel σ they underestimate the
 * noise of a filtered image (by 1.5–2 for drizzled images) and every noise lump of a few pixels
 * becomes a 5σ "source". The remedy is one number per image: the ratio of the true noise of
 * the image filtered with its PSF to what white noise of the same per-pixel σ would give,
 *
 *   factor² = Σ_l ρ(l) A(l) / A(0),   A(l) = Σ_i p(i) p(i + l),
 *
 * with ρ(l) the noise's correlation coefficient at lag l, measured on the image's blank sky
 * (sources masked: their light would pass for correlated noise), and A the PSF's
 * autocorrelation. Scaling the image's σ and variance map by it makes the filtered noise
 * right (1 for white noise). The noise's own correlation is measured rather than assumed from
 * a drizzle footprint or a resampling kernel, which the pipeline does not know for an image it
 * is given, and it counts whatever made the noise correlated.
 *
 * Pure numerics over typed arrays.
 */

import { median, medianInPlace, robustSigma } from './stats.ts';

export interface NoiseCorrelationOptions {
  /** Pixels not to use (nonzero): sources, bad pixels. Default: blankSkyMask of the image. */
  exclude?: Uint8Array;
  /** Largest lag measured along each axis, px (default 4). Beyond it the noise is taken as white. */
  maxLag?: number;
  /** About this many pixel pairs per lag at most (rows taken at a regular step), default 10⁶. */
  maxPairs?: number;
}

export interface NoiseCorrelation {
  /** Lags (dx, dy) of the half plane (dy > 0, or dy = 0 and dx > 0) up to maxLag. */
  lags: { dx: number; dy: number; rho: number; pairs: number }[];
  /** Robust per-pixel σ of the blank sky used. */
  sigma: number;
  /** Blank-sky pixels used. */
  pixels: number;
}

/** 1.4826 × MAD of the first n values of a scratch array (overwritten). */
function madSigma(v: Float64Array, n: number): number {
  if (n < 2) return Number.NaN;
  const m = medianInPlace(v, n);
  for (let i = 0; i < n; i++) v[i] = Math.abs(v[i] - m);
  return 1.4826 * medianInPlace(v, n);
}

/**
 * Pixels that are not blank sky: where the image smoothed by a 5×5 box rises above `threshold`
 * times the smoothed image's own robust σ (which holds whatever correlation the noise has),
 * grown by `grow` px, plus non-finite pixels. Only positive excursions count (sources), and
 * the threshold is high enough (4σ of the smoothed noise) that noise alone is hardly ever
 * masked, which would bias the correlation low.
 */
export function blankSkyMask(
  data: ArrayLike<number>,
  width: number,
  height: number,
  options: { threshold?: number; grow?: number; box?: number } = {},
): Uint8Array {
  const t = options.threshold ?? 4;
  const grow = options.grow ?? 4;
  const b = options.box ?? 5;
  const h = b >> 1;
  const n = width * height;
  // Box means of the finite pixels: running sums along rows, then along columns.
  const rows = new Float32Array(n);
  const rowCounts = new Uint8Array(n);
  for (let y = 0; y < height; y++) {
    const o = y * width;
    let s = 0;
    let c = 0;
    for (let x = -h; x < width; x++) {
      const xin = x + h;
      if (xin < width && Number.isFinite(data[o + xin])) {
        s += data[o + xin];
        c++;
      }
      const xout = x - h - 1;
      if (xout >= 0 && Number.isFinite(data[o + xout])) {
        s -= data[o + xout];
        c--;
      }
      if (x >= 0) {
        rows[o + x] = s;
        rowCounts[o + x] = c;
      }
    }
  }
  const smooth = new Float32Array(n);
  const colSum = new Float64Array(width);
  const colCount = new Float64Array(width);
  for (let y = -h; y < height; y++) {
    const yin = y + h;
    const yout = y - h - 1;
    for (let x = 0; x < width; x++) {
      if (yin < height) {
        colSum[x] += rows[yin * width + x];
        colCount[x] += rowCounts[yin * width + x];
      }
      if (yout >= 0) {
        colSum[x] -= rows[yout * width + x];
        colCount[x] -= rowCounts[yout * width + x];
      }
      if (y >= 0) smooth[y * width + x] = colCount[x] > 0 ? colSum[x] / colCount[x] : Number.NaN;
    }
  }
  const step = Math.max(1, Math.floor(n / 200_003));
  const sample: number[] = [];
  for (let i = 0; i < n; i += step) if (Number.isFinite(smooth[i])) sample.push(smooth[i]);
  const centre = median(sample);
  const sigma = robustSigma(sample);
  const seed = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = smooth[i];
    if (!Number.isFinite(data[i]) || !Number.isFinite(v) || v - centre > t * sigma) seed[i] = 1;
  }
  return dilateSquare(seed, width, height, grow);
}

/**
 * The pixels to leave out of an image's noise measurement when another image of the same sky
 * on the same grid is at hand (the other epoch): its own sources (blankSkyMask at 4σ) and the
 * other image's down to 2σ. The other image's noise is independent of this one's, so its
 * low threshold masks faint sources (whose light would pass for correlated noise) without
 * selecting this image's noise lumps, which would bias the correlation low.
 */
export function pairedBlankSkyMask(
  data: ArrayLike<number>,
  other: ArrayLike<number>,
  width: number,
  height: number,
): Uint8Array {
  const own = blankSkyMask(data, width, height);
  const theirs = blankSkyMask(other, width, height, { threshold: 2 });
  for (let i = 0; i < own.length; i++) own[i] |= theirs[i];
  return own;
}

/** A mask grown by r px (square neighbourhood), separably. */
function dilateSquare(mask: Uint8Array, w: number, h: number, r: number): Uint8Array {
  if (r <= 0) return mask.slice();
  const tmp = new Uint8Array(mask.length);
  for (let y = 0; y < h; y++) {
    let last = -Infinity;
    for (let x = 0; x < w; x++) {
      if (mask[y * w + x]) last = x;
      if (x - last <= r) tmp[y * w + x] = 1;
    }
    last = Infinity;
    for (let x = w - 1; x >= 0; x--) {
      if (mask[y * w + x]) last = x;
      if (last - x <= r) tmp[y * w + x] = 1;
    }
  }
  const out = new Uint8Array(mask.length);
  for (let x = 0; x < w; x++) {
    let last = -Infinity;
    for (let y = 0; y < h; y++) {
      if (tmp[y * w + x]) last = y;
      if (y - last <= r) out[y * w + x] = 1;
    }
    last = Infinity;
    for (let y = h - 1; y >= 0; y--) {
      if (tmp[y * w + x]) last = y;
      if (last - y <= r) out[y * w + x] = 1;
    }
  }
  return out;
}

/**
 * The noise's correlation coefficient at each lag up to maxLag, from the blank sky of a
 * background-subtracted image: Σ a_i a_{i+l} / √(Σ a_i² Σ a_{i+l}²) over the pairs of blank
 * pixels (deviations from the blank sky's median), leaving out pixels beyond 5 robust σ (a
 * cosmic ray, a hot pixel), which would weigh as much as thousands of others. Product moments
 * (not robust scales) for their precision: ±0.002 per lag on a 512² image, which the factor
 * sums over tens of lags.
 */
export function noiseCorrelation(
  data: ArrayLike<number>,
  width: number,
  height: number,
  options: NoiseCorrelationOptions = {},
): NoiseCorrelation {
  const L = options.maxLag ?? 4;
  const maxPairs = options.maxPairs ?? 1_000_000;
  const exclude = options.exclude ?? blankSkyMask(data, width, height);
  const n = width * height;
  // The blank pixels' level and robust σ (from about 100 000 of them).
  const sampleStep = Math.max(1, Math.floor(n / 100_003));
  const sample = new Float64Array(Math.ceil(n / sampleStep) + 1);
  let m = 0;
  let pixels = 0;
  for (let i = 0; i < n; i++) {
    if (exclude[i] || !Number.isFinite(data[i])) continue;
    pixels++;
    if (i % sampleStep === 0) sample[m++] = data[i];
  }
  const centre = m > 0 ? medianInPlace(sample.subarray(0, m).slice(), m) : 0;
  const sigma = madSigma(sample, m);
  // Deviations from the level; NaN where not blank or beyond 5σ.
  const clip = 5 * sigma;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const v = data[i] - centre;
    a[i] = !exclude[i] && Number.isFinite(v) && Math.abs(v) <= clip ? v : Number.NaN;
  }
  // Rows at a regular step when the image is larger than maxPairs pixels.
  const rowStep = Math.max(1, Math.floor(n / maxPairs));
  const lags: NoiseCorrelation['lags'] = [];
  for (let dy = 0; dy <= L; dy++) {
    for (let dx = -L; dx <= L; dx++) {
      if (dy === 0 && dx <= 0) continue;
      let sab = 0;
      let saa = 0;
      let sbb = 0;
      let k = 0;
      for (let y = 0; y + dy < height; y += rowStep) {
        const x0 = Math.max(0, -dx);
        const x1 = Math.min(width, width - dx);
        const row = y * width;
        const row2 = (y + dy) * width + dx;
        for (let x = x0; x < x1; x++) {
          const p = a[row + x];
          const q = a[row2 + x];
          // A pair with an unusable (NaN) pixel is skipped.
          if (Number.isNaN(p) || Number.isNaN(q)) continue;
          sab += p * q;
          saa += p * p;
          sbb += q * q;
          k++;
        }
      }
      const rho = k >= 100 && saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : 0;
      lags.push({ dx, dy, rho, pairs: k });
    }
  }
  return { lags, sigma, pixels };
}

/** Autocorrelation Σ_i k(i) k(i + l) of a square odd-sided stamp at lag (dx, dy). */
function autocorrelation(k: ArrayLike<number>, side: number, dx: number, dy: number): number {
  let s = 0;
  for (let y = Math.max(0, -dy); y < Math.min(side, side - dy); y++) {
    for (let x = Math.max(0, -dx); x < Math.min(side, side - dx); x++)
      s += k[y * side + x] * k[(y + dy) * side + x + dx];
  }
  return s;
}

/**
 * The correlated-noise factor of a filter `kernel` (a square odd-sided stamp, e.g. the PSF):
 * √(Σ_l ρ(l) A(l) / A(0)) over the measured lags and their mirror images (ρ(0) = 1).
 */
export function noiseFactorFromCorrelation(c: NoiseCorrelation, kernel: ArrayLike<number>): number {
  const side = Math.round(Math.sqrt(kernel.length));
  const a0 = autocorrelation(kernel, side, 0, 0);
  if (!(a0 > 0)) return 1;
  let f2 = 1;
  for (const { dx, dy, rho } of c.lags) {
    if (Math.abs(dx) >= side || dy >= side) continue;
    // The lag and its mirror image: A(l) = A(−l), ρ(l) = ρ(−l).
    f2 += (2 * rho * autocorrelation(kernel, side, dx, dy)) / a0;
  }
  return Math.sqrt(Math.max(f2, 0));
}

export interface CorrelatedNoise {
  /** True noise of the image filtered with the kernel / what the per-pixel σ predicts. */
  factor: number;
  /** Robust per-pixel σ of the blank sky. */
  sigma: number;
  /** Blank-sky pixels used. */
  pixels: number;
  correlation: NoiseCorrelation;
}

/**
 * The correlated-noise factor of a background-subtracted image for a filter (its PSF stamp):
 * noiseCorrelation on its blank sky, then noiseFactorFromCorrelation. 1 (and NaN σ) when
 * there is too little blank sky to tell (fewer than `minPixels`, default 2000).
 */
export function correlatedNoiseFactor(
  data: ArrayLike<number>,
  width: number,
  height: number,
  kernel: ArrayLike<number>,
  options: NoiseCorrelationOptions & { minPixels?: number } = {},
): CorrelatedNoise {
  const correlation = noiseCorrelation(data, width, height, options);
  if (correlation.pixels < (options.minPixels ?? 2000) || !(correlation.sigma > 0))
    return { factor: 1, sigma: correlation.sigma, pixels: correlation.pixels, correlation };
  return {
    factor: noiseFactorFromCorrelation(correlation, kernel),
    sigma: correlation.sigma,
    pixels: correlation.pixels,
    correlation,
  };
}

/**
 * The median of `values` (e.g. an uncertainty map) over the blank sky: pixels not excluded,
 * finite (about 100 000 of them at a regular step). NaN when there are none.
 */
export function blankSkyMedian(values: ArrayLike<number>, exclude: Uint8Array): number {
  const step = Math.max(1, Math.floor(values.length / 100_003));
  const sample = new Float64Array(Math.ceil(values.length / step));
  let m = 0;
  for (let i = 0; i < values.length; i += step)
    if (!exclude[i] && Number.isFinite(values[i])) sample[m++] = values[i];
  return medianInPlace(sample, m);
}

/**
 * The exact factor for white noise convolved with `noiseKernel` and filtered with `filter`
 * (both square, odd-sided): √(Σ(f ⊗ k)² / (Σk² Σf²)). What correlatedNoiseFactor estimates.
 */
export function filteredNoiseFactor(noiseKernel: ArrayLike<number>, filter: ArrayLike<number>): number {
  const nk = Math.round(Math.sqrt(noiseKernel.length));
  const nf = Math.round(Math.sqrt(filter.length));
  const side = nk + nf - 1;
  const out = new Float64Array(side * side);
  for (let j = 0; j < nk; j++)
    for (let i = 0; i < nk; i++) {
      const v = noiseKernel[j * nk + i];
      if (v === 0) continue;
      for (let q = 0; q < nf; q++)
        for (let p = 0; p < nf; p++) out[(j + q) * side + i + p] += v * filter[q * nf + p];
    }
  let s = 0;
  for (const v of out) s += v * v;
  let k2 = 0;
  for (let i = 0; i < noiseKernel.length; i++) k2 += noiseKernel[i] ** 2;
  let f2 = 0;
  for (let i = 0; i < filter.length; i++) f2 += filter[i] ** 2;
  return Math.sqrt(s / (k2 * f2));
}
