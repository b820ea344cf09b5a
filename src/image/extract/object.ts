/**
 * What every stage of extraction shares: the pixel planes of one extraction (detection,
 * filtered detection, measurement, their noise), and the object record that detection,
 * deblending, cleaning and analysis fill in turn (SourceExtractor's objstruct).
 *
 * Coordinates are 0-based pixels (the first pixel's centre is 0, 0); catalogs add 1.
 */

/** Noise of a plane: one global σ, or σ² per pixel. */
export type Noise =
  | { readonly kind: 'global'; readonly sigma: number }
  | { readonly kind: 'map'; readonly variance: Float32Array; readonly sigma: number };

/** The planes of one extraction, background already subtracted. */
export interface Planes {
  readonly width: number;
  readonly height: number;
  /** Detection image (unfiltered). */
  readonly det: Float32Array;
  /** Filtered detection image (det itself when not filtering); −∞ where there is no data. */
  readonly filt: Float32Array;
  /** Measurement image (det itself in single-image mode). */
  readonly meas: Float32Array;
  /** Detection noise (σ of det). */
  readonly detNoise: Noise;
  /** Measurement noise (σ of meas). */
  readonly measNoise: Noise;
  /** Detection threshold per pixel of `filt` (when the noise is a map), else undefined. */
  readonly detThreshMap?: Float32Array;
  /** Global detection threshold (filt units), used when detThreshMap is undefined. */
  readonly detThresh: number;
  /** Analysis threshold factor: the analysis threshold is analysisFactor·σ (RELATIVE) or analysisThresh (ABSOLUTE). */
  readonly analysisThresh: number;
  /** True when thresholds are in σ units (THRESH_TYPE RELATIVE). */
  readonly relative: boolean;
  /** Measurement pixels that hold no data (NaN or masked), when any. */
  readonly measBad?: Uint8Array;
  /** Background that was subtracted from the measurement image (for BACKGROUND and saturation). */
  readonly background?: Float32Array;
  /** The same as a function of the pixel (x, y), when given so. */
  readonly backgroundFn?: (x: number, y: number) => number;
  /** Global background level of the measurement image, when no map is given. */
  readonly backgroundLevel: number;
  /** Gain, e⁻ per measurement unit; 0 for no Poisson term. */
  readonly gain: number;
  /** Gain of the detection image (positional errors); 0 for none. */
  readonly detGain: number;
  /** Raw saturation level of the measurement image (Infinity for none). */
  readonly saturation: number;
}

/** The analysis threshold (measurement units) at pixel p. */
export function analysisThresholdAt(planes: Planes, p: number): number {
  if (!planes.relative) return planes.analysisThresh;
  const n = planes.measNoise;
  return planes.analysisThresh * (n.kind === 'map' ? Math.sqrt(n.variance[p]) : n.sigma);
}

/** Measurement variance at pixel p. */
export function measVarianceAt(planes: Planes, p: number): number {
  const n = planes.measNoise;
  return n.kind === 'map' ? n.variance[p] : n.sigma * n.sigma;
}

/** One object through the stages. Fields follow SourceExtractor's names where they exist. */
/**
 * Zero and one as doubles for the fields that hold fractions: a field first given a small
 * integer is stored as one, and the first fraction written changes every object's hidden class
 * (V8 deprecates the class and migrates objects one by one), which kept hot functions from
 * being optimised. −0 is 0 in every use here; it is never printed (fields are set first).
 */
const D0 = -0;
const D1 = 1.5 - 0.5;
export class SourceObject {
  /** Pixel indices (y·width + x) of the footprint above the detection threshold. */
  pixels: Int32Array;
  /** FLAGS bits (Flag). */
  flag = 0;
  /** Detection threshold of this object (filtered-detection units). */
  dthresh = D0;
  /** Index of the detection this object was deblended from (ID_PARENT − 1), −1 before numbering. */
  parent = -1;
  /** Catalog number (NUMBER), 1-based; 0 until numbered. */
  number = 0;

  // Pre-analysis (detection image): bounds, filtered flux and peak, moments.
  xmin = 0;
  xmax = 0;
  ymin = 0;
  ymax = 0;
  /** Pixel count (ISOAREAF_IMAGE). */
  fdnpix = 0;
  /** Σ filtered detection values. */
  fdflux = D0;
  /** Peak of the filtered detection image. */
  fdpeak = D0;
  /** Peak of the unfiltered detection image. */
  dpeak = D0;
  /** Pixels with unfiltered detection value above the threshold. */
  dnpix = 0;
  /** Σ unfiltered detection values. */
  dflux = D0;
  /** Isophotal barycentre (0-based). */
  mx = D0;
  my = D0;
  /** Second moments. */
  mx2 = D0;
  my2 = D0;
  mxy = D0;
  a = D0;
  b = D0;
  /** Position angle in degrees, counter-clockwise from x, in (−90, 90]. */
  theta = D0;
  cxx = D0;
  cyy = D0;
  cxy = D0;
  /** Isophotal area correction (SourceExtractor's abcor). */
  abcor = D1;
  /** The moment matrix was singular and was regularised. */
  singular = false;

  // Isophotal analysis (measurement image).
  /** Pixels above the analysis threshold (ISOAREA_IMAGE). */
  npix = 0;
  /** Isophotal flux (FLUX_ISO). */
  flux = D0;
  /** Variance of FLUX_ISO. */
  fluxVar = D0;
  /** Peak above background (FLUX_MAX). */
  peak = D0;
  /** Pixel index of the peak (the brightest measurement pixel). */
  peakIndex = 0;
  /** Position of the filtered peak (0-based). */
  peakx = 0;
  peaky = 0;
  /** Analysis threshold (the minimum over the pixels for a noise map). */
  thresh = D0;
  /** Cleaning threshold: the DETECT_MINAREA-th highest filtered value above the detection threshold. */
  mthresh = D0;
  /** Positional error moments. */
  errx2 = D0;
  erry2 = D0;
  errxy = D0;
  /** FWHM assuming a Gaussian core (FWHM_IMAGE). */
  fwhm = D0;
  /** Isophotal areas at NISO levels between the analysis threshold and the peak (CLASS_STAR). */
  iso = new Int32Array(8);

  constructor(pixels: Int32Array) {
    this.pixels = pixels;
  }
}
