/**
 * FFT candidates for the 2-D real transforms of convolution and ZOGY: speed (median of runs,
 * forward 2-D real FFT of a float32 image, each candidate in its own child process so that
 * its peak memory is its own) and precision (against numpy's float64 pocketfft).
 *
 *   node --import tsx bench/fft.ts [--size 4096,4320] [--runs 3]
 *
 * Candidates: our mixed-radix float64 FFT on 1 thread and on every core (the default backend,
 * src/image/fft), fft.js (radix-4, float64, powers of two only), @echogarden/pffft-wasm
 * (SIMD float32, sizes 2^a·3^b·5^c multiple of 32), and the reference, numpy.fft.rfft2.
 * A native FFTW binding was not tried: none on npm installs without a download or a compiler
 * toolchain step.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FftPool } from '../src/image/fft/pool.ts';
import { RealFft2d } from '../src/image/fft/real2d.ts';

type Forward = (image: Float32Array) => Promise<Float64Array> | Float64Array;
interface Candidate {
  name: string;
  supports: (n: number) => boolean;
  make: (
    n: number,
  ) => Promise<{ forward: Forward; inverse?: (s: Float64Array) => Promise<Float64Array> | Float64Array }>;
}

const PYTHON = '/usr/bin/python3';
const isPowerOfTwo = (n: number) => (n & (n - 1)) === 0;
const isPffftSize = (n: number) => {
  let m = n;
  for (const p of [2, 3, 5]) while (m % p === 0) m /= p;
  return m === 1 && n % 32 === 0;
};

const candidates: Candidate[] = [
  {
    name: 'mixed-radix (ours, 1 thread)',
    supports: () => true,
    make: async (n) => {
      const f = new RealFft2d(n, n);
      return { forward: (x) => f.forward(x), inverse: (s) => f.inverse(s.slice()) as Float64Array };
    },
  },
  {
    name: 'mixed-radix (ours, all cores)',
    supports: () => true,
    make: async (n) => {
      const pool = new FftPool();
      return {
        forward: (x) => pool.forward(x, n, n),
        inverse: async (s) => (await pool.inverse(s.slice(), n, n)) as Float64Array,
      };
    },
  },
  {
    name: 'fft.js 4.0.4 (1 thread)',
    supports: isPowerOfTwo,
    make: async (n) => {
      const FFT = (await import('fft.js')).default;
      const rows = new FFT(n);
      const cols = new FFT(n);
      const sw = n / 2 + 1;
      const rowOut = rows.createComplexArray() as number[];
      const row = new Float64Array(n);
      const col = new Float64Array(2 * n);
      const colOut = new Float64Array(2 * n);
      return {
        forward: (x) => {
          const spec = new Float64Array(2 * sw * n);
          for (let y = 0; y < n; y++) {
            for (let i = 0; i < n; i++) row[i] = x[y * n + i];
            rows.realTransform(rowOut, row);
            spec.set(
              (rowOut as unknown as Float64Array).slice?.(0, 2 * sw) ?? rowOut.slice(0, 2 * sw),
              2 * sw * y,
            );
          }
          for (let c = 0; c < sw; c++) {
            for (let y = 0; y < n; y++) {
              col[2 * y] = spec[2 * (y * sw + c)];
              col[2 * y + 1] = spec[2 * (y * sw + c) + 1];
            }
            cols.transform(colOut, col);
            for (let y = 0; y < n; y++) {
              spec[2 * (y * sw + c)] = colOut[2 * y];
              spec[2 * (y * sw + c) + 1] = colOut[2 * y + 1];
            }
          }
          return spec;
        },
      };
    },
  },
  {
    name: 'pffft-wasm 0.4.2 SIMD float32 (1 thread)',
    supports: isPffftSize,
    make: async (n) => {
      // biome-ignore lint/suspicious/noExplicitAny: an Emscripten module without types
      const m: any = await (await import('@echogarden/pffft-wasm/simd' as string)).default();
      const real = m._pffft_new_setup(n, 0);
      const cplx = m._pffft_new_setup(n, 1);
      const inp = m._pffft_aligned_malloc(8 * n);
      const out = m._pffft_aligned_malloc(8 * n);
      const work = m._pffft_aligned_malloc(8 * n);
      const sw = n / 2 + 1;
      return {
        forward: (x) => {
          const spec = new Float64Array(2 * sw * n);
          for (let y = 0; y < n; y++) {
            const heap: Float32Array = m.HEAPF32;
            heap.set(x.subarray(y * n, y * n + n), inp >> 2);
            m._pffft_transform_ordered(real, inp, out, work, 0);
            // Ordered real output: r0, r(n/2), then (re, im) of bins 1 … n/2 − 1.
            const o = out >> 2;
            const base = 2 * sw * y;
            spec[base] = heap[o];
            spec[base + 2 * (sw - 1)] = heap[o + 1];
            for (let k = 2; k < n; k++) spec[base + k] = heap[o + k];
          }
          for (let c = 0; c < sw; c++) {
            const heap: Float32Array = m.HEAPF32;
            const i0 = inp >> 2;
            for (let y = 0; y < n; y++) {
              heap[i0 + 2 * y] = spec[2 * (y * sw + c)];
              heap[i0 + 2 * y + 1] = spec[2 * (y * sw + c) + 1];
            }
            m._pffft_transform_ordered(cplx, inp, out, work, 0);
            const o = out >> 2;
            for (let y = 0; y < n; y++) {
              spec[2 * (y * sw + c)] = heap[o + 2 * y];
              spec[2 * (y * sw + c) + 1] = heap[o + 2 * y + 1];
            }
          }
          return spec;
        },
      };
    },
  },
];

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];

function randomImage(n: number, seed = 1): Float32Array {
  let s = seed;
  const x = new Float32Array(n * n);
  for (let i = 0; i < x.length; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    x[i] = s / 2147483648 - 0.5;
  }
  return x;
}

/** Child process: time one candidate at one size and report its peak memory. */
async function child(name: string, n: number, runs: number): Promise<void> {
  const c = candidates.find((k) => k.name === name)!;
  const x = randomImage(n);
  const f = await c.make(n);
  await f.forward(x); // warm-up (plans, JIT)
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t = performance.now();
    await f.forward(x);
    times.push(performance.now() - t);
  }
  process.stdout.write(`${JSON.stringify({ times, maxRSS: process.resourceUsage().maxRSS })}\n`);
  process.exit(0);
}

/** Relative rms error of each candidate's forward transform against numpy (float64), and of its round trip. */
async function precision(n: number): Promise<void> {
  const x = randomImage(n, 7);
  const dir = join(tmpdir(), `rapid-fft-bench-${process.pid}`);
  const xin = `${dir}.in`;
  const xref = `${dir}.ref`;
  writeFileSync(xin, new Float64Array(x));
  const py = spawnSync(PYTHON, [
    '-c',
    `import numpy as np; x=np.fromfile('${xin}').reshape(${n},${n}); np.fft.rfft2(x).astype(np.complex128).tofile('${xref}')`,
  ]);
  if (py.status !== 0) {
    console.log(`precision: numpy unavailable (${py.stderr}); skipped`);
    return;
  }
  const buf = readFileSync(xref);
  const ref = new Float64Array(buf.buffer, buf.byteOffset, buf.length / 8);
  rmSync(xin);
  rmSync(xref);
  console.log(`\nprecision on a ${n}² random image (reference: numpy.fft.rfft2 in float64)`);
  for (const c of candidates) {
    if (!c.supports(n)) continue;
    const f = await c.make(n);
    const X = await f.forward(x);
    let e2 = 0;
    let r2 = 0;
    for (let i = 0; i < ref.length; i++) {
      e2 += (X[i] - ref[i]) ** 2;
      r2 += ref[i] ** 2;
    }
    let trip = 'n/a';
    if (f.inverse) {
      const y = await f.inverse(X);
      let d2 = 0;
      let x2 = 0;
      for (let i = 0; i < x.length; i++) {
        d2 += (y[i] - x[i]) ** 2;
        x2 += x[i] ** 2;
      }
      trip = Math.sqrt(d2 / x2).toExponential(2);
    }
    console.log(
      `  ${c.name.padEnd(42)} forward rel. rms error ${Math.sqrt(e2 / r2).toExponential(2)}, round trip ${trip}`,
    );
  }
}

function numpyReference(n: number, runs: number): { times: number[]; maxRSS: number } | undefined {
  const script = `
import json, sys, time, numpy as np
n, runs = int(sys.argv[1]), int(sys.argv[2])
x = (np.random.default_rng(1).random((n, n), dtype=np.float32) - 0.5)
np.fft.rfft2(x)
t = []
for _ in range(runs):
    t0 = time.perf_counter(); np.fft.rfft2(x); t.append((time.perf_counter() - t0) * 1e3)
print(json.dumps(t))
`;
  const r = spawnSync('/usr/bin/time', ['-f', '%M', PYTHON, '-c', script, String(n), String(runs)], {
    encoding: 'utf8',
  });
  if (r.status !== 0) return undefined;
  const kb = Number(r.stderr.trim().split('\n').pop());
  return { times: JSON.parse(r.stdout), maxRSS: kb };
}

async function main(): Promise<void> {
  const runs = Number(arg('--runs', '3'));
  if (process.argv.includes('--child')) return child(arg('--child', ''), Number(arg('--size', '0')), runs);
  const sizes = arg('--size', '4096,4320').split(',').map(Number);
  const self = fileURLToPath(import.meta.url);
  console.log(
    `2-D real forward FFT of an n×n float32 image; median of ${runs} runs after a warm-up; peak RSS of each child`,
  );
  for (const n of sizes) {
    const ref = numpyReference(n, runs);
    const refMs = ref ? median(ref.times) : Number.NaN;
    console.log(`\nn = ${n}`);
    if (ref)
      console.log(
        `  ${'numpy.fft.rfft2 (reference, float64 pocketfft)'.padEnd(48)} ${refMs.toFixed(0).padStart(6)} ms  ${(ref.maxRSS / 1024).toFixed(0).padStart(5)} MB`,
      );
    for (const c of candidates) {
      if (!c.supports(n)) {
        console.log(`  ${c.name.padEnd(48)}   (size not supported)`);
        continue;
      }
      const r = spawnSync(
        process.execPath,
        [...process.execArgv, self, '--child', c.name, '--size', String(n), '--runs', String(runs)],
        {
          encoding: 'utf8',
          maxBuffer: 1 << 20,
        },
      );
      if (r.status !== 0) {
        console.log(`  ${c.name.padEnd(48)}   failed: ${r.stderr.split('\n').slice(0, 3).join(' ')}`);
        continue;
      }
      const m = JSON.parse(r.stdout.trim().split('\n').pop()!);
      const ms = median(m.times);
      console.log(
        `  ${c.name.padEnd(48)} ${ms.toFixed(0).padStart(6)} ms  ${(m.maxRSS / 1024).toFixed(0).padStart(5)} MB  ratio to numpy ${(ms / refMs).toFixed(2)}`,
      );
    }
  }
  await precision(512);
  process.exit(0);
}

await main();
