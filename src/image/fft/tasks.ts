/**
 * One pass (rows or columns) of a 2-D real FFT over a range, on arrays in SharedArrayBuffers
 * that the pool shares with every thread.
 */
import { RealFft2d } from './real2d.ts';

export interface FftTask {
  kind: 'fft';
  pass: 'forwardRows' | 'columns' | 'inverseRows';
  width: number;
  height: number;
  /** Real image (forward input or inverse output). */
  real?: SharedArrayBuffer;
  realType?: 'float32' | 'float64';
  spectrum: SharedArrayBuffer;
  start: number;
  end: number;
  inverse?: boolean;
}

const plans = new Map<string, RealFft2d>();

/** A plan per size, kept for reuse by this thread (a pipeline uses a handful of sizes). */
export function fftPlan(width: number, height: number): RealFft2d {
  const key = `${width}x${height}`;
  let p = plans.get(key);
  if (!p) {
    if (plans.size >= 4) plans.delete(plans.keys().next().value!);
    p = new RealFft2d(width, height);
    plans.set(key, p);
  }
  return p;
}

export function runFftTask(task: FftTask): void {
  const p = fftPlan(task.width, task.height);
  const spectrum = new Float64Array(task.spectrum);
  const real =
    task.real && (task.realType === 'float32' ? new Float32Array(task.real) : new Float64Array(task.real));
  if (task.pass === 'forwardRows') p.forwardRows(real!, spectrum, task.start, task.end);
  else if (task.pass === 'inverseRows') p.inverseRows(spectrum, real!, task.start, task.end);
  else p.columns(spectrum, task.start, task.end, task.inverse ?? false);
}
