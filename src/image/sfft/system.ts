/**
 * SFFT's normal equations, assembled with FFTs (Hu et al. 2022, §3): the model of the science
 * image S is the reference R convolved with a spatially varying δ-basis kernel plus a
 * polynomial background,
 *
 *   M(x) = Σ_k Σ_p α_kp · P_p(x) · R(x − k) + Σ_q β_q · Q_q(x),
 *
 * fitted to S by least squares. Every normal-matrix element is a sum over pixels of two basis
 * columns; substituting y = x − k turns Σ_x P_p(x) P_p'(x) R(x − k) R(x − k') into a sum of
 * correlations Σ_y u^i v^j R(y) R(y + k − k') (the polynomial in x = y + k expanded
 * binomially), and each correlation, for every lag at once, is one inverse FFT. So the whole
 * system costs a few FFTs per monomial instead of a sum over pixels per element.
 *
 * Images are zero-padded by 2w (no wrap-around between lags); pixels outside the fit (masked,
 * or outside the image) are zero in both images, as in SFFT's sparse-field preprocessing: there
 * both sides of the fit vanish, so they do not pull the kernel.
 */
import { type FftBackend, workBuffer } from '../fft/index.ts';
import { binomials, kernelSide, monomialIndex, monomials, type PolyFrame, polyFrame } from './basis.ts';

export interface SfftSystemInput {
  width: number;
  height: number;
  /** The image convolved (the reference in the usual direction), zero where not fitted. */
  convolved: Float64Array | Float32Array;
  /** The image it is matched to, zero where not fitted. */
  target: Float64Array | Float32Array;
  /** 1 where a pixel is fitted (both images have data there and it is not masked). */
  fit: Uint8Array;
  halfWidth: number;
  kernelOrder: number;
  backgroundOrder: number;
}

export interface SfftSystem {
  /** Unknowns: (2w+1)² kernel pixels per kernel term, then the background terms (unknownIndex). */
  n: number;
  matrix: Float64Array;
  rhs: Float64Array;
  frame: PolyFrame;
  /** Σ target² over the fitted pixels (for χ² = Σt² − 2θ·b + θ·Nθ). */
  targetSquares: number;
  fittedPixels: number;
}

/**
 * The index of an unknown: kernel term p of kernel pixel (i, j) at p·(2w+1)² + (j+w)(2w+1) + (i+w);
 * background term q after all kernel unknowns.
 */
export function unknownIndex(halfWidth: number, term: number, i: number, j: number): number {
  const side = kernelSide(halfWidth);
  return term * side * side + (j + halfWidth) * side + (i + halfWidth);
}

/** Correlation lags |dx|, |dy| ≤ maxLag of two padded spectra, conj(a)·b, as a (2·maxLag+1)² array. */
async function correlationLags(
  backend: FftBackend,
  a: Float64Array,
  b: Float64Array,
  pw: number,
  ph: number,
  maxLag: number,
  scratch: Float64Array,
  real: Float64Array,
): Promise<Float64Array> {
  for (let t = 0; t < a.length; t += 2) {
    const ar = a[t];
    const ai = -a[t + 1];
    const br = b[t];
    const bi = b[t + 1];
    scratch[t] = ar * br - ai * bi;
    scratch[t + 1] = ar * bi + ai * br;
  }
  await backend.inverse(scratch, pw, ph, real);
  const side = 2 * maxLag + 1;
  const out = new Float64Array(side * side);
  for (let dy = -maxLag; dy <= maxLag; dy++) {
    const row = ((dy + ph) % ph) * pw;
    for (let dx = -maxLag; dx <= maxLag; dx++)
      out[(dy + maxLag) * side + dx + maxLag] = real[row + ((dx + pw) % pw)];
  }
  return out;
}

/**
 * The sums the normal equations are made of: G_m(d), H_m(k), E_m(k) (lags of monomial-weighted
 * correlations) and the fitted region's moments.
 */
export interface SfftCorrelations {
  frame: PolyFrame;
  G: Float64Array[];
  H: Float64Array[];
  E: Float64Array[];
  mom: Float64Array;
  momS: Float64Array;
  targetSquares: number;
  fittedPixels: number;
}

/** Assemble the normal equations N·θ = b of the fit (float64). */
export async function sfftSystem(input: SfftSystemInput, backend: FftBackend): Promise<SfftSystem> {
  return assembleSystem(input, await sfftCorrelations(input, backend));
}

/** The correlations of the fit's images, with FFTs. */
export async function sfftCorrelations(
  input: SfftSystemInput,
  backend: FftBackend,
): Promise<SfftCorrelations> {
  const { width: W, height: H, halfWidth: w, kernelOrder: DK, backgroundOrder: DB } = input;
  const frame = polyFrame(W, H);
  const pw = backend.goodSize(W + 2 * w + 1);
  const ph = backend.goodSize(H + 2 * w + 1);
  const size = pw * ph;
  const pad = (f: (x: number, y: number, i: number) => number): Float64Array => {
    const out = workBuffer(backend, size);
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const i = y * W + x;
        if (input.fit[i]) out[y * pw + x] = f(x, y, i);
      }
    return out;
  };
  const u = (x: number) => (x - frame.cx) / frame.scale;
  const v = (y: number) => (y - frame.cy) / frame.scale;
  const R = input.convolved;
  const S = input.target;

  const spectrum = (img: Float64Array) => backend.forward(img, pw, ph);
  const FR = await spectrum(pad((_x, _y, i) => R[i]));
  const FS = await spectrum(pad((_x, _y, i) => S[i]));
  const scratch = workBuffer(backend, FR.length);
  const real = workBuffer(backend, size);

  // G_m(d) = Σ_y u^a v^b R(y) R(y + d), |d| ≤ 2w, for monomials of degree ≤ 2·DK;
  // H_m(k) = Σ_y u^a v^b R(y) S(y + k), |k| ≤ w, for degree ≤ DK.
  const G: Float64Array[] = [];
  const Hc: Float64Array[] = [];
  for (const [a, b] of monomials(2 * DK)) {
    const Fm = a === 0 && b === 0 ? FR : await spectrum(pad((x, y, i) => u(x) ** a * v(y) ** b * R[i]));
    G.push(await correlationLags(backend, Fm, FR, pw, ph, 2 * w, scratch, real));
    if (a + b <= DK) Hc.push(await correlationLags(backend, Fm, FS, pw, ph, w, scratch, real));
  }
  // E_m(k) = Σ_x u^a v^b(x) Ω(x) R(x − k), for degree ≤ DK + DB: kernel × background elements.
  const E: Float64Array[] = [];
  for (const [a, b] of monomials(DK + DB)) {
    const Fm = await spectrum(pad(a === 0 && b === 0 ? () => 1 : (x, y) => u(x) ** a * v(y) ** b));
    E.push(await correlationLags(backend, FR, Fm, pw, ph, w, scratch, real));
  }
  // Moments of the fitted region: Σ u^a v^b Ω (degree ≤ 2·DB) and Σ u^a v^b Ω S (degree ≤ DB).
  const mom = new Float64Array(monomials(2 * DB).length);
  const momS = new Float64Array(monomials(DB).length);
  let targetSquares = 0;
  let fittedPixels = 0;
  const mono2 = monomials(2 * DB);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      if (!input.fit[i]) continue;
      fittedPixels++;
      targetSquares += S[i] * S[i];
      if (DB === 0) {
        mom[0]++;
        momS[0] += S[i];
        continue;
      }
      const ux = u(x);
      const vy = v(y);
      for (let m = 0; m < mono2.length; m++) {
        const t = ux ** mono2[m][0] * vy ** mono2[m][1];
        mom[m] += t;
        if (m < momS.length) momS[m] += t * S[i];
      }
    }
  return { frame, G, H: Hc, E, mom, momS, targetSquares, fittedPixels };
}

/** The normal equations from the correlations. */
export function assembleSystem(input: SfftSystemInput, corr: SfftCorrelations): SfftSystem {
  const { halfWidth: w, kernelOrder: DK, backgroundOrder: DB } = input;
  const { frame, G, H: Hc, E, mom, momS, targetSquares, fittedPixels } = corr;
  const side = kernelSide(w);
  const kTerms = monomials(DK);
  const bTerms = monomials(DB);
  const nK = side * side * kTerms.length;
  const n = nK + bTerms.length;
  const N = new Float64Array(n * n);
  const rhs = new Float64Array(n);
  const C = binomials(2 * DK + 1);
  const gSide = 4 * w + 1;
  // Σ_{i≤A, j≤B} C(A,i) C(B,j) (k1/s)^(A−i) (k2/s)^(B−j) T_(i,j): a polynomial in x = y + k
  // expanded about y. T is G at lag d (matrix) or H at lag k (right-hand side).
  const expand = (A: number, B: number, k1: number, k2: number, T: (m: number) => number): number => {
    const s1 = k1 / frame.scale;
    const s2 = k2 / frame.scale;
    let acc = 0;
    for (let i = 0; i <= A; i++)
      for (let j = 0; j <= B; j++)
        acc += C[A][i] * C[B][j] * s1 ** (A - i) * s2 ** (B - j) * T(monomialIndex(i, j));
    return acc;
  };
  for (let p = 0; p < kTerms.length; p++) {
    const [a1, b1] = kTerms[p];
    for (let j1 = -w; j1 <= w; j1++)
      for (let i1 = -w; i1 <= w; i1++) {
        const r = unknownIndex(w, p, i1, j1);
        rhs[r] = expand(a1, b1, i1, j1, (m) => Hc[m][(j1 + w) * side + i1 + w]);
        // Kernel × kernel: lower triangle only (columns ≤ r).
        for (let p2 = 0; p2 <= p; p2++) {
          const [a2, b2] = kTerms[p2];
          for (let j2 = -w; j2 <= w; j2++)
            for (let i2 = -w; i2 <= w; i2++) {
              const c = unknownIndex(w, p2, i2, j2);
              if (c > r) continue;
              const lag = (j1 - j2 + 2 * w) * gSide + (i1 - i2 + 2 * w);
              N[r * n + c] = expand(a1 + a2, b1 + b2, i1, j1, (m) => G[m][lag]);
            }
        }
        // Background × kernel.
        for (let q = 0; q < bTerms.length; q++) {
          const m = monomialIndex(a1 + bTerms[q][0], b1 + bTerms[q][1]);
          N[(nK + q) * n + r] = E[m][(j1 + w) * side + i1 + w];
        }
      }
  }
  for (let q = 0; q < bTerms.length; q++) {
    rhs[nK + q] = momS[q];
    for (let q2 = 0; q2 <= q; q2++)
      N[(nK + q) * n + nK + q2] =
        mom[monomialIndex(bTerms[q][0] + bTerms[q2][0], bTerms[q][1] + bTerms[q2][1])];
  }
  // Mirror the lower triangle.
  for (let r = 0; r < n; r++) for (let c = 0; c < r; c++) N[c * n + r] = N[r * n + c];
  return { n, matrix: N, rhs, frame, targetSquares, fittedPixels };
}

/**
 * Take pixels out of the fit without new FFTs (constant kernel and background only): each
 * correlation loses the products that involve a removed pixel, counted once (inclusion–
 * exclusion over pairs with both ends removed). `input` holds the images and fit flags as they
 * were before the removal; `removed` lists pixels still fitted there. O(removed × lags) where a
 * refit by FFT costs six whole-image transforms. The caller then zeroes the pixels.
 */
export function removeFromCorrelations(
  input: SfftSystemInput,
  corr: SfftCorrelations,
  removed: ArrayLike<number>,
): void {
  const { width: W, height: H, halfWidth: w, kernelOrder: DK, backgroundOrder: DB } = input;
  if (DK !== 0 || DB !== 0)
    throw new RangeError('removeFromCorrelations: constant kernel and background only');
  const R = input.convolved;
  const S = input.target;
  const fit = input.fit;
  const gone = new Uint8Array(W * H);
  for (let t = 0; t < removed.length; t++) gone[removed[t]] = 1;
  const G = corr.G[0];
  const Hc = corr.H[0];
  const E = corr.E[0];
  const gSide = 4 * w + 1;
  const side = kernelSide(w);
  for (let t = 0; t < removed.length; t++) {
    const q = removed[t];
    if (!fit[q]) continue;
    const qx = q % W;
    const qy = (q - qx) / W;
    const rq = R[q];
    const sq = S[q];
    corr.mom[0]--;
    corr.momS[0] -= sq;
    corr.targetSquares -= sq * sq;
    corr.fittedPixels--;
    for (let dy = -2 * w; dy <= 2 * w; dy++) {
      const y = qy + dy;
      if (y < 0 || y >= H) continue;
      const near = dy >= -w && dy <= w;
      for (let dx = -2 * w; dx <= 2 * w; dx++) {
        const x = qx + dx;
        if (x < 0 || x >= W) continue;
        const o = y * W + x;
        if (!fit[o]) continue;
        // G(d) = Σ_y R(y)R(y+d): q as y (lag d) and as y+d (lag −d); a pair of two removed
        // pixels is met twice from each end, so each end subtracts half of it.
        const pair = rq * R[o] * (gone[o] ? 0.5 : 1);
        G[(dy + 2 * w) * gSide + dx + 2 * w] -= pair;
        G[(-dy + 2 * w) * gSide - dx + 2 * w] -= pair;
        if (near && dx >= -w && dx <= w) {
          const k = (dy + w) * side + dx + w;
          const kr = (-dy + w) * side - dx + w;
          // H(k) = Σ_y R(y)S(y+k): q as y, and q as y+k (R at q−k); E(k) = Σ_y R(y)Ω(y+k).
          const half = gone[o] ? 0.5 : 1;
          Hc[k] -= rq * S[o] * half;
          Hc[kr] -= R[o] * sq * half;
          E[k] -= rq * half;
          E[kr] -= R[o] * half;
        }
      }
    }
  }
}
