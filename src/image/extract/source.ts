/**
 * A measured source: everything the catalog columns are made of. Pixel coordinates are
 * 0-based here (the first pixel's centre is 0, 0); catalogs convert to SourceExtractor's
 * 1-based convention on output. Fluxes are in measurement-image units; magnitudes are derived
 * at output from MAG_ZEROPOINT.
 */
import type { FluxMeasure } from './photometry.ts';
import type { PsfFit } from './psffit.ts';
import type { Windowed } from './windowed.ts';

export interface SkyPoint {
  ra: number;
  dec: number;
}

export interface Source {
  /** NUMBER (1-based, in catalog order). */
  number: number;
  /** +1: detected on the image; −1: detected on −image (fainter than the reference in a difference). */
  sign: 1 | -1;
  /** FLAGS. */
  flags: number;
  /** Isophotal barycentre (X_IMAGE − 1, Y_IMAGE − 1). */
  x: number;
  y: number;
  xmin: number;
  xmax: number;
  ymin: number;
  ymax: number;
  /** Brightest filtered pixel. */
  xpeak: number;
  ypeak: number;
  /** Second moments, ellipse. */
  x2: number;
  y2: number;
  xy: number;
  a: number;
  b: number;
  theta: number;
  cxx: number;
  cyy: number;
  cxy: number;
  /** Positional error moments. */
  errx2: number;
  erry2: number;
  errxy: number;
  /** ISOAREA_IMAGE and ISOAREAF_IMAGE. */
  isoArea: number;
  isoAreaF: number;
  iso: Int32Array;
  fluxIso: FluxMeasure;
  fluxIsocor: FluxMeasure;
  /** FLUX_MAX. */
  fluxMax: number;
  /** BACKGROUND at the barycentre, THRESHOLD (detection), analysis threshold. */
  background: number;
  threshold: number;
  analysisThreshold: number;
  fluxAper: FluxMeasure[];
  fluxAuto: FluxMeasure;
  kronRadius: number;
  fluxPetro: FluxMeasure;
  petroRadius: number;
  fluxBest: FluxMeasure;
  fluxRadius: number[];
  fwhm: number;
  /** CLASS_STAR, when a network was given. */
  classStar?: number;
  win: Windowed;
  psf?: PsfFit;
  /** Sky positions (degrees) of the barycentre, the windowed centroid and the PSF fit, with a WCS. */
  sky?: SkyPoint;
  skyWin?: SkyPoint;
  skyPsf?: SkyPoint;
}
