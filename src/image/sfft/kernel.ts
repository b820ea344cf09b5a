/**
 * A solved SFFT matching kernel and background, and what they do to an image: the kernel at a
 * position, the convolution of a whole image with the spatially varying kernel (one FFT
 * convolution per kernel term, each weighted by its polynomial at the output pixel), and the
 * background. Images are taken as zero outside their edges, as in the fit.
 */
import { type FftBackend, workBuffer } from '../fft/index.ts';
import { kernelSide, monomials, type PolyFrame } from './basis.ts';

export interface SfftSolution {
  halfWidth: number;
  kernelOrder: number;
  backgroundOrder: number;
  frame: PolyFrame;
  /** Per kernel term (monomials(kernelOrder) order): the (2w+1)² coefficients, row by row. */
  kernel: Float64Array[];
  /** Per background term (monomials(backgroundOrder) order). */
  background: Float64Array;
  /** Condition number of the (scaled) normal equations. */
  condition: number;
}

/** The kernel at image position (x, y): (2w+1)² values, offset (0, 0) at the centre. */
export function kernelAt(s: SfftSolution, x: number, y: number): Float64Array {
  const u = (x - s.frame.cx) / s.frame.scale;
  const v = (y - s.frame.cy) / s.frame.scale;
  const side = kernelSide(s.halfWidth);
  const out = new Float64Array(side * side);
  monomials(s.kernelOrder).forEach(([a, b], p) => {
    const t = u ** a * v ** b;
    const k = s.kernel[p];
    for (let i = 0; i < out.length; i++) out[i] += t * k[i];
  });
  return out;
}

/** The background at every pixel of a width×height image. */
export function backgroundImage(s: SfftSolution, width: number, height: number): Float64Array {
  const out = new Float64Array(width * height);
  if (s.backgroundOrder === 0) return out.fill(s.background[0]);
  const terms = monomials(s.backgroundOrder);
  for (let y = 0; y < height; y++) {
    const v = (y - s.frame.cy) / s.frame.scale;
    for (let x = 0; x < width; x++) {
      const u = (x - s.frame.cx) / s.frame.scale;
      let acc = 0;
      for (let q = 0; q < terms.length; q++) acc += s.background[q] * u ** terms[q][0] * v ** terms[q][1];
      out[y * width + x] = acc;
    }
  }
  return out;
}

/** An image's spectrum, zero-padded for kernels of half-width up to `halfWidth`. */
export interface ImageSpectrum {
  spectrum: Float64Array;
  pw: number;
  ph: number;
}

/** The spectrum convolveWithSolution needs (computed once when the same image is convolved again). */
export async function imageSpectrum(
  image: ArrayLike<number>,
  width: number,
  height: number,
  halfWidth: number,
  backend: FftBackend,
): Promise<ImageSpectrum> {
  const pw = backend.goodSize(width + halfWidth + 1);
  const ph = backend.goodSize(height + halfWidth + 1);
  const padded = workBuffer(backend, pw * ph);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const val = image[y * width + x];
      padded[y * pw + x] = Number.isFinite(val) ? val : 0;
    }
  return { spectrum: await backend.forward(padded, pw, ph), pw, ph };
}

/**
 * (image ⊗ K)(x) = Σ_k K_x(k) · image(x − k), K varying with x as the solution says; NaN pixels
 * count as zero. Float64, width×height.
 */
export async function convolveWithSolution(
  image: ArrayLike<number> | ImageSpectrum,
  width: number,
  height: number,
  s: SfftSolution,
  backend: FftBackend,
): Promise<Float64Array> {
  const w = s.halfWidth;
  const side = kernelSide(w);
  const F = 'spectrum' in image ? image : await imageSpectrum(image, width, height, w, backend);
  const { pw, ph } = F;
  const out = new Float64Array(width * height);
  const terms = monomials(s.kernelOrder);
  const kimg = workBuffer(backend, pw * ph);
  const prod = workBuffer(backend, F.spectrum.length);
  const real = workBuffer(backend, pw * ph);
  for (let p = 0; p < terms.length; p++) {
    kimg.fill(0);
    // Offset (i, j) sits at pixel (i mod pw, j mod ph): a convolution with it shifts by (i, j).
    for (let j = -w; j <= w; j++)
      for (let i = -w; i <= w; i++)
        kimg[((j + ph) % ph) * pw + ((i + pw) % pw)] = s.kernel[p][(j + w) * side + i + w];
    const FK = await backend.forward(kimg, pw, ph);
    const Fs = F.spectrum;
    for (let t = 0; t < Fs.length; t += 2) {
      prod[t] = Fs[t] * FK[t] - Fs[t + 1] * FK[t + 1];
      prod[t + 1] = Fs[t] * FK[t + 1] + Fs[t + 1] * FK[t];
    }
    await backend.inverse(prod, pw, ph, real);
    const [a, b] = terms[p];
    for (let y = 0; y < height; y++) {
      const v = ((y - s.frame.cy) / s.frame.scale) ** b;
      for (let x = 0; x < width; x++) {
        const wgt = a === 0 && b === 0 ? 1 : ((x - s.frame.cx) / s.frame.scale) ** a * v;
        out[y * width + x] += wgt * real[y * pw + x];
      }
    }
  }
  return out;
}
