/**
 * A PsfModel from one PSF image: a centred stamp (odd sides, the PSF's centre on the central
 * pixel), normalised to unit sum. A source at a sub-pixel offset gets the stamp shifted by
 * Lanczos-3 interpolation (separable, a = 3) and renormalised. This is exact for a band-limited
 * (well-sampled) PSF; for an undersampled PSF, interpolating the pixel-integrated stamp smooths
 * it slightly, and a model that knows the sub-pixel phases (src/sim/psf.ts, PSFEx) is better.
 * The same stamp is used everywhere on the image (no spatial variation).
 */
import type { PsfModel } from '../psf/model.ts';

const A = 3;

function lanczos(t: number): number {
  if (t === 0) return 1;
  if (t <= -A || t >= A) return 0;
  const p = Math.PI * t;
  return (A * Math.sin(p) * Math.sin(p / A)) / (p * p);
}

/** Second-moment FWHM of a stamp (2.3548·σ), as a fallback when no FWHM is known. */
export function momentFwhm(stamp: Float32Array, size: number): number {
  const c = (size - 1) / 2;
  let s = 0;
  let s2 = 0;
  for (let j = 0; j < size; j++) {
    for (let i = 0; i < size; i++) {
      const v = stamp[j * size + i];
      if (!(v > 0)) continue;
      s += v;
      s2 += v * ((i - c) ** 2 + (j - c) ** 2);
    }
  }
  return s > 0 ? 2.3548 * Math.sqrt(s2 / s / 2) : Number.NaN;
}

export class StampPsf implements PsfModel {
  readonly size: number;
  private readonly base: Float32Array;
  private readonly fwhmValue: number;

  /** `stamp`: size × size values, row-major, centred; NaN and negative values count as 0 for normalising. */
  constructor(stamp: Float32Array, size: number, fwhm?: number) {
    if (!Number.isInteger(size) || size < 1 || size % 2 !== 1)
      throw new RangeError(`PSF stamp side must be odd, got ${size}`);
    if (stamp.length !== size * size)
      throw new RangeError(`PSF stamp has ${stamp.length} values, expected ${size * size}`);
    let sum = 0;
    for (const v of stamp) if (Number.isFinite(v)) sum += v;
    if (!(sum > 0)) throw new RangeError('PSF stamp sums to zero or less');
    this.base = Float32Array.from(stamp, (v) => (Number.isFinite(v) ? v / sum : 0));
    this.size = size;
    this.fwhmValue = fwhm ?? momentFwhm(this.base, size);
  }

  fwhm(): number {
    return this.fwhmValue;
  }

  stamp(x: number, y: number, out?: Float32Array): Float32Array {
    const n = this.size;
    const result = out ?? new Float32Array(n * n);
    const dx = x - Math.round(x);
    const dy = y - Math.round(y);
    if (dx === 0 && dy === 0) {
      result.set(this.base);
      return result;
    }
    // out(i) = Σ_k s(k)·L(i − k − d): first along x, then along y.
    const wx = new Float64Array(2 * A + 1);
    const wy = new Float64Array(2 * A + 1);
    for (let t = -A; t <= A; t++) {
      wx[t + A] = lanczos(t - dx);
      wy[t + A] = lanczos(t - dy);
    }
    const tmp = new Float64Array(n * n);
    for (let j = 0; j < n; j++) {
      for (let i = 0; i < n; i++) {
        let acc = 0;
        for (let t = -A; t <= A; t++) {
          const k = i - t;
          if (k >= 0 && k < n) acc += this.base[j * n + k] * wx[t + A];
        }
        tmp[j * n + i] = acc;
      }
    }
    let sum = 0;
    for (let j = 0; j < n; j++) {
      for (let i = 0; i < n; i++) {
        let acc = 0;
        for (let t = -A; t <= A; t++) {
          const k = j - t;
          if (k >= 0 && k < n) acc += tmp[k * n + i] * wy[t + A];
        }
        result[j * n + i] = acc;
        sum += acc;
      }
    }
    if (sum > 0) for (let i = 0; i < n * n; i++) result[i] /= sum;
    return result;
  }
}
