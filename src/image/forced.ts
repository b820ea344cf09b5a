/**
 * Forced PSF photometry: the flux of a point source at a given position, by a linear
 * least-squares fit of the PSF. On a difference image the source may be negative or absent, so
 * nothing is detected or centred: this is how light curves get fluxes at every epoch.
 *
 * The fit weights are uniform over the PSF stamp (flux = Σ P d / Σ P²): the variance plane of a
 * difference image holds the sources' own Poisson noise, and weights taken from it would
 * down-weight a bright source's core and bias its flux low. The error propagates the full
 * variance through those weights: error² = Σ P² V / (Σ P²)². Pixels without data or with a
 * mask bit are left out.
 */

import { circleOverlap } from './extract/aperture.ts';
import type { Image } from './image.ts';
import type { PsfModel } from './psf/model.ts';
import { MAX_STAR_ELLIPTICITY, MIN_STAR_SIZE, moments, STAR_WINDOW } from './psf/select.ts';
import { regularSample, robustSigma } from './stats.ts';

/**
 * Why a forced measurement is partial or missing (bits). PARTIAL comes with the reasons: EDGE,
 * NO_DIFFERENCE, MASKED; NO_DATA (flux and error NaN) with those that left no pixel at all.
 */
export const ForcedFlag = {
  /** The position is outside the image. */
  OUTSIDE: 1,
  /** Part of the PSF stamp falls off the image or on masked pixels. */
  PARTIAL: 2,
  /** No usable pixel: flux and error are NaN. */
  NO_DATA: 4,
  /**
   * Part of the PSF stamp has no difference value (NaN): on a difference image, pixels the
   * reference does not cover (a dithered science image reaches past its reference's tile).
   */
  NO_DIFFERENCE: 8,
  /** Part of the PSF stamp is masked (a mask bit, or no positive variance). */
  MASKED: 16,
  /** Part of the PSF stamp falls off the image's edge. */
  EDGE: 32,
} as const;

/** Why a pixel under a model is unusable (ForcedFlag bits, PARTIAL included), 0 when it is usable. */
function pixelFlags(d: number, v: number, m: number): number {
  if (!Number.isFinite(d)) return ForcedFlag.PARTIAL | ForcedFlag.NO_DIFFERENCE;
  if (!(v > 0) || m !== 0) return ForcedFlag.PARTIAL | ForcedFlag.MASKED;
  return 0;
}

export interface ForcedFlux {
  flux: number;
  fluxErr: number;
  /** Reduced χ² of the fit. */
  chi2: number;
  /** Pixels used. */
  npix: number;
  flags: number;
}

/**
 * Forced photometry at (x, y) (0-based pixels). Without a variance plane the flux is measured
 * all the same and its error and χ² are NaN. `background` is subtracted first (0 for a
 * difference image).
 */
export function forcedPhotometry(
  image: Image,
  psf: PsfModel,
  x: number,
  y: number,
  background = 0,
): ForcedFlux {
  const { width, height, data, variance, mask } = image;
  const none = (flags: number): ForcedFlux => ({
    flux: Number.NaN,
    fluxErr: Number.NaN,
    chi2: Number.NaN,
    npix: 0,
    flags,
  });
  if (!(x >= -0.5 && y >= -0.5 && x < width - 0.5 && y < height - 0.5)) return none(ForcedFlag.OUTSIDE);
  const stamp = psf.stamp(x, y);
  const side = psf.size;
  const half = (side - 1) >> 1;
  const cx = Math.round(x);
  const cy = Math.round(y);
  let sPd = 0;
  let sPP = 0;
  let sPPV = 0;
  let flags = 0;
  let npix = 0;
  for (let j = 0; j < side; j++) {
    const iy = cy + j - half;
    for (let i = 0; i < side; i++) {
      const ix = cx + i - half;
      const p = stamp[j * side + i];
      if (iy < 0 || iy >= height || ix < 0 || ix >= width) {
        if (p !== 0) flags |= ForcedFlag.PARTIAL | ForcedFlag.EDGE;
        continue;
      }
      const k = iy * width + ix;
      const v = variance ? variance[k] : 1;
      const d = data[k];
      const bad = pixelFlags(d, v, mask ? mask[k] : 0);
      if (bad !== 0) {
        if (p !== 0) flags |= bad;
        continue;
      }
      sPd += p * (d - background);
      sPP += p * p;
      sPPV += p * p * v;
      npix++;
    }
  }
  if (!(sPP > 0)) return none(flags | ForcedFlag.NO_DATA);
  const flux = sPd / sPP;
  if (!variance) return { flux, fluxErr: Number.NaN, chi2: Number.NaN, npix, flags };
  let chi2 = 0;
  for (let j = 0; j < side; j++) {
    const iy = cy + j - half;
    if (iy < 0 || iy >= height) continue;
    for (let i = 0; i < side; i++) {
      const ix = cx + i - half;
      if (ix < 0 || ix >= width) continue;
      const k = iy * width + ix;
      const v = variance[k];
      const d = data[k];
      if (!(v > 0) || !Number.isFinite(d) || (mask && mask[k] !== 0)) continue;
      chi2 += (d - background - flux * stamp[j * side + i]) ** 2 / v;
    }
  }
  return {
    flux,
    fluxErr: Math.sqrt(sPPV) / sPP,
    chi2: npix > 1 ? chi2 / (npix - 1) : Number.NaN,
    npix,
    flags,
  };
}

export interface ErrorScale {
  /** Real scatter of forced fluxes over their errors from per-pixel variances (1: errors right). */
  scale: number;
  /** Positions measured (1 when too few to say). */
  samples: number;
}

/**
 * How far forced-photometry errors from per-pixel variances are from the real scatter of the
 * fluxes. A difference image's noise is correlated (the reference was co-added and resampled,
 * and ZOGY's kernels whiten it only where the noise model holds), which a variance per pixel
 * cannot express: the error of a PSF-weighted sum comes out a few per cent to tens of per cent
 * off. Measured, not modelled: forced photometry at `n` quasi-random positions (every sub-pixel
 * phase), most of them on blank sky; the robust σ (1.4826 × median absolute deviation) of
 * flux/error ignores the sources among them. Fewer than 50 usable positions (a small image):
 * scale 1.
 */
export function forcedErrorScale(image: Image, psf: PsfModel, n = 600): ErrorScale {
  const margin = (psf.size - 1) / 2 + 1;
  const w = image.width - 2 * margin;
  const h = image.height - 2 * margin;
  if (!(w > 0 && h > 0)) return { scale: 1, samples: 0 };
  // The R2 sequence (plastic number): low-discrepancy points in the plane.
  const g = 1.324717957244746;
  const a1 = 1 / g;
  const a2 = 1 / (g * g);
  // No more positions than fit without sharing most of their pixels.
  const count = Math.min(n, Math.floor((w * h) / (psf.size / 2) ** 2));
  const pulls: number[] = [];
  for (let i = 0; i < count; i++) {
    const x = margin + ((0.5 + a1 * (i + 1)) % 1) * w;
    const y = margin + ((0.5 + a2 * (i + 1)) % 1) * h;
    const f = forcedPhotometry(image, psf, x, y);
    if (f.flags === 0 && f.fluxErr > 0) pulls.push(f.flux / f.fluxErr);
  }
  if (pulls.length < 50) return { scale: 1, samples: pulls.length };
  return { scale: robustSigma(pulls), samples: pulls.length };
}

export interface TemplateResidual {
  /**
   * Forced-flux error per unit of the template's PSF flux under the position: what the static
   * scene leaves in the difference (0 when the errors already account for the scatter).
   */
  fraction: number;
  /** Static sources it was measured on (0: too few to say, fraction 0). */
  samples: number;
}

/**
 * How much of the static scene a difference image leaves behind, as an error term in
 * proportion to the template's flux. Where the reference is undersampled and resampled onto
 * the science grid, a static source subtracts to a few per cent of its flux, depending on its
 * sub-pixel phase (a systematic error, not noise): a transient on a galaxy inherits it, and its
 * light curve scatters by more than its errors. Measured, not modelled: forced photometry on
 * the difference at up to `n` peaks of the template (static sources, spread over their range of
 * brightness); the fraction η is the one for which flux / √(error² + (η · template flux)²) has
 * a robust σ of 1 over them. `errorScale` is the image's noise correction (forcedErrorScale);
 * `templateBackground` the template's sky level. Fewer than 15 peaks: 0.
 */
export function templateResidual(
  difference: Image,
  template: Image,
  psf: PsfModel,
  errorScale: number,
  templateBackground: number,
  n = 400,
): TemplateResidual {
  const peaks = templatePeaks(template, (psf.size - 1) / 2, templateBackground, n);
  const fd: number[] = [];
  const err: number[] = [];
  const ft: number[] = [];
  for (const { x, y } of peaks) {
    const d = forcedPhotometry(difference, psf, x, y);
    const t = forcedPhotometry(template, psf, x, y, templateBackground);
    if (d.flags !== 0 || !(d.fluxErr > 0) || !(t.flux > 0)) continue;
    fd.push(d.flux);
    err.push(d.fluxErr * errorScale);
    ft.push(t.flux);
  }
  if (fd.length < 15) return { fraction: 0, samples: fd.length };
  return {
    fraction: unitSpreadFraction(
      fd,
      err.map((e) => e * e),
      ft,
    ),
    samples: fd.length,
  };
}

/**
 * The fraction η (10⁻⁵ … 1, or 0) for which values / √(noise variance + (η · scale)²) have a
 * robust σ of 1: what the noise leaves unexplained, in proportion to `scales`.
 */
function unitSpreadFraction(values: number[], variances: number[], scales: number[]): number {
  const spread = (eta: number) =>
    robustSigma(values.map((f, i) => f / Math.sqrt(variances[i] + (eta * scales[i]) ** 2)));
  if (spread(0) <= 1) return 0;
  if (spread(1) > 1) return 1;
  // The spread falls as η grows; bisect on a log scale between 10⁻⁵ and 1.
  let lo = Math.log(1e-5);
  let hi = 0;
  for (let k = 0; k < 40; k++) {
    const mid = (lo + hi) / 2;
    if (spread(Math.exp(mid)) > 1) lo = mid;
    else hi = mid;
  }
  return Math.exp(hi);
}

/**
 * Local maxima of the template at least 5 robust σ above `background`, `separation` pixels
 * apart and that far from the edges, brightest first; when there are more than `n`, every k-th
 * so that faint and bright static sources both count.
 */
export function templatePeaks(
  template: Image,
  separation: number,
  background: number,
  n: number,
): { x: number; y: number; value: number }[] {
  const { width, height, data } = template;
  const sample = regularSample(data);
  if (sample.length < 2) return [];
  const level = background + 5 * robustSigma(sample);
  const m = Math.ceil(separation);
  const found: { x: number; y: number; value: number }[] = [];
  for (let y = m; y < height - m; y++) {
    const row = y * width;
    for (let x = m; x < width - m; x++) {
      const v = data[row + x];
      if (!(v > level)) continue;
      if (
        !(v >= data[row + x - 1]) ||
        !(v > data[row + x + 1]) ||
        !(v >= data[row - width + x - 1]) ||
        !(v >= data[row - width + x]) ||
        !(v >= data[row - width + x + 1]) ||
        !(v > data[row + width + x - 1]) ||
        !(v > data[row + width + x]) ||
        !(v > data[row + width + x + 1])
      )
        continue;
      found.push({ x, y, value: v });
    }
  }
  found.sort((a, b) => b.value - a.value);
  // Isolated peaks only: a brighter one within `separation` shares the stamp.
  const kept: typeof found = [];
  const cell = Math.max(1, m);
  const grid = new Map<number, { x: number; y: number }[]>();
  const key = (gx: number, gy: number) => gy * 65536 + gx;
  for (const p of found) {
    const gx = Math.floor(p.x / cell);
    const gy = Math.floor(p.y / cell);
    let near = false;
    for (let dy = -1; dy <= 1 && !near; dy++)
      for (let dx = -1; dx <= 1 && !near; dx++)
        for (const q of grid.get(key(gx + dx, gy + dy)) ?? [])
          if (Math.hypot(q.x - p.x, q.y - p.y) < separation) near = true;
    const list = grid.get(key(gx, gy)) ?? [];
    list.push(p);
    grid.set(key(gx, gy), list);
    if (!near) kept.push(p);
  }
  if (kept.length <= n) return kept;
  const every = kept.length / n;
  return Array.from({ length: n }, (_, i) => kept[Math.floor(i * every)]);
}

/**
 * Forced photometry of several positions at once, for sources close enough that their PSF
 * stamps overlap: one linear least-squares fit of all their fluxes (uniform weights, as
 * forcedPhotometry), so that each flux is its own and not partly its neighbour's. Errors from
 * the full variance through the fit's weights, (A⁻¹ · Σ P_i P_j V · A⁻¹)_ii with A = Σ P_i P_j;
 * χ² is the group's. Positions outside the image get OUTSIDE and take no part in the fit. One
 * position gives forcedPhotometry's result.
 */
export function forcedPhotometryJoint(
  image: Image,
  psf: PsfModel,
  points: readonly { x: number; y: number }[],
): ForcedFlux[] {
  if (points.length === 1) return [forcedPhotometry(image, psf, points[0].x, points[0].y)];
  const { width, height, data, variance, mask } = image;
  if (!variance) throw new RangeError('joint forced photometry needs the image variance');
  const side = psf.size;
  const half = (side - 1) >> 1;
  const out: ForcedFlux[] = points.map(() => ({
    flux: Number.NaN,
    fluxErr: Number.NaN,
    chi2: Number.NaN,
    npix: 0,
    flags: ForcedFlag.OUTSIDE,
  }));
  const inside = points
    .map((_p, i) => i)
    .filter((i) => {
      const { x, y } = points[i];
      return x >= -0.5 && y >= -0.5 && x < width - 0.5 && y < height - 0.5;
    });
  const n = inside.length;
  if (n === 0) return out;
  // Each model on the group's pixel box.
  const stamps = inside.map((i) => psf.stamp(points[i].x, points[i].y));
  const cx = inside.map((i) => Math.round(points[i].x));
  const cy = inside.map((i) => Math.round(points[i].y));
  const x0 = Math.max(0, Math.min(...cx) - half);
  const x1 = Math.min(width - 1, Math.max(...cx) + half);
  const y0 = Math.max(0, Math.min(...cy) - half);
  const y1 = Math.min(height - 1, Math.max(...cy) + half);
  const model = (k: number, ix: number, iy: number) => {
    const i = ix - cx[k] + half;
    const j = iy - cy[k] + half;
    return i >= 0 && i < side && j >= 0 && j < side ? stamps[k][j * side + i] : 0;
  };
  const A = new Float64Array(n * n);
  const AV = new Float64Array(n * n);
  const b = new Float64Array(n);
  const flags = new Array<number>(n).fill(0);
  const npix = new Array<number>(n).fill(0);
  const p = new Float64Array(n);
  // Stamps reaching off the image.
  for (let k = 0; k < n; k++)
    if (cx[k] - half < 0 || cy[k] - half < 0 || cx[k] + half >= width || cy[k] + half >= height)
      flags[k] |= ForcedFlag.PARTIAL | ForcedFlag.EDGE;
  for (let iy = y0; iy <= y1; iy++) {
    for (let ix = x0; ix <= x1; ix++) {
      for (let k = 0; k < n; k++) p[k] = model(k, ix, iy);
      const q = iy * width + ix;
      const v = variance[q];
      const d = data[q];
      const bad = pixelFlags(d, v, mask ? mask[q] : 0);
      if (bad !== 0) {
        for (let k = 0; k < n; k++) if (p[k] !== 0) flags[k] |= bad;
        continue;
      }
      for (let k = 0; k < n; k++) {
        if (p[k] === 0) continue;
        npix[k]++;
        b[k] += p[k] * d;
        for (let l = 0; l < n; l++) {
          A[k * n + l] += p[k] * p[l];
          AV[k * n + l] += p[k] * p[l] * v;
        }
      }
    }
  }
  const inv = invert(A, n);
  if (!inv) {
    // Degenerate (two positions on one pixel): each on its own.
    return points.map((pt) => forcedPhotometry(image, psf, pt.x, pt.y));
  }
  const flux = new Float64Array(n);
  for (let k = 0; k < n; k++) for (let l = 0; l < n; l++) flux[k] += inv[k * n + l] * b[l];
  // Covariance inv · AV · inv.
  const tmp = new Float64Array(n * n);
  for (let k = 0; k < n; k++)
    for (let l = 0; l < n; l++) {
      let s = 0;
      for (let m = 0; m < n; m++) s += inv[k * n + m] * AV[m * n + l];
      tmp[k * n + l] = s;
    }
  let chi2 = 0;
  let used = 0;
  for (let iy = y0; iy <= y1; iy++) {
    for (let ix = x0; ix <= x1; ix++) {
      const q = iy * width + ix;
      const v = variance[q];
      const d = data[q];
      if (!(v > 0) || !Number.isFinite(d) || (mask && mask[q] !== 0)) continue;
      let m = 0;
      let any = false;
      for (let k = 0; k < n; k++) {
        const pk = model(k, ix, iy);
        if (pk !== 0) any = true;
        m += flux[k] * pk;
      }
      if (!any) continue;
      chi2 += (d - m) ** 2 / v;
      used++;
    }
  }
  inside.forEach((i, k) => {
    let varK = 0;
    for (let m = 0; m < n; m++) varK += tmp[k * n + m] * inv[m * n + k];
    out[i] =
      npix[k] === 0
        ? {
            flux: Number.NaN,
            fluxErr: Number.NaN,
            chi2: Number.NaN,
            npix: 0,
            flags: flags[k] | ForcedFlag.NO_DATA,
          }
        : {
            flux: flux[k],
            fluxErr: Math.sqrt(Math.max(varK, 0)),
            chi2: used > n ? chi2 / (used - n) : Number.NaN,
            npix: npix[k],
            flags: flags[k],
          };
  });
  return out;
}

/** The inverse of a symmetric n × n matrix (Gauss–Jordan with partial pivoting); undefined when singular. */
function invert(a: Float64Array, n: number): Float64Array | undefined {
  const m = Float64Array.from(a);
  const inv = new Float64Array(n * n);
  for (let k = 0; k < n; k++) inv[k * n + k] = 1;
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r * n + c]) > Math.abs(m[piv * n + c])) piv = r;
    const pv = m[piv * n + c];
    if (!(Math.abs(pv) > 1e-12 * Math.abs(m[c * n + c] || 1)) || pv === 0) return undefined;
    if (piv !== c)
      for (let k = 0; k < n; k++) {
        [m[c * n + k], m[piv * n + k]] = [m[piv * n + k], m[c * n + k]];
        [inv[c * n + k], inv[piv * n + k]] = [inv[piv * n + k], inv[c * n + k]];
      }
    for (let k = 0; k < n; k++) {
      m[c * n + k] /= pv;
      inv[c * n + k] /= pv;
    }
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r * n + c];
      if (f === 0) continue;
      for (let k = 0; k < n; k++) {
        m[r * n + k] -= f * m[c * n + k];
        inv[r * n + k] -= f * inv[c * n + k];
      }
    }
  }
  return inv;
}

/** Groups of points (indices) linked by distances under `radius` (friends of friends). */
export function groupByDistance(points: readonly { x: number; y: number }[], radius: number): number[][] {
  const parent = points.map((_, i) => i);
  const root = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]];
      i = parent[i];
    }
    return i;
  };
  // A grid of cells of the radius makes this linear in the number of points.
  const cells = new Map<string, number[]>();
  const cell = (v: number) => Math.floor(v / radius);
  points.forEach((p, i) => {
    const k = `${cell(p.x)},${cell(p.y)}`;
    cells.set(k, [...(cells.get(k) ?? []), i]);
  });
  points.forEach((p, i) => {
    for (let dy = -1; dy <= 1; dy++)
      for (let dx = -1; dx <= 1; dx++)
        for (const j of cells.get(`${cell(p.x) + dx},${cell(p.y) + dy}`) ?? []) {
          if (j <= i || !(Math.hypot(points[j].x - p.x, points[j].y - p.y) < radius)) continue;
          parent[root(j)] = root(i);
        }
  });
  const groups = new Map<number, number[]>();
  points.forEach((_, i) => {
    const r = root(i);
    groups.set(r, [...(groups.get(r) ?? []), i]);
  });
  return [...groups.values()];
}

export interface LightCurveErrors {
  /** The image's noise correction (forcedErrorScale). */
  errorScale: number;
  /** What static sources leave, per unit of template flux (templateResidual), with the template and its sky. */
  residual?: { fraction: number; template: Image; background: number };
}

/**
 * Forced photometry of a difference image at many positions, as light curves take it:
 * positions within half a PSF stamp of each other fitted together (forcedPhotometryJoint), and
 * errors times the image's noise correction plus, in quadrature, the template-residual term
 * for the template's PSF flux under each position.
 */
export function forcedPhotometryMany(
  difference: Image,
  psf: PsfModel,
  points: readonly { x: number; y: number }[],
  errors: LightCurveErrors,
): ForcedFlux[] {
  const out = new Array<ForcedFlux>(points.length);
  for (const group of groupByDistance(points, (psf.size - 1) / 2)) {
    const fits = forcedPhotometryJoint(
      difference,
      psf,
      group.map((i) => points[i]),
    );
    group.forEach((i, k) => {
      out[i] = fits[k];
    });
  }
  const r = errors.residual;
  return out.map((f, i) => {
    let fluxErr = f.fluxErr * errors.errorScale;
    if (r && r.fraction > 0 && !(f.flags & ForcedFlag.OUTSIDE)) {
      const under = forcedPhotometry(r.template, psf, points[i].x, points[i].y, r.background).flux;
      if (under > 0) fluxErr = Math.hypot(fluxErr, r.fraction * under);
    }
    return { ...f, fluxErr };
  });
}

/** A PSF flux checked against an aperture (apertureRatios). */
export interface ApertureRatio {
  /** PSF flux / aperture flux − 1, the aperture flux divided by the PSF's share in it. */
  ratio: number;
  /**
   * The ratio's variance from what is not the model: the pixels' noise (the aperture's, less the
   * PSF flux's: they share pixels) and, when the template is known, what the static scene under
   * the aperture leaves in it (checkResidual).
   */
  variance: number;
}

/** The template on the difference image's grid and its sky level. */
export interface CheckTemplate {
  image: Image;
  background: number;
}

export interface ApertureCheckOptions {
  /** Least S/N of a checked PSF flux, from the pixels' noise (default 20). */
  minSnr?: number;
  /**
   * The template (the reference on the difference image's grid): the static scene's residual
   * under each aperture joins its variance. Without it, none does.
   */
  template?: CheckTemplate;
}

/** Sums over an exact-overlap aperture, with the model's share in it; undefined when a pixel is missing. */
interface ApertureSums {
  sum: number;
  /** Σ w² V (0 without a variance plane). */
  variance: number;
  /** The model's share of its flux in the aperture. */
  share: number;
  /** The PSF flux's variance from the pixels (forcedPhotometry's weights; NaN without a variance plane). */
  psfVariance: number;
}

function apertureSums(
  image: Image,
  psf: PsfModel,
  x: number,
  y: number,
  radius: number,
  background = 0,
): ApertureSums | undefined {
  const { width, height, data, variance, mask } = image;
  const stamp = psf.stamp(x, y);
  const side = psf.size;
  const half = (side - 1) >> 1;
  const cx = Math.round(x);
  const cy = Math.round(y);
  let sum = 0;
  let sumVar = 0;
  let share = 0;
  for (let j = Math.floor(y - radius); j <= Math.ceil(y + radius); j++) {
    for (let i = Math.floor(x - radius); i <= Math.ceil(x + radius); i++) {
      const w = circleOverlap(i - x, j - y, radius);
      if (w <= 0) continue;
      if (i < 0 || j < 0 || i >= width || j >= height) return undefined;
      const k = j * width + i;
      if (!Number.isFinite(data[k]) || (mask && mask[k] !== 0)) return undefined;
      if (variance && !(variance[k] > 0)) return undefined;
      sum += w * (data[k] - background);
      if (variance) sumVar += w * w * variance[k];
      const i2 = i - cx + half;
      const j2 = j - cy + half;
      if (i2 >= 0 && j2 >= 0 && i2 < side && j2 < side) share += w * stamp[j2 * side + i2];
    }
  }
  let sPP = 0;
  let sPPV = 0;
  if (variance)
    for (let j = 0; j < side; j++) {
      const yy = cy + j - half;
      for (let i = 0; i < side; i++) {
        const xx = cx + i - half;
        const q = stamp[j * side + i];
        if (q === 0 || xx < 0 || yy < 0 || xx >= width || yy >= height) continue;
        const v = variance[yy * width + xx];
        if (!(v > 0)) continue;
        sPP += q * q;
        sPPV += q * q * v;
      }
    }
  return { sum, variance: sumVar, share, psfVariance: sPP > 0 ? sPPV / (sPP * sPP) : Number.NaN };
}

/** The aperture radius of the checks: 3 FWHM (at least 2 px). */
function checkRadius(psf: PsfModel): number {
  return Math.max(2, 3 * psf.fwhm());
}

/**
 * What the static scene leaves in an aperture check (apertureRatios), per unit of the template's
 * flux in the aperture: measured, like templateResidual, at up to `n` peaks of the template,
 * where the difference holds no source, only what subtraction left: the check's numerator, PSF
 * flux × share − aperture flux, scatters there by more than the pixels' noise, and η is the
 * fraction of the template's aperture flux for which it does not. A transient on a galaxy sees
 * it in full: on the F106 images of the demo-like survey of test/postprocess-demo.test.ts, the
 * 3-FWHM aperture around a supernova held 10% of its host's light (PSF flux right to 1%, check
 * −13%), and such checks made the floor 6%. Fewer than 15 peaks: 0.
 */
export function checkResidual(
  difference: Image,
  template: CheckTemplate,
  psf: PsfModel,
  n = 400,
): TemplateResidual {
  const radius = checkRadius(psf);
  const peaks = templatePeaks(template.image, (psf.size - 1) / 2, template.background, n);
  const num: number[] = [];
  const noise: number[] = [];
  const scale: number[] = [];
  for (const { x, y } of peaks) {
    const f = forcedPhotometry(difference, psf, x, y);
    if (f.flags !== 0) continue;
    const a = apertureSums(difference, psf, x, y, radius);
    const t = apertureSums(template.image, psf, x, y, radius, template.background);
    if (!a || !t || !(t.sum > 0) || !Number.isFinite(a.psfVariance)) continue;
    num.push(f.flux * a.share - a.sum);
    noise.push(Math.max(0, a.variance - a.share * a.share * a.psfVariance));
    scale.push(t.sum);
  }
  if (num.length < 15) return { fraction: 0, samples: num.length };
  return { fraction: unitSpreadFraction(num, noise, scale), samples: num.length };
}

/**
 * PSF fluxes checked against exact-overlap apertures of 3 FWHM (where the model's shape hardly
 * matters: its share of the PSF there is near 1), for the sources bright enough (S/N ≥ minSnr
 * from the pixels' noise) and alone (no other position within two aperture radii) to tell, and
 * point-like in the data as PSF stars are chosen (weighted second moments of at least
 * MIN_STAR_SIZE, ellipticity at most MAX_STAR_ELLIPTICITY); undefined for the others. Pooled
 * over many images (psfFluxFloor), what their ratios scatter beyond their variances is the PSF
 * model's own photometric error.
 *
 * The shape test is on the data, never on the model, so that a wrong model is still checked:
 * it keeps out cosmic-ray tracks (two to four pixels in a line), hot pixels and subtraction
 * dipoles. The variance holds what is not the model: the pixels' noise (no error scale and no
 * template term, which the aperture's variance lacks as well) and, with the template, what the
 * static scene under the aperture leaves in it (checkResidual's fraction of the template's
 * aperture flux), so that a transient on a galaxy, whose aperture holds some of its host's
 * residual, does not pass that residual for the model's error.
 */
export function apertureRatios(
  image: Image,
  psf: PsfModel,
  points: readonly { x: number; y: number }[],
  fluxes: readonly ForcedFlux[],
  options: number | ApertureCheckOptions = {},
): (ApertureRatio | undefined)[] {
  const o = typeof options === 'number' ? { minSnr: options } : options;
  const minSnr = o.minSnr ?? 20;
  const template = o.template;
  const { width, height, data, variance } = image;
  const radius = checkRadius(psf);
  let residual: number | undefined;
  return points.map((p, i) => {
    const f = fluxes[i];
    if (!variance || f.flags !== 0 || !(f.flux > 0)) return undefined;
    if (points.some((q, j) => j !== i && Math.hypot(q.x - p.x, q.y - p.y) < 2 * radius)) return undefined;
    const cx = Math.round(p.x);
    const cy = Math.round(p.y);
    if (cx < STAR_WINDOW || cy < STAR_WINDOW || cx >= width - STAR_WINDOW || cy >= height - STAR_WINDOW)
      return undefined;
    const shape = moments(data, width, cx, cy, STAR_WINDOW);
    if (!(shape.size >= MIN_STAR_SIZE) || !(shape.ellipticity <= MAX_STAR_ELLIPTICITY)) return undefined;
    const a = apertureSums(image, psf, p.x, p.y, radius);
    if (!a || !(a.sum > 0) || !(a.share > 0.5)) return undefined;
    if (!(f.flux >= minSnr * Math.sqrt(a.psfVariance))) return undefined;
    let scene = 0;
    if (template) {
      residual ??= checkResidual(image, template, psf).fraction;
      const t = apertureSums(template.image, psf, p.x, p.y, radius, template.background);
      if (!t) return undefined;
      scene = ((residual * Math.max(0, t.sum)) / a.sum) ** 2;
    }
    return {
      ratio: (f.flux * a.share) / a.sum - 1,
      variance: Math.max(0, a.variance / (a.sum * a.sum) - a.psfVariance / (f.flux * f.flux)) + scene,
    };
  });
}

export interface PsfFluxFloor {
  /** Relative error of PSF fluxes that the PSF model adds (0 when the checks show none). */
  fraction: number;
  /** Checks it was measured on. */
  samples: number;
}

/**
 * Degrees of freedom of the Student t the checks are taken to follow: tails heavy enough that a
 * leftover blend among tens of checks does not set the floor (at 10σ it weighs a quarter of
 * what it would in a Gaussian), light enough that a model wrong by 4% on one bright source
 * still counts.
 */
const FLOOR_T_DOF = 10;
/**
 * The squared scale of that t, per unit of variance, for which Gaussian checks give their own σ
 * (the likelihood's scale s for N(0, 1) data: E[(ν + 1) z² / (ν s² + z²)] = 1, s = 0.917).
 */
const FLOOR_T_SCALE2 = 0.842;

/**
 * The PSF model's photometric error as a fraction of the flux, from apertureRatios pooled over
 * images: the f that makes the ratios most likely if each is drawn about 0 with the variance
 * v + f² (maximum likelihood, a Student t of FLOOR_T_DOF degrees of freedom with the core of
 * that Gaussian); 0 with fewer than 5 checks. A model made from 10–20 stars errs by 1–2% with
 * the sub-pixel phase, which no pixel's noise says: added in quadrature, it is what light-curve
 * errors lacked.
 *
 * About 0, not about their median: a model too narrow or too broad makes every PSF flux low or
 * high, an error as much as the scatter. Each check weighs by its own precision: they range from
 * 0.1% (S/N 170, no host) to 30% (S/N 20 on a bright galaxy), and the robust spread of all of
 * them less the median variance, used before, said little about either.
 */
export function psfFluxFloor(checks: readonly ApertureRatio[]): PsfFluxFloor {
  if (checks.length < 5) return { fraction: 0, samples: checks.length };
  const nu = FLOOR_T_DOF;
  const k = FLOOR_T_SCALE2;
  const logLikelihood = (f: number) => {
    let sum = 0;
    for (const c of checks) {
      const s2 = (c.variance + f * f) * k;
      sum -= 0.5 * Math.log(s2) + ((nu + 1) / 2) * Math.log1p((c.ratio * c.ratio) / (nu * s2));
    }
    return sum;
  };
  // A coarse logarithmic scan from 10⁻⁴ to 1 (and 0), then golden-section refinement.
  // (At 0, a check without pixel noise — all its variance explained away — is infinitely unlikely.)
  let best = 0;
  let bestL = logLikelihood(0);
  if (Number.isNaN(bestL)) bestL = Number.NEGATIVE_INFINITY;
  const grid = Array.from({ length: 81 }, (_, i) => 10 ** (-4 + i / 20));
  grid.forEach((f) => {
    const l = logLikelihood(f);
    if (l > bestL) {
      best = f;
      bestL = l;
    }
  });
  if (best > 0) {
    const i = grid.indexOf(best);
    let lo = Math.log(grid[Math.max(0, i - 1)]);
    let hi = Math.log(grid[Math.min(grid.length - 1, i + 1)]);
    const g = (Math.sqrt(5) - 1) / 2;
    for (let it = 0; it < 40; it++) {
      const a = hi - g * (hi - lo);
      const b = lo + g * (hi - lo);
      if (logLikelihood(Math.exp(a)) > logLikelihood(Math.exp(b))) hi = b;
      else lo = a;
    }
    best = Math.exp((lo + hi) / 2);
  }
  return { fraction: best, samples: checks.length };
}
