/**
 * PSF-fit photometry with a PsfModel (FLUX_PSF, FLUXERR_PSF, MAG_PSF, MAGERR_PSF, SNR_PSF,
 * XPSF_IMAGE, YPSF_IMAGE, CHI2_PSF, NITER_PSF).
 *
 * By default the flux is a linear least-squares fit of the PSF at a given position (the
 * windowed centroid): flux = Σ wPd / Σ wP², σ² = 1 / Σ wP², over the PSF stamp's pixels within
 * the fit radius. The weights are 1/(σ²_background + model/gain): a first pass with the
 * background noise alone, a second with the Poisson noise of the first pass's model, so that
 * the weights never depend on the data's own noise (which would bias the flux). Optionally the
 * position is fitted too (Gauss–Newton on flux, x, y with the PSF's derivatives by finite
 * differences). It has converged when a step moves the position by less than 10⁻³ px and the
 * flux by less than 10⁻⁴ of itself (far below the errors of any detection; a tighter test only
 * keeps faint fits cycling in the noise of the finite differences). A fit that does not
 * converge, or wanders more than 2 px, falls back to the linear fit at the start position
 * (flag NOT_CONVERGED).
 *
 * Pixels without data or belonging to another object are left out (flag HAS_MASKED); the
 * flux is still the total flux, as the PSF is normalised over its whole stamp.
 */
import type { PsfModel } from '../psf/model.ts';
import { PsfFlag } from './flags.ts';
import type { Photometer } from './photometry.ts';

export interface PsfFitOptions {
  /** Fit the position as well as the flux (default false: linear fit at the given position). */
  fitPosition?: boolean;
  /** Fit radius in pixels (default: the stamp's half-width). */
  radius?: number;
  /** Gauss–Newton iterations at most (default 20). */
  maxIterations?: number;
}

export interface PsfFit {
  flux: number;
  fluxErr: number;
  /** Fitted (or given) position, 0-based. */
  x: number;
  y: number;
  /** Reduced χ² of the fit. */
  chi2: number;
  /** Iterations of the position fit (1 for a linear fit). */
  niter: number;
  /** PsfFlag bits. */
  flag: number;
  /** Pixels used. */
  npix: number;
}

interface Grid {
  cx: number;
  cy: number;
  half: number;
  side: number;
  /** Image index of each grid pixel, −1 when unusable. */
  index: Int32Array;
  data: Float64Array;
  variance: Float64Array;
  flag: number;
  npix: number;
}

/** The fit pixels around (x, y): stamp-sized square, within the radius, usable pixels only. */
function makeGrid(phot: Photometer, psf: PsfModel, x: number, y: number, radius: number): Grid {
  const { width, height, meas } = phot.planes;
  const half = (psf.size - 1) >> 1;
  const side = psf.size;
  const cx = Math.round(x);
  const cy = Math.round(y);
  const index = new Int32Array(side * side).fill(-1);
  const data = new Float64Array(side * side);
  const variance = new Float64Array(side * side);
  const noise = phot.planes.measNoise;
  const r2 = radius * radius;
  let flag = 0;
  let npix = 0;
  for (let j = 0; j < side; j++) {
    const yy = cy - half + j;
    for (let i = 0; i < side; i++) {
      const xx = cx - half + i;
      const dx = xx - x;
      const dy = yy - y;
      if (dx * dx + dy * dy > r2) continue;
      if (xx < 0 || yy < 0 || xx >= width || yy >= height) {
        flag |= PsfFlag.TRUNCATED;
        continue;
      }
      const p = yy * width + xx;
      const v = meas[p];
      if (Number.isNaN(v) || phot.isBlank(p)) {
        flag |= PsfFlag.HAS_MASKED;
        continue;
      }
      const k = j * side + i;
      index[k] = p;
      data[k] = v;
      variance[k] = noise.kind === 'map' ? noise.variance[p] : noise.sigma * noise.sigma;
      if (!(variance[k] > 0)) {
        index[k] = -1;
        continue;
      }
      npix++;
    }
  }
  return { cx, cy, half, side, index, data, variance, flag, npix };
}

/** The PSF of a source at (x, y) on the grid (stamps are placed by their own centre pixel). */
function render(psf: PsfModel, x: number, y: number, g: Grid, out: Float64Array, stamp: Float32Array): void {
  psf.stamp(x, y, stamp);
  out.fill(0);
  const sx = Math.round(x) - g.cx;
  const sy = Math.round(y) - g.cy;
  const side = g.side;
  for (let j = 0; j < side; j++) {
    const gj = j + sy;
    if (gj < 0 || gj >= side) continue;
    for (let i = 0; i < side; i++) {
      const gi = i + sx;
      if (gi < 0 || gi >= side) continue;
      out[gj * side + gi] = stamp[j * side + i];
    }
  }
}

/** Linear flux fit with model-based weights (two passes). */
function linearFit(g: Grid, model: Float64Array, gain: number): { flux: number; err: number; chi2: number } {
  let flux = 0;
  let err = Number.POSITIVE_INFINITY;
  for (let pass = 0; pass < 2; pass++) {
    let num = 0;
    let den = 0;
    for (let k = 0; k < g.index.length; k++) {
      if (g.index[k] < 0) continue;
      const p = model[k];
      let v = g.variance[k];
      if (pass > 0 && gain > 0 && flux * p > 0) v += (flux * p) / gain;
      num += (p * g.data[k]) / v;
      den += (p * p) / v;
    }
    if (!(den > 0)) return { flux: Number.NaN, err: Number.NaN, chi2: Number.NaN };
    flux = num / den;
    err = 1 / Math.sqrt(den);
  }
  let chi2 = 0;
  for (let k = 0; k < g.index.length; k++) {
    if (g.index[k] < 0) continue;
    const r = g.data[k] - flux * model[k];
    let v = g.variance[k];
    if (gain > 0 && flux * model[k] > 0) v += (flux * model[k]) / gain;
    chi2 += (r * r) / v;
  }
  return { flux, err, chi2: g.npix > 1 ? chi2 / (g.npix - 1) : 0 };
}

/** Solve the 3×3 symmetric system A·x = b (A row-major); returns undefined when singular. Also the inverse's [0][0]. */
function solve3(a: Float64Array, b: Float64Array): { x: Float64Array; inv00: number } | undefined {
  const [a00, a01, a02, , a11, a12, , , a22] = a;
  const c00 = a11 * a22 - a12 * a12;
  const c01 = a02 * a12 - a01 * a22;
  const c02 = a01 * a12 - a02 * a11;
  const det = a00 * c00 + a01 * c01 + a02 * c02;
  if (!(Math.abs(det) > 0)) return undefined;
  const c11 = a00 * a22 - a02 * a02;
  const c12 = a01 * a02 - a00 * a12;
  const c22 = a00 * a11 - a01 * a01;
  const x = new Float64Array(3);
  x[0] = (c00 * b[0] + c01 * b[1] + c02 * b[2]) / det;
  x[1] = (c01 * b[0] + c11 * b[1] + c12 * b[2]) / det;
  x[2] = (c02 * b[0] + c12 * b[1] + c22 * b[2]) / det;
  return { x, inv00: c00 / det };
}

/**
 * Fit the PSF to the measurement image at (x, y) (0-based). The photometer must have the
 * object selected (its neighbours are left out of the fit).
 */
export function fitPsf(
  phot: Photometer,
  psf: PsfModel,
  x: number,
  y: number,
  options: PsfFitOptions = {},
): PsfFit {
  const half = (psf.size - 1) >> 1;
  const radius = options.radius ?? half + 0.5;
  const gain = phot.planes.gain;
  const stamp = new Float32Array(psf.size * psf.size);
  let g = makeGrid(phot, psf, x, y, radius);
  if (g.npix === 0) {
    return {
      flux: Number.NaN,
      fluxErr: Number.NaN,
      x,
      y,
      chi2: Number.NaN,
      niter: 0,
      flag: g.flag | PsfFlag.NO_DATA,
      npix: 0,
    };
  }
  const model = new Float64Array(g.side * g.side);
  render(psf, x, y, g, model, stamp);
  const lin = linearFit(g, model, gain);
  const linear: PsfFit = {
    flux: lin.flux,
    fluxErr: lin.err,
    x,
    y,
    chi2: lin.chi2,
    niter: 1,
    flag: g.flag,
    npix: g.npix,
  };
  if (!options.fitPosition || !Number.isFinite(lin.flux) || lin.flux <= 0) return linear;

  // Gauss–Newton on (flux, x, y).
  const maxIter = options.maxIterations ?? 20;
  const h = 0.05;
  const mxp = new Float64Array(model.length);
  const mxm = new Float64Array(model.length);
  const myp = new Float64Array(model.length);
  const mym = new Float64Array(model.length);
  const A = new Float64Array(9);
  const B = new Float64Array(3);
  let f = lin.flux;
  let px = x;
  let py = y;
  let inv00 = lin.err * lin.err;
  let converged = false;
  let iter = 0;
  for (; iter < maxIter; iter++) {
    if (Math.round(px) !== g.cx || Math.round(py) !== g.cy) g = makeGrid(phot, psf, px, py, radius);
    if (g.npix < 4) break;
    render(psf, px, py, g, model, stamp);
    render(psf, px + h, py, g, mxp, stamp);
    render(psf, px - h, py, g, mxm, stamp);
    render(psf, px, py + h, g, myp, stamp);
    render(psf, px, py - h, g, mym, stamp);
    A.fill(0);
    B.fill(0);
    for (let k = 0; k < g.index.length; k++) {
      if (g.index[k] < 0) continue;
      const m = model[k];
      let v = g.variance[k];
      if (gain > 0 && f * m > 0) v += (f * m) / gain;
      const w = 1 / v;
      const j0 = m;
      const j1 = (f * (mxp[k] - mxm[k])) / (2 * h);
      const j2 = (f * (myp[k] - mym[k])) / (2 * h);
      const r = g.data[k] - f * m;
      A[0] += w * j0 * j0;
      A[1] += w * j0 * j1;
      A[2] += w * j0 * j2;
      A[4] += w * j1 * j1;
      A[5] += w * j1 * j2;
      A[8] += w * j2 * j2;
      B[0] += w * j0 * r;
      B[1] += w * j1 * r;
      B[2] += w * j2 * r;
    }
    A[3] = A[1];
    A[6] = A[2];
    A[7] = A[5];
    const s = solve3(A, B);
    if (!s) break;
    let [df, dx, dy] = s.x;
    const step = Math.hypot(dx, dy);
    if (step > 0.5) {
      dx *= 0.5 / step;
      dy *= 0.5 / step;
    }
    f += df;
    px += dx;
    py += dy;
    inv00 = s.inv00;
    if (!(f > 0) || Math.hypot(px - x, py - y) > 2) break;
    if (Math.abs(dx) < 1e-3 && Math.abs(dy) < 1e-3 && Math.abs(df) < 1e-4 * Math.abs(f)) {
      converged = true;
      iter++;
      break;
    }
  }
  if (!converged) return { ...linear, flag: linear.flag | PsfFlag.NOT_CONVERGED, niter: iter };
  // Final linear flux at the fitted position (the flux error includes the position's covariance).
  g = makeGrid(phot, psf, px, py, radius);
  render(psf, px, py, g, model, stamp);
  const fin = linearFit(g, model, gain);
  return {
    flux: fin.flux,
    fluxErr: Math.max(fin.err, Math.sqrt(Math.max(inv00, 0))),
    x: px,
    y: py,
    chi2: fin.chi2,
    niter: iter,
    flag: g.flag,
    npix: g.npix,
  };
}
