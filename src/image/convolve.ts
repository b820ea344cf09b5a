/**
 * 2-D convolution of an image with a kernel, direct for small kernels and through the FFT
 * for large ones, with explicit edge handling:
 *
 * - `zero`: pixels beyond the edge are 0. NaN pixels count as 0, and stay NaN in the output.
 * - `nearest`: pixels beyond the edge take the value of the nearest edge pixel (extend).
 *   NaN pixels count as 0, and stay NaN in the output.
 * - `nan` (NaN-aware, normalised convolution): NaN pixels and pixels beyond the edge are
 *   left out and the kernel is renormalised over the pixels that remain:
 *   out = Σ k·x / Σ k over usable pixels. NaN pixels get a value from their neighbours
 *   (unless `keepNaN`); the output is NaN only where no usable pixel is within the kernel's
 *   reach. Meant for smoothing kernels (positive sum).
 *
 * The kernel is centred on its central pixel (width and height odd), and this is a true
 * convolution: out(x, y) = Σ k(i, j)·in(x − (i − cx), y − (j − cy)).
 */
import { type FftBackend, fftBackend, multiplySpectra } from './fft/index.ts';
import type { Image } from './image.ts';

export type EdgeMode = 'zero' | 'nearest' | 'nan';

export interface Kernel {
  readonly width: number;
  readonly height: number;
  readonly data: Float32Array | Float64Array;
}

export interface ConvolveOptions {
  /** Edge handling; default 'nearest'. */
  edge?: EdgeMode;
  /** 'auto' (default) chooses the FFT for kernels larger than `directMaxArea` pixels. */
  method?: 'auto' | 'direct' | 'fft';
  /** In 'nan' mode, leave NaN pixels NaN instead of filling them from their neighbours. */
  keepNaN?: boolean;
  /** FFT backend; default: the process-wide one (all cores). */
  backend?: FftBackend;
}

/** Above this kernel area 'auto' convolves through the FFT (7×7: measured break-even on 2 cores). */
export const DIRECT_MAX_AREA = 49;

type Plane = Pick<Image, 'width' | 'height' | 'data'>;

function checkKernel(kernel: Kernel): void {
  const { width, height, data } = kernel;
  if (width % 2 !== 1 || height % 2 !== 1 || data.length !== width * height) {
    throw new RangeError(
      `kernel must have odd width and height and width·height values, got ${width}×${height} with ${data.length}`,
    );
  }
}

/** A Gaussian kernel of the given FWHM in pixels, normalised to unit sum, half-size ≈ 3σ unless given. */
export function gaussianKernel(fwhm: number, halfSize = Math.max(1, Math.ceil((3 * fwhm) / 2.3548))): Kernel {
  const sigma = fwhm / (2 * Math.sqrt(2 * Math.log(2)));
  const n = 2 * halfSize + 1;
  const data = new Float64Array(n * n);
  let sum = 0;
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < n; i++) {
      const v = Math.exp(-((i - halfSize) ** 2 + (j - halfSize) ** 2) / (2 * sigma * sigma));
      data[j * n + i] = v;
      sum += v;
    }
  }
  for (let k = 0; k < data.length; k++) data[k] /= sum;
  return { width: n, height: n, data };
}

/**
 * Accumulate Σ k·src into acc for one output row, src rows chosen by `rowOf` (−1: skip)
 * and columns beyond the edge clamped ('nearest') or skipped.
 */
function accumulateRow(
  acc: Float64Array,
  src: Float32Array,
  width: number,
  height: number,
  y: number,
  kernel: Kernel,
  clamp: boolean,
): void {
  const cx = kernel.width >> 1;
  const cy = kernel.height >> 1;
  const k = kernel.data;
  for (let j = 0; j < kernel.height; j++) {
    let sy = y - (j - cy);
    if (sy < 0 || sy >= height) {
      if (!clamp) continue;
      sy = sy < 0 ? 0 : height - 1;
    }
    const row = sy * width;
    for (let i = 0; i < kernel.width; i++) {
      const kv = k[j * kernel.width + i];
      if (kv === 0) continue;
      const d = i - cx;
      // Output x reads input x − d; the inner range needs no bounds checks.
      const x0 = Math.max(0, d);
      const x1 = Math.min(width, width + d);
      const off = row - d;
      for (let x = x0; x < x1; x++) acc[x] += kv * src[off + x];
      if (clamp) {
        for (let x = 0; x < x0; x++) acc[x] += kv * src[row];
        for (let x = x1; x < width; x++) acc[x] += kv * src[row + width - 1];
      }
    }
  }
}

/** NaN pixels replaced by 0 (or 1 for the weight plane): a copy. */
function planes(data: Float32Array): { values: Float32Array; weights: Float32Array; anyNaN: boolean } {
  const values = new Float32Array(data.length);
  const weights = new Float32Array(data.length);
  let anyNaN = false;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!Number.isNaN(v)) {
      values[i] = v;
      weights[i] = 1;
    } else anyNaN = true;
  }
  return { values, weights, anyNaN };
}

function kernelScale(kernel: Kernel): number {
  let s = 0;
  for (let i = 0; i < kernel.data.length; i++) s += Math.abs(kernel.data[i]);
  return s;
}

/** Divide num by den (NaN-aware mode) and restore NaN where asked. */
function normalise(
  num: Float32Array | Float64Array,
  den: Float32Array | Float64Array,
  data: Float32Array,
  kernel: Kernel,
  keepNaN: boolean,
): Float32Array {
  const floor = 1e-9 * kernelScale(kernel);
  const out = new Float32Array(data.length);
  for (let i = 0; i < out.length; i++) {
    out[i] = den[i] > floor && !(keepNaN && Number.isNaN(data[i])) ? num[i] / den[i] : Number.NaN;
  }
  return out;
}

/** Direct convolution (cost ∝ pixels × kernel area); synchronous. */
export function convolveDirect(
  image: Plane,
  kernel: Kernel,
  edge: EdgeMode = 'nearest',
  keepNaN = false,
): Float32Array {
  checkKernel(kernel);
  const { width, height, data } = image;
  const { values, weights, anyNaN } = planes(data);
  const out = new Float32Array(width * height);
  const acc = new Float64Array(width);
  const wacc = new Float64Array(width);
  for (let y = 0; y < height; y++) {
    acc.fill(0);
    accumulateRow(acc, values, width, height, y, kernel, edge === 'nearest');
    const row = y * width;
    if (edge === 'nan') {
      wacc.fill(0);
      accumulateRow(wacc, weights, width, height, y, kernel, false);
      const floor = 1e-9 * kernelScale(kernel);
      for (let x = 0; x < width; x++) {
        const nan = Number.isNaN(data[row + x]);
        out[row + x] = wacc[x] > floor && !(keepNaN && nan) ? acc[x] / wacc[x] : Number.NaN;
      }
    } else {
      for (let x = 0; x < width; x++) out[row + x] = acc[x];
      if (anyNaN) for (let x = 0; x < width; x++) if (Number.isNaN(data[row + x])) out[row + x] = Number.NaN;
    }
  }
  return out;
}

/** The image in a padded FFT frame at (0, 0); the padding holds zeros, or the nearest edge pixel (cyclically). */
function padImage(
  src: Float32Array,
  width: number,
  height: number,
  pw: number,
  ph: number,
  extend: boolean,
): Float64Array {
  const out = new Float64Array(pw * ph);
  // Beyond the right (bottom) edge the frame wraps round to the left (top) edge: each padding
  // column takes whichever edge it is nearer to, in the circular sense.
  const colOf = (x: number) => (x < width ? x : x - (width - 1) <= pw - x ? width - 1 : 0);
  const rowOf = (y: number) => (y < height ? y : y - (height - 1) <= ph - y ? height - 1 : 0);
  for (let y = 0; y < ph; y++) {
    if (y >= height && !extend) break;
    const sy = rowOf(y) * width;
    const dy = y * pw;
    for (let x = 0; x < width; x++) out[dy + x] = src[sy + x];
    if (extend) for (let x = width; x < pw; x++) out[dy + x] = src[sy + colOf(x)];
  }
  return out;
}

/** The kernel in the padded frame, its centre at (0, 0) with wrap-around. */
function padKernel(kernel: Kernel, pw: number, ph: number): Float64Array {
  const out = new Float64Array(pw * ph);
  const cx = kernel.width >> 1;
  const cy = kernel.height >> 1;
  for (let j = 0; j < kernel.height; j++) {
    const y = (j - cy + ph) % ph;
    for (let i = 0; i < kernel.width; i++) {
      const x = (i - cx + pw) % pw;
      out[y * pw + x] += kernel.data[j * kernel.width + i];
    }
  }
  return out;
}

/** Convolution through the FFT (cost ∝ padded pixels × log); padded to a fast size, no wrap-around. */
export async function convolveFft(
  image: Plane,
  kernel: Kernel,
  edge: EdgeMode = 'nearest',
  keepNaN = false,
  backend: FftBackend = fftBackend(),
): Promise<Float32Array> {
  checkKernel(kernel);
  const { width, height, data } = image;
  const pw = backend.goodSize(width + kernel.width - 1);
  const ph = backend.goodSize(height + kernel.height - 1);
  const { values, weights, anyNaN } = planes(data);
  const kspec = await backend.forward(padKernel(kernel, pw, ph), pw, ph);
  const convolvePlane = async (plane: Float32Array, extend: boolean): Promise<Float64Array> => {
    const spec = await backend.forward(padImage(plane, width, height, pw, ph, extend), pw, ph);
    multiplySpectra(spec, kspec);
    const full = await backend.inverse(spec, pw, ph);
    const out = new Float64Array(width * height);
    for (let y = 0; y < height; y++) out.set(full.subarray(y * pw, y * pw + width), y * width);
    return out;
  };
  const num = await convolvePlane(values, edge === 'nearest');
  if (edge === 'nan') {
    const den = await convolvePlane(weights, false);
    return normalise(num, den, data, kernel, keepNaN);
  }
  const out = Float32Array.from(num);
  if (anyNaN) for (let i = 0; i < out.length; i++) if (Number.isNaN(data[i])) out[i] = Number.NaN;
  return out;
}

/** Convolve an image's pixel values with a kernel (direct for small kernels, FFT for large). */
export async function convolve(
  image: Plane,
  kernel: Kernel,
  options: ConvolveOptions = {},
): Promise<Float32Array> {
  const edge = options.edge ?? 'nearest';
  const method = options.method ?? 'auto';
  const useFft = method === 'fft' || (method === 'auto' && kernel.width * kernel.height > DIRECT_MAX_AREA);
  return useFft
    ? convolveFft(image, kernel, edge, options.keepNaN ?? false, options.backend)
    : convolveDirect(image, kernel, edge, options.keepNaN ?? false);
}
