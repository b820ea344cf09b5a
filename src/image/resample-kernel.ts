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

/** Lanczos-3 sampled every 1/LUT_RES pixel, interpolated linearly between samples. */
const LUT_RES = 1024;
const LANCZOS3 = (() => {
  const t = new Float64Array(3 * LUT_RES + 2);
  for (let i = 0; i < t.length; i++) {
    const x = i / LUT_RES;
    if (x === 0) t[i] = 1;
    else if (x >= 3) t[i] = 0;
    else {
      const px = Math.PI * x;
      t[i] = (3 * Math.sin(px) * Math.sin(px / 3)) / (px * px);
    }
  }
  return t;
})();

function lanczos3(x: number): number {
  const a = Math.abs(x) * LUT_RES;
  const i = a | 0;
  if (i >= 3 * LUT_RES) return 0;
  const f = a - i;
  return LANCZOS3[i] + f * (LANCZOS3[i + 1] - LANCZOS3[i]);
}

/** Catmull-Rom interpolation of four equally spaced values at fraction t between the middle two. */
function catmullRom(p0: number, p1: number, p2: number, p3: number, t: number): number {
  return p1 + 0.5 * t * (p2 - p0 + t * (2 * p0 - 5 * p1 + 4 * p2 - p3 + t * (3 * (p1 - p2) + p3 - p0)));
}

export function runResampleTask(task: ResampleTask): void {
  const sw = task.sourceWidth;
  const sh = task.sourceHeight;
  const src = new Float32Array(task.source);
  const srcVar = task.sourceVariance ? new Float32Array(task.sourceVariance) : undefined;
  const srcMask = task.sourceMask ? new Uint8Array(task.sourceMask) : undefined;
  const maskBits = task.maskBits;
  const g = task.grid;
  const gx = new Float64Array(g.x);
  const gy = new Float64Array(g.y);
  const gj = new Float64Array(g.jacobian);
  const out = new Float32Array(task.out);
  const outVar = task.outVariance ? new Float32Array(task.outVariance) : undefined;
  const outMask = new Uint8Array(task.outMask);
  const outCov = new Float32Array(task.outCoverage);
  const W = task.outWidth;
  const taps = task.kernel === 'lanczos3' ? 6 : task.kernel === 'bilinear' ? 2 : 1;
  const wx = new Float64Array(taps);
  const wy = new Float64Array(taps);
  const rowX = new Float64Array(g.nx);
  const rowY = new Float64Array(g.nx);
  const rowJ = new Float64Array(g.nx);

  /** Usable source pixel? (inside, finite, not masked) */
  const usable = (i: number, j: number): boolean => {
    if (i < 0 || j < 0 || i >= sw || j >= sh) return false;
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
    const orow = r * W;
    for (let c = 0; c < W; c++) {
      const o = orow + c;
      const fx = (task.outX0 + c - g.x0) / g.step + 1;
      const i = Math.min(g.nx - 3, Math.max(1, Math.floor(fx)));
      const tx = fx - i;
      const x = catmullRom(rowX[i - 1], rowX[i], rowX[i + 1], rowX[i + 2], tx);
      const y = catmullRom(rowY[i - 1], rowY[i], rowY[i + 1], rowY[i + 2], tx);
      const jac = rowJ[i] + tx * (rowJ[i + 1] - rowJ[i]);
      // The nearest source pixel decides whether there is data here at all.
      const nxp = Math.floor(x + 0.5);
      const nyp = Math.floor(y + 0.5);
      if (Number.isNaN(x) || Number.isNaN(y) || !usable(nxp, nyp)) {
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
        ix = Math.floor(x) - 2;
        iy = Math.floor(y) - 2;
        for (let t = 0; t < 6; t++) {
          wx[t] = lanczos3(x - (ix + t));
          wy[t] = lanczos3(y - (iy + t));
        }
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
      // Fast path: the whole footprint inside the image and no mask; the kernel is separable,
      // so Σ wx·wy·v is a sum over rows of row sums. A NaN anywhere shows in the result, and
      // then the general path below sorts it out.
      if (srcMask === undefined && ix >= 0 && iy >= 0 && ix + taps <= sw && iy + taps <= sh) {
        let sx = 0;
        let sy = 0;
        for (let t = 0; t < taps; t++) {
          sx += wx[t];
          sy += wy[t];
        }
        let acc = 0;
        let accVar = 0;
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
        if (!Number.isNaN(acc)) {
          const sumW = sx * sy;
          const scale = task.conserveFlux ? jac : 1;
          out[o] = (acc / sumW) * scale;
          if (outVar) outVar[o] = (accVar / (sumW * sumW)) * scale * scale;
          outMask[o] = 0;
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
      let bits = 0;
      if (srcMask) {
        const bx = Math.floor(x);
        const by = Math.floor(y);
        for (let yy = by; yy <= by + 1; yy++) {
          if (yy < 0 || yy >= sh) continue;
          for (let xx = bx; xx <= bx + 1; xx++) if (xx >= 0 && xx < sw) bits |= srcMask[yy * sw + xx];
        }
      }
      const scale = task.conserveFlux ? jac : 1;
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
