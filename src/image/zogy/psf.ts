/**
 * The PSF of the difference image at any position and sub-pixel phase.
 *
 * D = K_n ⊗ N − K_r ⊗ R, so a point source that appears in the science image as f·P_n (its
 * pixel-integrated PSF at that phase) appears in D (science units) as
 *   f · (F_n / F_D) · K_n ⊗ P_n.
 * Building the model from the science PSF at the source's own phase keeps PSF photometry on D
 * exact for undersampled images, where shifting a pixel-sampled P_D would not be.
 */
import { GridPsf } from '../psf/grid.ts';
import type { PsfModel } from '../psf/model.ts';

export class DifferencePsf implements PsfModel {
  readonly size: number;

  /**
   * @param science the science image's PSF model
   * @param kernel K_n in real space (centred, odd side)
   * @param scale F_n / F_D
   */
  constructor(
    private readonly science: PsfModel,
    private readonly kernel: Float64Array,
    private readonly scale: number,
    size?: number,
  ) {
    this.size = size ?? science.size;
  }

  /** Set on first use: the model as one grid when the science PSF is a constant grid. */
  private constant?: { grid: GridPsf; sum: number } | null;

  /**
   * The stamp for a source at (x, y). When the science PSF is a constant grid, K_n ⊗ P_n is one
   * grid too (gridAt): interpolating it at the source's phase gives the convolution's stamp
   * (to < 1e-3 of the peak) for a small fraction of the cost of convolving at every call, which
   * PSF fits on D make dozens of times per source (4088² images: minutes, thousands of sources).
   */
  stamp(x: number, y: number, out?: Float32Array): Float32Array {
    if (this.constant === undefined) this.constant = this.constantGrid();
    if (this.constant === null) return this.convolvedStamp(x, y, out);
    const s = this.constant.grid.stamp(x, y, out);
    // Grid stamps have unit sum; the model keeps the convolution's flux (F_n/F_D ⊗ Σ K_n).
    for (let i = 0; i < s.length; i++) s[i] *= this.constant.sum;
    return s;
  }

  private constantGrid(): { grid: GridPsf; sum: number } | null {
    const sci = this.science;
    if (!(sci instanceof GridPsf) || sci.polynomial.degree !== 0) return null;
    const x = sci.polynomial.zero[0];
    const y = sci.polynomial.zero[1];
    const grid = this.gridAt(x, y);
    if (!grid) return null;
    return { grid, sum: this.convolvedStamp(x, y).reduce((a, b) => a + b, 0) };
  }

  /** The stamp by direct convolution of the science PSF's stamp at (x, y) with K_n. */
  convolvedStamp(x: number, y: number, out?: Float32Array): Float32Array {
    const ps = this.science.stamp(x, y);
    const sp = this.science.size;
    const ks = Math.round(Math.sqrt(this.kernel.length));
    const n = this.size;
    const s = out ?? new Float32Array(n * n);
    const hp = (sp - 1) / 2;
    const hk = (ks - 1) / 2;
    const hn = (n - 1) / 2;
    // s(q) = Σ_p ps(p) · kernel(q − p), all stamps centred on the same pixel.
    for (let qy = 0; qy < n; qy++) {
      for (let qx = 0; qx < n; qx++) {
        let acc = 0;
        for (let py = 0; py < sp; py++) {
          const ky = qy - hn - (py - hp) + hk;
          if (ky < 0 || ky >= ks) continue;
          for (let px = 0; px < sp; px++) {
            const kx = qx - hn - (px - hp) + hk;
            if (kx < 0 || kx >= ks) continue;
            acc += ps[py * sp + px] * this.kernel[ky * ks + kx];
          }
        }
        s[qy * n + qx] = acc * this.scale;
      }
    }
    return s;
  }

  /**
   * The model at (x, y) as a constant grid at the science model's sampling, for files: a
   * pixel-sampled stamp shifted by interpolation broadens an undersampled PSF (PSF fluxes come
   * out several per cent high), a grid at the science PSF's own oversampling does not. K_n acts
   * on whole pixels, so on a grid of step 1/N it shifts by N nodes:
   *   grid_D[u] = (F_n/F_D) Σ_m grid_n[u − N m] K_n[m].
   * Undefined when the science model is not a grid of integer oversampling.
   */
  gridAt(x: number, y: number): GridPsf | undefined {
    const sci = this.science;
    if (!(sci instanceof GridPsf)) return undefined;
    const N = Math.round(1 / sci.step);
    if (Math.abs(N * sci.step - 1) > 1e-9) return undefined;
    const g = sci.gridAt(x, y);
    const S = sci.side;
    const ks = Math.round(Math.sqrt(this.kernel.length));
    const hk = (ks - 1) / 2;
    const out = new Float32Array(S * S);
    for (let v = 0; v < S; v++) {
      for (let u = 0; u < S; u++) {
        let acc = 0;
        for (let n = 0; n < ks; n++) {
          const gv = v - N * (n - hk);
          if (gv < 0 || gv >= S) continue;
          for (let m = 0; m < ks; m++) {
            const gu = u - N * (m - hk);
            if (gu < 0 || gu >= S) continue;
            acc += g[gv * S + gu] * this.kernel[n * ks + m];
          }
        }
        out[v * S + u] = acc * this.scale;
      }
    }
    return new GridPsf([out], S, sci.step, undefined, this.size);
  }

  fwhm(x?: number, y?: number): number {
    // Area above half maximum of the stamp at the position, as a circle's diameter.
    const s = this.stamp(x ?? 0, y ?? 0);
    let peak = 0;
    for (const v of s) if (v > peak) peak = v;
    let above = 0;
    for (const v of s) if (v >= peak / 2) above++;
    return 2 * Math.sqrt(above / Math.PI);
  }
}
