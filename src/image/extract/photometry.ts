/**
 * Photometry of one object in the measurement image, as SourceExtractor measures it:
 *
 * - FLUX_APER: circular apertures of PHOT_APERTURES diameters at the isophotal barycentre,
 *   with the exact area of each pixel inside the circle (aperture.ts);
 * - FLUX_AUTO: Kron's "first moment" radius r₁ = Σ r·I / Σ I within 6 A×B-scaled radii (on the
 *   detection image), then the elliptical aperture of radius k·r₁ (PHOT_AUTOPARAMS: k and the
 *   minimum radius; PHOT_AUTOAPERS: minimum circular apertures); whole pixels whose centre is
 *   inside, as SourceExtractor;
 * - FLUX_PETRO: the same with the Petrosian radius;
 * - FLUX_RADIUS: radii enclosing PHOT_FLUXFRAC of FLUX_AUTO, from a 64-step growth curve
 *   (pixels near a step boundary are split 5 × 5); its half-light radius sets the window of
 *   the windowed measurements;
 * - FLUX_ISOCOR and FLUX_BEST.
 *
 * Neighbours (MASK_TYPE): pixels that belong to another object, or hold no data, are replaced
 * by their mirror image through the object's centre (CORRECT) or by zero (BLANK); with NONE
 * only pixels without data are replaced (by zero). More than 10% of replaced pixels in the AUTO
 * (or PETRO) aperture sets the CROWDED flag. An aperture reaching beyond the image sets
 * APERTURE_INCOMPLETE.
 *
 * Errors: Σ σ² over the aperture (σ of the measurement's noise: global or per pixel) plus the
 * Poisson term flux/GAIN when GAIN > 0, as SourceExtractor (without a weight map).
 */
import { circleOverlap } from './aperture.ts';
import type { MaskType } from './config.ts';
import { Flag } from './flags.ts';
import type { Planes, SourceObject } from './object.ts';

/** Analysis range of the AUTO/PETRO first pass, in units of the isophotal ellipse (KRON_NSIG). */
export const KRON_NSIG = 6;
export const PETRO_NSIG = 6;
/** CROWDED when more than this share of the AUTO aperture is replaced. */
export const CROWD_THRESHOLD = 0.1;
/** Growth curve: steps, sub-pixel split, range (in units of A), minimum half-light radius. */
export const GROWTH_NSTEP = 64;
export const GROWTH_OVERSAMP = 5;
export const GROWTH_NSIG = 6;
export const GROWTH_MINHLRAD = 0.5;

/**
 * Which measurements to make. As in SourceExtractor, only what the catalog asks for is measured
 * (with its dependencies: FLUX_RADIUS and the windowed measurements need the growth curve, which
 * needs FLUX_AUTO), and only measurements made can raise flags.
 */
export interface Measurements {
  aper: boolean;
  auto: boolean;
  petro: boolean;
  growth: boolean;
  windowed: boolean;
}

export const ALL_MEASUREMENTS: Readonly<Measurements> = Object.freeze({
  aper: true,
  auto: true,
  petro: true,
  growth: true,
  windowed: true,
});

/** Photometry settings (from the configuration). */
export interface PhotometryOptions {
  apertures: readonly number[];
  autoParams: readonly [number, number];
  petroParams: readonly [number, number];
  autoApers: readonly [number, number];
  fluxFrac: readonly number[];
  maskType: MaskType;
}

/** One flux with its error. */
export interface FluxMeasure {
  flux: number;
  error: number;
}

/** Photometry results of one object. */
export interface Photometry {
  aper: FluxMeasure[];
  auto: FluxMeasure;
  /** KRON_RADIUS (in units of A, B); 0 when the AUTO aperture fell back to a circle or the flux is ≤ 0. */
  kronRadius: number;
  petro: FluxMeasure;
  petroRadius: number;
  isocor: FluxMeasure;
  /** FLUX_RADIUS for each PHOT_FLUXFRAC. */
  fluxRadius: number[];
  /** Half-light radius for the windowed measurements (≥ 0.5 px). */
  hlRadius: number;
  /** Flags raised by photometry (CROWDED, APERTURE_INCOMPLETE). */
  flag: number;
}

/**
 * APERTURE_INCOMPLETE when the box [xmin, xmax) × [ymin, ymax) reaches beyond the image, else
 * 0. Without a branch for the rare case: V8 deoptimises a hot function the first time it takes
 * a branch it has never seen taken, and a large one then costs tens of ms to compile again.
 */
export function clipped(
  xmin: number,
  xmax: number,
  ymin: number,
  ymax: number,
  width: number,
  height: number,
): number {
  return (xmin < 0 || xmax > width || ymin < 0 || ymax > height ? 1 : 0) * INCOMPLETE;
}
const INCOMPLETE = Flag.APERTURE_INCOMPLETE;

/**
 * The pixels of a circle of radius r at (mx, my), SourceExtractor's rounding, clipped to the
 * image, into `box` (xmin, xmax, ymin, ymax; max exclusive); returns `clipped`'s flag.
 */
export function circleBox(
  mx: number,
  my: number,
  r: number,
  width: number,
  height: number,
  box: Int32Array,
): number {
  const xmin = Math.trunc(mx - r + 0.499999);
  const xmax = Math.trunc(mx + r + 1.499999);
  const ymin = Math.trunc(my - r + 0.499999);
  const ymax = Math.trunc(my + r + 1.499999);
  box[0] = Math.max(0, xmin);
  box[1] = Math.min(width, xmax);
  box[2] = Math.max(0, ymin);
  box[3] = Math.min(height, ymax);
  return clipped(xmin, xmax, ymin, ymax, width, height);
}

/** Photometry of the objects of one extraction; holds the planes and the neighbour map. */
export class Photometer {
  readonly planes: Planes;
  readonly options: PhotometryOptions;
  /** Segmentation of the measured objects (object id, 1-based; 0 none), for neighbour masking. */
  readonly seg?: Int32Array;
  private id = 0;
  private cx2 = 0;
  private cy2 = 0;
  private readonly measMap: boolean;
  /** Variance map of the measurement, when the noise is a map. */
  readonly varMap?: Float32Array;
  /** Variance of the measurement, when the noise is global. */
  readonly globalVar: number;
  readonly bad?: Uint8Array;
  private readonly correct: boolean;
  /** Whether other objects' pixels are replaced (MASK_TYPE BLANK or CORRECT). */
  readonly neighbours: boolean;
  /** Growth-curve buffers, reused object after object. */
  private readonly growthA = new Float64Array(GROWTH_NSTEP);
  private readonly growthB = new Float64Array(GROWTH_NSTEP);
  /** Scratch for the windowed measurements. */
  scratch = new Float64Array(512);
  /** Scratch for circleBox: xmin, xmax, ymin, ymax. */
  readonly box = new Int32Array(4);
  /** Sample output: value and variance. */
  v = 0;
  var = 0;

  constructor(planes: Planes, options: PhotometryOptions, seg?: Int32Array) {
    this.planes = planes;
    this.options = options;
    this.seg = seg;
    this.measMap = planes.measNoise.kind === 'map';
    this.varMap = planes.measNoise.kind === 'map' ? planes.measNoise.variance : undefined;
    this.globalVar = planes.measNoise.sigma * planes.measNoise.sigma;
    this.bad = planes.measBad;
    this.correct = options.maskType === 'CORRECT';
    this.neighbours = options.maskType !== 'NONE' && seg !== undefined;
  }

  /** Measure pixels for object `id` (its segmentation id) centred at (mx, my). */
  select(id: number, mx: number, my: number): void {
    this.id = id;
    this.cx2 = 2 * mx + 0.49999;
    this.cy2 = 2 * my + 0.49999;
  }

  /** The selected object's segmentation id. */
  get currentId(): number {
    return this.id;
  }

  /** Is pixel p replaced (no data, or another object's)? */
  isBlank(p: number): boolean {
    if (this.bad?.[p]) return true;
    if (this.neighbours) {
      const s = this.seg![p];
      return s !== 0 && s !== this.id;
    }
    return false;
  }

  /** Sample pixel (x, y) into v and var; returns true when it was replaced. */
  sample(p: number, x: number, y: number): boolean {
    const planes = this.planes;
    if (!this.isBlank(p)) {
      this.v = planes.meas[p];
      this.var = this.measMap ? (planes.measNoise as { variance: Float32Array }).variance[p] : this.globalVar;
      return false;
    }
    if (this.correct) {
      const x2 = Math.trunc(this.cx2 - x);
      const y2 = Math.trunc(this.cy2 - y);
      if (x2 >= 0 && x2 < planes.width && y2 >= 0 && y2 < planes.height) {
        const q = y2 * planes.width + x2;
        if (!this.isBlank(q)) {
          this.v = planes.meas[q];
          this.var = this.measMap
            ? (planes.measNoise as { variance: Float32Array }).variance[q]
            : this.globalVar;
          return true;
        }
      }
    }
    this.v = 0;
    this.var = this.measMap ? 0 : this.globalVar;
    return true;
  }

  private finish(tv: number, sigtv: number): FluxMeasure {
    const gain = this.planes.gain;
    if (gain > 0 && tv > 0) sigtv += tv / gain;
    return { flux: tv, error: Math.sqrt(sigtv) };
  }

  /** Flux in a circle of radius r at (mx, my), exact pixel overlap; flags APERTURE_INCOMPLETE via `flags`. */
  circle(mx: number, my: number, r: number, flags: { flag: number }): FluxMeasure {
    const { width, height } = this.planes;
    const box = this.box;
    flags.flag |= circleBox(mx, my, r, width, height, box);
    const xmin = box[0];
    const xmax = box[1];
    const ymin = box[2];
    const ymax = box[3];
    const r2 = r * r;
    const { meas } = this.planes;
    const seg = this.seg;
    const id = this.id;
    const bad = this.bad;
    const nb = this.neighbours;
    const vmap = this.varMap;
    const gvar = this.globalVar;
    let tv = 0;
    let sigtv = 0;
    for (let y = ymin; y < ymax; y++) {
      const dy = y - my;
      const ady = Math.abs(dy);
      const near = ady > 0.5 ? ady - 0.5 : 0;
      const far = ady + 0.5;
      const row = y * width;
      for (let x = xmin; x < xmax; x++) {
        const dx = x - mx;
        const adx = Math.abs(dx);
        // Wholly outside: the pixel's nearest point is beyond r; wholly inside: its farthest corner is within.
        const nx = adx > 0.5 ? adx - 0.5 : 0;
        if (nx * nx + near * near >= r2) continue;
        const fx = adx + 0.5;
        const w = fx * fx + far * far <= r2 ? 1 : circleOverlap(dx, dy, r);
        if (w <= 0) continue;
        const p = row + x;
        const sg = nb ? seg![p] : 0;
        if ((sg === 0 || sg === id) && (bad === undefined || bad[p] === 0)) {
          tv += w * meas[p];
          sigtv += w * (vmap ? vmap[p] : gvar);
        } else {
          this.sample(p, x, y);
          tv += w * this.v;
          sigtv += w * this.var;
        }
      }
    }
    return this.finish(tv, sigtv);
  }

  /**
   * First moment radius within the ellipse (cxx, cyy, cxy) ≤ klim² on the detection image: r₁ = Σ r·I / Σ I.
   * Returns r1, v1 and the counts of used and replaced pixels.
   */
  private firstMoment(
    obj: SourceObject,
    mx: number,
    my: number,
    nsig: number,
    minAper: number,
    flags: { flag: number },
  ): { r1: number; v1: number; area: number; areab: number } {
    const { width, height, det } = this.planes;
    let cx2: number;
    let cy2: number;
    let cxy: number;
    let dxlim: number;
    let dylim: number;
    let klim2: number;
    if (nsig * Math.sqrt(obj.a * obj.b) > minAper / 2) {
      cx2 = obj.cxx;
      cy2 = obj.cyy;
      cxy = obj.cxy;
      dxlim = cx2 - (cxy * cxy) / (4 * cy2);
      dxlim = dxlim > 0 ? nsig / Math.sqrt(dxlim) : 0;
      dylim = cy2 - (cxy * cxy) / (4 * cx2);
      dylim = dylim > 0 ? nsig / Math.sqrt(dylim) : 0;
      klim2 = nsig * nsig;
    } else {
      cx2 = 1;
      cy2 = 1;
      cxy = 0;
      dxlim = minAper / 2;
      dylim = dxlim;
      klim2 = dxlim * dxlim;
    }
    const [xmin, xmax, ymin, ymax] = this.ellipseBox(mx, my, dxlim, dylim, width, height, flags);
    let r1 = 0;
    let v1 = 0;
    let area = 0;
    let areab = 0;
    for (let y = ymin; y < ymax; y++) {
      const dy = y - my;
      const row = y * width;
      for (let x = xmin; x < xmax; x++) {
        const dx = x - mx;
        const r2 = cx2 * dx * dx + cy2 * dy * dy + cxy * dx * dy;
        if (r2 > klim2) continue;
        const p = row + x;
        if (!this.isBlank(p) && !Number.isNaN(det[p])) {
          area++;
          const v = det[p];
          r1 += Math.sqrt(r2) * v;
          v1 += v;
        } else {
          areab++;
        }
      }
    }
    return { r1, v1, area, areab };
  }

  /** Bounds of an ellipse's box, SourceExtractor's rounding; flags APERTURE_INCOMPLETE when clipped. */
  private ellipseBox(
    mx: number,
    my: number,
    dxlim: number,
    dylim: number,
    width: number,
    height: number,
    flags: { flag: number },
  ): [number, number, number, number] {
    const xmin = Math.floor(mx - dxlim + 0.5);
    const xmax = Math.floor(mx + dxlim + 0.5) + 1;
    const ymin = Math.floor(my - dylim + 0.5);
    const ymax = Math.floor(my + dylim + 0.5) + 1;
    flags.flag |= clipped(xmin, xmax, ymin, ymax, width, height);
    return [Math.max(0, xmin), Math.min(width, xmax), Math.max(0, ymin), Math.min(height, ymax)];
  }

  /** Flux in the ellipse of `factor` (in units of the isophotal ellipse), or the minimum circle; whole pixels. */
  private ellipseFlux(
    obj: SourceObject,
    mx: number,
    my: number,
    factor: number,
    minAper: number,
    flags: { flag: number },
  ): { measure: FluxMeasure; factor: number; area: number; areab: number } {
    const { width, height } = this.planes;
    let cx2: number;
    let cy2: number;
    let cxy: number;
    let dxlim: number;
    let dylim: number;
    let klim2: number;
    if (factor * Math.sqrt(obj.a * obj.b) > minAper / 2) {
      cx2 = obj.cxx;
      cy2 = obj.cyy;
      cxy = obj.cxy;
      dxlim = cx2 - (cxy * cxy) / (4 * cy2);
      dxlim = dxlim > 0 ? factor / Math.sqrt(dxlim) : 0;
      dylim = cy2 - (cxy * cxy) / (4 * cx2);
      dylim = dylim > 0 ? factor / Math.sqrt(dylim) : 0;
      klim2 = factor * factor;
    } else {
      cx2 = 1;
      cy2 = 1;
      cxy = 0;
      dxlim = minAper / 2;
      dylim = dxlim;
      klim2 = dxlim * dxlim;
      factor = 0;
    }
    const [xmin, xmax, ymin, ymax] = this.ellipseBox(mx, my, dxlim, dylim, width, height, flags);
    let area = 0;
    let areab = 0;
    let tv = 0;
    let sigtv = 0;
    for (let y = ymin; y < ymax; y++) {
      const dy = y - my;
      const row = y * width;
      for (let x = xmin; x < xmax; x++) {
        const dx = x - mx;
        if (cx2 * dx * dx + cy2 * dy * dy + cxy * dx * dy > klim2) continue;
        area++;
        if (this.sample(row + x, x, y)) areab++;
        tv += this.v;
        sigtv += this.var;
      }
    }
    return { measure: this.finish(tv, sigtv), factor, area, areab };
  }

  /** FLUX_AUTO and KRON_RADIUS. */
  auto(obj: SourceObject, flags: { flag: number }): { measure: FluxMeasure; kronRadius: number } {
    const [kfact, kmin] = this.options.autoParams;
    const [minEst, minMeas] = this.options.autoApers;
    const mx = obj.mx;
    const my = obj.my;
    const m = this.firstMoment(obj, mx, my, KRON_NSIG, minEst, flags);
    let area = m.area + m.areab;
    if (area === 0) return { measure: { flux: 0, error: 0 }, kronRadius: 0 };
    let kron = m.r1 > 0 && m.v1 > 0 ? (kfact * m.r1) / m.v1 : kmin;
    if (kron < kmin) kron = kmin;
    if (m.areab / area > CROWD_THRESHOLD) flags.flag |= Flag.CROWDED;
    const e = this.ellipseFlux(obj, mx, my, kron, minMeas, flags);
    area = e.area;
    if (e.areab > CROWD_THRESHOLD * area) flags.flag |= Flag.CROWDED;
    const kronRadius = e.measure.flux > 0 ? e.factor : 0;
    return { measure: e.measure, kronRadius };
  }

  /** FLUX_PETRO and PETRO_RADIUS. */
  petro(obj: SourceObject, flags: { flag: number }): { measure: FluxMeasure; petroRadius: number } {
    const { width, height, det } = this.planes;
    const [pfact, pmin] = this.options.petroParams;
    const [minEst, minMeas] = this.options.autoApers;
    const mx = obj.mx;
    const my = obj.my;
    let cx2: number;
    let cy2: number;
    let cxy: number;
    let dxlim: number;
    let dylim: number;
    let klim2: number;
    if (PETRO_NSIG * Math.sqrt(obj.a * obj.b) > minEst / 2) {
      cx2 = obj.cxx;
      cy2 = obj.cyy;
      cxy = obj.cxy;
      dxlim = cx2 - (cxy * cxy) / (4 * cy2);
      dxlim = dxlim > 0 ? PETRO_NSIG / Math.sqrt(dxlim) : 0;
      dylim = cy2 - (cxy * cxy) / (4 * cx2);
      dylim = dylim > 0 ? PETRO_NSIG / Math.sqrt(dylim) : 0;
      klim2 = PETRO_NSIG * PETRO_NSIG;
    } else {
      cx2 = 1;
      cy2 = 1;
      cxy = 0;
      dxlim = minEst / 2;
      dylim = dxlim;
      klim2 = dxlim * dxlim;
    }
    const [xmin, xmax, ymin, ymax] = this.ellipseBox(mx, my, dxlim, dylim, width, height, flags);
    const klim = Math.sqrt(klim2);
    const kstep = klim / 20;
    let area = 0;
    let areab = 0;
    let areanum = 0;
    let areaden = 0;
    let munum = 0;
    let muden = 0;
    let kmea = 0;
    for (let kmin = kstep; kmin * 1.2 < klim; kmin += kstep) {
      const kmax = kmin * 1.2;
      kmea = (kmin + kmax) / 2;
      const kmea2 = kmea * kmea;
      const kmin2 = kmin * kmin;
      const kmax2 = kmax * kmax;
      area = 0;
      areab = 0;
      areanum = 0;
      areaden = 0;
      munum = 0;
      muden = 0;
      for (let y = ymin; y < ymax; y++) {
        const dy = y - my;
        const row = y * width;
        for (let x = xmin; x < xmax; x++) {
          const dx = x - mx;
          const r2 = cx2 * dx * dx + cy2 * dy * dy + cxy * dx * dy;
          if (r2 > kmax2) continue;
          const p = row + x;
          if (!this.isBlank(p) && !Number.isNaN(det[p])) {
            const v = det[p];
            area++;
            if (r2 >= kmin2) {
              munum += v;
              areanum++;
            }
            if (r2 < kmea2) {
              muden += v;
              areaden++;
            }
          } else {
            areab++;
          }
        }
      }
      if (areanum && areaden) {
        munum /= areanum;
        muden /= areaden;
        if (munum < muden * 0.2) break;
      }
    }
    area += areab;
    if (area === 0) return { measure: { flux: 0, error: 0 }, petroRadius: 0 };
    let factor = areanum && areaden && munum && muden ? pfact * kmea : pmin;
    if (factor < pmin) factor = pmin;
    if (areab / area > CROWD_THRESHOLD) flags.flag |= Flag.CROWDED;
    const e = this.ellipseFlux(obj, mx, my, factor, minMeas, flags);
    if (e.areab > CROWD_THRESHOLD * e.area) flags.flag |= Flag.CROWDED;
    return { measure: e.measure, petroRadius: e.measure.flux > 0 ? e.factor : 0 };
  }

  /**
   * Growth curve around (mx, my) out to max(6·A, PHOT_AUTOAPERS[0]); FLUX_RADIUS for each
   * fraction of `total` (FLUX_AUTO), and the half-light radius.
   */
  growth(
    obj: SourceObject,
    total: number,
    flags: { flag: number },
  ): { fluxRadius: number[]; hlRadius: number } {
    const { width, height } = this.planes;
    const mx = obj.mx;
    const my = obj.my;
    let rlim = GROWTH_NSIG * obj.a;
    if (rlim < this.options.autoApers[0]) rlim = this.options.autoApers[0];
    const raper = rlim + 1.5;
    const rextlim2 = raper * raper;
    const ngrowth = GROWTH_NSTEP;
    const stepdens = ngrowth / rlim;
    const step = 1 / stepdens;
    const b = this.box;
    flags.flag |= circleBox(mx, my, raper, width, height, b);
    const xmin = b[0];
    const xmax = b[1];
    const ymin = b[2];
    const ymax = b[3];
    const box = { xmin, xmax, ymin, ymax, mx, my, stepdens, step };
    const targets = [...this.options.fluxFrac.map((f) => f * total), 0.5 * total];
    // The growth curve is only read up to where it first reaches the largest target: first find
    // that radius on a coarse curve (pixel centres), then build SourceExtractor's curve (pixels
    // split 5 × 5) out to a little beyond it; if the targets are not all reached within the bins
    // that are exact, build the whole curve. Either way the result is SourceExtractor's.
    const coarse = this.growthA.fill(0);
    this.accumulate(coarse, box, rextlim2, false);
    cumulate(coarse);
    let icut = 0;
    for (const tv of targets) icut = Math.max(icut, firstReach(coarse, tv));
    const rcut = (icut + 2) * step + 1;
    const growth = this.growthB.fill(0);
    let exactBins = ngrowth;
    const rcut2 = (rcut + Math.SQRT1_2) * (rcut + Math.SQRT1_2);
    if (rcut2 < rextlim2) {
      this.accumulate(growth, box, rcut2, true);
      exactBins = Math.floor(rcut * stepdens);
    } else {
      this.accumulate(growth, box, rextlim2, true);
    }
    cumulate(growth);
    if (exactBins < ngrowth && targets.some((tv) => firstReach(growth, tv) >= exactBins - 1)) {
      growth.fill(0);
      this.accumulate(growth, box, rextlim2, true);
      cumulate(growth);
    }
    const radiusOf = (tv: number): number => {
      const i = firstReach(growth, tv);
      if (i > 0) {
        const dg = growth[i] - growth[i - 1];
        return step * (dg !== 0 ? i + (tv - growth[i - 1]) / dg : i);
      }
      return step * (growth[0] !== 0 ? tv / growth[0] : 0);
    };
    const fluxRadius = this.options.fluxFrac.map((f) => Math.min(rlim, radiusOf(f * total)));
    let hl = Math.abs(radiusOf(0.5 * total));
    if (hl > rlim) hl = rlim;
    if (hl < GROWTH_MINHLRAD) hl = GROWTH_MINHLRAD;
    return { fluxRadius, hlRadius: hl };
  }

  /**
   * Add the pixels within √r2max of the centre to the growth bins: with `split`, as
   * SourceExtractor does (pixels within 0.75 px of a bin boundary split 5 × 5); without, by
   * pixel centre.
   */
  private accumulate(
    growth: Float64Array,
    box: {
      xmin: number;
      xmax: number;
      ymin: number;
      ymax: number;
      mx: number;
      my: number;
      stepdens: number;
      step: number;
    },
    r2max: number,
    split: boolean,
  ): void {
    const { xmin, xmax, ymin, ymax, mx, my, stepdens, step } = box;
    const { width, meas } = this.planes;
    const seg = this.seg;
    const id = this.id;
    const bad = this.bad;
    const nb = this.neighbours;
    const ngrowth = growth.length;
    const scale = 1 / GROWTH_OVERSAMP;
    const scale2 = scale * scale;
    const offset = 0.5 * (scale - 1);
    const nextMargin = step - 0.75;
    // With steps under 0.75 px every pixel is near a boundary.
    const always = step <= 0.75;
    for (let y = ymin; y < ymax; y++) {
      const row = y * width;
      const dy0 = y - my;
      for (let x = xmin; x < xmax; x++) {
        const dx0 = x - mx;
        const r2 = dx0 * dx0 + dy0 * dy0;
        if (r2 >= r2max) continue;
        const p = row + x;
        const sg = nb ? seg![p] : 0;
        let pix: number;
        if ((sg === 0 || sg === id) && (bad === undefined || bad[p] === 0)) pix = meas[p];
        else {
          this.sample(p, x, y);
          pix = this.v;
        }
        const r = Math.sqrt(r2);
        let near = always;
        if (!near) {
          const d = r - Math.floor(r / step) * step;
          near = d < 0.75 || d > nextMargin;
        }
        if (split && near) {
          const w = scale2 * pix;
          let dy = dy0 + offset;
          for (let sy = 0; sy < GROWTH_OVERSAMP; sy++, dy += scale) {
            const dy2 = dy * dy;
            let dx1 = dx0 + offset;
            for (let sx = 0; sx < GROWTH_OVERSAMP; sx++, dx1 += scale) {
              const j = (Math.sqrt(dx1 * dx1 + dy2) * stepdens) | 0;
              if (j < ngrowth) growth[j] += w;
            }
          }
        } else {
          const j = (r * stepdens) | 0;
          if (j < ngrowth) growth[j] += pix;
        }
      }
    }
  }

  /** Every photometric measurement of `obj` (segmentation id `id`). */
  measure(obj: SourceObject, id: number, which: Measurements = ALL_MEASUREMENTS): Photometry {
    this.select(id, obj.mx, obj.my);
    const flags = { flag: 0 };
    const none: FluxMeasure = { flux: Number.NaN, error: Number.NaN };
    const aper = which.aper
      ? this.options.apertures.map((d) => this.circle(obj.mx, obj.my, d / 2, flags))
      : [];
    const a = which.auto ? this.auto(obj, flags) : { measure: none, kronRadius: Number.NaN };
    const p = which.petro ? this.petro(obj, flags) : { measure: none, petroRadius: Number.NaN };
    const g = which.growth
      ? this.growth(obj, a.measure.flux, flags)
      : { fluxRadius: this.options.fluxFrac.map(() => Number.NaN), hlRadius: GROWTH_MINHLRAD };
    // Corrected isophotal flux (SourceExtractor's Gaussian-profile correction).
    let ati = obj.flux > 0 ? (obj.fdnpix * obj.dthresh) / obj.flux : 0;
    if (ati > 1) ati = 1;
    else if (ati < 0) ati = 0;
    const isocorFlux = obj.flux / (1 - 0.196099 * ati - 0.751208 * ati * ati);
    let isocorErr: number;
    if (obj.flux > 0) {
      const sigtv = obj.fluxVar / (obj.flux * obj.flux);
      let dati = obj.fdnpix ? ati * Math.sqrt(sigtv + 1 / obj.fdnpix) : 0;
      dati = 0.196099 * dati + 0.751208 * 2 * ati * dati;
      isocorErr = Math.sqrt(sigtv + dati * dati) * obj.flux;
    } else {
      isocorErr = Math.sqrt(obj.fluxVar);
    }
    return {
      aper,
      auto: a.measure,
      kronRadius: a.kronRadius,
      petro: p.measure,
      petroRadius: p.petroRadius,
      isocor: { flux: isocorFlux, error: isocorErr },
      fluxRadius: g.fluxRadius,
      hlRadius: g.hlRadius,
      flag: flags.flag,
    };
  }
}

/** Running sum in place. */
function cumulate(g: Float64Array): void {
  let acc = 0;
  for (let i = 0; i < g.length; i++) {
    acc += g[i];
    g[i] = acc;
  }
}

/** First bin where the cumulative curve reaches `tv` (the last bin if none), as SourceExtractor searches. */
function firstReach(g: Float64Array, tv: number): number {
  const n = g.length - 1;
  let i = 0;
  while (i < n && g[i] < tv) i++;
  return i;
}

/** Magnitude of a flux: −2.5·log10(flux) + zero point, 99 when flux ≤ 0 (SourceExtractor). */
export function magnitude(flux: number, zeropoint: number): number {
  return flux > 0 ? -2.5 * Math.log10(flux) + zeropoint : 99;
}

/** Magnitude error: 1.086·σ/flux, 99 when flux ≤ 0 (SourceExtractor). */
export function magnitudeError(flux: number, error: number): number {
  return flux > 0 ? (1.086 * error) / flux : 99;
}
