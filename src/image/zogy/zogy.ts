/**
 * ZOGY image subtraction (Zackay, Ofek & Gal-Yam 2016, ApJ 830, 27) on one (sub)image.
 *
 * With N the new (science) image, R the reference on the same grid, P their PSFs, F their flux
 * scales and σ their background noise, in Fourier space:
 *
 *   den  = √(σ_n² F_r² |P̂_r|² + σ_r² F_n² |P̂_n|²)
 *   D̂    = (F_r P̂_r N̂ − F_n P̂_n R̂) / den          (white noise of unit variance)
 *   F_D  = F_r F_n / √(σ_n² F_r² + σ_r² F_n²),   P̂_D = F_r F_n P̂_r P̂_n / (F_D den)
 *   Ŝ    = F_D D̂ conj(P̂_D) = k̂_n N̂ − k̂_r R̂       (the matched-filter image)
 *   Scorr = S / √(V_n ⊗ k_n² + V_r ⊗ k_r² + V_ast)
 *
 * V_n, V_r are the images' per-pixel variances (background and source noise), so Scorr counts
 * bright stars' Poisson noise; V_ast = σ_x² ((∂S_N/∂x)² + (∂S_R/∂x)²) + σ_y² (…) is the
 * astrometric-noise term with S_N = k_n ⊗ N and S_R = k_r ⊗ R.
 *
 * We take F_r = 1 and F_n = the flux ratio (science flux / reference flux of the same source),
 * and return D in the science image's units, D_sci = D · F_n / F_D: a transient of flux f in the
 * science image appears in D_sci as f · P_D. Its uncertainty is (F_n/F_D)·√(V_n ⊗ K_n² + V_r ⊗ K_r²)
 * with K̂_n = F_r P̂_r / den, K̂_r = F_n P̂_n / den (D = K_n ⊗ N − K_r ⊗ R).
 *
 * Images are padded with zeros (after background subtraction zero is the sky) to an FFT-friendly
 * size, so kernels never wrap around; NaN and masked pixels are filled with zero before the
 * transforms and set to NaN in the products after. Transforms and the spectra of D and S run in
 * float64; real-space planes are float32 (the products' precision).
 */
import { BadInputError } from '../../util/errors.ts';
import { type FftBackend, fftBackend, sharedFloat32, sharedFloat64 } from '../fft/index.ts';

export interface ZogyInput {
  width: number;
  height: number;
  /** Background-subtracted science (new) image; NaN where invalid. */
  science: Float32Array;
  /** Background-subtracted reference on the science grid; NaN where invalid. */
  reference: Float32Array;
  /** Per-pixel variance of each image (background plus source noise), same units squared. */
  scienceVariance: Float32Array;
  referenceVariance: Float32Array;
  /** PSF stamps, square, odd side, centred, unit sum (as PsfModel.stamp). */
  sciencePsf: Float32Array;
  referencePsf: Float32Array;
  /** Background noise σ of each image (the white-noise level of the ZOGY denominator). */
  scienceSigma: number;
  referenceSigma: number;
  /** Science flux / reference flux of the same source (F_n / F_r). */
  fluxRatio: number;
  /** Astrometric registration noise σ_x, σ_y in pixels. */
  astrometricSigma?: [number, number];
  /** Pixels not to trust (nonzero), in either image. */
  mask?: Uint8Array;
  /**
   * Residual registration offset (science − reference), px: the reference is shifted by it in
   * Fourier space (an exact phase ramp, where interpolation kernels bias small shifts).
   */
  referenceShift?: [number, number];
}

/** Time per step of one ZOGY call, ms. */
export interface ZogyTimings {
  /** Masks of invalid pixels. */
  masks: number;
  /** The kernels from the PSFs (none when cached from the previous sub-image). */
  kernels: number;
  /** Transforms of both images and D, S (and S_N for the astrometric term). */
  differenceAndScore: number;
  /** The variance maps through the squared kernels. */
  variances: number;
  /** Products on the image grid: D, its uncertainty, S, Scorr. */
  products: number;
}

export interface ZogyResult {
  /** The difference image in science units (D · F_n / F_D); NaN where masked. */
  difference: Float32Array;
  /** Its 1σ uncertainty per pixel. */
  differenceUncertainty: Float32Array;
  /** PSF of the difference image, centred, unit sum, the side of the larger input PSF. */
  differencePsf: Float32Array;
  /** ZOGY's flux normalisation F_D (of D before scaling to science units). */
  fluxScale: number;
  /** Matched-filter image S (ZOGY units). */
  score: Float32Array;
  /** S corrected for source and astrometric noise: in units of its own σ. */
  scoreCorr: Float32Array;
  /** Pixels masked in the products (input mask, grown by the PSF core). */
  mask: Uint8Array;
  /** K_n in real space (centred, odd side): D = K_n ⊗ N − K_r ⊗ R, for DifferencePsf. */
  scienceKernel: Float64Array;
  /** F_n / F_D: the scale from ZOGY's D to science units. */
  scale: number;
  /** Milliseconds spent in each step (for benchmarks). */
  timings: ZogyTimings;
}

function checkPsf(psf: Float32Array, name: string, width: number, height: number): number {
  const side = Math.round(Math.sqrt(psf.length));
  if (side * side !== psf.length || side % 2 !== 1) {
    throw new BadInputError(`${name} PSF must be a square stamp of odd side, got ${psf.length} values`);
  }
  if (side > width || side > height) {
    throw new BadInputError(`${name} PSF (${side}×${side}) is larger than the image (${width}×${height})`);
  }
  let sum = 0;
  for (const v of psf) {
    if (!Number.isFinite(v)) throw new BadInputError(`${name} PSF has non-finite values`);
    sum += v;
  }
  if (!(sum > 0)) throw new BadInputError(`${name} PSF's sum is not positive`);
  return side;
}

/** `src` (NaN and masked → fill) at offset (pad, pad) of a plane W wide, zero elsewhere. */
function embed(
  src: ArrayLike<number>,
  w: number,
  h: number,
  W: number,
  pad: number,
  mask: Uint8Array,
  fill: number,
  out: Float32Array,
): void {
  out.fill(0);
  for (let y = 0; y < h; y++) {
    const row = (y + pad) * W + pad;
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const v = src[i];
      out[row + x] = Number.isFinite(v) && !mask[i] ? v : fill;
    }
  }
}

/** A centred odd-side stamp placed with its centre at (0, 0), wrapping around (for convolution). */
function embedKernel(
  k: ArrayLike<number>,
  side: number,
  W: number,
  H: number,
  square = false,
  into?: Float64Array,
): Float64Array {
  const out = into ? into.fill(0) : new Float64Array(W * H);
  const c = (side - 1) / 2;
  for (let j = 0; j < side; j++) {
    const y = (j - c + H) % H;
    for (let i = 0; i < side; i++) {
      const x = (i - c + W) % W;
      const v = k[j * side + i];
      out[y * W + x] += square ? v * v : v;
    }
  }
  return out;
}

/** The centred side×side stamp around (0, 0) of a wrapped plane. */
function cutKernel(plane: ArrayLike<number>, W: number, H: number, side: number): Float64Array {
  const out = new Float64Array(side * side);
  const c = (side - 1) / 2;
  for (let j = 0; j < side; j++) {
    const y = (j - c + H) % H;
    for (let i = 0; i < side; i++) out[j * side + i] = plane[y * W + ((i - c + W) % W)];
  }
  return out;
}

/** Kernel support: the side of the centred stamp holding all but 1e-6 of the kernel's energy (odd, ≤ max). */
function supportSide(plane: ArrayLike<number>, W: number, H: number, max: number): number {
  let total = 0;
  for (let i = 0; i < W * H; i++) total += plane[i] * plane[i];
  let side = 3;
  for (; side < max; side += 2) {
    const k = cutKernel(plane, W, H, side);
    let e = 0;
    for (const v of k) e += v * v;
    if (e >= (1 - 1e-6) * total) break;
  }
  return Math.min(side, max);
}

/** Every image (and the mask, when given) has width × height pixels. */
export function checkImages(
  input: Pick<
    ZogyInput,
    'width' | 'height' | 'science' | 'reference' | 'scienceVariance' | 'referenceVariance' | 'mask'
  >,
): void {
  const { width: w, height: h } = input;
  for (const [name, a] of [
    ['science', input.science],
    ['reference', input.reference],
    ['science variance', input.scienceVariance],
    ['reference variance', input.referenceVariance],
    ['mask', input.mask],
  ] as const) {
    if (a && a.length !== w * h)
      throw new BadInputError(`${name} has ${a.length} pixels, expected ${w}×${h}`);
  }
}

/** Zero padding around an image so that kernels built from PSFs of this side never wrap around. */
export function zogyPadding(psfSide: number): number {
  return Math.max(16, 2 * psfSide);
}

export interface ZogyOptions {
  /**
   * FFT grid (at least the image plus twice zogyPadding on each axis); default: the backend's
   * good size. Sub-images share one grid so that they can share kernels.
   */
  grid?: { width: number; height: number };
  /** Kernels and work buffers kept from call to call (sub-images, one after another). */
  cache?: ZogyCache;
  /** Arrays (width×height) to write the image products into, instead of new ones. */
  products?: ZogyImages;
}

/** The image products of ZOGY. */
export interface ZogyImages {
  difference: Float32Array;
  differenceUncertainty: Float32Array;
  score: Float32Array;
  scoreCorr: Float32Array;
  mask: Uint8Array;
}

/**
 * What one call leaves for the next: kernels, used again when made from the same PSFs, noise
 * and grid (sub-images with one PSF share them), and the work buffers of the grid (fresh
 * buffers per sub-image would cost page faults and collections). One cache serves one call at
 * a time.
 */
export interface ZogyCache {
  kernels?: ZogyKernels;
  buffers?: { width: number; height: number; planes: Float32Array[]; spectra: Float64Array[] };
}

/** ZOGY's noise and flux parameters: background σ of each image and F_n (F_r = 1). */
export interface ZogyNoise {
  sn: number;
  sr: number;
  Fn: number;
}

/** Everything ZOGY derives from the two PSFs and the noise on one FFT grid. */
export interface ZogyKernels {
  width: number;
  height: number;
  psfN: Float32Array;
  psfR: Float32Array;
  noise: ZogyNoise;
  /** F_D. */
  fluxScale: number;
  /** K̂_n and K̂_r (of D) and c = F_D conj(P̂_D), so that k̂_n = c K̂_n, k̂_r = c K̂_r (of S). */
  Kn: Float64Array;
  Kr: Float64Array;
  c: Float64Array;
  /**
   * Spectra of the squared real-space kernels k_n², k_r² (of S) and K_n², K_r² (of D), which
   * only weigh variance maps: float32 is ample for them.
   */
  kn2: Float32Array;
  kr2: Float32Array;
  Kn2: Float32Array;
  Kr2: Float32Array;
  differencePsf: Float32Array;
  /** K_n in real space (centred, odd side). */
  scienceKernel: Float64Array;
}

/** True when `k` was made from these PSFs and noise on this grid. */
export function kernelsMatch(
  k: ZogyKernels,
  psfN: Float32Array,
  psfR: Float32Array,
  noise: ZogyNoise,
  width: number,
  height: number,
): boolean {
  const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => v === b[i]);
  return (
    k.width === width &&
    k.height === height &&
    k.noise.sn === noise.sn &&
    k.noise.sr === noise.sr &&
    k.noise.Fn === noise.Fn &&
    same(k.psfN, psfN) &&
    same(k.psfR, psfR)
  );
}

/** ZOGY's kernels for two PSF stamps (checked as for zogy) and the noise, on a W×H grid. */
export async function zogyKernels(
  psfN: Float32Array,
  psfR: Float32Array,
  noise: ZogyNoise,
  W: number,
  H: number,
  backend: FftBackend = fftBackend(),
): Promise<ZogyKernels> {
  const sideN = Math.round(Math.sqrt(psfN.length));
  const sideR = Math.round(Math.sqrt(psfR.length));
  const psfSide = Math.max(sideN, sideR);
  const { sn, sr, Fn } = noise;
  const Fr = 1;
  const FD = (Fr * Fn) / Math.sqrt(sn * sn * Fr * Fr + sr * sr * Fn * Fn);
  const psfs = { psfN, sideN, psfR, sideR };
  const noiseFr = { sn, sr, Fn, Fr };
  const full = await kernelSpectra(psfs, noiseFr, FD, W, H, backend, false);

  // The kernels in real space, from a small grid (they reach a few PSF widths).
  const G = backend.goodSize(Math.max(64, 8 * psfSide));
  const small = await kernelSpectra(psfs, noiseFr, FD, G, G, backend, true);
  const spaceOf = async (spec: Float64Array) => {
    const plane = Float64Array.from(await backend.inverse(Float64Array.from(spec), G, G));
    const side = supportSide(plane, G, G, G - 1);
    return { side, stamp: cutKernel(plane, G, G, side) };
  };
  const kN = await spaceOf(small.kn!);
  const kR = await spaceOf(small.kr!);
  const KN = await spaceOf(small.Kn);
  const KR = await spaceOf(small.Kr);
  const pd = Float64Array.from(await backend.inverse(small.PD!, G, G));
  const differencePsf = Float32Array.from(cutKernel(pd, G, G, psfSide));
  {
    let s = 0;
    for (const v of differencePsf) s += v;
    for (let i = 0; i < differencePsf.length; i++) differencePsf[i] /= s;
  }
  // One plane and one spectrum serve the four transforms.
  const plane = new Float64Array(W * H);
  const spectrum = new Float64Array(2 * ((W >> 1) + 1) * H);
  const squared = async (k: { side: number; stamp: Float64Array }) =>
    Float32Array.from(await backend.forward(embedKernel(k.stamp, k.side, W, H, true, plane), W, H, spectrum));
  return {
    width: W,
    height: H,
    psfN: psfN.slice(),
    psfR: psfR.slice(),
    noise: { sn, sr, Fn },
    fluxScale: FD,
    Kn: full.Kn,
    Kr: full.Kr,
    c: full.c,
    kn2: await squared(kN),
    kr2: await squared(kR),
    Kn2: await squared(KN),
    Kr2: await squared(KR),
    differencePsf,
    scienceKernel: KN.stamp,
  };
}

/**
 * Subtract `reference` from `science` with ZOGY. Pure numerics (FFTs on the given backend).
 *
 * Nine transforms per image: N̂, R̂, V̂_n, V̂_r forward; D, S, S_N (only for the astrometric
 * term), V(S) and V(D) inverse; the kernels add six more unless given.
 */
export async function zogy(
  input: ZogyInput,
  backend: FftBackend = fftBackend(),
  options: ZogyOptions = {},
): Promise<ZogyResult> {
  const { width: w, height: h } = input;
  const n = w * h;
  checkImages(input);
  const sideN = checkPsf(input.sciencePsf, 'science', w, h);
  const sideR = checkPsf(input.referencePsf, 'reference', w, h);
  const { scienceSigma: sn, referenceSigma: sr, fluxRatio: Fn } = input;
  if (!(sn > 0) || !(sr > 0))
    throw new BadInputError(`background noise must be positive (science ${sn}, reference ${sr})`);
  if (!(Fn > 0) || !Number.isFinite(Fn))
    throw new BadInputError(`the flux ratio must be positive, got ${Fn}`);
  const [sx, sy] = input.astrometricSigma ?? [0, 0];
  const astrometric = sx > 0 || sy > 0;
  // Milliseconds per step, for benchmarks.
  const timings: ZogyTimings = { masks: 0, kernels: 0, differenceAndScore: 0, variances: 0, products: 0 };
  let t = performance.now();
  const lap = (step: keyof ZogyTimings) => {
    const now = performance.now();
    timings[step] += now - t;
    t = now;
  };

  // Pixels to mask: the input mask and non-finite pixels of either image.
  const masked = new Uint8Array(n);
  let valid = 0;
  for (let i = 0; i < n; i++) {
    const bad =
      (input.mask?.[i] ?? 0) !== 0 ||
      !Number.isFinite(input.science[i]) ||
      !Number.isFinite(input.reference[i]);
    masked[i] = bad ? 1 : 0;
    if (!bad) valid++;
  }
  if (valid === 0) throw new BadInputError('no pixel is valid in both images (no overlap, or all masked)');
  lap('masks');

  // Padding: wide enough for the kernels, which reach a few PSF widths.
  const psfSide = Math.max(sideN, sideR);
  const pad = zogyPadding(psfSide);
  const W = options.grid?.width ?? backend.goodSize(w + 2 * pad);
  const H = options.grid?.height ?? backend.goodSize(h + 2 * pad);
  if (W < w + 2 * pad || H < h + 2 * pad)
    throw new RangeError(`FFT grid ${W}×${H} is too small for ${w}×${h} plus ${pad} px of padding`);
  const noise = { sn, sr, Fn };
  const cached = options.cache?.kernels;
  const k =
    cached && kernelsMatch(cached, input.sciencePsf, input.referencePsf, noise, W, H)
      ? cached
      : await zogyKernels(input.sciencePsf, input.referencePsf, noise, W, H, backend);
  if (options.cache) options.cache.kernels = k;
  const FD = k.fluxScale;
  lap('kernels');

  // Work buffers: one input plane, three spectra and up to five output planes, reused from
  // transform to transform (and from call to call through the cache).
  const nh2 = 2 * ((W >> 1) + 1) * H;
  let buffers = options.cache?.buffers;
  if (!buffers || buffers.width !== W || buffers.height !== H) {
    const f64 = (len: number) => (backend.sharedMemory ? sharedFloat64(len) : new Float64Array(len));
    const f32 = (len: number) => (backend.sharedMemory ? sharedFloat32(len) : new Float32Array(len));
    buffers = {
      width: W,
      height: H,
      planes: Array.from({ length: 6 }, () => f32(W * H)),
      spectra: Array.from({ length: 3 }, () => f64(nh2)),
    };
    if (options.cache) options.cache.buffers = buffers;
  }
  const [plane, ...outputs] = buffers.planes;
  const [A, B, C] = buffers.spectra;
  const fwd = (src: Float32Array, fill = 0) => {
    embed(src, w, h, W, pad, masked, fill, plane);
    return backend.forward(plane, W, H, A);
  };
  const inv = async (spec: Float64Array) =>
    (await backend.inverse(spec, W, H, outputs.pop())) as Float32Array;
  const shift = input.referenceShift ?? [0, 0];
  const { Kn, Kr, c, kn2, kr2, Kn2, Kr2 } = k;

  // D̂ = K̂_n N̂ − K̂_r R̂ (in B);  Ŝ_N = c K̂_n N̂ (in C);  Ŝ = Ŝ_N − c K̂_r R̂ (in A).
  await fwd(input.science);
  for (let i = 0; i < nh2; i += 2) {
    const a = A[i];
    const b = A[i + 1];
    const tr = Kn[i] * a - Kn[i + 1] * b;
    const ti = Kn[i] * b + Kn[i + 1] * a;
    B[i] = tr;
    B[i + 1] = ti;
    C[i] = c[i] * tr - c[i + 1] * ti;
    C[i + 1] = c[i] * ti + c[i + 1] * tr;
  }
  await fwd(input.reference);
  phaseShift(A, W, H, shift[0], shift[1]);
  for (let i = 0; i < nh2; i += 2) {
    const a = A[i];
    const b = A[i + 1];
    const ur = Kr[i] * a - Kr[i + 1] * b;
    const ui = Kr[i] * b + Kr[i + 1] * a;
    B[i] -= ur;
    B[i + 1] -= ui;
    A[i] = C[i] - (c[i] * ur - c[i + 1] * ui);
    A[i + 1] = C[i + 1] - (c[i] * ui + c[i + 1] * ur);
  }
  const S = await inv(A);
  const D = await inv(B);
  const SN = astrometric ? await inv(C) : undefined;
  lap('differenceAndScore');

  // The variance of a filtered image is the variance map filtered by the squared kernel
  // (neighbouring pixels' noise taken as independent): V(S) in B, V(D) in C.
  await fwd(input.scienceVariance, sn * sn);
  for (let i = 0; i < nh2; i += 2) {
    const a = A[i];
    const b = A[i + 1];
    B[i] = kn2[i] * a - kn2[i + 1] * b;
    B[i + 1] = kn2[i] * b + kn2[i + 1] * a;
    C[i] = Kn2[i] * a - Kn2[i + 1] * b;
    C[i + 1] = Kn2[i] * b + Kn2[i + 1] * a;
  }
  await fwd(input.referenceVariance, sr * sr);
  phaseShift(A, W, H, shift[0], shift[1]);
  for (let i = 0; i < nh2; i += 2) {
    const a = A[i];
    const b = A[i + 1];
    B[i] += kr2[i] * a - kr2[i + 1] * b;
    B[i + 1] += kr2[i] * b + kr2[i + 1] * a;
    C[i] += Kr2[i] * a - Kr2[i + 1] * b;
    C[i + 1] += Kr2[i] * b + Kr2[i + 1] * a;
  }
  const VS = await inv(B);
  const VD = await inv(C);
  lap('variances');

  // Products on the original grid. Masked pixels grow by the PSF core (their fill value
  // leaks into the neighbours through the kernels).
  const grow = Math.max(1, Math.round(psfSide / 8));
  const given = options.products;
  if (
    given &&
    [given.difference, given.differenceUncertainty, given.score, given.scoreCorr, given.mask].some(
      (a) => a.length !== n,
    )
  )
    throw new RangeError(`ZOGY product arrays must have ${w}×${h} values`);
  const outMask = dilate(masked, w, h, grow, given?.mask);
  const scale = Fn / FD;
  const difference = given?.difference ?? new Float32Array(n);
  const differenceUncertainty = given?.differenceUncertainty ?? new Float32Array(n);
  const score = given?.score ?? new Float32Array(n);
  const scoreCorr = given?.scoreCorr ?? new Float32Array(n);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const p = (y + pad) * W + x + pad;
      if (outMask[i]) {
        difference[i] = Number.NaN;
        differenceUncertainty[i] = Number.NaN;
        score[i] = Number.NaN;
        scoreCorr[i] = Number.NaN;
        continue;
      }
      difference[i] = D[p] * scale;
      differenceUncertainty[i] = scale * Math.sqrt(Math.max(VD[p], 0));
      score[i] = S[p];
      let vast = 0;
      if (SN) {
        // S_R = S_N − S; central differences of each.
        const gxN = (SN[p + 1] - SN[p - 1]) / 2;
        const gyN = (SN[p + W] - SN[p - W]) / 2;
        const gxR = (SN[p + 1] - S[p + 1] - (SN[p - 1] - S[p - 1])) / 2;
        const gyR = (SN[p + W] - S[p + W] - (SN[p - W] - S[p - W])) / 2;
        vast = sx * sx * (gxN * gxN + gxR * gxR) + sy * sy * (gyN * gyN + gyR * gyR);
      }
      scoreCorr[i] = S[p] / Math.sqrt(Math.max(VS[p], 1e-300) + vast);
    }
  }
  lap('products');
  return {
    difference,
    differenceUncertainty,
    differencePsf: k.differencePsf.slice(),
    fluxScale: FD,
    score,
    scoreCorr,
    mask: outMask,
    scienceKernel: k.scienceKernel.slice(),
    scale,
    timings,
  };
}

interface KernelPsfs {
  psfN: Float32Array;
  sideN: number;
  psfR: Float32Array;
  sideR: number;
}

/**
 * Spectra of ZOGY's kernels on a W×H grid: K̂_n = F_r P̂_r / den and K̂_r = F_n P̂_n / den (of D)
 * and c = F_D conj(P̂_D); with `all`, also k̂_n = c K̂_n and k̂_r = c K̂_r (of S) and P̂_D. K̂_n and
 * K̂_r take the place of P̂_r and P̂_n (fewer full-size arrays).
 */
async function kernelSpectra(
  p: KernelPsfs,
  noise: { sn: number; sr: number; Fn: number; Fr: number },
  FD: number,
  W: number,
  H: number,
  backend: FftBackend,
  all: boolean,
): Promise<{
  Kn: Float64Array;
  Kr: Float64Array;
  c: Float64Array;
  kn?: Float64Array;
  kr?: Float64Array;
  PD?: Float64Array;
}> {
  const { sn, sr, Fn, Fr } = noise;
  const plane = embedKernel(p.psfN, p.sideN, W, H);
  const Pn = await backend.forward(plane, W, H);
  const Pr = await backend.forward(embedKernel(p.psfR, p.sideR, W, H, false, plane), W, H);
  const nh = ((W >> 1) + 1) * H;
  const Kn = Pr;
  const Kr = Pn;
  const c = new Float64Array(2 * nh);
  const kn = all ? new Float64Array(2 * nh) : undefined;
  const kr = all ? new Float64Array(2 * nh) : undefined;
  const PD = all ? new Float64Array(2 * nh) : undefined;
  for (let k = 0; k < nh; k++) {
    const pnr = Pn[2 * k];
    const pni = Pn[2 * k + 1];
    const prr = Pr[2 * k];
    const pri = Pr[2 * k + 1];
    // A tiny floor keeps frequencies where both PSFs vanish from dividing zero by zero.
    const d =
      Math.sqrt(sn * sn * Fr * Fr * (prr * prr + pri * pri) + sr * sr * Fn * Fn * (pnr * pnr + pni * pni)) +
      1e-300;
    const knr = (Fr * prr) / d;
    const kni = (Fr * pri) / d;
    const krr = (Fn * pnr) / d;
    const kri = (Fn * pni) / d;
    Kn[2 * k] = knr;
    Kn[2 * k + 1] = kni;
    Kr[2 * k] = krr;
    Kr[2 * k + 1] = kri;
    const qr = prr * pnr - pri * pni; // P̂_r P̂_n
    const qi = prr * pni + pri * pnr;
    // F_D conj(P̂_D) = F_r F_n (qr − i qi) / d
    const cr = (Fr * Fn * qr) / d;
    const ci = (-Fr * Fn * qi) / d;
    c[2 * k] = cr;
    c[2 * k + 1] = ci;
    if (kn && kr && PD) {
      PD[2 * k] = (Fr * Fn * qr) / (FD * d);
      PD[2 * k + 1] = (Fr * Fn * qi) / (FD * d);
      kn[2 * k] = cr * knr - ci * kni;
      kn[2 * k + 1] = cr * kni + ci * knr;
      kr[2 * k] = cr * krr - ci * kri;
      kr[2 * k + 1] = cr * kri + ci * krr;
    }
  }
  return { Kn, Kr, c, kn, kr, PD };
}

/** Shift the image of a half spectrum by (dx, dy) pixels: out(x, y) = in(x − dx, y − dy). */
export function phaseShift(spec: Float64Array, W: number, H: number, dx: number, dy: number): void {
  if (dx === 0 && dy === 0) return;
  const half = (W >> 1) + 1;
  // The ramp is separable: e^(−2πi (kx dx / W + fy dy)) = row factor × column factor.
  const rx = new Float64Array(2 * half);
  for (let kx = 0; kx < half; kx++) {
    const a = (-2 * Math.PI * kx * dx) / W;
    rx[2 * kx] = Math.cos(a);
    rx[2 * kx + 1] = Math.sin(a);
  }
  for (let ky = 0; ky < H; ky++) {
    const a = -2 * Math.PI * ((ky <= H / 2 ? ky : ky - H) / H) * dy;
    const cy = Math.cos(a);
    const sy = Math.sin(a);
    const row = 2 * ky * half;
    for (let kx = 0; kx < half; kx++) {
      const c = rx[2 * kx] * cy - rx[2 * kx + 1] * sy;
      const s = rx[2 * kx] * sy + rx[2 * kx + 1] * cy;
      const k = row + 2 * kx;
      const re = spec[k];
      const im = spec[k + 1];
      spec[k] = re * c - im * s;
      spec[k + 1] = re * s + im * c;
    }
  }
}

/** Grow a mask by `r` pixels (square neighbourhood), separably (into `out` when given). */
export function dilate(mask: Uint8Array, w: number, h: number, r: number, into?: Uint8Array): Uint8Array {
  if (r <= 0) {
    if (!into) return mask.slice();
    into.set(mask);
    return into;
  }
  const tmp = new Uint8Array(mask.length);
  for (let y = 0; y < h; y++) {
    // Two passes per row: distance to the nearest set pixel on the left and on the right.
    let prev = -Infinity;
    for (let x = 0; x < w; x++) {
      if (mask[y * w + x]) prev = x;
      if (x - prev <= r) tmp[y * w + x] = 1;
    }
    let next = Infinity;
    for (let x = w - 1; x >= 0; x--) {
      if (mask[y * w + x]) next = x;
      if (next - x <= r) tmp[y * w + x] = 1;
    }
  }
  const out = into ? into.fill(0) : new Uint8Array(mask.length);
  for (let x = 0; x < w; x++) {
    let prev = -Infinity;
    for (let y = 0; y < h; y++) {
      if (tmp[y * w + x]) prev = y;
      if (y - prev <= r) out[y * w + x] = 1;
    }
    let next = Infinity;
    for (let y = h - 1; y >= 0; y--) {
      if (tmp[y * w + x]) next = y;
      if (next - y <= r) out[y * w + x] = 1;
    }
  }
  return out;
}
