/**
 * The detection stage after segmentation: each connected component is deblended and its parts
 * analysed (isophotal moments and measurements), independently of the others, so components
 * may be spread over threads; cleaning, which depends on their order, follows on one thread.
 * Objects cross threads packed in typed arrays (fields and pixel lists).
 */
import { examineIso, preanalyse, preanalyseFast } from './analyse.ts';
import type { FilterKernel } from './config.ts';
import { deblend } from './deblend.ts';
import { convolveRows } from './filter.ts';
import { SubSegmenter } from './lutz.ts';
import { type Noise, type Planes, SourceObject } from './object.ts';

export interface AnalyseOptions {
  /** DEBLEND_NTHRESH, DEBLEND_MINCONT, DETECT_MINAREA, DETECT_MAXAREA (0: none), CLEAN. */
  nthresh: number;
  mincont: number;
  minArea: number;
  maxArea: number;
  clean: boolean;
}

/** The lowest threshold over an object's pixels (one threshold: that one). */
export function objectThreshold(pixels: Int32Array, thresh: number, map: Float32Array | undefined): number {
  if (!map) return thresh;
  let t = Number.POSITIVE_INFINITY;
  for (let k = 0; k < pixels.length; k++) if (map[pixels[k]] < t) t = map[pixels[k]];
  return t;
}

/** Deblend one component and analyse its parts (objects over DETECT_MAXAREA are dropped). */
export function analyseComponent(
  pixels: Int32Array,
  flag: number,
  planes: Planes,
  o: AnalyseOptions,
  segmenter: SubSegmenter,
): SourceObject[] {
  const root = new SourceObject(pixels);
  root.flag = flag;
  root.dthresh = objectThreshold(pixels, planes.detThresh, planes.detThreshMap);
  preanalyseFast(root, planes);
  const parts = deblend(
    root,
    planes,
    { nthresh: o.nthresh, mincont: o.mincont, minArea: o.minArea },
    segmenter,
  );
  const out: SourceObject[] = [];
  for (const obj of parts) {
    preanalyse(obj, planes, true);
    if (o.maxArea > 0 && obj.fdnpix > o.maxArea) continue;
    examineIso(obj, planes, o.minArea, o.clean);
    out.push(obj);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Packing

const FIELDS = [
  'flag',
  'dthresh',
  'xmin',
  'xmax',
  'ymin',
  'ymax',
  'fdnpix',
  'fdflux',
  'fdpeak',
  'dpeak',
  'dnpix',
  'dflux',
  'mx',
  'my',
  'mx2',
  'my2',
  'mxy',
  'a',
  'b',
  'theta',
  'cxx',
  'cyy',
  'cxy',
  'abcor',
  'npix',
  'flux',
  'fluxVar',
  'peak',
  'peakIndex',
  'peakx',
  'peaky',
  'thresh',
  'mthresh',
  'errx2',
  'erry2',
  'errxy',
] as const;
const SIZE = FIELDS.length + 1 + 8;

/** Objects of several components, packed: fields, pixel lists, and counts per component. */
export interface PackedObjects {
  fields: Float64Array;
  pixels: Int32Array;
  /** Pixels per object. */
  npix: Int32Array;
  /** Objects per component. */
  perComponent: Int32Array;
}

export function packAnalysed(lists: SourceObject[][]): PackedObjects {
  let nobj = 0;
  let npixTotal = 0;
  for (const l of lists) {
    nobj += l.length;
    for (const o of l) npixTotal += o.pixels.length;
  }
  const fields = new Float64Array(nobj * SIZE);
  const pixels = new Int32Array(npixTotal);
  const npix = new Int32Array(nobj);
  const perComponent = new Int32Array(lists.length);
  let k = 0;
  let p = 0;
  lists.forEach((l, c) => {
    perComponent[c] = l.length;
    for (const o of l) {
      const b = k * SIZE;
      FIELDS.forEach((f, i) => {
        fields[b + i] = o[f];
      });
      fields[b + FIELDS.length] = o.singular ? 1 : 0;
      for (let i = 0; i < 8; i++) fields[b + FIELDS.length + 1 + i] = o.iso[i];
      pixels.set(o.pixels, p);
      npix[k] = o.pixels.length;
      p += o.pixels.length;
      k++;
    }
  });
  return { fields, pixels, npix, perComponent };
}

export function unpackAnalysed(packed: PackedObjects): SourceObject[][] {
  const out: SourceObject[][] = [];
  let k = 0;
  let p = 0;
  for (let c = 0; c < packed.perComponent.length; c++) {
    const list: SourceObject[] = [];
    for (let j = 0; j < packed.perComponent[c]; j++) {
      const n = packed.npix[k];
      const o = new SourceObject(packed.pixels.slice(p, p + n));
      p += n;
      const b = k * SIZE;
      FIELDS.forEach((f, i) => {
        o[f] = packed.fields[b + i];
      });
      o.singular = packed.fields[b + FIELDS.length] !== 0;
      for (let i = 0; i < 8; i++) o.iso[i] = packed.fields[b + FIELDS.length + 1 + i];
      list.push(o);
      k++;
    }
    out.push(list);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Tasks

/** The planes analysis reads (shared between threads). */
export interface AnalysePlanes {
  width: number;
  height: number;
  det: Float32Array;
  filt: Float32Array;
  meas: Float32Array;
  detNoise: Noise;
  measNoise: Noise;
  detThreshMap?: Float32Array;
  detThresh: number;
  analysisThresh: number;
  relative: boolean;
  measBad?: Uint8Array;
  gain: number;
  detGain: number;
}

export interface AnalyseTask {
  kind: 'analyse';
  planes: AnalysePlanes;
  options: AnalyseOptions;
  /** Every component's pixels, one after another, and where each starts (length n + 1). */
  pixels: Int32Array;
  offsets: Int32Array;
  flags: Uint8Array;
  /** Which components this thread takes. */
  indices: Int32Array;
}

export function runAnalyseTask(task: AnalyseTask): PackedObjects {
  const planes: Planes = { ...task.planes, backgroundLevel: 0, saturation: Number.POSITIVE_INFINITY };
  const segmenter = new SubSegmenter();
  const lists: SourceObject[][] = [];
  for (const c of task.indices) {
    const px = task.pixels.subarray(task.offsets[c], task.offsets[c + 1]);
    lists.push(analyseComponent(px, task.flags[c], planes, task.options, segmenter));
  }
  return packAnalysed(lists);
}

export interface FilterTask {
  kind: 'filter';
  src: Float32Array;
  out: Float32Array;
  width: number;
  height: number;
  kernel: FilterKernel;
  y0: number;
  y1: number;
}

export function runFilterTask(task: FilterTask): void {
  convolveRows(task.src, task.out, task.width, task.height, task.kernel, task.y0, task.y1);
}
