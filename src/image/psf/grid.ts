/**
 * A tabulated PSF: the pixel-integrated PSF ("effective PSF", Anderson & King 2000) sampled on a
 * grid of step `step` image pixels (step 1/N for N-times oversampling), optionally varying over
 * the image as a polynomial in x, y. This is also PSFEx's model (PSF_MASK, PSF_SAMP, POLZERO,
 * POLSCAL), so one type serves our estimates, PSFEx's .psf files and PSFs given as images.
 *
 * Term k of a degree-D polynomial is x^i·y^j in PSFEx's order: j outer, i inner
 * (1, x, x², …, y, xy, …, y^D), with x = (X − zero₀)/scale₀ and y = (Y − zero₁)/scale₁.
 */
import type { PsfModel } from './model.ts';

export interface PsfPolynomial {
  degree: number;
  /** Position subtracted before scaling (0-based pixels). */
  zero: [number, number];
  scale: [number, number];
}

export const CONSTANT: PsfPolynomial = { degree: 0, zero: [0, 0], scale: [1, 1] };

/** Exponents (i, j) of x^i·y^j for each term, in PSFEx's order. */
export function polynomialTerms(degree: number): [number, number][] {
  const out: [number, number][] = [];
  for (let j = 0; j <= degree; j++) for (let i = 0; i <= degree - j; i++) out.push([i, j]);
  return out;
}

/** Values of every term at (X, Y). */
export function polynomialValues(p: PsfPolynomial, X: number, Y: number): Float64Array {
  const x = (X - p.zero[0]) / p.scale[0];
  const y = (Y - p.zero[1]) / p.scale[1];
  const terms = polynomialTerms(p.degree);
  const out = new Float64Array(terms.length);
  terms.forEach(([i, j], k) => {
    out[k] = x ** i * y ** j;
  });
  return out;
}

/** Keys cubic convolution weights (a = −0.5) for a fractional offset t in [0, 1). */
function cubicWeights(t: number, w: Float64Array): void {
  w[0] = ((-0.5 * t + 1) * t - 0.5) * t;
  w[1] = (1.5 * t - 2.5) * t * t + 1;
  w[2] = ((-1.5 * t + 2) * t + 0.5) * t;
  w[3] = (0.5 * t - 0.5) * t * t;
}

export class GridPsf implements PsfModel {
  /** Grid side (nodes). */
  readonly side: number;
  /** Image pixels per grid step. */
  readonly step: number;
  /** One grid per polynomial term, side × side, x fastest. */
  readonly terms: Float32Array[];
  readonly polynomial: PsfPolynomial;
  /**
   * Side of the stamps `stamp` returns (odd): the effective stamp every per-source consumer
   * works with, which may be smaller than the grid's extent (see effectiveSize).
   */
  readonly size: number;
  /**
   * Share of the PSF's light (of the image it was read from) inside a stamp of `size` at the
   * central phase, when the stamp was cut from a larger PSF; stamps are normalised to unit sum
   * within `size`, so PSF fluxes measure this share of a source's total flux.
   */
  readonly enclosed?: number;
  private readonly wx = new Float64Array(4);
  private readonly wy = new Float64Array(4);

  constructor(
    terms: Float32Array[],
    side: number,
    step: number,
    polynomial: PsfPolynomial = CONSTANT,
    size?: number,
    enclosed?: number,
  ) {
    if (terms.length !== polynomialTerms(polynomial.degree).length) {
      throw new RangeError(
        `a degree-${polynomial.degree} PSF needs ${polynomialTerms(polynomial.degree).length} grids, got ${terms.length}`,
      );
    }
    for (const t of terms)
      if (t.length !== side * side) throw new RangeError('PSF grids must be side × side');
    this.terms = terms;
    this.side = side;
    this.step = step;
    this.polynomial = polynomial;
    // By default, stamps cover the grid's extent in image pixels.
    const extent = Math.floor(((side - 1) / 2) * step);
    this.size = size ?? 2 * extent + 1;
    this.enclosed = enclosed;
  }

  /** The one grid of a constant model, computed on first use. */
  private constantGrid?: Float64Array;

  /**
   * The grid at image position (x, y): Σ_k P_k(x, y)·grid_k. Read it, do not modify it: a
   * constant model returns the same array every time (models are never changed in place).
   */
  gridAt(x: number, y: number): Float64Array {
    if (this.polynomial.degree === 0) {
      this.constantGrid ??= Float64Array.from(this.terms[0]);
      return this.constantGrid;
    }
    const out = new Float64Array(this.side * this.side);
    const p = polynomialValues(this.polynomial, x, y);
    for (let k = 0; k < this.terms.length; k++) {
      const t = this.terms[k];
      const c = p[k];
      if (c === 0) continue;
      for (let i = 0; i < out.length; i++) out[i] += c * t[i];
    }
    return out;
  }

  /** Interpolated grid value at offset (u, v) image pixels from the PSF centre. */
  valueAt(grid: Float64Array, u: number, v: number): number {
    const c = (this.side - 1) / 2;
    const gx = c + u / this.step;
    const gy = c + v / this.step;
    const ix = Math.floor(gx);
    const iy = Math.floor(gy);
    if (ix < -1 || iy < -1 || ix > this.side || iy > this.side) return 0;
    cubicWeights(gx - ix, this.wx);
    cubicWeights(gy - iy, this.wy);
    return this.interpolate(grid, ix, iy, this.wx, 0, this.wy, 0);
  }

  /** Σ wy·(Σ wx·grid) over the 4 × 4 nodes around cell (ix, iy); nodes off the grid count 0. */
  private interpolate(
    grid: Float64Array,
    ix: number,
    iy: number,
    wx: Float64Array,
    ox: number,
    wy: Float64Array,
    oy: number,
  ): number {
    const side = this.side;
    let acc = 0;
    for (let b = 0; b < 4; b++) {
      const yy = iy - 1 + b;
      if (yy < 0 || yy >= side) continue;
      let row = 0;
      for (let a = 0; a < 4; a++) {
        const xx = ix - 1 + a;
        if (xx < 0 || xx >= side) continue;
        row += wx[ox + a] * grid[yy * side + xx];
      }
      acc += wy[oy + b] * row;
    }
    return acc;
  }

  /** See PsfModel: unit-sum stamp for a source at (x, y), central pixel on (round(x), round(y)). */
  stamp(x: number, y: number, out?: Float32Array): Float32Array {
    const n = this.size;
    const side = this.side;
    const s = out ?? new Float32Array(n * n);
    const grid = this.gridAt(x, y);
    const h = (n - 1) / 2;
    const c = (side - 1) / 2;
    // Stamp pixel (i, j) samples the grid at (c + (i − h + dx)/step, c + (j − h + dy)/step):
    // the cell and the cubic weights depend on i alone along x and on j alone along y.
    const cells = this.stampCells(n, c + (Math.round(x) - x - h) / this.step);
    const rows = this.stampCells(n, c + (Math.round(y) - y - h) / this.step);
    let sum = 0;
    for (let j = 0; j < n; j++) {
      const iy = rows.cell[j];
      for (let i = 0; i < n; i++) {
        const ix = cells.cell[i];
        const v =
          ix >= -1 && iy >= -1 && ix <= side && iy <= side
            ? this.interpolate(grid, ix, iy, cells.weight, 4 * i, rows.weight, 4 * j)
            : 0;
        s[j * n + i] = v;
        sum += v;
      }
    }
    if (sum !== 0) for (let i = 0; i < n * n; i++) s[i] /= sum;
    return s;
  }

  /** Grid cells and cubic weights of n stamp pixels along one axis, the first at grid position g0. */
  private stampCells(n: number, g0: number): { cell: Int32Array; weight: Float64Array } {
    const cell = new Int32Array(n);
    const weight = new Float64Array(4 * n);
    const w = new Float64Array(4);
    for (let i = 0; i < n; i++) {
      const g = g0 + i / this.step;
      const k = Math.floor(g);
      cell[i] = k;
      cubicWeights(g - k, w);
      weight.set(w, 4 * i);
    }
    return { cell, weight };
  }

  /**
   * Shape of the PSF at (x, y) from the grid resampled to ≤ 1/8 px: FWHM from the area above
   * half maximum, and SourceExtractor-style ellipticity 1 − B/A from second moments.
   */
  shape(x?: number, y?: number): { fwhm: number; ellipticity: number; theta: number } {
    // A constant model has one shape: measured once (fwhm() is asked for again and again).
    if (this.polynomial.degree === 0 && this.constantShape) return { ...this.constantShape };
    const grid = this.gridAt(x ?? this.polynomial.zero[0], y ?? this.polynomial.zero[1]);
    const fine = Math.min(this.step, 1 / 8);
    // Within the stamp: everything above 5% of the peak is there, and the cost (∝ reach²/fine²)
    // must not follow a large grid's far wings (a 301-node grid: 6 million samples).
    const reach = Math.min(((this.side - 1) / 2) * this.step, (this.size - 1) / 2 + 0.5);
    const n = Math.floor(reach / fine);
    let peak = 0;
    const values: number[] = [];
    for (let j = -n; j <= n; j++) {
      for (let i = -n; i <= n; i++) {
        const v = this.valueAt(grid, i * fine, j * fine);
        values.push(v);
        if (v > peak) peak = v;
      }
    }
    let above = 0;
    let sw = 0;
    let sx = 0;
    let sy = 0;
    let k = 0;
    for (let j = -n; j <= n; j++) {
      for (let i = -n; i <= n; i++, k++) {
        const v = values[k];
        if (v >= peak / 2) above++;
        if (v > 0.05 * peak) {
          sw += v;
          sx += v * i * fine;
          sy += v * j * fine;
        }
      }
    }
    const mx = sx / sw;
    const my = sy / sw;
    let xx = 0;
    let yy = 0;
    let xy = 0;
    k = 0;
    for (let j = -n; j <= n; j++) {
      for (let i = -n; i <= n; i++, k++) {
        const v = values[k];
        if (v <= 0.05 * peak) continue;
        const u = i * fine - mx;
        const w = j * fine - my;
        xx += v * u * u;
        yy += v * w * w;
        xy += v * u * w;
      }
    }
    xx /= sw;
    yy /= sw;
    xy /= sw;
    const t = Math.sqrt(((xx - yy) / 2) ** 2 + xy * xy);
    const a2 = (xx + yy) / 2 + t;
    const b2 = (xx + yy) / 2 - t;
    const shape = {
      fwhm: 2 * Math.sqrt((above * fine * fine) / Math.PI),
      ellipticity: 1 - Math.sqrt(Math.max(b2, 0) / a2),
      theta: (0.5 * Math.atan2(2 * xy, xx - yy) * 180) / Math.PI,
    };
    if (this.polynomial.degree === 0) this.constantShape = shape;
    return { ...shape };
  }

  private constantShape?: { fwhm: number; ellipticity: number; theta: number };

  fwhm(x?: number, y?: number): number {
    return this.shape(x, y).fwhm;
  }
}

/**
 * Move the PSF's centroid (of the constant term, within the central half of the grid where the
 * star light dominates the noise) to the grid centre, by resampling every term.
 */
export function recentre(psf: GridPsf, tolerance = 1e-6): GridPsf {
  const { side, step } = psf;
  const c = (side - 1) / 2;
  const g = psf.terms[0];
  const rMax = side / 4;
  let sw = 0;
  let sx = 0;
  let sy = 0;
  for (let j = 0; j < side; j++) {
    for (let i = 0; i < side; i++) {
      if ((i - c) ** 2 + (j - c) ** 2 > rMax * rMax) continue;
      const v = g[j * side + i];
      sw += v;
      sx += v * (i - c);
      sy += v * (j - c);
    }
  }
  const mx = sx / sw;
  const my = sy / sw;
  // Resampling smooths a little, so a model is only moved when it is off by more than `tolerance` nodes.
  if (!(Math.abs(mx) > tolerance || Math.abs(my) > tolerance)) return psf;
  const terms = psf.terms.map((t) => {
    const grid = Float64Array.from(t);
    const out = new Float32Array(side * side);
    for (let j = 0; j < side; j++) {
      for (let i = 0; i < side; i++)
        out[j * side + i] = psf.valueAt(grid, (i - c + mx) * step, (j - c + my) * step);
    }
    return out;
  });
  return new GridPsf(terms, side, step, psf.polynomial, psf.size, psf.enclosed);
}

/**
 * Scale the model so that its constant term integrates to 1 (Σ nodes · step² = 1). Every term
 * gets the same factor, so the variation keeps its relative size; stamps are normalised when
 * drawn anyway.
 */
export function normaliseFlux(psf: GridPsf): GridPsf {
  const { step } = psf;
  const sum = psf.terms[0].reduce((a, b) => a + b, 0) * step * step;
  const terms = psf.terms.map((t) => Float32Array.from(t, (v) => v / sum));
  return new GridPsf(terms, psf.side, step, psf.polynomial, psf.size, psf.enclosed);
}

/** How the effective stamp of a PSF read from a file is chosen (see effectiveSize). */
export interface EffectiveSizeOptions {
  /**
   * Share of the PSF's light the stamp must hold (default 0.995). Stamps have unit sum, so PSF
   * fluxes measure this share of a source's total flux: the rest is the aperture correction.
   */
  energy?: number;
  /**
   * Smallest stamp side (odd; default 25, PSFEx's PSF_SIZE and the size of our own estimates),
   * so that a PSF no larger than this is used whole, as before.
   */
  minSize?: number;
  /** Smallest stamp half-width, in FWHM (default 3). */
  minFwhm?: number;
  /**
   * Largest stamp half-width, in FWHM, unless `minSize` asks for more (default 10; Infinity:
   * none). A diffraction-limited PSF (JWST, Roman) holds its last 0.5% of light out to some
   * 40 FWHM (an obscured Airy pattern of FWHM 2 px: a 105-px stamp, 18 times a 25-px one's
   * work per source); at 10 FWHM it holds about 98%, and `enclosed` says how much.
   */
  maxFwhm?: number;
}

export const DEFAULT_PSF_ENERGY = 0.995;
const DEFAULT_MIN_SIZE = 25;
const DEFAULT_MIN_FWHM = 3;
const DEFAULT_MAX_FWHM = 10;

/**
 * The stamp side that every per-source consumer (star fits, PSF photometry, ZOGY's kernels)
 * needs: the smallest square around the centre that holds `energy` of the light, and with it
 * every larger one (|light outside| ≤ (1 − energy) × total, so negative wings and noise far
 * out are left out too); at most `maxFwhm` FWHM of half-width, but never below `minSize` or
 * `minFwhm` FWHM, and never above the grid's extent. The light is that of the pixel-integrated PSF at the central phase over
 * the grid's extent (for a varying model: its constant term, the PSF at the polynomial's
 * centre). `enclosed` is what the chosen stamp holds.
 */
export function effectiveSize(
  psf: GridPsf,
  options: EffectiveSizeOptions = {},
): { size: number; enclosed: number; fwhm: number } {
  const energy = options.energy ?? DEFAULT_PSF_ENERGY;
  if (!(energy > 0 && energy <= 1))
    throw new RangeError(`the PSF's energy fraction must be in (0, 1], got ${energy}`);
  const minSize = options.minSize ?? DEFAULT_MIN_SIZE;
  const minFwhm = options.minFwhm ?? DEFAULT_MIN_FWHM;
  const maxFwhm = options.maxFwhm ?? DEFAULT_MAX_FWHM;
  const extent = Math.floor(((psf.side - 1) / 2) * psf.step);
  const grid = psf.gridAt(psf.polynomial.zero[0], psf.polynomial.zero[1]);
  // Light per square ring (Chebyshev distance k from the central pixel).
  const ring = new Float64Array(extent + 1);
  for (let j = -extent; j <= extent; j++) {
    for (let i = -extent; i <= extent; i++)
      ring[Math.max(Math.abs(i), Math.abs(j))] += psf.valueAt(grid, i, j);
  }
  let total = 0;
  for (const v of ring) total += v;
  if (!(total > 0)) return { size: 2 * extent + 1, enclosed: 1, fwhm: psf.fwhm() };
  // From the outside in: the last half-width whose box, and every larger one, holds the share.
  let h = extent;
  let outside = 0;
  for (let k = extent; k > 0; k--) {
    outside += ring[k];
    if (Math.abs(outside) > (1 - energy) * total) break;
    h = k - 1;
  }
  // The FWHM from a stamp of that size (a core is always inside its energy radius).
  const fwhm = new GridPsf(
    psf.terms,
    psf.side,
    psf.step,
    psf.polynomial,
    2 * Math.min(extent, Math.max(h, 3)) + 1,
  ).fwhm();
  const known = Number.isFinite(fwhm) && fwhm > 0;
  const floor = Math.ceil(Math.max((minSize - 1) / 2, known ? minFwhm * fwhm : 0));
  const cap = known ? Math.ceil(maxFwhm * fwhm) : Number.POSITIVE_INFINITY;
  const half = Math.min(extent, Math.max(floor, Math.min(h, cap)));
  let inside = 0;
  for (let k = 0; k <= half; k++) inside += ring[k];
  return { size: 2 * half + 1, enclosed: inside / total, fwhm };
}

/**
 * The model with stamps of `size` (odd) and its grids cut down to the nodes those stamps use
 * (cubic interpolation reaches 2 nodes beyond a sample, a sub-pixel phase half a pixel), then
 * normalised: stamps are the same as the whole grid's, while everything that works on the
 * whole grid (the difference PSF's convolution with ZOGY's kernel, shape) stops growing with
 * the size of the image the PSF came from.
 */
export function cutGrid(psf: GridPsf, size: number, enclosed?: number): GridPsf {
  const { side, step } = psf;
  const c = (side - 1) / 2;
  const reach = Math.ceil(((size - 1) / 2 + 0.5) / step) + 2;
  // Cutting the same number of nodes from each edge keeps the centre on the same node.
  const k = Math.max(0, Math.floor(c - reach));
  if (k === 0) return new GridPsf(psf.terms, side, step, psf.polynomial, size, enclosed);
  const s = side - 2 * k;
  const terms = psf.terms.map((t) => {
    const out = new Float32Array(s * s);
    for (let j = 0; j < s; j++) out.set(t.subarray((j + k) * side + k, (j + k) * side + k + s), j * s);
    return out;
  });
  return normaliseFlux(new GridPsf(terms, s, step, psf.polynomial, size, enclosed));
}
