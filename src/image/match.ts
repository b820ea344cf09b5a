/**
 * Flux and position matching of a science image and a reference on the same grid, before
 * subtraction (RAPID's gain matching): isolated stars are cross-matched, the flux ratio is the
 * mean of their flux ratios about the mode (ratioOfStars, with its uncertainty), and the median
 * offset is the residual registration error whose scatter is the astrometric noise of ZOGY's
 * Scorr.
 *
 * With too few matched stars the flux ratio falls back to the zero points; without zero points
 * (cutouts) it is estimated from the images themselves, by a robust regression of the
 * cross-convolved images (each convolved with the other's PSF, so both share one PSF).
 */
import { BadInputError } from '../util/errors.ts';
import { convolveDirect } from './convolve.ts';
import { halfSampleMode, robustSigma } from './stats.ts';

export interface MatchStar {
  x: number;
  y: number;
  flux: number;
  /** Signal-to-noise of the flux, when known (weights the flux ratio). */
  snr?: number;
}

export type FluxRatioMethod = 'stars' | 'zeropoints' | 'images' | 'given';

export interface MatchResult {
  /** Science flux / reference flux of the same source. */
  fluxRatio: number;
  fluxRatioError: number;
  method: FluxRatioMethod;
  /** Stars matched within the radius. */
  matches: number;
  /** Median offset science − reference, px (apply to the reference to align it). */
  dx: number;
  dy: number;
  /** Robust scatter of the offsets, px: the astrometric noise. */
  sigmaX: number;
  sigmaY: number;
}

export interface MatchOptions {
  /** Match radius, px (RAPID: 1). */
  radius?: number;
  /** Fewer matches than this fall back (RAPID: 20). */
  minMatches?: number;
  /** Magnitude of one count in each image, for the zero-point fallback. */
  scienceZeroPoint?: number;
  referenceZeroPoint?: number;
  /** Given flux ratio: overrides everything. */
  fluxRatio?: number;
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[n >> 1] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

/** Nearest-neighbour matches within `radius` (each reference star used at most once). */
export function crossMatch(
  science: readonly MatchStar[],
  reference: readonly MatchStar[],
  radius: number,
): { s: MatchStar; r: MatchStar }[] {
  // A coarse grid of reference stars makes this linear in the number of stars.
  const cell = Math.max(radius, 1);
  const grid = new Map<string, number[]>();
  reference.forEach((r, i) => {
    const k = `${Math.floor(r.x / cell)},${Math.floor(r.y / cell)}`;
    const list = grid.get(k);
    if (list) list.push(i);
    else grid.set(k, [i]);
  });
  const used = new Set<number>();
  const out: { s: MatchStar; r: MatchStar }[] = [];
  for (const s of science) {
    const cx = Math.floor(s.x / cell);
    const cy = Math.floor(s.y / cell);
    let best = -1;
    let bestD = radius;
    for (let j = cy - 1; j <= cy + 1; j++) {
      for (let i = cx - 1; i <= cx + 1; i++) {
        for (const k of grid.get(`${i},${j}`) ?? []) {
          const d = Math.hypot(reference[k].x - s.x, reference[k].y - s.y);
          if (d <= bestD && !used.has(k)) {
            bestD = d;
            best = k;
          }
        }
      }
    }
    if (best >= 0) {
      used.add(best);
      out.push({ s, r: reference[best] });
    }
  }
  return out;
}

/** Flux ratios' floor of relative error (PSF-model errors of bright stars' fluxes). */
const RATIO_FLOOR = 0.02;

/**
 * The log flux ratio of matched sources and its error. Sources that changed between the images
 * (a transient on its host, a variable star, a galaxy measured with a star's PSF) make a tail on
 * one side of the ratios, which pulls their median: on a crowded simulated field, 7–10% in some
 * images. So: the half-sample mode of the log ratios, then, twice, the mean of the sources
 * consistent with it (within 3σ of their own noise, from their S/N, with a 2% floor), weighted
 * by that noise. Without S/N, the sources' robust scatter stands for their noise.
 */
function ratioOfStars(pairs: readonly { s: MatchStar; r: MatchStar }[]): { log: number; error: number } {
  // Work in log space: ratios are positive and their scatter is multiplicative.
  const logs = pairs.map((p) => Math.log(p.s.flux / p.r.flux));
  const spread = robustSigma(logs);
  const sigma = pairs.map((p) =>
    p.s.snr && p.r.snr ? Math.sqrt(p.s.snr ** -2 + p.r.snr ** -2 + RATIO_FLOOR ** 2) : spread,
  );
  let centre = halfSampleMode(logs);
  let error = (1.2533 * spread) / Math.sqrt(logs.length);
  for (let it = 0; it < 2; it++) {
    let sw = 0;
    let swl = 0;
    let chi2 = 0;
    let n = 0;
    for (let i = 0; i < logs.length; i++) {
      if (!(sigma[i] > 0) || Math.abs(logs[i] - centre) > 3 * sigma[i]) continue;
      const w = sigma[i] ** -2;
      sw += w;
      swl += w * logs[i];
      n++;
    }
    if (n < 3) break;
    const mean = swl / sw;
    for (let i = 0; i < logs.length; i++)
      if (sigma[i] > 0 && Math.abs(logs[i] - centre) <= 3 * sigma[i])
        chi2 += ((logs[i] - mean) / sigma[i]) ** 2;
    centre = mean;
    // The mean's error, scaled up when the sources scatter more than their noise says.
    error = Math.sqrt(Math.max(1, chi2 / Math.max(1, n - 1)) / sw);
  }
  return { log: centre, error };
}

/**
 * Flux ratio and offsets from star lists (positions on the common grid, fluxes in each image's
 * units). Falls back to zero points with fewer than `minMatches` matches; returns
 * method 'images' with NaN ratio when neither is possible (the caller then uses
 * fluxRatioFromImages).
 */
export function matchStars(
  science: readonly MatchStar[],
  reference: readonly MatchStar[],
  options: MatchOptions = {},
): MatchResult {
  const radius = options.radius ?? 1;
  const minMatches = options.minMatches ?? 20;
  const pairs = crossMatch(science, reference, radius).filter((p) => p.s.flux > 0 && p.r.flux > 0);
  const dxs = pairs.map((p) => p.s.x - p.r.x);
  const dys = pairs.map((p) => p.s.y - p.r.y);
  const offsets =
    pairs.length >= 3
      ? { dx: median(dxs), dy: median(dys), sigmaX: robustSigma(dxs), sigmaY: robustSigma(dys) }
      : { dx: 0, dy: 0, sigmaX: 0, sigmaY: 0 };
  if (options.fluxRatio !== undefined) {
    if (!(options.fluxRatio > 0))
      throw new BadInputError(`the flux ratio must be positive, got ${options.fluxRatio}`);
    return {
      fluxRatio: options.fluxRatio,
      fluxRatioError: 0,
      method: 'given',
      matches: pairs.length,
      ...offsets,
    };
  }
  if (pairs.length >= minMatches) {
    const r = ratioOfStars(pairs);
    return {
      fluxRatio: Math.exp(r.log),
      fluxRatioError: Math.exp(r.log) * r.error,
      method: 'stars',
      matches: pairs.length,
      ...offsets,
    };
  }
  if (options.scienceZeroPoint !== undefined && options.referenceZeroPoint !== undefined) {
    const r = 10 ** (0.4 * (options.scienceZeroPoint - options.referenceZeroPoint));
    return {
      fluxRatio: r,
      fluxRatioError: Number.NaN,
      method: 'zeropoints',
      matches: pairs.length,
      ...offsets,
    };
  }
  return {
    fluxRatio: Number.NaN,
    fluxRatioError: Number.NaN,
    method: 'images',
    matches: pairs.length,
    ...offsets,
  };
}

/**
 * Flux ratio from the images alone: with both convolved by the other's PSF (so they share
 * the PSF P_n ⊗ P_r), science ≈ ratio · reference on every pixel where there is signal. The ratio
 * is the slope of an iteratively clipped least-squares fit through the origin over pixels
 * above `snr` σ in both (backgrounds subtracted beforehand).
 */
export function fluxRatioFromImages(
  science: Float32Array,
  reference: Float32Array,
  width: number,
  height: number,
  sciencePsf: Float32Array,
  referencePsf: Float32Array,
  scienceSigma: number,
  referenceSigma: number,
  snr = 10,
): { fluxRatio: number; fluxRatioError: number; pixels: number } {
  const side = (k: Float32Array) => Math.round(Math.sqrt(k.length));
  const s = convolveDirect(
    { width, height, data: science },
    { data: referencePsf, width: side(referencePsf), height: side(referencePsf) },
    'nearest',
  );
  const r = convolveDirect(
    { width, height, data: reference },
    { data: sciencePsf, width: side(sciencePsf), height: side(sciencePsf) },
    'nearest',
  );
  // The noise of a convolved image is σ·√Σk².
  const norm = (k: Float32Array) => Math.sqrt(k.reduce((a, v) => a + v * v, 0));
  const ss = scienceSigma * norm(referencePsf);
  const rs = referenceSigma * norm(sciencePsf);
  let idx: number[] = [];
  for (let i = 0; i < s.length; i++) if (s[i] > snr * ss && r[i] > snr * rs) idx.push(i);
  if (idx.length < 10) {
    throw new BadInputError(
      'cannot estimate the flux ratio: too few matched stars, no zero points, and too little signal in the images; give --flux-ratio',
    );
  }
  let ratio = 1;
  for (let it = 0; it < 5; it++) {
    let num = 0;
    let den = 0;
    for (const i of idx) {
      num += s[i] * r[i];
      den += r[i] * r[i];
    }
    ratio = num / den;
    const resid = idx.map(
      (i) => (s[i] - ratio * r[i]) / Math.sqrt(ss * ss + ratio * ratio * rs * rs + 1e-30),
    );
    const sd = robustSigma(resid);
    const kept = idx.filter((_, k) => Math.abs(resid[k]) <= 3 * Math.max(sd, 1));
    if (kept.length === idx.length || kept.length < 10) break;
    idx = kept;
  }
  const resid = idx.map((i) => s[i] / r[i]);
  return {
    fluxRatio: ratio,
    fluxRatioError: (1.2533 * robustSigma(resid)) / Math.sqrt(idx.length),
    pixels: idx.length,
  };
}
