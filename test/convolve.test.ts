import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  convolve,
  convolveDirect,
  convolveFft,
  type EdgeMode,
  gaussianKernel,
  type Kernel,
} from '../src/image/convolve.ts';
import { FftPool, mixedRadixBackend } from '../src/image/fft/index.ts';
import { hasPythonModule, requireTool, runPython } from './support/tools.ts';

const pool = new FftPool(2);
const backend = mixedRadixBackend(pool);
after(() => pool.close());

function random(n: number, seed = 1): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  });
}

/** An asymmetric kernel, so that a correlation would be caught. */
function skewKernel(w: number, h: number): Kernel {
  const data = new Float64Array(w * h);
  for (let j = 0; j < h; j++)
    for (let i = 0; i < w; i++) data[j * w + i] = 1 + i + 2 * j * j + (i === 0 && j === 0 ? 5 : 0);
  const s = data.reduce((a, b) => a + b, 0);
  for (let k = 0; k < data.length; k++) data[k] /= s;
  return { width: w, height: h, data };
}

/** Convolution by its definition, each mode spelled out. */
function bruteForce(data: Float32Array, w: number, h: number, k: Kernel, edge: EdgeMode): Float32Array {
  const out = new Float32Array(w * h);
  const cx = k.width >> 1;
  const cy = k.height >> 1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      let ws = 0;
      for (let j = 0; j < k.height; j++) {
        for (let i = 0; i < k.width; i++) {
          let sx = x - (i - cx);
          let sy = y - (j - cy);
          const inside = sx >= 0 && sx < w && sy >= 0 && sy < h;
          if (!inside && edge !== 'nearest') continue;
          sx = Math.min(w - 1, Math.max(0, sx));
          sy = Math.min(h - 1, Math.max(0, sy));
          const v = data[sy * w + sx];
          if (Number.isNaN(v)) continue;
          s += k.data[j * k.width + i] * v;
          ws += k.data[j * k.width + i];
        }
      }
      out[y * w + x] = edge === 'nan' ? s / ws : s;
    }
  }
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('a unit impulse kernel returns the image; the kernel is flipped (a convolution, not a correlation)', async () => {
  const w = 9;
  const h = 7;
  const img = new Float32Array(w * h);
  img[3 * w + 4] = 1;
  const shift: Kernel = { width: 3, height: 3, data: Float64Array.from([0, 0, 1, 0, 0, 0, 0, 0, 0]) };
  for (const method of ['direct', 'fft'] as const) {
    const out = await convolve({ width: w, height: h, data: img }, shift, { edge: 'zero', method, backend });
    // Kernel offset (+1, −1): the impulse moves to (5, 2).
    assert.ok(Math.abs(out[2 * w + 5] - 1) < 1e-6, method);
    assert.ok(Math.abs(out.reduce((a, b) => a + b, 0) - 1) < 1e-6);
  }
  const identity: Kernel = { width: 1, height: 1, data: Float64Array.from([1]) };
  const r = random(w * h);
  assert.deepEqual(await convolve({ width: w, height: h, data: r }, identity), r);
});

test('direct and FFT convolution agree with the definition in every edge mode', async () => {
  const w = 61;
  const h = 44;
  const data = random(w * h, 3);
  for (const k of [skewKernel(5, 3), skewKernel(9, 11), gaussianKernel(3)]) {
    for (const edge of ['zero', 'nearest', 'nan'] as const) {
      const ref = bruteForce(data, w, h, k, edge);
      const direct = convolveDirect({ width: w, height: h, data }, k, edge);
      const viaFft = await convolveFft({ width: w, height: h, data }, k, edge, false, backend);
      assert.ok(maxAbsDiff(direct, ref) < 1e-5, `direct ${edge} ${k.width}×${k.height}`);
      assert.ok(maxAbsDiff(viaFft, ref) < 1e-5, `fft ${edge} ${k.width}×${k.height}`);
    }
  }
});

test('edges: nearest keeps a flat image flat, zero darkens its border, NaN-aware keeps it flat too', async () => {
  const w = 40;
  const h = 30;
  const flat = new Float32Array(w * h).fill(10);
  const k = gaussianKernel(4);
  const near = await convolve({ width: w, height: h, data: flat }, k, { edge: 'nearest', backend });
  const zero = await convolve({ width: w, height: h, data: flat }, k, { edge: 'zero', backend });
  const nan = await convolve({ width: w, height: h, data: flat }, k, { edge: 'nan', backend });
  assert.ok(maxAbsDiff(near, flat) < 1e-4);
  assert.ok(maxAbsDiff(nan, flat) < 1e-4);
  assert.ok(zero[0] < 4 && zero[0] > 2, `corner ${zero[0]}`);
  assert.ok(Math.abs(zero[15 * w + 20] - 10) < 1e-4);
});

test('NaN-aware mode fills holes from neighbours (or keeps them), the other modes keep NaN', async () => {
  const w = 32;
  const h = 32;
  const data = new Float32Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[y * w + x] = 5 + 0.5 * x;
  data[10 * w + 10] = Number.NaN;
  data[10 * w + 11] = Number.NaN;
  const k = gaussianKernel(2);
  for (const method of ['direct', 'fft'] as const) {
    const filled = await convolve({ width: w, height: h, data }, k, { edge: 'nan', method, backend });
    assert.ok(Math.abs(filled[10 * w + 10] - (5 + 0.5 * 10)) < 0.15, `${method}: ${filled[10 * w + 10]}`);
    const kept = await convolve({ width: w, height: h, data }, k, {
      edge: 'nan',
      method,
      keepNaN: true,
      backend,
    });
    assert.ok(Number.isNaN(kept[10 * w + 11]) && Number.isFinite(kept[10 * w + 12]));
    const zero = await convolve({ width: w, height: h, data }, k, { edge: 'zero', method, backend });
    assert.ok(Number.isNaN(zero[10 * w + 10]) && Number.isFinite(zero[11 * w + 10]));
  }
  // No usable pixel within reach: NaN.
  const empty = new Float32Array(w * h).fill(Number.NaN);
  const out = await convolve({ width: w, height: h, data: empty }, k, { edge: 'nan', backend });
  assert.ok(out.every((v) => Number.isNaN(v)));
});

test('auto picks direct for small kernels and FFT for large ones, with the same result', async () => {
  const w = 128;
  const h = 96;
  const data = random(w * h, 11);
  const k = gaussianKernel(6); // 15×15 > 7×7: FFT
  const auto = await convolve({ width: w, height: h, data }, k, { backend });
  const direct = await convolve({ width: w, height: h, data }, k, { method: 'direct' });
  assert.ok(maxAbsDiff(auto, direct) < 1e-5);
  assert.throws(
    () => convolveDirect({ width: w, height: h, data }, { width: 2, height: 3, data: new Float64Array(6) }),
    RangeError,
  );
});

test('cross-check with scipy.ndimage.convolve (constant 0 and nearest modes)', async (t) => {
  if (!requireTool(t, 'python3-scipy', hasPythonModule('scipy.ndimage'))) return;
  const w = 70;
  const h = 50;
  const data = random(w * h, 13);
  const k = skewKernel(7, 5);
  const dir = mkdtempSync(join(tmpdir(), 'rapid-conv-'));
  try {
    writeFileSync(join(dir, 'x'), data);
    writeFileSync(join(dir, 'k'), Float64Array.from(k.data));
    runPython(
      `import sys, numpy as np
from scipy import ndimage
d = sys.argv[1]
x = np.fromfile(d + '/x', dtype='<f4').astype(float).reshape(${h}, ${w})
k = np.fromfile(d + '/k').reshape(${k.height}, ${k.width})
ndimage.convolve(x, k, mode='constant', cval=0).astype('<f4').tofile(d + '/zero')
ndimage.convolve(x, k, mode='nearest').astype('<f4').tofile(d + '/nearest')`,
      [dir],
    );
    for (const edge of ['zero', 'nearest'] as const) {
      const b = readFileSync(join(dir, edge));
      const ref = new Float32Array(b.buffer, b.byteOffset, b.length / 4);
      for (const method of ['direct', 'fft'] as const) {
        const ours = await convolve({ width: w, height: h, data }, k, { edge, method, backend });
        assert.ok(maxAbsDiff(ours, ref) < 1e-5, `${edge} ${method}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
