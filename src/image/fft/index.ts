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

import { goodFftSize } from './mixed-radix.ts';
import { defaultFftPool, type FftPool } from './pool.ts';
import type { RealArray } from './real2d.ts';

export { sharedFloat32, sharedFloat64 } from '../workers.ts';
export { ComplexFft, factorize, goodFftSize, isSmooth } from './mixed-radix.ts';
export { FftPool } from './pool.ts';
export { type RealArray, RealFft2d } from './real2d.ts';

export interface FftBackend {
  readonly name: string;
  /** Precision of the arithmetic. */
  readonly precision: 'float32' | 'float64';
  /** The smallest size ≥ n (even) that this backend transforms quickly. */
  goodSize(n: number): number;
  /** Forward 2-D real FFT: the half spectrum. */
  forward(image: RealArray, width: number, height: number): Promise<Float64Array>;
  /** Inverse 2-D real FFT, normalised; may overwrite the spectrum. */
  inverse(spectrum: Float64Array, width: number, height: number): Promise<RealArray>;
}

/** Our mixed-radix FFT over a worker pool (default: one thread per core). */
export function mixedRadixBackend(pool?: FftPool): FftBackend {
  const p = () => pool ?? defaultFftPool();
  return {
    name: 'mixed-radix',
    precision: 'float64',
    goodSize: (n) => goodFftSize(n, 2),
    forward: (image, width, height) => p().forward(image, width, height),
    inverse: (spectrum, width, height) => p().inverse(spectrum, width, height),
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

/** Multiply half spectrum a by b in place (a ← a·b), both interleaved complex. */
export function multiplySpectra(a: Float64Array, b: Float64Array): void {
  for (let i = 0; i < a.length; i += 2) {
    const ar = a[i];
    const ai = a[i + 1];
    const br = b[i];
    const bi = b[i + 1];
    a[i] = ar * br - ai * bi;
    a[i + 1] = ar * bi + ai * br;
  }
}
