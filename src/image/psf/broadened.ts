/**
 * A PSF model broadened by a Gaussian: what the image's PSF is when its model is too sharp by
 * a Gaussian of width σ (a template's PSF taken for the science image's, a cutout's single
 * FWHM given for both). Subtraction uses it when the pixels show the mismatch
 * (psfMismatchFromImages in match.ts).
 */
import type { PsfModel } from './model.ts';

/** Normalised 1-D Gaussian weights of width `sigma` on −half…half. */
function gaussianWeights(sigma: number, half: number): Float64Array {
  const w = new Float64Array(2 * half + 1);
  let sum = 0;
  for (let i = -half; i <= half; i++) {
    w[i + half] = Math.exp(-(i * i) / (2 * sigma * sigma));
    sum += w[i + half];
  }
  for (let i = 0; i < w.length; i++) w[i] /= sum;
  return w;
}

export class BroadenedPsf implements PsfModel {
  readonly size: number;
  private readonly half: number;
  private readonly weights: Float64Array;

  /** `sigma` in pixels (> 0); stamps grow by 3σ on each side. */
  constructor(
    readonly base: PsfModel,
    readonly sigma: number,
  ) {
    if (!(sigma > 0)) throw new RangeError(`broadening σ must be positive, got ${sigma}`);
    this.half = Math.max(1, Math.ceil(3 * sigma));
    this.weights = gaussianWeights(sigma, this.half);
    this.size = base.size + 2 * this.half;
  }

  /** Gaussian widths add in quadrature. */
  fwhm(x?: number, y?: number): number {
    return Math.hypot(this.base.fwhm(x, y), 2.3548 * this.sigma);
  }

  stamp(x: number, y: number, out?: Float32Array): Float32Array {
    const n = this.size;
    const m = this.base.size;
    const h = this.half;
    const w = this.weights;
    const src = this.base.stamp(x, y);
    // Separable: rows of the base stamp into a padded buffer, then columns.
    const tmp = new Float64Array(m * n);
    for (let j = 0; j < m; j++) {
      for (let i = 0; i < m; i++) {
        const v = src[j * m + i];
        if (v === 0) continue;
        for (let t = 0; t <= 2 * h; t++) tmp[j * n + i + t] += v * w[t];
      }
    }
    const result = out ?? new Float32Array(n * n);
    result.fill(0);
    for (let j = 0; j < m; j++) {
      for (let i = 0; i < n; i++) {
        const v = tmp[j * n + i];
        if (v === 0) continue;
        for (let t = 0; t <= 2 * h; t++) result[(j + t) * n + i] += v * w[t];
      }
    }
    return result;
  }
}
