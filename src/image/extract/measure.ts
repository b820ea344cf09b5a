/**
 * The measurement stage: photometry and windowed measurements of each object, on one thread or
 * spread over worker threads. Objects and results cross threads as packed Float64Arrays; the
 * pixel planes are shared (SharedArrayBuffer-backed typed arrays are shared, others copied).
 */
import type { ExtractConfig } from './config.ts';
import { type Noise, type Planes, SourceObject } from './object.ts';
import {
  type FluxMeasure,
  type Measurements,
  Photometer,
  type Photometry,
  type PhotometryOptions,
} from './photometry.ts';
import { measureWindowed, type Windowed } from './windowed.ts';

export interface ObjectMeasures {
  ph: Photometry;
  win: Windowed;
}

export function photometryOptions(config: ExtractConfig): PhotometryOptions {
  return {
    apertures: config.photApertures,
    autoParams: config.photAutoParams,
    petroParams: config.photPetroParams,
    autoApers: config.photAutoApers,
    fluxFrac: config.photFluxFrac,
    maskType: config.maskType,
  };
}

/** Windowed values when the windowed measurements are not made: the isophotal ones. */
export function isophotalWindow(obj: SourceObject): Windowed {
  return {
    x: obj.mx,
    y: obj.my,
    niter: 0,
    flux: Number.NaN,
    fluxErr: Number.NaN,
    snr: Number.NaN,
    x2: obj.mx2,
    y2: obj.my2,
    xy: obj.mxy,
    a: obj.a,
    b: obj.b,
    theta: obj.theta,
    cxx: obj.cxx,
    cyy: obj.cyy,
    cxy: obj.cxy,
    errx2: obj.errx2,
    erry2: obj.erry2,
    errxy: obj.errxy,
    winFlag: 0,
    flag: 0,
  };
}

/** Photometry and windowed measurements of one object (segmentation id `id`). */
export function measureObject(
  phot: Photometer,
  obj: SourceObject,
  id: number,
  which: Measurements,
): ObjectMeasures {
  const ph = phot.measure(obj, id, which);
  const win = which.windowed ? measureWindowed(phot, obj, ph.hlRadius) : isophotalWindow(obj);
  phot.select(id, obj.mx, obj.my);
  return { ph, win };
}

// ---------------------------------------------------------------------------------------------
// Packing

const OBJECT_FIELDS = [
  'mx',
  'my',
  'a',
  'b',
  'theta',
  'cxx',
  'cyy',
  'cxy',
  'mx2',
  'my2',
  'mxy',
  'errx2',
  'erry2',
  'errxy',
  'flux',
  'fluxVar',
  'fdnpix',
  'dthresh',
] as const;
const OBJECT_SIZE = OBJECT_FIELDS.length + 1;

/** The fields measurement needs, object after object. */
export function packObjects(objects: readonly SourceObject[]): Float64Array {
  const out = new Float64Array(objects.length * OBJECT_SIZE);
  objects.forEach((o, i) => {
    const b = i * OBJECT_SIZE;
    OBJECT_FIELDS.forEach((f, k) => {
      out[b + k] = o[f];
    });
    out[b + OBJECT_FIELDS.length] = o.singular ? 1 : 0;
  });
  return out;
}

function unpackObject(buf: Float64Array, i: number): SourceObject {
  const o = new SourceObject(new Int32Array(0));
  const b = i * OBJECT_SIZE;
  OBJECT_FIELDS.forEach((f, k) => {
    o[f] = buf[b + k];
  });
  o.singular = buf[b + OBJECT_FIELDS.length] !== 0;
  return o;
}

const WIN_FIELDS = [
  'x',
  'y',
  'niter',
  'flux',
  'fluxErr',
  'snr',
  'x2',
  'y2',
  'xy',
  'a',
  'b',
  'theta',
  'cxx',
  'cyy',
  'cxy',
  'errx2',
  'erry2',
  'errxy',
  'winFlag',
  'flag',
] as const;

/** Values per object in a packed result. */
export function resultSize(naper: number, nfrac: number): number {
  return 2 * naper + 10 + nfrac + WIN_FIELDS.length;
}

function packMeasures(m: ObjectMeasures, out: Float64Array, b: number): void {
  const { ph, win } = m;
  let k = b;
  for (const a of ph.aper) {
    out[k++] = a.flux;
    out[k++] = a.error;
  }
  out[k++] = ph.auto.flux;
  out[k++] = ph.auto.error;
  out[k++] = ph.kronRadius;
  out[k++] = ph.petro.flux;
  out[k++] = ph.petro.error;
  out[k++] = ph.petroRadius;
  out[k++] = ph.isocor.flux;
  out[k++] = ph.isocor.error;
  for (const r of ph.fluxRadius) out[k++] = r;
  out[k++] = ph.hlRadius;
  out[k++] = ph.flag;
  for (const f of WIN_FIELDS) out[k++] = win[f];
}

/** Unpack one object's measurements (naper apertures measured, or 0 when they were not). */
export function unpackMeasures(
  buf: Float64Array,
  b: number,
  naper: number,
  nfrac: number,
  aperMeasured: boolean,
): ObjectMeasures {
  let k = b;
  const aper: FluxMeasure[] = [];
  for (let i = 0; i < naper; i++) {
    aper.push({ flux: buf[k], error: buf[k + 1] });
    k += 2;
  }
  const m = (): FluxMeasure => {
    const r = { flux: buf[k], error: buf[k + 1] };
    k += 2;
    return r;
  };
  const auto = m();
  const kronRadius = buf[k++];
  const petro = m();
  const petroRadius = buf[k++];
  const isocor = m();
  const fluxRadius: number[] = [];
  for (let i = 0; i < nfrac; i++) fluxRadius.push(buf[k++]);
  const hlRadius = buf[k++];
  const flag = buf[k++];
  const win = {} as Windowed;
  for (const f of WIN_FIELDS) win[f] = buf[k++];
  return {
    ph: {
      aper: aperMeasured ? aper : [],
      auto,
      kronRadius,
      petro,
      petroRadius,
      isocor,
      fluxRadius,
      hlRadius,
      flag,
    },
    win,
  };
}

// ---------------------------------------------------------------------------------------------
// Tasks

/** What a thread needs to measure a share of the objects. */
export interface MeasureTask {
  width: number;
  height: number;
  meas: Float32Array;
  det: Float32Array;
  measBad?: Uint8Array;
  measNoise: Noise;
  gain: number;
  seg?: Int32Array;
  options: PhotometryOptions;
  which: Measurements;
  /** packObjects of all objects. */
  objects: Float64Array;
  /** Which objects (0-based indices; the segmentation id is index + 1). */
  indices: Int32Array;
}

/** Measure the task's objects; results packed object after object in `indices` order. */
export function runMeasureTask(task: MeasureTask): Float64Array {
  const planes: Planes = {
    width: task.width,
    height: task.height,
    det: task.det,
    filt: task.det,
    meas: task.meas,
    detNoise: task.measNoise,
    measNoise: task.measNoise,
    detThresh: 0,
    analysisThresh: 0,
    relative: true,
    measBad: task.measBad,
    backgroundLevel: 0,
    gain: task.gain,
    detGain: 0,
    saturation: Number.POSITIVE_INFINITY,
  };
  const phot = new Photometer(planes, task.options, task.seg);
  const size = resultSize(task.options.apertures.length, task.options.fluxFrac.length);
  const out = new Float64Array(task.indices.length * size);
  for (let k = 0; k < task.indices.length; k++) {
    const i = task.indices[k];
    const m = measureObject(phot, unpackObject(task.objects, i), i + 1, task.which);
    if (!task.which.aper)
      m.ph.aper = task.options.apertures.map(() => ({ flux: Number.NaN, error: Number.NaN }));
    packMeasures(m, out, k * size);
  }
  return out;
}

/** A typed array in shared memory (itself when it already is). */
export function shared<T extends Float32Array | Int32Array | Uint8Array>(a: T): T {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  const Ctor = a.constructor as { new (b: SharedArrayBuffer): T };
  const out = new Ctor(new SharedArrayBuffer(a.byteLength));
  out.set(a as never);
  return out;
}
