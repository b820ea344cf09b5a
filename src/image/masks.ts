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

/** The sharpest peak/neighbour-mean ratio a point source can show, over sub-pixel phases. */
export function psfSharpness(psf: PsfModel): number {
  let best = 0;
  const n = psf.size;
  const c = (n - 1) / 2;
  for (let j = 0; j < 5; j++) {
    for (let i = 0; i < 5; i++) {
      const s = psf.stamp(1000 + (i - 2) / 5, 1000 + (j - 2) / 5);
      const peak = s[c * n + c];
      let nb = 0;
      for (let b = -1; b <= 1; b++) for (let a = -1; a <= 1; a++) if (a || b) nb += s[(c + b) * n + c + a];
      best = Math.max(best, peak / (nb / 8));
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
        let nb = 0;
        for (let b = -1; b <= 1; b++)
          for (let a = -1; a <= 1; a++) if (a || b) nb += subtracted[i + b * width + a];
        if (nb / 8 > -3 * sdc(i)) mask[i] |= MaskBit.BAD;
      }
    }
  }
  if (options.cosmicRays) {
    const { subtracted, sigma, psf } = options.cosmicRays;
    const threshold = options.cosmicRays.threshold ?? 5;
    // A cosmic ray must beat the sharpest star by half again.
    const limit = 1.5 * psfSharpness(psf);
    const sd = (i: number) => (typeof sigma === 'number' ? sigma : sigma[i]);
    for (let y = 1; y < height - 1; y++) {
      for (let x = 1; x < width - 1; x++) {
        const i = y * width + x;
        const v = subtracted[i];
        if (!(v > threshold * sd(i)) || mask[i] & MaskBit.SATURATED) continue;
        let nb = 0;
        let isMax = true;
        for (let b = -1; b <= 1; b++) {
          for (let a = -1; a <= 1; a++) {
            if (!a && !b) continue;
            const u = subtracted[i + b * width + a];
            if (u > v) isMax = false;
            nb += u;
          }
        }
        if (!isMax) continue;
        // Neighbours' mean, floored at one σ so noise around a faint hit does not decide.
        const mean = Math.max(nb / 8, sd(i));
        if (v / mean > limit) {
          // The hit and any bright neighbour that belongs to its track.
          mask[i] |= MaskBit.COSMIC_RAY;
          for (let b = -1; b <= 1; b++) {
            for (let a = -1; a <= 1; a++) {
              const k = i + b * width + a;
              if (subtracted[k] > 0.3 * v && subtracted[k] > threshold * sd(k)) mask[k] |= MaskBit.COSMIC_RAY;
            }
          }
        }
      }
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
