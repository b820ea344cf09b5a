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
import { convolve, gaussianKernel } from './convolve.ts';
import { halfSampleMode, robustSigma } from './stats.ts';

export interface MatchStar {
  x: number;
  y: number;
  flux: number;
  /** Signal-to-noise of the flux, when known (weights the flux ratio). */
  snr?: number;
}

/**
 * How the flux ratio was found: matched stars, the zero points, the images' shared signal, given
 * by the user, or assumed 1 (cutouts with none of these; always with a warning).
 */
export type FluxRatioMethod = 'stars' | 'zeropoints' | 'images' | 'given' | 'assumed';

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
function ratioOfStars(pairs: readonly { s: MatchStar; r: MatchStar }[]): {
  log: number;
  error: number;
  used: number;
} {
  // Work in log space: ratios are positive and their scatter is multiplicative.
  const logs = pairs.map((p) => Math.log(p.s.flux / p.r.flux));
  const spread = robustSigma(logs);
  const sigma = pairs.map((p) =>
    p.s.snr && p.r.snr ? Math.sqrt(p.s.snr ** -2 + p.r.snr ** -2 + RATIO_FLOOR ** 2) : spread,
  );
  let centre = halfSampleMode(logs);
  let error = (1.2533 * spread) / Math.sqrt(logs.length);
  let used = logs.length;
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
    used = n;
    const mean = swl / sw;
    for (let i = 0; i < logs.length; i++)
      if (sigma[i] > 0 && Math.abs(logs[i] - centre) <= 3 * sigma[i])
        chi2 += ((logs[i] - mean) / sigma[i]) ** 2;
    centre = mean;
    // The mean's error, scaled up when the sources scatter more than their noise says.
    error = Math.sqrt(Math.max(1, chi2 / Math.max(1, n - 1)) / sw);
  }
  return { log: centre, error, used };
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
 * The two images each convolved with the other's PSF (N ⊗ P_r and R ⊗ P_n), which then share
 * one PSF and differ by the flux ratio alone: what the flux ratio, the PSF check and the offset
 * from the images all fit. Masked (NaN) pixels stay NaN; kernels of any size go through the FFT.
 */
export interface CrossConvolved {
  width: number;
  height: number;
  /** N ⊗ P_r and R ⊗ P_n. */
  science: Float32Array;
  reference: Float32Array;
  /** Their white-noise σ: σ_n·√ΣP_r², σ_r·√ΣP_n². */
  scienceNoise: number;
  referenceNoise: number;
  /** The PSF stamps (unit sum, odd sides) they were made with. */
  sciencePsf: Float32Array;
  referencePsf: Float32Array;
  /** Pixels per independent noise sample of a convolved image, (Σk)²/Σk² of the wider kernel. */
  correlationArea: number;
}

export async function crossConvolve(
  science: Float32Array,
  reference: Float32Array,
  width: number,
  height: number,
  sciencePsf: Float32Array,
  referencePsf: Float32Array,
  scienceSigma: number,
  referenceSigma: number,
): Promise<CrossConvolved> {
  const side = (k: Float32Array) => Math.round(Math.sqrt(k.length));
  const kernel = (k: Float32Array) => ({ data: k, width: side(k), height: side(k) });
  const options = { edge: 'nan' as const, keepNaN: true };
  const sumSq = (k: Float32Array) => k.reduce((t, v) => t + v * v, 0);
  return {
    width,
    height,
    science: await convolve({ width, height, data: science }, kernel(referencePsf), options),
    reference: await convolve({ width, height, data: reference }, kernel(sciencePsf), options),
    scienceNoise: scienceSigma * Math.sqrt(sumSq(referencePsf)),
    referenceNoise: referenceSigma * Math.sqrt(sumSq(sciencePsf)),
    sciencePsf,
    referencePsf,
    correlationArea: Math.max(1, 1 / Math.max(sumSq(referencePsf), sumSq(sciencePsf))),
  };
}

/** The central side² of cross-convolved images (convolved whole, so valid to the crop's edge). */
function centralCrop(cc: CrossConvolved, side: number): CrossConvolved {
  const w = Math.min(cc.width, side);
  const h = Math.min(cc.height, side);
  const x0 = (cc.width - w) >> 1;
  const y0 = (cc.height - h) >> 1;
  const crop = (d: Float32Array) => {
    const out = new Float32Array(w * h);
    for (let y = 0; y < h; y++)
      out.set(d.subarray((y0 + y) * cc.width + x0, (y0 + y) * cc.width + x0 + w), y * w);
    return out;
  };
  return { ...cc, width: w, height: h, science: crop(cc.science), reference: crop(cc.reference) };
}

/** Why the images alone could not give a flux ratio (the caller decides what to assume). */
export class NoSharedSignalError extends Error {}

export interface ImageRatio {
  fluxRatio: number;
  fluxRatioError: number;
  /** Pixels that agreed on the ratio. */
  pixels: number;
  /** Separate regions of shared signal, and whether any of them is extended (not point-like). */
  regions: number;
  extended: boolean;
}

/**
 * Flux ratio from the images alone (ZOGY paper, section 3.5: with no stars, fit the images
 * themselves): with both convolved by the other's PSF (so they share the PSF P_n ⊗ P_r),
 * science ≈ ratio · reference on every pixel where there is signal. Every pixel where both hold
 * signal (above `snr` σ in each) is a measurement of the ratio, and the ratio is their robust
 * mean in log space (as for stars: the half-sample mode, then the weighted mean of the pixels
 * consistent with it), so that a transient on its host, whose pixels lie off the common ratio,
 * does not pull it.
 *
 * A single point-like source is no measure: it may be the very source that changed (a
 * variable star alone on a cutout would be subtracted away). So the signal must come from two
 * or more separate regions, or from one extended region (a galaxy, whose light off the nucleus
 * pins the ratio); otherwise NoSharedSignalError says why.
 */
export async function fluxRatioFromImages(cc: CrossConvolved, snr = 10): Promise<ImageRatio> {
  const { width, height, science: s, reference: r, scienceNoise: ss, referenceNoise: rs } = cc;
  const n = width * height;
  // Signal in both, each above snr σ: the sources' cores, where PSF models are surest (their
  // wings, drawn from a few stars, bias the ratio by 5–10% on the DECam stacks).
  const selected = new Uint8Array(n);
  let count = 0;
  for (let i = 0; i < n; i++) {
    if (s[i] > snr * ss && r[i] > snr * rs) {
      selected[i] = 1;
      count++;
    }
  }
  const reason = (what: string) =>
    new NoSharedSignalError(
      `cannot measure the flux ratio from the images: ${what}; give --flux-ratio or both images' zero points`,
    );
  if (count === 0) throw reason('they share no signal above the noise');
  const regions = signalRegions(selected, s, width, height);
  // The shared PSF's peak share: a region whose peak holds as much of its light is a point source.
  const psfPeak = crossPsfPeak(cc.sciencePsf, cc.referencePsf);
  const extended = regions.some((g) => g.pixels >= 9 && g.peak / g.sum < 0.6 * psfPeak);
  if (regions.length < 2 && !extended)
    throw reason('the only shared signal is one point-like source, which may be the one that changed');
  // Least squares through the origin (the bright pixels, which know the ratio best, dominate
  // it), refitted without the pixels more than 3σ off (a transient's), as long as any go.
  let used = selectedIdx(selected);
  let ratio = 1;
  let rms = 0;
  for (let it = 0; it < 5; it++) {
    let num = 0;
    let den = 0;
    for (const i of used) {
      num += s[i] * r[i];
      den += r[i] * r[i];
    }
    ratio = num / den;
    const res = used.map((i) => (s[i] - ratio * r[i]) / Math.sqrt(ss * ss + ratio * ratio * rs * rs));
    rms = Math.sqrt(used.reduce((t, i) => t + (s[i] - ratio * r[i]) ** 2, 0) / Math.max(1, used.length - 1));
    const limit = 3 * Math.max(robustSigma(res), 1);
    const kept = used.filter((_, k) => Math.abs(res[k]) <= limit);
    if (kept.length === used.length || kept.length < 10) break;
    used = kept;
  }
  // The slope's error, σ/√Σr², with neighbouring pixels of a convolved image sharing their
  // noise: one independent measurement per correlation area.
  const corrArea = cc.correlationArea;
  const den = used.reduce((t, i) => t + r[i] * r[i], 0);
  return {
    fluxRatio: ratio,
    fluxRatioError: rms * Math.sqrt(corrArea / den),
    pixels: used.length,
    regions: regions.length,
    extended,
  };
}

function selectedIdx(selected: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < selected.length; i++) if (selected[i]) out.push(i);
  return out;
}

/** Peak of the unit-sum cross PSF P_n ⊗ P_r (on the pixel grid), by direct convolution of the stamps. */
function crossPsfPeak(a: Float32Array, b: Float32Array): number {
  const na = Math.round(Math.sqrt(a.length));
  const nb = Math.round(Math.sqrt(b.length));
  const ca = (na - 1) / 2;
  const cb = (nb - 1) / 2;
  // The peak of a centred convolution is at the centre: Σ a(p) b(−p).
  let peak = 0;
  let sa = 0;
  let sb = 0;
  for (const v of a) sa += v;
  for (const v of b) sb += v;
  for (let y = 0; y < na; y++) {
    for (let x = 0; x < na; x++) {
      const bx = cb - (x - ca);
      const by = cb - (y - ca);
      if (bx < 0 || by < 0 || bx >= nb || by >= nb) continue;
      peak += a[y * na + x] * b[by * nb + bx];
    }
  }
  return peak / (sa * sb);
}

/** Connected regions (8-neighbours) of selected pixels: their size, summed and peak values. */
function signalRegions(
  selected: Uint8Array,
  values: Float32Array,
  width: number,
  height: number,
): { pixels: number; sum: number; peak: number }[] {
  const seen = new Uint8Array(selected.length);
  const out: { pixels: number; sum: number; peak: number }[] = [];
  const stack: number[] = [];
  for (let start = 0; start < selected.length; start++) {
    if (!selected[start] || seen[start]) continue;
    let pixels = 0;
    let sum = 0;
    let peak = 0;
    seen[start] = 1;
    stack.push(start);
    while (stack.length) {
      const i = stack.pop()!;
      pixels++;
      sum += values[i];
      peak = Math.max(peak, values[i]);
      const x = i % width;
      const y = (i - x) / width;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const u = x + dx;
          const v = y + dy;
          if (u < 0 || v < 0 || u >= width || v >= height) continue;
          const j = v * width + u;
          if (selected[j] && !seen[j]) {
            seen[j] = 1;
            stack.push(j);
          }
        }
      }
    }
    // A region of a pixel or two is noise that happened to pass, not a source.
    if (pixels >= 3) out.push({ pixels, sum, peak });
  }
  return out;
}

export interface PsfMismatch {
  /** Which image is broader than its PSF model says ('none': the models agree with the pixels). */
  broader: 'science' | 'reference' | 'none';
  /** σ of the Gaussian that broadens that model, px. */
  sigma: number;
  /** Robust scatter of the normalised residuals with the models as given, and after. */
  scatterBefore: number;
  scatterAfter: number;
}

/**
 * Do the PSF models agree with the pixels? With the right models the cross-convolved images
 * N ⊗ P_r and R ⊗ P_n are one image up to the flux ratio; when one model is too sharp (a
 * template's PSF is broader than the FWHM given for a cutout), the other image's sources are
 * broader in them. So try Gaussian broadenings (σ in 0.1-px steps up to `maxSigma`) of either
 * cross-convolved image and keep the one that leaves the smallest robust scatter of
 * (A − ratio·B)/noise over the shared signal: a transient's pixels are a minority there and do not
 * steer it. A broadening is reported only when it lowers that scatter by at least 20%.
 */
export async function psfMismatchFromImages(
  cc: CrossConvolved,
  options: { snr?: number; maxSigma?: number } = {},
): Promise<PsfMismatch> {
  const snr = options.snr ?? 5;
  const maxSigma = options.maxSigma ?? 2.5;
  // Fifty trial convolutions: on large images, the central 1024² holds signal enough.
  if (cc.width > 1024 || cc.height > 1024) return psfMismatchFromImages(centralCrop(cc, 1024), options);
  const { width, height, science: a, reference: b, scienceNoise: sa, referenceNoise: sb } = cc;
  const { sciencePsf, referencePsf } = cc;
  const idx: number[] = [];
  for (let i = 0; i < width * height; i++)
    if (a[i] > 0 && b[i] > 0 && (a[i] / sa + b[i] / sb) / Math.SQRT2 > snr) idx.push(i);
  if (idx.length < 20)
    return { broader: 'none', sigma: 0, scatterBefore: Number.NaN, scatterAfter: Number.NaN };
  // Robust scatter of the residuals for one pair of (possibly broadened) images and their noise.
  const scatter = (x: Float32Array, y: Float32Array, nx: number, ny: number): number => {
    const pairs = idx
      .filter((i) => x[i] > 0 && y[i] > 0)
      .map((i) => ({
        s: { x: 0, y: 0, flux: x[i], snr: x[i] / nx },
        r: { x: 0, y: 0, flux: y[i], snr: y[i] / ny },
      }));
    if (pairs.length < 20) return Number.POSITIVE_INFINITY;
    // The ratio by least squares over the pixels that fit best (a transient's pixels, which
    // fit worst, drop out), refined twice; the scatter is the rms of that best 90%: the bright
    // pixels that carry the PSF's shape count, where a median of all would see the noise.
    let ratio = Math.exp(ratioOfStars(pairs).log);
    let rms = Number.POSITIVE_INFINITY;
    for (let it = 0; it < 3; it++) {
      const res = idx
        .map((i) => ({ i, r: (x[i] - ratio * y[i]) / Math.sqrt(nx * nx + ratio * ratio * ny * ny) }))
        .sort((p, q) => Math.abs(p.r) - Math.abs(q.r));
      const best = res.slice(0, Math.ceil(0.9 * res.length));
      rms = Math.sqrt(best.reduce((t, p) => t + p.r * p.r, 0) / best.length);
      let num = 0;
      let den = 0;
      for (const { i } of best) {
        num += x[i] * y[i];
        den += y[i] * y[i];
      }
      ratio = num / den;
    }
    return rms;
  };
  const before = scatter(a, b, sa, sb);
  let best = { broader: 'none' as PsfMismatch['broader'], sigma: 0, scatter: before };
  for (let k = 1; k <= Math.round(maxSigma / 0.1); k++) {
    const sigma = k / 10;
    const g = gaussianKernel(2.3548 * sigma, Math.max(1, Math.ceil(4 * sigma)));
    // The noise of a broadened image: σ·√Σ(k ⊗ g)², with k ⊗ g ≈ a Gaussian of the summed width.
    const noiseA = sa * noiseFactor(referencePsf, g.data);
    const noiseB = sb * noiseFactor(sciencePsf, g.data);
    // A broadened: the reference is broader than its model; B broadened: the science is.
    const ab = await convolve({ width, height, data: a }, g, { edge: 'nan', keepNaN: true });
    const sRef = scatter(ab, b, noiseA, sb);
    if (sRef < best.scatter) best = { broader: 'reference', sigma, scatter: sRef };
    const bb = await convolve({ width, height, data: b }, g, { edge: 'nan', keepNaN: true });
    const sSci = scatter(a, bb, sa, noiseB);
    if (sSci < best.scatter) best = { broader: 'science', sigma, scatter: sSci };
  }
  if (!(best.scatter < 0.8 * before))
    return { broader: 'none', sigma: 0, scatterBefore: before, scatterAfter: before };
  return { broader: best.broader, sigma: best.sigma, scatterBefore: before, scatterAfter: best.scatter };
}

/** √(Σ(k ⊗ g)² / Σk²): how much broadening by g lowers the noise of an image convolved with k. */
function noiseFactor(k: Float32Array, g: ArrayLike<number>): number {
  const nk = Math.round(Math.sqrt(k.length));
  const ng = Math.round(Math.sqrt(g.length));
  const n = nk + ng - 1;
  const out = new Float64Array(n * n);
  for (let j = 0; j < nk; j++)
    for (let i = 0; i < nk; i++) {
      const v = k[j * nk + i];
      if (v === 0) continue;
      for (let q = 0; q < ng; q++) for (let p = 0; p < ng; p++) out[(j + q) * n + i + p] += v * g[q * ng + p];
    }
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < out.length; i++) s1 += out[i] * out[i];
  for (let i = 0; i < k.length; i++) s2 += k[i] * k[i];
  return Math.sqrt(s1 / s2);
}

export interface ImageShift {
  /** Offset science − reference, px (as MatchResult's dx, dy), and its 1σ uncertainty. */
  dx: number;
  dy: number;
  sigmaX: number;
  sigmaY: number;
  /** Pixels used. */
  pixels: number;
}

/**
 * The sub-pixel offset between the images from their shared signal (ZOGY paper, section 3.5:
 * with no stars, fit the translation on the images): N ⊗ P_r ≈ ratio · (R ⊗ P_n)(x − d), to
 * first order ratio·B − ratio·d·∇B, solved by least squares for (ratio, ratio·dx, ratio·dy)
 * over the pixels with signal in both, dropping the 10% that fit worst (a transient) and
 * refitting, three times. The uncertainty comes from the fit's covariance, scaled by the
 * residuals' scatter and by the convolved noise's correlation area. Undefined when the
 * images share too little signal or the fit is degenerate.
 */
export async function shiftFromImages(cc: CrossConvolved, snr = 5): Promise<ImageShift | undefined> {
  const { width, height, science: a, reference: b, scienceNoise: sa, referenceNoise: sb } = cc;
  let idx: number[] = [];
  for (let y = 1; y < height - 1; y++) {
    for (let x = 1; x < width - 1; x++) {
      const i = y * width + x;
      if (!(a[i] > 0 && b[i] > 0 && (a[i] / sa + b[i] / sb) / Math.SQRT2 > snr)) continue;
      if (!Number.isFinite(b[i - 1] + b[i + 1] + b[i - width] + b[i + width])) continue;
      idx.push(i);
    }
  }
  if (idx.length < 20) return undefined;
  const gx = (i: number) => 0.5 * (b[i + 1] - b[i - 1]);
  const gy = (i: number) => 0.5 * (b[i + width] - b[i - width]);
  let solution: { p: number[]; cov: number[][]; rms: number } | undefined;
  for (let it = 0; it < 3; it++) {
    // Normal equations of a − (p0·b + p1·∂b/∂x + p2·∂b/∂y), uniform weights (the noise is
    // nearly uniform on a cutout's background-limited pixels; the brightest dominate anyway).
    const m = [
      [0, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
    ];
    const v = [0, 0, 0];
    for (const i of idx) {
      const f = [b[i], gx(i), gy(i)];
      for (let r = 0; r < 3; r++) {
        v[r] += f[r] * a[i];
        for (let c = 0; c < 3; c++) m[r][c] += f[r] * f[c];
      }
    }
    const inv = invert3(m);
    if (!inv) return undefined;
    const p = [0, 1, 2].map((r) => inv[r][0] * v[0] + inv[r][1] * v[1] + inv[r][2] * v[2]);
    const res = idx.map((i) => ({ i, r: a[i] - p[0] * b[i] - p[1] * gx(i) - p[2] * gy(i) }));
    const rms = Math.sqrt(res.reduce((t, e) => t + e.r * e.r, 0) / Math.max(1, res.length - 3));
    solution = { p, cov: inv, rms };
    if (it === 2) break;
    res.sort((e, f) => Math.abs(e.r) - Math.abs(f.r));
    idx = res.slice(0, Math.ceil(0.9 * res.length)).map((e) => e.i);
  }
  if (!solution || !(solution.p[0] > 0)) return undefined;
  const { p, cov, rms } = solution;
  const corrArea = cc.correlationArea;
  const err = (r: number) => (rms * Math.sqrt(cov[r][r] * corrArea)) / p[0];
  return { dx: -p[1] / p[0], dy: -p[2] / p[0], sigmaX: err(1), sigmaY: err(2), pixels: idx.length };
}

/** Inverse of a 3×3 matrix, or undefined when it is singular. */
function invert3(m: number[][]): number[][] | undefined {
  const [[a, b, c], [d, e, f], [g, h, i]] = m;
  const A = e * i - f * h;
  const B = -(d * i - f * g);
  const C = d * h - e * g;
  const det = a * A + b * B + c * C;
  if (!(Math.abs(det) > 0) || !Number.isFinite(det)) return undefined;
  return [
    [A / det, -(b * i - c * h) / det, (b * f - c * e) / det],
    [B / det, (a * i - c * g) / det, -(a * f - c * d) / det],
    [C / det, -(a * h - b * g) / det, (a * e - b * d) / det],
  ];
}
