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
 * transforms and set to NaN in the products after. Transforms run in float64.
 */
import { BadInputError } from '../../util/errors.ts';
import { type FftBackend, fftBackend } from '../fft/index.ts';

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

/** A padded float64 plane with `src` (NaN and masked → 0) at offset (pad, pad). */
function embed(
  src: ArrayLike<number>,
  w: number,
  h: number,
  W: number,
  H: number,
  pad: number,
  mask?: Uint8Array,
  fill = 0,
): Float64Array {
  const out = new Float64Array(W * H);
  for (let y = 0; y < h; y++) {
    const row = (y + pad) * W + pad;
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const v = src[i];
      out[row + x] = Number.isFinite(v) && !mask?.[i] ? v : fill;
    }
  }
  return out;
}

/** A centred odd-side stamp placed with its centre at (0, 0), wrapping around (for convolution). */
function embedKernel(k: ArrayLike<number>, side: number, W: number, H: number, square = false): Float64Array {
  const out = new Float64Array(W * H);
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

/** Subtract `reference` from `science` with ZOGY. Pure numerics (FFTs on the configured backend). */
export async function zogy(input: ZogyInput, backend: FftBackend = fftBackend()): Promise<ZogyResult> {
  const { width: w, height: h } = input;
  const n = w * h;
  for (const [name, a] of [
    ['science', input.science],
    ['reference', input.reference],
    ['science variance', input.scienceVariance],
    ['reference variance', input.referenceVariance],
  ] as const) {
    if (a.length !== n) throw new BadInputError(`${name} has ${a.length} pixels, expected ${w}×${h}`);
  }
  const sideN = checkPsf(input.sciencePsf, 'science', w, h);
  const sideR = checkPsf(input.referencePsf, 'reference', w, h);
  const { scienceSigma: sn, referenceSigma: sr, fluxRatio: Fn } = input;
  if (!(sn > 0) || !(sr > 0))
    throw new BadInputError(`background noise must be positive (science ${sn}, reference ${sr})`);
  if (!(Fn > 0) || !Number.isFinite(Fn))
    throw new BadInputError(`the flux ratio must be positive, got ${Fn}`);
  const Fr = 1;
  const [sx, sy] = input.astrometricSigma ?? [0, 0];

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

  // Padding: wide enough for the kernels, which reach a few PSF widths.
  const psfSide = Math.max(sideN, sideR);
  const pad = Math.max(16, 2 * psfSide);
  const W = backend.goodSize(w + 2 * pad);
  const H = backend.goodSize(h + 2 * pad);
  const nh = ((W >> 1) + 1) * H;

  const fwd = (a: Float64Array) => backend.forward(a, W, H);
  const inv = async (s: Float64Array) => Float64Array.from(await backend.inverse(s, W, H));
  const psfs = { psfN: input.sciencePsf, sideN, psfR: input.referencePsf, sideR };
  const noise = { sn, sr, Fn, Fr };
  const FD = (Fr * Fn) / Math.sqrt(sn * sn * Fr * Fr + sr * sr * Fn * Fn);
  const { Kn, Kr, kn, kr } = await kernelSpectra(psfs, noise, FD, W, H, backend);

  // The kernels in real space, from a small grid (they reach a few PSF widths; computing them
  // there saves five full-size transforms).
  const G = backend.goodSize(Math.max(64, 8 * psfSide));
  const small = await kernelSpectra(psfs, noise, FD, G, G, backend);
  const spaceOf = async (spec: Float64Array) => {
    const plane = Float64Array.from(await backend.inverse(Float64Array.from(spec), G, G));
    const side = supportSide(plane, G, G, G - 1);
    return { side, stamp: cutKernel(plane, G, G, side) };
  };
  const kN = await spaceOf(small.kn);
  const kR = await spaceOf(small.kr);
  const KN = await spaceOf(small.Kn);
  const KR = await spaceOf(small.Kr);
  const pd = Float64Array.from(await backend.inverse(small.PD, G, G));
  const differencePsf = Float32Array.from(cutKernel(pd, G, G, psfSide));
  {
    let s = 0;
    for (const v of differencePsf) s += v;
    for (let i = 0; i < differencePsf.length; i++) differencePsf[i] /= s;
  }

  // D̂ = K̂_n N̂ − K̂_r R̂;  Ŝ_N = k̂_n N̂;  Ŝ = Ŝ_N − k̂_r R̂.
  const N = await fwd(embed(input.science, w, h, W, H, pad, masked));
  const Dh = new Float64Array(2 * nh);
  const SNh = new Float64Array(2 * nh);
  for (let k = 0; k < 2 * nh; k += 2) {
    const a = N[k];
    const b = N[k + 1];
    Dh[k] = Kn[k] * a - Kn[k + 1] * b;
    Dh[k + 1] = Kn[k] * b + Kn[k + 1] * a;
    SNh[k] = kn[k] * a - kn[k + 1] * b;
    SNh[k + 1] = kn[k] * b + kn[k + 1] * a;
  }
  const R = await fwd(embed(input.reference, w, h, W, H, pad, masked));
  const shift = input.referenceShift ?? [0, 0];
  phaseShift(R, W, H, shift[0], shift[1]);
  const Sh = R; // reuse the buffer: Ŝ = Ŝ_N − k̂_r R̂
  for (let k = 0; k < 2 * nh; k += 2) {
    const a = R[k];
    const b = R[k + 1];
    Dh[k] -= Kr[k] * a - Kr[k + 1] * b;
    Dh[k + 1] -= Kr[k] * b + Kr[k + 1] * a;
    const rr = kr[k] * a - kr[k + 1] * b;
    const ri = kr[k] * b + kr[k + 1] * a;
    Sh[k] = SNh[k] - rr;
    Sh[k + 1] = SNh[k + 1] - ri;
  }
  const D = await inv(Dh);
  const S = await inv(Sh);
  const SN = await inv(SNh);

  // The variance of a filtered image is the variance map filtered by the squared kernel
  // (neighbouring pixels' noise taken as independent).
  const Vn = await fwd(embed(input.scienceVariance, w, h, W, H, pad, masked, sn * sn));
  const vs = multiply(await fwd(embedKernel(kN.stamp, kN.side, W, H, true)), Vn);
  const vd = multiply(await fwd(embedKernel(KN.stamp, KN.side, W, H, true)), Vn);
  const Vr = await fwd(embed(input.referenceVariance, w, h, W, H, pad, masked, sr * sr));
  phaseShift(Vr, W, H, shift[0], shift[1]);
  addProduct(vs, await fwd(embedKernel(kR.stamp, kR.side, W, H, true)), Vr);
  addProduct(vd, await fwd(embedKernel(KR.stamp, KR.side, W, H, true)), Vr);
  const VS = await inv(vs);
  const VD = await inv(vd);

  // Products on the original grid. Masked pixels grow by the PSF core (their fill value
  // leaks into the neighbours through the kernels).
  const grow = Math.max(1, Math.round(psfSide / 8));
  const outMask = dilate(masked, w, h, grow);
  const scale = Fn / FD;
  const difference = new Float32Array(n);
  const differenceUncertainty = new Float32Array(n);
  const score = new Float32Array(n);
  const scoreCorr = new Float32Array(n);
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
      if (sx > 0 || sy > 0) {
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
  return {
    difference,
    differenceUncertainty,
    differencePsf,
    fluxScale: FD,
    score,
    scoreCorr,
    mask: outMask,
    scienceKernel: KN.stamp,
    scale,
  };
}

interface KernelPsfs {
  psfN: Float32Array;
  sideN: number;
  psfR: Float32Array;
  sideR: number;
}

/**
 * Spectra of ZOGY's kernels on a W×H grid: K̂_n = F_r P̂_r / den and K̂_r = F_n P̂_n / den (of D),
 * k̂_n = F_D conj(P̂_D) K̂_n and k̂_r = F_D conj(P̂_D) K̂_r (of S), and P̂_D.
 */
async function kernelSpectra(
  p: KernelPsfs,
  noise: { sn: number; sr: number; Fn: number; Fr: number },
  FD: number,
  W: number,
  H: number,
  backend: FftBackend,
): Promise<{ Kn: Float64Array; Kr: Float64Array; kn: Float64Array; kr: Float64Array; PD: Float64Array }> {
  const { sn, sr, Fn, Fr } = noise;
  const Pn = await backend.forward(embedKernel(p.psfN, p.sideN, W, H), W, H);
  const Pr = await backend.forward(embedKernel(p.psfR, p.sideR, W, H), W, H);
  const nh = ((W >> 1) + 1) * H;
  const Kn = new Float64Array(2 * nh);
  const Kr = new Float64Array(2 * nh);
  const kn = new Float64Array(2 * nh);
  const kr = new Float64Array(2 * nh);
  const PD = new Float64Array(2 * nh);
  for (let k = 0; k < nh; k++) {
    const pnr = Pn[2 * k];
    const pni = Pn[2 * k + 1];
    const prr = Pr[2 * k];
    const pri = Pr[2 * k + 1];
    // A tiny floor keeps frequencies where both PSFs vanish from dividing zero by zero.
    const d =
      Math.sqrt(sn * sn * Fr * Fr * (prr * prr + pri * pri) + sr * sr * Fn * Fn * (pnr * pnr + pni * pni)) +
      1e-300;
    Kn[2 * k] = (Fr * prr) / d;
    Kn[2 * k + 1] = (Fr * pri) / d;
    Kr[2 * k] = (Fn * pnr) / d;
    Kr[2 * k + 1] = (Fn * pni) / d;
    const qr = prr * pnr - pri * pni; // P̂_r P̂_n
    const qi = prr * pni + pri * pnr;
    PD[2 * k] = (Fr * Fn * qr) / (FD * d);
    PD[2 * k + 1] = (Fr * Fn * qi) / (FD * d);
    // F_D conj(P̂_D) = F_r F_n (qr − i qi) / d
    const cr = (Fr * Fn * qr) / d;
    const ci = (-Fr * Fn * qi) / d;
    kn[2 * k] = cr * Kn[2 * k] - ci * Kn[2 * k + 1];
    kn[2 * k + 1] = cr * Kn[2 * k + 1] + ci * Kn[2 * k];
    kr[2 * k] = cr * Kr[2 * k] - ci * Kr[2 * k + 1];
    kr[2 * k + 1] = cr * Kr[2 * k + 1] + ci * Kr[2 * k];
  }
  return { Kn, Kr, kn, kr, PD };
}

/** Shift the image of a half spectrum by (dx, dy) pixels: out(x, y) = in(x − dx, y − dy). */
export function phaseShift(spec: Float64Array, W: number, H: number, dx: number, dy: number): void {
  if (dx === 0 && dy === 0) return;
  const half = (W >> 1) + 1;
  for (let ky = 0; ky < H; ky++) {
    const fy = (ky <= H / 2 ? ky : ky - H) / H;
    for (let kx = 0; kx < half; kx++) {
      const a = -2 * Math.PI * ((kx / W) * dx + fy * dy);
      const c = Math.cos(a);
      const s = Math.sin(a);
      const k = 2 * (ky * half + kx);
      const re = spec[k];
      const im = spec[k + 1];
      spec[k] = re * c - im * s;
      spec[k + 1] = re * s + im * c;
    }
  }
}

/** a ← a·b (complex, interleaved); returns a. */
function multiply(a: Float64Array, b: Float64Array): Float64Array {
  for (let k = 0; k < a.length; k += 2) {
    const ar = a[k];
    const ai = a[k + 1];
    a[k] = ar * b[k] - ai * b[k + 1];
    a[k + 1] = ar * b[k + 1] + ai * b[k];
  }
  return a;
}

/** acc ← acc + a·b (complex, interleaved). */
function addProduct(acc: Float64Array, a: Float64Array, b: Float64Array): void {
  for (let k = 0; k < acc.length; k += 2) {
    acc[k] += a[k] * b[k] - a[k + 1] * b[k + 1];
    acc[k + 1] += a[k] * b[k + 1] + a[k + 1] * b[k];
  }
}

/** Grow a mask by `r` pixels (square neighbourhood), separably. */
export function dilate(mask: Uint8Array, w: number, h: number, r: number): Uint8Array {
  if (r <= 0) return mask.slice();
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
  const out = new Uint8Array(mask.length);
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
