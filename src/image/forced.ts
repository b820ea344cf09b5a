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
