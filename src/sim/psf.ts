/**
 * Simulated point-spread functions, rendered as pixel-integrated stamps.
 *
 * A profile is sampled on a fine grid (1/16 px), summed over each pixel through a summed-area
 * table, for a grid of sub-pixel phases; a star is drawn by bilinear interpolation between the
 * four phase stamps around its position. So undersampled PSFs (FWHM ≈ 0.5–1.5 px) are drawn as
 * a detector sees them: the pixel integral of the optical PSF, not samples of it.
 */
import type { PsfModel } from '../image/psf/model.ts';

export type PsfProfile =
  /** Moffat: I ∝ (1 + (r/α)²)^−β; wings like a real telescope's at β ≈ 2.5. */
  | { kind: 'moffat'; fwhm: number; beta: number }
  /**
   * Obscured Airy pattern (Roman: central obscuration ≈ 0.3), truncated at the stamp radius and
   * normalised within it: an Airy-like core with its first rings as wings.
   */
  | { kind: 'airy'; fwhm: number; obscuration: number };

/** Sub-pixel sampling of the fine grid and the phase grid. */
const OVERSAMPLE = 16;

/** Pixel-integrated stamps of one PSF at (OVERSAMPLE + 1)² sub-pixel phases. */
export interface PhaseStamps {
  /** Stamp half-width in pixels: stamps are (2·radius + 1)² pixels. */
  readonly radius: number;
  /** Stamps, one after another; phase (kx, ky) starts at ((ky·(S+1) + kx)·side²). */
  readonly stamps: Float32Array;
  /** Share of the profile's total flux inside a stamp (1 for normalised-within profiles). */
  readonly enclosed: number;
}

/** Moffat α from FWHM and β. */
export function moffatAlpha(fwhm: number, beta: number): number {
  return fwhm / (2 * Math.sqrt(2 ** (1 / beta) - 1));
}

/** Bessel J1 (Abramowitz & Stegun 9.4.4 and 9.4.6 polynomial approximations, |error| < 1e-7). */
export function besselJ1(x: number): number {
  const ax = Math.abs(x);
  if (ax <= 3) {
    const y = (x / 3) ** 2;
    return (
      x *
      (0.5 +
        y *
          (-0.56249985 +
            y * (0.21093573 + y * (-0.03954289 + y * (0.00443319 + y * (-0.00031761 + y * 0.00001109))))))
    );
  }
  const y = 3 / ax;
  const f1 =
    0.79788456 +
    y *
      (0.00000156 +
        y * (0.01659667 + y * (0.00017105 + y * (-0.00249511 + y * (0.00113653 - y * 0.00020033)))));
  const t1 =
    ax -
    2.35619449 +
    y *
      (0.12499612 +
        y * (0.0000565 + y * (-0.00637879 + y * (0.00074348 + y * (0.00079824 - y * 0.00029166)))));
  const v = (f1 * Math.cos(t1)) / Math.sqrt(ax);
  return x < 0 ? -v : v;
}

/** Obscured Airy intensity at x = π r D/λ, normalised to 1 at the centre. */
function airy(x: number, eps: number): number {
  if (x < 1e-8) return 1;
  const a = (2 * besselJ1(x)) / x;
  const b = eps > 0 ? (2 * besselJ1(eps * x)) / (eps * x) : 0;
  const amp = (a - eps * eps * b) / (1 - eps * eps);
  return amp * amp;
}

/** x (in units of λ/(πD)·π…) at which the obscured Airy intensity falls to half, by bisection. */
function airyHalfWidth(eps: number): number {
  let lo = 0;
  let hi = 3;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (airy(mid, eps) > 0.5) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** The profile as a function of radius (pixels), not normalised, and its total flux if known analytically. */
function profileFunction(p: PsfProfile): { f: (r2: number) => number; total?: number } {
  if (p.kind === 'moffat') {
    const alpha = moffatAlpha(p.fwhm, p.beta);
    const a2 = alpha * alpha;
    const beta = p.beta;
    // ∫ (1 + r²/α²)^−β 2πr dr = π α² / (β − 1)
    return { f: (r2) => (1 + r2 / a2) ** -beta, total: (Math.PI * a2) / (beta - 1) };
  }
  const eps = p.obscuration;
  const scale = airyHalfWidth(eps) / (p.fwhm / 2);
  return { f: (r2) => airy(Math.sqrt(r2) * scale, eps) };
}

/** Stamp radius (pixels) holding ≥ 99.8% of a Moffat's flux, or 8 FWHM for an Airy pattern. */
export function stampRadius(p: PsfProfile): number {
  let r: number;
  if (p.kind === 'moffat') {
    const alpha = moffatAlpha(p.fwhm, p.beta);
    // 1 − (1 + r²/α²)^(1−β) = 0.998
    r = alpha * Math.sqrt(0.002 ** (1 / (1 - p.beta)) - 1);
  } else {
    r = 8 * p.fwhm;
  }
  return Math.min(48, Math.max(3, Math.ceil(r)));
}

/** Share of a Moffat's flux within radius r. */
export function moffatEnclosed(fwhm: number, beta: number, r: number): number {
  const alpha = moffatAlpha(fwhm, beta);
  return 1 - (1 + (r * r) / (alpha * alpha)) ** (1 - beta);
}

/**
 * Pixel-integrated stamps of a profile for every sub-pixel phase. Phase k along an axis is a
 * source at offset −0.5 + k/16 px from the stamp's central pixel centre.
 */
export function phaseStamps(profile: PsfProfile, radius = stampRadius(profile)): PhaseStamps {
  const S = OVERSAMPLE;
  const { f, total } = profileFunction(profile);
  const side = 2 * radius + 1;
  // Fine grid covering the stamp for every phase: [−radius − 1, radius + 1] px.
  const n = (side + 1) * S;
  const h = 1 / S;
  const origin = -radius - 1;
  // Summed-area table of the fine-grid samples (midpoint rule), with a zero first row/column.
  const sat = new Float64Array((n + 1) * (n + 1));
  for (let j = 0; j < n; j++) {
    const y = origin + (j + 0.5) * h;
    let row = 0;
    for (let i = 0; i < n; i++) {
      const x = origin + (i + 0.5) * h;
      row += f(x * x + y * y) * h * h;
      sat[(j + 1) * (n + 1) + i + 1] = sat[j * (n + 1) + i + 1] + row;
    }
  }
  const box = (i0: number, j0: number, i1: number, j1: number) =>
    sat[j1 * (n + 1) + i1] - sat[j0 * (n + 1) + i1] - sat[j1 * (n + 1) + i0] + sat[j0 * (n + 1) + i0];
  // A truncated profile is normalised within the stamp at the central phase.
  const norm = total ?? box(S / 2, S / 2, S / 2 + side * S, S / 2 + side * S);
  const phases = S + 1;
  const stamps = new Float32Array(phases * phases * side * side);
  for (let ky = 0; ky < phases; ky++) {
    for (let kx = 0; kx < phases; kx++) {
      // Source at offset d = −0.5 + k/S: stamp pixel p spans [p − r − 0.5 − d, …] relative to the
      // source, i.e. fine-grid index (p − r − 0.5 − d − origin)·S = p·S + (S − k) … exactly.
      const base = (ky * phases + kx) * side * side;
      for (let py = 0; py < side; py++) {
        const j0 = py * S + (S - ky);
        for (let px = 0; px < side; px++) {
          const i0 = px * S + (S - kx);
          stamps[base + py * side + px] = box(i0, j0, i0 + S, j0 + S) / norm;
        }
      }
    }
  }
  const central = (S / 2) * phases + S / 2;
  let enclosed = 0;
  for (let i = 0; i < side * side; i++) enclosed += stamps[central * side * side + i];
  return { radius, stamps, enclosed };
}

/**
 * Add `flux` times the PSF centred at (x, y) (0-based pixel coordinates) into `image`,
 * restricted to rows [rowStart, rowEnd). Returns the flux actually added.
 */
export function drawPoint(
  image: Float32Array,
  width: number,
  height: number,
  psf: PhaseStamps,
  x: number,
  y: number,
  flux: number,
  rowStart = 0,
  rowEnd = height,
): number {
  const S = OVERSAMPLE;
  const phases = S + 1;
  const r = psf.radius;
  const side = 2 * r + 1;
  const cx = Math.round(x);
  const cy = Math.round(y);
  // Phase coordinates in [0, S]; Math.round puts the offset in [−0.5, 0.5].
  const tx = (x - cx + 0.5) * S;
  const ty = (y - cy + 0.5) * S;
  const kx = Math.min(S - 1, Math.floor(tx));
  const ky = Math.min(S - 1, Math.floor(ty));
  const fx = tx - kx;
  const fy = ty - ky;
  const w00 = (1 - fx) * (1 - fy) * flux;
  const w10 = fx * (1 - fy) * flux;
  const w01 = (1 - fx) * fy * flux;
  const w11 = fx * fy * flux;
  const area = side * side;
  const s00 = (ky * phases + kx) * area;
  const s10 = s00 + area;
  const s01 = s00 + phases * area;
  const s11 = s01 + area;
  const st = psf.stamps;
  const y0 = Math.max(cy - r, rowStart, 0);
  const y1 = Math.min(cy + r + 1, rowEnd, height);
  const x0 = Math.max(cx - r, 0);
  const x1 = Math.min(cx + r + 1, width);
  let added = 0;
  for (let yy = y0; yy < y1; yy++) {
    const srow = (yy - cy + r) * side - (cx - r);
    const irow = yy * width;
    for (let xx = x0; xx < x1; xx++) {
      const k = srow + xx;
      const v = w00 * st[s00 + k] + w10 * st[s10 + k] + w01 * st[s01 + k] + w11 * st[s11 + k];
      image[irow + xx] += v;
      added += v;
    }
  }
  return added;
}

/** The PSF stamp for a source centred on a pixel (phase 0), e.g. as a convolution kernel. */
export function centralStamp(psf: PhaseStamps): Float32Array {
  const S = OVERSAMPLE;
  const side = 2 * psf.radius + 1;
  const k = (S / 2) * (S + 1) + S / 2;
  return psf.stamps.slice(k * side * side, (k + 1) * side * side);
}

/**
 * FWHM (pixels) of the pixel-integrated PSF — what an image shows and what SourceExtractor's
 * FWHM_IMAGE estimates — averaged over the x axis and the diagonal.
 */
export function effectiveFwhm(profile: PsfProfile): number {
  const { f } = profileFunction(profile);
  const n = 32;
  // The profile integrated over a pixel centred at (dx, dy) from the source.
  const pixel = (dx: number, dy: number) => {
    let acc = 0;
    for (let j = 0; j < n; j++) {
      const y = dy - 0.5 + (j + 0.5) / n;
      for (let i = 0; i < n; i++) {
        const x = dx - 0.5 + (i + 0.5) / n;
        acc += f(x * x + y * y);
      }
    }
    return acc;
  };
  const peak = pixel(0, 0);
  const halfWidth = (ux: number, uy: number) => {
    let lo = 0;
    let hi = 10 * profile.fwhm + 2;
    for (let i = 0; i < 40; i++) {
      const mid = (lo + hi) / 2;
      if (pixel(mid * ux, mid * uy) > peak / 2) lo = mid;
      else hi = mid;
    }
    return lo;
  };
  return halfWidth(1, 0) + halfWidth(Math.SQRT1_2, Math.SQRT1_2);
}

/** The simulator's PSF as a PsfModel: the truth that estimated models are measured against. */
export class SimulatedPsf implements PsfModel {
  readonly size: number;
  private readonly stamps: PhaseStamps;

  constructor(
    readonly profile: PsfProfile,
    size?: number,
  ) {
    this.stamps = phaseStamps(profile);
    this.size = size ?? 2 * this.stamps.radius + 1;
  }

  stamp(x: number, y: number, out?: Float32Array): Float32Array {
    const n = this.size;
    const s = out ?? new Float32Array(n * n);
    s.fill(0);
    const h = (n - 1) / 2;
    drawPoint(s, n, n, this.stamps, h + x - Math.round(x), h + y - Math.round(y), 1);
    let sum = 0;
    for (const v of s) sum += v;
    for (let i = 0; i < s.length; i++) s[i] /= sum;
    return s;
  }

  fwhm(): number {
    return effectiveFwhm(this.profile);
  }
}
