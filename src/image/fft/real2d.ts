/**
 * 2-D real FFT of a width×height image (row-major, x fastest) into its half spectrum:
 * height rows of width/2 + 1 complex values (interleaved re, im), as numpy's rfft2. The
 * forward transform is unnormalised; the inverse divides by width·height, so
 * inverse(forward(x)) = x.
 *
 * The work is split in two passes that can run on separate threads over shared memory:
 * a row pass (real → half-complex, each row packed as width/2 complex values, transformed,
 * then untangled), and a column pass (complex, on blocks of columns gathered so that the
 * innermost loop is contiguous). `forwardRows`, `columns` and `inverseRows` take ranges so
 * that a worker pool can share them out.
 */
import { ComplexFft } from './mixed-radix.ts';

/** Rows transformed together: enough for contiguous inner loops, small enough for the cache. */
const ROW_BLOCK = 16;
/** Columns gathered together: wide enough that each row visit reads a long contiguous run. */
const COLUMN_BLOCK = 64;

export type RealArray = Float32Array | Float64Array;

export class RealFft2d {
  readonly width: number;
  readonly height: number;
  /** Complex values per spectrum row: width/2 + 1. */
  readonly spectrumWidth: number;
  private readonly rowFft: ComplexFft;
  private readonly columnFft: ComplexFft;
  /** e^(−2πi k / width), k ≤ width/2: untangles the packed row transform. */
  private readonly rowTwiddles: Float64Array;
  private readonly a: Float64Array;
  private readonly b: Float64Array;
  /**
   * One image row in float64: rows are converted through it (TypedArray.set, native), so the
   * hot loops only ever see Float64Arrays. Reading float32 and float64 images in the same
   * loop makes its element accesses polymorphic, which V8 compiles to code about twice as slow.
   */
  private readonly row: Float64Array;

  constructor(width: number, height: number) {
    if (!Number.isInteger(width) || width < 2 || width % 2 !== 0) {
      throw new RangeError(`2-D real FFT width must be even and ≥ 2, got ${width}`);
    }
    if (!Number.isInteger(height) || height < 1)
      throw new RangeError(`2-D FFT height must be ≥ 1, got ${height}`);
    this.width = width;
    this.height = height;
    this.spectrumWidth = width / 2 + 1;
    const half = width / 2;
    this.rowFft = new ComplexFft(half);
    this.columnFft = new ComplexFft(height);
    this.rowTwiddles = new Float64Array(2 * (half + 1));
    for (let k = 0; k <= half; k++) {
      this.rowTwiddles[2 * k] = Math.cos((-2 * Math.PI * k) / width);
      this.rowTwiddles[2 * k + 1] = Math.sin((-2 * Math.PI * k) / width);
    }
    const scratch = 2 * Math.max(ROW_BLOCK * half, COLUMN_BLOCK * height);
    this.a = new Float64Array(scratch);
    this.b = new Float64Array(scratch);
    this.row = new Float64Array(width);
  }

  /** Length of a spectrum array (Float64Array, interleaved complex). */
  get spectrumLength(): number {
    return 2 * this.spectrumWidth * this.height;
  }

  /** Forward transform of a whole image. */
  forward(input: RealArray, spectrum: Float64Array = new Float64Array(this.spectrumLength)): Float64Array {
    this.forwardRows(input, spectrum, 0, this.height);
    this.columns(spectrum, 0, this.spectrumWidth, false);
    return spectrum;
  }

  /** Inverse transform of a whole half spectrum (which is overwritten), normalised. */
  inverse(spectrum: Float64Array, output: RealArray = new Float64Array(this.width * this.height)): RealArray {
    this.columns(spectrum, 0, this.spectrumWidth, true);
    this.inverseRows(spectrum, output, 0, this.height);
    return output;
  }

  /** Row pass of the forward transform for rows [y0, y1). */
  forwardRows(input: RealArray, spectrum: Float64Array, y0: number, y1: number): void {
    const half = this.width / 2;
    const sw2 = 2 * this.spectrumWidth;
    const tw = this.rowTwiddles;
    for (let yb = y0; yb < y1; yb += ROW_BLOCK) {
      const nb = Math.min(ROW_BLOCK, y1 - yb);
      // Gather: pixel pairs (x[2j], x[2j+1]) become complex value j of sequence b.
      const a = this.a;
      const x = this.row;
      for (let b = 0; b < nb; b++) {
        const row = (yb + b) * this.width;
        x.set(input.subarray(row, row + this.width));
        for (let j = 0; j < half; j++) {
          const k = 2 * (j * nb + b);
          a[k] = x[2 * j];
          a[k + 1] = x[2 * j + 1];
        }
      }
      const z = this.rowFft.transform(a, this.b, nb, false);
      for (let b = 0; b < nb; b++) {
        const out = (yb + b) * sw2;
        for (let k = 0; k <= half; k++) {
          const k1 = 2 * ((k === half ? 0 : k) * nb + b);
          const k2 = 2 * ((k === 0 ? 0 : half - k) * nb + b);
          const zr = z[k1];
          const zi = z[k1 + 1];
          const cr = z[k2];
          const ci = -z[k2 + 1];
          // Even part E = (Z[k] + conj Z[M−k])/2, odd part O = (Z[k] − conj Z[M−k])/(2i).
          const er = 0.5 * (zr + cr);
          const ei = 0.5 * (zi + ci);
          const or = 0.5 * (zi - ci);
          const oi = -0.5 * (zr - cr);
          const wr = tw[2 * k];
          const wi = tw[2 * k + 1];
          spectrum[out + 2 * k] = er + wr * or - wi * oi;
          spectrum[out + 2 * k + 1] = ei + wr * oi + wi * or;
        }
      }
    }
  }

  /** Column pass (complex, in place) for spectrum columns [c0, c1). */
  columns(spectrum: Float64Array, c0: number, c1: number, inverse: boolean): void {
    const sw2 = 2 * this.spectrumWidth;
    const h = this.height;
    if (h === 1) return;
    for (let cb = c0; cb < c1; cb += COLUMN_BLOCK) {
      const nb = Math.min(COLUMN_BLOCK, c1 - cb);
      const a = this.a;
      const n2 = 2 * nb;
      for (let y = 0; y < h; y++) {
        const src = y * sw2 + 2 * cb;
        const dst = y * n2;
        for (let i = 0; i < n2; i++) a[dst + i] = spectrum[src + i];
      }
      const z = this.columnFft.transform(a, this.b, nb, inverse);
      for (let y = 0; y < h; y++) {
        const dst = y * sw2 + 2 * cb;
        const src = y * n2;
        for (let i = 0; i < n2; i++) spectrum[dst + i] = z[src + i];
      }
    }
  }

  /** Row pass of the inverse transform for rows [y0, y1), after the inverse column pass; normalises. */
  inverseRows(spectrum: Float64Array, output: RealArray, y0: number, y1: number): void {
    const half = this.width / 2;
    const sw2 = 2 * this.spectrumWidth;
    const tw = this.rowTwiddles;
    const scale = 1 / (half * this.height);
    for (let yb = y0; yb < y1; yb += ROW_BLOCK) {
      const nb = Math.min(ROW_BLOCK, y1 - yb);
      const a = this.a;
      for (let b = 0; b < nb; b++) {
        const row = (yb + b) * sw2;
        for (let k = 0; k < half; k++) {
          const xr = spectrum[row + 2 * k];
          const xi = spectrum[row + 2 * k + 1];
          const cr = spectrum[row + 2 * (half - k)];
          const ci = -spectrum[row + 2 * (half - k) + 1];
          // E = (X[k] + conj X[M−k])/2, O = (X[k] − conj X[M−k])·e^(+2πik/N)/2, Z = E + iO.
          const er = 0.5 * (xr + cr);
          const ei = 0.5 * (xi + ci);
          const dr = 0.5 * (xr - cr);
          const di = 0.5 * (xi - ci);
          const wr = tw[2 * k];
          const wi = -tw[2 * k + 1];
          const or = dr * wr - di * wi;
          const oi = dr * wi + di * wr;
          const j = 2 * (k * nb + b);
          a[j] = er - oi;
          a[j + 1] = ei + or;
        }
      }
      const z = this.rowFft.transform(a, this.b, nb, true);
      const x = this.row;
      for (let b = 0; b < nb; b++) {
        for (let j = 0; j < half; j++) {
          const k = 2 * (j * nb + b);
          x[2 * j] = z[k] * scale;
          x[2 * j + 1] = z[k + 1] * scale;
        }
        output.set(x, (yb + b) * this.width);
      }
    }
  }
}
