/**
 * Resampling an image from its WCS onto a target WCS grid (TAN, TAN-SIP, TPV: whatever
 * src/wcs reads), with its variance and mask, and a coverage map.
 *
 * - Geometry: target pixel → sky → source pixel is computed exactly on a coarse grid of nodes
 *   (every `gridStep` target pixels, as SWarp does) and interpolated in between by
 *   Catmull-Rom splines; with a 16-pixel step the interpolation error is far below 10⁻³ px
 *   for camera distortions.
 * - Kernels: nearest, bilinear, Lanczos-3 (default; 6×6 taps, weights renormalised to unit sum).
 * - Flux: by default the result conserves flux: the interpolated surface brightness (per
 *   source pixel) is multiplied by the ratio of pixel areas, target over source, i.e. the
 *   Jacobian determinant of the mapping. `conserveFlux: false` keeps surface brightness.
 * - NaN, masked pixels and the edges: see resample-kernel.ts. Coverage is the share of the
 *   kernel's weight that fell on usable source pixels (1 inside, 0 outside, between at edges).
 * - The rows of the output are shared among the worker threads of the pool.
 */
import { BadInputError } from '../util/errors.ts';
import type { Wcs } from '../wcs/index.ts';
import type { Image } from './image.ts';
import {
  cleanBlocks,
  KERNEL_TAPS,
  type MappingGrid,
  type ResampleKernelName,
  type ResampleTask,
} from './resample-kernel.ts';
import { defaultPool, sharedFloat32, sharedUint8, toShared, type WorkerPool } from './workers.ts';

export type { ResampleKernelName } from './resample-kernel.ts';
export const RESAMPLE_KERNELS: readonly ResampleKernelName[] = ['nearest', 'bilinear', 'lanczos3'];

export interface Region {
  x0: number;
  y0: number;
  width: number;
  height: number;
}

export interface ResampleOptions {
  /** Interpolation kernel; default 'lanczos3'. */
  kernel?: ResampleKernelName;
  /** Multiply by the pixel-area ratio so that fluxes are conserved (default true). */
  conserveFlux?: boolean;
  /** Mask bits that make a source pixel unusable; default any bit. */
  maskBits?: number;
  /** Spacing of the exact-mapping grid, target pixels; default 16. */
  gridStep?: number;
  /** Threads; default the process-wide pool. */
  pool?: WorkerPool;
  /**
   * Shared buffers to reuse from call to call (a co-add resamples many frames). The result's
   * arrays are then views into them, overwritten by the next call. Without it every call
   * allocates shared memory, which worker threads release only at their next garbage collection.
   */
  scratch?: ResampleScratch;
}

/** Shared memory for the source planes and the outputs, grown as needed and reused. */
export class ResampleScratch {
  private readonly buffers = new Map<string, SharedArrayBuffer>();

  /** The first n elements of a reused shared buffer (its whole buffer goes to the workers). */
  float32(name: string, n: number): Float32Array {
    return new Float32Array(this.buffer(name, 4 * n), 0, n);
  }

  uint8(name: string, n: number): Uint8Array {
    return new Uint8Array(this.buffer(name, n), 0, n);
  }

  private buffer(name: string, bytes: number): SharedArrayBuffer {
    let b = this.buffers.get(name);
    if (!b || b.byteLength < bytes) {
      b = new SharedArrayBuffer(bytes);
      this.buffers.set(name, b);
    }
    return b;
  }
}

/** A resampled image: values, variance (when the input had one), mask, and coverage (0–1). */
export interface ResampledImage extends Image {
  readonly mask: Uint8Array;
  readonly coverage: Float32Array;
  /** Output pixels with data. */
  readonly validPixels: number;
}

/** Exact source positions and pixel-area ratios on a grid of nodes covering a target region. */
export function mappingGrid(source: Wcs, target: Wcs, region: Region, step = 16): MappingGrid {
  if (!(step >= 1)) throw new RangeError(`grid step must be ≥ 1, got ${step}`);
  // Nodes from one step before the region to two after, so that every cell has four neighbours.
  const nx = Math.floor(Math.max(0, region.width - 1) / step) + 4;
  const ny = Math.floor(Math.max(0, region.height - 1) / step) + 4;
  const n = nx * ny;
  const h = 0.5;
  // Five points per node: the node and ±h along each axis, for the Jacobian.
  const X = new Float64Array(5 * n);
  const Y = new Float64Array(5 * n);
  const offsets = [
    [0, 0],
    [h, 0],
    [-h, 0],
    [0, h],
    [0, -h],
  ];
  for (let j = 0; j < ny; j++) {
    for (let i = 0; i < nx; i++) {
      const k = j * nx + i;
      const px = region.x0 + (i - 1) * step;
      const py = region.y0 + (j - 1) * step;
      for (let p = 0; p < 5; p++) {
        X[p * n + k] = px + offsets[p][0];
        Y[p * n + k] = py + offsets[p][1];
      }
    }
  }
  const sky = target.pixelToSky(X, Y);
  const pix = source.skyToPixel(sky.ra, sky.dec);
  const x = pix.x.slice(0, n);
  const y = pix.y.slice(0, n);
  const jacobian = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const dxdX = (pix.x[n + k] - pix.x[2 * n + k]) / (2 * h);
    const dydX = (pix.y[n + k] - pix.y[2 * n + k]) / (2 * h);
    const dxdY = (pix.x[3 * n + k] - pix.x[4 * n + k]) / (2 * h);
    const dydY = (pix.y[3 * n + k] - pix.y[4 * n + k]) / (2 * h);
    jacobian[k] = Math.abs(dxdX * dydY - dxdY * dydX);
  }
  return { step, x0: region.x0, y0: region.y0, nx, ny, x, y, jacobian };
}

/** The part of a target grid that a source image can reach (pixel bounds, clipped), or undefined. */
export function overlapRegion(
  source: Wcs,
  sourceWidth: number,
  sourceHeight: number,
  target: Wcs,
  targetWidth: number,
  targetHeight: number,
  margin = 4,
): Region | undefined {
  // Walk the source's outline (and a lattice inside it) into target pixels.
  const pts: number[][] = [];
  const n = 16;
  for (let j = 0; j <= n; j++) {
    for (let i = 0; i <= n; i++) pts.push([-0.5 + (i / n) * sourceWidth, -0.5 + (j / n) * sourceHeight]);
  }
  const sky = source.pixelToSky(
    Float64Array.from(pts, (p) => p[0]),
    Float64Array.from(pts, (p) => p[1]),
  );
  const t = target.skyToPixel(sky.ra, sky.dec);
  let x0 = Number.POSITIVE_INFINITY;
  let y0 = Number.POSITIVE_INFINITY;
  let x1 = Number.NEGATIVE_INFINITY;
  let y1 = Number.NEGATIVE_INFINITY;
  for (let k = 0; k < t.x.length; k++) {
    if (!Number.isFinite(t.x[k]) || !Number.isFinite(t.y[k])) continue;
    x0 = Math.min(x0, t.x[k]);
    x1 = Math.max(x1, t.x[k]);
    y0 = Math.min(y0, t.y[k]);
    y1 = Math.max(y1, t.y[k]);
  }
  const bx0 = Math.max(0, Math.floor(x0) - margin);
  const by0 = Math.max(0, Math.floor(y0) - margin);
  const bx1 = Math.min(targetWidth, Math.ceil(x1) + margin + 1);
  const by1 = Math.min(targetHeight, Math.ceil(y1) + margin + 1);
  if (!(bx1 > bx0 && by1 > by0)) return undefined;
  return { x0: bx0, y0: by0, width: bx1 - bx0, height: by1 - by0 };
}

/**
 * Resample `image` (on `source`) onto a region of the target grid (default: all of it,
 * `targetWidth` × `targetHeight`). Pixels the source does not reach have no data.
 */
export async function resampleRegion(
  image: Image,
  source: Wcs,
  target: Wcs,
  region: Region,
  options: ResampleOptions = {},
): Promise<ResampledImage> {
  const kernel = options.kernel ?? 'lanczos3';
  if (!RESAMPLE_KERNELS.includes(kernel))
    throw new RangeError(`unknown resampling kernel '${kernel}' (${RESAMPLE_KERNELS.join(', ')})`);
  const grid = mappingGrid(source, target, region, options.gridStep ?? 16);
  const n = region.width * region.height;
  const sc = options.scratch;
  const data = sc ? sc.float32('out', n) : sharedFloat32(n);
  const variance = image.variance ? (sc ? sc.float32('outVariance', n) : sharedFloat32(n)) : undefined;
  const mask = sc ? sc.uint8('outMask', n) : sharedUint8(n);
  const coverage = sc ? sc.float32('outCoverage', n) : sharedFloat32(n);
  const shared = (a: Float64Array) => toShared(a).buffer as SharedArrayBuffer;
  // The source planes in shared memory: copied into the scratch buffers, or shared copies.
  const sourcePlane = <T extends Float32Array | Uint8Array>(a: T, name: string): SharedArrayBuffer => {
    if (!sc) return toShared(a).buffer as SharedArrayBuffer;
    const b = a instanceof Float32Array ? sc.float32(name, a.length) : sc.uint8(name, a.length);
    b.set(a as never);
    return b.buffer as SharedArrayBuffer;
  };
  const task: Omit<ResampleTask, 'start' | 'end'> = {
    kind: 'resample',
    kernel,
    conserveFlux: options.conserveFlux ?? true,
    maskBits: options.maskBits ?? 0xff,
    sourceWidth: image.width,
    sourceHeight: image.height,
    source: sourcePlane(image.data, 'source'),
    sourceVariance: image.variance && sourcePlane(image.variance, 'sourceVariance'),
    sourceMask: image.mask && sourcePlane(image.mask, 'sourceMask'),
    sourceClean:
      image.mask &&
      (cleanBlocks(
        image.mask,
        image.width,
        image.height,
        KERNEL_TAPS[kernel],
        options.maskBits ?? 0xff,
        sc ? sc.uint8('sourceClean', image.mask.length) : sharedUint8(image.mask.length),
      ).buffer as SharedArrayBuffer),
    grid: { ...grid, x: shared(grid.x), y: shared(grid.y), jacobian: shared(grid.jacobian) },
    outX0: region.x0,
    outY0: region.y0,
    outWidth: region.width,
    outHeight: region.height,
    out: data.buffer as SharedArrayBuffer,
    outVariance: variance && (variance.buffer as SharedArrayBuffer),
    outMask: mask.buffer as SharedArrayBuffer,
    outCoverage: coverage.buffer as SharedArrayBuffer,
  };
  await (options.pool ?? defaultPool()).runRanges(region.height, (start, end) => ({ ...task, start, end }));
  let validPixels = 0;
  for (let k = 0; k < n; k++) if (coverage[k] > 0) validPixels++;
  return { width: region.width, height: region.height, data, variance, mask, coverage, validPixels };
}

/**
 * Resample `image` (on `source`) onto the whole target grid. BadInputError when no target
 * pixel receives data (no overlap, or every overlapping pixel masked).
 */
export async function resample(
  image: Image,
  source: Wcs,
  target: Wcs,
  targetWidth: number,
  targetHeight: number,
  options: ResampleOptions = {},
): Promise<ResampledImage> {
  const out = await resampleRegion(
    image,
    source,
    target,
    { x0: 0, y0: 0, width: targetWidth, height: targetHeight },
    options,
  );
  if (out.validPixels === 0) {
    throw new BadInputError(
      `the ${image.width}×${image.height} image does not overlap the ${targetWidth}×${targetHeight} target grid (or all overlapping pixels are masked)`,
    );
  }
  return out;
}
