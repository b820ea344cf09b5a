/**
 * Multi-threshold deblending (SourceExtractor's DEBLEND_NTHRESH and DEBLEND_MINCONT).
 *
 * The detection is re-thresholded at DEBLEND_NTHRESH − 1 levels spaced exponentially between
 * its detection threshold t₀ and its filtered peak p (t_k = t₀·(p/t₀)^(k/N)); at each level the
 * pixels of each branch above t_k split into 8-connected pieces of at least min(DETECT_MINAREA,
 * 3) pixels, which builds a tree. Going back down the tree, a branch is an object of its own
 * when at least two of its parent's branches each hold more than DEBLEND_MINCONT of the
 * detection's total (filtered) flux above their own threshold; such objects are flagged
 * MERGED. Pixels of the detection that no object claims then go to the object most likely to
 * have produced them: amplitude·exp(−r²/2) of a Gaussian with each object's moments (SourceExtractor
 * draws at random with those probabilities; here the most probable object takes the pixel, so
 * the result is reproducible).
 */
import { preanalyse, preanalyseFast } from './analyse.ts';
import { Flag } from './flags.ts';
import type { SubSegmenter } from './lutz.ts';
import { type Planes, SourceObject } from './object.ts';

/** SourceExtractor's limit on branches per level (DEBLEND_NSONMAX). */
export const DEBLEND_MAX_BRANCHES = 1024;
/** Sub-threshold pieces need at least min(DETECT_MINAREA, this) pixels (SourceExtractor's MAXDEBAREA). */
export const DEBLEND_MAX_MINAREA = 3;

export interface DeblendOptions {
  /** DEBLEND_NTHRESH. */
  nthresh: number;
  /** DEBLEND_MINCONT. */
  mincont: number;
  /** DETECT_MINAREA. */
  minArea: number;
}

interface Node {
  pixels: Int32Array;
  flag: number;
  dthresh: number;
  fdflux: number;
  fdnpix: number;
  sons: number[];
  ok: boolean;
  xmin: number;
  xmax: number;
  ymin: number;
  ymax: number;
}

/** Pixels of the list not below any of their 8 neighbours (stops counting at `limit`). */
export function localMaxima(pixels: Int32Array, planes: Planes, limit: number): number {
  const { width, height, filt } = planes;
  let n = 0;
  for (let k = 0; k < pixels.length; k++) {
    const p = pixels[k];
    const v = filt[p];
    const y = (p / width) | 0;
    const x = p - y * width;
    const x0 = x > 0 ? -1 : 0;
    const x1 = x < width - 1 ? 1 : 0;
    const y0 = y > 0 ? -1 : 0;
    const y1 = y < height - 1 ? 1 : 0;
    let max = true;
    for (let dy = y0; dy <= y1 && max; dy++) {
      const row = p + dy * width;
      for (let dx = x0; dx <= x1; dx++) {
        if (filt[row + dx] > v) {
          max = false;
          break;
        }
      }
    }
    if (max && ++n >= limit) return n;
  }
  return n;
}

function makeNode(pixels: Int32Array, flag: number, dthresh: number, planes: Planes): Node {
  const { width, filt } = planes;
  let fdflux = 0;
  let xmin = Number.POSITIVE_INFINITY;
  let xmax = -1;
  let ymin = Number.POSITIVE_INFINITY;
  let ymax = -1;
  for (let k = 0; k < pixels.length; k++) {
    const p = pixels[k];
    fdflux += filt[p];
    const y = (p / width) | 0;
    const x = p - y * width;
    if (x < xmin) xmin = x;
    if (x > xmax) xmax = x;
    if (y < ymin) ymin = y;
    if (y > ymax) ymax = y;
  }
  return node(pixels, flag, dthresh, fdflux, xmin, xmax, ymin, ymax);
}

/** A tree node. (One literal for every node: V8 then gives them all one shape.) */
function node(
  pixels: Int32Array,
  flag: number,
  dthresh: number,
  fdflux: number,
  xmin: number,
  xmax: number,
  ymin: number,
  ymax: number,
): Node {
  return { pixels, flag, dthresh, fdflux, fdnpix: pixels.length, sons: [], ok: true, xmin, xmax, ymin, ymax };
}

/**
 * Deblend one detection (already pre-analysed: bounds, fdflux, fdpeak, dthresh). Returns the
 * objects it splits into (the detection itself when it does not split).
 */
export function deblend(
  root: SourceObject,
  planes: Planes,
  options: DeblendOptions,
  segmenter: SubSegmenter,
): SourceObject[] {
  const xn = options.nthresh;
  if (xn <= 1) return [root];
  // A footprint with one local maximum cannot split: every component above any threshold holds
  // a local maximum of its own. (With a threshold map a neighbour outside the footprint may be
  // brighter, so the shortcut is only taken with one threshold.)
  if (!planes.detThreshMap && localMaxima(root.pixels, planes, 2) < 2) return [root];
  const t0 = root.dthresh;
  const peak = root.fdpeak;
  const subMinArea = Math.min(options.minArea, DEBLEND_MAX_MINAREA);
  const levels: Node[][] = [[makeNode(root.pixels, root.flag, t0, planes)]];
  const value0 = levels[0][0].fdflux * options.mincont;
  for (let k = 1; k < xn; k++) {
    const t = peak > 0 && t0 > 0 ? t0 * (peak / t0) ** (k / xn) : t0 + ((peak - t0) * k) / xn;
    const prev = levels[k - 1];
    if (prev.length >= DEBLEND_MAX_BRANCHES) {
      root.flag |= Flag.DEBLEND_OVERFLOW;
      return [root];
    }
    const here: Node[] = [];
    for (const n of prev) {
      // Shortcuts that give what a scan would: too few pixels above t, or all of them.
      let above = 0;
      const px = n.pixels;
      for (let i = 0; i < px.length; i++) if (planes.filt[px[i]] > t) above++;
      if (above < subMinArea) continue;
      if (above === px.length) {
        n.sons.push(here.length);
        here.push(node(px, n.flag, t, n.fdflux, n.xmin, n.xmax, n.ymin, n.ymax));
        continue;
      }
      const comps = segmenter.segment(px, planes.filt, planes.width, planes.height, n, t, subMinArea);
      for (const c of comps) {
        n.sons.push(here.length);
        here.push(makeNode(c.pixels, c.flag, t, planes));
      }
      if (here.length >= DEBLEND_MAX_BRANCHES) {
        root.flag |= Flag.DEBLEND_OVERFLOW;
        return [root];
      }
    }
    // Higher levels of an empty level are empty too.
    if (here.length === 0) break;
    levels.push(here);
  }
  // Cut the tree from the top down: a parent with ≥ 2 significant branches splits.
  const result: Node[] = [];
  const inherit = root.flag & (Flag.ISO_INCOMPLETE | Flag.APERTURE_INCOMPLETE | Flag.EXTRACT_OVERFLOW);
  for (let k = levels.length - 2; k >= 0; k--) {
    const sons = levels[k + 1];
    for (const node of levels[k]) {
      let m = 0;
      for (const j of node.sons) {
        const s = sons[j];
        if (s.fdflux - s.dthresh * s.fdnpix > value0) m++;
        node.ok = node.ok && s.ok;
      }
      if (m > 1) {
        for (const j of node.sons) {
          const s = sons[j];
          if (s.ok && s.fdflux - s.dthresh * s.fdnpix > value0) {
            s.flag |= Flag.MERGED | inherit;
            result.push(s);
          }
        }
        node.ok = false;
      }
    }
  }
  if (levels[0][0].ok) return [root];
  return gatherUp(root, result, planes);
}

/** Give the detection's unclaimed pixels to their most probable object. */
function gatherUp(root: SourceObject, branches: Node[], planes: Planes): SourceObject[] {
  const { width } = planes;
  const objects = branches.map((b) => {
    const o = new SourceObject(b.pixels);
    o.flag = b.flag;
    o.dthresh = b.dthresh;
    preanalyse(o, planes, false);
    // Past deblending, thresholds are the detection's again.
    o.dthresh = root.dthresh;
    return o;
  });
  const n = objects.length;
  const amp = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const o = objects[i];
    const dist = o.fdnpix / (2 * Math.PI * o.abcor * o.a * o.b);
    amp[i] = dist < 70 ? o.dthresh * Math.exp(dist) : 4 * o.fdpeak;
    if (amp[i] > 4 * o.fdpeak) amp[i] = 4 * o.fdpeak;
  }
  // Which root pixels are already claimed.
  const bw = root.xmax - root.xmin + 1;
  const bh = root.ymax - root.ymin + 1;
  const claimed = new Uint8Array(bw * bh);
  for (const o of objects) {
    const px = o.pixels;
    for (let k = 0; k < px.length; k++) {
      const p = px[k];
      const y = (p / width) | 0;
      claimed[(y - root.ymin) * bw + (p - y * width - root.xmin)] = 1;
    }
  }
  const extra: number[][] = objects.map(() => []);
  const rp = root.pixels;
  for (let k = 0; k < rp.length; k++) {
    const p = rp[k];
    const y = (p / width) | 0;
    const x = p - y * width;
    if (claimed[(y - root.ymin) * bw + (x - root.xmin)]) continue;
    let best = -1;
    let bestWeight = 0;
    let nearest = 0;
    let distMin = Number.POSITIVE_INFINITY;
    for (let i = 0; i < n; i++) {
      const o = objects[i];
      const dx = x - o.mx;
      const dy = y - o.my;
      const dist = (0.5 * (o.cxx * dx * dx + o.cyy * dy * dy + o.cxy * dx * dy)) / o.abcor;
      const w = dist < 70 ? amp[i] * Math.exp(-dist) : 0;
      if (w > bestWeight) {
        bestWeight = w;
        best = i;
      }
      if (dist < distMin) {
        distMin = dist;
        nearest = i;
      }
    }
    extra[bestWeight > 1e-31 ? best : nearest].push(p);
  }
  for (let i = 0; i < n; i++) {
    if (extra[i].length === 0) continue;
    const o = objects[i];
    const all = new Int32Array(o.pixels.length + extra[i].length);
    all.set(o.pixels);
    all.set(extra[i], o.pixels.length);
    o.pixels = all;
    preanalyseFast(o, planes);
  }
  return objects;
}
