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
  /**
   * Stamp side in pixels (odd): what every per-source consumer (star fits, PSF photometry,
   * ZOGY's kernels) works with, so their cost follows it. A PSF read from a larger image is cut
   * to the square holding most of its light (psf/io.ts, effectiveSize); the stamp's unit sum
   * is then that share of a source's flux.
   */
  readonly size: number;
  /** The PSF of a source at (x, y) (0-based image pixels), unit sum, written into `out` if given. */
  stamp(x: number, y: number, out?: Float32Array): Float32Array;
  /** FWHM in pixels at (x, y) (the image centre when omitted). */
  fwhm(x?: number, y?: number): number;
}
