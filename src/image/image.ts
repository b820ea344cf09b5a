/**
 * The one image type every numeric module shares (as sep's image description): pixel values,
 * optional variance and optional mask, row-major with x fastest (data[y * width + x]), which is
 * FITS order. Pixel (0, 0) is the centre of the first pixel: coordinates are 0-based.
 */
export interface Image {
  readonly width: number;
  readonly height: number;
  /** Pixel values. NaN marks a pixel without data. */
  readonly data: Float32Array;
  /** Per-pixel variance in the same units squared, when known. */
  readonly variance?: Float32Array;
  /** Per-pixel mask bits (MaskBit); 0 is a good pixel. */
  readonly mask?: Uint8Array;
}

/** Mask bits, one meaning each, shared by every module that reads or writes masks. */
export const MaskBit = {
  /** Detector defect (dead, hot, or flagged in a data-quality image). */
  BAD: 1,
  /** At or above the saturation level. */
  SATURATED: 2,
  /** Cosmic-ray hit. */
  COSMIC_RAY: 4,
  /** No data (outside the footprint, or NaN). */
  NO_DATA: 8,
  /** Near a saturated pixel, within the PSF's reach. */
  SATURATION_HALO: 16,
  /** Reference coverage below the threshold. */
  LOW_COVERAGE: 32,
} as const;

/** A new image of zeros (and no variance or mask). */
export function createImage(width: number, height: number): Image {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(`image size must be positive integers, got ${width}×${height}`);
  }
  return { width, height, data: new Float32Array(width * height) };
}
