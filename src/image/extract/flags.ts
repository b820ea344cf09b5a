/**
 * Extraction flags: SourceExtractor's FLAGS bits, with SourceExtractor's meanings, in one place.
 * A catalog's FLAGS column is the OR of these.
 */
export const Flag = {
  /** 1: neighbours or bad pixels affect more than 10% of the AUTO aperture (MAG_AUTO may be biased). */
  CROWDED: 1,
  /** 2: the object was originally blended with another one (deblended). */
  MERGED: 2,
  /** 4: at least one pixel is saturated (peak + background ≥ SATUR_LEVEL). */
  SATURATED: 4,
  /** 8: the isophotal footprint touches the image edge (truncated). */
  TRUNCATED: 8,
  /** 16: an aperture (APER, AUTO, PETRO, WIN or the growth curve) reaches beyond the image: data incomplete. */
  APERTURE_INCOMPLETE: 16,
  /** 32: isophotal data incomplete (the footprint could not be followed entirely). */
  ISO_INCOMPLETE: 32,
  /** 64: memory overflow during deblending (too many branches; the object is kept undeblended). */
  DEBLEND_OVERFLOW: 64,
  /** 128: memory overflow during extraction (the object's pixels exceeded the pixel stack). */
  EXTRACT_OVERFLOW: 128,
} as const;
export type Flag = (typeof Flag)[keyof typeof Flag];

/** FLAGS_WIN bits (windowed measurements), as SourceExtractor sets them. */
export const WinFlag = {
  /** 1: the windowed second-moment matrix is singular (isophotal values used instead). */
  SINGULAR: 1,
  /** 2: a windowed second moment is negative (isophotal values used instead). */
  NEGATIVE_MOMENT: 2,
  /** 4: the windowed flux is ≤ 0 (isophotal values used instead). */
  NON_POSITIVE_FLUX: 4,
} as const;

/** PSF-fit flags (FLAGS_PSF, our own column): why a PSF fit is partial or failed. */
export const PsfFlag = {
  /** 1: some of the fit's pixels are masked, NaN, or belong to another object. */
  HAS_MASKED: 1,
  /** 2: the PSF stamp reaches beyond the image. */
  TRUNCATED: 2,
  /** 4: the non-linear position fit did not converge (the linear fit at the start position is kept). */
  NOT_CONVERGED: 4,
  /** 8: no usable pixel: no fit. */
  NO_DATA: 8,
} as const;

/** Names of the set FLAGS bits, e.g. for a log line. */
export function flagNames(flags: number): string[] {
  const out: string[] = [];
  for (const [name, bit] of Object.entries(Flag)) if (flags & bit) out.push(name);
  return out;
}
