/**
 * Empirical PSF estimation: an effective PSF (Anderson & King 2000) built by stacking many stars
 * registered to their sub-pixel positions, on a grid N times finer than the pixels so that
 * undersampled PSFs are recovered from the spread of the stars' phases (as PSFEx's
 * oversampling does). Optionally varying over the image as a polynomial of degree ≤ 2.
 *
 * Each iteration fits every star's position and flux with the current model, gathers the
 * residuals of all star pixels at their offsets from the star centres, and corrects each grid
 * node by the sigma-clipped mean (or polynomial fit over star positions) of the residuals
 * that fall nearest to it. The model is kept at unit sum and centred.
 */
import { BadInputError } from '../../util/errors.ts';
import { estimateBackground } from '../background.ts';
import type { Image } from '../image.ts';
import {
  GridPsf,
  normaliseFlux,
  type PsfPolynomial,
  polynomialTerms,
  polynomialValues,
  recentre,
} from './grid.ts';
import type { PsfModel } from './model.ts';
import { type StarCandidate, selectStars } from './select.ts';

export interface EstimateOptions {
  /** Grid nodes per pixel (1 = pixel sampling). Default: 3 when the PSF is undersampled (FWHM < 2.5 px), else 1. */
  oversample?: number;
  /** Polynomial degree of the variation over the image (0, 1 or 2). */
  degree?: number;
  /** Stamp side in pixels (odd). Default 25, as PSFEx's default PSF_SIZE. */
  size?: number;
  /** Saturation level of the image (raw units). */
  saturation?: number;
  /** e⁻ per data unit, for source noise in the fit weights. */
  gain?: number;
  /** Minimum number of stars (else BadInputError). */
  minStars?: number;
  maxStars?: number;
  minSnr?: number;
  iterations?: number;
}

export interface StarFit {
  x: number;
  y: number;
  flux: number;
  snr: number;
  /** Reduced χ² of the star against the final model. */
  chi2: number;
}

export interface PsfEstimate {
  psf: GridPsf;
  stars: StarFit[];
  rejected: number;
  oversample: number;
}

/** Relative accuracy expected of the model per pixel, in the χ² of stars. */
const ACCURACY = 0.03;

/** A Gaussian effective PSF grid with the given per-axis variance (px²), as a first model. */
function gaussianGrid(side: number, step: number, variance: number): Float32Array {
  const g = new Float32Array(side * side);
  const c = (side - 1) / 2;
  for (let j = 0; j < side; j++) {
    for (let i = 0; i < side; i++) {
      const u = (i - c) * step;
      const v = (j - c) * step;
      g[j * side + i] = Math.exp(-(u * u + v * v) / (2 * variance)) / (2 * Math.PI * variance);
    }
  }
  return g;
}

/**
 * Fit flux and position of one star with the model (Gauss–Newton, numerical derivatives).
 * Returns null when the fit fails.
 */
function fitStar(
  psf: PsfModel,
  data: Float32Array,
  weight: Float32Array,
  width: number,
  star: { x: number; y: number; flux: number },
  R: number,
  gain = Number.POSITIVE_INFINITY,
): { x: number; y: number; flux: number; chi2: number } | null {
  let { x, y, flux } = star;
  const n = psf.size;
  const h = (n - 1) / 2;
  const s0 = new Float32Array(n * n);
  const sx = new Float32Array(n * n);
  const sy = new Float32Array(n * n);
  const d = 0.02;
  for (let it = 0; it < 10; it++) {
    const cx = Math.round(x);
    const cy = Math.round(y);
    psf.stamp(x, y, s0);
    // Derivative stamps must share the central pixel with s0: step forward, or backward when
    // a forward step would cross into the next pixel.
    const ddx = Math.round(x + d) === cx ? d : -d;
    const ddy = Math.round(y + d) === cy ? d : -d;
    psf.stamp(x + ddx, y, sx);
    psf.stamp(x, y + ddy, sy);
    let a00 = 0;
    let a01 = 0;
    let a02 = 0;
    let a11 = 0;
    let a12 = 0;
    let a22 = 0;
    let b0 = 0;
    let b1 = 0;
    let b2 = 0;
    for (let j = -R; j <= R; j++) {
      for (let i = -R; i <= R; i++) {
        const k = (j + h) * n + (i + h);
        const idx = (cy + j) * width + cx + i;
        const w0 = weight[idx];
        if (!(w0 > 0)) continue;
        const m = s0[k];
        // Source noise from the model, not the data (data-dependent weights bias fluxes low).
        const w = 1 / (1 / w0 + Math.max(0, flux * m) / gain);
        const gx = (flux * (sx[k] - m)) / ddx;
        const gy = (flux * (sy[k] - m)) / ddy;
        const r = data[idx] - flux * m;
        a00 += w * m * m;
        a01 += w * m * gx;
        a02 += w * m * gy;
        a11 += w * gx * gx;
        a12 += w * gx * gy;
        a22 += w * gy * gy;
        b0 += w * m * r;
        b1 += w * gx * r;
        b2 += w * gy * r;
      }
    }
    // Solve the 3×3 system by Cramer's rule.
    const det = a00 * (a11 * a22 - a12 * a12) - a01 * (a01 * a22 - a12 * a02) + a02 * (a01 * a12 - a11 * a02);
    if (!(Math.abs(det) > 0)) return null;
    const dF =
      (b0 * (a11 * a22 - a12 * a12) - a01 * (b1 * a22 - a12 * b2) + a02 * (b1 * a12 - a11 * b2)) / det;
    const dX =
      (a00 * (b1 * a22 - a12 * b2) - b0 * (a01 * a22 - a12 * a02) + a02 * (a01 * b2 - b1 * a02)) / det;
    const dY =
      (a00 * (a11 * b2 - b1 * a12) - a01 * (a01 * b2 - b1 * a02) + b0 * (a01 * a12 - a11 * a02)) / det;
    flux += dF;
    // Damped steps: an imperfect early model must not throw a star off.
    x += Math.max(-0.25, Math.min(0.25, dX));
    y += Math.max(-0.25, Math.min(0.25, dY));
    if (!(flux > 0)) return null;
    if (Math.abs(dX) < 1e-4 && Math.abs(dY) < 1e-4) break;
  }
  // χ² with the final parameters, allowing the model a relative error of ACCURACY per pixel (as
  // PSFEx's PSF_ACCURACY), so bright stars are not rejected for the model's own imperfection.
  psf.stamp(x, y, s0);
  const cx = Math.round(x);
  const cy = Math.round(y);
  let chi2 = 0;
  let count = 0;
  for (let j = -R; j <= R; j++) {
    for (let i = -R; i <= R; i++) {
      const idx = (cy + j) * width + cx + i;
      const w0 = weight[idx];
      if (!(w0 > 0)) continue;
      const m = flux * s0[(j + h) * n + (i + h)];
      chi2 += (data[idx] - m) ** 2 / (1 / w0 + Math.max(0, m) / gain + (ACCURACY * m) ** 2);
      count++;
    }
  }
  return { x, y, flux, chi2: chi2 / Math.max(1, count - 3) };
}

/**
 * Beyond the core, a PSF is smooth and nearly round while its estimate is noise-limited (each
 * node sees a few faint pixels), and that noise, times a bright star's flux, leaves rings of
 * false detections in a difference image. Outside 2.5 FWHM (at least 3 px) each node is
 * blended, over 2 px, toward the mean of its annulus (1 node wide) in the same term; and no
 * annulus there holds more light than the annuli inside it (its mean is capped at the smallest
 * positive mean between 2.5 FWHM and it). In crowded fields the stars' neighbours left a bright
 * ring near the stamp's edge (a tenth of the unit flux on a simulated survey), which took that
 * much from the core: PSF fluxes 5–12% high.
 */
function smoothWings(psf: GridPsf): GridPsf {
  const { side, step } = psf;
  const c = (side - 1) / 2;
  const r1 = Math.max(3, 2.5 * psf.fwhm());
  const annulus = (i: number, j: number) => Math.round(Math.hypot(i - c, j - c));
  const nRings = Math.ceil(Math.SQRT2 * c) + 2;
  const terms = psf.terms.map((t) => {
    const sum = new Float64Array(nRings);
    const count = new Float64Array(nRings);
    for (let j = 0; j < side; j++) {
      for (let i = 0; i < side; i++) {
        const a = annulus(i, j);
        sum[a] += t[j * side + i];
        count[a]++;
      }
    }
    // Annulus means, capped outward from the first annulus beyond r1 (in node units).
    const mean = Float64Array.from(sum, (v, a) => (count[a] > 0 ? v / count[a] : 0));
    let cap = Number.POSITIVE_INFINITY;
    for (let a = 0; a < nRings; a++) {
      if (a * step <= r1) continue;
      mean[a] = Math.min(mean[a], cap);
      cap = Math.min(cap, Math.max(0, mean[a]));
    }
    const out = Float32Array.from(t);
    for (let j = 0; j < side; j++) {
      for (let i = 0; i < side; i++) {
        const r = Math.hypot(i - c, j - c) * step;
        if (r <= r1) continue;
        const w = Math.min(1, (r - r1) / 2);
        const a = annulus(i, j);
        out[j * side + i] = (1 - w) * t[j * side + i] + w * mean[a];
      }
    }
    return out;
  });
  return new GridPsf(terms, side, step, psf.polynomial, psf.size);
}

/**
 * The model without its square's corners (beyond `radius` px, the stamp's half-width): a corner
 * node sees few star pixels, all in the far wings where a background error or a neighbour
 * outweighs the PSF, and over the corners' area that bias took up to a fifth of the flux from
 * the core on resampled references with few stars (PSF fluxes then 10–23% high).
 */
function withinRadius(psf: GridPsf, radius: number): GridPsf {
  const { side, step } = psf;
  const c = (side - 1) / 2;
  const terms = psf.terms.map((t) => {
    const out = Float32Array.from(t);
    for (let j = 0; j < side; j++)
      for (let i = 0; i < side; i++) if (Math.hypot(i - c, j - c) * step > radius) out[j * side + i] = 0;
    return out;
  });
  return new GridPsf(terms, side, step, psf.polynomial, psf.size);
}

/** A [1 2 1]² smoothing of a grid (edges renormalised). */
function smooth3(g: Float32Array, side: number): Float32Array {
  const out = new Float32Array(g.length);
  const k = [0.25, 0.5, 0.25];
  for (let j = 0; j < side; j++) {
    for (let i = 0; i < side; i++) {
      let acc = 0;
      let w = 0;
      for (let b = -1; b <= 1; b++) {
        for (let a = -1; a <= 1; a++) {
          const x = i + a;
          const y = j + b;
          if (x < 0 || y < 0 || x >= side || y >= side) continue;
          acc += k[a + 1] * k[b + 1] * g[y * side + x];
          w += k[a + 1] * k[b + 1];
        }
      }
      out[j * side + i] = acc / w;
    }
  }
  return out;
}

/** Solve the m×m system A·x = b (Gaussian elimination with partial pivoting); null when singular. */
function solve(Ain: Float64Array, bin: Float64Array, m: number): Float64Array | null {
  const A = Float64Array.from(Ain);
  const b = Float64Array.from(bin);
  for (let col = 0; col < m; col++) {
    let piv = col;
    for (let r = col + 1; r < m; r++) if (Math.abs(A[r * m + col]) > Math.abs(A[piv * m + col])) piv = r;
    if (!(Math.abs(A[piv * m + col]) > 1e-12 * Math.abs(A[0]))) return null;
    if (piv !== col) {
      for (let q = 0; q < m; q++) [A[col * m + q], A[piv * m + q]] = [A[piv * m + q], A[col * m + q]];
      [b[col], b[piv]] = [b[piv], b[col]];
    }
    for (let r = col + 1; r < m; r++) {
      const f = A[r * m + col] / A[col * m + col];
      for (let q = col; q < m; q++) A[r * m + q] -= f * A[col * m + q];
      b[r] -= f * b[col];
    }
  }
  const x = new Float64Array(m);
  for (let r = m - 1; r >= 0; r--) {
    let acc = b[r];
    for (let q = r + 1; q < m; q++) acc -= A[r * m + q] * x[q];
    x[r] = acc / A[r * m + r];
  }
  return x;
}

/**
 * Keep the model at unit sum, and centred: within iterations only when it has drifted by more
 * than a tenth of a grid step, since each resampling smooths the grid a little.
 */
function normalise(psf: GridPsf, tolerance = 0.1): GridPsf {
  return normaliseFlux(centreVariation(recentre(psf, tolerance)));
}

/**
 * A variation term with a first moment moves the PSF's centre with position, which star
 * position fits cannot tell from the stars' own positions: left free, noise drives it and
 * distorts the model. Each term beyond the constant has the components along the constant
 * term's x and y derivatives removed, so its first moments vanish.
 */
function centreVariation(psf: GridPsf): GridPsf {
  if (psf.terms.length === 1) return psf;
  const { side, step } = psf;
  const c = (side - 1) / 2;
  const p0 = psf.terms[0];
  const dx = new Float64Array(side * side);
  const dy = new Float64Array(side * side);
  let s0 = 0;
  for (let j = 0; j < side; j++) {
    for (let i = 0; i < side; i++) {
      const k = j * side + i;
      s0 += p0[k];
      if (i > 0 && i < side - 1) dx[k] = (p0[k + 1] - p0[k - 1]) / (2 * step);
      if (j > 0 && j < side - 1) dy[k] = (p0[k + side] - p0[k - side]) / (2 * step);
    }
  }
  s0 *= step * step;
  const terms = psf.terms.map((t, n) => {
    if (n === 0) return t;
    let mx = 0;
    let my = 0;
    for (let j = 0; j < side; j++) {
      for (let i = 0; i < side; i++) {
        mx += (i - c) * step * t[j * side + i];
        my += (j - c) * step * t[j * side + i];
      }
    }
    mx *= step * step;
    my *= step * step;
    const out = new Float32Array(t.length);
    for (let k = 0; k < t.length; k++) out[k] = t[k] + (mx / s0) * dx[k] + (my / s0) * dy[k];
    return out;
  });
  return new GridPsf(terms, side, step, psf.polynomial, psf.size);
}

/**
 * What star selection and fits work on: the background-subtracted image and fit weights
 * (inverse background variance, zero at the image's bad pixels and its saturated ones; each
 * fit adds the source noise of its model).
 *
 * Saturation is judged on the raw values (here, and in the selection through its `raw`
 * option): against the subtracted image with one global level, a star whose single clipped
 * pixel sat on a background above that level passed as unsaturated, and a few such stars (the
 * brightest, so the heaviest in the stack) flattened the core of undersampled models by up to
 * 7% in FWHM.
 */
function prepare(
  image: Image,
  saturation: number | undefined,
): { bkg: ReturnType<typeof estimateBackground>; data: Float32Array; weight: Float32Array } {
  const { width, height } = image;
  const bkg = estimateBackground(image, {
    meshSize: Math.min(64, Math.max(16, Math.floor(Math.min(width, height) / 4))),
  });
  const n = image.data.length;
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = image.data[i] - bkg.level[i];
  const limit = saturation ?? Number.POSITIVE_INFINITY;
  const weight = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const v = bkg.rms[i] ** 2; // background only: source noise comes from the model
    const bad =
      !Number.isFinite(data[i]) ||
      image.data[i] >= limit ||
      (image.mask !== undefined && image.mask[i] !== 0);
    weight[i] = bad || !(v > 0) ? 0 : 1 / v;
  }
  return { bkg, data, weight };
}

/** Estimate the PSF of an image from its stars. BadInputError when too few stars are found. */
export function estimatePsf(image: Image, options: EstimateOptions = {}): PsfEstimate {
  const { width, height } = image;
  if (options.size !== undefined && (options.size % 2 !== 1 || options.size < 5)) {
    throw new BadInputError(`PSF size must be an odd number ≥ 5, got ${options.size}`);
  }
  const degree = options.degree ?? 0;
  if (![0, 1, 2].includes(degree))
    throw new BadInputError(`PSF polynomial degree must be 0, 1 or 2, got ${degree}`);
  if (!image.data.some((v) => Number.isFinite(v))) throw new BadInputError('the image has no valid pixels');
  const { bkg, data, weight } = prepare(image, options.saturation);
  const minStars = options.minStars ?? 10;
  const select = (radius: number) =>
    selectStars(data, bkg.rms, width, height, image.mask, {
      radius,
      minSnr: options.minSnr ?? 30,
      saturation: options.saturation,
      raw: image.data,
      maxStars: options.maxStars ?? 500,
      // A varying PSF has stars of several sizes: select loosely and let the fit reject.
      sizeTolerance: degree > 0 ? 0.5 : 0.25,
    });
  // Default stamps of 25 px (PSFEx's default); a small image with few isolated stars at that
  // size gets 15 px stamps, which find more.
  let size = options.size ?? 25;
  let candidates = select((size - 1) / 2);
  if (options.size === undefined && candidates.length < Math.max(minStars, 10)) {
    const small = select(7);
    if (small.length > candidates.length) {
      size = 15;
      candidates = small;
    }
  } else if (options.size === undefined && candidates.length > 0) {
    // A well-sampled PSF's wings reach past 25 px: stamps lose under 0.3% of a Moffat's flux
    // at 12 FWHM, so PSF photometry stays unbiased. (The weighted size underestimates large
    // PSFs, hence the generous factor.)
    const rough =
      2.3548 * Math.sqrt(candidates.map((c) => c.size).sort((a, b) => a - b)[candidates.length >> 1] / 2);
    if (rough >= 2) {
      const wide = Math.min(45, 2 * Math.ceil(7 * rough) + 1);
      const more = select((wide - 1) / 2);
      if (more.length >= minStars) {
        size = wide;
        candidates = more;
      }
    }
  }
  const R = (size - 1) / 2;
  if (candidates.length < minStars) {
    throw new BadInputError(
      `found ${candidates.length} usable stars for the PSF (need ${minStars}: isolated, unsaturated, S/N ≥ ${options.minSnr ?? 30}); give a PSF instead or lower the requirements`,
    );
  }
  const gain = options.gain ?? Number.POSITIVE_INFINITY;
  // A first model: a Gaussian of the stars' median size (per-axis variance = size/2).
  const medianSize = candidates.map((s) => s.size).sort((a, b) => a - b)[candidates.length >> 1];
  const roughFwhm = 2.3548 * Math.sqrt(medianSize / 2);
  // Cubic interpolation of a grid needs about 3 nodes per FWHM to follow the core.
  const N = options.oversample ?? (roughFwhm < 2 ? 3 : roughFwhm < 4 ? 2 : 1);
  if (!Number.isInteger(N) || N < 1 || N > 8)
    throw new BadInputError(`oversampling must be an integer 1 … 8, got ${N}`);
  const step = 1 / N;
  const side = N * size + (N % 2 === 0 ? 1 : 0);
  const polynomial: PsfPolynomial = {
    degree,
    zero: [(width - 1) / 2, (height - 1) / 2],
    scale: [Math.max(1, width / 2), Math.max(1, height / 2)],
  };
  const nTerms = polynomialTerms(degree).length;
  const terms = [gaussianGrid(side, step, Math.max(0.3, medianSize / 2))];
  for (let k = 1; k < nTerms; k++) terms.push(new Float32Array(side * side));
  let psf = normalise(new GridPsf(terms, side, step, polynomial, size));

  let stars: (StarCandidate & { chi2: number })[] = candidates.map((s) => ({ ...s, chi2: 1 }));
  let rejected = 0;
  const iterations = options.iterations ?? 10;
  const c = (side - 1) / 2;
  const variation = degree > 0 ? 0.3 : 0;
  for (let it = 0; it < iterations; it++) {
    // Fit every star with the current model; drop failures and outliers (blends, galaxies).
    const fitted: (StarCandidate & { chi2: number })[] = [];
    for (const s of stars) {
      const f = fitStar(psf, data, weight, width, s, R, gain);
      if (f && Math.abs(f.x - s.x) < 1.5 && Math.abs(f.y - s.y) < 1.5) fitted.push({ ...s, ...f });
    }
    if (it === 3 || it === 6) {
      // Blends, galaxies and cosmic rays stand out in χ² once the model is close.
      const chis = fitted.map((s) => s.chi2).sort((a, b) => a - b);
      const med = chis[chis.length >> 1];
      const mad = chis.map((c) => Math.abs(c - med)).sort((a, b) => a - b)[chis.length >> 1];
      // A varying PSF fits its corners worse until the model follows it: be more lenient.
      const k = degree > 0 ? 10 : 5;
      const kept = fitted.filter((s) => s.chi2 <= Math.max(2, med + k * 1.4826 * mad));
      rejected += stars.length - kept.length;
      stars = kept;
    } else {
      rejected += stars.length - fitted.length;
      stars = fitted;
    }

    if (stars.length < minStars) {
      throw new BadInputError(`only ${stars.length} stars fit a common PSF (need ${minStars})`);
    }
    // Residuals of every star pixel, in units of the star's flux, spread to the four grid nodes
    // around their offset with bilinear weights times inverse variance; each node's correction
    // is the weighted mean (or weighted polynomial fit over star positions) of what reaches it.
    const grids = stars.map((s) => psf.gridAt(s.x, s.y));
    // Samples: node cell, bilinear position in it, residual, weight and star.
    const cellOf: number[] = [];
    const fxs: number[] = [];
    const fys: number[] = [];
    const res: number[] = [];
    const wts: number[] = [];
    const tol: number[] = [];
    const owner: number[] = [];
    stars.forEach((s, si) => {
      const cx = Math.round(s.x);
      const cy = Math.round(s.y);
      for (let j = -R; j <= R; j++) {
        for (let i = -R; i <= R; i++) {
          const idx = (cy + j) * width + cx + i;
          if (!(weight[idx] > 0)) continue;
          const u = cx + i - s.x;
          const v = cy + j - s.y;
          const gx = c + u / step;
          const gy = c + v / step;
          const ix = Math.floor(gx);
          const iy = Math.floor(gy);
          if (ix < 0 || iy < 0 || ix >= side - 1 || iy >= side - 1) continue;
          const model = psf.valueAt(grids[si], u, v);
          const w = (s.flux * s.flux) / (1 / weight[idx] + Math.max(0, s.flux * model) / gain);
          cellOf.push(Math.round(gy) * side + Math.round(gx));
          fxs.push(gx - ix);
          fys.push(gy - iy);
          res.push(data[idx] / s.flux - model);
          wts.push(w);
          tol.push(36 * (1 / w + (ACCURACY * model) ** 2) + (variation * model) ** 2);
          owner.push(si * (side * side) + iy * side + ix);
        }
      }
    });
    // Outliers (cosmic rays, neighbours) differ from the other samples of their node; a model
    // error is shared by all of them. So each sample is judged against its node's median
    // (with room for the PSF's variation over the image when the model follows it).
    const byNode = new Map<number, number[]>();
    cellOf.forEach((n, k) => {
      const list = byNode.get(n);
      if (list) list.push(res[k]);
      else byNode.set(n, [res[k]]);
    });
    const nodeMedian = new Map<number, number>();
    for (const [n, list] of byNode) {
      list.sort((a, b) => a - b);
      nodeMedian.set(n, list[list.length >> 1]);
    }
    const nn = side * side;
    const m = nTerms;
    const A = new Float64Array(nn * m * m);
    const b = new Float64Array(nn * m);
    const starTerms = stars.map((s) => polynomialValues(polynomial, s.x, s.y));
    for (let k = 0; k < res.length; k++) {
      const d = res[k] - (nodeMedian.get(cellOf[k]) ?? 0);
      if (d * d > tol[k]) continue;
      const si = Math.floor(owner[k] / (side * side));
      const base = owner[k] % (side * side);
      const t = starTerms[si];
      const fx = fxs[k];
      const fy = fys[k];
      const corners: [number, number][] = [
        [base, (1 - fx) * (1 - fy)],
        [base + 1, fx * (1 - fy)],
        [base + side, (1 - fx) * fy],
        [base + side + 1, fx * fy],
      ];
      for (const [n, bw] of corners) {
        const ww = wts[k] * bw;
        if (ww === 0) continue;
        for (let a = 0; a < m; a++) {
          b[n * m + a] += ww * t[a] * res[k];
          for (let q = 0; q < m; q++) A[(n * m + a) * m + q] += ww * t[a] * t[q];
        }
      }
    }
    const corrections = Array.from({ length: m }, () => new Float32Array(nn));
    for (let n = 0; n < nn; n++) {
      if (!(A[n * m * m] > 0)) continue;
      if (m === 1) {
        corrections[0][n] = b[n] / A[n];
        continue;
      }
      const coef = solve(A.subarray(n * m * m, (n + 1) * m * m), b.subarray(n * m, (n + 1) * m), m);
      if (coef) for (let a = 0; a < m; a++) corrections[a][n] = coef[a];
      else corrections[0][n] = b[n * m] / A[n * m * m];
    }
    const updated = psf.terms.map((t, k) => {
      // The variation terms are smooth across the grid; their per-node fits are noisy.
      const corr = k === 0 ? corrections[k] : smooth3(smooth3(corrections[k], side), side);
      const out = new Float32Array(t.length);
      for (let i = 0; i < t.length; i++) out[i] = t[i] + corr[i];
      return out;
    });
    psf = normalise(withinRadius(new GridPsf(updated, side, step, polynomial, size), R - 1));
  }
  psf = normalise(smoothWings(psf), 1e-3);
  // Final χ² per star with the final model.
  const fits: StarFit[] = [];
  for (const s of stars) {
    const f = fitStar(psf, data, weight, width, s, R, gain);
    if (f) fits.push({ x: f.x, y: f.y, flux: f.flux, snr: s.snr, chi2: f.chi2 });
  }
  return { psf, stars: fits, rejected, oversample: N };
}

export interface MeasureStarsOptions {
  saturation?: number;
  gain?: number;
  minSnr?: number;
  /** Half-width of the fit box, px (default: the PSF stamp's). */
  radius?: number;
  maxStars?: number;
}

/**
 * Positions and fluxes of the point sources of an image, fitted with a PSF model: more and
 * fainter stars than PSF estimation uses (isolation within the fit box only), for matching a
 * science image to its reference.
 */
export function measureStars(image: Image, psf: PsfModel, options: MeasureStarsOptions = {}): StarFit[] {
  const { width, height } = image;
  const R = options.radius ?? Math.min(8, (psf.size - 1) / 2);
  const { bkg, data, weight } = prepare(image, options.saturation);
  const candidates = selectStars(data, bkg.rms, width, height, image.mask, {
    radius: R,
    minSnr: options.minSnr ?? 15,
    saturation: options.saturation,
    raw: image.data,
    maxStars: options.maxStars ?? 2000,
    sizeTolerance: 0.5,
  });
  const gain = options.gain ?? Number.POSITIVE_INFINITY;
  const out: StarFit[] = [];
  for (const s of candidates) {
    const f = fitStar(psf, data, weight, width, s, R, gain);
    if (f && Math.abs(f.x - s.x) < 1 && Math.abs(f.y - s.y) < 1)
      out.push({ x: f.x, y: f.y, flux: f.flux, snr: s.snr, chi2: f.chi2 });
  }
  return out;
}
