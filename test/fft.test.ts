import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  ComplexFft,
  FftPool,
  factorize,
  fftBackend,
  goodFftSize,
  isSmooth,
  mixedRadixBackend,
  RealFft2d,
  setFftBackend,
} from '../src/image/fft/index.ts';
import { hasPythonModule, requireTool, runPython } from './support/tools.ts';

function random(n: number, seed = 1): Float64Array {
  let s = seed >>> 0;
  return Float64Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296 - 0.5;
  });
}

/** The half spectrum by the definition X(u, v) = Σ x(x, y)·e^(−2πi(ux/W + vy/H)). */
function naiveRfft2(x: Float64Array, w: number, h: number): Float64Array {
  const sw = w / 2 + 1;
  const out = new Float64Array(2 * sw * h);
  for (let v = 0; v < h; v++) {
    for (let u = 0; u < sw; u++) {
      let re = 0;
      let im = 0;
      for (let y = 0; y < h; y++) {
        for (let xx = 0; xx < w; xx++) {
          const a = -2 * Math.PI * ((u * xx) / w + (v * y) / h);
          re += x[y * w + xx] * Math.cos(a);
          im += x[y * w + xx] * Math.sin(a);
        }
      }
      out[2 * (v * sw + u)] = re;
      out[2 * (v * sw + u) + 1] = im;
    }
  }
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const pool = new FftPool(2);
after(() => pool.close());

test('factorisation and fast sizes (2^a·3^b·5^c, not only powers of two)', () => {
  assert.deepEqual(factorize(4096), [4, 4, 4, 4, 4, 4]);
  assert.deepEqual(factorize(4320), [4, 4, 2, 3, 3, 3, 5]);
  assert.deepEqual(factorize(4088), [4, 2, 7, 73]);
  assert.ok(isSmooth(4320) && !isSmooth(4088));
  assert.equal(goodFftSize(4088), 4096);
  assert.equal(goodFftSize(4088 + 64), 4320);
  assert.equal(goodFftSize(7900), 8000);
  assert.equal(goodFftSize(99), 100);
  assert.equal(goodFftSize(1), 2);
});

test('complex FFT of every radix (2, 3, 4, 5, generic) matches the DFT', () => {
  for (const n of [1, 2, 3, 4, 5, 6, 7, 8, 12, 15, 16, 30, 49, 60, 77, 100]) {
    const x = random(2 * n, n);
    const f = new ComplexFft(n);
    const y = f.transform(x.slice(), new Float64Array(2 * n), 1);
    for (let k = 0; k < n; k++) {
      let re = 0;
      let im = 0;
      for (let j = 0; j < n; j++) {
        const a = (-2 * Math.PI * j * k) / n;
        re += x[2 * j] * Math.cos(a) - x[2 * j + 1] * Math.sin(a);
        im += x[2 * j] * Math.sin(a) + x[2 * j + 1] * Math.cos(a);
      }
      assert.ok(Math.abs(y[2 * k] - re) < 1e-12 && Math.abs(y[2 * k + 1] - im) < 1e-12, `n=${n} k=${k}`);
    }
    const back = f.transform(y.slice(), new Float64Array(2 * n), 1, true);
    assert.ok(
      maxAbsDiff(
        Float64Array.from(back, (v) => v / n),
        x,
      ) < 1e-14,
      `round trip n=${n}`,
    );
  }
});

test('2-D real FFT matches the definition and inverts, for smooth and non-smooth sizes', () => {
  for (const [w, h] of [
    [8, 4],
    [6, 5],
    [14, 9],
    [20, 12],
    [26, 7],
    [10, 1],
  ]) {
    const x = random(w * h, w * 31 + h);
    const f = new RealFft2d(w, h);
    const X = f.forward(x);
    assert.ok(maxAbsDiff(X, naiveRfft2(x, w, h)) < 1e-11, `${w}×${h} forward`);
    assert.ok(maxAbsDiff(f.inverse(X), x) < 1e-14, `${w}×${h} inverse`);
  }
  assert.throws(() => new RealFft2d(7, 4), RangeError);
});

test('the worker pool gives the same numbers as one thread, from float32 or float64 input', async () => {
  const w = 360;
  const h = 250;
  const x = random(w * h, 5);
  const one = new RealFft2d(w, h).forward(x);
  const two = await pool.forward(x, w, h);
  assert.ok(maxAbsDiff(one, two) < 1e-9);
  const x32 = Float32Array.from(x);
  const spec = await pool.forward(x32, w, h);
  const back = await pool.inverse(spec, w, h);
  assert.ok(maxAbsDiff(back, x32) < 1e-12);
  const out32 = new Float32Array(w * h);
  await pool.inverse(await pool.forward(x32, w, h), w, h, out32);
  assert.ok(maxAbsDiff(out32, x32) < 1e-6);
});

test('backends are swappable behind FftBackend', async () => {
  let calls = 0;
  const base = mixedRadixBackend(pool);
  const counting = {
    ...base,
    name: 'counting',
    forward: (...a: Parameters<typeof base.forward>) => {
      calls++;
      return base.forward(...a);
    },
  };
  const previous = setFftBackend(counting);
  try {
    assert.equal(fftBackend().name, 'counting');
    await fftBackend().forward(new Float32Array(64), 8, 8);
    assert.equal(calls, 1);
  } finally {
    setFftBackend(previous);
  }
  assert.equal(fftBackend().name, 'mixed-radix');
  assert.equal(fftBackend().precision, 'float64');
});

test('cross-check with numpy.fft.rfft2', (t) => {
  if (!requireTool(t, 'python3-numpy', hasPythonModule('numpy'))) return;
  const w = 90;
  const h = 64;
  const x = random(w * h, 9);
  const dir = mkdtempSync(join(tmpdir(), 'rapid-fft-'));
  try {
    writeFileSync(join(dir, 'x'), x);
    runPython(
      `import sys, numpy as np
x = np.fromfile(sys.argv[1] + '/x').reshape(${h}, ${w})
np.fft.rfft2(x).astype(np.complex128).tofile(sys.argv[1] + '/X')`,
      [dir],
    );
    const b = readFileSync(join(dir, 'X'));
    const ref = new Float64Array(b.buffer, b.byteOffset, b.length / 8);
    const ours = new RealFft2d(w, h).forward(x);
    assert.equal(ours.length, ref.length);
    assert.ok(maxAbsDiff(ours, ref) < 1e-11);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
