/** PSF models: estimation from stars, PSFEx files, images of PSFs, checks against stars. */
export {
  type ComparePsfOptions,
  comparePsfWithStars,
  modelFwhm,
  type PsfComparison,
} from './compare.ts';
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
  cutGrid,
  DEFAULT_PSF_ENERGY,
  type EffectiveSizeOptions,
  effectiveSize,
  GridPsf,
  normaliseFlux,
  type PsfPolynomial,
  polynomialTerms,
  polynomialValues,
  recentre,
} from './grid.ts';
export {
  type PsfImageOptions,
  type PsfReadOptions,
  psfFromFits,
  psfFromImage,
  psfFromPsfex,
  psfHdus,
} from './io.ts';
export type { PsfModel } from './model.ts';
export { type SelectOptions, type StarCandidate, selectStars } from './select.ts';
