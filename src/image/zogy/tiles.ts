/**
 * ZOGY on overlapping sub-images, each with the PSFs of its own centre, blended seamlessly:
 * large images whose PSF varies across the field, and bounded memory and FFT sizes.
 *
 * Each tile is its core extended by `overlap` pixels on every side. Between two neighbouring
 * cores, the weights of the two tiles ramp linearly across the shared boundary, from 1 to 0
 * over 2·(overlap − margin) pixels, so no tile contributes within `margin` pixels of its own
 * edge (where its zero padding would show) and the weights sum to one everywhere.
 */
import { BadInputError } from '../../util/errors.ts';
import { defaultWorkerCount, WorkerPool, workerUrl } from '../../util/pool.ts';
import { type FftBackend, fftBackend } from '../fft/index.ts';
import type { GridPsf } from '../psf/grid.ts';
import type { PsfModel } from '../psf/model.ts';
import { sharedFloat32, sharedUint8, toShared } from '../workers.ts';
import { DifferencePsf } from './psf.ts';
import type { ZogyTileReply, ZogyTileTask } from './worker.ts';
import {
  checkImages,
  type ZogyCache,
  type ZogyImages,
  type ZogyInput,
  type ZogyResult,
  type ZogyTimings,
  zogy,
  zogyPadding,
} from './zogy.ts';

export interface TiledZogyInput extends Omit<ZogyInput, 'sciencePsf' | 'referencePsf'> {
  sciencePsf: PsfModel;
  referencePsf: PsfModel;
  /** Side of each tile's core (default 1024). */
  tileSize?: number;
  /** Extension of each tile beyond its core on every side (default 64). */
  overlap?: number;
}

export interface ZogyTile {
  /** Core: [x0, x1) × [y0, y1). */
  x0: number;
  x1: number;
  y0: number;
  y1: number;
  differencePsf: Float32Array;
  fluxScale: number;
  scienceKernel: Float64Array;
  scale: number;
}

export interface TiledZogyResult extends Omit<ZogyResult, 'scienceKernel' | 'scale' | 'timings'> {
  /**
   * Milliseconds per step summed over the sub-images (thread time: sub-images run in
   * parallel), and the blending on the calling thread.
   */
  timings: ZogyTimings & { blend: number };
  tiles: ZogyTile[];
  /** The difference image's PSF at any position (that of the tile whose core holds it). */
  differencePsfModel: PsfModel & { gridAt(x: number, y: number): GridPsf | undefined };
}

/**
 * A PSF stamp rolled off smoothly to zero towards its edge (cos² from 70% of the half-width)
 * and renormalised: a square-cut stamp whose wings (or a residual background pedestal) do not
 * vanish at its edge makes ZOGY's kernels ring, leaving ghosts of bright stars at the stamp's
 * corners in the difference image.
 */
export function taper(stamp: Float32Array): Float32Array {
  const n = Math.round(Math.sqrt(stamp.length));
  const h = (n - 1) / 2;
  const r0 = 0.7 * h;
  const out = new Float32Array(stamp.length);
  let sum = 0;
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < n; i++) {
      const r = Math.hypot(i - h, j - h);
      const w = r <= r0 ? 1 : r >= h ? 0 : Math.cos(((r - r0) / (h - r0)) * (Math.PI / 2)) ** 2;
      out[j * n + i] = stamp[j * n + i] * w;
      sum += out[j * n + i];
    }
  }
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}

/** Core boundaries splitting [0, n) into pieces of at most `size`. */
function cuts(n: number, size: number): number[] {
  const k = Math.max(1, Math.ceil(n / size));
  return Array.from({ length: k + 1 }, (_, i) => Math.round((i * n) / k));
}

/** Weight along one axis of a tile whose core is [c0, c1), for coordinate v, within an image of length n. */
function ramp(v: number, c0: number, c1: number, n: number, half: number): number {
  let w = 1;
  if (c0 > 0) w = Math.min(w, Math.max(0, Math.min(1, 0.5 + (v - c0 + 0.5) / (2 * half))));
  if (c1 < n) w = Math.min(w, Math.max(0, Math.min(1, 0.5 - (v - c1 + 0.5) / (2 * half))));
  return w;
}

/** A PSF model choosing, by position, the difference PSF of the tile whose core holds it. */
class TiledPsf implements PsfModel {
  readonly size: number;
  constructor(private readonly tiles: { tile: ZogyTile; psf: DifferencePsf }[]) {
    this.size = tiles[0].psf.size;
  }
  private at(x: number, y: number): DifferencePsf {
    const rx = Math.round(x);
    const ry = Math.round(y);
    const t = this.tiles.find(({ tile }) => rx >= tile.x0 && rx < tile.x1 && ry >= tile.y0 && ry < tile.y1);
    return (t ?? this.tiles[0]).psf;
  }
  stamp(x: number, y: number, out?: Float32Array): Float32Array {
    return this.at(x, y).stamp(x, y, out);
  }
  fwhm(x?: number, y?: number): number {
    return this.at(x ?? 0, y ?? 0).fwhm(x, y);
  }
  /** See DifferencePsf.gridAt. */
  gridAt(x: number, y: number): GridPsf | undefined {
    return this.at(x, y).gridAt(x, y);
  }
}

/** A rectangle of an image: [x0, x1) × [y0, y1). */
export interface Region {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

/** Copy region `e` of an image `width` pixels wide into `out` (rows of the region's width). */
export function cutRegion<T extends Float32Array | Uint8Array>(a: T, width: number, e: Region, out: T): T {
  const tw = e.x1 - e.x0;
  for (let y = e.y0; y < e.y1; y++) out.set(a.subarray(y * width + e.x0, y * width + e.x1), (y - e.y0) * tw);
  return out;
}

interface TilePlan {
  /** Core. */
  c: Region;
  /** Core extended by the overlap. */
  e: Region;
  sciencePsf: Float32Array;
  referencePsf: Float32Array;
}

let tilePool: WorkerPool | undefined;

/** Worker threads for sub-images (one per core, or RAPID_WORKERS), started on first use. */
function zogyPool(): WorkerPool {
  tilePool ??= new WorkerPool(workerUrl(import.meta.url, 'worker'), defaultWorkerCount());
  return tilePool;
}

/** Shared arrays for one tile's image products, of at most `n` pixels. */
function productSlot(n: number): ZogyImages {
  return {
    difference: sharedFloat32(n),
    differenceUncertainty: sharedFloat32(n),
    score: sharedFloat32(n),
    scoreCorr: sharedFloat32(n),
    mask: sharedUint8(n),
  };
}

/** The first `n` values of each array of a slot. */
function slotView(s: ZogyImages, n: number): ZogyImages {
  return {
    difference: s.difference.subarray(0, n),
    differenceUncertainty: s.differenceUncertainty.subarray(0, n),
    score: s.score.subarray(0, n),
    scoreCorr: s.scoreCorr.subarray(0, n),
    mask: s.mask.subarray(0, n),
  };
}

/**
 * Tiles run one per worker thread, each with its whole chain of transforms (far less
 * synchronisation and memory traffic than splitting every transform over the threads); with
 * one tile, one thread, or a given FFT backend, they run here. Either way the products are
 * blended in tile order, so the result does not depend on which tile finished first.
 *
 * Workers read the images from shared memory: inputs already in SharedArrayBuffers (as the
 * pipeline makes them) are not copied.
 */
export async function zogyTiled(input: TiledZogyInput, backend?: FftBackend): Promise<TiledZogyResult> {
  const { width: w, height: h } = input;
  const tileSize = input.tileSize ?? 1024;
  const overlap = input.overlap ?? 64;
  const margin = Math.min(overlap - 1, Math.max(8, Math.ceil(input.sciencePsf.size)));
  const half = overlap - margin;
  if (!(tileSize >= 64) || !(overlap >= 8))
    throw new BadInputError(`tiles must be ≥ 64 px with ≥ 8 px overlap`);
  const n = w * h;
  checkImages(input);
  const xs = cuts(w, tileSize);
  const ys = cuts(h, tileSize);
  const plans: TilePlan[] = [];
  for (let ty = 0; ty + 1 < ys.length; ty++) {
    for (let tx = 0; tx + 1 < xs.length; tx++) {
      const c = { x0: xs[tx], x1: xs[tx + 1], y0: ys[ty], y1: ys[ty + 1] };
      const e = {
        x0: Math.max(0, c.x0 - overlap),
        x1: Math.min(w, c.x1 + overlap),
        y0: Math.max(0, c.y0 - overlap),
        y1: Math.min(h, c.y1 + overlap),
      };
      const cx = Math.round((c.x0 + c.x1 - 1) / 2);
      const cy = Math.round((c.y0 + c.y1 - 1) / 2);
      plans.push({
        c,
        e,
        sciencePsf: taper(input.sciencePsf.stamp(cx, cy)),
        referencePsf: taper(input.referencePsf.stamp(cx, cy)),
      });
    }
  }
  // One FFT grid for every tile, so that tiles with the same PSFs share their kernels.
  const side = (a: Float32Array) => Math.round(Math.sqrt(a.length));
  const pad = zogyPadding(Math.max(...plans.map((p) => Math.max(side(p.sciencePsf), side(p.referencePsf)))));
  const goodSize = (backend ?? fftBackend()).goodSize;
  const grid = {
    width: goodSize(Math.max(...plans.map((p) => p.e.x1 - p.e.x0)) + 2 * pad),
    height: goodSize(Math.max(...plans.map((p) => p.e.y1 - p.e.y0)) + 2 * pad),
  };
  const area = ({ e }: TilePlan) => (e.x1 - e.x0) * (e.y1 - e.y0);
  const parameters = (p: TilePlan): ZogyTileTask['parameters'] => ({
    sciencePsf: p.sciencePsf,
    referencePsf: p.referencePsf,
    scienceSigma: input.scienceSigma,
    referenceSigma: input.referenceSigma,
    fluxRatio: input.fluxRatio,
    astrometricSigma: input.astrometricSigma,
    referenceShift: input.referenceShift,
  });

  const threads = backend || plans.length === 1 ? 1 : Math.min(defaultWorkerCount(), plans.length);
  /** A tile's products, or undefined for a tile with no valid pixel (outside the reference's footprint). */
  let runTile: (p: TilePlan) => Promise<ZogyResult | undefined>;
  /** Called once a tile's products are blended (its slot can be used again). */
  let release: (r: ZogyResult) => void = () => {};
  if (threads > 1) {
    const images = {
      science: toShared(input.science),
      reference: toShared(input.reference),
      scienceVariance: toShared(input.scienceVariance),
      referenceVariance: toShared(input.referenceVariance),
      mask: input.mask && toShared(input.mask),
    };
    // Product slots: one per thread plus spares for tiles done before an earlier one (blending
    // is in order); a tile waits for a free slot.
    const largest = Math.max(...plans.map(area));
    const free = Array.from({ length: threads + 2 }, () => productSlot(largest));
    const waiting: ((s: ZogyImages) => void)[] = [];
    const slots = new Map<ZogyResult, ZogyImages>();
    const giveBack = (s: ZogyImages) => {
      const next = waiting.shift();
      if (next) next(s);
      else free.push(s);
    };
    release = (r) => {
      giveBack(slots.get(r)!);
      slots.delete(r);
    };
    runTile = async (p) => {
      const slot = free.pop() ?? (await new Promise<ZogyImages>((resolve) => waiting.push(resolve)));
      const products = slotView(slot, area(p));
      const task: ZogyTileTask = { images, width: w, region: p.e, parameters: parameters(p), grid, products };
      const reply = await zogyPool().run<ZogyTileReply>(task);
      if ('badInput' in reply) {
        giveBack(slot);
        if (/no pixel is valid/.test(reply.badInput)) return undefined;
        throw new BadInputError(reply.badInput);
      }
      const r = { ...products, ...reply };
      slots.set(r, slot);
      return r;
    };
  } else {
    const cache: ZogyCache = {};
    runTile = async (p) => {
      const { e } = p;
      const m = area(p);
      const cut = <T extends Float32Array | Uint8Array>(a: T) =>
        cutRegion(a, w, e, new (a.constructor as new (k: number) => T)(m));
      const tile: ZogyInput = {
        ...parameters(p),
        width: e.x1 - e.x0,
        height: e.y1 - e.y0,
        science: cut(input.science),
        reference: cut(input.reference),
        scienceVariance: cut(input.scienceVariance),
        referenceVariance: cut(input.referenceVariance),
        mask: input.mask && cut(input.mask),
      };
      try {
        return await zogy(tile, backend, { grid, cache });
      } catch (err) {
        if (err instanceof BadInputError && /no pixel is valid/.test(err.message)) return undefined;
        throw err;
      }
    };
  }

  const out = {
    difference: new Float32Array(n),
    differenceUncertainty: new Float32Array(n),
    score: new Float32Array(n),
    scoreCorr: new Float32Array(n),
  };
  const weight = new Float32Array(n);
  const mask = new Uint8Array(n);
  const tiles: { tile: ZogyTile; psf: DifferencePsf }[] = [];
  const timings = { masks: 0, kernels: 0, differenceAndScore: 0, variances: 0, products: 0, blend: 0 };
  const blend = ({ c, e }: Pick<TilePlan, 'c' | 'e'>, r: ZogyResult | undefined) => {
    const t0 = performance.now();
    try {
      blendTile({ c, e }, r);
    } finally {
      timings.blend += performance.now() - t0;
    }
    if (r) for (const k of Object.keys(r.timings) as (keyof ZogyTimings)[]) timings[k] += r.timings[k];
  };
  const blendTile = ({ c, e }: Pick<TilePlan, 'c' | 'e'>, r: ZogyResult | undefined) => {
    if (!r) {
      for (let y = c.y0; y < c.y1; y++) mask.fill(1, y * w + c.x0, y * w + c.x1);
      return;
    }
    const tw = e.x1 - e.x0;
    const tile: ZogyTile = {
      ...c,
      differencePsf: r.differencePsf,
      fluxScale: r.fluxScale,
      scienceKernel: r.scienceKernel,
      scale: r.scale,
    };
    tiles.push({
      tile,
      psf: new DifferencePsf(input.sciencePsf, r.scienceKernel, r.scale, input.sciencePsf.size),
    });
    const wx = Float64Array.from({ length: tw }, (_, i) => ramp(e.x0 + i, c.x0, c.x1, w, half));
    const { difference, differenceUncertainty, score, scoreCorr, mask: tileMask } = r;
    const { difference: D, differenceUncertainty: U, score: S, scoreCorr: C } = out;
    for (let y = e.y0; y < e.y1; y++) {
      const wy = ramp(y, c.y0, c.y1, h, half);
      if (wy === 0) continue;
      const row = y * w + e.x0;
      const tileRow = (y - e.y0) * tw;
      for (let x = 0; x < tw; x++) {
        const wt = wy * wx[x];
        if (wt === 0) continue;
        const i = row + x;
        const k = tileRow + x;
        if (tileMask[k]) {
          mask[i] = 1;
          continue;
        }
        D[i] += wt * difference[k];
        // Variances blend like the values they describe (the tiles' noise is the same noise).
        U[i] += wt * differenceUncertainty[k];
        S[i] += wt * score[k];
        C[i] += wt * scoreCorr[k];
        weight[i] += wt;
      }
    }
    release(r);
  };

  // At most one tile per thread in flight, blended in order as soon as all tiles before it are.
  const done = new Map<number, ZogyResult | undefined>();
  let next = 0;
  let blended = 0;
  let failed = false;
  await Promise.all(
    Array.from({ length: threads }, async () => {
      while (!failed && next < plans.length) {
        const i = next++;
        try {
          done.set(i, await runTile(plans[i]));
        } catch (err) {
          failed = true;
          throw err;
        }
        for (; done.has(blended); blended++) {
          blend(plans[blended], done.get(blended));
          done.delete(blended);
        }
      }
    }),
  );
  if (tiles.length === 0)
    throw new BadInputError('no pixel is valid in both images (no overlap, or all masked)');
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    if (mask[i] || !(weight[i] > 0)) {
      mask[i] = 1;
      out.difference[i] = Number.NaN;
      out.differenceUncertainty[i] = Number.NaN;
      out.score[i] = Number.NaN;
      out.scoreCorr[i] = Number.NaN;
    } else if (weight[i] !== 1) {
      out.difference[i] /= weight[i];
      out.differenceUncertainty[i] /= weight[i];
      out.score[i] /= weight[i];
      out.scoreCorr[i] /= weight[i];
    }
  }
  timings.blend += performance.now() - t0;
  const centre =
    tiles.find(({ tile }) => tile.x0 <= w / 2 && tile.x1 > w / 2 && tile.y0 <= h / 2 && tile.y1 > h / 2) ??
    tiles[0];
  return {
    ...out,
    mask,
    differencePsf: centre.tile.differencePsf,
    fluxScale: centre.tile.fluxScale,
    tiles: tiles.map((t) => t.tile),
    differencePsfModel: new TiledPsf(tiles),
    timings,
  };
}
