/**
 * The PSF model every module uses: the pixel-integrated PSF (what a point source leaves on the
 * detector) at any position and sub-pixel phase, normalised to unit sum.
 *
 * Stamp convention: a stamp is size × size pixels (size odd); its central pixel
 * ((size − 1) / 2, (size − 1) / 2) lies on image pixel (round(x), round(y)), and the source's
 * sub-pixel offset (x − round(x), y − round(y)) is inside the stamp. So adding flux · stamp at
 * that place draws the source, and fitting the stamp measures it.
 */
export interface PsfModel {
  /** Stamp side in pixels (odd). */
  readonly size: number;
  /** The PSF of a source at (x, y) (0-based image pixels), unit sum, written into `out` if given. */
  stamp(x: number, y: number, out?: Float32Array): Float32Array;
  /** FWHM in pixels at (x, y) (the image centre when omitted). */
  fwhm(x?: number, y?: number): number;
}
