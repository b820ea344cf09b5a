/**
 * 2-D real FFTs over the worker pool: the row pass and the column pass are each cut into
 * one range of rows (columns) per thread, over shared memory.
 */
import { defaultPool, isShared, sharedFloat64, toShared, WorkerPool } from '../workers.ts';
import type { RealArray } from './real2d.ts';
import type { FftTask } from './tasks.ts';

export class FftPool {
  private readonly pool: WorkerPool;
  private readonly owned: boolean;

  /** A pool of its own with this many threads, or (no argument) the process-wide pool. */
  constructor(threads?: number | WorkerPool) {
    this.owned = typeof threads === 'number';
    this.pool =
      threads instanceof WorkerPool
        ? threads
        : typeof threads === 'number'
          ? new WorkerPool(threads)
          : defaultPool();
  }

  get threads(): number {
    return this.pool.threads;
  }

  private pass(task: Omit<FftTask, 'start' | 'end'>, count: number): Promise<void> {
    return this.pool.runRanges(count, (start, end) => ({ ...task, start, end }));
  }

  /** Forward 2-D real FFT; the half spectrum is in shared memory. */
  async forward(
    input: RealArray,
    width: number,
    height: number,
    spectrum?: Float64Array,
  ): Promise<Float64Array> {
    if (input.length !== width * height)
      throw new RangeError(`FFT input has ${input.length} values, not ${width}×${height}`);
    const real = toShared(input);
    const sw = width / 2 + 1;
    const out = spectrum && isShared(spectrum) ? spectrum : sharedFloat64(2 * sw * height);
    const common = {
      kind: 'fft' as const,
      width,
      height,
      real: real.buffer as SharedArrayBuffer,
      realType: real instanceof Float32Array ? ('float32' as const) : ('float64' as const),
      spectrum: out.buffer as SharedArrayBuffer,
    };
    await this.pass({ ...common, pass: 'forwardRows' }, height);
    await this.pass({ ...common, pass: 'columns', inverse: false }, sw);
    if (spectrum && spectrum !== out) {
      spectrum.set(out);
      return spectrum;
    }
    return out;
  }

  /** Inverse 2-D real FFT, normalised; overwrites the spectrum (or a shared copy of it). */
  async inverse(
    spectrum: Float64Array,
    width: number,
    height: number,
    output?: RealArray,
  ): Promise<RealArray> {
    const sw = width / 2 + 1;
    if (spectrum.length !== 2 * sw * height)
      throw new RangeError(`spectrum length ${spectrum.length} does not fit ${width}×${height}`);
    const spec = toShared(spectrum);
    const out = output && isShared(output) ? output : sharedFloat64(width * height);
    const common = {
      kind: 'fft' as const,
      width,
      height,
      real: out.buffer as SharedArrayBuffer,
      realType: out instanceof Float32Array ? ('float32' as const) : ('float64' as const),
      spectrum: spec.buffer as SharedArrayBuffer,
    };
    await this.pass({ ...common, pass: 'columns', inverse: true }, sw);
    await this.pass({ ...common, pass: 'inverseRows' }, height);
    if (output && output !== out) {
      output.set(out);
      return output;
    }
    return out;
  }

  /** Stop the worker threads of a pool this object created (the process-wide pool stays). */
  async close(): Promise<void> {
    if (this.owned) await this.pool.close();
  }
}

let shared: FftPool | undefined;

/** FFTs on the process-wide pool (one thread per core). */
export function defaultFftPool(): FftPool {
  shared ??= new FftPool();
  return shared;
}
