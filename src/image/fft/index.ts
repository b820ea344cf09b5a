/**
 * 2-D real FFTs behind a small backend interface. The default backend is our own float64
 * mixed-radix FFT (any size; fast for 2^a·3^b·5^c) with its row and column passes split over
 * every core by worker threads (bench/fft.ts measured it against fft.js, pffft-wasm and
 * numpy: it is the fastest of the JavaScript candidates on 2 cores and keeps float64
 * precision). Another backend (e.g. a WASM or native FFT) plugs in with `setFftBackend`.
 *
 * Layout: a real width×height image (row-major) ↔ its half spectrum, height rows of
 * width/2 + 1 complex values interleaved (re, im), as numpy's rfft2. Forward unnormalised,
 * inverse divided by width·height.
 */

import { sharedFloat64 } from '../workers.ts';
import { fastFftSize } from './mixed-radix.ts';
import { defaultFftPool, type FftPool } from './pool.ts';
import type { RealArray } from './real2d.ts';
import { fftPlan } from './tasks.ts';

export { sharedFloat32, sharedFloat64 } from '../workers.ts';
export { ComplexFft, factorize, fastFftSize, goodFftSize, isSmooth } from './mixed-radix.ts';
export { FftPool } from './pool.ts';
export { type RealArray, RealFft2d } from './real2d.ts';

export interface FftBackend {
  readonly name: string;
  /** Precision of the arithmetic. */
  readonly precision: 'float32' | 'float64';
  /** A size ≥ n (even) that this backend transforms quickly. */
  goodSize(n: number): number;
  /**
   * True when the backend's threads read SharedArrayBuffers: callers that keep work buffers
   * allocate them shared (`sharedFloat64`), which spares a copy per transform.
   */
  readonly sharedMemory: boolean;
  /** Forward 2-D real FFT: the half spectrum (into `spectrum` when given). */
  forward(image: RealArray, width: number, height: number, spectrum?: Float64Array): Promise<Float64Array>;
  /** Inverse 2-D real FFT, normalised, into `output` when given; may overwrite the spectrum. */
  inverse(spectrum: Float64Array, width: number, height: number, output?: RealArray): Promise<RealArray>;
}

/** Our mixed-radix FFT over a worker pool (default: one thread per core). */
export function mixedRadixBackend(pool?: FftPool): FftBackend {
  const p = () => pool ?? defaultFftPool();
  return {
    name: 'mixed-radix',
    precision: 'float64',
    goodSize: (n) => fastFftSize(n, 2),
    sharedMemory: true,
    forward: (image, width, height, spectrum) => p().forward(image, width, height, spectrum),
    inverse: (spectrum, width, height, output) => p().inverse(spectrum, width, height, output),
  };
}

/**
 * Our mixed-radix FFT on the calling thread alone: for work already shared out by larger pieces
 * (one ZOGY sub-image per worker thread), where splitting each transform would only add
 * synchronisation. Plans are kept per size (and shared with this thread's pool tasks).
 */
export function serialBackend(): FftBackend {
  return {
    name: 'mixed-radix (serial)',
    precision: 'float64',
    goodSize: (n) => fastFftSize(n, 2),
    sharedMemory: false,
    forward: async (image, width, height, spectrum) => fftPlan(width, height).forward(image, spectrum),
    inverse: async (spectrum, width, height, output) => fftPlan(width, height).inverse(spectrum, output),
  };
}

let current: FftBackend | undefined;

/** The backend that convolution and subtraction use. */
export function fftBackend(): FftBackend {
  current ??= mixedRadixBackend();
  return current;
}

/** Replace the backend (returns the previous one, to restore it). */
export function setFftBackend(backend: FftBackend): FftBackend {
  const previous = fftBackend();
  current = backend;
  return previous;
}

/**
 * A float64 work buffer for a backend's transforms: shared memory when its threads read it in
 * place (no copy per transform), a plain array otherwise.
 */
export function workBuffer(backend: FftBackend, length: number): Float64Array {
  return backend.sharedMemory ? sharedFloat64(length) : new Float64Array(length);
}

/** A copy of `a` in a work buffer (a spectrum to filter and transform back). */
export function workCopy(backend: FftBackend, a: Float64Array): Float64Array {
  const out = workBuffer(backend, a.length);
  out.set(a);
  return out;
}

/** Multiply half spectrum a by b in place (a ← a·b), both interleaved complex. */
export function multiplySpectra(a: Float64Array, b: Float64Array | Float32Array): void {
  for (let i = 0; i < a.length; i += 2) {
    const ar = a[i];
    const ai = a[i + 1];
    const br = b[i];
    const bi = b[i + 1];
    a[i] = ar * br - ai * bi;
    a[i + 1] = ar * bi + ai * br;
  }
}
