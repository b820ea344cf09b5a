/**
 * The per-row work of resampling (run on every thread of the pool): for each output pixel,
 * its position on the source image comes from a coarse grid of exact WCS mappings by
 * Catmull-Rom interpolation; the source is sampled there with the interpolation kernel;
 * the value is scaled by the pixel-area ratio (the Jacobian determinant of the mapping).
 *
 * Rules, per output pixel:
 * - no data (NaN, mask NO_DATA, coverage 0) when the source pixel nearest to the position is
 *   outside the source, NaN, or masked by `maskBits`;
 * - otherwise the kernel-weighted mean over the usable taps (weights renormalised over them),
 *   variance Σw²σ² / (Σw)², and coverage Σ|w| over usable taps / Σ|w| over all taps;
 * - mask: the OR of the mask bits of the (up to 4) source pixels around the position.
 */
import { MaskBit } from './image.ts';

export type ResampleKernelName = 'nearest' | 'bilinear' | 'lanczos3';

/** Source pixels per axis that a kernel's footprint spans. */
export const KERNEL_TAPS: Record<ResampleKernelName, number> = { nearest: 1, bilinear: 2, lanczos3: 6 };

/** Exact source positions at grid nodes: node (i, j) is target pixel (x0 + (i − 1)·step, y0 + (j − 1)·step). */
export interface MappingGrid {
  step: number;
  x0: number;
  y0: number;
  nx: number;
  ny: number;
  /** Source x, y and |Jacobian determinant| (source pixels per target pixel, by area), node j·nx + i. */
  x: Float64Array;
  y: Float64Array;
  jacobian: Float64Array;
}

export interface ResampleTask {
  kind: 'resample';
  kernel: ResampleKernelName;
  conserveFlux: boolean;
  maskBits: number;
  sourceWidth: number;
  sourceHeight: number;
  source: SharedArrayBuffer;
  sourceVariance?: SharedArrayBuffer;
  sourceMask?: SharedArrayBuffer;
  /** With a mask: cleanBlocks(mask, …, taps) of it, so that the fast path can take clean footprints. */
  sourceClean?: SharedArrayBuffer;
  grid: {
    step: number;
    x0: number;
    y0: number;
    nx: number;
    ny: number;
    x: SharedArrayBuffer;
    y: SharedArrayBuffer;
    jacobian: SharedArrayBuffer;
  };
  /** Output region: target pixels [outX0, outX0 + outWidth) × [outY0, outY0 + outHeight). */
  outX0: number;
  outY0: number;
  outWidth: number;
  outHeight: number;
  out: SharedArrayBuffer;
  outVariance?: SharedArrayBuffer;
  outMask: SharedArrayBuffer;
  outCoverage: SharedArrayBuffer;
  /** Output rows [start, end) of the region. */
  start: number;
  end: number;
}

/**
 * Lanczos-3 weights of the six taps around a position, tabulated at PHASES sub-pixel phases
 * and normalised to unit sum per phase; a position between two phases interpolates them
 * linearly (still unit sum). Tap k of phase f sits at distance f + 2 − k.
 */
const PHASES = 2048;
const LANCZOS3_TAPS = (() => {
  const t = new Float64Array((PHASES + 1) * 6);
  for (let p = 0; p <= PHASES; p++) {
    let sum = 0;
    for (let k = 0; k < 6; k++) {
      const d = p / PHASES + 2 - k;
      const px = Math.PI * d;
      const w = d === 0 ? 1 : Math.abs(d) >= 3 ? 0 : (3 * Math.sin(px) * Math.sin(px / 3)) / (px * px);
      t[p * 6 + k] = w;
      sum += w;
    }
    for (let k = 0; k < 6; k++) t[p * 6 + k] /= sum;
  }
  return t;
})();

/** The six Lanczos-3 weights for sub-pixel phase f ∈ [0, 1), into w. */
function lanczos3Weights(f: number, w: Float64Array): void {
  const p = f * PHASES;
  const i = p | 0;
  const u = p - i;
  const b = i * 6;
  for (let k = 0; k < 6; k++)
    w[k] = LANCZOS3_TAPS[b + k] + u * (LANCZOS3_TAPS[b + 6 + k] - LANCZOS3_TAPS[b + k]);
}

/** Catmull-Rom interpolation of four equally spaced values at fraction t between the middle two. */
function catmullRom(p0: number, p1: number, p2: number, p3: number, t: number): number {
  return p1 + 0.5 * t * (p2 - p0 + t * (2 * p0 - 5 * p1 + 4 * p2 - p3 + t * (3 * (p1 - p2) + p3 - p0)));
}

/** OR of the mask bits of the (up to four) source pixels around position (x, y). */
function bitsAround(mask: Uint8Array, sw: number, sh: number, x: number, y: number): number {
  const bx = Math.floor(x);
  const by = Math.floor(y);
  let bits = 0;
  for (let yy = by; yy <= by + 1; yy++) {
    if (yy < 0 || yy >= sh) continue;
    for (let xx = bx; xx <= bx + 1; xx++) if (xx >= 0 && xx < sw) bits |= mask[yy * sw + xx];
  }
  return bits;
}

/**
 * For each source pixel k: how many rows, from k's row down, have their `taps` pixels from
 * k's column on free of `maskBits` (capped at 255). A kernel footprint of taps × taps with its
 * first pixel at k is clean when the value is at least taps.
 */
export function cleanBlocks(
  mask: Uint8Array,
  width: number,
  height: number,
  taps: number,
  maskBits: number,
  out: Uint8Array = new Uint8Array(width * height),
): Uint8Array {
  // Along each row: clean pixels from here to the right (capped), then whether the window is clean.
  for (let y = 0; y < height; y++) {
    const row = y * width;
    let run = 0;
    for (let x = width - 1; x >= 0; x--) {
      run = (mask[row + x] & maskBits) === 0 ? Math.min(255, run + 1) : 0;
      out[row + x] = run >= taps ? 1 : 0;
    }
  }
  // Down each column: consecutive rows whose windows are clean, bottom-up, in place.
  for (let y = height - 1; y >= 0; y--) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      const below = y + 1 < height ? out[row + width + x] : 0;
      out[row + x] = out[row + x] === 0 ? 0 : Math.min(255, below + 1);
    }
  }
  return out;
}

export function runResampleTask(task: ResampleTask): void {
  const sw = task.sourceWidth;
  const sh = task.sourceHeight;
  const src = new Float32Array(task.source);
  const srcVar = task.sourceVariance ? new Float32Array(task.sourceVariance) : undefined;
  const srcMask = task.sourceMask ? new Uint8Array(task.sourceMask) : undefined;
  const clean = task.sourceClean ? new Uint8Array(task.sourceClean) : undefined;
  const maskBits = task.maskBits;
  const conserveFlux = task.conserveFlux;
  const g = task.grid;
  const gx = new Float64Array(g.x);
  const gy = new Float64Array(g.y);
  const gj = new Float64Array(g.jacobian);
  const out = new Float32Array(task.out);
  const outVar = task.outVariance ? new Float32Array(task.outVariance) : undefined;
  const outMask = new Uint8Array(task.outMask);
  const outCov = new Float32Array(task.outCoverage);
  const W = task.outWidth;
  const taps = KERNEL_TAPS[task.kernel];
  const wx = new Float64Array(taps);
  const wy = new Float64Array(taps);
  const rowX = new Float64Array(g.nx);
  const rowY = new Float64Array(g.nx);
  const rowJ = new Float64Array(g.nx);
  const colX = new Float64Array(W);
  const colY = new Float64Array(W);
  const colJ = new Float64Array(W);

  /** Usable source pixel? (inside, finite, not masked; a NaN position is not inside) */
  const usable = (i: number, j: number): boolean => {
    if (!(i >= 0 && j >= 0 && i < sw && j < sh)) return false;
    const k = j * sw + i;
    const v = src[k];
    return !Number.isNaN(v) && (srcMask === undefined || (srcMask[k] & maskBits) === 0);
  };

  for (let r = task.start; r < task.end; r++) {
    // Node rows around this output row, interpolated along y once for the whole row.
    const fy = (task.outY0 + r - g.y0) / g.step + 1;
    const j = Math.min(g.ny - 3, Math.max(1, Math.floor(fy)));
    const ty = fy - j;
    for (let i = 0; i < g.nx; i++) {
      const k = j * g.nx + i;
      const n = g.nx;
      rowX[i] = catmullRom(gx[k - n], gx[k], gx[k + n], gx[k + 2 * n], ty);
      rowY[i] = catmullRom(gy[k - n], gy[k], gy[k + n], gy[k + 2 * n], ty);
      rowJ[i] = gj[k] + ty * (gj[k + n] - gj[k]);
    }
    // Then along x, cell by cell: the source position and area ratio of every output pixel.
    const off = task.outX0 - g.x0 + g.step;
    for (let c = 0; c < W; ) {
      const i = Math.min(g.nx - 3, Math.max(1, Math.floor((off + c) / g.step)));
      const cEnd = i === g.nx - 3 ? W : Math.min(W, Math.ceil((i + 1) * g.step - off));
      for (; c < cEnd; c++) {
        const tx = (off + c) / g.step - i;
        colX[c] = catmullRom(rowX[i - 1], rowX[i], rowX[i + 1], rowX[i + 2], tx);
        colY[c] = catmullRom(rowY[i - 1], rowY[i], rowY[i + 1], rowY[i + 2], tx);
        colJ[c] = rowJ[i] + tx * (rowJ[i + 1] - rowJ[i]);
      }
    }
    const orow = r * W;
    for (let c = 0; c < W; c++) {
      const o = orow + c;
      const x = colX[c];
      const y = colY[c];
      const jac = colJ[c];
      // The nearest source pixel decides whether there is data here at all.
      const nxp = Math.floor(x + 0.5);
      const nyp = Math.floor(y + 0.5);
      if (!usable(nxp, nyp)) {
        out[o] = Number.NaN;
        if (outVar) outVar[o] = Number.NaN;
        outMask[o] =
          MaskBit.NO_DATA |
          (nxp >= 0 && nyp >= 0 && nxp < sw && nyp < sh && srcMask ? srcMask[nyp * sw + nxp] : 0);
        outCov[o] = 0;
        continue;
      }
      let ix: number;
      let iy: number;
      if (taps === 6) {
        const flx = Math.floor(x);
        const fly = Math.floor(y);
        ix = flx - 2;
        iy = fly - 2;
        lanczos3Weights(x - flx, wx);
        lanczos3Weights(y - fly, wy);
      } else if (taps === 2) {
        ix = Math.floor(x);
        iy = Math.floor(y);
        wx[1] = x - ix;
        wx[0] = 1 - wx[1];
        wy[1] = y - iy;
        wy[0] = 1 - wy[1];
      } else {
        ix = nxp;
        iy = nyp;
        wx[0] = 1;
        wy[0] = 1;
      }
      // Fast path: the whole footprint inside the image and free of masked pixels (`clean`
      // says so whenever there is a mask); the kernel is separable and its weights sum to one,
      // so the value is Σ wy·(Σ wx·v) over rows. A NaN anywhere shows in the result, and then
      // the general path below sorts it out.
      if (
        ix >= 0 &&
        iy >= 0 &&
        ix + taps <= sw &&
        iy + taps <= sh &&
        (srcMask === undefined || (clean !== undefined && clean[iy * sw + ix] >= taps))
      ) {
        let acc = 0;
        let accVar = 0;
        if (taps === 6) {
          const w0 = wx[0],
            w1 = wx[1],
            w2 = wx[2],
            w3 = wx[3],
            w4 = wx[4],
            w5 = wx[5];
          for (let b = 0, row = iy * sw + ix; b < 6; b++, row += sw) {
            acc +=
              wy[b] *
              (w0 * src[row] +
                w1 * src[row + 1] +
                w2 * src[row + 2] +
                w3 * src[row + 3] +
                w4 * src[row + 4] +
                w5 * src[row + 5]);
            if (srcVar)
              accVar +=
                wy[b] *
                wy[b] *
                (w0 * w0 * srcVar[row] +
                  w1 * w1 * srcVar[row + 1] +
                  w2 * w2 * srcVar[row + 2] +
                  w3 * w3 * srcVar[row + 3] +
                  w4 * w4 * srcVar[row + 4] +
                  w5 * w5 * srcVar[row + 5]);
          }
        } else {
          for (let b = 0; b < taps; b++) {
            const row = (iy + b) * sw + ix;
            let rs = 0;
            for (let a = 0; a < taps; a++) rs += wx[a] * src[row + a];
            acc += wy[b] * rs;
            if (srcVar) {
              let rv = 0;
              for (let a = 0; a < taps; a++) rv += wx[a] * wx[a] * srcVar[row + a];
              accVar += wy[b] * wy[b] * rv;
            }
          }
        }
        if (!Number.isNaN(acc)) {
          const scale = conserveFlux ? jac : 1;
          out[o] = acc * scale;
          if (outVar) outVar[o] = accVar * scale * scale;
          outMask[o] = srcMask ? bitsAround(srcMask, sw, sh, x, y) : 0;
          outCov[o] = 1;
          continue;
        }
      }
      let sumW = 0;
      let sumWV = 0;
      let sumW2Var = 0;
      let absUsable = 0;
      let absAll = 0;
      for (let b = 0; b < taps; b++) {
        const yy = iy + b;
        const wyb = wy[b];
        if (wyb === 0) continue;
        for (let a = 0; a < taps; a++) {
          const w = wx[a] * wyb;
          if (w === 0) continue;
          const aw = Math.abs(w);
          absAll += aw;
          const xx = ix + a;
          if (!usable(xx, yy)) continue;
          const k = yy * sw + xx;
          absUsable += aw;
          sumW += w;
          sumWV += w * src[k];
          if (srcVar) sumW2Var += w * w * srcVar[k];
        }
      }
      // Mask bits of the source pixels around the position (its bilinear neighbours).
      const bits = srcMask ? bitsAround(srcMask, sw, sh, x, y) : 0;
      const scale = conserveFlux ? jac : 1;
      if (sumW === 0) {
        out[o] = Number.NaN;
        if (outVar) outVar[o] = Number.NaN;
        outMask[o] = bits | MaskBit.NO_DATA;
        outCov[o] = 0;
        continue;
      }
      out[o] = (sumWV / sumW) * scale;
      if (outVar) outVar[o] = (sumW2Var / (sumW * sumW)) * scale * scale;
      outMask[o] = bits;
      outCov[o] = absUsable / absAll;
    }
  }
}
