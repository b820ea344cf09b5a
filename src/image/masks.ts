/**
 * Pixels not to trust in a subtraction, as MaskBit flags: saturated pixels and their
 * neighbours within the PSF's reach, bad pixels from a data-quality image, cosmic rays in the
 * science image, and NaN.
 *
 * Cosmic rays are single-epoch features sharper than any star: a pixel far above its
 * neighbours by more than the PSF itself allows. The sharpest a star can be is measured on
 * the PSF model (its peak over the mean of its 8 neighbours, at the most favourable sub-pixel
 * phase), so this holds for undersampled PSFs too, where stars are sharp, and on the image's
 * own stars when they are given, so that a model broader than the stars (a wrong FWHM, a
 * Gaussian for a peaked PSF) does not make every star a hit. A pixel sharp enough is still
 * left alone when a point source explains it as well as the hit's own pixels do: a transient
 * on a galaxy's nucleus is never masked for looking sharp.
 */
import { MaskBit } from './image.ts';
import type { PsfModel } from './psf/model.ts';

export interface MaskOptions {
  /** Saturation level (raw units, before background subtraction). */
  saturation?: number;
  /** Grow saturated areas by this many pixels (the PSF's reach). */
  saturationGrow?: number;
  /** Data-quality image: nonzero pixels are bad. */
  dataQuality?: ArrayLike<number>;
  /** Look for cosmic rays (none are flagged without this: instruments that remove them upstream). */
  cosmicRays?: CosmicRayOptions;
  /** Look for dead (cold) pixels: the background-subtracted image and its noise. */
  deadPixels?: { subtracted: Float32Array; sigma: Float32Array | number };
}

/** What the cosmic-ray search needs. */
export interface CosmicRayOptions {
  /** The background-subtracted image. */
  subtracted: Float32Array;
  /** Its noise: one σ per pixel, or one for all. */
  sigma: Float32Array | number;
  /** The PSF model. */
  psf: PsfModel;
  /** Hits are this many σ above the sky or more (5). */
  threshold?: number;
  /**
   * Stars of this image (0-based pixel positions, e.g. the PSF estimate's stars). Their
   * sharpness, measured on `subtracted` as a hit's is, raises the limit when it exceeds the
   * model's: a hit must beat both. Stars under 20σ, saturated or at the edge are passed over;
   * the sharpest counts, or with five or more the second sharpest, so that one star with a hit
   * on it does not switch the search off.
   */
  stars?: ArrayLike<{ x: number; y: number }>;
}

/**
 * A pixel's 8 neighbours: their mean, the mean of the 6 faintest (`side`) and of the 5 faintest
 * (`rest`). A cosmic-ray track leaves its two brightest neighbours (its continuation) bright and
 * the others at the sky, a compact hit of three or four pixels its three; a star none.
 */
interface Neighbours {
  mean: number;
  side: number;
  rest: number;
}

function neighbours(values: ArrayLike<number>, i: number, width: number): Neighbours {
  let a = Number.NEGATIVE_INFINITY;
  let b = Number.NEGATIVE_INFINITY;
  let c = Number.NEGATIVE_INFINITY;
  let sum = 0;
  for (let y = -1; y <= 1; y++) {
    for (let x = -1; x <= 1; x++) {
      if (!x && !y) continue;
      const u = values[i + y * width + x];
      sum += u;
      if (u > a) {
        c = b;
        b = a;
        a = u;
      } else if (u > b) {
        c = b;
        b = u;
      } else if (u > c) c = u;
    }
  }
  return { mean: sum / 8, side: (sum - a - b) / 6, rest: (sum - a - b - c) / 5 };
}

/**
 * The sharpest a point source can be, over sub-pixel phases: its peak over the mean of its 8
 * neighbours, or over the mean of the 6 (`side`) or 5 (`rest`) faintest of them (a star between
 * two pixels has one bright neighbour, near a corner three).
 */
export function psfSharpness(psf: PsfModel, of: keyof Neighbours = 'mean'): number {
  let best = 0;
  const n = psf.size;
  const k = ((n - 1) / 2) * (n + 1);
  for (let j = 0; j < 5; j++) {
    for (let i = 0; i < 5; i++) {
      const s = psf.stamp(1000 + (i - 2) / 5, 1000 + (j - 2) / 5);
      best = Math.max(best, s[k] / neighbours(s, k, n)[of]);
    }
  }
  return best;
}

/** A peak's sharpness by the three measures, each over its floor (as the hit test has them). */
function sharpness(v: number, nb: Neighbours, sd: number): Neighbours {
  return {
    mean: v / Math.max(nb.mean, sd),
    side: v / Math.max(nb.side, 3 * sd),
    rest: v / Math.max(nb.rest, 3 * sd),
  };
}

/** The image's stars' sharpness (see CosmicRayOptions.stars), or undefined when none can be measured. */
function starSharpness(
  subtracted: Float32Array,
  width: number,
  height: number,
  sd: (i: number) => number,
  mask: Uint8Array,
  stars: ArrayLike<{ x: number; y: number }>,
): Neighbours | undefined {
  const found: Neighbours[] = [];
  for (let k = 0; k < stars.length; k++) {
    const cx = Math.round(stars[k].x);
    const cy = Math.round(stars[k].y);
    if (!(cx >= 2 && cy >= 2 && cx < width - 2 && cy < height - 2)) continue;
    // The peak: the brightest pixel within one pixel of the position (a centroid is off it).
    let i = cy * width + cx;
    for (let b = -1; b <= 1; b++) {
      for (let a = -1; a <= 1; a++)
        if (subtracted[(cy + b) * width + cx + a] > subtracted[i]) i = (cy + b) * width + cx + a;
    }
    if (!(subtracted[i] > 20 * sd(i)) || mask[i] & (MaskBit.SATURATED | MaskBit.SATURATION_HALO)) continue;
    const s = sharpness(subtracted[i], neighbours(subtracted, i, width), sd(i));
    if (Number.isFinite(s.mean) && Number.isFinite(s.side) && Number.isFinite(s.rest)) found.push(s);
  }
  if (found.length === 0) return undefined;
  const pick = (of: keyof Neighbours) =>
    found.map((s) => s[of]).sort((a, b) => b - a)[found.length >= 5 ? 1 : 0];
  return { mean: pick('mean'), side: pick('side'), rest: pick('rest') };
}

/** Sub-pixel phases tried by the point-source fit (a 5 × 5 grid over the pixel). */
const PHASES = [-0.4, -0.2, 0, 0.2, 0.4];
/**
 * Error allowed the PSF model in each pixel, as a share of the source's light there: a model
 * somewhat too broad or too narrow leaves residuals of this order in a bright star's core,
 * which must not make the star a hit; a hit misses the PSF by its whole value, ten of these.
 */
const MODEL_ERROR = 0.1;
/** The hit's own pixels must fit better than a point source by this much χ² (5σ). */
const MARGIN = 25;
/** The PSF varies slowly: the fit takes it at the centre of blocks this many pixels a side. */
const PSF_BLOCK = 512;

/** Scratch space of the point-source fit, for windows up to 9 × 9. */
interface FitScratch {
  index: Int32Array;
  u: Int32Array;
  v: Int32Array;
  d: Float64Array;
  /** Each pixel's noise variance, then its weight. */
  w: Float64Array;
  /** Sums of the plane's normal equations (see planeSums): over all pixels, without the hit's. */
  all: Float64Array;
  others: Float64Array;
  /** A 3 × 3 system, its right-hand side and solution. */
  a: Float64Array;
  b: Float64Array;
  x: Float64Array;
  free: Int32Array;
  /** Each pixel's place in a window stamp. */
  off: Int32Array;
  /** The PSF over the window at each phase, by block of the image (see windowStamps). */
  stamps: Map<number, Float64Array>;
}

function fitScratch(): FitScratch {
  return {
    index: new Int32Array(81),
    u: new Int32Array(81),
    v: new Int32Array(81),
    d: new Float64Array(81),
    w: new Float64Array(81),
    all: new Float64Array(10),
    others: new Float64Array(10),
    a: new Float64Array(9),
    b: new Float64Array(3),
    x: new Float64Array(3),
    free: new Int32Array(4),
    off: new Int32Array(81),
    stamps: new Map(),
  };
}

/**
 * χ² of a weighted linear least-squares fit from its normal equations: solves the m × m system
 * `a` (row-major, overwritten) for `x` and returns dd − x·b (Σw·d² less what the fit explains);
 * NaN when the system is singular.
 */
function fitChi2(a: Float64Array, b: Float64Array, dd: number, m: number, x: Float64Array): number {
  let scale = 0;
  for (let p = 0; p < m; p++) scale = Math.max(scale, Math.abs(a[p * m + p]));
  for (let p = 0; p < m; p++) x[p] = b[p];
  for (let c = 0; c < m; c++) {
    let piv = c;
    for (let r = c + 1; r < m; r++) if (Math.abs(a[r * m + c]) > Math.abs(a[piv * m + c])) piv = r;
    if (!(Math.abs(a[piv * m + c]) > 1e-12 * scale)) return Number.NaN;
    if (piv !== c) {
      for (let q = 0; q < m; q++) {
        const t = a[c * m + q];
        a[c * m + q] = a[piv * m + q];
        a[piv * m + q] = t;
      }
      const t = x[c];
      x[c] = x[piv];
      x[piv] = t;
    }
    for (let r = c + 1; r < m; r++) {
      const f = a[r * m + c] / a[c * m + c];
      for (let q = c; q < m; q++) a[r * m + q] -= f * a[c * m + q];
      x[r] -= f * x[c];
    }
  }
  let explained = 0;
  for (let r = m - 1; r >= 0; r--) {
    for (let q = r + 1; q < m; q++) x[r] -= a[r * m + q] * x[q];
    x[r] /= a[r * m + r];
  }
  for (let p = 0; p < m; p++) explained += x[p] * b[p];
  return Math.max(0, dd - explained);
}

/**
 * Sums of a plane's (1, u, v) normal equations over the window's first n pixels (`outer`: only
 * those outside the central 3 × 3; `hit`: only those not among the hit's own pixels):
 * Σw, Σwu, Σwv, Σwu², Σwuv, Σwv², Σwd, Σwud, Σwvd, Σwd².
 */
function planeSums(s: FitScratch, n: number, only: 'all' | 'outer' | 'hit', out: Float64Array): void {
  out.fill(0);
  for (let k = 0; k < n; k++) {
    const u = s.u[k];
    const v = s.v[k];
    if (only === 'outer' && u >= -1 && u <= 1 && v >= -1 && v <= 1) continue;
    if (only === 'hit' && isFree(s, s.index[k])) continue;
    const w = s.w[k];
    const d = s.d[k];
    out[0] += w;
    out[1] += w * u;
    out[2] += w * v;
    out[3] += w * u * u;
    out[4] += w * u * v;
    out[5] += w * v * v;
    out[6] += w * d;
    out[7] += w * u * d;
    out[8] += w * v * d;
    out[9] += w * d * d;
  }
}

/** Whether pixel i is one of the hit's own pixels. */
function isFree(s: FitScratch, i: number): boolean {
  return s.free[0] === i || s.free[1] === i || s.free[2] === i || s.free[3] === i;
}

/** χ² of the plane whose sums `t` are (planeSums); its coefficients are left in s.x. */
function planeChi2(t: Float64Array, s: FitScratch): number {
  const a = s.a;
  a[0] = t[0];
  a[1] = a[3] = t[1];
  a[2] = a[6] = t[2];
  a[4] = t[3];
  a[5] = a[7] = t[4];
  a[8] = t[5];
  s.b[0] = t[6];
  s.b[1] = t[7];
  s.b[2] = t[8];
  return fitChi2(a, s.b, t[9], 3, s.x);
}

/**
 * The PSF over a (2·radius + 1)² window at each of the fit's phases, taken at the centre of
 * the position's block and kept for the block's other candidates.
 */
function windowStamps(
  psf: PsfModel,
  radius: number,
  x: number,
  y: number,
  width: number,
  height: number,
  cache: Map<number, Float64Array>,
): Float64Array {
  const bx = Math.floor(x / PSF_BLOCK);
  const by = Math.floor(y / PSF_BLOCK);
  const key = by * Math.ceil(width / PSF_BLOCK) + bx;
  let out = cache.get(key);
  if (!out) {
    // The block's centre, within the image (a small image is one block).
    const cx = Math.round((bx * PSF_BLOCK + Math.min(width, (bx + 1) * PSF_BLOCK) - 1) / 2);
    const cy = Math.round((by * PSF_BLOCK + Math.min(height, (by + 1) * PSF_BLOCK) - 1) / 2);
    const side = 2 * radius + 1;
    const size = psf.size;
    const h = (size - 1) / 2;
    out = new Float64Array(PHASES.length * PHASES.length * side * side);
    let o = 0;
    for (const dy of PHASES) {
      for (const dx of PHASES) {
        const stamp = psf.stamp(cx + dx, cy + dy);
        for (let v = -radius; v <= radius; v++) {
          for (let u = -radius; u <= radius; u++)
            out[o++] = Math.abs(u) <= h && Math.abs(v) <= h ? stamp[(v + h) * size + u + h] : 0;
        }
      }
    }
    cache.set(key, out);
  }
  return out;
}

/**
 * Whether a point source explains a sharp pixel (x, y): over a window of the PSF's core, the
 * χ² of the PSF (best of 5 × 5 sub-pixel phases, positive flux) on a plane (the sky, or a host
 * galaxy's slope) against that of the plane alone with the hit's own pixels left free (the
 * pixel and its `free` brightest neighbours, as the test that caught it counts a hit). A hit
 * fits only its own pixels; a real source, even with the PSF somewhat wrong, has wings that a
 * lone pixel lacks.
 */
function pointSourceExplains(
  subtracted: Float32Array,
  width: number,
  height: number,
  sd: (i: number) => number,
  psf: PsfModel,
  radius: number,
  x: number,
  y: number,
  free: number,
  s: FitScratch,
): boolean {
  const i0 = y * width + x;
  // The hit's own pixels: the pixel and its brightest neighbours.
  s.free.fill(-1);
  s.free[0] = i0;
  for (let f = 1; f <= free; f++) {
    let best = -1;
    for (let b = -1; b <= 1; b++) {
      for (let a = -1; a <= 1; a++) {
        const k = i0 + b * width + a;
        if (!isFree(s, k) && (best < 0 || subtracted[k] > subtracted[best])) best = k;
      }
    }
    s.free[f] = best;
  }
  let n = 0;
  for (let v = -radius; v <= radius; v++) {
    for (let u = -radius; u <= radius; u++) {
      if (x + u < 0 || y + v < 0 || x + u >= width || y + v >= height) continue;
      const k = (y + v) * width + x + u;
      const variance = sd(k) ** 2;
      if (!Number.isFinite(subtracted[k]) || !(variance > 0)) continue;
      s.index[n] = k;
      s.u[n] = u;
      s.v[n] = v;
      s.d[n] = subtracted[k];
      s.w[n] = variance;
      n++;
    }
  }
  // The sky under the source, from outside its 3 × 3 core, says which light is the source's:
  // that light, not a host galaxy's, carries the model's error.
  for (let k = 0; k < n; k++) s.w[k] = 1 / s.w[k];
  planeSums(s, n, 'outer', s.all);
  if (!Number.isNaN(planeChi2(s.all, s))) {
    const [c, cu, cv] = s.x;
    for (let k = 0; k < n; k++) {
      const light = Math.max(0, s.d[k] - c - cu * s.u[k] - cv * s.v[k]);
      s.w[k] = 1 / (1 / s.w[k] + (MODEL_ERROR * light) ** 2);
    }
  }
  planeSums(s, n, 'hit', s.others);
  const hit = planeChi2(s.others, s);
  if (Number.isNaN(hit)) return true;
  // The point source's flux may not be negative; no source at all (the plane) is its fallback.
  planeSums(s, n, 'all', s.all);
  const t = s.all;
  const plane = planeChi2(t, s);
  if (Number.isNaN(plane)) return true;
  const [c0, cu, cv] = s.x;
  // The plane's normal matrix inverted once (symmetric, by cofactors): each phase then adds
  // its PSF column by the Schur complement, χ² = χ²(plane) − (Σwp·r)² / (Σwp² − cᵀM⁻¹c), with
  // r the plane's residuals and c the PSF's sums against (1, u, v).
  const i00 = t[3] * t[5] - t[4] * t[4];
  const i01 = t[2] * t[4] - t[1] * t[5];
  const i02 = t[1] * t[4] - t[2] * t[3];
  const i11 = t[0] * t[5] - t[2] * t[2];
  const i12 = t[1] * t[2] - t[0] * t[4];
  const i22 = t[0] * t[3] - t[1] * t[1];
  const det = t[0] * i00 + t[1] * i01 + t[2] * i02;
  const stamps = windowStamps(psf, radius, x, y, width, height, s.stamps);
  const side = 2 * radius + 1;
  const { w, u, v, d, off } = s;
  // From here on d holds the plane's residuals.
  for (let k = 0; k < n; k++) {
    off[k] = (v[k] + radius) * side + u[k] + radius;
    d[k] -= c0 + cu * u[k] + cv * v[k];
  }
  for (let o = 0; o < stamps.length; o += side * side) {
    let pp = 0;
    let p1 = 0;
    let pu = 0;
    let pv = 0;
    let pr = 0;
    for (let k = 0; k < n; k++) {
      const p = stamps[o + off[k]];
      const wp = w[k] * p;
      pp += wp * p;
      p1 += wp;
      pu += wp * u[k];
      pv += wp * v[k];
      pr += wp * d[k];
    }
    const g0 = (i00 * p1 + i01 * pu + i02 * pv) / det;
    const g1 = (i01 * p1 + i11 * pu + i12 * pv) / det;
    const g2 = (i02 * p1 + i12 * pu + i22 * pv) / det;
    const schur = pp - (p1 * g0 + pu * g1 + pv * g2);
    // schur > 0 unless the PSF is a plane over the window; the flux is pr / schur.
    if (schur > 1e-12 * pp && pr > 0 && plane - (pr * pr) / schur <= hit + MARGIN) return true;
  }
  return plane <= hit + MARGIN;
}

/** The sharpness limits a hit must beat (see searchCosmicRays). */
interface Limits {
  mean: number;
  side: number;
  rest: number;
  /** Tracks and compact hits are looked for (side and rest are finite). */
  tracks: boolean;
}

/** Whether a peak of this sharpness is a hit's. */
function sharpAsHit(s: Neighbours, limits: Limits): boolean {
  return s.mean > limits.mean || s.side > limits.side || s.rest > limits.rest;
}

/** Flag cosmic rays (MaskBit.COSMIC_RAY) in `mask`. */
function searchCosmicRays(mask: Uint8Array, width: number, height: number, options: CosmicRayOptions): void {
  const { subtracted, sigma, psf, stars } = options;
  const threshold = options.threshold ?? 5;
  const sd = (i: number) => (typeof sigma === 'number' ? sigma : sigma[i]);
  // A cosmic ray must beat the sharpest star by half again, against all 8 neighbours. A
  // pixel of a track (most hits are tracks of a few pixels) has two bright neighbours, so it
  // beats that only by 4: with a sharper PSF (undersampled), tracks are judged against the 6
  // neighbours beside them instead, and compact hits of three or four pixels against the 5
  // faintest (both floored at 3σ, so that noise in a faint star's wings cannot make it look
  // sharp), and followed along for a few pixels. The sharpest star is the model's, or the
  // image's own stars' when they are sharper.
  const measured = stars ? starSharpness(subtracted, width, height, sd, mask, stars) : undefined;
  const sharpest = (of: keyof Neighbours) => Math.max(psfSharpness(psf, of), measured?.[of] ?? 0);
  const limit = 1.5 * sharpest('mean');
  const tracks = limit >= 4;
  const limits: Limits = {
    mean: limit,
    side: tracks ? 1.5 * sharpest('side') : Number.POSITIVE_INFINITY,
    rest: tracks ? 1.5 * sharpest('rest') : Number.POSITIVE_INFINITY,
    tracks,
  };
  // The point-source fit's window: the PSF's core; also the reach of a source's light that a
  // track is not followed into.
  const reach = Math.max(2, Math.min(4, Math.round(psf.fwhm(width / 2, height / 2))));
  const scratch = fitScratch();
  // Peaks of real sources (not hits), 1 where one is.
  const sources = new Uint8Array(width * height);
  const hits: number[] = [];
  for (let y = 1; y < height - 1; y++) {
    for (let x = 1; x < width - 1; x++) {
      const i = y * width + x;
      const v = subtracted[i];
      if (!(v > threshold * sd(i)) || mask[i] & MaskBit.SATURATED) continue;
      let isMax = true;
      for (let b = -1; b <= 1 && isMax; b++) {
        for (let a = -1; a <= 1; a++) {
          if ((a || b) && subtracted[i + b * width + a] > v) isMax = false;
        }
      }
      if (!isMax) continue;
      const nb = neighbours(subtracted, i, width);
      // Neighbours' mean floored at one σ, so that noise around a faint hit does not decide.
      const s = sharpness(v, nb, sd(i));
      // Only pixels this sharp are fitted (the hits, and stars a broad model makes look sharp).
      if (
        sharpAsHit(s, limits) &&
        !pointSourceExplains(
          subtracted,
          width,
          height,
          sd,
          psf,
          reach,
          x,
          y,
          // Well sampled (no track tests), a star spreads over far more than four pixels, so a
          // hit of up to four (a 2 × 2 blob, diluted in a stack) is its own model.
          !limits.tracks || s.rest > limits.rest ? 3 : s.side > limits.side ? 2 : 0,
          scratch,
        )
      ) {
        mask[i] |= MaskBit.COSMIC_RAY;
        hits.push(i);
      } else if (v - nb.mean > threshold * sd(i)) sources[i] = 1;
    }
  }
  if (hits.length > 0) followTracks(mask, width, height, options, limits, reach, hits, sources, scratch);
}

/**
 * The rest of each track: bright neighbours of a hit (and, for tracks, theirs), each above the
 * threshold and 0.3 of the pixel it continues by more than the light of a source near it
 * explains, so that a track is never followed into a star or a transient.
 */
function followTracks(
  mask: Uint8Array,
  width: number,
  height: number,
  options: CosmicRayOptions,
  limits: Limits,
  reach: number,
  hits: number[],
  sources: Uint8Array,
  scratch: FitScratch,
): void {
  const { subtracted, sigma, psf } = options;
  const threshold = options.threshold ?? 5;
  const sd = (i: number) => (typeof sigma === 'number' ? sigma : sigma[i]);
  // The most light a source's peak can put in each pixel within `reach` of it, as a share of
  // the peak: the PSF's largest ratio over sub-pixel phases, doubled (a model may be narrower
  // than the stars) and capped at 1.
  const side = 2 * reach + 1;
  const envelope = new Float64Array(side * side);
  const stamps = windowStamps(psf, reach, width >> 1, height >> 1, width, height, scratch.stamps);
  for (let o = 0; o < stamps.length; o += side * side) {
    const peak = stamps[o + reach * side + reach];
    for (let k = 0; k < side * side; k++)
      envelope[k] = Math.max(envelope[k], Math.min(1, (2 * stamps[o + k]) / peak));
  }
  // What of a pixel's value is not the light of a source near it.
  const ownLight = (k: number) => {
    const x = k % width;
    const y = (k - x) / width;
    let light = 0;
    for (let j = Math.max(0, y - reach); j <= Math.min(height - 1, y + reach); j++) {
      for (let i = Math.max(0, x - reach); i <= Math.min(width - 1, x + reach); i++) {
        const s = j * width + i;
        if (sources[s])
          light = Math.max(light, subtracted[s] * envelope[(y - j + reach) * side + x - i + reach]);
      }
    }
    return subtracted[k] - light;
  };
  for (let pass = 0; pass < (limits.tracks ? 3 : 1) && hits.length > 0; pass++) {
    const next: number[] = [];
    // First the peaks a hit hid (a star's peak beside a brighter hit is no local maximum): a
    // pixel above all its neighbours but the hits, and not sharp as a hit, is a source's.
    for (const i of hits) {
      const x = i % width;
      const y = (i - x) / width;
      if (x < 2 || y < 2 || x >= width - 2 || y >= height - 2) continue;
      for (let b = -1; b <= 1; b++) {
        for (let a = -1; a <= 1; a++) {
          const k = i + b * width + a;
          const v = subtracted[k];
          if (mask[k] & MaskBit.COSMIC_RAY || sources[k] || !(v > threshold * sd(k))) continue;
          let peak = true;
          for (let d = -1; d <= 1 && peak; d++) {
            for (let c = -1; c <= 1; c++) {
              const j = k + d * width + c;
              if (j !== k && !(mask[j] & MaskBit.COSMIC_RAY) && subtracted[j] > v) peak = false;
            }
          }
          if (peak && !sharpAsHit(sharpness(v, neighbours(subtracted, k, width), sd(k)), limits))
            sources[k] = 1;
        }
      }
    }
    for (const i of hits) {
      const x = i % width;
      const y = (i - x) / width;
      if (x < 1 || y < 1 || x >= width - 1 || y >= height - 1) continue;
      for (let b = -1; b <= 1; b++) {
        for (let a = -1; a <= 1; a++) {
          const k = i + b * width + a;
          if (mask[k] & (MaskBit.COSMIC_RAY | MaskBit.SATURATED)) continue;
          const own = subtracted[k] > 0.3 * subtracted[i] ? ownLight(k) : 0;
          if (own > 0.3 * subtracted[i] && own > threshold * sd(k)) {
            mask[k] |= MaskBit.COSMIC_RAY;
            next.push(k);
          }
        }
      }
    }
    hits = next;
  }
}

/** Build the mask of an image (raw pixel values `data`). */
export function buildMask(
  data: Float32Array,
  width: number,
  height: number,
  options: MaskOptions = {},
): Uint8Array {
  const n = width * height;
  const mask = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(data[i])) mask[i] |= MaskBit.NO_DATA;
    if (options.dataQuality && options.dataQuality[i] !== 0) mask[i] |= MaskBit.BAD;
  }
  const sat = options.saturation;
  if (sat !== undefined && Number.isFinite(sat)) {
    const grow = Math.max(0, Math.round(options.saturationGrow ?? 2));
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        if (!(data[y * width + x] >= sat)) continue;
        mask[y * width + x] |= MaskBit.SATURATED;
        for (let j = Math.max(0, y - grow); j <= Math.min(height - 1, y + grow); j++) {
          for (let i = Math.max(0, x - grow); i <= Math.min(width - 1, x + grow); i++) {
            if ((i - x) ** 2 + (j - y) ** 2 <= grow * grow) mask[j * width + i] |= MaskBit.SATURATION_HALO;
          }
        }
      }
    }
  }
  const dead = options.deadPixels ?? options.cosmicRays;
  if (dead) {
    const { subtracted, sigma } = dead;
    // Dead (cold) pixels: far below the sky with ordinary neighbours; no star makes a hole.
    // 5σ, not more: a dead pixel on a bright sky is only 7σ deep (Roman F158: sky ≈ 92 DN, σ ≈ 13),
    // yet the matched filter of an undersampled PSF sees it at 5–6σ in Scorr; noise alone
    // flags about 5 pixels of a 4088² image, which costs nothing.
    const sdc = (i: number) => (typeof sigma === 'number' ? sigma : sigma[i]);
    for (let y = 1; y < height - 1; y++) {
      for (let x = 1; x < width - 1; x++) {
        const i = y * width + x;
        if (!(subtracted[i] < -5 * sdc(i))) continue;
        if (neighbours(subtracted, i, width).mean > -3 * sdc(i)) mask[i] |= MaskBit.BAD;
      }
    }
  }
  if (options.cosmicRays) searchCosmicRays(mask, width, height, options.cosmicRays);
  return mask;
}

/** Mask bits of a pixel as the FLAGS bit a catalog source touching it carries. */
export function touchesMask(mask: Uint8Array, width: number, x: number, y: number, radius: number): number {
  let bits = 0;
  const cx = Math.round(x);
  const cy = Math.round(y);
  const height = mask.length / width;
  for (let j = Math.max(0, cy - radius); j <= Math.min(height - 1, cy + radius); j++) {
    for (let i = Math.max(0, cx - radius); i <= Math.min(width - 1, cx + radius); i++)
      bits |= mask[j * width + i];
  }
  return bits;
}

/**
 * Saturated pixels (at or above the level) set to NaN, in place; returns how many. A clipped
 * core carries neither the star's flux nor its shape: in a co-add the other inputs fill it, or
 * its coverage says that none could (and the reference's PSF and star fits pass it by).
 */
export function blankSaturated(data: Float32Array, saturation: number): number {
  let n = 0;
  for (let i = 0; i < data.length; i++) {
    if (data[i] >= saturation) {
      data[i] = Number.NaN;
      n++;
    }
  }
  return n;
}
