/**
 * Cleaning (SourceExtractor's CLEAN, CLEAN_PARAM): spurious detections in the wings of bright
 * objects are merged into them.
 *
 * Each object is modelled as a Moffat profile I(r) = A·(1 + α·r²)^(−β) (β = CLEAN_PARAM) with
 * its isophotal ellipse: A from its filtered flux and area, α so that the profile falls to the
 * detection threshold at its isophotal area. When a new object arrives, every accepted object
 * within 10·(a₁ + a₂) is compared with it: if the brighter one's profile at the fainter one's
 * centre exceeds the fainter one's cleaning threshold (its DETECT_MINAREA-th highest pixel
 * above the detection threshold), the fainter one is absorbed (its area, fluxes, bounds and
 * flags go to the brighter one, which keeps its own pixels and measurements).
 *
 * Objects arrive in the order the scan completes them, as in SourceExtractor.
 */
import { Flag } from './flags.ts';
import type { SourceObject } from './object.ts';

/** Search radius in units of a₁ + a₂ (SourceExtractor's CLEAN_ZONE). */
export const CLEAN_ZONE = 10;

/** Objects with A above this live in a list that every query scans; the others in a grid. */
const BIG_A = 10;
const CELL = 64;

/** Merge `from` into `into`, as SourceExtractor's clean_merge. */
export function mergeInto(from: SourceObject, into: SourceObject): void {
  into.fdnpix += from.fdnpix;
  into.dnpix += from.dnpix;
  into.fdflux += from.fdflux;
  into.dflux += from.dflux;
  if (from.fdpeak > into.fdpeak) into.fdpeak = from.fdpeak;
  if (from.dpeak > into.dpeak) into.dpeak = from.dpeak;
  if (from.xmin < into.xmin) into.xmin = from.xmin;
  if (from.xmax > into.xmax) into.xmax = from.xmax;
  if (from.ymin < into.ymin) into.ymin = from.ymin;
  if (from.ymax > into.ymax) into.ymax = from.ymax;
  into.flag |= from.flag & ~(Flag.MERGED | Flag.CROWDED);
}

interface Model {
  amp: number;
  alpha: number;
}

function profile(o: SourceObject, beta: number): Model {
  const unitArea = Math.PI * o.a * o.b;
  const amp = o.fdflux / (2 * unitArea * o.abcor);
  const alpha = ((amp / o.dthresh) ** (1 / beta) - 1) * (unitArea / o.fdnpix);
  return { amp, alpha };
}

/** Moffat model of `o` at offset (dx, dy), as a float (SourceExtractor compares in single precision). */
function modelAt(o: SourceObject, m: Model, beta: number, dx: number, dy: number): number | undefined {
  const val = 1 + m.alpha * (o.cxx * dx * dx + o.cyy * dy * dy + o.cxy * dx * dy);
  if (!(val > 1)) return undefined;
  return Math.fround(val < 1e10 ? m.amp * val ** -beta : 0);
}

/** The list of accepted objects, with a spatial index for the neighbour search. */
export class Cleaner {
  private readonly beta: number;
  private readonly nx: number;
  /** Accepted objects in arrival order; null once absorbed. */
  readonly accepted: (SourceObject | null)[] = [];
  private readonly cells = new Map<number, number[]>();
  private readonly big: number[] = [];

  constructor(beta: number, width: number) {
    this.beta = beta;
    this.nx = Math.ceil(width / CELL) + 1;
  }

  private cellOf(x: number, y: number): number {
    return (Math.floor(y / CELL) + 1) * this.nx + Math.floor(x / CELL) + 1;
  }

  /** Accepted objects within CLEAN_ZONE·(a₁ + a₂) of `o`, in arrival order. */
  private candidates(o: SourceObject, out: number[]): void {
    out.length = 0;
    const near = (i: number) => {
      const other = this.accepted[i];
      if (!other) return;
      const dx = o.mx - other.mx;
      const dy = o.my - other.my;
      const rlim = (o.a + other.a) * CLEAN_ZONE;
      if (dx * dx + dy * dy < rlim * rlim) out.push(i);
    };
    for (const i of this.big) near(i);
    const r = CLEAN_ZONE * (o.a + BIG_A);
    const cx0 = Math.floor((o.mx - r) / CELL) + 1;
    const cx1 = Math.floor((o.mx + r) / CELL) + 1;
    const cy0 = Math.floor((o.my - r) / CELL) + 1;
    const cy1 = Math.floor((o.my + r) / CELL) + 1;
    for (let cy = cy0; cy <= cy1; cy++) {
      for (let cx = Math.max(0, cx0); cx <= Math.min(this.nx - 1, cx1); cx++) {
        const list = this.cells.get(cy * this.nx + cx);
        if (list) for (const i of list) near(i);
      }
    }
    if (out.length > 1) out.sort((a, b) => a - b);
  }

  private readonly scratch: number[] = [];

  /**
   * Offer a new object: it is either accepted (returns true; it may absorb earlier ones) or
   * absorbed by an earlier one (returns false).
   */
  offer(obj: SourceObject): boolean {
    const beta = this.beta;
    const mine = profile(obj, beta);
    const victims: number[] = [];
    const cand = this.scratch;
    this.candidates(obj, cand);
    for (const i of cand) {
      const other = this.accepted[i];
      if (!other) continue;
      const dx = obj.mx - other.mx;
      const dy = obj.my - other.my;
      const rlim = obj.a + other.a;
      if (dx * dx + dy * dy >= rlim * rlim * CLEAN_ZONE * CLEAN_ZONE) continue;
      if (other.fdflux < obj.fdflux) {
        const v = modelAt(obj, mine, beta, dx, dy);
        if (v !== undefined && v > Math.fround(other.mthresh)) victims.push(i);
      } else {
        const v = modelAt(other, profile(other, beta), beta, dx, dy);
        if (v !== undefined && v > Math.fround(obj.mthresh)) {
          mergeInto(obj, other);
          return false;
        }
      }
    }
    for (let k = victims.length - 1; k >= 0; k--) {
      const i = victims[k];
      const v = this.accepted[i]!;
      mergeInto(v, obj);
      this.accepted[i] = null;
    }
    const index = this.accepted.length;
    this.accepted.push(obj);
    if (obj.a > BIG_A) {
      this.big.push(index);
    } else {
      const c = this.cellOf(obj.mx, obj.my);
      let list = this.cells.get(c);
      if (!list) {
        list = [];
        this.cells.set(c, list);
      }
      list.push(index);
    }
    return true;
  }

  /** The surviving objects in arrival order. */
  survivors(): SourceObject[] {
    return this.accepted.filter((o): o is SourceObject => o !== null);
  }
}
