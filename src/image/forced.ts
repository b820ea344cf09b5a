/**
 * Forced PSF photometry: the flux of a point source at a given position, by a linear
 * least-squares fit of the PSF. On a difference image the source may be negative or absent, so
 * nothing is detected or centred: this is how light curves get fluxes at every epoch.
 *
 * The fit weights are uniform over the PSF stamp (flux = Σ P d / Σ P²): the variance plane of a
 * difference image holds the sources' own Poisson noise, and weights taken from it would
 * down-weight a bright source's core and bias its flux low. The error propagates the full
 * variance through those weights: error² = Σ P² V / (Σ P²)². Pixels without data or with a
 * mask bit are left out.
 */
import type { Image } from './image.ts';
import type { PsfModel } from './psf/model.ts';
import { median } from './stats.ts';

/** Why a forced measurement is partial or missing (bits). */
export const ForcedFlag = {
  /** The position is outside the image. */
  OUTSIDE: 1,
  /** Part of the PSF stamp falls off the image or on masked pixels. */
  PARTIAL: 2,
  /** No usable pixel: flux and error are NaN. */
  NO_DATA: 4,
} as const;

export interface ForcedFlux {
  flux: number;
  fluxErr: number;
  /** Reduced χ² of the fit. */
  chi2: number;
  /** Pixels used. */
  npix: number;
  flags: number;
}

/**
 * Forced photometry at (x, y) (0-based pixels). The image must have a variance plane.
 * `background` is subtracted first (0 for a difference image).
 */
export function forcedPhotometry(
  image: Image,
  psf: PsfModel,
  x: number,
  y: number,
  background = 0,
): ForcedFlux {
  const { width, height, data, variance, mask } = image;
  if (!variance) throw new RangeError('forced photometry needs the image variance');
  const none = (flags: number): ForcedFlux => ({
    flux: Number.NaN,
    fluxErr: Number.NaN,
    chi2: Number.NaN,
    npix: 0,
    flags,
  });
  if (!(x >= -0.5 && y >= -0.5 && x < width - 0.5 && y < height - 0.5)) return none(ForcedFlag.OUTSIDE);
  const stamp = psf.stamp(x, y);
  const side = psf.size;
  const half = (side - 1) >> 1;
  const cx = Math.round(x);
  const cy = Math.round(y);
  let sPd = 0;
  let sPP = 0;
  let sPPV = 0;
  let flags = 0;
  let npix = 0;
  for (let j = 0; j < side; j++) {
    const iy = cy + j - half;
    for (let i = 0; i < side; i++) {
      const ix = cx + i - half;
      const p = stamp[j * side + i];
      if (iy < 0 || iy >= height || ix < 0 || ix >= width) {
        if (p !== 0) flags |= ForcedFlag.PARTIAL;
        continue;
      }
      const k = iy * width + ix;
      const v = variance[k];
      const d = data[k];
      if (!(v > 0) || !Number.isFinite(d) || (mask && mask[k] !== 0)) {
        if (p !== 0) flags |= ForcedFlag.PARTIAL;
        continue;
      }
      sPd += p * (d - background);
      sPP += p * p;
      sPPV += p * p * v;
      npix++;
    }
  }
  if (!(sPP > 0)) return none(flags | ForcedFlag.NO_DATA);
  const flux = sPd / sPP;
  let chi2 = 0;
  for (let j = 0; j < side; j++) {
    const iy = cy + j - half;
    if (iy < 0 || iy >= height) continue;
    for (let i = 0; i < side; i++) {
      const ix = cx + i - half;
      if (ix < 0 || ix >= width) continue;
      const k = iy * width + ix;
      const v = variance[k];
      const d = data[k];
      if (!(v > 0) || !Number.isFinite(d) || (mask && mask[k] !== 0)) continue;
      chi2 += (d - background - flux * stamp[j * side + i]) ** 2 / v;
    }
  }
  return {
    flux,
    fluxErr: Math.sqrt(sPPV) / sPP,
    chi2: npix > 1 ? chi2 / (npix - 1) : Number.NaN,
    npix,
    flags,
  };
}

export interface ErrorScale {
  /** Real scatter of forced fluxes over their errors from per-pixel variances (1: errors right). */
  scale: number;
  /** Positions measured (1 when too few to say). */
  samples: number;
}

/**
 * How far forced-photometry errors from per-pixel variances are from the real scatter of the
 * fluxes. A difference image's noise is correlated (the reference was co-added and resampled,
 * and ZOGY's kernels whiten it only where the noise model holds), which a variance per pixel
 * cannot express: the error of a PSF-weighted sum comes out a few per cent to tens of per cent
 * off. Measured, not modelled: forced photometry at `n` quasi-random positions (every sub-pixel
 * phase), most of them on blank sky; the robust σ (1.4826 × median absolute deviation) of
 * flux/error ignores the sources among them. Fewer than 50 usable positions (a small image):
 * scale 1.
 */
export function forcedErrorScale(image: Image, psf: PsfModel, n = 600): ErrorScale {
  const margin = (psf.size - 1) / 2 + 1;
  const w = image.width - 2 * margin;
  const h = image.height - 2 * margin;
  if (!(w > 0 && h > 0)) return { scale: 1, samples: 0 };
  // The R2 sequence (plastic number): low-discrepancy points in the plane.
  const g = 1.324717957244746;
  const a1 = 1 / g;
  const a2 = 1 / (g * g);
  // No more positions than fit without sharing most of their pixels.
  const count = Math.min(n, Math.floor((w * h) / (psf.size / 2) ** 2));
  const pulls: number[] = [];
  for (let i = 0; i < count; i++) {
    const x = margin + ((0.5 + a1 * (i + 1)) % 1) * w;
    const y = margin + ((0.5 + a2 * (i + 1)) % 1) * h;
    const f = forcedPhotometry(image, psf, x, y);
    if (f.flags === 0 && f.fluxErr > 0) pulls.push(f.flux / f.fluxErr);
  }
  if (pulls.length < 50) return { scale: 1, samples: pulls.length };
  const centre = median(pulls);
  return { scale: 1.4826 * median(pulls.map((p) => Math.abs(p - centre))), samples: pulls.length };
}
