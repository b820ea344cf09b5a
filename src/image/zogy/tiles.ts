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
import type { FftBackend } from '../fft/index.ts';
import type { PsfModel } from '../psf/model.ts';
import { DifferencePsf } from './psf.ts';
import { type ZogyInput, type ZogyResult, zogy } from './zogy.ts';

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

export interface TiledZogyResult extends Omit<ZogyResult, 'scienceKernel' | 'scale'> {
  tiles: ZogyTile[];
  /** The difference image's PSF at any position (that of the tile whose core holds it). */
  differencePsfModel: PsfModel;
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
}

export async function zogyTiled(input: TiledZogyInput, backend?: FftBackend): Promise<TiledZogyResult> {
  const { width: w, height: h } = input;
  const tileSize = input.tileSize ?? 1024;
  const overlap = input.overlap ?? 64;
  const margin = Math.min(overlap - 1, Math.max(8, Math.ceil(input.sciencePsf.size)));
  const half = overlap - margin;
  if (!(tileSize >= 64) || !(overlap >= 8))
    throw new BadInputError(`tiles must be ≥ 64 px with ≥ 8 px overlap`);
  const xs = cuts(w, tileSize);
  const ys = cuts(h, tileSize);
  const n = w * h;
  const out = {
    difference: new Float32Array(n),
    differenceUncertainty: new Float32Array(n),
    score: new Float32Array(n),
    scoreCorr: new Float32Array(n),
  };
  const weight = new Float32Array(n);
  const mask = new Uint8Array(n);
  const tiles: { tile: ZogyTile; psf: DifferencePsf }[] = [];
  for (let ty = 0; ty + 1 < ys.length; ty++) {
    for (let tx = 0; tx + 1 < xs.length; tx++) {
      const c = { x0: xs[tx], x1: xs[tx + 1], y0: ys[ty], y1: ys[ty + 1] };
      const e = {
        x0: Math.max(0, c.x0 - overlap),
        x1: Math.min(w, c.x1 + overlap),
        y0: Math.max(0, c.y0 - overlap),
        y1: Math.min(h, c.y1 + overlap),
      };
      const tw = e.x1 - e.x0;
      const th = e.y1 - e.y0;
      const cut = (a: Float32Array) => {
        const o = new Float32Array(tw * th);
        for (let y = 0; y < th; y++) o.set(a.subarray((y + e.y0) * w + e.x0, (y + e.y0) * w + e.x1), y * tw);
        return o;
      };
      const cutMask = input.mask
        ? (() => {
            const o = new Uint8Array(tw * th);
            for (let y = 0; y < th; y++)
              o.set(input.mask!.subarray((y + e.y0) * w + e.x0, (y + e.y0) * w + e.x1), y * tw);
            return o;
          })()
        : undefined;
      const cx = Math.round((c.x0 + c.x1 - 1) / 2);
      const cy = Math.round((c.y0 + c.y1 - 1) / 2);
      let r: ZogyResult;
      try {
        r = await zogy(
          {
            ...input,
            width: tw,
            height: th,
            science: cut(input.science),
            reference: cut(input.reference),
            scienceVariance: cut(input.scienceVariance),
            referenceVariance: cut(input.referenceVariance),
            sciencePsf: taper(input.sciencePsf.stamp(cx, cy)),
            referencePsf: taper(input.referencePsf.stamp(cx, cy)),
            mask: cutMask,
          },
          backend,
        );
      } catch (err) {
        // A tile with no valid pixel (outside the reference's footprint) stays masked.
        if (err instanceof BadInputError && /no pixel is valid/.test(err.message)) {
          for (let y = c.y0; y < c.y1; y++) mask.fill(1, y * w + c.x0, y * w + c.x1);
          continue;
        }
        throw err;
      }
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
      for (let y = e.y0; y < e.y1; y++) {
        const wy = ramp(y, c.y0, c.y1, h, half);
        if (wy === 0) continue;
        for (let x = e.x0; x < e.x1; x++) {
          const wt = wy * ramp(x, c.x0, c.x1, w, half);
          if (wt === 0) continue;
          const i = y * w + x;
          const k = (y - e.y0) * tw + (x - e.x0);
          if (r.mask[k]) {
            mask[i] = 1;
            continue;
          }
          out.difference[i] += wt * r.difference[k];
          // Variances blend like the values they describe (the tiles' noise is the same noise).
          out.differenceUncertainty[i] += wt * r.differenceUncertainty[k];
          out.score[i] += wt * r.score[k];
          out.scoreCorr[i] += wt * r.scoreCorr[k];
          weight[i] += wt;
        }
      }
    }
  }
  if (tiles.length === 0)
    throw new BadInputError('no pixel is valid in both images (no overlap, or all masked)');
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
  };
}
