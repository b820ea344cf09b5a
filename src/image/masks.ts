/**
 * Pixels not to trust in a subtraction, as MaskBit flags: saturated pixels and their
 * neighbours within the PSF's reach, bad pixels from a data-quality image, cosmic rays in the
 * science image, and NaN.
 *
 * Cosmic rays are single-epoch features sharper than any star: a pixel far above its
 * neighbours by more than the PSF itself allows. The sharpest a star can be is measured on
 * the PSF model (its peak over the mean of its 8 neighbours, at the most favourable sub-pixel
 * phase), so this holds for undersampled PSFs too, where stars are sharp.
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
  /** Look for cosmic rays: needs the background-subtracted image, its noise and the PSF. */
  cosmicRays?: { subtracted: Float32Array; sigma: Float32Array | number; psf: PsfModel; threshold?: number };
  /** Look for dead (cold) pixels: the background-subtracted image and its noise. */
  deadPixels?: { subtracted: Float32Array; sigma: Float32Array | number };
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
  if (options.cosmicRays) {
    const { subtracted, sigma, psf } = options.cosmicRays;
    const threshold = options.cosmicRays.threshold ?? 5;
    // A cosmic ray must beat the sharpest star by half again, against all 8 neighbours. A
    // pixel of a track (most hits are tracks of a few pixels) has two bright neighbours, so it
    // beats that only by 4: with a sharper PSF (undersampled), tracks are judged against the 6
    // neighbours beside them instead, and compact hits of three or four pixels against the 5
    // faintest (both floored at 3σ, so that noise in a faint star's wings cannot make it look
    // sharp), and followed along for a few pixels.
    const limit = 1.5 * psfSharpness(psf);
    const tracks = limit >= 4;
    const sideLimit = tracks ? 1.5 * psfSharpness(psf, 'side') : Number.POSITIVE_INFINITY;
    const restLimit = tracks ? 1.5 * psfSharpness(psf, 'rest') : Number.POSITIVE_INFINITY;
    const sd = (i: number) => (typeof sigma === 'number' ? sigma : sigma[i]);
    let hits: number[] = [];
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
        if (
          v / Math.max(nb.mean, sd(i)) > limit ||
          (tracks &&
            (v / Math.max(nb.side, 3 * sd(i)) > sideLimit || v / Math.max(nb.rest, 3 * sd(i)) > restLimit))
        ) {
          mask[i] |= MaskBit.COSMIC_RAY;
          hits.push(i);
        }
      }
    }
    // The rest of each track: bright neighbours of a hit (and, for tracks, theirs), each above
    // the threshold and 0.3 of the pixel it continues.
    for (let pass = 0; pass < (tracks ? 3 : 1) && hits.length > 0; pass++) {
      const next: number[] = [];
      for (const i of hits) {
        const x = i % width;
        const y = (i - x) / width;
        if (x < 1 || y < 1 || x >= width - 1 || y >= height - 1) continue;
        for (let b = -1; b <= 1; b++) {
          for (let a = -1; a <= 1; a++) {
            const k = i + b * width + a;
            if (mask[k] & (MaskBit.COSMIC_RAY | MaskBit.SATURATED)) continue;
            if (subtracted[k] > 0.3 * subtracted[i] && subtracted[k] > threshold * sd(k)) {
              mask[k] |= MaskBit.COSMIC_RAY;
              next.push(k);
            }
          }
        }
      }
      hits = next;
    }
  }
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
