/**
 * Detection filtering (SourceExtractor's FILTER / FILTER_NAME): a direct convolution of the
 * background-subtracted detection image with a small kernel (a .conv mask, normalised by Σ|k|).
 * Pixels beyond the image count as zero, as in SourceExtractor; pixels without data (NaN or
 * masked) count as zero and stay invalid in the output (−∞, never above a threshold).
 *
 * The same kernel filters a variance map (SourceExtractor filters the weight map with it), so
 * that a per-pixel threshold follows the filtered noise level.
 */
import type { FilterKernel } from './config.ts';

/** Pixels that hold no data: NaN, or any mask bit in `maskBits` set; undefined when there are none. */
export function invalidPixels(
  data: Float32Array,
  mask: Uint8Array | undefined,
  maskBits = 0xff,
): Uint8Array | undefined {
  const n = data.length;
  let first = -1;
  if (mask === undefined) {
    for (let i = 0; i < n; i++) {
      if (Number.isNaN(data[i])) {
        first = i;
        break;
      }
    }
  } else {
    for (let i = 0; i < n; i++) {
      if (Number.isNaN(data[i]) || (mask[i] & maskBits) !== 0) {
        first = i;
        break;
      }
    }
  }
  if (first < 0) return undefined;
  const out = new Uint8Array(n);
  for (let i = first; i < n; i++) {
    if (Number.isNaN(data[i]) || (mask !== undefined && (mask[i] & maskBits) !== 0)) out[i] = 1;
  }
  return out;
}

/** out(x, y) for one pixel with bounds checks (the image's border). */
function convolvePixel(
  src: Float32Array,
  width: number,
  height: number,
  kernel: FilterKernel,
  x: number,
  y: number,
): number {
  const { width: kw, height: kh, values } = kernel;
  const cx = kw >> 1;
  const cy = kh >> 1;
  let acc = 0;
  for (let j = 0; j < kh; j++) {
    const sy = y + cy - j;
    if (sy < 0 || sy >= height) continue;
    for (let i = 0; i < kw; i++) {
      const sx = x + cx - i;
      if (sx < 0 || sx >= width) continue;
      acc += values[j * kw + i] * src[sy * width + sx];
    }
  }
  return acc;
}

/** The interior of a 3 × 3 convolution, unrolled. */
function convolve3x3(
  src: Float32Array,
  out: Float32Array,
  width: number,
  height: number,
  k: Float32Array,
  y0: number,
  y1: number,
): void {
  // out(x, y) = Σ k(i, j)·in(x + 1 − i, y + 1 − j)
  const k0 = k[0];
  const k1 = k[1];
  const k2 = k[2];
  const k3 = k[3];
  const k4 = k[4];
  const k5 = k[5];
  const k6 = k[6];
  const k7 = k[7];
  const k8 = k[8];
  for (let y = Math.max(1, y0); y < Math.min(height - 1, y1); y++) {
    const up = (y + 1) * width;
    const mid = y * width;
    const down = (y - 1) * width;
    for (let x = 1; x < width - 1; x++) {
      out[mid + x] =
        k0 * src[up + x + 1] +
        k1 * src[up + x] +
        k2 * src[up + x - 1] +
        k3 * src[mid + x + 1] +
        k4 * src[mid + x] +
        k5 * src[mid + x - 1] +
        k6 * src[down + x + 1] +
        k7 * src[down + x] +
        k8 * src[down + x - 1];
    }
  }
}

/** The interior of any convolution: per pixel, over precomputed offsets. */
function convolveInterior(
  src: Float32Array,
  out: Float32Array,
  width: number,
  height: number,
  kernel: FilterKernel,
  y0: number,
  y1: number,
): void {
  const { width: kw, height: kh, values } = kernel;
  const cx = kw >> 1;
  const cy = kh >> 1;
  const taps: number[] = [];
  const offs: number[] = [];
  for (let j = 0; j < kh; j++) {
    for (let i = 0; i < kw; i++) {
      const v = values[j * kw + i];
      if (v === 0) continue;
      taps.push(v);
      offs.push((cy - j) * width + (cx - i));
    }
  }
  const k = Float64Array.from(taps);
  const o = Int32Array.from(offs);
  const n = k.length;
  for (let y = Math.max(cy, y0); y < Math.min(height - (kh - 1 - cy), y1); y++) {
    const row = y * width;
    for (let x = cx; x < width - (kw - 1 - cx); x++) {
      const p = row + x;
      let acc = 0;
      for (let q = 0; q < n; q++) acc += k[q] * src[p + o[q]];
      out[p] = acc;
    }
  }
}

/**
 * Rows y0 ≤ y < y1 of the convolution of `src` (invalid pixels already zeroed) into `out`;
 * threads may fill different rows of one output.
 */
export function convolveRows(
  src: Float32Array,
  out: Float32Array,
  width: number,
  height: number,
  kernel: FilterKernel,
  y0: number,
  y1: number,
): void {
  const { width: kw, height: kh } = kernel;
  const cx = kw >> 1;
  const cy = kh >> 1;
  if (kw === 3 && kh === 3) convolve3x3(src, out, width, height, kernel.values, y0, y1);
  else convolveInterior(src, out, width, height, kernel, y0, y1);
  // The border, where the kernel reaches beyond the image.
  const top = Math.min(height, cy);
  const bottom = Math.max(top, height - (kh - 1 - cy));
  const left = Math.min(width, cx);
  const right = Math.max(left, width - (kw - 1 - cx));
  for (let y = y0; y < y1; y++) {
    const row = y * width;
    if (y < top || y >= bottom) {
      for (let x = 0; x < width; x++) out[row + x] = convolvePixel(src, width, height, kernel, x, y);
    } else {
      for (let x = 0; x < left; x++) out[row + x] = convolvePixel(src, width, height, kernel, x, y);
      for (let x = right; x < width; x++) out[row + x] = convolvePixel(src, width, height, kernel, x, y);
    }
  }
}

/**
 * Convolve `data` (width × height) with `kernel`: out(x, y) = Σ k(i, j) · in(x + cx − i, y + cy − j),
 * with cx = ⌊w/2⌋, cy = ⌊h/2⌋ (a true convolution, as SourceExtractor's). Invalid input pixels
 * count as 0; invalid output pixels are set to −∞ when `invalid` is given.
 */
export function convolveImage(
  data: Float32Array,
  width: number,
  height: number,
  kernel: FilterKernel,
  invalid?: Uint8Array,
): Float32Array {
  let src = data;
  if (invalid) {
    src = new Float32Array(data);
    for (let i = 0; i < src.length; i++) if (invalid[i]) src[i] = 0;
  }
  const out = new Float32Array(width * height);
  convolveRows(src, out, width, height, kernel, 0, height);
  if (invalid) for (let i = 0; i < out.length; i++) if (invalid[i]) out[i] = Number.NEGATIVE_INFINITY;
  return out;
}

/**
 * The variance map filtered as SourceExtractor filters a weight map for thresholding:
 * Σ |k| · var over the kernel (the normalised kernel's weights on the variance).
 */
export function convolveVariance(
  variance: Float32Array,
  width: number,
  height: number,
  kernel: FilterKernel,
  invalid?: Uint8Array,
): Float32Array {
  const abs: FilterKernel = { ...kernel, values: Float32Array.from(kernel.values, Math.abs) };
  let sum = 0;
  for (const v of abs.values) sum += v;
  if (sum > 0 && Math.abs(sum - 1) > 1e-6) for (let i = 0; i < abs.values.length; i++) abs.values[i] /= sum;
  const out = convolveImage(variance, width, height, abs, invalid);
  return out;
}
