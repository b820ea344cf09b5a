/** PSF models: estimation from stars, PSFEx files, images of PSFs. */
export {
  type EstimateOptions,
  estimatePsf,
  type MeasureStarsOptions,
  measureStars,
  type PsfEstimate,
  type StarFit,
} from './estimate.ts';
export {
  CONSTANT,
  GridPsf,
  normaliseFlux,
  type PsfPolynomial,
  polynomialTerms,
  polynomialValues,
  recentre,
} from './grid.ts';
export { psfFromFits, psfFromImage, psfFromPsfex, psfHdus } from './io.ts';
export type { PsfModel } from './model.ts';
export { type SelectOptions, type StarCandidate, selectStars } from './select.ts';
