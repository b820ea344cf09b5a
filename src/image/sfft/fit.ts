/**
 * The SFFT fit: solve the normal equations (float64 Cholesky with a condition check), then
 * reject the pixels the model cannot explain (the sources that changed, cosmic rays, residual
 * artefacts: beyond `rejectSigma` times the pixel's expected residual noise, grown by
 * `rejectGrow` pixels) and fit again, until nothing new is rejected or `iterations` refits are
 * done. The expected noise is the images' variances when given (target's plus the convolved
 * image's times ΣK²), else the residual's robust σ on blank sky, plus a tenth of the model
 * either way, so that the bright stars and galaxies, which hold most of what the fit learns,
 * are not rejected for their photon noise or for what a kernel cannot match. A singular or
 * ill-conditioned system is the method's failure (SingularSfftError), not a crash.
 */

import { BadInputError } from '../../util/errors.ts';
import { fftBackend as defaultBackend, type FftBackend } from '../fft/index.ts';
import { choleskySolve } from '../linalg.ts';
import { regularSample, robustSigma } from '../stats.ts';
import { kernelSide, monomials } from './basis.ts';
import { backgroundImage, convolveWithSolution, imageSpectrum, type SfftSolution } from './kernel.ts';
import { assembleSystem, removeFromCorrelations, type SfftCorrelations, sfftCorrelations } from './system.ts';

/** The share of the model that rejection counts as its error (see the rejection below). */
const MODEL_ERROR = 0.1;

/** Above this the fit is not trusted (float64 leaves about 1e-3 relative precision then). */
export const MAX_CONDITION = 1e13;

export class SingularSfftError extends BadInputError {
  constructor(message: string) {
    super(message);
    this.name = 'SingularSfftError';
  }
}

export interface SfftFitOptions {
  /** Kernel half-width w: (2w+1)² δ-function pixels (RAPID: 9). */
  halfWidth?: number;
  /** Polynomial degree of the kernel's variation over the image (RAPID: 0). */
  kernelOrder?: number;
  /** Polynomial degree of the differential background (RAPID: 0). */
  backgroundOrder?: number;
  /** Residuals beyond this many robust σ are rejected before the next fit. */
  rejectSigma?: number;
  /** Rejected pixels grow by this many pixels (a changed source's wings go with its core). */
  rejectGrow?: number;
  /** Refits after rejection, at most (default 1: SFFT itself fits once, with masks made beforehand). */
  iterations?: number;
  /** Per-pixel variances of the target and of the convolved image, when known. */
  targetVariance?: ArrayLike<number>;
  convolvedVariance?: ArrayLike<number>;
  backend?: FftBackend;
}

export interface SfftFit {
  solution: SfftSolution;
  /** The model of the target: convolved ⊗ K + background (float64, width×height). */
  model: Float64Array;
  /** 1 where a pixel was used by the last fit. */
  fitted: Uint8Array;
  fittedPixels: number;
  rejectedPixels: number;
  iterations: number;
  /** Robust σ of the last fit's residual over the fitted pixels. */
  residualSigma: number;
}

/**
 * Fit `convolved ⊗ K + B ≈ target` over the pixels where `usable` is 1 (both finite). The
 * images are width×height, row-major; they are not changed.
 */
export async function fitSfft(
  convolved: ArrayLike<number>,
  target: ArrayLike<number>,
  width: number,
  height: number,
  usable: Uint8Array,
  o: SfftFitOptions = {},
): Promise<SfftFit> {
  const halfWidth = o.halfWidth ?? 9;
  const kernelOrder = o.kernelOrder ?? 0;
  const backgroundOrder = o.backgroundOrder ?? 0;
  const backend = o.backend ?? defaultBackend();
  const npix = width * height;
  const fit = new Uint8Array(npix);
  const R = new Float32Array(npix);
  const S = new Float32Array(npix);
  for (let i = 0; i < npix; i++) {
    const ok = usable[i] !== 0 && Number.isFinite(convolved[i]) && Number.isFinite(target[i]);
    fit[i] = ok ? 1 : 0;
    R[i] = ok ? convolved[i] : 0;
    S[i] = ok ? target[i] : 0;
  }
  const unknowns =
    kernelSide(halfWidth) ** 2 * monomials(kernelOrder).length + monomials(backgroundOrder).length;
  const maxIterations = o.iterations ?? 1;
  const rejectSigma = o.rejectSigma ?? 5;
  const grow = o.rejectGrow ?? halfWidth;
  let rejected = 0;
  // The model convolves the images as they are (masked pixels included) at every iteration.
  const convolvedSpectrum = await imageSpectrum(convolved, width, height, halfWidth, backend);
  const systemInput = {
    width,
    height,
    convolved: R,
    target: S,
    fit,
    halfWidth,
    kernelOrder,
    backgroundOrder,
  };
  // A constant kernel and background are refitted by taking the rejected pixels out of the
  // sums (removeFromCorrelations); otherwise the sums are made again.
  const incremental = kernelOrder === 0 && backgroundOrder === 0;
  let corr: SfftCorrelations | undefined;
  for (let iteration = 0; ; iteration++) {
    let fitted = 0;
    for (let i = 0; i < npix; i++) fitted += fit[i];
    if (fitted < 4 * unknowns)
      throw new SingularSfftError(
        `SFFT: ${fitted} usable pixels for ${unknowns} unknowns; too few to fit the kernel`,
      );
    if (!corr || !incremental) corr = await sfftCorrelations(systemInput, backend);
    const sys = assembleSystem(systemInput, corr);
    const { x, condition } = choleskySolve(sys.matrix, sys.rhs, sys.n);
    if (!(condition < MAX_CONDITION))
      throw new SingularSfftError(
        `SFFT: the normal equations are singular (condition ${condition === Infinity ? '∞' : condition.toExponential(1)}); the images have too little structure to fit a kernel`,
      );
    const side2 = kernelSide(halfWidth) ** 2;
    const solution: SfftSolution = {
      halfWidth,
      kernelOrder,
      backgroundOrder,
      frame: sys.frame,
      kernel: monomials(kernelOrder).map((_, p) => x.slice(p * side2, (p + 1) * side2)),
      background: x.slice(x.length - monomials(backgroundOrder).length),
      condition,
    };
    // The model from the images as they are (masked pixels included): what a difference uses.
    const model = await convolveWithSolution(convolvedSpectrum, width, height, solution, backend);
    const bg = backgroundImage(solution, width, height);
    for (let i = 0; i < npix; i++) model[i] += bg[i];
    const residual = new Float64Array(fitted);
    let n = 0;
    for (let i = 0; i < npix; i++) if (fit[i]) residual[n++] = target[i] - model[i];
    const sigma = robustSigma(regularSample(residual, 200_003));
    // A kernel fitted to noise explains about unknowns/pixels of what the background alone
    // leaves: demand ten times that (and a positive flux ratio), or the images share no signal.
    let rr = 0;
    for (let i = 0; i < npix; i++) if (fit[i]) rr += (target[i] - model[i]) ** 2;
    const nb = monomials(backgroundOrder).length;
    const nk = sys.n - nb;
    const Nbb = new Float64Array(nb * nb);
    const bb = sys.rhs.slice(nk);
    for (let r = 0; r < nb; r++)
      for (let c = 0; c < nb; c++) Nbb[r * nb + c] = sys.matrix[(nk + r) * sys.n + nk + c];
    const beta = choleskySolve(Nbb, bb, nb).x;
    let backgroundOnly = sys.targetSquares;
    for (let q = 0; q < nb; q++) backgroundOnly -= beta[q] * bb[q];
    const explained = backgroundOnly > 0 ? 1 - rr / backgroundOnly : 0;
    let flux = 0;
    for (const k of solution.kernel[0]) flux += k;
    if (!(explained > Math.max(0.01, (10 * unknowns) / fitted)) || !(flux > 0))
      throw new SingularSfftError(
        `SFFT: the images share no signal to match (the kernel explains ${(100 * Math.max(0, explained)).toFixed(1)}% of the target's variance, flux ratio ${flux.toFixed(3)})`,
      );
    const done = (): SfftFit => ({
      solution,
      model,
      fitted: fit,
      fittedPixels: fitted,
      rejectedPixels: rejected,
      iterations: iteration + 1,
      residualSigma: sigma,
    });
    if (iteration >= maxIterations || !(sigma > 0)) return done();
    // Reject, grown by `grow` pixels; both images lose the pixels (sparse-field masking).
    let k2 = 0;
    for (const k of solution.kernel[0]) k2 += k * k;
    const tv = o.targetVariance;
    const cv = o.convolvedVariance;
    const bad = new Uint8Array(npix);
    let any = false;
    for (let i = 0; i < npix; i++) {
      if (!fit[i]) continue;
      // A tenth of the model on top of the noise either way: what the kernel cannot match on
      // bright sources (PSF variations, sub-pixel registration) is not a change.
      const variance =
        (tv && cv && Number.isFinite(tv[i]) && Number.isFinite(cv[i]) ? tv[i] + k2 * cv[i] : sigma * sigma) +
        (MODEL_ERROR * model[i]) ** 2;
      const r = target[i] - model[i];
      if (r * r > rejectSigma * rejectSigma * variance) {
        bad[i] = 1;
        any = true;
      }
    }
    if (!any) return done();
    const removed: number[] = [];
    for (let y = 0; y < height; y++)
      for (let xx = 0; xx < width; xx++) {
        if (!bad[y * width + xx]) continue;
        for (let dy = -grow; dy <= grow; dy++) {
          const yy = y + dy;
          if (yy < 0 || yy >= height) continue;
          for (let dx = -grow; dx <= grow; dx++) {
            const xg = xx + dx;
            if (xg < 0 || xg >= width) continue;
            const j = yy * width + xg;
            if (fit[j] === 1) {
              fit[j] = 2;
              removed.push(j);
            }
          }
        }
      }
    if (incremental) removeFromCorrelations(systemInput, corr, removed);
    for (const j of removed) {
      fit[j] = 0;
      R[j] = 0;
      S[j] = 0;
    }
    rejected += removed.length;
  }
}
