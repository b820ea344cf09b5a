/**
 * A given PSF against the image's own stars: a user's PSF model (a WebbPSF model, another
 * pipeline's PSFEx file) can belong to another filter, epoch or focus, and a PSF of the wrong
 * width biases every PSF flux and ZOGY's matched filter. The stars' FWHM comes from an
 * empirical PSF of the image (estimatePsf, a quick one: the FWHM settles within a few
 * iterations on a hundred stars), measured like the model's: the area above half maximum of
 * the pixel-integrated PSF (GridPsf.shape), so that undersampling biases neither side.
 */
import { BadInputError } from '../../util/errors.ts';
import type { Image } from '../image.ts';
import { estimatePsf, type PsfEstimate } from './estimate.ts';
import { GridPsf } from './grid.ts';
import type { PsfModel } from './model.ts';

export interface ComparePsfOptions {
  /** The image's own PSF, when already estimated (skips the estimate). */
  estimate?: PsfEstimate;
  /** Saturation level of the image (raw units). */
  saturation?: number;
  /** e⁻ per data unit. */
  gain?: number;
  /** Largest relative FWHM difference that is consistent (default 0.15). */
  tolerance?: number;
  /** Stars needed for a verdict (default 5). */
  minStars?: number;
  /** Stars used at most (default 100: the FWHM needs no more, and the time grows with them). */
  maxStars?: number;
  /** Iterations of the estimate (default 4: one outlier rejection; the FWHM moves < 1% after). */
  iterations?: number;
  /** Where to compare (0-based pixels; default the image centre). */
  x?: number;
  y?: number;
  /**
   * Side of the square around (x, y) the stars are taken from (default 1024 px: enough stars
   * in any survey field, and the time no longer grows with the image: on a whole 4088² image
   * the estimate's background and star search alone take seconds). Infinity: the whole image.
   */
  region?: number;
}

export interface PsfComparison {
  /** FWHM of the given model, px. */
  fwhmModel: number;
  /** FWHM of the image's stars, px (NaN when they could not be measured). */
  fwhmStars: number;
  /** fwhmModel / fwhmStars (NaN when the stars could not be measured). */
  ratio: number;
  /** Stars that measured fwhmStars. */
  nStars: number;
  /** False when the FWHMs differ by more than the tolerance; true when they agree or without stars to tell. */
  consistent: boolean;
  /** Why the model disagrees, or why there is no verdict. */
  message?: string;
}

/** Sub-pixel phases per pixel when a model other than a grid is tabulated for its FWHM. */
const PHASES = 4;

/**
 * FWHM of any PsfModel measured as a GridPsf's: its stamps at PHASES × PHASES sub-pixel phases
 * interleaved into a grid of step 1/PHASES (a stamp for a source at X − a/N samples the
 * pixel-integrated PSF at offsets (integer + a/N)).
 */
export function modelFwhm(psf: PsfModel, x: number, y: number): number {
  if (psf instanceof GridPsf) return psf.fwhm(x, y);
  const n = psf.size;
  const h = (n - 1) / 2;
  const X = Math.round(x);
  const Y = Math.round(y);
  const side = PHASES * (n + 2) + 1;
  const c = (side - 1) / 2;
  const grid = new Float32Array(side * side);
  const stamp = new Float32Array(n * n);
  for (let b = 0; b < PHASES; b++) {
    for (let a = 0; a < PHASES; a++) {
      const sx = X - a / PHASES;
      const sy = Y - b / PHASES;
      psf.stamp(sx, sy, stamp);
      const ox = Math.round(sx) - h - X;
      const oy = Math.round(sy) - h - Y;
      for (let j = 0; j < n; j++) {
        // Offset of stamp pixel j from the source, in nodes: (pixel − source) · PHASES.
        const gy = c + (oy + j) * PHASES + b;
        if (gy < 0 || gy >= side) continue;
        for (let i = 0; i < n; i++) {
          const gx = c + (ox + i) * PHASES + a;
          if (gx < 0 || gx >= side) continue;
          grid[gy * side + gx] = stamp[j * n + i];
        }
      }
    }
  }
  return new GridPsf([grid], side, 1 / PHASES, undefined, n).fwhm();
}

/** The part of the image within a square of side `region` around (x, y), inside the image. */
function around(image: Image, x: number, y: number, region: number): Image {
  const { width, height } = image;
  const w = Math.min(width, Math.max(1, Math.round(region)));
  const h = Math.min(height, Math.max(1, Math.round(region)));
  if (w === width && h === height) return image;
  const x0 = Math.max(0, Math.min(width - w, Math.round(x - w / 2)));
  const y0 = Math.max(0, Math.min(height - h, Math.round(y - h / 2)));
  const data = new Float32Array(w * h);
  const source = image.mask;
  const mask = source ? new Uint8Array(w * h) : undefined;
  for (let j = 0; j < h; j++) {
    const from = (y0 + j) * width + x0;
    data.set(image.data.subarray(from, from + w), j * w);
    if (source && mask) mask.set(source.subarray(from, from + w), j * w);
  }
  return { width: w, height: h, data, mask };
}

/**
 * Compare a PSF model with the stars of the image it is meant for. Without enough stars the
 * verdict is "consistent" (nothing says otherwise) with a message saying so; only a measured
 * difference beyond the tolerance is inconsistent.
 */
export function comparePsfWithStars(
  psf: PsfModel,
  image: Image,
  options: ComparePsfOptions = {},
): PsfComparison {
  const x = options.x ?? (image.width - 1) / 2;
  const y = options.y ?? (image.height - 1) / 2;
  const tolerance = options.tolerance ?? 0.15;
  const fwhmModel = modelFwhm(psf, x, y);
  let estimate = options.estimate;
  if (!estimate) {
    try {
      estimate = estimatePsf(around(image, x, y, options.region ?? 1024), {
        saturation: options.saturation,
        gain: options.gain,
        minStars: options.minStars ?? 5,
        maxStars: options.maxStars ?? 100,
        iterations: options.iterations ?? 4,
      });
    } catch (err) {
      if (!(err instanceof BadInputError)) throw err;
      return {
        fwhmModel,
        fwhmStars: Number.NaN,
        ratio: Number.NaN,
        nStars: 0,
        consistent: true,
        message: `the PSF could not be checked against the image's stars: ${err.message}`,
      };
    }
  }
  const fwhmStars = estimate.psf.fwhm(x, y);
  const ratio = fwhmModel / fwhmStars;
  const nStars = estimate.stars.length;
  const consistent = !(Math.abs(ratio - 1) > tolerance);
  return {
    fwhmModel,
    fwhmStars,
    ratio,
    nStars,
    consistent,
    message: consistent
      ? undefined
      : `the given PSF's FWHM (${fwhmModel.toFixed(2)} px) is ${ratio.toFixed(2)} times that of the image's stars (${fwhmStars.toFixed(2)} px, ${nStars} stars): more than ${Math.round(100 * tolerance)}% apart; PSF fluxes and the subtraction's matched filter will be biased`,
  };
}
