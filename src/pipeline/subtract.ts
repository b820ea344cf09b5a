/**
 * The subtraction of one science image and its reference, as named steps (architecture.md,
 * "One science job", steps 2–7): background, reference onto the science grid, noise, PSFs,
 * masks, flux and position matching, ZOGY, and the difference-image catalog.
 *
 * Inputs are images in memory (with headers and optional PSFs, uncertainty and coverage maps);
 * outputs are the products in memory. The `rapid subtract` command and the science job read
 * and write the files; each step is timed through the caller's `step` function.
 */
import type { Header } from '../fits/header.ts';
import { type Background, estimateBackgroundThreaded } from '../image/background.ts';
import { type ExtractConfig, extractSources, type Source } from '../image/extract/index.ts';
import { type Image, MaskBit } from '../image/image.ts';
import { buildMask } from '../image/masks.ts';
import {
  crossConvolve,
  fluxRatioFromImages,
  type MatchResult,
  matchStars,
  NoSharedSignalError,
  psfMismatchFromImages,
  shiftFromImages,
} from '../image/match.ts';
import { blankSkyMask, blankSkyMedian, correlatedNoiseFactor, pairedBlankSkyMask } from '../image/noise.ts';
import { BroadenedPsf } from '../image/psf/broadened.ts';
import { convolvePsf } from '../image/psf/convolved.ts';
import {
  comparePsfWithStars,
  estimatePsf,
  measureStars,
  type PsfEstimate,
  type StarFit,
} from '../image/psf/index.ts';
import type { PsfModel } from '../image/psf/model.ts';
import { type ResampleKernelName, resample } from '../image/resample.ts';
import { type SfftDifference, type SfftMode, sfftDifference } from '../image/sfft/difference.ts';
import { SingularSfftError } from '../image/sfft/fit.ts';
import { median, robustSigma } from '../image/stats.ts';
import { sharedFloat32 } from '../image/workers.ts';
import { type TiledZogyResult, zogyTiled } from '../image/zogy/tiles.ts';
import { dilate } from '../image/zogy/zogy.ts';
import { exposureMetadata, metadataKeys } from '../instrument/exposure.ts';
import { BadInputError, UsageError } from '../util/errors.ts';
import type { Wcs } from '../wcs/index.ts';
import {
  DEFAULT_VETTING,
  type DifferenceImages,
  type VettedSource,
  type VettingConfig,
  vetSources,
} from './diffcat.ts';

export interface SubtractImage {
  /** Raw pixels (background included); NaN where there is no data. */
  image: Image;
  header: Header;
  /** Needed unless the images are aligned. */
  wcs?: Wcs;
  /** A given PSF; estimated from the image's stars otherwise. */
  psf?: PsfModel;
  /**
   * 1σ uncertainty per pixel; estimated from the background noise and the gain otherwise. Its
   * scale is checked against the noise measured on the blank sky (see 'noise-correlation').
   */
  uncertainty?: Float32Array;
  /** Reference only: input frames per pixel. */
  coverage?: Float32Array;
  /** e⁻ per data unit (source noise); default: the header's (exposureMetadata). */
  gain?: number;
  /** AB magnitude of one data unit; default: the header's (exposureMetadata). */
  zeroPoint?: number;
  /** Saturation level; default: the header's (exposureMetadata). */
  saturation?: number;
  /** Data-quality image (nonzero = bad). */
  dataQuality?: ArrayLike<number>;
}

/** Which subtraction methods run: ZOGY, SFFT, or both (ZOGY then the primary one). */
export type SubtractMethod = 'zogy' | 'sfft' | 'both';

export interface SfftConfig {
  /** 'cross' (RAPID's --crossconv: both images cross-convolved, then decorrelated) or 'direct'. */
  mode: SfftMode;
  /** Direct mode: the image the kernel convolves ('auto': the one with the sharper PSF). */
  convolve: 'auto' | 'reference' | 'science';
  /** Kernel half-width (RAPID: 9); at most a sixth of the image's smaller side is used. */
  halfWidth: number;
  /** Polynomial degrees of the kernel's and the background's variation (RAPID: 0, 0). */
  kernelOrder: number;
  backgroundOrder: number;
}

/** A method name from the command line or a manifest, checked. */
export function subtractMethod(value: string): SubtractMethod {
  if (value === 'zogy' || value === 'sfft' || value === 'both') return value;
  throw new UsageError(`the subtraction method must be 'zogy', 'sfft' or 'both', got '${value}'`);
}

export const DEFAULT_SFFT: SfftConfig = {
  mode: 'cross',
  convolve: 'auto',
  halfWidth: 9,
  kernelOrder: 0,
  backgroundOrder: 0,
};

export interface SubtractConfig {
  /** Subtraction methods to run (default 'zogy'; science jobs run 'both'). */
  method: SubtractMethod;
  sfft: SfftConfig;
  /** The images share one pixel grid (cutouts without WCS). */
  aligned: boolean;
  /** Override of the science/reference flux ratio. */
  fluxRatio?: number;
  /** Reference pixels covered by fewer frames are masked (RAPID: 0.5). */
  coverageThreshold: number;
  /** |Scorr| detection threshold. */
  detectThreshold: number;
  /** Kernel for the reference resampling. */
  resampleKernel: ResampleKernelName;
  /** Mesh of the background estimate, px. */
  backgroundMesh: number;
  /** ZOGY sub-image core side and overlap, px. */
  tileSize: number;
  tileOverlap: number;
  /** Star match radius (px) and the matches needed for a star-based flux ratio (RAPID: 1, 20). */
  matchRadius: number;
  minMatches: number;
  /**
   * Registration noise (px) when fewer than ten bright stars measure it; default 0.2. Images
   * registered upstream (survey cutouts) can be given less.
   */
  astrometricSigma?: number;
  /** Look for cosmic rays in the science image. */
  cosmicRays: boolean;
  /** Compare given PSFs with the images' own stars and warn when they disagree. */
  checkPsf: boolean;
  /**
   * Measure each image's noise correlation on its blank sky (drizzled, resampled or co-added
   * images) and scale its noise for ZOGY's matched filter (image/noise.ts); false: the noise is
   * taken as white, its per-pixel σ as it is.
   */
  correlatedNoise: boolean;
  vetting: VettingConfig;
}

export const DEFAULT_SUBTRACT: SubtractConfig = {
  method: 'zogy',
  sfft: DEFAULT_SFFT,
  aligned: false,
  coverageThreshold: 0.5,
  detectThreshold: 5,
  resampleKernel: 'lanczos3',
  backgroundMesh: 128,
  tileSize: 1024,
  tileOverlap: 64,
  matchRadius: 1,
  minMatches: 20,
  cosmicRays: true,
  checkPsf: true,
  correlatedNoise: true,
  vetting: DEFAULT_VETTING,
};

export interface SubtractResult {
  width: number;
  height: number;
  /** ZOGY's products; absent when only SFFT ran. */
  zogy?: TiledZogyResult;
  /** SFFT's products and catalog (or why it failed); absent when it did not run. */
  sfft?: SfftOutcome;
  /**
   * The reference on the science grid (background included), its coverage and 1σ uncertainty
   * (the noise a PSF-sized filter sees, per pixel: correlated noise counted).
   */
  referenceResampled: Float32Array;
  referenceCoverage: Float32Array;
  referenceUncertainty: Float32Array;
  /** MaskBit flags of every pixel (union of both images' masks). */
  mask: Uint8Array;
  sciencePsf: PsfModel;
  referencePsf: PsfModel;
  /** Stars of the science image used for matching (PSF fits). */
  scienceStars: StarFit[];
  referenceStars: StarFit[];
  match: MatchResult;
  /** The primary method's difference catalog: ZOGY's when it ran, SFFT's otherwise. */
  sources: VettedSource[];
  qa: Record<string, number | string>;
  /** What the subtraction had to assume (missing metadata, an assumed flux ratio), for the log. */
  warnings: string[];
}

export interface SfftOutcome {
  /** The products; absent when the method failed (a singular system, no shared signal). */
  result?: SfftDifference;
  sources: VettedSource[];
  /** Why SFFT failed: the job then exits 4 with ZOGY's products complete. */
  error?: string;
}

export type StepRunner = <T>(name: string, fn: () => Promise<T> | T) => Promise<T>;

const untimed: StepRunner = async (_name, fn) => fn();

/**
 * Blank-sky pixels needed to measure an image's noise correlation (a 64² patch): on less (an
 * alert's cutout) the estimate is too uncertain and the noise is taken as white.
 */
const MIN_BLANK_PIXELS = 4096;

/**
 * Correlated-noise factors within this of 1 are taken as white noise: the measurement's own
 * uncertainty (statistical, and faint sources' light below the mask passing for correlation:
 * 0.99–1.02 on the white-noise pairs of test/subtract.test.ts), where a drizzled image's
 * factor is 1.5–2 and a resampled one's 1.1–1.3.
 */
const WHITE_NOISE_TOLERANCE = 0.03;

/**
 * The source signal of a pixel for its Poisson noise: the excess over 2σ, so that background
 * pixels (whose own noise would otherwise count as signal) add nothing, and bright pixels lose
 * only 2σ of thousands.
 */
function sourceSignal(value: number, sigma: number): number {
  return Math.max(value - 2 * sigma, 0);
}

/** Subtract the reference from the science image. */
export async function subtract(
  science: SubtractImage,
  reference: SubtractImage,
  config: Partial<SubtractConfig> = {},
  step: StepRunner = untimed,
): Promise<SubtractResult> {
  const c: SubtractConfig = { ...DEFAULT_SUBTRACT, ...config };
  const { width, height } = science.image;
  const n = width * height;
  const warnings: string[] = [];
  // Metadata the caller did not give comes from the headers, read as everywhere else
  // (exposureMetadata); what is missing is said, with what is done instead.
  const sciMeta = exposureMetadata(science.header);
  const refMeta = exposureMetadata(reference.header);
  const sciGain = science.gain ?? sciMeta.gain;
  const refGain = reference.gain ?? refMeta.gain;
  const sciZp = science.zeroPoint ?? sciMeta.zeroPoint;
  const refZp = reference.zeroPoint ?? refMeta.zeroPoint;
  const sciSat = science.saturation ?? sciMeta.saturation;
  const refSat = reference.saturation ?? refMeta.saturation;
  for (const [which, gain, h, unc] of [
    ['science', sciGain, science.header, science.uncertainty],
    ['reference', refGain, reference.header, reference.uncertainty],
  ] as const) {
    if (gain === undefined && !unc)
      warnings.push(
        `no gain for the ${which} image (${metadataKeys(h, 'gain').join(', ')}): its noise is the background's alone, without the sources' Poisson noise`,
      );
  }

  // Reference on the science grid: values, uncertainty and coverage.
  const ref = await step('resample-reference', async () => {
    if (c.aligned) {
      if (reference.image.width !== width || reference.image.height !== height) {
        throw new BadInputError(
          `--aligned images must have the same size: science ${width}×${height}, reference ${reference.image.width}×${reference.image.height}`,
        );
      }
      return {
        data: reference.image.data,
        uncertainty: reference.uncertainty,
        coverage: reference.coverage ?? new Float32Array(n).fill(1),
        mask: undefined as Uint8Array | undefined,
        noiseScale: 1,
        ownBackground: undefined as Background | undefined,
      };
    }
    if (!science.wcs || !reference.wcs) {
      throw new BadInputError(
        'both images need a WCS to be resampled onto one grid (or use --aligned for cutouts that share a grid)',
      );
    }
    // Bad pixels of the reference are found on its own grid and carried through resampling
    // (a hot pixel spread by the kernel no longer looks saturated).
    const refBkg = await estimateBackgroundThreaded(reference.image, {
      meshSize: Math.min(
        c.backgroundMesh,
        Math.max(16, Math.floor(Math.min(reference.image.width, reference.image.height) / 4)),
      ),
    });
    const refMask = buildMask(reference.image.data, reference.image.width, reference.image.height, {
      saturation: refSat,
      saturationGrow: 1,
      dataQuality: reference.dataQuality,
      deadPixels: {
        subtracted: reference.image.data.map((v, i) => v - refBkg.level[i]),
        sigma: refBkg.rms,
      },
    });
    const r = await resample(
      { ...reference.image, mask: refMask },
      reference.wcs,
      science.wcs,
      width,
      height,
      {
        kernel: c.resampleKernel,
        maskBits: MaskBit.NO_DATA,
      },
    );
    // Interpolation makes neighbouring pixels' noise correlated: each pixel's variance drops
    // (Σw²σ²) while the noise on the scales a matched filter sees does not (its low-frequency
    // power stays σ² per source pixel, times the area ratio). ZOGY weighs by the latter, so
    // the reference's noise is taken from before resampling: its uncertainty map is
    // interpolated like an image, and its background σ is measured on the original.
    const areaRatio = (science.wcs.pixelScale() / reference.wcs.pixelScale()) ** 2;
    let uncertainty: Float32Array | undefined;
    if (reference.uncertainty) {
      const v = await resample(
        {
          width: reference.image.width,
          height: reference.image.height,
          data: reference.uncertainty.map((u) => u * u),
        },
        reference.wcs,
        science.wcs,
        width,
        height,
        { kernel: 'bilinear', conserveFlux: false },
      );
      uncertainty = v.data.map((x) => Math.sqrt(x * areaRatio));
    }
    let coverage: Float32Array;
    if (reference.coverage) {
      const cov = await resample(
        { width: reference.image.width, height: reference.image.height, data: reference.coverage },
        reference.wcs,
        science.wcs,
        width,
        height,
        { kernel: 'bilinear', conserveFlux: false },
      );
      coverage = cov.data;
    } else {
      // Without a coverage map, the share of the kernel that fell on data stands in for it.
      coverage = r.coverage;
    }
    const original = refBkg;
    const resampledRms = await estimateBackgroundThreaded(
      { width, height, data: r.data },
      { meshSize: Math.min(c.backgroundMesh, Math.max(16, Math.floor(Math.min(width, height) / 4))) },
    );
    // Ratio of the true (matched-filter) noise to the per-pixel noise the resampled image shows.
    const noiseScale = (median(original.rms) * Math.sqrt(areaRatio)) / median(resampledRms.rms);
    return {
      data: r.data,
      uncertainty,
      coverage,
      mask: r.mask,
      noiseScale: Number.isFinite(noiseScale) && noiseScale > 0 ? noiseScale : 1,
      ownBackground: refBkg,
    };
  });

  const bkg = await step('background', async () => {
    const mesh = Math.min(c.backgroundMesh, Math.max(16, Math.floor(Math.min(width, height) / 4)));
    return {
      science: await estimateBackgroundThreaded(science.image, { meshSize: mesh }),
      reference: await estimateBackgroundThreaded({ width, height, data: ref.data }, { meshSize: mesh }),
    };
  });
  // ZOGY's inputs live in shared memory: its worker threads read them in place.
  const sciSub = sharedFloat32(n);
  const refSub = sharedFloat32(n);
  for (let i = 0; i < n; i++) {
    sciSub[i] = science.image.data[i] - bkg.science.level[i];
    refSub[i] = ref.data[i] - bkg.reference.level[i];
  }
  const psfChecks: Record<string, number> = {};
  const psfs = await step('psf', () => {
    const est = (
      img: Image,
      given: PsfModel | undefined,
      saturation: number | undefined,
      gain: number | undefined,
      which: string,
    ) => {
      if (given) {
        // A given PSF may be wrong (another filter, another epoch's seeing): it is compared with
        // the image's own stars, and a disagreement said (the model is still used).
        if (c.checkPsf) {
          const check = comparePsfWithStars(given, img, { saturation, gain });
          psfChecks[which] = check.ratio;
          if (!check.consistent && check.message) warnings.push(`${which} PSF: ${check.message}`);
        }
        return { psf: given, stars: [] as StarFit[] };
      }
      try {
        const e: PsfEstimate = estimatePsf(img, { saturation, gain, minStars: 3 });
        return { psf: e.psf as PsfModel, stars: e.stars };
      } catch (err) {
        if (err instanceof BadInputError) {
          throw new BadInputError(`${which} image: ${err.message}`);
        }
        throw err;
      }
    };
    return {
      science: est(science.image, science.psf, sciSat, sciGain, 'science'),
      // On the reference's own grid: all its stars (on the science grid, edges without coverage
      // and NaN stamps leave a third to a half of them) and one model for every science image of
      // that reference. Per-job estimates on the resampled reference scattered by ±8% in FWHM.
      reference: est(
        c.aligned ? { width, height, data: ref.data } : reference.image,
        reference.psf,
        refSat,
        refGain,
        'reference',
      ),
    };
  });

  // Correlated noise (drizzled or resampled images): the per-pixel σ underestimates the noise a
  // PSF-sized filter sees, and ZOGY takes neighbouring pixels' noise as independent. Each
  // image's factor is measured on its own blank sky with its own PSF (image/noise.ts), and its
  // σ and variance map are scaled by it. The reference's is measured on its own grid, before
  // resampling: the resampling's share is ref.noiseScale, so neither is counted twice.
  //
  // A given uncertainty map may already hold the correlation (a co-add's, made from the inputs'
  // noise before resampling) or not (a drizzled image's ERR, per pixel): its scale is the
  // measured noise on PSF scales (factor × the blank sky's per-pixel σ) over the map's own value
  // there, so that it is counted once either way.
  const noiseCorrelation = await step('noise-correlation', () => {
    const white = { factor: 1, mapScale: 1 };
    if (!c.correlatedNoise) return { science: white, reference: white };
    const near1 = (f: number) =>
      !Number.isFinite(f) || Math.abs(f - 1) <= WHITE_NOISE_TOLERANCE ? 1 : Math.min(Math.max(f, 0.5), 4);
    const measure = (
      data: ArrayLike<number>,
      w: number,
      h: number,
      psf: PsfModel,
      exclude: Uint8Array,
      uncertainty: ArrayLike<number> | undefined,
    ) => {
      const m = correlatedNoiseFactor(data, w, h, psf.stamp(w / 2, h / 2), {
        exclude,
        minPixels: MIN_BLANK_PIXELS,
      });
      if (m.pixels < MIN_BLANK_PIXELS) return white;
      return {
        factor: near1(m.factor),
        mapScale: uncertainty ? near1((m.factor * m.sigma) / blankSkyMedian(uncertainty, exclude)) : 1,
      };
    };
    const own = ref.ownBackground;
    const rw = reference.image.width;
    const rh = reference.image.height;
    const refOwn = own ? reference.image.data.map((v, i) => v - own.level[i]) : undefined;
    return {
      science: measure(
        sciSub,
        width,
        height,
        psfs.science.psf,
        pairedBlankSkyMask(sciSub, refSub, width, height),
        science.uncertainty,
      ),
      reference: refOwn
        ? measure(refOwn, rw, rh, psfs.reference.psf, blankSkyMask(refOwn, rw, rh), reference.uncertainty)
        : measure(
            refSub,
            width,
            height,
            psfs.reference.psf,
            pairedBlankSkyMask(refSub, sciSub, width, height),
            reference.uncertainty,
          ),
    };
  });
  const sciFactor = noiseCorrelation.science.factor;
  const refFactor = noiseCorrelation.reference.factor;
  const sigmaN = median(bkg.science.rms) * sciFactor;
  const sigmaR = median(bkg.reference.rms) * ref.noiseScale * refFactor;

  // Noise: given uncertainties, or background RMS plus source noise through the gain, each
  // scaled for the noise's correlation.
  const variances = await step('noise', () => {
    const vn = sharedFloat32(n);
    const vr = sharedFloat32(n);
    const fn2 = sciFactor ** 2;
    const fr2 = refFactor ** 2;
    const un2 = noiseCorrelation.science.mapScale ** 2;
    const ur2 = noiseCorrelation.reference.mapScale ** 2;
    for (let i = 0; i < n; i++) {
      vn[i] = science.uncertainty
        ? un2 * science.uncertainty[i] ** 2
        : fn2 *
          (bkg.science.rms[i] ** 2 +
            (sciGain && sciGain > 0 ? sourceSignal(sciSub[i], bkg.science.rms[i]) / sciGain : 0));
      vr[i] = ref.uncertainty
        ? ur2 * ref.uncertainty[i] ** 2
        : fr2 *
          ((bkg.reference.rms[i] * ref.noiseScale) ** 2 +
            (refGain && refGain > 0 ? sourceSignal(refSub[i], bkg.reference.rms[i]) / refGain : 0));
      if (!Number.isFinite(vn[i])) vn[i] = sigmaN * sigmaN;
      if (!Number.isFinite(vr[i])) vr[i] = sigmaR * sigmaR;
    }
    return { vn, vr };
  });

  const mask = await step('masks', () => {
    const fwhm = psfs.science.psf.fwhm(width / 2, height / 2);
    const m = buildMask(science.image.data, width, height, {
      saturation: sciSat,
      saturationGrow: Math.ceil(2 * fwhm),
      dataQuality: science.dataQuality,
      cosmicRays: c.cosmicRays
        ? { subtracted: sciSub, sigma: bkg.science.rms, psf: psfs.science.psf, stars: psfs.science.stars }
        : undefined,
    });
    // The reference's own mask (carried through resampling), or one made on the aligned image.
    const mr =
      ref.mask ??
      buildMask(ref.data, width, height, {
        saturation: refSat,
        saturationGrow: Math.ceil(2 * fwhm),
        dataQuality: reference.dataQuality,
        deadPixels: { subtracted: refSub, sigma: bkg.reference.rms },
      });
    // Grow the reference's bad areas by the PSF core: a hot pixel spreads under the kernel.
    const grown = dilate(
      mr.map((v) => (v & ~MaskBit.NO_DATA ? 1 : 0)),
      width,
      height,
      Math.ceil(fwhm),
    );
    for (let i = 0; i < n; i++) {
      m[i] |= mr[i] & ~MaskBit.NO_DATA;
      if (grown[i]) m[i] |= MaskBit.BAD;
      if (!(ref.coverage[i] >= c.coverageThreshold)) m[i] |= MaskBit.LOW_COVERAGE;
    }
    return m;
  });

  const stars: { science: StarFit[]; reference: StarFit[] } = { science: [], reference: [] };
  let psfBroadening: { image: string; sigma: number } | undefined;
  let shiftMethod = 'stars';
  const match = await step('match', async () => {
    // Stars from the PSF fits; offsets from the brightest (centroid noise is not registration noise).
    const sStars = measureStars(science.image, psfs.science.psf, { saturation: sciSat, gain: sciGain });
    const rStars = measureStars({ width, height, data: ref.data }, psfs.reference.psf, {
      saturation: refSat,
      gain: refGain,
    });
    stars.science = sStars;
    stars.reference = rStars;
    let m = matchStars(sStars, rStars, {
      radius: c.matchRadius,
      minMatches: c.minMatches,
      scienceZeroPoint: sciZp,
      referenceZeroPoint: refZp,
      fluxRatio: c.fluxRatio,
    });
    const bright = matchStars(
      sStars.filter((s) => s.snr > 50),
      rStars.filter((s) => s.snr > 50),
      { radius: c.matchRadius, minMatches: 1 },
    );
    // The offset needs a few bright stars; its scatter (the astrometric noise of Scorr) needs
    // ten, or a handful of stars would make it up (and silence real transients on galaxies);
    // with fewer, a conservative 0.2 px keeps bright-star residuals in check.
    if (bright.matches >= 3) m = { ...m, dx: bright.dx, dy: bright.dy };
    else if (m.matches < 3) m = { ...m, dx: 0, dy: 0 };
    m =
      bright.matches >= 10
        ? { ...m, sigmaX: Math.min(bright.sigmaX, 0.3), sigmaY: Math.min(bright.sigmaY, 0.3) }
        : { ...m, sigmaX: c.astrometricSigma ?? 0.2, sigmaY: c.astrometricSigma ?? 0.2 };
    if (m.method === 'images') {
      const cx = Math.round(width / 2);
      const cy = Math.round(height / 2);
      // Without stars the PSF models went unchecked too (a cutout's one FWHM given for both
      // images): the pixels tell whether one image is broader than its model.
      // The images each convolved with the other's PSF, made again when a model changes.
      const crossed = () =>
        crossConvolve(
          sciSub,
          refSub,
          width,
          height,
          psfs.science.psf.stamp(cx, cy),
          psfs.reference.psf.stamp(cx, cy),
          sigmaN,
          sigmaR,
        );
      let cc = await crossed();
      const mismatch = await psfMismatchFromImages(cc);
      if (mismatch.broader !== 'none') {
        const side = psfs[mismatch.broader];
        const before = side.psf.fwhm(cx, cy);
        side.psf = new BroadenedPsf(side.psf, mismatch.sigma);
        psfBroadening = { image: mismatch.broader, sigma: mismatch.sigma };
        cc = await crossed();
        warnings.push(
          `the ${mismatch.broader} image is broader than its PSF model: broadened by a Gaussian of σ ${mismatch.sigma.toFixed(1)} px (FWHM ${before.toFixed(2)} → ${side.psf.fwhm(cx, cy).toFixed(2)} px; residual scatter ${mismatch.scatterBefore.toFixed(2)} → ${mismatch.scatterAfter.toFixed(2)})`,
        );
      }
      // No bright stars for the offset either: the shared signal gives it, and its uncertainty
      // is the registration noise (0.2 px assumed would silence transients on bright nuclei).
      if (bright.matches < 3) {
        const shift = await shiftFromImages(cc);
        if (shift) {
          // The offset itself is not applied: a first-order fit through PSF models that are
          // themselves uncertain is biased (0.7 px on DECam stacks known to share one grid).
          // It bounds the registration noise instead: no less than the offset the pixels
          // suggest nor its uncertainty, 0.02 px at least, and no more than the default.
          const sigma = (d: number, e: number) =>
            Math.min(c.astrometricSigma ?? 0.2, Math.max(Math.hypot(d, e), 0.02));
          m = { ...m, sigmaX: sigma(shift.dx, shift.sigmaX), sigmaY: sigma(shift.dy, shift.sigmaY) };
          shiftMethod = 'images';
        }
      }
      try {
        const r = await fluxRatioFromImages(cc);
        m = { ...m, fluxRatio: r.fluxRatio, fluxRatioError: r.fluxRatioError };
      } catch (err) {
        if (!(err instanceof NoSharedSignalError)) throw err;
        // Cutouts of a survey's alert stream (a transient alone, or a variable star alone) hold
        // nothing to measure the ratio on; their template is usually on the science's scale.
        // Assumed, never silently: the warning, the QA values and the products' FLXRMETH say so.
        warnings.push(`${err.message}; assuming a flux ratio of 1 (the images on one flux scale)`);
        m = { ...m, fluxRatio: 1, fluxRatioError: Number.NaN, method: 'assumed' };
      }
    }
    return m;
  });

  const runZogy = c.method !== 'sfft';
  const runSfft = c.method !== 'zogy';
  const zogy = !runZogy
    ? undefined
    : await step('zogy', () =>
        zogyTiled({
          width,
          height,
          science: sciSub,
          reference: refSub,
          scienceVariance: variances.vn,
          referenceVariance: variances.vr,
          sciencePsf: psfs.science.psf,
          referencePsf: psfs.reference.psf,
          scienceSigma: sigmaN,
          referenceSigma: sigmaR,
          fluxRatio: match.fluxRatio,
          astrometricSigma: [match.sigmaX, match.sigmaY],
          referenceShift: [match.dx, match.dy],
          mask,
          tileSize: c.tileSize,
          overlap: c.tileOverlap,
        }),
      );
  const catalogOptions = (fluxRatio: number): CatalogOptions => ({
    threshold: c.detectThreshold,
    zeroPoint: sciZp,
    wcs: science.wcs,
    gain: sciGain,
    referenceStars: stars.reference,
    referenceZeroPoint: refZp,
    fluxRatio,
    vetting: c.vetting,
  });
  const zogySources = zogy
    ? await step('catalog', () =>
        differenceCatalog(
          { ...zogy, whiteNoise: zogy.tiles[0]?.scale ?? 1 },
          mask,
          width,
          height,
          catalogOptions(match.fluxRatio),
        ),
      )
    : [];

  let sfft: SfftOutcome | undefined;
  if (runSfft) {
    sfft = await step('sfft', async () => {
      const cx = Math.round(width / 2);
      const cy = Math.round(height / 2);
      // The kernel no wider than a sixth of the image: a cutout's few thousand pixels cannot
      // constrain RAPID's 19² kernel, and would fit its noise.
      const halfWidth = Math.max(
        1,
        Math.min(c.sfft.halfWidth, Math.floor((Math.min(width, height) / 6 - 1) / 2)),
      );
      try {
        const result = await sfftDifference({
          width,
          height,
          science: sciSub,
          reference: refSub,
          sciencePsf: psfs.science.psf.stamp(cx, cy),
          referencePsf: psfs.reference.psf.stamp(cx, cy),
          scienceSigma: sigmaN,
          referenceSigma: sigmaR,
          scienceVariance: variances.vn,
          referenceVariance: variances.vr,
          mask,
          mode: c.sfft.mode,
          convolve: c.sfft.convolve,
          // Registration noise as ZOGY counts it, except where the offset was measured from the
          // images' shared signal (cutouts without stars): the kernel absorbs that whole-image
          // shift, and what it leaves is not a star's jitter.
          astrometricSigma: shiftMethod === 'images' ? undefined : [match.sigmaX, match.sigmaY],
          fit: { halfWidth, kernelOrder: c.sfft.kernelOrder, backgroundOrder: c.sfft.backgroundOrder },
        });
        return { result, sources: [] };
      } catch (err) {
        // With ZOGY beside it, SFFT's failure is the method's (the job exits 4 with ZOGY's
        // products); alone, it is the subtraction's.
        if (!(err instanceof SingularSfftError) || !runZogy) throw err;
        warnings.push(`SFFT failed: ${err.message}`);
        return { sources: [], error: err.message };
      }
    });
    const done = sfft.result;
    if (done) {
      sfft.sources = await step('sfft-catalog', () =>
        differenceCatalog(
          sfftImages(done, psfs.science.psf),
          done.mask,
          width,
          height,
          catalogOptions(done.fluxRatio),
        ),
      );
    }
  }
  const sources = zogy ? zogySources : (sfft?.sources ?? []);

  let valid = 0;
  let sc = 0;
  const scorrValues: number[] = [];
  for (let i = 0; i < n; i++) {
    if (zogy ? !zogy.mask[i] : !sfft?.result?.mask[i]) {
      valid++;
      if (i % 7 === 0) scorrValues.push((zogy?.scoreCorr ?? sfft?.result?.score)?.[i] ?? Number.NaN);
    }
    if (mask[i] & MaskBit.COSMIC_RAY) sc++;
  }
  const qa: Record<string, number | string> = {
    fluxRatio: match.fluxRatio,
    fluxRatioError: match.fluxRatioError,
    fluxRatioMethod: match.method,
    starMatches: match.matches,
    dx: match.dx,
    dy: match.dy,
    sigmaX: match.sigmaX,
    sigmaY: match.sigmaY,
    offsetMethod: shiftMethod,
    scienceFwhm: psfs.science.psf.fwhm(width / 2, height / 2),
    referenceFwhm: psfs.reference.psf.fwhm(width / 2, height / 2),
    scienceBackgroundRms: sigmaN,
    referenceBackgroundRms: sigmaR,
    scienceNoiseCorrelation: sciFactor,
    referenceNoiseCorrelation: refFactor,
    scienceUncertaintyScale: noiseCorrelation.science.mapScale,
    referenceUncertaintyScale: noiseCorrelation.reference.mapScale,
    fluxScale: zogy?.fluxScale ?? Number.NaN,
    validFraction: valid / n,
    scorrStd: robustSigma(scorrValues),
    cosmicRayPixels: sc,
    sciencePsfCheck: psfChecks.science ?? Number.NaN,
    referencePsfCheck: psfChecks.reference ?? Number.NaN,
    psfBroadened: psfBroadening?.image ?? 'none',
    psfBroadeningSigma: psfBroadening?.sigma ?? 0,
    sources: sources.length,
    positiveSources: sources.filter((s) => s.sign > 0).length,
    vettedSources: sources.filter((s) => s.vetFlags === 0).length,
    method: c.method,
  };
  if (sfft) {
    const r = sfft.result;
    Object.assign(qa, {
      sfftStatus: sfft.error ? 'failed' : 'ok',
      sfftConvolved: r?.convolved ?? 'none',
      sfftFluxRatio: r?.fluxRatio ?? Number.NaN,
      sfftNoise: r?.noise ?? Number.NaN,
      sfftFittedPixels: r?.fit.fittedPixels ?? 0,
      sfftRejectedPixels: r?.fit.rejectedPixels ?? 0,
      sfftCondition: r?.fit.solution.condition ?? Number.NaN,
      sfftHalfWidth: r?.fit.solution.halfWidth ?? Number.NaN,
      sfftScoreStd: r
        ? robustSigma(Array.from(r.score.filter((_, i) => i % 7 === 0 && Number.isFinite(r.score[i]))))
        : Number.NaN,
      sfftSources: sfft.sources.length,
      sfftVettedSources: sfft.sources.filter((s) => s.vetFlags === 0).length,
    });
  }
  return {
    width,
    height,
    zogy,
    sfft,
    referenceResampled: ref.data,
    referenceCoverage: ref.coverage,
    referenceUncertainty: Float32Array.from(variances.vr, (v) => Math.sqrt(v)),
    mask,
    sciencePsf: psfs.science.psf,
    referencePsf: psfs.reference.psf,
    scienceStars: stars.science,
    referenceStars: stars.reference,
    match,
    sources,
    qa,
    warnings,
  };
}

export interface CatalogOptions {
  threshold: number;
  zeroPoint?: number;
  wcs?: Wcs;
  gain?: number;
  referenceStars: StarFit[];
  referenceZeroPoint?: number;
  fluxRatio: number;
  vetting: VettingConfig;
}

/**
 * Detect on Scorr (both signs, |Scorr| ≥ threshold) and measure on the difference image with
 * its PSF (dual-image mode), then add the difference-image columns and vetting flags.
 */
export function differenceCatalog(
  z: DifferenceImages,
  mask: Uint8Array,
  width: number,
  height: number,
  o: CatalogOptions,
): VettedSource[] {
  const extractConfig: Partial<ExtractConfig> = {
    detectThresh: o.threshold,
    analysisThresh: o.threshold,
    detectMinArea: 1,
    threshType: 'RELATIVE',
    filter: false,
    deblendNThresh: 32,
    deblendMinCont: 0.005,
    clean: false,
    photApertures: [2, 3, 4, 6, 10, 14],
    magZeropoint: o.zeroPoint ?? 0,
    gain: 0,
  };
  const result = extractSources(
    { image: { width, height, data: z.scoreCorr, mask: z.mask }, noise: 1 },
    {
      config: extractConfig,
      psf: z.differencePsfModel,
      // Fitting the position too keeps faint fluxes unbiased (a fit at a noisy windowed position
      // underestimates them).
      psfFit: { fitPosition: true },
      wcs: o.wcs,
      negative: true,
    },
    {
      image: { width, height, data: z.difference, mask: z.mask },
      // Fit weights from the background noise alone (D's white noise, F_n/F_D): weights that
      // include source noise estimated from the data would bias fluxes low. The flux errors
      // are recomputed with the full variance afterwards (vetSources).
      noise: z.whiteNoise,
      gain: 0,
    },
  );
  return vetSources(result.sources as Source[], z, mask, width, height, o);
}

/**
 * SFFT's decorrelated difference as a catalog's input: its PSF is the science PSF (at each
 * source's position and sub-pixel phase) convolved with the difference's transfer kernel.
 */
export function sfftImages(r: SfftDifference, sciencePsf: PsfModel): DifferenceImages {
  return {
    difference: r.decorrelated,
    differenceUncertainty: r.uncertainty,
    scoreCorr: r.score,
    mask: r.mask,
    differencePsfModel: convolvePsf(sciencePsf, r.transfer),
    whiteNoise: r.noise,
  };
}
