/**
 * A PSF model convolved with a fixed kernel: the PSF of an image made by filtering another
 * (SFFT's decorrelated difference is the science image filtered by P_R ⊗ Φ across, or Φ
 * direct). The base model keeps each source's sub-pixel phase, which a single pixel-sampled
 * stamp of the product cannot: for undersampled PSFs that phase is most of the shape.
 */
import { GridPsf } from './grid.ts';
import type { PsfModel } from './model.ts';

/** FWHM of a centred stamp from the area above half its peak (pixels). */
export function halfMaxWidth(stamp: ArrayLike<number>): number {
  let peak = 0;
  for (let i = 0; i < stamp.length; i++) peak = Math.max(peak, stamp[i]);
  let above = 0;
  for (let i = 0; i < stamp.length; i++) if (stamp[i] >= peak / 2) above++;
  return 2 * Math.sqrt(above / Math.PI);
}

export class ConvolvedPsf implements PsfModel {
  readonly size: number;
  private readonly side: number;
  private readonly kernelFwhm: number;

  /** `kernel`: a centred stamp of odd side, unit sum (the filter keeps fluxes). */
  constructor(
    readonly base: PsfModel,
    readonly kernel: Float32Array,
  ) {
    this.side = Math.round(Math.sqrt(kernel.length));
    if (this.side * this.side !== kernel.length || this.side % 2 !== 1)
      throw new RangeError(
        `a convolution kernel must be a square stamp of odd side, got ${kernel.length} values`,
      );
    this.size = base.size + this.side - 1;
    this.kernelFwhm = halfMaxWidth(kernel);
  }

  /** Widths add roughly in quadrature (used for shape cuts, not for photometry). */
  fwhm(x?: number, y?: number): number {
    return Math.hypot(this.base.fwhm(x, y), this.kernelFwhm);
  }

  stamp(x: number, y: number, out?: Float32Array): Float32Array {
    const m = this.base.size;
    const t = this.side;
    const n = this.size;
    const src = this.base.stamp(x, y);
    const k = this.kernel;
    const acc = new Float64Array(n * n);
    for (let j = 0; j < m; j++)
      for (let i = 0; i < m; i++) {
        const v = src[j * m + i];
        if (v === 0) continue;
        for (let q = 0; q < t; q++) {
          const row = (j + q) * n + i;
          for (let p = 0; p < t; p++) acc[row + p] += v * k[q * t + p];
        }
      }
    const result = out ?? new Float32Array(n * n);
    for (let i = 0; i < n * n; i++) result[i] = acc[i];
    return result;
  }
}

/**
 * The model convolved with `kernel`, as a tabulated model when the base is one on a grid of a
 * whole number of nodes per pixel (a pixel shift is then a whole number of nodes, so the
 * product is exact at every sub-pixel phase and costs no more per stamp than the base); a
 * ConvolvedPsf otherwise.
 */
export function convolvePsf(base: PsfModel, kernel: Float32Array): PsfModel {
  if (!(base instanceof GridPsf)) return new ConvolvedPsf(base, kernel);
  const perPixel = Math.round(1 / base.step);
  if (Math.abs(perPixel * base.step - 1) > 1e-9) return new ConvolvedPsf(base, kernel);
  const t = Math.round(Math.sqrt(kernel.length));
  const h = (t - 1) / 2;
  const side = base.side + (t - 1) * perPixel;
  const pad = h * perPixel;
  const terms = base.terms.map((g) => {
    const out = new Float32Array(side * side);
    for (let q = 0; q < t; q++)
      for (let p = 0; p < t; p++) {
        const k = kernel[q * t + p];
        if (k === 0) continue;
        // Kernel offset (p − h, q − h) pixels: the grid shifted by that many pixels' nodes.
        const ox = pad + (p - h) * perPixel;
        const oy = pad + (q - h) * perPixel;
        for (let j = 0; j < base.side; j++) {
          const row = (j + oy) * side + ox;
          const src = j * base.side;
          for (let i = 0; i < base.side; i++) out[row + i] += k * g[src + i];
        }
      }
    return out;
  });
  return new GridPsf(terms, side, base.step, base.polynomial, base.size + t - 1, base.enclosed);
}
