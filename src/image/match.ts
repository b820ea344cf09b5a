/**
 * Flux and position matching of a science image and a reference on the same grid, before
 * subtraction (RAPID's gain matching): isolated stars are cross-matched, the flux ratio is the
 * median of their flux ratios (with its uncertainty), and the median offset is the residual
 * registration error whose scatter is the astrometric noise of ZOGY's Scorr.
 *
 * With too few matched stars the flux ratio falls back to the zero points; without zero points
 * (cutouts) it is estimated from the images themselves, by a robust regression of the
 * cross-convolved images (each convolved with the other's PSF, so both share one PSF).
 */
import { BadInputError } from '../util/errors.ts';
import { convolveDirect } from './convolve.ts';
import { robustSigma } from './stats.ts';

export interface MatchStar {
  x: number;
  y: number;
  flux: number;
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
    const ratios = pairs.map((p) => p.s.flux / p.r.flux);
    // Work in log space: ratios are positive and their scatter is multiplicative.
    const logs = ratios.map(Math.log);
    const m = median(logs);
    const err = (1.2533 * robustSigma(logs)) / Math.sqrt(logs.length);
    return {
      fluxRatio: Math.exp(m),
      fluxRatioError: Math.exp(m) * err,
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
