/**
 * Windowed measurements (SourceExtractor's XWIN_IMAGE, YWIN_IMAGE and the *WIN_* family): the
 * centroid iterated with a circular Gaussian window of σ = 2·r½/2.35 (r½: the half-light
 * radius from the growth curve), out to 4σ, starting from the isophotal barycentre. Each step
 * moves the centre by twice the window-weighted mean offset (the factor that makes the iteration
 * converge on a Gaussian); it stops when the move is below 10⁻⁴ px or after 16 steps. Pixels cut
 * by the window's edge count with their area inside it, the edge taken as straight across the
 * pixel (SourceExtractor splits them 11 × 11; at 4σ the window weighs e⁻⁸, so the two agree to
 * about 10⁻⁵ px). The windowed second moments, their ellipse, the
 * windowed flux and the positional error moments come from the last step.
 */
import { WinFlag } from './flags.ts';
import type { SourceObject } from './object.ts';
import { circleBox, type Photometer } from './photometry.ts';

export const WINPOS_NITERMAX = 16;
export const WINPOS_NSIG = 4;
export const WINPOS_STEPMIN = 0.0001;
export const WINPOS_FAC = 2.0;

export interface Windowed {
  /** Windowed centroid (0-based). */
  x: number;
  y: number;
  niter: number;
  flux: number;
  fluxErr: number;
  snr: number;
  /** Windowed second moments and their ellipse (isophotal values when FLAGS_WIN is set). */
  x2: number;
  y2: number;
  xy: number;
  a: number;
  b: number;
  theta: number;
  cxx: number;
  cyy: number;
  cxy: number;
  /** Positional error moments (isophotal values when FLAGS_WIN is set). */
  errx2: number;
  erry2: number;
  errxy: number;
  /** FLAGS_WIN. */
  winFlag: number;
  /** FLAGS bits raised (APERTURE_INCOMPLETE). */
  flag: number;
}

/**
 * Share of the pixel at (dx, dy) from the centre that lies within radius r, with the circle's
 * edge taken as a straight line across the pixel (exact for a straight edge: a unit square cut
 * by a line at distance r − |d| from its centre).
 */
export function edgeFraction(r: number, dx: number, dy: number, r2: number): number {
  const d = Math.sqrt(r2);
  if (d === 0) return 1;
  let a = Math.abs(dx) / d;
  let b = Math.abs(dy) / d;
  if (b > a) {
    const t = a;
    a = b;
    b = t;
  }
  // u: distance of the line from the pixel's corner farthest from the centre, along the normal.
  const u = r - d + (a + b) / 2;
  if (u <= 0) return 0;
  if (u >= a + b) return 1;
  // The usual case first. An edge parallel to a side (b = 0) needs no case of its own: then
  // b ≤ u < a here. (A rare case of its own cost a deoptimisation of measureWindowed.)
  if (u >= b && u <= a) return (u - b / 2) / a;
  if (u < b) return (u * u) / (2 * a * b);
  const v = a + b - u;
  return 1 - (v * v) / (2 * a * b);
}

/** The window's sums (windowPass): Σ w·I, its first and second moments, and the error sums. */
const sums = new Float64Array(10);
const TV = 0;
const DX = 1;
const DY = 2;
const MX2 = 3;
const MY2 = 4;
const MXY = 5;
const ESUM = 6;
const EMX2 = 7;
const EMY2 = 8;
const EMXY = 9;

/**
 * One step's sums over the window centred at (mx, my), into `sums`. The pixel loop is a
 * function of its own so that it stays compiled when V8 deoptimises the rest of
 * measureWindowed on a rare path (and recompiling it is cheap).
 */
function windowPass(
  phot: Photometer,
  mx: number,
  my: number,
  raper: number,
  invtwosig2: number,
  invgain: number,
  box: Int32Array,
): void {
  const rintlim = raper - 0.75;
  const rintlim2 = rintlim > 0 ? rintlim * rintlim : 0;
  const rextlim2 = (raper + 0.75) * (raper + 0.75);
  const xmin = box[0];
  const xmax = box[1];
  const ymin = box[2];
  const ymax = box[3];
  const width = phot.planes.width;
  const meas = phot.planes.meas;
  const seg = phot.seg;
  const id = phot.currentId;
  const bad = phot.bad;
  const nb = phot.neighbours;
  const vmap = phot.varMap;
  const gvar = phot.globalVar;
  // The Gaussian window is separable: exp(−dx²/2σ²)·exp(−dy²/2σ²).
  const nxw = xmax - xmin;
  if (phot.scratch.length < nxw) phot.scratch = new Float64Array(nxw * 2);
  const gx = phot.scratch;
  for (let x = xmin; x < xmax; x++) {
    const dx = x - mx;
    gx[x - xmin] = Math.exp(-dx * dx * invtwosig2);
  }
  let tv = 0;
  let esum = 0;
  let emx2 = 0;
  let emy2 = 0;
  let emxy = 0;
  let mx2 = 0;
  let my2 = 0;
  let mxy = 0;
  let dxpos = 0;
  let dypos = 0;
  for (let y = ymin; y < ymax; y++) {
    const row = y * width;
    const dy = y - my;
    const gy = Math.exp(-dy * dy * invtwosig2);
    for (let x = xmin; x < xmax; x++) {
      const dx = x - mx;
      const r2 = dx * dx + dy * dy;
      if (r2 >= rextlim2) continue;
      // Pixels cut by the window's edge: their area inside, the edge taken as straight across
      // the pixel (SourceExtractor splits them 11 × 11; at 4σ the window weighs e⁻⁸).
      let locarea = 1;
      if (r2 > rintlim2) {
        locarea = edgeFraction(raper, dx, dy, r2);
        if (locarea <= 0) continue;
      }
      locarea *= gx[x - xmin] * gy;
      const p = row + x;
      const sg = nb ? seg![p] : 0;
      let pix: number;
      let variance: number;
      if ((sg === 0 || sg === id) && (bad === undefined || bad[p] === 0)) {
        pix = meas[p];
        variance = vmap ? vmap[p] : gvar;
      } else {
        phot.sample(p, x, y);
        pix = phot.v;
        variance = phot.var;
      }
      const locpix = locarea * pix;
      tv += locpix;
      dxpos += locpix * dx;
      dypos += locpix * dy;
      let err = variance;
      if (invgain > 0 && pix > 0) err += pix * invgain;
      const err2 = locarea * locarea * err;
      esum += err2;
      emx2 += err2 * (dx * dx + 0.0833);
      emy2 += err2 * (dy * dy + 0.0833);
      emxy += err2 * dx * dy;
      mx2 += locpix * dx * dx;
      my2 += locpix * dy * dy;
      mxy += locpix * dx * dy;
    }
  }
  sums[TV] = tv;
  sums[DX] = dxpos;
  sums[DY] = dypos;
  sums[MX2] = mx2;
  sums[MY2] = my2;
  sums[MXY] = mxy;
  sums[ESUM] = esum;
  sums[EMX2] = emx2;
  sums[EMY2] = emy2;
  sums[EMXY] = emxy;
}

/** Windowed measurements of `obj`; the photometer must have the object selected. */
export function measureWindowed(phot: Photometer, obj: SourceObject, hlRadius: number): Windowed {
  const { width, height } = phot.planes;
  const gain = phot.planes.gain;
  const invgain = gain > 0 ? 1 / gain : 0;
  const sig = (hlRadius * 2) / 2.35;
  const invtwosig2 = 1 / (2 * sig * sig);
  const raper = WINPOS_NSIG * sig;
  let mx = obj.mx;
  let my = obj.my;
  let flag = 0;
  let tv = 0;
  let dxpos = 0;
  let dypos = 0;
  const box = phot.box;
  let i = 0;
  for (; i < WINPOS_NITERMAX; i++) {
    flag |= circleBox(mx, my, raper, width, height, box);
    // The mirror centre follows the current window centre.
    phot.select(phot.currentId, mx, my);
    windowPass(phot, mx, my, raper, invtwosig2, invgain, box);
    tv = sums[TV];
    dxpos = sums[DX];
    dypos = sums[DY];
    if (tv > 0) {
      dxpos /= tv;
      dypos /= tv;
      mx += dxpos * WINPOS_FAC;
      my += dypos * WINPOS_FAC;
    } else {
      break;
    }
    if (dxpos * dxpos + dypos * dypos < WINPOS_STEPMIN * WINPOS_STEPMIN) break;
  }
  let mx2 = sums[MX2];
  let my2 = sums[MY2];
  let mxy = sums[MXY];
  let esum = sums[ESUM];
  let emx2 = sums[EMX2];
  let emy2 = sums[EMY2];
  let emxy = sums[EMXY];
  mx2 = mx2 / tv - dxpos * dxpos;
  my2 = my2 / tv - dypos * dypos;
  mxy = mxy / tv - dxpos * dypos;
  const out: Windowed = {
    x: mx,
    y: my,
    niter: i + 1,
    flux: tv,
    fluxErr: Math.sqrt(esum),
    snr: esum > 1e-30 ? tv / Math.sqrt(esum) : 1e30,
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
    flag,
  };
  let temp2 = mx2 * my2 - mxy * mxy;
  out.winFlag =
    (tv <= 0 ? WinFlag.NON_POSITIVE_FLUX : 0) |
    (mx2 < 0 || my2 < 0 ? WinFlag.NEGATIVE_MOMENT : 0) |
    (temp2 < 0 ? WinFlag.SINGULAR : 0);
  if (out.winFlag) return out;
  const norm = (WINPOS_FAC * WINPOS_FAC) / (tv * tv);
  emx2 *= norm;
  emy2 *= norm;
  emxy *= norm;
  esum *= 0.08333 * norm;
  if (obj.singular && emx2 * emy2 - emxy * emxy < esum * esum) {
    emx2 += esum;
    emy2 += esum;
  }
  out.errx2 = emx2;
  out.erry2 = emy2;
  out.errxy = emxy;
  if (temp2 < 0.00694) {
    mx2 += 0.0833333;
    my2 += 0.0833333;
    temp2 = mx2 * my2 - mxy * mxy;
  }
  out.x2 = mx2;
  out.y2 = my2;
  out.xy = mxy;
  out.cxx = Math.fround(my2 / temp2);
  out.cyy = Math.fround(mx2 / temp2);
  out.cxy = Math.fround((-2 * mxy) / temp2);
  let temp = mx2 - my2;
  const theta = Math.abs(temp) > 0 ? Math.atan2(2 * mxy, temp) / 2 : Math.PI / 4;
  temp = Math.sqrt(0.25 * temp * temp + mxy * mxy);
  const pm = 0.5 * (mx2 + my2);
  out.a = Math.fround(Math.sqrt(pm + temp));
  out.b = Math.fround(Math.sqrt(Math.max(0, pm - temp)));
  out.theta = (theta * 180) / Math.PI;
  return out;
}
