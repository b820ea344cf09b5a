/**
 * SFFT's difference image as RAPID makes it (Hu et al. 2022; RAPID's `--crossconv`):
 *
 * - cross-convolution (default): the science image convolved with the reference's PSF and the
 *   reference with the science's, so both carry P_S ⊗ P_R; the kernel fitted between them
 *   (then close to the flux ratio times δ, absorbing what the PSF models get wrong), and
 *   D = S ⊗ P_R − K ⊗ R ⊗ P_S − B;
 * - direct: D = S − K ⊗ R − B, the reference convolved toward the science image.
 *
 * Either way D's noise is coloured: its power at frequency k is
 * N(k) = σ_S²|Â_S|² + σ_R²|Â_R|² with Â_S = P̂_R, Â_R = K̂ P̂_S (cross) or Â_S = 1, Â_R = K̂
 * (direct). The decorrelation kernel Φ̂ = c / √N(k), c = √N(0), whitens it: D ⊗ Φ has white
 * noise of σ c per pixel, a point source keeps its science-image flux (Φ̂(0) = 1), and its PSF
 * is P_S ⊗ A_S ⊗ Φ. That decorrelated difference is the one measured; the detection map is its
 * matched filter, in units of its own σ (from the per-pixel variances, so bright sources'
 * photon noise counts).
 *
 * Pure numerics: images in, images out. The kernel fit is fit.ts's.
 */
import {
  fftBackend as defaultBackend,
  type FftBackend,
  multiplySpectra,
  workBuffer,
  workCopy,
} from '../fft/index.ts';
import { halfMaxWidth } from '../psf/convolved.ts';
import { dilate } from '../zogy/zogy.ts';
import { kernelSide, monomials } from './basis.ts';
import { fitSfft, type SfftFit, type SfftFitOptions } from './fit.ts';
import { backgroundImage, kernelAt } from './kernel.ts';

export type SfftMode = 'cross' | 'direct';

export interface SfftDifferenceInput {
  width: number;
  height: number;
  /** Background-subtracted images on one grid; NaN where there is no data. */
  science: ArrayLike<number>;
  reference: ArrayLike<number>;
  /** Centred PSF stamps (odd sides, unit sum) at the image centre. */
  sciencePsf: Float32Array;
  referencePsf: Float32Array;
  /** White-noise σ per pixel of each image (its blank sky). */
  scienceSigma: number;
  referenceSigma: number;
  /** Per-pixel variances (background and source noise); σ² everywhere when absent. */
  scienceVariance?: ArrayLike<number>;
  referenceVariance?: ArrayLike<number>;
  /** Nonzero: not fitted, and not valid in the products (grown by `maskGrow`). */
  mask?: Uint8Array;
  /** Default 'cross', as RAPID runs it. */
  mode?: SfftMode;
  /**
   * Direct mode: which image the kernel convolves. 'auto' (default) convolves the one with the
   * sharper PSF (a kernel cannot sharpen without amplifying noise); cross-convolution is
   * symmetric and ignores it.
   */
  convolve?: 'auto' | 'reference' | 'science';
  /**
   * Registration noise (px, x and y): the score's variance gains σ²·|∇|² of both images'
   * filtered parts, as ZOGY's Scorr does, so bright stars' residuals are not taken for changes.
   */
  astrometricSigma?: [number, number];
  /** Masked pixels grow by this many pixels in the products (default: the PSFs' cores). */
  maskGrow?: number;
  fit?: Omit<SfftFitOptions, 'backend' | 'targetVariance' | 'convolvedVariance'>;
  backend?: FftBackend;
}

export interface SfftDifference {
  mode: SfftMode;
  /** Which image the kernel convolved (direct mode; 'reference' across). */
  convolved: 'reference' | 'science';
  /** The fit's solution and figures (its model and pixel flags are not kept). */
  fit: Omit<SfftFit, 'model' | 'fitted'>;
  /** D before decorrelation (cross: S⊗P_R − K⊗R⊗P_S − B; direct: S − K⊗R − B); NaN where masked. */
  difference: Float32Array;
  /** D ⊗ Φ: white noise, science-image fluxes; NaN where masked. */
  decorrelated: Float32Array;
  /** Its 1σ per pixel (background and source noise). */
  uncertainty: Float32Array;
  /** PSF of the decorrelated difference at the image centre: centred, odd side, unit sum. */
  psf: Float32Array;
  psfSide: number;
  /**
   * What the decorrelated difference does to a science-image source: P_R ⊗ Φ (cross) or Φ
   * (direct), centred, unit sum; the difference's PSF at any position and sub-pixel phase is
   * the science PSF's convolved with it.
   */
  transfer: Float32Array;
  /** The decorrelated difference's matched filter over its σ (a point source's S/N at its peak). */
  score: Float32Array;
  /** 1 where a pixel is masked in the products. */
  mask: Uint8Array;
  /** σ per pixel of the decorrelated difference on blank sky: c = √N(0). */
  noise: number;
  /** ΣK at the image centre: the fitted science/reference flux ratio. */
  fluxRatio: number;
}

const side = (k: ArrayLike<number>) => Math.round(Math.sqrt(k.length));

/** A centred odd stamp's spectrum on a pw×ph grid (its centre at pixel (0, 0), so no phase). */
async function centredSpectrum(
  stamp: ArrayLike<number>,
  pw: number,
  ph: number,
  backend: FftBackend,
): Promise<Float64Array> {
  const n = side(stamp);
  const h = (n - 1) / 2;
  const grid = workBuffer(backend, pw * ph);
  for (let j = 0; j < n; j++)
    for (let i = 0; i < n; i++) grid[((j - h + ph) % ph) * pw + ((i - h + pw) % pw)] += stamp[j * n + i];
  return backend.forward(grid, pw, ph);
}

/** (a ⊗ b) of two centred odd stamps: a centred stamp of side na + nb − 1. */
function convolveStamps(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const na = side(a);
  const nb = side(b);
  const n = na + nb - 1;
  const out = new Float64Array(n * n);
  for (let ja = 0; ja < na; ja++)
    for (let ia = 0; ia < na; ia++) {
      const v = a[ja * na + ia];
      if (v === 0) continue;
      for (let jb = 0; jb < nb; jb++)
        for (let ib = 0; ib < nb; ib++) out[(ja + jb) * n + ia + ib] += v * b[jb * nb + ib];
    }
  return out;
}

/**
 * |Φ̂| on a pw×ph half spectrum, and c: Φ̂ = c/√N with N = σ_S²|Â_S|² + σ_R²|Â_R|². The
 * decorrelation is real and even (no phase): the whitening, not a shift.
 */
function decorrelationSpectrum(
  As: Float64Array | Float32Array | undefined,
  Ar: Float64Array,
  sigmaS: number,
  sigmaR: number,
): { phi: Float64Array; c: number } {
  const m = Ar.length / 2;
  const power = (spec: Float64Array | Float32Array | undefined, t: number) =>
    spec ? spec[2 * t] ** 2 + spec[2 * t + 1] ** 2 : 1;
  const N = new Float64Array(m);
  for (let t = 0; t < m; t++) N[t] = sigmaS ** 2 * power(As, t) + sigmaR ** 2 * power(Ar, t);
  const c = Math.sqrt(N[0]);
  // Where both PSFs carry no power N vanishes and so does D's signal: a floor keeps Φ finite
  // there without weighting frequencies D does not hold.
  const floor = N[0] * 1e-12;
  const phi = new Float64Array(m);
  for (let t = 0; t < m; t++) phi[t] = c / Math.sqrt(Math.max(N[t], floor));
  return { phi, c };
}

function scaleSpectrum(spec: Float64Array, by: Float64Array): void {
  for (let t = 0; t < by.length; t++) {
    spec[2 * t] *= by[t];
    spec[2 * t + 1] *= by[t];
  }
}

/**
 * The central square of a centred odd stamp holding `share` of Σ|value| (its reach: a PSF
 * product convolved with it costs the square of its side), renormalised to the original sum.
 */
function cropToEnergy(stamp: Float32Array, share: number): Float32Array {
  const n = side(stamp);
  const h = (n - 1) / 2;
  let total = 0;
  let sum = 0;
  for (const v of stamp) {
    total += Math.abs(v);
    sum += v;
  }
  let r = 1;
  for (; r < h; r++) {
    let inside = 0;
    for (let j = h - r; j <= h + r; j++)
      for (let i = h - r; i <= h + r; i++) inside += Math.abs(stamp[j * n + i]);
    if (inside >= share * total) break;
  }
  const m = 2 * r + 1;
  const out = new Float32Array(m * m);
  let kept = 0;
  for (let j = 0; j < m; j++)
    for (let i = 0; i < m; i++) {
      out[j * m + i] = stamp[(h - r + j) * n + h - r + i];
      kept += out[j * m + i];
    }
  for (let i = 0; i < out.length; i++) out[i] *= sum / kept;
  return out;
}

/** Fit the kernel and make SFFT's difference, its decorrelation, PSF, uncertainty and score. */
export async function sfftDifference(input: SfftDifferenceInput): Promise<SfftDifference> {
  const choice = input.convolve ?? 'auto';
  const convolveScience =
    (input.mode ?? 'cross') === 'direct' &&
    (choice === 'science' ||
      (choice === 'auto' && halfMaxWidth(input.sciencePsf) < halfMaxWidth(input.referencePsf)));
  if (!convolveScience) return { ...(await referenceConvolved(input)), convolved: 'reference' };
  // The science image convolved toward the reference: the same machinery with the roles
  // swapped (R − K⊗S − B, in the reference's units), turned back into the science's units and
  // sign: D = −D′/ΣK, the flux ratio 1/ΣK. A science source's PSF in it is P_S ⊗ (K/ΣK) ⊗ Φ′.
  const r = await referenceConvolved({
    ...input,
    science: input.reference,
    reference: input.science,
    sciencePsf: input.referencePsf,
    referencePsf: input.sciencePsf,
    scienceSigma: input.referenceSigma,
    referenceSigma: input.scienceSigma,
    scienceVariance: input.referenceVariance,
    referenceVariance: input.scienceVariance,
  });
  const k0 = r.fluxRatio;
  const flip = (a: Float32Array, by: number) => a.map((v) => v * by);
  const K = kernelAt(r.fit.solution, (input.width - 1) / 2, (input.height - 1) / 2).map((v) => v / k0);
  return {
    ...r,
    convolved: 'science',
    difference: flip(r.difference, -1 / k0),
    decorrelated: flip(r.decorrelated, -1 / k0),
    uncertainty: flip(r.uncertainty, 1 / k0),
    score: flip(r.score, -1),
    noise: r.noise / k0,
    fluxRatio: 1 / k0,
    transfer: Float32Array.from(convolveStamps(K, r.transfer)),
  };
}

/** The reference convolved toward the science image (across: both cross-convolved). */
async function referenceConvolved(input: SfftDifferenceInput): Promise<Omit<SfftDifference, 'convolved'>> {
  const { width, height, sciencePsf, referencePsf } = input;
  const n = width * height;
  const mode = input.mode ?? 'cross';
  const cross = mode === 'cross';
  const backend = input.backend ?? defaultBackend();
  const mask = input.mask ?? new Uint8Array(n);
  const sVar = input.scienceVariance;
  const rVar = input.referenceVariance;
  const w = Math.max(1, Math.round(input.fit?.halfWidth ?? 9));
  const reachOf = (k: Float32Array) => (side(k) - 1) / 2;
  const psfReach = Math.max(reachOf(sciencePsf), reachOf(referencePsf));

  // One zero-padded grid for every whole-image convolution (the PSFs', the kernel's and the
  // decorrelation's reach: nothing wraps), and each image's spectrum computed once on it.
  // Masked pixels are zero in both images.
  const pw = backend.goodSize(width + side(sciencePsf) + side(referencePsf) + kernelSide(w));
  const ph = backend.goodSize(height + side(sciencePsf) + side(referencePsf) + kernelSide(w));
  const onGrid = (src: ArrayLike<number>) => {
    const grid = workBuffer(backend, pw * ph);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        const i = y * width + x;
        const v = src[i];
        grid[y * pw + x] = mask[i] || !Number.isFinite(v) ? 0 : v;
      }
    return grid;
  };
  const offGrid = (grid: ArrayLike<number>) => {
    const out = new Float32Array(n);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out[y * width + x] = grid[y * pw + x];
    return out;
  };
  const inverse = async (spec: Float64Array | Float32Array, ...filters: (Float64Array | Float32Array)[]) => {
    const out = workBuffer(backend, spec.length);
    out.set(spec);
    for (const f of filters) multiplySpectra(out, f);
    return backend.inverse(out, pw, ph);
  };
  // Kept in float32 until the decorrelation (half the memory; their rounding is far below
  // the images' noise).
  const sciSpec = Float32Array.from(await backend.forward(onGrid(input.science), pw, ph));
  const refSpec = Float32Array.from(await backend.forward(onGrid(input.reference), pw, ph));
  const ps = Float32Array.from(await centredSpectrum(sciencePsf, pw, ph, backend));
  const pr = Float32Array.from(await centredSpectrum(referencePsf, pw, ph, backend));

  // Not fitted: within the convolutions' reach of a masked pixel (zero-filled there, so the
  // convolved images are darkened), and within the kernel's reach of the edge (the model takes
  // the image as zero beyond it).
  const invalid = new Uint8Array(n);
  for (let i = 0; i < n; i++)
    invalid[i] =
      mask[i] || !Number.isFinite(input.science[i]) || !Number.isFinite(input.reference[i]) ? 1 : 0;
  const within = (x: number, y: number, m: number) => x < m || y < m || x >= width - m || y >= height - m;
  // Products are valid away from masked pixels (grown by the PSF core) and the border.
  const border = w + (cross ? psfReach : 0);
  const grow = input.maskGrow ?? Math.ceil(Math.max(side(sciencePsf), side(referencePsf)) / 4);
  const productMask = dilate(invalid, width, height, grow);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) if (within(x, y, border)) productMask[y * width + x] = 1;

  // The fit in a scope of its own: its inputs (variances, fit flags) are freed when it ends.
  const fitKernel = async () => {
    // What the kernel is fitted between: S ⊗ P_R and R ⊗ P_S (cross), or S and R (direct).
    const target = cross ? offGrid(await inverse(sciSpec, pr)) : offGrid(onGrid(input.science));
    const convolved = cross ? offGrid(await inverse(refSpec, ps)) : offGrid(onGrid(input.reference));
    // Their variances for the rejection of outliers: each pixel's variance times ΣP² (exact on
    // blank sky; near a bright star's core it overstates the smoothed variance, so rejects less).
    const sumSq = (k: Float32Array) => k.reduce((t, v) => t + v * v, 0);
    const scaled = (v: ArrayLike<number> | undefined, by: number) => {
      if (!v) return undefined;
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = v[i] * by;
      return out;
    };
    const targetVariance = scaled(sVar, cross ? sumSq(referencePsf) : 1);
    const convolvedVariance = scaled(rVar, cross ? sumSq(sciencePsf) : 1);

    const nearMask = dilate(invalid, width, height, cross ? psfReach : 0);
    const usable = new Uint8Array(n);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        const i = y * width + x;
        usable[i] = !within(x, y, w) && !nearMask[i] ? 1 : 0;
      }
    const fit = await fitSfft(convolved, target, width, height, usable, {
      ...input.fit,
      halfWidth: w,
      targetVariance,
      convolvedVariance,
      backend,
    });
    // The model is needed only for the difference (and not kept: 134 MB at 4088²).
    const { model, fitted: _fitted, ...summary } = fit;
    const difference = new Float32Array(n);
    for (let i = 0; i < n; i++) difference[i] = productMask[i] ? Number.NaN : target[i] - model[i];
    return { fit: summary, difference };
  };
  const { fit, difference } = await fitKernel();
  const K = kernelAt(fit.solution, (width - 1) / 2, (height - 1) / 2);
  let fluxRatio = 0;
  for (const v of K) fluxRatio += v;

  // Φ applied to the images themselves, not to D: D is smooth (both images low-passed by the
  // PSFs), and Φ, which restores the high frequencies, would ring at every edge where a smooth
  // D is cut (the masks, the border). White-noise images cut at an edge carry no such step:
  // D ⊗ Φ = Φ A_S ⊗ S − Σ_p P_p(x)·(Φ K_p A'_R ⊗ R) − B, the kernel's slow variation taken
  // outside the convolution (A'_R = P_S across, δ direct).
  const ar = await centredSpectrum(K, pw, ph, backend);
  if (cross) multiplySpectra(ar, ps);
  const { phi, c } = decorrelationSpectrum(
    cross ? pr : undefined,
    ar,
    input.scienceSigma,
    input.referenceSigma,
  );
  const terms = monomials(fit.solution.kernelOrder);
  const { frame } = fit.solution;
  // D̂ ⊗ Φ as one spectrum when the kernel is constant (and the score is filtered from it);
  // the whole-image work arrays live in this scope only.
  const decorrelate = async () => {
    let dSpec: Float64Array | undefined;
    let dd: Float64Array;
    if (terms.length === 1) {
      // Φ·(Â_S Ŝ − Â_R R̂) in one pass (Â_S = P̂_R across, 1 direct).
      dSpec = workBuffer(backend, sciSpec.length);
      for (let t = 0; t < dSpec.length; t += 2) {
        const sr = sciSpec[t];
        const si = sciSpec[t + 1];
        const ar0 = cross ? pr[t] : 1;
        const ai0 = cross ? pr[t + 1] : 0;
        const f = phi[t >> 1];
        dSpec[t] = f * (ar0 * sr - ai0 * si - (ar[t] * refSpec[t] - ar[t + 1] * refSpec[t + 1]));
        dSpec[t + 1] = f * (ar0 * si + ai0 * sr - (ar[t] * refSpec[t + 1] + ar[t + 1] * refSpec[t]));
      }
      dd = Float64Array.from(await backend.inverse(workCopy(backend, dSpec), pw, ph));
    } else {
      const phiSpec = new Float64Array(phi.length * 2);
      for (let t = 0; t < phi.length; t++) phiSpec[2 * t] = phi[t];
      dd = Float64Array.from(await inverse(sciSpec, ...(cross ? [phiSpec, pr] : [phiSpec])));
      for (let p = 0; p < terms.length; p++) {
        const kp = await centredSpectrum(fit.solution.kernel[p], pw, ph, backend);
        const part = await inverse(refSpec, ...(cross ? [phiSpec, kp, ps] : [phiSpec, kp]));
        const [a, b] = terms[p];
        for (let y = 0; y < height; y++) {
          const v = ((y - frame.cy) / frame.scale) ** b;
          for (let x = 0; x < width; x++)
            dd[y * pw + x] -= ((x - frame.cx) / frame.scale) ** a * v * part[y * pw + x];
        }
      }
    }
    const bg = backgroundImage(fit.solution, width, height);
    const decorrelated = new Float32Array(n);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        const i = y * width + x;
        decorrelated[i] = productMask[i] ? Number.NaN : dd[y * pw + x] - bg[i];
      }
    return { decorrelated, dSpec };
  };
  const decorrelation = await decorrelate();
  const { decorrelated } = decorrelation;
  let dSpec = decorrelation.dSpec;

  // The decorrelated difference's PSF: P_S ⊗ A_S ⊗ Φ, on a grid large enough for its wings.
  const psfSide = Math.min(
    2 * Math.floor(Math.min(width, height) / 2) - 1,
    side(sciencePsf) + side(referencePsf) - 1 + (cross ? 0 : 2 * Math.ceil(side(sciencePsf) / 4)),
  );
  const g = backend.goodSize(2 * psfSide);
  const gk = await centredSpectrum(K, g, g, backend);
  const gr = await centredSpectrum(referencePsf, g, g, backend);
  if (cross) multiplySpectra(gk, await centredSpectrum(sciencePsf, g, g, backend));
  const small = decorrelationSpectrum(cross ? gr : undefined, gk, input.scienceSigma, input.referenceSigma);
  const source = cross ? convolveStamps(sciencePsf, referencePsf) : Float64Array.from(sciencePsf);
  const pSpec = await centredSpectrum(source, g, g, backend);
  scaleSpectrum(pSpec, small.phi);
  const pGrid = await backend.inverse(pSpec, g, g);
  const psf = new Float32Array(psfSide * psfSide);
  const h = (psfSide - 1) / 2;
  let sum = 0;
  for (let j = 0; j < psfSide; j++)
    for (let i = 0; i < psfSide; i++) {
      const v = pGrid[((j - h + g) % g) * g + ((i - h + g) % g)];
      psf[j * psfSide + i] = v;
      sum += v;
    }
  for (let i = 0; i < psf.length; i++) psf[i] /= sum;
  // The transfer kernel T (P_R ⊗ Φ or Φ) on the same small grid, cut to the reference PSF's
  // side plus the kernel's (cross) or the kernel's (direct).
  const tSpec = cross ? gr.slice() : new Float64Array(gr.length).map((_, t) => (t % 2 === 0 ? 1 : 0));
  scaleSpectrum(tSpec, small.phi);
  const tGrid = await backend.inverse(tSpec, g, g);
  const tSide = Math.min(psfSide, cross ? side(referencePsf) + kernelSide(w) - 1 : kernelSide(w) + 2);
  const transfer = new Float32Array(tSide * tSide);
  const th = (tSide - 1) / 2;
  let tSum = 0;
  for (let j = 0; j < tSide; j++)
    for (let i = 0; i < tSide; i++) {
      const v = tGrid[((j - th + g) % g) * g + ((i - th + g) % g)];
      transfer[j * tSide + i] = v;
      tSum += v;
    }
  for (let i = 0; i < transfer.length; i++) transfer[i] /= tSum;
  const compact = cropToEnergy(transfer, 0.999);

  // Per-pixel variance of the decorrelated difference: the inputs' variances carried as on
  // blank sky (σ_S² + r²σ_R² there, c² after whitening), so bright sources' photon noise counts.
  const uncertainty = new Float32Array(n);
  const sS2 = input.scienceSigma ** 2;
  const sR2 = input.referenceSigma ** 2;
  for (let i = 0; i < n; i++) {
    if (productMask[i]) {
      uncertainty[i] = Number.NaN;
      continue;
    }
    const vs = sVar && Number.isFinite(sVar[i]) ? Math.max(sVar[i], sS2) : sS2;
    const vr = rVar && Number.isFinite(rVar[i]) ? Math.max(rVar[i], sR2) : sR2;
    uncertainty[i] = Math.sqrt(c * c + (vs - sS2) + fluxRatio ** 2 * (vr - sR2));
  }

  // Matched filter over its σ: (D_d ⊗ P_D↔) / √(U² ⊗ P_D²), both on the shared grid.
  // The matched filter's variance U² ⊗ P_D², made first and kept on the image's own grid, so
  // that its whole-image buffers are gone before the filtered parts below are made.
  const filteredVariance = async () => {
    const u2 = workBuffer(backend, pw * ph);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        const v = uncertainty[y * width + x];
        u2[y * pw + x] = Number.isFinite(v) ? v * v : c * c;
      }
    const psf2 = await centredSpectrum(
      psf.map((v) => v * v),
      pw,
      ph,
      backend,
    );
    return offGrid(await inverse(await backend.forward(u2, pw, ph), psf2));
  };
  const scoreMap = async (den: Float32Array) => {
    const flipped = psf.slice().reverse();
    const pdSpec = await centredSpectrum(flipped, pw, ph, backend);
    const [sx, sy] = input.astrometricSigma ?? [0, 0];
    // The numerator is S_N − S_R (the science's and the reference's filtered parts); apart, they
    // give the astrometric term's gradients (constant kernel; with a varying one it is left out).
    // Each part is read onto the image's grid as soon as it is made (value and σ²|∇|²), so one
    // whole-image array is alive at a time.
    const value = new Float32Array(n);
    const vast = new Float32Array(n);
    const addPart = (part: ArrayLike<number>, sign: number, gradients: boolean) => {
      const g = part as Float64Array;
      for (let y = 0; y < height; y++)
        for (let x = 0; x < width; x++) {
          const i = y * width + x;
          const p = y * pw + x;
          value[i] += sign * g[p];
          if (!gradients || x === 0 || y === 0 || x === width - 1 || y === height - 1) continue;
          const gx = (g[p + 1] - g[p - 1]) / 2;
          const gy = (g[p + pw] - g[p - pw]) / 2;
          vast[i] += sx * sx * gx * gx + sy * sy * gy * gy;
        }
    };
    if (dSpec && (sx > 0 || sy > 0)) {
      // Φ·Â_S·Ŝ; then D̂'s buffer becomes Φ·Â_R·R̂ = Φ·Â_S·Ŝ − D̂ (no third whole-image buffer).
      const snSpec = workBuffer(backend, sciSpec.length);
      snSpec.set(sciSpec);
      if (cross) multiplySpectra(snSpec, pr);
      for (let t = 0; t < snSpec.length; t++) {
        snSpec[t] *= phi[t >> 1];
        dSpec[t] = snSpec[t] - dSpec[t];
      }
      multiplySpectra(snSpec, pdSpec);
      multiplySpectra(dSpec, pdSpec);
      addPart(await backend.inverse(snSpec, pw, ph), 1, true);
      addPart(await backend.inverse(dSpec, pw, ph), -1, true);
    } else if (dSpec) {
      multiplySpectra(dSpec, pdSpec);
      addPart(await backend.inverse(dSpec, pw, ph), 1, false);
    } else addPart(await inverse(await backend.forward(onGrid(decorrelated), pw, ph), pdSpec), 1, false);
    const score = new Float32Array(n);
    for (let i = 0; i < n; i++)
      score[i] = productMask[i] ? Number.NaN : value[i] / Math.sqrt(den[i] + vast[i]);
    return score;
  };
  const score = await scoreMap(await filteredVariance());
  dSpec = undefined;

  return {
    mode,
    fit,
    difference,
    decorrelated,
    uncertainty,
    psf,
    psfSide,
    transfer: compact,
    score,
    mask: productMask,
    noise: c,
    fluxRatio,
  };
}
